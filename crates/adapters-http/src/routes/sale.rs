//! `PATCH /api/v1/admin/concerts/{concertId}`: an operator's change of a concert's sale window.

use crate::auth::Operator;
use crate::body::JsonBody;
use crate::dto::{ConcertDto, SalePatchRequest};
use crate::errors::ApiError;
use crate::routes::concert_id;
use application::Services;
use paperclip::actix::api_v2_operation;
use paperclip::actix::web::{self, ServiceConfig};

/// Change a concert's sale window
///
/// Absent members stay as they are; `saleClosesAt: null` removes the closing. Moving
/// `saleOpensAt` once the pre-queue draw has happened (or once the sale has been open with
/// tokens in line) is 409 SALE_ALREADY_OPEN; a closing not after the opening is 400
/// VALIDATION_FAILED. Unknown concert: 404 NOT_FOUND.
#[api_v2_operation(tags(Operators), operation_id = "updateConcertSale")]
pub async fn update_sale(
    services: web::Data<Services>,
    _operator: Operator,
    path: web::Path<i64>,
    body: JsonBody<SalePatchRequest>,
) -> Result<web::Json<ConcertDto>, ApiError> {
    let concert = concert_id(path.into_inner())?;
    let patch = body.into_inner().try_into_domain()?;
    let updated = services.update_sale(concert, patch).await?;
    Ok(web::Json(ConcertDto::from(&updated)))
}

/// Registers the route.
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(
        web::resource("/api/v1/admin/concerts/{concertId}").route(web::patch().to(update_sale)),
    );
}

//! `GET /api/v1/concerts`.

use crate::dto::ConcertDto;
use crate::errors::ApiError;
use application::Services;
use paperclip::actix::api_v2_operation;
use paperclip::actix::web::{self, ServiceConfig};

/// List concerts
///
/// Every concert of the catalogue, by id. Public: no credentials needed.
#[api_v2_operation(tags(Catalogue), operation_id = "listConcerts")]
pub async fn list_concerts(
    services: web::Data<Services>,
) -> Result<web::Json<Vec<ConcertDto>>, ApiError> {
    let concerts = services.list_concerts().await?;
    Ok(web::Json(concerts.iter().map(ConcertDto::from).collect()))
}

/// Registers the catalogue routes.
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(web::resource("/api/v1/concerts").route(web::get().to(list_concerts)));
}

//! Browsing schedules and seats (ACTIVE queue token required).

use crate::auth::AuthenticatedUser;
use crate::dto::{ScheduleSummaryDto, SeatDto};
use crate::errors::ApiError;
use crate::headers::QueueTokenHeader;
use crate::routes::{concert_id, schedule_id};
use application::Services;
use paperclip::actix::api_v2_operation;
use paperclip::actix::web::{self, ServiceConfig};

/// List a concert's future schedules
///
/// Requires the caller's ACTIVE Queue-Token for this concert (401 QUEUE_TOKEN_REQUIRED,
/// 403 QUEUE_TOKEN_NOT_ACTIVE). Unknown concert: 404 NOT_FOUND.
#[api_v2_operation(tags(Browsing), operation_id = "listSchedules")]
pub async fn future_schedules(
    services: web::Data<Services>,
    user: AuthenticatedUser,
    token: QueueTokenHeader,
    path: web::Path<i64>,
) -> Result<web::Json<Vec<ScheduleSummaryDto>>, ApiError> {
    let concert = concert_id(path.into_inner())?;
    let schedules = services.future_schedules(user.0, token.0, concert).await?;
    Ok(web::Json(
        schedules.iter().map(ScheduleSummaryDto::from).collect(),
    ))
}

/// List a schedule's seats
///
/// Each seat with whether it can be held now; never says who holds it. Requires the caller's
/// ACTIVE Queue-Token for the schedule's concert. Unknown schedule: 404 NOT_FOUND.
#[api_v2_operation(tags(Browsing), operation_id = "listSeats")]
pub async fn schedule_seats(
    services: web::Data<Services>,
    user: AuthenticatedUser,
    token: QueueTokenHeader,
    path: web::Path<i64>,
) -> Result<web::Json<Vec<SeatDto>>, ApiError> {
    let schedule = schedule_id(path.into_inner())?;
    let seats = services.schedule_seats(user.0, token.0, schedule).await?;
    Ok(web::Json(seats.seats.iter().map(SeatDto::from).collect()))
}

/// Registers the browsing routes.
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(
        web::resource("/api/v1/concerts/{concertId}/schedules")
            .route(web::get().to(future_schedules)),
    );
    cfg.service(
        web::resource("/api/v1/schedules/{scheduleId}/seats").route(web::get().to(schedule_seats)),
    );
}

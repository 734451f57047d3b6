//! Operator endpoints (`Authorization: Bearer <admin key>`; missing or wrong key: 401, a user
//! JWT: 403).

use crate::auth::Operator;
use crate::body::JsonBody;
use crate::dto::{
    ConcertDto, CreateConcertRequest, CreateScheduleRequest, QueueSettingsPatchRequest,
    QueueStatsDto, ScheduleCreatedDto,
};
use crate::errors::ApiError;
use crate::responses::Created;
use crate::routes::concert_id;
use application::Services;
use paperclip::actix::api_v2_operation;
use paperclip::actix::web::{self, ServiceConfig};

/// Create a concert
///
/// Adds a concert with the default queue settings.
#[api_v2_operation(tags(Operators), operation_id = "createConcert")]
pub async fn create_concert(
    services: web::Data<Services>,
    _operator: Operator,
    body: JsonBody<CreateConcertRequest>,
) -> Result<Created<ConcertDto>, ApiError> {
    let concert = services
        .create_concert(body.into_inner().try_into_domain()?)
        .await?;
    Ok(Created::new(ConcertDto::from(&concert)))
}

/// Create a schedule with its seats
///
/// Adds one dated performance and all its seats at once. Unknown concert: 404 NOT_FOUND.
#[api_v2_operation(tags(Operators), operation_id = "createSchedule")]
pub async fn create_schedule(
    services: web::Data<Services>,
    _operator: Operator,
    path: web::Path<i64>,
    body: JsonBody<CreateScheduleRequest>,
) -> Result<Created<ScheduleCreatedDto>, ApiError> {
    let concert = concert_id(path.into_inner())?;
    let schedule = body.into_inner().try_into_domain()?;
    let created = services.create_schedule(concert, schedule).await?;
    Ok(Created::new(ScheduleCreatedDto::from(&created)))
}

/// Read a concert's queue
///
/// Counts and effective admission settings. Unknown concert: 404 NOT_FOUND.
#[api_v2_operation(tags(Operators), operation_id = "getQueueStats")]
pub async fn queue_stats(
    services: web::Data<Services>,
    _operator: Operator,
    path: web::Path<i64>,
) -> Result<web::Json<QueueStatsDto>, ApiError> {
    let concert = concert_id(path.into_inner())?;
    let stats = services.queue_stats(concert).await?;
    Ok(web::Json(QueueStatsDto::from(&stats)))
}

/// Change a concert's admission settings
///
/// Absent fields stay as they are; the change takes effect at the next admission tick.
#[api_v2_operation(tags(Operators), operation_id = "updateQueueSettings")]
pub async fn update_queue(
    services: web::Data<Services>,
    _operator: Operator,
    path: web::Path<i64>,
    body: JsonBody<QueueSettingsPatchRequest>,
) -> Result<web::Json<QueueStatsDto>, ApiError> {
    let concert = concert_id(path.into_inner())?;
    let patch = body.into_inner().try_into_domain()?;
    let stats = services.update_queue_settings(concert, patch).await?;
    Ok(web::Json(QueueStatsDto::from(&stats)))
}

/// Registers the operator routes.
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(web::resource("/api/v1/admin/concerts").route(web::post().to(create_concert)));
    cfg.service(
        web::resource("/api/v1/admin/concerts/{concertId}/schedules")
            .route(web::post().to(create_schedule)),
    );
    cfg.service(
        web::resource("/api/v1/admin/concerts/{concertId}/queue")
            .route(web::get().to(queue_stats))
            .route(web::patch().to(update_queue)),
    );
}

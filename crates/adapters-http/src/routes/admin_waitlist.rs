//! `GET /api/v1/admin/schedules/{scheduleId}/waitlist`: an operator's view of a date's waiting
//! list.

use crate::auth::Operator;
use crate::dto::WaitlistCountsDto;
use crate::errors::ApiError;
use crate::routes::schedule_id;
use application::Services;
use paperclip::actix::api_v2_operation;
use paperclip::actix::web::{self, ServiceConfig};

/// Read a date's waiting list
///
/// Its entries counted by effective status (an OFFERED entry whose hold lapsed counts as
/// expired). Unknown schedule: 404 NOT_FOUND.
#[api_v2_operation(tags(Operators), operation_id = "getWaitlistCounts")]
pub async fn waitlist_counts(
    services: web::Data<Services>,
    _operator: Operator,
    path: web::Path<i64>,
) -> Result<web::Json<WaitlistCountsDto>, ApiError> {
    let schedule = schedule_id(path.into_inner())?;
    let counts = services.waitlist_counts(schedule).await?;
    Ok(web::Json(WaitlistCountsDto::new(schedule, &counts)))
}

/// Registers the route.
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(
        web::resource("/api/v1/admin/schedules/{scheduleId}/waitlist")
            .route(web::get().to(waitlist_counts)),
    );
}

//! Waiting lists for sold-out dates (v1.1): join, list, read, leave.

use crate::auth::AuthenticatedUser;
use crate::dto::{PageQuery, WaitlistEntryDto, WaitlistPageDto};
use crate::errors::ApiError;
use crate::headers::QueueTokenHeader;
use crate::responses::{CreatedOrExisting, NoContent};
use crate::routes::schedule_id;
use application::Services;
use domain::WaitlistEntryId;
use paperclip::actix::api_v2_operation;
use paperclip::actix::web::{self, ServiceConfig};

/// Join a sold-out date's waiting list
///
/// 201 with a new WAITING entry, or 200 with the caller's live (WAITING or OFFERED) entry for
/// that date: one live entry per user and date. Requires the caller's ACTIVE Queue-Token for the
/// date's concert. 409 SEATS_AVAILABLE while the date has a seat the caller can hold (a date
/// whose free seats are kept for its list has none). Unknown or started date: 404 NOT_FOUND.
/// When a seat comes back, it is held for the earliest WAITING entry (`offer`), for
/// `WAITLIST_OFFER_TTL_SECS`; paying that reservation needs no Queue-Token.
#[api_v2_operation(tags(Waitlist), operation_id = "joinWaitlist")]
pub async fn join_waitlist(
    services: web::Data<Services>,
    user: AuthenticatedUser,
    token: QueueTokenHeader,
    path: web::Path<i64>,
) -> Result<CreatedOrExisting<WaitlistEntryDto>, ApiError> {
    let schedule = schedule_id(path.into_inner())?;
    let joined = services.join_waitlist(user.0, token.0, schedule).await?;
    Ok(CreatedOrExisting {
        body: WaitlistEntryDto::from(&joined.entry),
        created: joined.created,
    })
}

/// List the caller's waiting-list entries
///
/// Newest first, paged like every list (`limit` 1 to 100, default 20; `cursor`).
#[api_v2_operation(tags(Waitlist), operation_id = "listWaitlistEntries")]
pub async fn list_entries(
    services: web::Data<Services>,
    user: AuthenticatedUser,
    query: web::Query<PageQuery>,
) -> Result<web::Json<WaitlistPageDto>, ApiError> {
    let page = query.try_into_domain()?;
    let entries = services.waitlist_entries(user.0, page).await?;
    Ok(web::Json(WaitlistPageDto::from(&entries)))
}

/// Read one of the caller's waiting-list entries
///
/// Someone else's entry is 404 NOT_FOUND.
#[api_v2_operation(tags(Waitlist), operation_id = "getWaitlistEntry")]
pub async fn get_entry(
    services: web::Data<Services>,
    user: AuthenticatedUser,
    path: web::Path<uuid::Uuid>,
) -> Result<web::Json<WaitlistEntryDto>, ApiError> {
    let id = WaitlistEntryId::from_uuid(path.into_inner());
    let entry = services.waitlist_entry(user.0, id).await?;
    Ok(web::Json(WaitlistEntryDto::from(&entry)))
}

/// Leave a waiting list
///
/// 204. A live entry becomes LEFT; its live offer is released with it, and the seat goes to
/// the next WAITING entry. An entry already final stays as it is. Someone else's: 404.
#[api_v2_operation(tags(Waitlist), operation_id = "leaveWaitlist")]
pub async fn leave(
    services: web::Data<Services>,
    user: AuthenticatedUser,
    path: web::Path<uuid::Uuid>,
) -> Result<NoContent, ApiError> {
    let id = WaitlistEntryId::from_uuid(path.into_inner());
    services.leave_waitlist(user.0, id).await?;
    Ok(NoContent)
}

/// Registers the waiting-list routes.
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(
        web::resource("/api/v1/schedules/{scheduleId}/waitlist")
            .route(web::post().to(join_waitlist)),
    );
    cfg.service(web::resource("/api/v1/waitlist").route(web::get().to(list_entries)));
    cfg.service(
        web::resource("/api/v1/waitlist/{entryId}")
            .route(web::get().to(get_entry))
            .route(web::delete().to(leave)),
    );
}

//! The routes, one module per resource. Each module registers its resources (every method of a
//! path on one resource, so that another method on a known path is 405, not 404).

pub mod admin;
pub mod admin_waitlist;
pub mod browse;
pub mod catalogue;
pub mod demo;
pub mod ops;
pub mod payments;
pub mod queue;
pub mod refunds;
pub mod reservations;
pub mod sale;
pub mod waitlist;
pub mod wallet;

use crate::errors::ApiError;
use domain::{ConcertId, ScheduleId};
use paperclip::actix::web::ServiceConfig;

/// Every contract route (method, path template), in the order of the contract. The OpenAPI
/// document lists exactly these (plus the operations endpoints); the demo sign-in only when it
/// is enabled (see [`demo`]).
pub const CONTRACT_ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/concerts"),
    ("post", "/api/v1/concerts/{concertId}/queue-tokens"),
    ("get", "/api/v1/queue-tokens/current"),
    ("delete", "/api/v1/queue-tokens/current"),
    ("get", "/api/v1/concerts/{concertId}/schedules"),
    ("get", "/api/v1/schedules/{scheduleId}/seats"),
    ("post", "/api/v1/reservations"),
    ("get", "/api/v1/reservations/{id}"),
    ("get", "/api/v1/reservations"),
    ("delete", "/api/v1/reservations/{id}"),
    ("post", "/api/v1/payments"),
    ("post", "/api/v1/reservations/{id}/refund"),
    ("get", "/api/v1/wallet"),
    ("post", "/api/v1/wallet/charges"),
    ("get", "/api/v1/wallet/transactions"),
    ("post", "/api/v1/admin/concerts"),
    ("post", "/api/v1/admin/concerts/{concertId}/schedules"),
    ("get", "/api/v1/admin/concerts/{concertId}/queue"),
    ("patch", "/api/v1/admin/concerts/{concertId}/queue"),
    ("patch", "/api/v1/admin/concerts/{concertId}"),
    ("get", "/api/v1/admin/schedules/{scheduleId}/waitlist"),
    ("post", "/api/v1/schedules/{scheduleId}/waitlist"),
    ("get", "/api/v1/waitlist"),
    ("get", "/api/v1/waitlist/{entryId}"),
    ("delete", "/api/v1/waitlist/{entryId}"),
    ("post", "/api/v1/demo/sign-in"),
    ("get", "/health/live"),
    ("get", "/health/ready"),
    ("get", "/metrics"),
];

/// Registers every route of the API.
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    catalogue::configure(cfg);
    queue::configure(cfg);
    browse::configure(cfg);
    reservations::configure(cfg);
    payments::configure(cfg);
    refunds::configure(cfg);
    wallet::configure(cfg);
    waitlist::configure(cfg);
    admin::configure(cfg);
    admin_waitlist::configure(cfg);
    sale::configure(cfg);
    ops::configure(cfg);
}

/// A concert id from a path: a non-positive one names nothing (404).
pub(crate) fn concert_id(raw: i64) -> Result<ConcertId, ApiError> {
    ConcertId::new(raw).map_err(|_| ApiError::NotFound("concert not found".into()))
}

/// A schedule id from a path: a non-positive one names nothing (404).
pub(crate) fn schedule_id(raw: i64) -> Result<ScheduleId, ApiError> {
    ScheduleId::new(raw).map_err(|_| ApiError::NotFound("schedule not found".into()))
}

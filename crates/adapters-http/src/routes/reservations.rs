//! Seat holds and reservations.

use crate::auth::AuthenticatedUser;
use crate::body::JsonBody;
use crate::dto::{HoldRequest, PageQuery, ReservationDto, ReservationPageDto};
use crate::errors::ApiError;
use crate::headers::QueueTokenHeader;
use crate::metrics::Metrics;
use crate::responses::Created;
use application::Services;
use domain::ReservationId;
use paperclip::actix::api_v2_operation;
use paperclip::actix::web::{self, ServiceConfig};

/// Hold seats
///
/// Holds 1 to the per-reservation maximum of distinct seats of one schedule, all or none.
/// Requires the caller's ACTIVE Queue-Token for the schedule's concert. 409 SEAT_UNAVAILABLE
/// when any seat is held or sold; 409 HOLD_LIMIT_EXCEEDED when the caller would hold too many
/// seats; 400 VALIDATION_FAILED for an empty, oversized or repeating seat list; 404 NOT_FOUND
/// for an unknown schedule or a seat not of that schedule.
#[api_v2_operation(tags(Reservations), operation_id = "holdSeats")]
pub async fn hold_seats(
    services: web::Data<Services>,
    metrics: web::Data<Metrics>,
    user: AuthenticatedUser,
    token: QueueTokenHeader,
    body: JsonBody<HoldRequest>,
) -> Result<Created<ReservationDto>, ApiError> {
    let (schedule, seats) = body.into_inner().try_into_domain()?;
    match services.hold_seats(user.0, token.0, schedule, seats).await {
        Ok(reservation) => {
            metrics.record_hold("ok");
            Ok(Created::new(ReservationDto::from(&reservation)))
        }
        Err(e) => {
            let e = ApiError::from(e);
            metrics.record_hold(e.code());
            Err(e)
        }
    }
}

/// List the caller's reservations
///
/// Newest first, paged: `limit` 1 to 100 (default 20; 0 or above 100 is 400
/// VALIDATION_FAILED), `cursor` the previous page's `nextCursor` (an invalid one is 400
/// VALIDATION_FAILED).
#[api_v2_operation(tags(Reservations), operation_id = "listReservations")]
pub async fn list_reservations(
    services: web::Data<Services>,
    user: AuthenticatedUser,
    query: web::Query<PageQuery>,
) -> Result<web::Json<ReservationPageDto>, ApiError> {
    let page = query.try_into_domain()?;
    let reservations = services.reservations(user.0, page).await?;
    Ok(web::Json(ReservationPageDto::from(&reservations)))
}

/// Read one of the caller's reservations
///
/// Someone else's reservation is 404 NOT_FOUND, exactly as if it did not exist.
#[api_v2_operation(tags(Reservations), operation_id = "getReservation")]
pub async fn get_reservation(
    services: web::Data<Services>,
    user: AuthenticatedUser,
    path: web::Path<uuid::Uuid>,
) -> Result<web::Json<ReservationDto>, ApiError> {
    let id = ReservationId::from_uuid(path.into_inner());
    let reservation = services.reservation(user.0, id).await?;
    Ok(web::Json(ReservationDto::from(&reservation)))
}

/// Cancel a hold
///
/// Only a HELD reservation can be cancelled; its seats are free at once. Answers 200 with the
/// reservation, now CANCELLED. A reservation that is not HELD (CONFIRMED, EXPIRED or already
/// CANCELLED) is 409 with code RESERVATION_NOT_CANCELLABLE. Someone else's or unknown: 404
/// NOT_FOUND.
#[api_v2_operation(tags(Reservations), operation_id = "cancelReservation")]
pub async fn cancel_reservation(
    services: web::Data<Services>,
    user: AuthenticatedUser,
    path: web::Path<uuid::Uuid>,
) -> Result<web::Json<ReservationDto>, ApiError> {
    let id = ReservationId::from_uuid(path.into_inner());
    let reservation = services.cancel_reservation(user.0, id).await?;
    Ok(web::Json(ReservationDto::from(&reservation)))
}

/// Registers the reservation routes.
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(
        web::resource("/api/v1/reservations")
            .route(web::post().to(hold_seats))
            .route(web::get().to(list_reservations)),
    );
    cfg.service(
        web::resource("/api/v1/reservations/{id}")
            .route(web::get().to(get_reservation))
            .route(web::delete().to(cancel_reservation)),
    );
}

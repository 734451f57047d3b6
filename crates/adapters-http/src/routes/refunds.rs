//! `POST /api/v1/reservations/{id}/refund`.

use crate::auth::AuthenticatedUser;
use crate::dto::RefundReceiptDto;
use crate::errors::ApiError;
use crate::headers::IdempotencyKeyHeader;
use crate::idempotency::{canonical_json, fingerprint};
use crate::metrics::Metrics;
use crate::responses::Created;
use application::Services;
use domain::{IdempotencyContext, ReservationId};
use paperclip::actix::api_v2_operation;
use paperclip::actix::web::{self, ServiceConfig};

/// The operation name mixed into refund fingerprints.
pub const REFUND_OPERATION: &str = "POST /api/v1/reservations/{id}/refund";

/// Refund a paid reservation
///
/// Atomically marks the caller's CONFIRMED reservation REFUNDED, frees its seats at once,
/// credits the wallet the amount paid (even above the balance maximum) and records a REFUND
/// ledger entry. Allowed until REFUND_CUTOFF_HOURS before the schedule starts. Requires an
/// Idempotency-Key (no Queue-Token, no body); a replay answers the first result (201 with
/// `Idempotent-Replayed: true`) before any other check. 409 RESERVATION_NOT_REFUNDABLE (not
/// CONFIRMED), 409 REFUND_WINDOW_CLOSED, 404 NOT_FOUND (not the caller's reservation), 422
/// IDEMPOTENCY_KEY_REUSED, 409 IDEMPOTENCY_KEY_IN_USE.
#[api_v2_operation(tags(Reservations), operation_id = "refundReservation")]
pub async fn refund(
    services: web::Data<Services>,
    metrics: web::Data<Metrics>,
    user: AuthenticatedUser,
    key: IdempotencyKeyHeader,
    path: web::Path<uuid::Uuid>,
) -> Result<Created<RefundReceiptDto>, ApiError> {
    let reservation = ReservationId::from_uuid(path.into_inner());
    // The request is the reservation it names: the same key for another reservation is a reuse.
    let canonical = canonical_json(&serde_json::json!({ "reservationId": reservation.get() }));
    let idempotency = IdempotencyContext {
        key: key.0,
        fingerprint: fingerprint(REFUND_OPERATION, &canonical),
    };
    match services.refund(user.0, idempotency, reservation).await {
        Ok(done) => {
            metrics.record_refund(if done.replayed { "replayed" } else { "ok" });
            Ok(Created {
                body: RefundReceiptDto::from(&done.value),
                replayed: done.replayed,
            })
        }
        Err(e) => {
            let e = ApiError::from(e);
            metrics.record_refund(e.code());
            Err(e)
        }
    }
}

/// Registers the refund route.
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(web::resource("/api/v1/reservations/{id}/refund").route(web::post().to(refund)));
}

//! `POST /api/v1/payments`.

use crate::auth::AuthenticatedUser;
use crate::dto::{PayRequest, PaymentReceiptDto};
use crate::errors::ApiError;
use crate::headers::{IdempotencyKeyHeader, PaymentQueueTokenHeader};
use crate::idempotency::FingerprintedJson;
use crate::metrics::Metrics;
use crate::responses::Created;
use application::Services;
use domain::IdempotencyContext;
use paperclip::actix::api_v2_operation;
use paperclip::actix::web::{self, ServiceConfig};

/// The operation name mixed into payment fingerprints.
pub const PAY_OPERATION: &str = "POST /api/v1/payments";

/// Pay for a reservation
///
/// Atomically debits the wallet the reservation's total price, confirms the reservation,
/// records the payment and a ledger entry, and expires the queue token. Requires the caller's
/// ACTIVE Queue-Token for the reservation's concert (except for a waiting-list offer, which may
/// be paid without one and whose entry becomes FULFILLED) and an Idempotency-Key; a replay answers
/// the first result (201 with `Idempotent-Replayed: true`) before any other check. 409
/// RESERVATION_NOT_PAYABLE (expired, cancelled or paid), 409 INSUFFICIENT_BALANCE, 404
/// NOT_FOUND (not the caller's reservation), 422 IDEMPOTENCY_KEY_REUSED, 409
/// IDEMPOTENCY_KEY_IN_USE.
#[api_v2_operation(tags(Payments), operation_id = "pay")]
pub async fn pay(
    services: web::Data<Services>,
    metrics: web::Data<Metrics>,
    user: AuthenticatedUser,
    token: PaymentQueueTokenHeader,
    key: IdempotencyKeyHeader,
    body: FingerprintedJson<PayRequest>,
) -> Result<Created<PaymentReceiptDto>, ApiError> {
    let idempotency = IdempotencyContext {
        key: key.0,
        fingerprint: body.fingerprint(PAY_OPERATION),
    };
    let reservation = body.value.try_into_domain();
    match services
        .pay(user.0, token.0, idempotency, reservation)
        .await
    {
        Ok(done) => {
            metrics.record_payment(if done.replayed { "replayed" } else { "ok" });
            Ok(Created {
                body: PaymentReceiptDto::from(&done.value),
                replayed: done.replayed,
            })
        }
        Err(e) => {
            let e = ApiError::from(e);
            metrics.record_payment(e.code());
            Err(e)
        }
    }
}

/// Registers the payment route.
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(web::resource("/api/v1/payments").route(web::post().to(pay)));
}

//! The caller's wallet: balance, charges, ledger.

use crate::auth::AuthenticatedUser;
use crate::dto::{ChargeReceiptDto, ChargeRequest, LedgerPageDto, PageQuery, WalletDto};
use crate::errors::ApiError;
use crate::headers::IdempotencyKeyHeader;
use crate::idempotency::FingerprintedJson;
use crate::metrics::Metrics;
use crate::responses::Created;
use application::Services;
use domain::IdempotencyContext;
use paperclip::actix::api_v2_operation;
use paperclip::actix::web::{self, ServiceConfig};

/// The operation name mixed into charge fingerprints.
pub const CHARGE_OPERATION: &str = "POST /api/v1/wallet/charges";

/// Read the caller's wallet
///
/// A user never seen before has a balance of 0.
#[api_v2_operation(tags(Wallet), operation_id = "getWallet")]
pub async fn wallet(
    services: web::Data<Services>,
    user: AuthenticatedUser,
) -> Result<web::Json<WalletDto>, ApiError> {
    let wallet = services.wallet(user.0).await?;
    Ok(web::Json(WalletDto::from(&wallet)))
}

/// Charge the caller's wallet
///
/// Adds 1 to the per-charge maximum of KRW (400 VALIDATION_FAILED otherwise) under an
/// Idempotency-Key; a replay answers the first result (201 with `Idempotent-Replayed: true`).
/// 422 BALANCE_LIMIT_EXCEEDED when the balance would pass the maximum, 422
/// IDEMPOTENCY_KEY_REUSED, 409 IDEMPOTENCY_KEY_IN_USE.
#[api_v2_operation(tags(Wallet), operation_id = "chargeWallet")]
pub async fn charge(
    services: web::Data<Services>,
    metrics: web::Data<Metrics>,
    user: AuthenticatedUser,
    key: IdempotencyKeyHeader,
    body: FingerprintedJson<ChargeRequest>,
) -> Result<Created<ChargeReceiptDto>, ApiError> {
    let idempotency = IdempotencyContext {
        key: key.0,
        fingerprint: body.fingerprint(CHARGE_OPERATION),
    };
    match services
        .charge(user.0, idempotency, body.value.amount)
        .await
    {
        Ok(done) => {
            metrics.record_charge(if done.replayed { "replayed" } else { "ok" });
            Ok(Created {
                body: ChargeReceiptDto::from(&done.value),
                replayed: done.replayed,
            })
        }
        Err(e) => {
            let e = ApiError::from(e);
            metrics.record_charge(e.code());
            Err(e)
        }
    }
}

/// List the caller's ledger
///
/// Newest first, paged like reservations (`limit` 1 to 100, default 20; opaque `cursor`).
/// `amount` is signed: payments are negative.
#[api_v2_operation(tags(Wallet), operation_id = "listTransactions")]
pub async fn transactions(
    services: web::Data<Services>,
    user: AuthenticatedUser,
    query: web::Query<PageQuery>,
) -> Result<web::Json<LedgerPageDto>, ApiError> {
    let page = query.try_into_domain()?;
    let ledger = services.ledger(user.0, page).await?;
    Ok(web::Json(LedgerPageDto::from(&ledger)))
}

/// Registers the wallet routes.
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(web::resource("/api/v1/wallet").route(web::get().to(wallet)));
    cfg.service(web::resource("/api/v1/wallet/charges").route(web::post().to(charge)));
    cfg.service(web::resource("/api/v1/wallet/transactions").route(web::get().to(transactions)));
}

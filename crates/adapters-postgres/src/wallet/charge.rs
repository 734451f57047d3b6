//! Charges: one call of the SQL function `charge_once` (migrations `2025-01-03-000000` and
//! `2025-01-08-000000`), one round trip and one transaction. Charges are not coalesced: a
//! charge changes one wallet, and the bench showed them well within their target alone.

use crate::outcome::CallStatus;
use crate::rows::IdempotencyRow;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::ports::NewCharge;
use domain::{IdempotencyDecision, StoreError, Timestamp, WalletPolicy};
use uuid::Uuid;

/// How long a request waits for another one running under the same key before answering
/// `IdempotencyKeyInUse` (milliseconds, as `lock_timeout` takes it).
pub(super) const IDEMPOTENCY_WAIT_MS: i32 = 2000;

/// `$1` user, `$2` key, `$3` fingerprint, `$4` transaction id, `$5` amount, `$6` balance
/// maximum, `$7` the key wait (ms).
const CHARGE_ONCE: &str = "SELECT * FROM charge_once($1, $2, $3, $4, $5, $6, $7)";

/// What `charge_once` did (the SQL type `money_call_result`).
#[derive(QueryableByName)]
struct CallRow {
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Nullable<Text>)]
    fingerprint: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    outcome: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    rejection: Option<String>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    transaction_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    payment_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    reservation_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<BigInt>)]
    amount: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    balance: Option<i64>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    occurred_at: Option<Timestamp>,
}

impl CallRow {
    /// What the call means for the request: its record's outcome (this call's or a replayed
    /// one), or why the key could not be used.
    fn into_decision(self) -> Result<IdempotencyDecision, StoreError> {
        Ok(match CallStatus::parse(&self.status)? {
            CallStatus::InUse => IdempotencyDecision::InUse,
            CallStatus::Reused => IdempotencyDecision::Reused,
            CallStatus::Done => {
                let record = IdempotencyRow {
                    fingerprint: self.fingerprint.unwrap_or_default(),
                    outcome: self.outcome.unwrap_or_default(),
                    rejection: self.rejection,
                    transaction_id: self.transaction_id,
                    payment_id: self.payment_id,
                    reservation_id: self.reservation_id,
                    amount: self.amount,
                    balance: self.balance,
                    occurred_at: self.occurred_at,
                    refund_id: None,
                }
                .into_domain()?;
                record
                    .outcome
                    .map_or(IdempotencyDecision::InUse, IdempotencyDecision::Replay)
            }
            CallStatus::Fresh => {
                return Err(StoreError::Internal(
                    "charge_once returned before running".into(),
                ))
            }
        })
    }
}

/// Runs one charge: what the key's record says now (the charge's own outcome when it ran).
pub(super) async fn charge_once(
    conn: &mut AsyncPgConnection,
    charge: NewCharge,
    policy: WalletPolicy,
) -> diesel::QueryResult<Result<IdempotencyDecision, StoreError>> {
    let row: CallRow = crate::sql::sql_query(CHARGE_ONCE)
        .bind::<BigInt, _>(charge.user_id.get())
        .bind::<Text, _>(charge.idempotency.key.as_str().to_owned())
        .bind::<Text, _>(charge.idempotency.fingerprint.as_str().to_owned())
        .bind::<SqlUuid, _>(charge.transaction_id.get())
        .bind::<BigInt, _>(charge.amount.money().won())
        .bind::<BigInt, _>(policy.balance_max().won())
        .bind::<Integer, _>(IDEMPOTENCY_WAIT_MS)
        .get_result(conn)
        .await?;
    Ok(row.into_decision())
}

//! [`WalletStore`]: balances, the append-only ledger, charges and payments.
//!
//! A charge or a payment is one call of a SQL function (`charge_once`, `pay_once`, migration
//! `2025-01-03-000000_money_functions`): one round trip, one transaction. Profiling
//! `scripts/bench` showed the seventeen round trips of a payment run statement by statement
//! costing more CPU, in the service and in PostgreSQL, than the work they carried.
//!
//! Both run under an idempotency key: the function takes the advisory transaction lock on
//! (user, key), waiting at most [`IDEMPOTENCY_WAIT_MS`] for a request running under the same key
//! (usually it finishes within milliseconds and this one then replays its answer; still running
//! after the wait means `IdempotencyKeyInUse`); a stored record with the same fingerprint is
//! replayed (a stored rejection gives the same error again), with another fingerprint it is
//! `IdempotencyKeyReused`; otherwise the operation runs and its outcome is inserted under the key
//! in the same transaction. A replayed receipt names the first request's ids, not this one's:
//! that is how the caller knows it is a replay (`Idempotent-Replayed`), however it was answered. A business rejection (`BalanceLimitExceeded`, `NotPayable`,
//! `InsufficientBalance`) writes nothing but that record, so a replay answers the same;
//! `ReservationNotFound` and access errors store nothing. Money moves only through conditional
//! `UPDATE`s whose affected-row count decides, never a balance read into the application.

use crate::batched::distinct;
use crate::pool::{PgStore, Reader, MAX_ATTEMPTS};
use crate::rows::{money, IdempotencyRow, Int8, LedgerRow};
use async_trait::async_trait;
use diesel::sql_types::{
    Array, BigInt, Bool, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel::{OptionalExtension, QueryableByName};
use diesel_async::RunQueryDsl;
use domain::guards::{Guard, Guards};
use domain::ports::{NewCharge, NewPayment, WalletStore};
use domain::{
    ChargeError, ChargeReceipt, ChargeRejection, Cursor, IdempotencyKey, IdempotencyRecord,
    LedgerEntry, Page, PageRequest, PayError, PaymentReceipt, PaymentRejection, QueueAccessError,
    StoreError, StoredOutcome, Timestamp, UserId, Wallet, WalletPolicy,
};
use futures::FutureExt;
use std::collections::HashMap;
use uuid::Uuid;

/// How long a request waits for another one running under the same key before answering
/// `IdempotencyKeyInUse` (milliseconds, as `lock_timeout` takes it).
pub(crate) const IDEMPOTENCY_WAIT_MS: i32 = 2000;

/// What `charge_once` / `pay_once` did (the SQL type `money_call_result`).
#[derive(diesel::QueryableByName)]
pub(crate) struct CallRow {
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

/// What a call of a money function means.
#[derive(Debug, Clone)]
pub(crate) enum Called {
    InUse,
    Reused,
    NotFound,
    TokenNotActive,
    /// The key's record: this call's outcome, or the replayed one.
    Done(StoredOutcome),
}

impl CallRow {
    pub(crate) fn into_called(self) -> Result<Called, StoreError> {
        Ok(match self.status.as_str() {
            "IN_USE" => Called::InUse,
            "REUSED" => Called::Reused,
            "NOT_FOUND" => Called::NotFound,
            "TOKEN_NOT_ACTIVE" => Called::TokenNotActive,
            "DONE" => {
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
                }
                .into_domain()?;
                match record.outcome {
                    Some(outcome) => Called::Done(outcome),
                    None => Called::InUse,
                }
            }
            other => {
                return Err(StoreError::Internal(format!(
                    "money function answered {other}"
                )))
            }
        })
    }
}

/// The stored records of several (user, key) pairs: `$1` users, `$2` keys. Both `= ANY` on the
/// primary key (an index probe per pair whatever the table's statistics say); it may also
/// return one pair's key under another pair's user, which a lookup by (user, key) ignores.
pub(crate) const RECORDS_OF_KEYS: &str = "\
    SELECT r.user_id, r.key, r.fingerprint, r.outcome, r.rejection, r.transaction_id, \
        r.payment_id, r.reservation_id, r.amount, r.balance, r.occurred_at \
    FROM idempotency_records r WHERE r.user_id = ANY($1) AND r.key = ANY($2)";

/// A row of [`RECORDS_OF_KEYS`].
#[derive(QueryableByName)]
pub(crate) struct KeyedRecord {
    #[diesel(sql_type = BigInt)]
    pub user_id: i64,
    #[diesel(sql_type = Text)]
    pub key: String,
    #[diesel(embed)]
    pub record: IdempotencyRow,
}

/// The idempotency records of one batch: one statement for every (user, key) asked for.
pub(crate) async fn idempotency_records_batch(
    reader: Reader,
    keys: Vec<(i64, String)>,
) -> Result<Vec<Option<IdempotencyRow>>, StoreError> {
    let (pairs, _) = distinct(&keys);
    let (users, names): (Vec<i64>, Vec<String>) = pairs.into_iter().unzip();
    let rows: Vec<KeyedRecord> = reader
        .read(|conn| {
            crate::sql::sql_query(RECORDS_OF_KEYS)
                .bind::<Array<BigInt>, _>(users.clone())
                .bind::<Array<Text>, _>(names.clone())
                .load(conn)
                .boxed()
        })
        .await?;
    let found: HashMap<(i64, String), IdempotencyRow> = rows
        .into_iter()
        .map(|r| ((r.user_id, r.key), r.record))
        .collect();
    Ok(keys.iter().map(|k| found.get(k).cloned()).collect())
}

/// One payment alone: one call of `pay_once`, re-run after a deadlock.
pub(crate) async fn pay_alone(
    reader: &Reader,
    payment: &NewPayment,
    guards: Guards,
) -> Result<Called, StoreError> {
    let row: CallRow = reader
        .call(MAX_ATTEMPTS, |conn| {
            crate::sql::sql_query(
                "SELECT * FROM pay_once($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind::<BigInt, _>(payment.user_id.get())
            .bind::<Text, _>(payment.idempotency.key.as_str().to_owned())
            .bind::<Text, _>(payment.idempotency.fingerprint.as_str().to_owned())
            .bind::<SqlUuid, _>(payment.reservation_id.get())
            .bind::<SqlUuid, _>(payment.queue_token.get())
            .bind::<SqlUuid, _>(payment.payment_id.get())
            .bind::<SqlUuid, _>(payment.transaction_id.get())
            .bind::<Bool, _>(guards.on(Guard::Payable))
            .bind::<Bool, _>(guards.on(Guard::TokenActive))
            .bind::<Bool, _>(guards.on(Guard::Balance))
            .bind::<Integer, _>(IDEMPOTENCY_WAIT_MS)
            .get_result(conn)
            .boxed()
        })
        .await?;
    row.into_called()
}

/// A payment's answer from what its call (alone or in a batch) did.
fn payment_answer(called: Called) -> Result<PaymentReceipt, PayError> {
    match called {
        Called::Done(StoredOutcome::Paid(receipt)) => Ok(receipt),
        Called::Done(StoredOutcome::PaymentRejected(PaymentRejection::NotPayable)) => {
            Err(PayError::NotPayable)
        }
        Called::Done(StoredOutcome::PaymentRejected(PaymentRejection::InsufficientBalance)) => {
            Err(PayError::InsufficientBalance)
        }
        Called::InUse => Err(PayError::IdempotencyKeyInUse),
        Called::Reused | Called::Done(_) => Err(PayError::IdempotencyKeyReused),
        Called::NotFound => Err(PayError::ReservationNotFound),
        Called::TokenNotActive => Err(PayError::Access(QueueAccessError::NotActive)),
    }
}

#[async_trait]
impl WalletStore for PgStore {
    async fn wallet(&self, user_id: UserId) -> Result<Wallet, StoreError> {
        let row: Option<Int8> = self
            .read(|conn| {
                crate::sql::sql_query("SELECT balance AS value FROM wallets WHERE user_id = $1")
                    .bind::<BigInt, _>(user_id.get())
                    .get_result(conn)
                    .map(|r| r.optional())
                    .boxed()
            })
            .await?;
        Ok(Wallet {
            user_id,
            balance: row.map_or(Ok(domain::Money::ZERO), |r| money(r.value))?,
        })
    }

    async fn charge(
        &self,
        charge: NewCharge,
        policy: WalletPolicy,
    ) -> Result<ChargeReceipt, ChargeError> {
        let row: CallRow = self
            .call(|conn| {
                crate::sql::sql_query("SELECT * FROM charge_once($1, $2, $3, $4, $5, $6, $7)")
                    .bind::<BigInt, _>(charge.user_id.get())
                    .bind::<Text, _>(charge.idempotency.key.as_str().to_owned())
                    .bind::<Text, _>(charge.idempotency.fingerprint.as_str().to_owned())
                    .bind::<SqlUuid, _>(charge.transaction_id.get())
                    .bind::<BigInt, _>(charge.amount.money().won())
                    .bind::<BigInt, _>(policy.balance_max().won())
                    .bind::<Integer, _>(IDEMPOTENCY_WAIT_MS)
                    .get_result(conn)
                    .boxed()
            })
            .await?;
        match row.into_called()? {
            Called::Done(StoredOutcome::Charged(receipt)) => Ok(receipt),
            Called::Done(StoredOutcome::ChargeRejected(ChargeRejection::BalanceLimitExceeded)) => {
                Err(ChargeError::BalanceLimitExceeded)
            }
            Called::InUse => Err(ChargeError::IdempotencyKeyInUse),
            Called::Reused | Called::Done(_) => Err(ChargeError::IdempotencyKeyReused),
            Called::NotFound | Called::TokenNotActive => {
                Err(StoreError::Internal("a charge answered like a payment".into()).into())
            }
        }
    }

    async fn pay(&self, payment: NewPayment) -> Result<PaymentReceipt, PayError> {
        // Coalesced with the other payments waiting now (see `pay_batch.rs`).
        let called = self.batches.payments.call((payment, self.guards)).await??;
        payment_answer(called)
    }

    async fn ledger(
        &self,
        user_id: UserId,
        page: PageRequest,
    ) -> Result<Page<LedgerEntry>, StoreError> {
        // Newest first in the wallet's own order (`seq`, numbered under the wallet's lock as
        // the balance changed); the cursor's entry is found by its id.
        let after = page.after().map(|c| c.id);
        let rows: Vec<LedgerRow> = self
            .read(|conn| {
                crate::sql::sql_query(
                    "SELECT id, user_id, kind, amount, balance_after, reference, created_at \
                     FROM ledger_entries WHERE user_id = $1 \
                       AND ($2::uuid IS NULL OR seq < ( \
                           SELECT c.seq FROM ledger_entries c WHERE c.id = $2 AND c.user_id = $1)) \
                     ORDER BY seq DESC LIMIT $3",
                )
                .bind::<BigInt, _>(user_id.get())
                .bind::<Nullable<SqlUuid>, _>(after)
                .bind::<BigInt, _>(i64::from(page.limit()) + 1)
                .load(conn)
                .boxed()
            })
            .await?;
        let items = rows
            .into_iter()
            .map(LedgerRow::into_domain)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(items, page.limit(), |e| Cursor {
            created_at: e.created_at,
            id: e.id.get(),
        }))
    }

    async fn idempotency_record(
        &self,
        user_id: UserId,
        key: IdempotencyKey,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.batches
            .idempotency_records
            .call((user_id.get(), key.as_str().to_owned()))
            .await?
            .map(IdempotencyRow::into_domain)
            .transpose()
    }
}

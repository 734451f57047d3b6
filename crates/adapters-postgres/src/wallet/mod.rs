//! [`WalletStore`]: balances, the append-only ledger, charges, payments and refunds
//! (`refund.rs`).
//!
//! Charges and payments run under an idempotency key: the (user, key) advisory lock for the
//! transaction, waiting at most `IDEMPOTENCY_WAIT_MS` for a request running under the same key
//! (usually it finishes within milliseconds and this one then replays its answer; still running
//! after the wait means `IdempotencyKeyInUse`). What the key's record means is decided once, in
//! the domain ([`domain::IdempotencyDecision`]): a record with the same fingerprint is replayed
//! (a stored rejection gives the same error again), with another fingerprint it is
//! `IdempotencyKeyReused`; otherwise the operation runs and its outcome is stored under the key
//! in the same transaction. A replayed receipt names the first request's ids, not this one's:
//! that is how the caller knows it is a replay (`Idempotent-Replayed`). A business rejection
//! (`BalanceLimitExceeded`, `NotPayable`, `InsufficientBalance`) writes nothing but that record;
//! `ReservationNotFound` and access errors store nothing. Money moves only through conditional
//! `UPDATE`s whose affected rows decide, never a balance read into the service.

mod charge;
mod pay;
mod records;
mod refund;

pub(crate) use pay::payments_batch;
pub(crate) use records::records_batch;

use crate::requests::RecordRead;
use crate::rows::{money, IdempotencyRow, Int8, LedgerRow};
use crate::store::PgStore;
use async_trait::async_trait;
use diesel::sql_types::{BigInt, Nullable, Uuid as SqlUuid};
use diesel::OptionalExtension;
use diesel_async::RunQueryDsl;
use domain::ports::{NewCharge, NewPayment, NewRefund, WalletStore};
use domain::{
    ChargeError, ChargeReceipt, Cursor, IdempotencyKey, IdempotencyRecord, LedgerEntry, Page,
    PageRequest, PayError, PaymentReceipt, RefundError, RefundPolicy, RefundReceipt, StoreError,
    UserId, Wallet, WalletPolicy,
};
use futures::FutureExt;

/// `$1` user: the wallet's balance, if it exists.
const BALANCE: &str = "SELECT balance AS value FROM wallets WHERE user_id = $1";

/// One page of the ledger.
const LEDGER_PAGE: &str = include_str!("sql/ledger_page.sql");

#[async_trait]
impl WalletStore for PgStore {
    async fn wallet(&self, user_id: UserId) -> Result<Wallet, StoreError> {
        let row: Option<Int8> = self
            .db
            .autocommit(|conn| {
                crate::sql::sql_query(BALANCE)
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
        let decision = self
            .db
            .statement(|conn| charge::charge_once(conn, charge.clone(), policy).boxed())
            .await??;
        decision.charge_answer().unwrap_or_else(|| {
            Err(StoreError::Internal("a charge ran without an outcome".into()).into())
        })
    }

    async fn pay(&self, payment: NewPayment) -> Result<PaymentReceipt, PayError> {
        // Coalesced with the other payments waiting now (see `pay.rs`).
        self.batches.payments.call(payment).await?
    }

    async fn refund(
        &self,
        refund: NewRefund,
        policy: RefundPolicy,
    ) -> Result<RefundReceipt, RefundError> {
        self.db
            .transaction(|conn| refund::refund_transaction(conn, refund.clone(), policy))
            .await
            .map_err(crate::errors::Fail::into_error)?
    }

    async fn ledger(
        &self,
        user_id: UserId,
        page: PageRequest,
    ) -> Result<Page<LedgerEntry>, StoreError> {
        let after = page.after().map(|c| c.id);
        let rows: Vec<LedgerRow> = self
            .db
            .autocommit(|conn| {
                crate::sql::sql_query(LEDGER_PAGE)
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
            .call(RecordRead {
                user: user_id.get(),
                key: key.as_str().to_owned(),
            })
            .await?
            .map(IdempotencyRow::into_domain)
            .transpose()
    }
}

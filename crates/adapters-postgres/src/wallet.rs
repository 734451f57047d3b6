//! [`WalletStore`]: balances, the append-only ledger, charges and payments.
//!
//! Charges and payments run under an idempotency key. In one transaction: take the advisory
//! transaction lock on (user, key), waiting at most [`IDEMPOTENCY_WAIT_MS`] for a request running
//! under the same key (usually it finishes within milliseconds and this one then replays its
//! answer; still running after the wait means `IdempotencyKeyInUse`); a stored record with the same fingerprint is replayed (a stored
//! rejection gives the same error again), with another fingerprint it is `IdempotencyKeyReused`;
//! otherwise the operation runs inside a savepoint and its outcome is inserted under the key in
//! the same transaction. A business rejection (`BalanceLimitExceeded`, `NotPayable`,
//! `InsufficientBalance`) rolls back to the savepoint and is recorded, so a replay answers the
//! same; `ReservationNotFound` and access errors store nothing.

use crate::errors::{is_lock_timeout, Fail};
use crate::locks;
use crate::pool::PgStore;
use crate::rows::{money, IdempotencyRow, Int8, LedgerRow};
use async_trait::async_trait;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::OptionalExtension;
use diesel_async::{AnsiTransactionManager, AsyncPgConnection, RunQueryDsl, TransactionManager};
use domain::guards::{Guard, Guards};
use domain::ports::{NewCharge, NewPayment, WalletStore};
use domain::{
    ChargeError, ChargeReceipt, ChargeRejection, Cursor, IdempotencyContext, IdempotencyKey,
    IdempotencyRecord, LedgerEntry, Page, PageRequest, PayError, PaymentReceipt, PaymentRejection,
    QueueAccessError, StoreError, StoredOutcome, Timestamp, UserId, Wallet, WalletPolicy,
};
use futures::FutureExt;
use uuid::Uuid;

/// How long a request waits for another one running under the same key before answering
/// `IdempotencyKeyInUse` (milliseconds, as `lock_timeout` takes it).
const IDEMPOTENCY_WAIT_MS: &str = "2000";

/// What the key already holds for this request.
enum Claim {
    /// Nothing: run it.
    Fresh,
    /// The same request finished before: its outcome.
    Replay(StoredOutcome),
    /// Another request used the key.
    Reused,
    /// The same key is running in another transaction right now.
    InUse,
}

async fn stored_record(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    key: &str,
) -> Result<Option<IdempotencyRecord>, Fail<StoreError>> {
    let row: Option<IdempotencyRow> = crate::sql::sql_query(
        "SELECT fingerprint, outcome, rejection, transaction_id, payment_id, reservation_id, \
            amount, balance, occurred_at \
         FROM idempotency_records WHERE user_id = $1 AND key = $2",
    )
    .bind::<BigInt, _>(user_id.get())
    .bind::<Text, _>(key)
    .get_result(conn)
    .await
    .optional()?;
    row.map(IdempotencyRow::into_domain)
        .transpose()
        .map_err(Fail::Store)
}

/// Takes the key for this transaction and tells what is stored under it.
async fn claim<E>(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    idempotency: &IdempotencyContext,
) -> Result<Claim, Fail<E>> {
    // Wait a little for a request running under the same key: usually it finishes at once and
    // this one replays its answer; if it is still running after the wait, the key is in use.
    crate::sql::sql_query("SELECT set_config('lock_timeout', $1, true)")
        .bind::<Text, _>(IDEMPOTENCY_WAIT_MS)
        .execute(conn)
        .await?;
    let locked =
        crate::sql::sql_query("SELECT pg_advisory_xact_lock($1, hashtext($2::text || ':' || $3))")
            .bind::<Integer, _>(locks::IDEMPOTENCY)
            .bind::<BigInt, _>(user_id.get())
            .bind::<Text, _>(idempotency.key.as_str())
            .execute(conn)
            .await;
    match locked {
        Ok(_) => {}
        Err(e) if is_lock_timeout(&e) => return Ok(Claim::InUse),
        Err(e) => return Err(e.into()),
    }
    crate::sql::sql_query("SET LOCAL lock_timeout TO DEFAULT")
        .execute(conn)
        .await?;
    let record = stored_record(conn, user_id, idempotency.key.as_str())
        .await
        .map_err(|e| match e {
            Fail::Db(e) => Fail::Db(e),
            Fail::Store(e) | Fail::Biz(e) => Fail::Store(e),
        })?;
    Ok(match record {
        None => Claim::Fresh,
        Some(r) if r.fingerprint != idempotency.fingerprint => Claim::Reused,
        Some(IdempotencyRecord { outcome: None, .. }) => Claim::InUse,
        Some(IdempotencyRecord {
            outcome: Some(outcome),
            ..
        }) => Claim::Replay(outcome),
    })
}

/// An outcome to store under a key.
struct Outcome<'a> {
    kind: &'a str,
    rejection: Option<&'a str>,
    transaction_id: Option<Uuid>,
    payment_id: Option<Uuid>,
    reservation_id: Option<Uuid>,
    amount: Option<i64>,
    balance: Option<i64>,
    occurred_at: Option<Timestamp>,
}

impl<'a> Outcome<'a> {
    const fn rejected(kind: &'a str, rejection: &'a str) -> Self {
        Self {
            kind,
            rejection: Some(rejection),
            transaction_id: None,
            payment_id: None,
            reservation_id: None,
            amount: None,
            balance: None,
            occurred_at: None,
        }
    }
}

async fn record(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    idempotency: &IdempotencyContext,
    outcome: Outcome<'_>,
) -> diesel::QueryResult<usize> {
    crate::sql::sql_query(
        "INSERT INTO idempotency_records (user_id, key, fingerprint, outcome, rejection, \
            transaction_id, payment_id, reservation_id, amount, balance, occurred_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind::<BigInt, _>(user_id.get())
    .bind::<Text, _>(idempotency.key.as_str())
    .bind::<Text, _>(idempotency.fingerprint.as_str())
    .bind::<Text, _>(outcome.kind)
    .bind::<Nullable<Text>, _>(outcome.rejection)
    .bind::<Nullable<SqlUuid>, _>(outcome.transaction_id)
    .bind::<Nullable<SqlUuid>, _>(outcome.payment_id)
    .bind::<Nullable<SqlUuid>, _>(outcome.reservation_id)
    .bind::<Nullable<BigInt>, _>(outcome.amount)
    .bind::<Nullable<BigInt>, _>(outcome.balance)
    .bind::<Nullable<Timestamptz>, _>(outcome.occurred_at)
    .execute(conn)
    .await
}

async fn ensure_wallet(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
) -> diesel::QueryResult<usize> {
    crate::sql::sql_query("INSERT INTO wallets (user_id) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind::<BigInt, _>(user_id.get())
        .execute(conn)
        .await
}

#[derive(diesel::QueryableByName)]
struct Posted {
    #[diesel(sql_type = BigInt)]
    balance: i64,
    #[diesel(sql_type = Timestamptz)]
    at: Timestamp,
}

/// Adds the money and writes the CHARGE entry, or says why not.
async fn charge_attempt(
    conn: &mut AsyncPgConnection,
    charge: &NewCharge,
    policy: WalletPolicy,
) -> Result<Result<ChargeReceipt, ChargeRejection>, Fail<ChargeError>> {
    ensure_wallet(conn, charge.user_id).await?;
    let amount = charge.amount.money().won();
    let posted: Option<Posted> = crate::sql::sql_query(
        "UPDATE wallets SET balance = balance + $2, updated_at = now() \
         WHERE user_id = $1 AND balance <= $3 - $2 \
         RETURNING balance, now() AS at",
    )
    .bind::<BigInt, _>(charge.user_id.get())
    .bind::<BigInt, _>(amount)
    .bind::<BigInt, _>(policy.balance_max().won())
    .get_result(conn)
    .await
    .optional()?;
    let Some(posted) = posted else {
        return Ok(Err(ChargeRejection::BalanceLimitExceeded));
    };
    crate::sql::sql_query(
        "INSERT INTO ledger_entries (id, user_id, kind, amount, balance_after, reference) \
         VALUES ($1, $2, 'CHARGE', $3, $4, $5)",
    )
    .bind::<SqlUuid, _>(charge.transaction_id.get())
    .bind::<BigInt, _>(charge.user_id.get())
    .bind::<BigInt, _>(amount)
    .bind::<BigInt, _>(posted.balance)
    .bind::<Text, _>(charge.idempotency.key.as_str())
    .execute(conn)
    .await?;
    Ok(Ok(ChargeReceipt {
        transaction_id: charge.transaction_id,
        amount: charge.amount.money(),
        balance: money(posted.balance).map_err(Fail::Store)?,
        created_at: posted.at,
    }))
}

async fn charge_tx(
    conn: &mut AsyncPgConnection,
    charge: &NewCharge,
    policy: WalletPolicy,
) -> Result<Result<ChargeReceipt, ChargeRejection>, Fail<ChargeError>> {
    match claim(conn, charge.user_id, &charge.idempotency).await? {
        Claim::Fresh => {}
        Claim::InUse => return Err(Fail::Biz(ChargeError::IdempotencyKeyInUse)),
        Claim::Reused => return Err(Fail::Biz(ChargeError::IdempotencyKeyReused)),
        Claim::Replay(StoredOutcome::Charged(receipt)) => return Ok(Ok(receipt)),
        Claim::Replay(StoredOutcome::ChargeRejected(rejection)) => return Ok(Err(rejection)),
        Claim::Replay(_) => return Err(Fail::Biz(ChargeError::IdempotencyKeyReused)),
    }
    AnsiTransactionManager::begin_transaction(conn).await?;
    let attempt = charge_attempt(conn, charge, policy).await;
    let outcome = end_savepoint(conn, attempt).await?;
    let stored = match &outcome {
        Ok(receipt) => Outcome {
            kind: "CHARGED",
            rejection: None,
            transaction_id: Some(receipt.transaction_id.get()),
            payment_id: None,
            reservation_id: None,
            amount: Some(receipt.amount.won()),
            balance: Some(receipt.balance.won()),
            occurred_at: Some(receipt.created_at),
        },
        Err(ChargeRejection::BalanceLimitExceeded) => {
            Outcome::rejected("CHARGE_REJECTED", "BALANCE_LIMIT_EXCEEDED")
        }
    };
    record(conn, charge.user_id, &charge.idempotency, stored).await?;
    Ok(outcome)
}

/// Ends the savepoint opened before an attempt: released on success, rolled back on a rejection
/// (returned as `Ok(Err(..))`) or on an error.
async fn end_savepoint<T, R, E>(
    conn: &mut AsyncPgConnection,
    attempt: Result<Result<T, R>, Fail<E>>,
) -> Result<Result<T, R>, Fail<E>> {
    match attempt {
        Ok(Ok(value)) => {
            AnsiTransactionManager::commit_transaction(conn).await?;
            Ok(Ok(value))
        }
        Ok(Err(rejection)) => {
            AnsiTransactionManager::rollback_transaction(conn).await?;
            Ok(Err(rejection))
        }
        Err(e) => {
            // The outer rollback undoes everything anyway; a failure here only means the
            // connection is gone, and the pool drops connections left mid-transaction.
            let _ = AnsiTransactionManager::rollback_transaction(conn).await;
            Err(e)
        }
    }
}

/// Confirms, debits and records the payment, or says why not.
async fn pay_attempt(
    conn: &mut AsyncPgConnection,
    payment: &NewPayment,
    price: i64,
    guards: Guards,
) -> Result<Result<PaymentReceipt, PaymentRejection>, Fail<PayError>> {
    let confirm = if guards.on(Guard::Payable) {
        "UPDATE reservations SET status = 'CONFIRMED' \
         WHERE id = $1 AND user_id = $2 AND status = 'HELD' AND held_until > now()"
    } else {
        "UPDATE reservations SET status = 'CONFIRMED' WHERE id = $1 AND user_id = $2"
    };
    let confirmed = crate::sql::sql_query(confirm)
        .bind::<SqlUuid, _>(payment.reservation_id.get())
        .bind::<BigInt, _>(payment.user_id.get())
        .execute(conn)
        .await?;
    if confirmed != 1 {
        return Ok(Err(PaymentRejection::NotPayable));
    }
    ensure_wallet(conn, payment.user_id).await?;
    let debit = if guards.on(Guard::Balance) {
        "UPDATE wallets SET balance = balance - $2, updated_at = now() \
         WHERE user_id = $1 AND balance >= $2 \
         RETURNING balance, now() AS at"
    } else {
        "UPDATE wallets SET balance = balance - $2, updated_at = now() \
         WHERE user_id = $1 RETURNING balance, now() AS at"
    };
    let posted: Option<Posted> = crate::sql::sql_query(debit)
        .bind::<BigInt, _>(payment.user_id.get())
        .bind::<BigInt, _>(price)
        .get_result(conn)
        .await
        .optional()?;
    let Some(posted) = posted else {
        return Ok(Err(PaymentRejection::InsufficientBalance));
    };
    crate::sql::sql_query(
        "INSERT INTO payments (id, reservation_id, user_id, amount) VALUES ($1, $2, $3, $4)",
    )
    .bind::<SqlUuid, _>(payment.payment_id.get())
    .bind::<SqlUuid, _>(payment.reservation_id.get())
    .bind::<BigInt, _>(payment.user_id.get())
    .bind::<BigInt, _>(price)
    .execute(conn)
    .await?;
    crate::sql::sql_query(
        "INSERT INTO ledger_entries (id, user_id, kind, amount, balance_after, reference, \
            payment_id) \
         VALUES ($1, $2, 'PAYMENT', $3, $4, $5, $6)",
    )
    .bind::<SqlUuid, _>(payment.transaction_id.get())
    .bind::<BigInt, _>(payment.user_id.get())
    .bind::<BigInt, _>(-price)
    .bind::<BigInt, _>(posted.balance)
    .bind::<Text, _>(payment.payment_id.get().to_string())
    .bind::<SqlUuid, _>(payment.payment_id.get())
    .execute(conn)
    .await?;
    // Paying uses up the active slot.
    crate::sql::sql_query(
        "UPDATE queue_tokens SET status = 'EXPIRED' WHERE id = $1 AND status = 'ACTIVE'",
    )
    .bind::<SqlUuid, _>(payment.queue_token.get())
    .execute(conn)
    .await?;
    Ok(Ok(PaymentReceipt {
        payment_id: payment.payment_id,
        reservation_id: payment.reservation_id,
        amount: money(price).map_err(Fail::Store)?,
        balance_after: if guards.on(Guard::Balance) {
            money(posted.balance).map_err(Fail::Store)?
        } else {
            money(posted.balance.max(0)).map_err(Fail::Store)?
        },
        paid_at: posted.at,
    }))
}

async fn pay_tx(
    conn: &mut AsyncPgConnection,
    payment: &NewPayment,
    guards: Guards,
) -> Result<Result<PaymentReceipt, PaymentRejection>, Fail<PayError>> {
    match claim(conn, payment.user_id, &payment.idempotency).await? {
        Claim::Fresh => {}
        Claim::InUse => return Err(Fail::Biz(PayError::IdempotencyKeyInUse)),
        Claim::Reused => return Err(Fail::Biz(PayError::IdempotencyKeyReused)),
        Claim::Replay(StoredOutcome::Paid(receipt)) => return Ok(Ok(receipt)),
        Claim::Replay(StoredOutcome::PaymentRejected(rejection)) => return Ok(Err(rejection)),
        Claim::Replay(_) => return Err(Fail::Biz(PayError::IdempotencyKeyReused)),
    }
    #[derive(diesel::QueryableByName)]
    struct Target {
        #[diesel(sql_type = BigInt)]
        user_id: i64,
        #[diesel(sql_type = BigInt)]
        total_price: i64,
        #[diesel(sql_type = BigInt)]
        concert_id: i64,
    }
    let target: Option<Target> = crate::sql::sql_query(
        "SELECT r.user_id, r.total_price, s.concert_id \
         FROM reservations r JOIN schedules s ON s.id = r.schedule_id \
         WHERE r.id = $1 FOR NO KEY UPDATE OF r",
    )
    .bind::<SqlUuid, _>(payment.reservation_id.get())
    .get_result(conn)
    .await
    .optional()?;
    let Some(target) = target.filter(|t| t.user_id == payment.user_id.get()) else {
        return Err(Fail::Biz(PayError::ReservationNotFound));
    };
    if guards.on(Guard::TokenActive) {
        check_token(conn, payment, target.concert_id).await?;
    }
    let price = target.total_price;
    AnsiTransactionManager::begin_transaction(conn).await?;
    let attempt = pay_attempt(conn, payment, price, guards).await;
    let outcome = end_savepoint(conn, attempt).await?;
    let stored = match &outcome {
        Ok(receipt) => Outcome {
            kind: "PAID",
            rejection: None,
            transaction_id: None,
            payment_id: Some(receipt.payment_id.get()),
            reservation_id: Some(receipt.reservation_id.get()),
            amount: Some(receipt.amount.won()),
            balance: Some(receipt.balance_after.won()),
            occurred_at: Some(receipt.paid_at),
        },
        Err(PaymentRejection::NotPayable) => Outcome::rejected("PAYMENT_REJECTED", "NOT_PAYABLE"),
        Err(PaymentRejection::InsufficientBalance) => {
            Outcome::rejected("PAYMENT_REJECTED", "INSUFFICIENT_BALANCE")
        }
    };
    record(conn, payment.user_id, &payment.idempotency, stored).await?;
    Ok(outcome)
}

/// Locks the payer's token, which must be ACTIVE for the reservation's concert.
async fn check_token(
    conn: &mut AsyncPgConnection,
    payment: &NewPayment,
    concert_id: i64,
) -> Result<(), Fail<PayError>> {
    let token: Option<Int8> = crate::sql::sql_query(
        "SELECT seq AS value FROM queue_tokens \
         WHERE id = $1 AND user_id = $2 AND concert_id = $3 \
           AND status = 'ACTIVE' AND active_until > now() \
         FOR NO KEY UPDATE",
    )
    .bind::<SqlUuid, _>(payment.queue_token.get())
    .bind::<BigInt, _>(payment.user_id.get())
    .bind::<BigInt, _>(concert_id)
    .get_result(conn)
    .await
    .optional()?;
    if token.is_none() {
        return Err(Fail::Biz(PayError::Access(QueueAccessError::NotActive)));
    }
    Ok(())
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
        let outcome = self
            .tx(|conn| {
                let charge = charge.clone();
                Box::pin(async move { charge_tx(conn, &charge, policy).await })
            })
            .await
            .map_err(Fail::into_error)?;
        outcome.map_err(|ChargeRejection::BalanceLimitExceeded| ChargeError::BalanceLimitExceeded)
    }

    async fn pay(&self, payment: NewPayment) -> Result<PaymentReceipt, PayError> {
        let guards = self.guards;
        let outcome = self
            .tx(|conn| {
                let payment = payment.clone();
                Box::pin(async move { pay_tx(conn, &payment, guards).await })
            })
            .await
            .map_err(Fail::into_error)?;
        outcome.map_err(|rejection| match rejection {
            PaymentRejection::NotPayable => PayError::NotPayable,
            PaymentRejection::InsufficientBalance => PayError::InsufficientBalance,
        })
    }

    async fn ledger(
        &self,
        user_id: UserId,
        page: PageRequest,
    ) -> Result<Page<LedgerEntry>, StoreError> {
        let (after_at, after_id) = page
            .after()
            .map_or((None, None), |c| (Some(c.created_at), Some(c.id)));
        let rows: Vec<LedgerRow> = self
            .read(|conn| {
                crate::sql::sql_query(
                    "SELECT id, user_id, kind, amount, balance_after, reference, created_at \
                     FROM ledger_entries WHERE user_id = $1 \
                       AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3)) \
                     ORDER BY created_at DESC, id DESC LIMIT $4",
                )
                .bind::<BigInt, _>(user_id.get())
                .bind::<Nullable<Timestamptz>, _>(after_at)
                .bind::<Nullable<SqlUuid>, _>(after_id)
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
        self.tx(|conn| {
            let key = key.clone();
            Box::pin(async move { stored_record(conn, user_id, key.as_str()).await })
        })
        .await
        .map_err(Fail::into_error)
    }
}

//! Refunds: one transaction, in the store's one lock order (the idempotency key, then the
//! reservation, then the wallet):
//!
//! 1. the key (`claim_idempotency_key`, waiting at most [`IDEMPOTENCY_WAIT_MS`]) and its stored
//!    record: a replay or a reuse is answered from it ([`domain::IdempotencyDecision`]);
//! 2. the reservation, `FOR NO KEY UPDATE`, judged after its lock by the guard functions
//!    `refund_allowed` and `refund_window_open` (the database's clock), then by the domain's one
//!    rule ([`domain::RefundFacts::verdict`]);
//! 3. the credit: the wallet gets back exactly what the reservation's payment moved, with no
//!    maximum (the schema caps no balance; `charge_once` refuses charges while it is over);
//! 4. [`release_refunded_seats`]: the reservation becomes REFUNDED and its seats are free;
//! 5. the refund, its REFUND ledger entry and the outcome under the key.
//!
//! A rejection (`NotRefundable`, `WindowClosed`) writes only its record; `NotFound` and
//! `IdempotencyKeyInUse` write nothing.

use super::charge::IDEMPOTENCY_WAIT_MS;
use super::records::records_of;
use crate::db::TxFuture;
use crate::errors::Fail;
use crate::outcome::CallStatus;
use crate::requests::RecordRead;
use crate::rows::{money, IdempotencyRow};
use diesel::sql_types::{
    Array, BigInt, Bool, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel::{OptionalExtension, QueryableByName};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::ports::NewRefund;
use domain::{
    IdempotencyDecision, RefundError, RefundFacts, RefundPolicy, RefundReceipt, RefundVerdict,
    ReservationId, ScheduleId, SeatId, StoreError, StoredOutcome, Timestamp,
};
use uuid::Uuid;

/// What a refund answers.
pub(crate) type RefundAnswer = Result<RefundReceipt, RefundError>;

/// Step 1: waits for the key (`$1` user, `$2` key, `$3` fingerprint, `$4` wait in ms).
const WAIT_FOR_KEY: &str = "SELECT status FROM claim_idempotency_key($1, $2, $3, $4)";

/// Step 2.
const TARGET: &str = include_str!("sql/refund_target.sql");

/// Step 3, after the lock: what the reservation's payment moved (a fresh snapshot, so a
/// payment that committed while this refund waited for the lock is seen).
const PAYMENT: &str = "SELECT id, amount FROM payments WHERE reservation_id = $1";

/// Step 3: the credit, never capped; the time is read after the locks, so a refund is never
/// dated before the payment it gives back.
const CREDIT: &str = "\
    UPDATE wallets SET balance = balance + $2, updated_at = now() WHERE user_id = $1 \
    RETURNING balance, clock_timestamp() AS at";

/// Step 4: the reservation becomes REFUNDED; its trigger (`reservations_release_seats`)
/// releases every seat line in this statement. Returns the schedule and the seats.
const RELEASE: &str = "\
    UPDATE reservations r SET status = 'REFUNDED' WHERE r.id = $1 \
    RETURNING r.schedule_id, ARRAY(SELECT rs.seat_id FROM reservation_seats rs \
        WHERE rs.reservation_id = r.id ORDER BY rs.seat_id) AS seats";

/// Step 5.
const WRITES: &str = include_str!("sql/refund_writes.sql");

/// Step 5: the outcome under the key.
const RECORD: &str = include_str!("sql/record_outcome.sql");

#[derive(QueryableByName)]
struct Status {
    #[diesel(sql_type = Text)]
    status: String,
}

#[derive(QueryableByName)]
struct Target {
    #[diesel(sql_type = BigInt)]
    user_id: i64,
    #[diesel(sql_type = Bool)]
    confirmed: bool,
    #[diesel(sql_type = Bool)]
    window_open: bool,
}

#[derive(QueryableByName)]
struct Payment {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = BigInt)]
    amount: i64,
}

#[derive(QueryableByName)]
struct Credited {
    #[diesel(sql_type = BigInt)]
    balance: i64,
    #[diesel(sql_type = Timestamptz)]
    at: Timestamp,
}

#[derive(QueryableByName)]
struct Released {
    #[diesel(sql_type = BigInt)]
    schedule_id: i64,
    #[diesel(sql_type = Array<BigInt>)]
    seats: Vec<i64>,
}

/// The seats a refund has just made available, and their schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FreedSeats {
    /// The schedule (date) the seats belong to.
    pub(crate) schedule_id: ScheduleId,
    /// The seats, ascending.
    pub(crate) seats: Vec<SeatId>,
}

/// THE place where a refund frees its seats, inside the refund's transaction: the reservation
/// becomes REFUNDED, and the trigger `reservations_release_seats` clears `live` on every one of
/// its seat lines in the same statement, so the seats are available to the next hold the
/// moment the refund commits. Returns the freed seats, for whoever must hand them on (the
/// waiting lists, at merge) in this same transaction.
pub(crate) async fn release_refunded_seats(
    conn: &mut AsyncPgConnection,
    reservation: ReservationId,
) -> Result<FreedSeats, Fail<StoreError>> {
    let released: Released = crate::sql::sql_query(RELEASE)
        .bind::<SqlUuid, _>(reservation.get())
        .get_result(conn)
        .await?;
    let schedule_id = crate::rows::schedule_id(released.schedule_id).map_err(Fail::Store)?;
    let seats = released
        .seats
        .into_iter()
        .map(crate::rows::seat_id)
        .collect::<Result<Vec<_>, _>>()
        .map_err(Fail::Store)?;
    Ok(FreedSeats { schedule_id, seats })
}

/// Stores `outcome` under the refund's key.
async fn record(
    conn: &mut AsyncPgConnection,
    refund: &NewRefund,
    outcome: &StoredOutcome,
) -> diesel::QueryResult<()> {
    let row = IdempotencyRow::of(&refund.idempotency.fingerprint, outcome);
    crate::sql::sql_query(RECORD)
        .bind::<BigInt, _>(refund.user_id.get())
        .bind::<Text, _>(refund.idempotency.key.as_str().to_owned())
        .bind::<Text, _>(row.fingerprint)
        .bind::<Text, _>(row.outcome)
        .bind::<Nullable<Text>, _>(row.rejection)
        .bind::<Nullable<SqlUuid>, _>(row.transaction_id)
        .bind::<Nullable<SqlUuid>, _>(row.payment_id)
        .bind::<Nullable<SqlUuid>, _>(row.reservation_id)
        .bind::<Nullable<BigInt>, _>(row.amount)
        .bind::<Nullable<BigInt>, _>(row.balance)
        .bind::<Nullable<Timestamptz>, _>(row.occurred_at)
        .bind::<Nullable<SqlUuid>, _>(row.refund_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Steps 1-5, one transaction.
pub(crate) fn refund_transaction(
    conn: &mut AsyncPgConnection,
    refund: NewRefund,
    policy: RefundPolicy,
) -> TxFuture<'_, RefundAnswer, StoreError> {
    Box::pin(async move {
        let status: Status = crate::sql::sql_query(WAIT_FOR_KEY)
            .bind::<BigInt, _>(refund.user_id.get())
            .bind::<Text, _>(refund.idempotency.key.as_str().to_owned())
            .bind::<Text, _>(refund.idempotency.fingerprint.as_str().to_owned())
            .bind::<Integer, _>(IDEMPOTENCY_WAIT_MS)
            .get_result(conn)
            .await?;
        if CallStatus::parse(&status.status).map_err(Fail::Store)? == CallStatus::InUse {
            return Ok(Err(RefundError::IdempotencyKeyInUse));
        }
        let read = RecordRead {
            user: refund.user_id.get(),
            key: refund.idempotency.key.as_str().to_owned(),
        };
        if let Some(row) = records_of(conn, std::slice::from_ref(&read))
            .await?
            .remove(&read)
        {
            let stored = row.into_domain().map_err(Fail::Store)?;
            if let Some(answer) =
                IdempotencyDecision::decide(Some(stored), &refund.idempotency.fingerprint)
                    .refund_answer()
            {
                return Ok(answer);
            }
        }
        let target: Option<Target> = crate::sql::sql_query(TARGET)
            .bind::<SqlUuid, _>(refund.reservation_id.get())
            .bind::<Integer, _>(i32::try_from(policy.cutoff_hours()).unwrap_or(i32::MAX))
            .get_result(conn)
            .await
            .optional()?;
        let target = target.filter(|t| t.user_id == refund.user_id.get());
        let facts = RefundFacts {
            found: target.is_some(),
            confirmed: target.as_ref().is_some_and(|t| t.confirmed),
            window_open: target.as_ref().is_some_and(|t| t.window_open),
        };
        match facts.verdict() {
            RefundVerdict::Refuse(error) => Ok(Err(error)),
            RefundVerdict::Reject(rejection) => {
                record(conn, &refund, &StoredOutcome::RefundRejected(rejection)).await?;
                Ok(Err(rejection.into()))
            }
            RefundVerdict::Credit => credit(conn, &refund).await.map(Ok),
        }
    })
}

/// Steps 3-5 for a refund the verdict allows.
async fn credit(
    conn: &mut AsyncPgConnection,
    refund: &NewRefund,
) -> Result<RefundReceipt, Fail<StoreError>> {
    let payment: Option<Payment> = crate::sql::sql_query(PAYMENT)
        .bind::<SqlUuid, _>(refund.reservation_id.get())
        .get_result(conn)
        .await
        .optional()?;
    let payment = payment.ok_or_else(|| {
        // CONFIRMED implies paid (trigger and payments_reservation_key): unreachable.
        Fail::Store(StoreError::Internal(
            "a confirmed reservation has no payment".into(),
        ))
    })?;
    let credited: Option<Credited> = crate::sql::sql_query(CREDIT)
        .bind::<BigInt, _>(refund.user_id.get())
        .bind::<BigInt, _>(payment.amount)
        .get_result(conn)
        .await
        .optional()?;
    let credited = credited
        .ok_or_else(|| Fail::Store(StoreError::Internal("a payer has no wallet".into())))?;
    release_refunded_seats(conn, refund.reservation_id).await?;
    crate::sql::sql_query(WRITES)
        .bind::<SqlUuid, _>(refund.refund_id.get())
        .bind::<SqlUuid, _>(refund.reservation_id.get())
        .bind::<SqlUuid, _>(payment.id)
        .bind::<BigInt, _>(refund.user_id.get())
        .bind::<BigInt, _>(payment.amount)
        .bind::<Timestamptz, _>(credited.at)
        .bind::<SqlUuid, _>(refund.transaction_id.get())
        .bind::<BigInt, _>(credited.balance)
        .execute(conn)
        .await?;
    let receipt = RefundReceipt {
        refund_id: refund.refund_id,
        reservation_id: refund.reservation_id,
        amount: money(payment.amount).map_err(Fail::Store)?,
        balance_after: money(credited.balance).map_err(Fail::Store)?,
        refunded_at: credited.at,
    };
    record(conn, refund, &StoredOutcome::Refunded(receipt.clone())).await?;
    Ok(receipt)
}

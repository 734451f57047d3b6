//! Rows as queries return them, and their conversion to domain values. A value the domain
//! refuses (a negative price, an unknown status) is a corrupted row: `StoreError::Internal`.

use crate::errors::bad_row;
use crate::outcome::{
    parse_charge_rejection, parse_payment_rejection, parse_refund_rejection, rejection_sql,
    OutcomeKind,
};
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::QueryableByName;
use domain::{
    ChargeReceipt, Concert, ConcertId, ConcertTitle, IdempotencyRecord, LedgerEntry, LedgerKind,
    Money, PaymentId, PaymentReceipt, QueuePolicy, QueueSettings, QueueStanding, QueueStats,
    QueueToken, QueueTokenId, QueueTokenStatus, RefundId, RefundReceipt, RequestFingerprint,
    Reservation, ReservationId, ReservationStatus, ReservedSeat, SaleWindow, ScheduleId,
    ScheduleSummary, SeatAvailability, SeatGrade, SeatId, SeatNumber, StoreError, StoredOutcome,
    Timestamp, TransactionId, UserId, Venue,
};
use uuid::Uuid;

pub(crate) fn user_id(raw: i64) -> Result<UserId, StoreError> {
    UserId::new(raw).map_err(|e| bad_row("user id", e))
}
pub(crate) fn concert_id(raw: i64) -> Result<ConcertId, StoreError> {
    ConcertId::new(raw).map_err(|e| bad_row("concert id", e))
}
pub(crate) fn schedule_id(raw: i64) -> Result<ScheduleId, StoreError> {
    ScheduleId::new(raw).map_err(|e| bad_row("schedule id", e))
}
pub(crate) fn seat_id(raw: i64) -> Result<SeatId, StoreError> {
    SeatId::new(raw).map_err(|e| bad_row("seat id", e))
}
pub(crate) fn money(raw: i64) -> Result<Money, StoreError> {
    Money::new(raw).map_err(|e| bad_row("amount", e))
}
fn count(raw: i64) -> u64 {
    u64::try_from(raw).unwrap_or(0)
}
fn count32(raw: i64) -> u32 {
    u32::try_from(raw).unwrap_or(if raw < 0 { 0 } else { u32::MAX })
}
fn setting(raw: Option<i32>, default: u32) -> u32 {
    raw.and_then(|v| u32::try_from(v).ok()).unwrap_or(default)
}

/// A concert.
#[derive(Debug, QueryableByName)]
pub(crate) struct ConcertRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub title: String,
    #[diesel(sql_type = Text)]
    pub venue: String,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub sale_opens_at: Option<Timestamp>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub sale_closes_at: Option<Timestamp>,
}

/// The columns of a [`ConcertRow`], from `concerts c JOIN concert_queues q`.
pub(crate) const CONCERT_COLUMNS: &str =
    "c.id, c.title, c.venue, q.sale_opens_at, q.sale_closes_at";

impl ConcertRow {
    pub(crate) fn into_domain(self) -> Result<Concert, StoreError> {
        Ok(Concert {
            id: concert_id(self.id)?,
            title: ConcertTitle::new(self.title).map_err(|e| bad_row("title", e))?,
            venue: Venue::new(self.venue).map_err(|e| bad_row("venue", e))?,
            sale: SaleWindow::new(self.sale_opens_at, self.sale_closes_at)
                .map_err(|e| bad_row("sale window", e))?,
        })
    }
}

/// One seat with its availability now.
#[derive(Debug, Clone, QueryableByName)]
pub(crate) struct SeatRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub number: String,
    #[diesel(sql_type = Text)]
    pub grade: String,
    #[diesel(sql_type = BigInt)]
    pub price: i64,
    #[diesel(sql_type = Bool)]
    pub available: bool,
}

impl SeatRow {
    pub(crate) fn into_domain(self) -> Result<SeatAvailability, StoreError> {
        Ok(SeatAvailability {
            id: seat_id(self.id)?,
            number: SeatNumber::new(self.number).map_err(|e| bad_row("seat number", e))?,
            grade: SeatGrade::new(self.grade).map_err(|e| bad_row("seat grade", e))?,
            price: money(self.price)?,
            available: self.available,
        })
    }
}

/// A schedule's header.
#[derive(Debug, Clone, QueryableByName)]
pub(crate) struct ScheduleRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = BigInt)]
    pub concert_id: i64,
    #[diesel(sql_type = Timestamptz)]
    pub starts_at: Timestamp,
}

/// A schedule with its seat counts.
#[derive(Debug, QueryableByName)]
pub(crate) struct ScheduleSummaryRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = BigInt)]
    pub concert_id: i64,
    #[diesel(sql_type = Timestamptz)]
    pub starts_at: Timestamp,
    #[diesel(sql_type = BigInt)]
    pub total_seats: i64,
    #[diesel(sql_type = BigInt)]
    pub taken_seats: i64,
}

impl ScheduleSummaryRow {
    pub(crate) fn into_domain(self) -> Result<ScheduleSummary, StoreError> {
        Ok(ScheduleSummary {
            id: schedule_id(self.id)?,
            concert_id: concert_id(self.concert_id)?,
            starts_at: self.starts_at,
            total_seats: count32(self.total_seats),
            available_seats: count32(self.total_seats - self.taken_seats),
        })
    }
}

/// A queue token with its effective status, place in line and the concert's admission rate.
#[derive(Debug, Clone, QueryableByName)]
pub(crate) struct TokenRow {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = BigInt)]
    pub user_id: i64,
    #[diesel(sql_type = BigInt)]
    pub concert_id: i64,
    #[diesel(sql_type = BigInt)]
    pub seq: i64,
    /// Effective status (time-based expiry applied by the database's clock).
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Timestamptz)]
    pub issued_at: Timestamp,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub active_until: Option<Timestamp>,
    /// Only for an effectively WAITING token.
    #[diesel(sql_type = Nullable<BigInt>)]
    pub position: Option<i64>,
    #[diesel(sql_type = BigInt)]
    pub admitted_last_minute: i64,
    /// The concert's sale opening.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub sale_opens_at: Option<Timestamp>,
}

impl TokenRow {
    pub(crate) fn token(&self) -> Result<QueueToken, StoreError> {
        let status = QueueTokenStatus::parse(&self.status)
            .ok_or_else(|| bad_row("token status", &self.status))?;
        Ok(QueueToken {
            id: QueueTokenId::from_uuid(self.id),
            user_id: user_id(self.user_id)?,
            concert_id: concert_id(self.concert_id)?,
            seq: self.seq,
            status,
            issued_at: self.issued_at,
            active_until: self.active_until,
        })
    }

    pub(crate) fn standing(&self) -> Result<QueueStanding, StoreError> {
        let token = self.token()?;
        let position = if token.status == QueueTokenStatus::Waiting {
            self.position.map(|p| count(p.max(1)))
        } else {
            None
        };
        Ok(QueueStanding {
            token,
            position,
            admitted_last_minute: count(self.admitted_last_minute),
            sale_opens_at: self.sale_opens_at,
        })
    }
}

/// One concert's queue counts and settings.
#[derive(Debug, QueryableByName)]
pub(crate) struct StatsRow {
    #[diesel(sql_type = BigInt)]
    pub concert_id: i64,
    #[diesel(sql_type = Nullable<Integer>)]
    pub admit_batch: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub max_active: Option<i32>,
    #[diesel(sql_type = Bool)]
    pub paused: bool,
    #[diesel(sql_type = BigInt)]
    pub waiting: i64,
    #[diesel(sql_type = BigInt)]
    pub active: i64,
    #[diesel(sql_type = BigInt)]
    pub admitted_last_minute: i64,
    #[diesel(sql_type = BigInt)]
    pub pre_queue: i64,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub drawn_at: Option<Timestamp>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub sale_opens_at: Option<Timestamp>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub sale_closes_at: Option<Timestamp>,
}

impl StatsRow {
    pub(crate) fn settings(&self, policy: QueuePolicy) -> QueueSettings {
        QueueSettings {
            admit_batch: setting(self.admit_batch, policy.admit_batch()),
            max_active: setting(self.max_active, policy.max_active()),
            paused: self.paused,
        }
    }

    pub(crate) fn into_domain(self, policy: QueuePolicy) -> QueueStats {
        QueueStats {
            waiting: count(self.waiting),
            active: count(self.active),
            settings: self.settings(policy),
            admitted_last_minute: count(self.admitted_last_minute),
            pre_queue: count(self.pre_queue),
            drawn_at: self.drawn_at,
            // The CHECK on concert_queues keeps the order; an impossible row reads as no window.
            sale: SaleWindow::new(self.sale_opens_at, self.sale_closes_at).unwrap_or_default(),
        }
    }
}

/// A reservation's header with its effective status.
#[derive(Debug, QueryableByName)]
pub(crate) struct ReservationRow {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = BigInt)]
    pub user_id: i64,
    #[diesel(sql_type = BigInt)]
    pub schedule_id: i64,
    #[diesel(sql_type = BigInt)]
    pub concert_id: i64,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = BigInt)]
    pub total_price: i64,
    #[diesel(sql_type = Timestamptz)]
    pub held_until: Timestamp,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: Timestamp,
}

impl ReservationRow {
    pub(crate) fn status(&self) -> Result<ReservationStatus, StoreError> {
        ReservationStatus::parse(&self.status)
            .ok_or_else(|| bad_row("reservation status", &self.status))
    }

    pub(crate) fn into_domain(self, lines: Vec<ReservedSeat>) -> Result<Reservation, StoreError> {
        Ok(Reservation {
            id: ReservationId::from_uuid(self.id),
            user_id: user_id(self.user_id)?,
            schedule_id: schedule_id(self.schedule_id)?,
            concert_id: concert_id(self.concert_id)?,
            status: self.status()?,
            seats: lines,
            total_price: money(self.total_price)?,
            held_until: self.held_until,
            created_at: self.created_at,
        })
    }
}

/// One seat of a reservation.
#[derive(Debug, QueryableByName)]
pub(crate) struct LineRow {
    #[diesel(sql_type = SqlUuid)]
    pub reservation_id: Uuid,
    #[diesel(sql_type = BigInt)]
    pub seat_id: i64,
    #[diesel(sql_type = Text)]
    pub number: String,
    #[diesel(sql_type = BigInt)]
    pub price: i64,
}

impl LineRow {
    pub(crate) fn into_domain(self) -> Result<ReservedSeat, StoreError> {
        Ok(ReservedSeat {
            seat_id: seat_id(self.seat_id)?,
            number: SeatNumber::new(self.number).map_err(|e| bad_row("seat number", e))?,
            price: money(self.price)?,
        })
    }
}

/// One ledger entry.
#[derive(Debug, QueryableByName)]
pub(crate) struct LedgerRow {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = BigInt)]
    pub user_id: i64,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = BigInt)]
    pub amount: i64,
    #[diesel(sql_type = BigInt)]
    pub balance_after: i64,
    #[diesel(sql_type = Nullable<Text>)]
    pub reference: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: Timestamp,
}

impl LedgerRow {
    pub(crate) fn into_domain(self) -> Result<LedgerEntry, StoreError> {
        Ok(LedgerEntry {
            id: TransactionId::from_uuid(self.id),
            user_id: user_id(self.user_id)?,
            kind: LedgerKind::parse(&self.kind)
                .ok_or_else(|| bad_row("ledger kind", &self.kind))?,
            amount: self.amount,
            balance_after: money(self.balance_after)?,
            reference: self.reference,
            created_at: self.created_at,
        })
    }
}

/// What is stored under an idempotency key.
#[derive(Debug, Clone, QueryableByName)]
pub(crate) struct IdempotencyRow {
    #[diesel(sql_type = Text)]
    pub fingerprint: String,
    #[diesel(sql_type = Text)]
    pub outcome: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub rejection: Option<String>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub transaction_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub payment_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub reservation_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub amount: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub balance: Option<i64>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub occurred_at: Option<Timestamp>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub refund_id: Option<Uuid>,
}

fn present<T>(value: Option<T>, what: &str) -> Result<T, StoreError> {
    value.ok_or_else(|| bad_row("idempotency record", format!("{what} missing")))
}

impl IdempotencyRow {
    /// The row that stores `outcome` for a request of `fingerprint`.
    pub(crate) fn of(fingerprint: &RequestFingerprint, outcome: &StoredOutcome) -> Self {
        let mut row = Self {
            fingerprint: fingerprint.as_str().to_owned(),
            outcome: OutcomeKind::of(outcome).sql().to_owned(),
            rejection: rejection_sql(outcome).map(str::to_owned),
            transaction_id: None,
            payment_id: None,
            reservation_id: None,
            amount: None,
            balance: None,
            occurred_at: None,
            refund_id: None,
        };
        match outcome {
            StoredOutcome::Charged(receipt) => {
                row.transaction_id = Some(receipt.transaction_id.get());
                row.amount = Some(receipt.amount.won());
                row.balance = Some(receipt.balance.won());
                row.occurred_at = Some(receipt.created_at);
            }
            StoredOutcome::Paid(receipt) => {
                row.payment_id = Some(receipt.payment_id.get());
                row.reservation_id = Some(receipt.reservation_id.get());
                row.amount = Some(receipt.amount.won());
                row.balance = Some(receipt.balance_after.won());
                row.occurred_at = Some(receipt.paid_at);
            }
            StoredOutcome::Refunded(receipt) => {
                row.refund_id = Some(receipt.refund_id.get());
                row.reservation_id = Some(receipt.reservation_id.get());
                row.amount = Some(receipt.amount.won());
                row.balance = Some(receipt.balance_after.won());
                row.occurred_at = Some(receipt.refunded_at);
            }
            StoredOutcome::ChargeRejected(_)
            | StoredOutcome::PaymentRejected(_)
            | StoredOutcome::RefundRejected(_) => {}
        }
        row
    }

    pub(crate) fn into_domain(self) -> Result<IdempotencyRecord, StoreError> {
        let outcome = match OutcomeKind::parse(&self.outcome)? {
            OutcomeKind::Charged => StoredOutcome::Charged(ChargeReceipt {
                transaction_id: TransactionId::from_uuid(present(
                    self.transaction_id,
                    "transaction",
                )?),
                amount: money(present(self.amount, "amount")?)?,
                balance: money(present(self.balance, "balance")?)?,
                created_at: present(self.occurred_at, "time")?,
            }),
            OutcomeKind::ChargeRejected => {
                StoredOutcome::ChargeRejected(parse_charge_rejection(self.rejection.as_deref())?)
            }
            OutcomeKind::Paid => StoredOutcome::Paid(PaymentReceipt {
                payment_id: PaymentId::from_uuid(present(self.payment_id, "payment")?),
                reservation_id: ReservationId::from_uuid(present(
                    self.reservation_id,
                    "reservation",
                )?),
                amount: money(present(self.amount, "amount")?)?,
                balance_after: money(present(self.balance, "balance")?)?,
                paid_at: present(self.occurred_at, "time")?,
            }),
            OutcomeKind::PaymentRejected => {
                StoredOutcome::PaymentRejected(parse_payment_rejection(self.rejection.as_deref())?)
            }
            OutcomeKind::Refunded => StoredOutcome::Refunded(RefundReceipt {
                refund_id: RefundId::from_uuid(present(self.refund_id, "refund")?),
                reservation_id: ReservationId::from_uuid(present(
                    self.reservation_id,
                    "reservation",
                )?),
                amount: money(present(self.amount, "amount")?)?,
                balance_after: money(present(self.balance, "balance")?)?,
                refunded_at: present(self.occurred_at, "time")?,
            }),
            OutcomeKind::RefundRejected => {
                StoredOutcome::RefundRejected(parse_refund_rejection(self.rejection.as_deref())?)
            }
        };
        Ok(IdempotencyRecord {
            fingerprint: RequestFingerprint::new(self.fingerprint),
            outcome: Some(outcome),
        })
    }
}

/// A schedule's seat listing: its header and its seats with their availability.
#[derive(Debug, Clone)]
pub(crate) struct Listing {
    pub header: ScheduleRow,
    pub seats: Vec<SeatRow>,
}

/// A single `bigint` column named `value`.
#[derive(Debug, QueryableByName)]
pub(crate) struct Int8 {
    #[diesel(sql_type = BigInt)]
    pub value: i64,
}

/// A duration in whole microseconds, for `$n * interval '1 microsecond'` binds.
pub(crate) fn micros(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

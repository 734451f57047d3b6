//! One error enum per operation. Each says exactly what can go wrong with that operation, so
//! the HTTP adapter can map every case to one contract code and nothing falls through to a 500.

use crate::{
    InvalidChargeAmount, InvalidSeatSelection, QueueAccessError, ReservationStatus, SeatId,
};

/// A store could not do its job for reasons outside the business rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The backing database cannot be reached right now; retry later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else (a bug, corrupted data). The text is for logs only.
    #[error("store failure: {0}")]
    Internal(String),
}

/// Creating a schedule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateScheduleError {
    /// No such concert.
    #[error("concert not found")]
    ConcertNotFound,
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Browsing schedules or seats.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrowseError {
    /// No such concert or schedule.
    #[error("not found")]
    NotFound,
    /// The queue token does not let the caller in.
    #[error(transparent)]
    Access(#[from] QueueAccessError),
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Joining a concert's waiting line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinQueueError {
    /// No such concert.
    #[error("concert not found")]
    ConcertNotFound,
    /// The concert's sale has closed to new joins.
    #[error("the sale of this concert has closed")]
    SaleClosed,
    /// The user joined too often; try again after this many seconds.
    #[error("too many queue joins; retry after {retry_after_secs} s")]
    RateLimited {
        /// Seconds until a join is allowed again.
        retry_after_secs: u64,
    },
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reading or leaving one's own place in line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueTokenError {
    /// The token is unknown.
    #[error(transparent)]
    Access(#[from] QueueAccessError),
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Holding seats.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoldSeatsError {
    /// The seat list is empty, too long or repeats a seat (checked before any store call).
    #[error(transparent)]
    InvalidSelection(#[from] InvalidSeatSelection),
    /// No such schedule, or it has already started.
    #[error("schedule not found")]
    ScheduleNotFound,
    /// A requested seat does not belong to the schedule.
    #[error("seat {0} is not a seat of this schedule")]
    SeatNotFound(SeatId),
    /// At least one seat is held or sold; nothing was held.
    #[error("seats not available: {}", seat_list(seats))]
    SeatUnavailable {
        /// The seats that are taken (ascending).
        seats: Vec<SeatId>,
    },
    /// The user would hold more seats than allowed at once.
    #[error("would hold {would_hold} seats; the limit is {limit}")]
    HoldLimitExceeded {
        /// Seats held after this hold.
        would_hold: u32,
        /// The per-user limit.
        limit: u32,
    },
    /// The queue token does not let the caller in.
    #[error(transparent)]
    Access(#[from] QueueAccessError),
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `[1, 2]`: the ids as a client knows them.
fn seat_list(seats: &[SeatId]) -> String {
    let ids: Vec<i64> = seats.iter().map(|s| s.get()).collect();
    format!("{ids:?}")
}

/// Reading one reservation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReservationReadError {
    /// None of the caller's reservations has this id.
    #[error("reservation not found")]
    NotFound,
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Cancelling a hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CancelError {
    /// None of the caller's reservations has this id.
    #[error("reservation not found")]
    NotFound,
    /// Only a HELD (unexpired) reservation can be cancelled.
    #[error("reservation is {} and cannot be cancelled", .0.as_str())]
    NotCancellable(ReservationStatus),
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Charging a wallet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChargeError {
    /// The amount is outside 1 ..= the per-charge maximum (checked before any store call,
    /// after the idempotency lookup; nothing is stored).
    #[error(transparent)]
    InvalidAmount(#[from] InvalidChargeAmount),
    /// The balance would exceed the maximum; nothing changed.
    #[error("the balance would exceed the maximum")]
    BalanceLimitExceeded,
    /// The key was used for another request.
    #[error("idempotency key reused with another request")]
    IdempotencyKeyReused,
    /// A request with this key is still running.
    #[error("a request with this idempotency key is in progress")]
    IdempotencyKeyInUse,
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Paying for a reservation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayError {
    /// None of the caller's reservations has this id.
    #[error("reservation not found")]
    ReservationNotFound,
    /// The queue token does not let the caller in.
    #[error(transparent)]
    Access(#[from] QueueAccessError),
    /// Expired, cancelled or already paid.
    #[error("reservation is not payable")]
    NotPayable,
    /// The wallet cannot cover the price; nothing changed.
    #[error("insufficient balance")]
    InsufficientBalance,
    /// The key was used for another request.
    #[error("idempotency key reused with another request")]
    IdempotencyKeyReused,
    /// A request with this key is still running.
    #[error("a request with this idempotency key is in progress")]
    IdempotencyKeyInUse,
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An operator's queue read or change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminQueueError {
    /// No such concert.
    #[error("concert not found")]
    ConcertNotFound,
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An operator's change of a concert's sale window.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateSaleError {
    /// No such concert.
    #[error("concert not found")]
    ConcertNotFound,
    /// The window it would give is not valid, or the opening can no longer move.
    #[error(transparent)]
    Refused(#[from] crate::SalePatchRefused),
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

//! Refunds: a CONFIRMED reservation given back before its schedule's refund cut-off. The
//! reservation becomes REFUNDED (its seats free at once) and the wallet gets back exactly what
//! was paid, with a REFUND ledger entry. A refund may take the balance over the balance maximum:
//! money the user already had is never refused; later charges are refused while it is over.

use crate::{Money, RefundId, ReservationId, ReservationStatus, StoreError, Timestamp};
use std::time::Duration;

/// Largest refund cut-off, in hours (one year): anything longer would close refunds for good.
pub const REFUND_CUTOFF_HOURS_MAX: u32 = 8760;

/// The default refund cut-off, in hours.
pub const DEFAULT_REFUND_CUTOFF_HOURS: u32 = 24;

/// Why a refund setting was refused at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("REFUND_CUTOFF_HOURS must be between 0 and {REFUND_CUTOFF_HOURS_MAX}")]
pub struct InvalidRefundCutoff;

/// When refunds close: `cutoff` before a schedule starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefundPolicy {
    cutoff_hours: u32,
}

impl Default for RefundPolicy {
    fn default() -> Self {
        Self {
            cutoff_hours: DEFAULT_REFUND_CUTOFF_HOURS,
        }
    }
}

impl RefundPolicy {
    /// Validates the cut-off (0 ..= [`REFUND_CUTOFF_HOURS_MAX`] hours).
    ///
    /// # Errors
    /// [`InvalidRefundCutoff`] above the maximum.
    pub const fn new(cutoff_hours: u32) -> Result<Self, InvalidRefundCutoff> {
        if cutoff_hours > REFUND_CUTOFF_HOURS_MAX {
            return Err(InvalidRefundCutoff);
        }
        Ok(Self { cutoff_hours })
    }

    /// The cut-off in hours (PostgreSQL takes it as an interval of hours).
    #[must_use]
    pub const fn cutoff_hours(&self) -> u32 {
        self.cutoff_hours
    }

    /// The cut-off as a duration.
    #[must_use]
    pub const fn cutoff(&self) -> Duration {
        Duration::from_secs(self.cutoff_hours as u64 * 3600)
    }

    /// Whether a reservation of a schedule starting at `starts_at` may be refunded at `now`:
    /// strictly before `starts_at − cutoff` (the PostgreSQL function `refund_window_open`
    /// states the same rule on the database's clock).
    #[must_use]
    pub fn window_open(&self, starts_at: Timestamp, now: Timestamp) -> bool {
        let cutoff = chrono::Duration::hours(i64::from(self.cutoff_hours));
        starts_at
            .checked_sub_signed(cutoff)
            .is_some_and(|closes| now < closes)
    }
}

/// The result of a successful refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundReceipt {
    /// The refund.
    pub refund_id: RefundId,
    /// The reservation now REFUNDED.
    pub reservation_id: ReservationId,
    /// Exactly what was paid for it.
    pub amount: Money,
    /// The wallet balance afterwards (may be above the balance maximum).
    pub balance_after: Money,
    /// When it was refunded (the store's clock).
    pub refunded_at: Timestamp,
}

/// Why a business rule refused a refund; stored so that a replay gives the same answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundRejection {
    /// The reservation is not CONFIRMED (held, expired, cancelled or already refunded).
    NotRefundable,
    /// The schedule starts within the refund cut-off.
    WindowClosed,
}

/// Refunding a reservation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundError {
    /// None of the caller's reservations has this id.
    #[error("reservation not found")]
    NotFound,
    /// Not CONFIRMED.
    #[error("reservation is not refundable")]
    NotRefundable,
    /// Too close to the schedule's start.
    #[error("the refund window has closed")]
    WindowClosed,
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

impl From<RefundRejection> for RefundError {
    fn from(rejection: RefundRejection) -> Self {
        match rejection {
            RefundRejection::NotRefundable => Self::NotRefundable,
            RefundRejection::WindowClosed => Self::WindowClosed,
        }
    }
}

/// What a store found about one refund once the reservation is locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefundFacts {
    /// Whether the reservation exists and is the caller's.
    pub found: bool,
    /// Whether it is CONFIRMED (judged after its lock).
    pub confirmed: bool,
    /// Whether its schedule is still before the refund cut-off (the store's clock, after the
    /// lock).
    pub window_open: bool,
}

/// What to do with a refund before any money moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundVerdict {
    /// Credit the wallet, mark the reservation REFUNDED, free its seats.
    Credit,
    /// Refuse, storing nothing under the key.
    Refuse(RefundError),
    /// Refuse, and store the rejection under the key, so that a replay answers the same.
    Reject(RefundRejection),
}

impl RefundFacts {
    /// Judges a refund, in the order every store reports it: not found, then not CONFIRMED,
    /// then the window.
    #[must_use]
    pub const fn verdict(self) -> RefundVerdict {
        if !self.found {
            RefundVerdict::Refuse(RefundError::NotFound)
        } else if !self.confirmed {
            RefundVerdict::Reject(RefundRejection::NotRefundable)
        } else if !self.window_open {
            RefundVerdict::Reject(RefundRejection::WindowClosed)
        } else {
            RefundVerdict::Credit
        }
    }
}

/// Whether a reservation in `status` may be refunded (the memory store's form of the
/// PostgreSQL guard function `refund_allowed`).
#[must_use]
pub fn refundable(status: ReservationStatus) -> bool {
    status == ReservationStatus::Confirmed
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn the_cutoff_is_bounded() {
        assert!(RefundPolicy::new(0).is_ok());
        assert!(RefundPolicy::new(REFUND_CUTOFF_HOURS_MAX).is_ok());
        assert_eq!(
            RefundPolicy::new(REFUND_CUTOFF_HOURS_MAX + 1),
            Err(InvalidRefundCutoff)
        );
        assert_eq!(RefundPolicy::default().cutoff_hours(), 24);
        assert_eq!(
            RefundPolicy::default().cutoff(),
            Duration::from_secs(86_400)
        );
    }

    #[test]
    fn the_window_closes_at_the_cutoff() {
        let policy = RefundPolicy::new(24).expect("valid");
        let now = Utc::now();
        let hours = |h| chrono::Duration::hours(h);
        assert!(policy.window_open(now + hours(25), now));
        assert!(!policy.window_open(now + hours(24), now));
        assert!(!policy.window_open(now + hours(1), now));
        assert!(!policy.window_open(now - hours(1), now));
    }

    #[test]
    fn a_refund_is_judged_found_then_confirmed_then_window() {
        let verdict = |found, confirmed, window_open| {
            RefundFacts {
                found,
                confirmed,
                window_open,
            }
            .verdict()
        };
        assert_eq!(
            verdict(false, false, false),
            RefundVerdict::Refuse(RefundError::NotFound)
        );
        assert_eq!(
            verdict(true, false, false),
            RefundVerdict::Reject(RefundRejection::NotRefundable)
        );
        assert_eq!(
            verdict(true, true, false),
            RefundVerdict::Reject(RefundRejection::WindowClosed)
        );
        assert_eq!(verdict(true, true, true), RefundVerdict::Credit);
        assert!(refundable(ReservationStatus::Confirmed));
        assert!(!refundable(ReservationStatus::Refunded));
    }
}

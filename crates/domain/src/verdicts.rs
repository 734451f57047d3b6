//! The decisions every store makes the same way, written once: whether a hold may be granted,
//! whether a payment may move money, and what a stored outcome answers when it is replayed.
//!
//! A store gathers the facts under its own locks (rows in PostgreSQL, one critical section in
//! memory) and asks these functions; it never decides on its own. A rule copied into a store is
//! a rule that one day differs between stores (the double sale of the hold-expiry boundary
//! lived in such a copy).

use crate::{
    ChargeError, ChargeReceipt, ChargeRejection, HoldPolicy, HoldSeatsError, IdempotencyDecision,
    PayError, PaymentReceipt, PaymentRejection, QueueAccessError, RefundError, RefundReceipt,
    SeatId, StoredOutcome, UserId,
};

/// Whether `caller` may poll or leave a token whose owner is `owner` (`None`: no such token).
///
/// # Errors
/// [`QueueAccessError::TokenRequired`] for an unknown token, [`QueueAccessError::NotActive`]
/// for another user's (which says nothing about that user's place).
pub fn check_token_owner(owner: Option<UserId>, caller: UserId) -> Result<(), QueueAccessError> {
    match owner {
        None => Err(QueueAccessError::TokenRequired),
        Some(owner) if owner != caller => Err(QueueAccessError::NotActive),
        Some(_) => Ok(()),
    }
}

/// What a store found about one hold once its seats and its holder's token are locked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldFacts {
    /// The first requested seat that is not a seat of the hold's schedule.
    pub missing_seat: Option<SeatId>,
    /// Whether the holder's queue token is ACTIVE, theirs, and for the schedule's concert.
    pub token_admits: bool,
    /// The requested seats that are sold or under an unexpired hold (in seat order).
    pub unavailable: Vec<SeatId>,
    /// Seats the holder already holds under unexpired holds.
    pub seats_held: usize,
    /// Seats this hold asks for.
    pub seats_wanted: usize,
}

impl HoldPolicy {
    /// Judges a hold from its facts, in the order every store reports them: a seat that does
    /// not exist, then the queue token, then seats taken, then the per-user cap.
    ///
    /// # Errors
    /// The first rule the hold breaks.
    pub fn judge_hold(&self, facts: HoldFacts) -> Result<(), HoldSeatsError> {
        if let Some(seat) = facts.missing_seat {
            return Err(HoldSeatsError::SeatNotFound(seat));
        }
        if !facts.token_admits {
            return Err(QueueAccessError::NotActive.into());
        }
        if !facts.unavailable.is_empty() {
            return Err(HoldSeatsError::SeatUnavailable {
                seats: facts.unavailable,
            });
        }
        let limit = self.max_seats_held_per_user();
        let would_hold =
            u32::try_from(facts.seats_held.saturating_add(facts.seats_wanted)).unwrap_or(u32::MAX);
        if would_hold > limit {
            return Err(HoldSeatsError::HoldLimitExceeded { would_hold, limit });
        }
        Ok(())
    }
}

/// What a store found about one payment once its reservation and token are locked (the
/// balance is judged by the store's own conditional debit, never read and compared here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentFacts {
    /// Whether the reservation exists and is the payer's.
    pub found: bool,
    /// Whether the payer's queue token is ACTIVE, theirs, and for the reservation's concert.
    pub token_admits: bool,
    /// Whether the payer sent a queue token at all.
    pub token_sent: bool,
    /// Whether the reservation is a live waiting-list offer (it needs no queue token).
    pub offer: bool,
    /// Whether the reservation is HELD and its hold has not run out, judged after its lock.
    pub payable: bool,
}

/// What to do with a payment before any money moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentVerdict {
    /// Debit the wallet (which may still be insufficient).
    Debit,
    /// Refuse, storing nothing under the key (the request may be retried once it is fixed).
    Refuse(PayError),
    /// Refuse, and store the rejection under the key, so that a replay answers the same.
    Reject(PaymentRejection),
}

impl PaymentFacts {
    /// Judges a payment from its facts, in the order every store reports them: no token (unless
    /// the reservation is a live waiting-list offer, which needs none), not found, then the
    /// queue token, then whether the reservation is payable.
    #[must_use]
    pub fn verdict(self) -> PaymentVerdict {
        if !self.token_sent && !self.offer {
            PaymentVerdict::Refuse(QueueAccessError::TokenRequired.into())
        } else if !self.found {
            PaymentVerdict::Refuse(PayError::ReservationNotFound)
        } else if !self.token_admits && !self.offer {
            PaymentVerdict::Refuse(QueueAccessError::NotActive.into())
        } else if !self.payable {
            PaymentVerdict::Reject(PaymentRejection::NotPayable)
        } else {
            PaymentVerdict::Debit
        }
    }
}

impl From<PaymentRejection> for PayError {
    fn from(rejection: PaymentRejection) -> Self {
        match rejection {
            PaymentRejection::NotPayable => Self::NotPayable,
            PaymentRejection::InsufficientBalance => Self::InsufficientBalance,
        }
    }
}

impl From<ChargeRejection> for ChargeError {
    fn from(rejection: ChargeRejection) -> Self {
        match rejection {
            ChargeRejection::BalanceLimitExceeded => Self::BalanceLimitExceeded,
        }
    }
}

impl StoredOutcome {
    /// A payment's answer from the outcome stored under its key: a charge's outcome means the
    /// key was used for another request.
    ///
    /// # Errors
    /// The stored rejection, or [`PayError::IdempotencyKeyReused`].
    pub fn into_payment_answer(self) -> Result<PaymentReceipt, PayError> {
        match self {
            Self::Paid(receipt) => Ok(receipt),
            Self::PaymentRejected(rejection) => Err(rejection.into()),
            Self::Charged(_)
            | Self::ChargeRejected(_)
            | Self::Refunded(_)
            | Self::RefundRejected(_) => Err(PayError::IdempotencyKeyReused),
        }
    }

    /// A charge's answer from the outcome stored under its key: a payment's outcome means the
    /// key was used for another request.
    ///
    /// # Errors
    /// The stored rejection, or [`ChargeError::IdempotencyKeyReused`].
    pub fn into_charge_answer(self) -> Result<ChargeReceipt, ChargeError> {
        match self {
            Self::Charged(receipt) => Ok(receipt),
            Self::ChargeRejected(rejection) => Err(rejection.into()),
            Self::Paid(_)
            | Self::PaymentRejected(_)
            | Self::Refunded(_)
            | Self::RefundRejected(_) => Err(ChargeError::IdempotencyKeyReused),
        }
    }

    /// A refund's answer from the outcome stored under its key: another operation's outcome
    /// means the key was used for another request.
    ///
    /// # Errors
    /// The stored rejection, or [`RefundError::IdempotencyKeyReused`].
    pub fn into_refund_answer(self) -> Result<RefundReceipt, RefundError> {
        match self {
            Self::Refunded(receipt) => Ok(receipt),
            Self::RefundRejected(rejection) => Err(rejection.into()),
            Self::Charged(_)
            | Self::ChargeRejected(_)
            | Self::Paid(_)
            | Self::PaymentRejected(_) => Err(RefundError::IdempotencyKeyReused),
        }
    }
}

impl IdempotencyDecision {
    /// A payment's answer when the key's record settles it; `None` when the payment must run.
    #[must_use]
    pub fn payment_answer(self) -> Option<Result<PaymentReceipt, PayError>> {
        match self {
            Self::Proceed => None,
            Self::Replay(outcome) => Some(outcome.into_payment_answer()),
            Self::InUse => Some(Err(PayError::IdempotencyKeyInUse)),
            Self::Reused => Some(Err(PayError::IdempotencyKeyReused)),
        }
    }

    /// A refund's answer when the key's record settles it; `None` when the refund must run.
    #[must_use]
    pub fn refund_answer(self) -> Option<Result<RefundReceipt, RefundError>> {
        match self {
            Self::Proceed => None,
            Self::Replay(outcome) => Some(outcome.into_refund_answer()),
            Self::InUse => Some(Err(RefundError::IdempotencyKeyInUse)),
            Self::Reused => Some(Err(RefundError::IdempotencyKeyReused)),
        }
    }

    /// A charge's answer when the key's record settles it; `None` when the charge must run.
    #[must_use]
    pub fn charge_answer(self) -> Option<Result<ChargeReceipt, ChargeError>> {
        match self {
            Self::Proceed => None,
            Self::Replay(outcome) => Some(outcome.into_charge_answer()),
            Self::InUse => Some(Err(ChargeError::IdempotencyKeyInUse)),
            Self::Reused => Some(Err(ChargeError::IdempotencyKeyReused)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn facts() -> HoldFacts {
        HoldFacts {
            missing_seat: None,
            token_admits: true,
            unavailable: Vec::new(),
            seats_held: 2,
            seats_wanted: 2,
        }
    }

    fn seat(id: i64) -> SeatId {
        SeatId::new(id).expect("a positive id")
    }

    #[test]
    fn a_hold_is_judged_missing_seat_then_token_then_taken_then_cap() {
        // Arrange
        let policy = HoldPolicy::new(Duration::from_secs(60), 4, 4).expect("a valid policy");
        let all_wrong = HoldFacts {
            missing_seat: Some(seat(9)),
            token_admits: false,
            unavailable: vec![seat(1)],
            seats_held: 4,
            seats_wanted: 1,
        };
        // Act / Assert
        assert_eq!(policy.judge_hold(facts()), Ok(()));
        assert_eq!(
            policy.judge_hold(all_wrong.clone()),
            Err(HoldSeatsError::SeatNotFound(seat(9)))
        );
        let token = HoldFacts {
            missing_seat: None,
            ..all_wrong.clone()
        };
        assert_eq!(
            policy.judge_hold(token.clone()),
            Err(QueueAccessError::NotActive.into())
        );
        let taken = HoldFacts {
            token_admits: true,
            ..token
        };
        assert_eq!(
            policy.judge_hold(taken.clone()),
            Err(HoldSeatsError::SeatUnavailable {
                seats: vec![seat(1)]
            })
        );
        let cap = HoldFacts {
            unavailable: Vec::new(),
            ..taken
        };
        assert_eq!(
            policy.judge_hold(cap),
            Err(HoldSeatsError::HoldLimitExceeded {
                would_hold: 5,
                limit: 4
            })
        );
    }

    #[test]
    fn a_payment_is_judged_found_then_token_then_payable() {
        let verdict = |found, token_admits, payable| {
            PaymentFacts {
                found,
                token_admits,
                token_sent: true,
                offer: false,
                payable,
            }
            .verdict()
        };
        let offer = PaymentFacts {
            found: true,
            token_admits: false,
            token_sent: false,
            offer: true,
            payable: true,
        };
        assert_eq!(offer.verdict(), PaymentVerdict::Debit);
        assert_eq!(
            PaymentFacts {
                offer: false,
                ..offer
            }
            .verdict(),
            PaymentVerdict::Refuse(QueueAccessError::TokenRequired.into())
        );
        assert_eq!(
            verdict(false, false, false),
            PaymentVerdict::Refuse(PayError::ReservationNotFound)
        );
        assert_eq!(
            verdict(true, false, false),
            PaymentVerdict::Refuse(QueueAccessError::NotActive.into())
        );
        assert_eq!(
            verdict(true, true, false),
            PaymentVerdict::Reject(PaymentRejection::NotPayable)
        );
        assert_eq!(verdict(true, true, true), PaymentVerdict::Debit);
    }

    #[test]
    fn a_replay_answers_like_the_first_call_and_another_kind_is_a_reuse() {
        let rejected = StoredOutcome::PaymentRejected(PaymentRejection::InsufficientBalance);
        assert_eq!(
            rejected.clone().into_payment_answer(),
            Err(PayError::InsufficientBalance)
        );
        assert_eq!(
            rejected.into_charge_answer(),
            Err(ChargeError::IdempotencyKeyReused)
        );
        assert_eq!(IdempotencyDecision::Proceed.payment_answer(), None);
        assert_eq!(
            IdempotencyDecision::InUse.charge_answer(),
            Some(Err(ChargeError::IdempotencyKeyInUse))
        );
    }
}

//! What each coalesced call asks and answers: one named type per kind of batch, so that a batch
//! reads `request.user`, never `keys[i].1`.

use crate::rows::{IdempotencyRow, Listing, TokenRow};
use domain::ports::{NewHold, NewPayment};
use domain::{
    HoldPolicy, HoldSeatsError, JoinQueueError, PayError, PaymentReceipt, QueuePolicy, Reservation,
};
use uuid::Uuid;

/// The queue gate's read of a token, with the policy its effective status is judged by.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TokenRead {
    pub(crate) token: Uuid,
    pub(crate) policy: QueuePolicy,
}

/// A poll: the token, its caller (only the owner's poll keeps the place alive) and the policy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PollRequest {
    pub(crate) token: Uuid,
    pub(crate) user: i64,
    pub(crate) policy: QueuePolicy,
}

/// A join: the user, the concert, the id a new token would get, and the policy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JoinRequest {
    pub(crate) user: i64,
    pub(crate) concert: i64,
    pub(crate) new_token: Uuid,
    pub(crate) policy: QueuePolicy,
}

/// A join's result: the live token's standing, and whether this join issued it.
#[derive(Debug, Clone)]
pub(crate) struct JoinOutcome {
    pub(crate) row: TokenRow,
    pub(crate) created: bool,
}

/// A join's answer.
pub(crate) type JoinAnswer = Result<JoinOutcome, JoinQueueError>;

/// A hold and the policy it is judged by.
#[derive(Debug, Clone)]
pub(crate) struct HoldRequest {
    pub(crate) hold: NewHold,
    pub(crate) policy: HoldPolicy,
}

/// A hold's answer.
pub(crate) type HoldAnswer = Result<Reservation, HoldSeatsError>;

/// A payment's answer.
pub(crate) type PayAnswer = Result<PaymentReceipt, PayError>;

/// A read of one reservation, answered only to its holder.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReservationRead {
    pub(crate) user: i64,
    pub(crate) id: Uuid,
}

/// A read of the record stored under one user's idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct RecordRead {
    pub(crate) user: i64,
    pub(crate) key: String,
}

/// A payment request as the batch takes it.
pub(crate) type PayRequest = NewPayment;

/// A seat listing's answer: the schedule's header and seats, or `None` when it does not exist.
pub(crate) type ListingAnswer = Option<Listing>;

/// A record read's answer.
pub(crate) type RecordAnswer = Option<IdempotencyRow>;

//! Idempotency keys for charges, payments and refunds: the same key and request replays the first
//! answer and moves no money again.

use crate::{ChargeReceipt, PaymentReceipt, RefundReceipt, RefundRejection};

/// Why an `Idempotency-Key` header value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX_LEN} visible ASCII characters")]
pub struct InvalidIdempotencyKey;

/// Longest `Idempotency-Key`, in characters (bytes: they are ASCII).
pub const IDEMPOTENCY_KEY_MAX_LEN: usize = 255;

/// A client-chosen key, scoped to the user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Accepts 1..=[`IDEMPOTENCY_KEY_MAX_LEN`] visible ASCII characters.
    ///
    /// # Errors
    /// [`InvalidIdempotencyKey`] otherwise.
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidIdempotencyKey> {
        let value = value.into();
        if value.is_empty()
            || value.len() > IDEMPOTENCY_KEY_MAX_LEN
            || !value.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(InvalidIdempotencyKey);
        }
        Ok(Self(value))
    }

    /// The key.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A digest of what was asked (operation and canonical body), to tell a replay from a reuse.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestFingerprint(String);

impl RequestFingerprint {
    /// Wraps a digest computed by the caller (hex SHA-256 of the canonical request).
    #[must_use]
    pub fn new(digest: impl Into<String>) -> Self {
        Self(digest.into())
    }

    /// The digest.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The key and fingerprint a charge or payment runs under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyContext {
    /// The client's key.
    pub key: IdempotencyKey,
    /// What the request asked.
    pub fingerprint: RequestFingerprint,
}

/// Why a business rule refused a charge; stored so that a replay gives the same answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChargeRejection {
    /// The balance would exceed the maximum.
    BalanceLimitExceeded,
}

/// Why a business rule refused a payment; stored so that a replay gives the same answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentRejection {
    /// Expired, cancelled or already paid.
    NotPayable,
    /// The wallet cannot cover the price.
    InsufficientBalance,
}

/// The first answer given under a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredOutcome {
    /// A charge succeeded.
    Charged(ChargeReceipt),
    /// A charge was refused.
    ChargeRejected(ChargeRejection),
    /// A payment succeeded.
    Paid(PaymentReceipt),
    /// A payment was refused.
    PaymentRejected(PaymentRejection),
    /// A refund succeeded.
    Refunded(RefundReceipt),
    /// A refund was refused.
    RefundRejected(RefundRejection),
}

/// What a store knows about a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The fingerprint of the first request under this key.
    pub fingerprint: RequestFingerprint,
    /// Its answer, or `None` while it is still running.
    pub outcome: Option<StoredOutcome>,
}

/// What to do with a request given the record already stored under its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyDecision {
    /// Nothing stored: run it.
    Proceed,
    /// Same request, finished: answer with the stored outcome.
    Replay(StoredOutcome),
    /// Same request, still running.
    InUse,
    /// Another request used this key.
    Reused,
}

impl IdempotencyDecision {
    /// Decides from the stored record (if any) and this request's fingerprint.
    #[must_use]
    pub fn decide(record: Option<IdempotencyRecord>, fingerprint: &RequestFingerprint) -> Self {
        match record {
            None => Self::Proceed,
            Some(r) if &r.fingerprint != fingerprint => Self::Reused,
            Some(IdempotencyRecord { outcome: None, .. }) => Self::InUse,
            Some(IdempotencyRecord {
                outcome: Some(o), ..
            }) => Self::Replay(o),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii() {
        assert!(IdempotencyKey::new("").is_err());
        assert!(IdempotencyKey::new("with space").is_err());
        assert!(IdempotencyKey::new("k".repeat(256)).is_err());
        assert!(IdempotencyKey::new("3f1c-aa").is_ok());
    }

    #[test]
    fn decision_tells_replay_from_reuse() {
        let fp = RequestFingerprint::new("a");
        let other = RequestFingerprint::new("b");
        let done = IdempotencyRecord {
            fingerprint: fp.clone(),
            outcome: Some(StoredOutcome::PaymentRejected(PaymentRejection::NotPayable)),
        };
        let running = IdempotencyRecord {
            fingerprint: fp.clone(),
            outcome: None,
        };
        assert_eq!(
            IdempotencyDecision::decide(None, &fp),
            IdempotencyDecision::Proceed
        );
        assert_eq!(
            IdempotencyDecision::decide(Some(done.clone()), &other),
            IdempotencyDecision::Reused
        );
        assert_eq!(
            IdempotencyDecision::decide(Some(running), &fp),
            IdempotencyDecision::InUse
        );
        assert!(matches!(
            IdempotencyDecision::decide(Some(done), &fp),
            IdempotencyDecision::Replay(_)
        ));
    }
}

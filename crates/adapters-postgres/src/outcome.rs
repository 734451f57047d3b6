//! The literals the schema stores for an idempotent call: what kind of outcome it had
//! (`idempotency_records.outcome`), why it was refused (`.rejection`), and what a money function
//! reported (`money_call_result.status`). Each enum renders and parses its own literal, so no
//! string is spelled in two places.

use crate::errors::bad_row;
use domain::{ChargeRejection, PaymentRejection, RefundRejection, StoreError, StoredOutcome};

/// The kind of a stored outcome (`idempotency_records.outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutcomeKind {
    Charged,
    ChargeRejected,
    Paid,
    PaymentRejected,
    Refunded,
    RefundRejected,
}

impl OutcomeKind {
    const ALL: [Self; 6] = [
        Self::Charged,
        Self::ChargeRejected,
        Self::Paid,
        Self::PaymentRejected,
        Self::Refunded,
        Self::RefundRejected,
    ];

    /// The literal stored for this kind.
    pub(crate) const fn sql(self) -> &'static str {
        match self {
            Self::Charged => "CHARGED",
            Self::ChargeRejected => "CHARGE_REJECTED",
            Self::Paid => "PAID",
            Self::PaymentRejected => "PAYMENT_REJECTED",
            Self::Refunded => "REFUNDED",
            Self::RefundRejected => "REFUND_REJECTED",
        }
    }

    /// The kind a stored literal names.
    ///
    /// # Errors
    /// A bad-row error for an unknown literal.
    pub(crate) fn parse(literal: &str) -> Result<Self, StoreError> {
        Self::ALL
            .into_iter()
            .find(|k| k.sql() == literal)
            .ok_or_else(|| bad_row("idempotency outcome", literal))
    }

    /// The kind of `outcome`.
    pub(crate) const fn of(outcome: &StoredOutcome) -> Self {
        match outcome {
            StoredOutcome::Charged(_) => Self::Charged,
            StoredOutcome::ChargeRejected(_) => Self::ChargeRejected,
            StoredOutcome::Paid(_) => Self::Paid,
            StoredOutcome::PaymentRejected(_) => Self::PaymentRejected,
            StoredOutcome::Refunded(_) => Self::Refunded,
            StoredOutcome::RefundRejected(_) => Self::RefundRejected,
        }
    }
}

/// The literal stored for a charge's rejection.
pub(crate) const fn charge_rejection_sql(rejection: ChargeRejection) -> &'static str {
    match rejection {
        ChargeRejection::BalanceLimitExceeded => "BALANCE_LIMIT_EXCEEDED",
    }
}

/// The literal stored for a payment's rejection.
pub(crate) const fn payment_rejection_sql(rejection: PaymentRejection) -> &'static str {
    match rejection {
        PaymentRejection::NotPayable => "NOT_PAYABLE",
        PaymentRejection::InsufficientBalance => "INSUFFICIENT_BALANCE",
    }
}

/// The literal stored for a refund's rejection.
pub(crate) const fn refund_rejection_sql(rejection: RefundRejection) -> &'static str {
    match rejection {
        RefundRejection::NotRefundable => "NOT_REFUNDABLE",
        RefundRejection::WindowClosed => "REFUND_WINDOW_CLOSED",
    }
}

/// The refund rejection a stored literal names.
///
/// # Errors
/// A bad-row error for an unknown or missing literal.
pub(crate) fn parse_refund_rejection(literal: Option<&str>) -> Result<RefundRejection, StoreError> {
    [
        RefundRejection::NotRefundable,
        RefundRejection::WindowClosed,
    ]
    .into_iter()
    .find(|r| Some(refund_rejection_sql(*r)) == literal)
    .ok_or_else(|| bad_row("refund rejection", format!("{literal:?}")))
}

/// The rejection literal stored with `outcome` (none for a success).
pub(crate) const fn rejection_sql(outcome: &StoredOutcome) -> Option<&'static str> {
    match outcome {
        StoredOutcome::ChargeRejected(r) => Some(charge_rejection_sql(*r)),
        StoredOutcome::PaymentRejected(r) => Some(payment_rejection_sql(*r)),
        StoredOutcome::RefundRejected(r) => Some(refund_rejection_sql(*r)),
        StoredOutcome::Charged(_) | StoredOutcome::Paid(_) | StoredOutcome::Refunded(_) => None,
    }
}

/// The charge rejection a stored literal names.
///
/// # Errors
/// A bad-row error for an unknown or missing literal.
pub(crate) fn parse_charge_rejection(literal: Option<&str>) -> Result<ChargeRejection, StoreError> {
    [ChargeRejection::BalanceLimitExceeded]
        .into_iter()
        .find(|r| Some(charge_rejection_sql(*r)) == literal)
        .ok_or_else(|| bad_row("charge rejection", format!("{literal:?}")))
}

/// The payment rejection a stored literal names.
///
/// # Errors
/// A bad-row error for an unknown or missing literal.
pub(crate) fn parse_payment_rejection(
    literal: Option<&str>,
) -> Result<PaymentRejection, StoreError> {
    [
        PaymentRejection::NotPayable,
        PaymentRejection::InsufficientBalance,
    ]
    .into_iter()
    .find(|r| Some(payment_rejection_sql(*r)) == literal)
    .ok_or_else(|| bad_row("payment rejection", format!("{literal:?}")))
}

/// What a money function (`charge_once`, `claim_idempotency_key`) reported
/// (`money_call_result.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallStatus {
    /// Nothing stored under the key: the call may run.
    Fresh,
    /// Another request under the key was still running after the wait.
    InUse,
    /// The key holds another request's record.
    Reused,
    /// The key's record: this call's outcome, or the replayed one.
    Done,
}

impl CallStatus {
    const ALL: [Self; 4] = [Self::Fresh, Self::InUse, Self::Reused, Self::Done];

    /// The literal a money function returns for this status.
    pub(crate) const fn sql(self) -> &'static str {
        match self {
            Self::Fresh => "FRESH",
            Self::InUse => "IN_USE",
            Self::Reused => "REUSED",
            Self::Done => "DONE",
        }
    }

    /// The status a returned literal names.
    ///
    /// # Errors
    /// An internal error for an unknown literal.
    pub(crate) fn parse(literal: &str) -> Result<Self, StoreError> {
        Self::ALL
            .into_iter()
            .find(|s| s.sql() == literal)
            .ok_or_else(|| StoreError::Internal(format!("money function answered {literal}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_literal_parses_back_to_what_rendered_it() {
        for kind in OutcomeKind::ALL {
            assert_eq!(OutcomeKind::parse(kind.sql()), Ok(kind));
        }
        for status in CallStatus::ALL {
            assert_eq!(CallStatus::parse(status.sql()), Ok(status));
        }
        for r in [
            PaymentRejection::NotPayable,
            PaymentRejection::InsufficientBalance,
        ] {
            assert_eq!(
                parse_payment_rejection(Some(payment_rejection_sql(r))),
                Ok(r)
            );
        }
        let r = ChargeRejection::BalanceLimitExceeded;
        assert_eq!(parse_charge_rejection(Some(charge_rejection_sql(r))), Ok(r));
        for r in [
            RefundRejection::NotRefundable,
            RefundRejection::WindowClosed,
        ] {
            assert_eq!(parse_refund_rejection(Some(refund_rejection_sql(r))), Ok(r));
        }
        assert!(OutcomeKind::parse("PAYED").is_err());
        assert!(parse_payment_rejection(None).is_err());
    }
}

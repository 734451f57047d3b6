//! Wallets, their append-only ledger, and payments.

use crate::{Money, PaymentId, ReservationId, Timestamp, TransactionId, UserId};

/// Why a charge amount was refused before reaching a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("amount must be between 1 and {max}")]
pub struct InvalidChargeAmount {
    /// The per-charge maximum in won.
    pub max: i64,
}

/// A charge amount: 1 ..= the per-charge maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChargeAmount(Money);

impl ChargeAmount {
    /// Validates the amount against the per-charge maximum.
    ///
    /// # Errors
    /// [`InvalidChargeAmount`] for 0, negative, or above `charge_max`.
    pub fn new(won: i64, charge_max: Money) -> Result<Self, InvalidChargeAmount> {
        let err = InvalidChargeAmount {
            max: charge_max.won(),
        };
        let money = Money::new(won).map_err(|_| err)?;
        if money == Money::ZERO || money > charge_max {
            return Err(err);
        }
        Ok(Self(money))
    }

    /// The amount.
    #[must_use]
    pub const fn money(self) -> Money {
        self.0
    }
}

/// What a ledger entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LedgerKind {
    /// Money added by the user.
    Charge,
    /// Money spent on a reservation.
    Payment,
    /// Money returned.
    Refund,
}

impl LedgerKind {
    /// The contract's spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Charge => "CHARGE",
            Self::Payment => "PAYMENT",
            Self::Refund => "REFUND",
        }
    }

    /// Parses the contract's spelling (used by stores).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "CHARGE" => Some(Self::Charge),
            "PAYMENT" => Some(Self::Payment),
            "REFUND" => Some(Self::Refund),
            _ => None,
        }
    }
}

/// One append-only ledger line. The balance equals the sum of a wallet's `amount`s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// Its id.
    pub id: TransactionId,
    /// The wallet's owner.
    pub user_id: UserId,
    /// What it records.
    pub kind: LedgerKind,
    /// Signed amount in won: positive for charges and refunds, negative for payments.
    pub amount: i64,
    /// The balance right after this entry.
    pub balance_after: Money,
    /// What it refers to: the payment id for a payment, the idempotency key for a charge.
    pub reference: Option<String>,
    /// When it was written.
    pub created_at: Timestamp,
}

/// A wallet's current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wallet {
    /// Its owner.
    pub user_id: UserId,
    /// Its balance (0 for a user never seen before).
    pub balance: Money,
}

/// The result of a successful charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeReceipt {
    /// The ledger entry written.
    pub transaction_id: TransactionId,
    /// The amount added.
    pub amount: Money,
    /// The balance afterwards.
    pub balance: Money,
    /// When it happened.
    pub created_at: Timestamp,
}

/// The result of a successful payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentReceipt {
    /// The payment.
    pub payment_id: PaymentId,
    /// The reservation now CONFIRMED.
    pub reservation_id: ReservationId,
    /// Exactly the reservation's total price.
    pub amount: Money,
    /// The wallet balance afterwards.
    pub balance_after: Money,
    /// When it was paid.
    pub paid_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charge_amount_is_bounded() {
        let max = Money::new(1000).unwrap_or_default();
        assert!(ChargeAmount::new(0, max).is_err());
        assert!(ChargeAmount::new(-5, max).is_err());
        assert!(ChargeAmount::new(1001, max).is_err());
        assert_eq!(ChargeAmount::new(1000, max).map(|a| a.money()), Ok(max));
    }

    #[test]
    fn ledger_kinds_round_trip() {
        for k in [LedgerKind::Charge, LedgerKind::Payment, LedgerKind::Refund] {
            assert_eq!(LedgerKind::parse(k.as_str()), Some(k));
        }
    }
}

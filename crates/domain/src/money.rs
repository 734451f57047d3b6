//! Money: an amount of KRW (won) that can never be negative or overflow.

use std::fmt;

/// Why an amount of money was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Money is never negative.
    #[error("amount must not be negative")]
    Negative,
}

/// A non-negative number of won. Arithmetic is checked: an overflow or a negative result is
/// `None`, never a wrapped value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

impl Money {
    /// No money at all.
    pub const ZERO: Self = Self(0);

    /// Parses a raw amount of won.
    ///
    /// # Errors
    /// [`MoneyError::Negative`] when `won < 0`.
    pub const fn new(won: i64) -> Result<Self, MoneyError> {
        if won < 0 {
            Err(MoneyError::Negative)
        } else {
            Ok(Self(won))
        }
    }

    /// The amount in won.
    #[must_use]
    pub const fn won(self) -> i64 {
        self.0
    }

    /// `self + other`, or `None` on overflow.
    #[must_use]
    pub const fn checked_add(self, other: Self) -> Option<Self> {
        match self.0.checked_add(other.0) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// `self - other`, or `None` when the result would be negative.
    #[must_use]
    pub const fn checked_sub(self, other: Self) -> Option<Self> {
        if other.0 > self.0 {
            None
        } else {
            Some(Self(self.0 - other.0))
        }
    }

    /// Sums amounts, or `None` on overflow.
    pub fn checked_sum<I: IntoIterator<Item = Self>>(items: I) -> Option<Self> {
        items
            .into_iter()
            .try_fold(Self::ZERO, |acc, m| acc.checked_add(m))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} KRW", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn negative_money_is_refused() {
        assert_eq!(Money::new(-1), Err(MoneyError::Negative));
        assert_eq!(Money::new(0), Ok(Money::ZERO));
    }

    #[test]
    fn subtraction_never_goes_below_zero() {
        let ten = Money::new(10).unwrap_or_default();
        let eleven = Money::new(11).unwrap_or_default();
        assert_eq!(ten.checked_sub(eleven), None);
        assert_eq!(eleven.checked_sub(ten), Money::new(1).ok());
    }

    #[test]
    fn addition_overflow_is_none() {
        let max = Money::new(i64::MAX).unwrap_or_default();
        assert_eq!(max.checked_add(Money::new(1).unwrap_or_default()), None);
    }

    proptest! {
        #[test]
        fn add_then_sub_round_trips(a in 0i64..i64::MAX / 2, b in 0i64..i64::MAX / 2) {
            let (a, b) = (Money::new(a).unwrap_or_default(), Money::new(b).unwrap_or_default());
            prop_assert_eq!(a.checked_add(b).and_then(|s| s.checked_sub(b)), Some(a));
        }
    }
}

//! Operator-tunable limits, validated once at start-up and handed to the use cases and stores.
//! The rules name the value they refuse ([`PolicyField`]); how an operator spells it (an
//! environment variable, a flag) is the configuration layer's business.

use crate::Money;
use std::time::Duration;

/// The default largest single charge: 1,000,000 KRW.
pub const DEFAULT_CHARGE_MAX: Money = const_won(1_000_000);
/// The default largest wallet balance: 100,000,000 KRW.
pub const DEFAULT_BALANCE_MAX: Money = const_won(100_000_000);
/// The default most seats in one hold.
pub const DEFAULT_MAX_SEATS_PER_RESERVATION: u32 = 4;
/// The default most seats one user may hold at once, over all holds.
pub const DEFAULT_MAX_SEATS_HELD_PER_USER: u32 = 4;

/// An amount known at compile time to be valid.
const fn const_won(won: i64) -> Money {
    match Money::new(won) {
        Ok(money) => money,
        Err(_) => panic!("a policy default is not negative"),
    }
}

/// A value of a policy, as the rules name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyField {
    /// [`QueuePolicy::admit_batch`].
    QueueAdmitBatch,
    /// [`QueuePolicy::max_active`].
    QueueMaxActive,
    /// [`QueuePolicy::admit_interval`].
    QueueAdmitInterval,
    /// [`QueuePolicy::active_ttl`].
    QueueActiveTtl,
    /// [`QueuePolicy::idle_timeout`].
    QueueIdleTimeout,
    /// [`HoldPolicy::ttl`].
    HoldTtl,
    /// [`HoldPolicy::max_seats_per_reservation`].
    MaxSeatsPerReservation,
    /// [`HoldPolicy::max_seats_held_per_user`].
    MaxSeatsHeldPerUser,
    /// [`WalletPolicy::charge_max`].
    ChargeMax,
    /// [`WalletPolicy::balance_max`].
    BalanceMax,
}

impl PolicyField {
    /// Every field, in declaration order.
    pub const ALL: [Self; 10] = [
        Self::QueueAdmitBatch,
        Self::QueueMaxActive,
        Self::QueueAdmitInterval,
        Self::QueueActiveTtl,
        Self::QueueIdleTimeout,
        Self::HoldTtl,
        Self::MaxSeatsPerReservation,
        Self::MaxSeatsHeldPerUser,
        Self::ChargeMax,
        Self::BalanceMax,
    ];
}

/// The rule a policy value broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyRule {
    /// A count of 0.
    AtLeastOne,
    /// A zero duration.
    LongerThanZero,
    /// More than another field allows.
    NotAbove(PolicyField),
}

/// Why a policy value was refused. Its `Display` names fields as the domain does (`ChargeMax`);
/// the configuration layer reports it with the setting's own name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid policy value {field:?}: {rule:?}")]
pub struct InvalidPolicy {
    /// The refused value.
    pub field: PolicyField,
    /// The rule it broke.
    pub rule: PolicyRule,
}

fn positive(field: PolicyField, value: u32) -> Result<u32, InvalidPolicy> {
    if value == 0 {
        Err(InvalidPolicy {
            field,
            rule: PolicyRule::AtLeastOne,
        })
    } else {
        Ok(value)
    }
}

fn nonzero_duration(field: PolicyField, value: Duration) -> Result<Duration, InvalidPolicy> {
    if value.is_zero() {
        Err(InvalidPolicy {
            field,
            rule: PolicyRule::LongerThanZero,
        })
    } else {
        Ok(value)
    }
}

/// How the waiting line behaves by default; `admit_batch` and `max_active` may be overridden per
/// concert by an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuePolicy {
    admit_batch: u32,
    max_active: u32,
    admit_interval: Duration,
    active_ttl: Duration,
    idle_timeout: Duration,
}

impl QueuePolicy {
    /// Validates the queue settings.
    ///
    /// # Errors
    /// [`InvalidPolicy`] when a count is 0 or a duration is zero.
    pub fn new(
        admit_batch: u32,
        max_active: u32,
        admit_interval: Duration,
        active_ttl: Duration,
        idle_timeout: Duration,
    ) -> Result<Self, InvalidPolicy> {
        Ok(Self {
            admit_batch: positive(PolicyField::QueueAdmitBatch, admit_batch)?,
            max_active: positive(PolicyField::QueueMaxActive, max_active)?,
            admit_interval: nonzero_duration(PolicyField::QueueAdmitInterval, admit_interval)?,
            active_ttl: nonzero_duration(PolicyField::QueueActiveTtl, active_ttl)?,
            idle_timeout: nonzero_duration(PolicyField::QueueIdleTimeout, idle_timeout)?,
        })
    }

    /// Default number of tokens admitted per concert per tick.
    #[must_use]
    pub const fn admit_batch(&self) -> u32 {
        self.admit_batch
    }
    /// Default cap of ACTIVE tokens per concert.
    #[must_use]
    pub const fn max_active(&self) -> u32 {
        self.max_active
    }
    /// Time between admission ticks.
    #[must_use]
    pub const fn admit_interval(&self) -> Duration {
        self.admit_interval
    }
    /// How long an admitted token stays ACTIVE.
    #[must_use]
    pub const fn active_ttl(&self) -> Duration {
        self.active_ttl
    }
    /// A WAITING token not polled for this long is dropped.
    #[must_use]
    pub const fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }
}

/// How seat holds behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldPolicy {
    ttl: Duration,
    max_seats_per_reservation: u32,
    max_seats_held_per_user: u32,
}

impl HoldPolicy {
    /// Validates the hold settings.
    ///
    /// # Errors
    /// [`InvalidPolicy`] when a limit is 0 or the TTL is zero. (A per-hold limit above the
    /// per-user one is allowed here, the store then refuses such holds; the configuration
    /// refuses it for the service.)
    pub fn new(
        ttl: Duration,
        max_seats_per_reservation: u32,
        max_seats_held_per_user: u32,
    ) -> Result<Self, InvalidPolicy> {
        let policy = Self {
            ttl: nonzero_duration(PolicyField::HoldTtl, ttl)?,
            max_seats_per_reservation: positive(
                PolicyField::MaxSeatsPerReservation,
                max_seats_per_reservation,
            )?,
            max_seats_held_per_user: positive(
                PolicyField::MaxSeatsHeldPerUser,
                max_seats_held_per_user,
            )?,
        };
        Ok(policy)
    }

    /// How long a hold lasts.
    #[must_use]
    pub const fn ttl(&self) -> Duration {
        self.ttl
    }
    /// Seats in one hold, at most.
    #[must_use]
    pub const fn max_seats_per_reservation(&self) -> u32 {
        self.max_seats_per_reservation
    }
    /// Seats one user may hold at once over all live holds.
    #[must_use]
    pub const fn max_seats_held_per_user(&self) -> u32 {
        self.max_seats_held_per_user
    }
}

/// Wallet limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalletPolicy {
    charge_max: Money,
    balance_max: Money,
}

impl WalletPolicy {
    /// Validates the wallet limits.
    ///
    /// # Errors
    /// [`InvalidPolicy`] when a limit is 0 or the charge maximum exceeds the balance maximum.
    pub fn new(charge_max: Money, balance_max: Money) -> Result<Self, InvalidPolicy> {
        if charge_max == Money::ZERO {
            return Err(InvalidPolicy {
                field: PolicyField::ChargeMax,
                rule: PolicyRule::AtLeastOne,
            });
        }
        if charge_max > balance_max {
            return Err(InvalidPolicy {
                field: PolicyField::ChargeMax,
                rule: PolicyRule::NotAbove(PolicyField::BalanceMax),
            });
        }
        Ok(Self {
            charge_max,
            balance_max,
        })
    }

    /// Largest single charge.
    #[must_use]
    pub const fn charge_max(&self) -> Money {
        self.charge_max
    }
    /// Largest balance a wallet may reach.
    #[must_use]
    pub const fn balance_max(&self) -> Money {
        self.balance_max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_limits_are_refused() {
        let s = Duration::from_secs(1);
        assert!(QueuePolicy::new(0, 1, s, s, s).is_err());
        assert!(QueuePolicy::new(1, 1, s, Duration::ZERO, s).is_err());
        assert!(HoldPolicy::new(s, 0, 4).is_err());
        assert!(WalletPolicy::new(Money::ZERO, Money::ZERO).is_err());
    }

    #[test]
    fn charge_max_cannot_exceed_balance_max() {
        let m = |v| Money::new(v).unwrap_or_default();
        assert_eq!(
            WalletPolicy::new(m(10), m(5)),
            Err(InvalidPolicy {
                field: PolicyField::ChargeMax,
                rule: PolicyRule::NotAbove(PolicyField::BalanceMax),
            })
        );
        assert!(WalletPolicy::new(m(5), m(10)).is_ok());
        assert!(WalletPolicy::new(DEFAULT_CHARGE_MAX, DEFAULT_BALANCE_MAX).is_ok());
    }

    #[test]
    fn a_refusal_names_the_field_and_the_rule() {
        // Arrange
        let s = Duration::from_secs(1);

        // Act
        let hold = HoldPolicy::new(Duration::ZERO, 1, 1);
        let queue = QueuePolicy::new(1, 0, s, s, s);

        // Assert
        assert_eq!(
            hold,
            Err(InvalidPolicy {
                field: PolicyField::HoldTtl,
                rule: PolicyRule::LongerThanZero,
            })
        );
        assert_eq!(
            queue,
            Err(InvalidPolicy {
                field: PolicyField::QueueMaxActive,
                rule: PolicyRule::AtLeastOne,
            })
        );
    }
}

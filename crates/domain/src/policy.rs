//! Operator-tunable limits, validated once at start-up and handed to the use cases and stores.

use crate::Money;
use std::time::Duration;

/// Why a policy value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid setting {name}: {reason}")]
pub struct InvalidPolicy {
    /// The setting's name.
    pub name: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

fn positive(name: &'static str, value: u32) -> Result<u32, InvalidPolicy> {
    if value == 0 {
        Err(InvalidPolicy {
            name,
            reason: "must be at least 1",
        })
    } else {
        Ok(value)
    }
}

fn nonzero_duration(name: &'static str, value: Duration) -> Result<Duration, InvalidPolicy> {
    if value.is_zero() {
        Err(InvalidPolicy {
            name,
            reason: "must be longer than zero",
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
            admit_batch: positive("QUEUE_ADMIT_BATCH", admit_batch)?,
            max_active: positive("QUEUE_MAX_ACTIVE", max_active)?,
            admit_interval: nonzero_duration("QUEUE_ADMIT_INTERVAL_MS", admit_interval)?,
            active_ttl: nonzero_duration("QUEUE_ACTIVE_TTL_SECS", active_ttl)?,
            idle_timeout: nonzero_duration("QUEUE_IDLE_TIMEOUT_SECS", idle_timeout)?,
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
    /// [`InvalidPolicy`] when a limit is 0, the TTL is zero, or one hold could exceed the per-user cap.
    pub fn new(
        ttl: Duration,
        max_seats_per_reservation: u32,
        max_seats_held_per_user: u32,
    ) -> Result<Self, InvalidPolicy> {
        let policy = Self {
            ttl: nonzero_duration("HOLD_TTL_SECS", ttl)?,
            max_seats_per_reservation: positive(
                "MAX_SEATS_PER_RESERVATION",
                max_seats_per_reservation,
            )?,
            max_seats_held_per_user: positive("MAX_SEATS_HELD_PER_USER", max_seats_held_per_user)?,
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
                name: "CHARGE_MAX",
                reason: "must be at least 1",
            });
        }
        if charge_max > balance_max {
            return Err(InvalidPolicy {
                name: "CHARGE_MAX",
                reason: "must not exceed BALANCE_MAX",
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
        assert!(WalletPolicy::new(m(10), m(5)).is_err());
        assert!(WalletPolicy::new(m(5), m(10)).is_ok());
    }
}

//! A test-only switch that turns one of the store's guards off, so that a race test can prove it
//! would catch the failure the guard prevents (a negative control).
//!
//! Every store starts with every guard on, and nothing in the binary (no setting, flag or
//! environment variable) reaches
//! [`MemoryStore::with_guard_disabled`](crate::MemoryStore::with_guard_disabled): only a test
//! calls it, on a store of its own. With every guard on, every method takes exactly the path it
//! takes without this module; with a guard off the store really does the unsafe thing.

/// A check the store makes to keep an invariant, which a negative control can switch off.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Guard {
    /// A hold refuses seats that are sold or under an unexpired hold. Off: every hold of
    /// existing seats succeeds (the seat's claim moves to the newest hold).
    SeatAvailability,
    /// A payment confirms only a HELD reservation whose `held_until` is still ahead. Off: any
    /// reservation of the payer is confirmed (and paid) again.
    Payable,
    /// A payment needs the payer's ACTIVE queue token (which the payment then expires). Off: the
    /// token is not checked (nor locked).
    TokenActive,
    /// A payment debits only a wallet that covers the price. Off: the debit always happens; as
    /// `Money` cannot go negative, the balance stops at 0 while the ledger records the full
    /// debit (so balance and ledger disagree, as they would in a store that allowed it).
    Balance,
}

impl Guard {
    const fn bit(self) -> u8 {
        match self {
            Self::SeatAvailability => 1,
            Self::Payable => 4,
            Self::TokenActive => 8,
            Self::Balance => 16,
        }
    }
}

/// Which guards are on: all of them unless a test said otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Guards {
    disabled: u8,
}

impl Guards {
    /// True unless `guard` was switched off.
    pub(crate) const fn on(self, guard: Guard) -> bool {
        self.disabled & guard.bit() == 0
    }

    /// The same set with `guard` off.
    pub(crate) const fn without(self, guard: Guard) -> Self {
        Self {
            disabled: self.disabled | guard.bit(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_guard_is_on_by_default_and_switches_off_alone() {
        let all = [
            Guard::SeatAvailability,
            Guard::Payable,
            Guard::TokenActive,
            Guard::Balance,
        ];
        let guards = Guards::default();
        assert!(all.iter().all(|g| guards.on(*g)));
        let off = guards.without(Guard::Payable);
        for g in all {
            assert_eq!(off.on(g), g != Guard::Payable);
        }
    }
}

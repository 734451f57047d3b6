//! Names the guards that keep the invariants, so that a race test can switch one off and prove
//! it would catch the failure the guard prevents (a negative control).
//!
//! Every store starts with every guard on, and nothing in the service can turn one off:
//! * the in-memory store switches a guard off with `Guards::without`, which compiles only with
//!   the cargo feature `negative-controls` (test builds only);
//! * PostgreSQL's guards are SQL functions the statements call (`hold_payable`, `token_active`,
//!   `taken_seats`, `release_lapsed_holds`, `wallet_covers`,
//!   `refund_allowed`); a negative control replaces one in
//!   its own test database (`crates/adapters-postgres/tests/common/controls.rs`). The lock order
//!   is PostgreSQL's one guard in code, behind the same feature.
//!
//! Either way the store runs the same path as in service with only the guard changed. Turning a
//! guard off makes the store do the unsafe thing for real; the schema's own line of defence for
//! that invariant (index, CHECK or trigger) still refuses it, so a negative control also drops
//! that in its database (the guard's documentation names it).

/// A check the store makes to keep an invariant, which a negative control can switch off.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Guard {
    /// A hold refuses seats that are sold or under an unexpired hold (and first releases lapsed
    /// holds on them). Off: every hold of existing seats succeeds. Schema backstop: the partial
    /// unique index `reservation_seats_one_live`.
    SeatAvailability,
    /// Seats are locked in ascending id order, and a transaction that hits a deadlock is re-run
    /// (PostgreSQL only: the in-memory store takes no row locks, so this changes nothing there).
    /// Off: every second hold transaction locks its seats in descending order, and a deadlock is
    /// not retried (PostgreSQL counts it; one that reaches a caller is a store error).
    LockOrder,
    /// A payment confirms only a HELD reservation whose `held_until` is still ahead. Off: any
    /// reservation of the payer is confirmed (and paid) again. Schema backstops: the trigger
    /// `reservations_release_seats` and the constraint `payments_reservation_key`.
    Payable,
    /// A payment needs the payer's ACTIVE queue token (which the payment then expires). Off: a
    /// token of the payer for the concert admits whatever its status and window.
    TokenActive,
    /// A payment debits only a wallet that covers the price. Off: the debit always happens, and a
    /// negative balance is reported as 0 in the receipt. Schema backstops: the CHECKs
    /// `wallets_balance_check` and `ledger_entries_balance_after_check`.
    Balance,
    /// A refund credits only a reservation that is CONFIRMED when judged under its lock
    /// (PostgreSQL: the function `refund_allowed`). Off: a reservation of the caller is refunded
    /// whatever its status (so twice, or before it was paid). Schema backstops: the constraint
    /// `refunds_reservation_key` and the trigger `reservations_release_seats` (REFUNDED only
    /// from CONFIRMED).
    Refundable,
    /// The waiting-list offer step offers only seats that are free (not sold, not under an
    /// unexpired hold), one date at a time, re-checked once the seats are locked. Off: the
    /// in-memory store offers any seat of the date; a PostgreSQL test database replaces
    /// `lock_waitlist_date` (no date lock) and `offerable_seats` (no re-check after the seat
    /// locks). Schema backstops: `reservation_seats_one_live` and
    /// `waitlist_entries_one_offer_per_seat`.
    WaitlistOffer,
}

impl Guard {
    const fn bit(self) -> u8 {
        match self {
            Self::SeatAvailability => 1,
            Self::LockOrder => 2,
            Self::Payable => 4,
            Self::TokenActive => 8,
            Self::Balance => 16,
            Self::Refundable => 32,
            Self::WaitlistOffer => 64,
        }
    }
}

/// Which guards are on: all of them unless a test said otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[doc(hidden)]
pub struct Guards {
    disabled: u8,
}

impl Guards {
    /// True unless `guard` was switched off.
    pub const fn on(self, guard: Guard) -> bool {
        self.disabled & guard.bit() == 0
    }

    /// The same set with `guard` off (test builds only).
    #[cfg(feature = "negative-controls")]
    pub const fn without(self, guard: Guard) -> Self {
        Self {
            disabled: self.disabled | guard.bit(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(feature = "negative-controls")]
    fn every_guard_is_on_by_default_and_switches_off_alone() {
        let all = [
            Guard::SeatAvailability,
            Guard::LockOrder,
            Guard::Payable,
            Guard::TokenActive,
            Guard::Balance,
            Guard::Refundable,
            Guard::WaitlistOffer,
        ];
        let guards = Guards::default();
        assert!(all.iter().all(|g| guards.on(*g)));
        let off = guards.without(Guard::Payable);
        for g in all {
            assert_eq!(off.on(g), g != Guard::Payable);
        }
    }
}

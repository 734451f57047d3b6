//! Waiting lists for sold-out dates: WAITING → OFFERED → FULFILLED | EXPIRED, and LEFT.
//!
//! While a date has WAITING entries, its free seats are kept for the list: an ordinary hold
//! refuses them ([`seat_free_for_hold`]) and the offer step gives each one to the earliest
//! WAITING entry as a HELD reservation of that seat for the entry's user, held for the offer
//! TTL. Both stores decide with the functions of this module.

use crate::{ReservationId, ReservationStatus, ScheduleId, SeatId, StoreError, Timestamp, UserId};
use std::fmt;
use std::time::Duration;
use uuid::Uuid;

/// The default time an offered seat is held for its entry (`WAITLIST_OFFER_TTL_SECS`).
pub const DEFAULT_WAITLIST_OFFER_TTL: Duration = Duration::from_secs(120);

/// One entry of a date's waiting list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WaitlistEntryId(Uuid);

impl WaitlistEntryId {
    /// Wraps a UUID produced by the id generator or read back from a store.
    #[must_use]
    pub const fn from_uuid(value: Uuid) -> Self {
        Self(value)
    }

    /// The raw UUID, for storage and serialisation.
    #[must_use]
    pub const fn get(self) -> Uuid {
        self.0
    }
}

impl fmt::Display for WaitlistEntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// How waiting-list offers behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitlistPolicy {
    offer_ttl: Duration,
}

impl WaitlistPolicy {
    /// An offer TTL of at least one second; `None` for a shorter one.
    #[must_use]
    pub fn new(offer_ttl: Duration) -> Option<Self> {
        (offer_ttl >= Duration::from_secs(1)).then_some(Self { offer_ttl })
    }

    /// How long an offered seat is held for its entry.
    #[must_use]
    pub const fn offer_ttl(&self) -> Duration {
        self.offer_ttl
    }
}

impl Default for WaitlistPolicy {
    fn default() -> Self {
        Self {
            offer_ttl: DEFAULT_WAITLIST_OFFER_TTL,
        }
    }
}

/// An entry's state. A stored OFFERED entry follows its offer reservation: see
/// [`effective_entry_status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WaitlistStatus {
    /// In line for a seat of the date.
    Waiting,
    /// A seat is held for the entry's user until the offer's `held_until`.
    Offered,
    /// The offer was paid. Final.
    Fulfilled,
    /// The offer was not paid in time. Final.
    Expired,
    /// The user left the list (or cancelled the offered hold). Final.
    Left,
}

impl WaitlistStatus {
    /// The contract's spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "WAITING",
            Self::Offered => "OFFERED",
            Self::Fulfilled => "FULFILLED",
            Self::Expired => "EXPIRED",
            Self::Left => "LEFT",
        }
    }

    /// Parses the contract's spelling (used by stores).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "WAITING" => Some(Self::Waiting),
            "OFFERED" => Some(Self::Offered),
            "FULFILLED" => Some(Self::Fulfilled),
            "EXPIRED" => Some(Self::Expired),
            "LEFT" => Some(Self::Left),
            _ => None,
        }
    }

    /// WAITING or OFFERED: the one entry a user may have per date.
    #[must_use]
    pub const fn is_live(self) -> bool {
        matches!(self, Self::Waiting | Self::Offered)
    }
}

/// The status at `now` of an entry stored as `stored` whose offer reservation (if any) is, in
/// effect, `offer`: an OFFERED entry whose hold lapsed is EXPIRED at once, one whose hold was
/// cancelled is LEFT, and one whose hold was paid is FULFILLED.
#[must_use]
pub const fn effective_entry_status(
    stored: WaitlistStatus,
    offer: Option<ReservationStatus>,
) -> WaitlistStatus {
    match (stored, offer) {
        (WaitlistStatus::Offered, Some(ReservationStatus::Expired)) => WaitlistStatus::Expired,
        (WaitlistStatus::Offered, Some(ReservationStatus::Cancelled)) => WaitlistStatus::Left,
        (WaitlistStatus::Offered, Some(ReservationStatus::Confirmed)) => WaitlistStatus::Fulfilled,
        (status, _) => status,
    }
}

/// THE rule of the list, for both stores: a seat is free for an ordinary hold only when it is
/// not taken (sold, or under an unexpired hold) and its date has no WAITING entry. While a date
/// has WAITING entries its free seats are kept for the offer step, so a seat that comes back
/// (a hold that lapsed or was cancelled, a refund) is never caught by a hold between its return
/// and its offer.
#[must_use]
pub const fn seat_free_for_hold(taken: bool, date_has_waiting: bool) -> bool {
    !taken && !date_has_waiting
}

/// A seat held for an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitlistOffer {
    /// The HELD reservation of the seat, for the entry's user.
    pub reservation_id: ReservationId,
    /// The seat.
    pub seat_id: SeatId,
    /// When the offer lapses.
    pub held_until: Timestamp,
}

/// An entry as its user sees it; `status` is already the effective one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitlistEntry {
    /// Its id.
    pub id: WaitlistEntryId,
    /// Its user.
    pub user_id: UserId,
    /// The date waited for.
    pub schedule_id: ScheduleId,
    /// Effective status.
    pub status: WaitlistStatus,
    /// 1-based place among the date's WAITING entries; `None` unless WAITING.
    pub position: Option<u32>,
    /// The seat held for the entry; `Some` only while OFFERED.
    pub offer: Option<WaitlistOffer>,
    /// When the user joined.
    pub created_at: Timestamp,
}

/// A join's answer from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitlistJoined {
    /// The live entry (new or existing).
    pub entry: WaitlistEntry,
    /// True when a new entry was made (201), false for the user's live one (200).
    pub created: bool,
}

/// What a store found about a join under its locks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinFacts {
    /// The date exists and has not started.
    pub schedule_open: bool,
    /// The user already has a live entry for the date.
    pub has_live_entry: bool,
    /// Seats of the date that are not taken.
    pub free_seats: usize,
    /// WAITING entries of the date.
    pub waiting: usize,
}

/// What to do with a join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinVerdict {
    /// Answer the user's live entry (200).
    Existing,
    /// Make a new WAITING entry at the back of the list (201).
    Create,
}

impl JoinFacts {
    /// Judges a join: an unknown or started date, then the user's live entry, then a seat the
    /// user could hold right now ([`seat_free_for_hold`]).
    ///
    /// # Errors
    /// [`JoinWaitlistError::ScheduleNotFound`], [`JoinWaitlistError::SeatsAvailable`].
    pub const fn verdict(self) -> Result<JoinVerdict, JoinWaitlistError> {
        if !self.schedule_open {
            return Err(JoinWaitlistError::ScheduleNotFound);
        }
        if self.has_live_entry {
            return Ok(JoinVerdict::Existing);
        }
        if self.free_seats > 0 && seat_free_for_hold(false, self.waiting > 0) {
            return Err(JoinWaitlistError::SeatsAvailable);
        }
        Ok(JoinVerdict::Create)
    }
}

/// Joining a date's waiting list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinWaitlistError {
    /// No such date, or it has started.
    #[error("schedule not found")]
    ScheduleNotFound,
    /// The date has a seat the caller can hold now.
    #[error("the date has an available seat")]
    SeatsAvailable,
    /// The queue token does not let the caller in.
    #[error(transparent)]
    Access(#[from] crate::QueueAccessError),
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reading or leaving one's own entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaitlistEntryError {
    /// None of the caller's entries has this id.
    #[error("waiting-list entry not found")]
    NotFound,
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An operator's view of one date's waiting list: its entries counted by effective status
/// ([`effective_entry_status`]), so a lapsed offer counts as EXPIRED at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WaitlistCounts {
    /// WAITING entries.
    pub waiting: u64,
    /// OFFERED entries (their hold is live).
    pub offered: u64,
    /// FULFILLED entries.
    pub fulfilled: u64,
    /// EXPIRED entries.
    pub expired: u64,
    /// LEFT entries.
    pub left: u64,
}

impl WaitlistCounts {
    /// Adds `n` entries of effective status `status`.
    pub fn add(&mut self, status: WaitlistStatus, n: u64) {
        let slot = match status {
            WaitlistStatus::Waiting => &mut self.waiting,
            WaitlistStatus::Offered => &mut self.offered,
            WaitlistStatus::Fulfilled => &mut self.fulfilled,
            WaitlistStatus::Expired => &mut self.expired,
            WaitlistStatus::Left => &mut self.left,
        };
        *slot = slot.saturating_add(n);
    }
}

/// An operator's read of a date's waiting list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaitlistCountsError {
    /// No such date.
    #[error("schedule not found")]
    ScheduleNotFound,
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Pairs the free seats of a date (ascending id) with its WAITING entries (in list order):
/// the earliest entry gets the lowest seat. Returns the pairs to offer.
#[must_use]
pub fn pair_offers<E: Copy>(free_seats: &[SeatId], waiting: &[E]) -> Vec<(E, SeatId)> {
    waiting
        .iter()
        .copied()
        .zip(free_seats.iter().copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offered_entry_follows_its_reservation() {
        use ReservationStatus as R;
        use WaitlistStatus as W;
        assert_eq!(
            effective_entry_status(W::Offered, Some(R::Held)),
            W::Offered
        );
        assert_eq!(
            effective_entry_status(W::Offered, Some(R::Expired)),
            W::Expired
        );
        assert_eq!(
            effective_entry_status(W::Offered, Some(R::Cancelled)),
            W::Left
        );
        assert_eq!(
            effective_entry_status(W::Offered, Some(R::Confirmed)),
            W::Fulfilled
        );
        assert_eq!(effective_entry_status(W::Waiting, None), W::Waiting);
        assert_eq!(effective_entry_status(W::Left, Some(R::Expired)), W::Left);
    }

    #[test]
    fn a_join_is_judged_schedule_then_live_entry_then_free_seats() {
        let facts = JoinFacts {
            schedule_open: true,
            has_live_entry: false,
            free_seats: 0,
            waiting: 0,
        };
        assert_eq!(facts.verdict(), Ok(JoinVerdict::Create));
        let free = JoinFacts {
            free_seats: 2,
            ..facts
        };
        assert_eq!(free.verdict(), Err(JoinWaitlistError::SeatsAvailable));
        // Free seats kept for a list are not available to the caller.
        assert_eq!(
            JoinFacts { waiting: 1, ..free }.verdict(),
            Ok(JoinVerdict::Create)
        );
        assert_eq!(
            JoinFacts {
                has_live_entry: true,
                ..free
            }
            .verdict(),
            Ok(JoinVerdict::Existing)
        );
        assert_eq!(
            JoinFacts {
                schedule_open: false,
                ..free
            }
            .verdict(),
            Err(JoinWaitlistError::ScheduleNotFound)
        );
    }

    #[test]
    fn counts_go_by_effective_status() {
        let mut counts = WaitlistCounts::default();
        counts.add(
            effective_entry_status(WaitlistStatus::Offered, Some(ReservationStatus::Expired)),
            2,
        );
        counts.add(WaitlistStatus::Waiting, 3);
        counts.add(WaitlistStatus::Offered, 1);
        assert_eq!(
            counts,
            WaitlistCounts {
                waiting: 3,
                offered: 1,
                expired: 2,
                ..WaitlistCounts::default()
            }
        );
    }

    #[test]
    fn seats_are_kept_for_a_list_with_waiting_entries() {
        assert!(seat_free_for_hold(false, false));
        assert!(!seat_free_for_hold(false, true));
        assert!(!seat_free_for_hold(true, false));
    }

    #[test]
    fn the_earliest_entry_gets_the_lowest_seat() {
        let s = |n| SeatId::new(n).expect("positive");
        assert_eq!(
            pair_offers(&[s(3), s(5)], &[10, 20, 30]),
            vec![(10, s(3)), (20, s(5))]
        );
        assert_eq!(pair_offers::<i32>(&[s(3)], &[]), vec![]);
        assert_eq!(
            WaitlistStatus::parse(WaitlistStatus::Left.as_str()),
            Some(WaitlistStatus::Left)
        );
        assert!(WaitlistPolicy::new(Duration::from_millis(10)).is_none());
    }
}

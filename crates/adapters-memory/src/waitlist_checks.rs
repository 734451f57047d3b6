//! Invariant 7 of the in-memory store (waiting lists), as `check_invariants` runs it: an
//! OFFERED entry has exactly one live HELD offer reservation, of one seat of its date, for its
//! user; no seat has two live offers; one live entry per user and date; a WAITING entry has no
//! offer and is in its list.

use crate::state::State;
use domain::{
    effective_reservation_status, ReservationStatus, ScheduleId, SeatId, Timestamp, UserId,
    WaitlistStatus,
};
use std::collections::HashMap;

impl State {
    /// Invariant 7 (waiting lists), as `(check, detail)` findings.
    pub(crate) fn check_waitlists(&self, now: Timestamp) -> Vec<(&'static str, String)> {
        let mut found = Vec::new();
        let mut offers_of_seat: HashMap<SeatId, usize> = HashMap::new();
        let mut live_of: HashMap<(UserId, ScheduleId), usize> = HashMap::new();
        for (id, e) in &self.waitlists.entries {
            let status = self.entry_status(e, now);
            if status.is_live() {
                *live_of.entry((e.user_id, e.schedule_id)).or_default() += 1;
            }
            match status {
                WaitlistStatus::Waiting => {
                    let indexed = self
                        .waitlists
                        .waiting
                        .get(&e.schedule_id)
                        .and_then(|w| w.get(&e.seq))
                        == Some(id);
                    if e.offer.is_some() || !indexed {
                        found.push((
                            "waitlist_waiting_consistent",
                            format!("WAITING entry {id} has an offer or is not in its list"),
                        ));
                    }
                }
                WaitlistStatus::Offered => {
                    let ok = e.offer.is_some_and(|(r, seat)| {
                        self.reservations.get(&r).is_some_and(|res| {
                            res.user_id == e.user_id
                                && res.schedule_id == e.schedule_id
                                && effective_reservation_status(res.status, res.held_until, now)
                                    == ReservationStatus::Held
                                && res.seats.len() == 1
                                && res.seats[0].seat_id == seat
                                && self.seats.get(&seat).and_then(|s| s.claim) == Some(r)
                        })
                    });
                    if !ok {
                        found.push((
                            "waitlist_offer_live_hold",
                            format!("OFFERED entry {id} has no live HELD offer of one seat"),
                        ));
                    }
                    if let Some((_, seat)) = e.offer {
                        *offers_of_seat.entry(seat).or_default() += 1;
                    }
                }
                _ => {}
            }
        }
        for (seat, n) in offers_of_seat {
            if n > 1 {
                found.push((
                    "waitlist_one_offer_per_seat",
                    format!("seat {seat} has {n} live offers"),
                ));
            }
        }
        for ((user, schedule), n) in live_of {
            if n > 1 {
                found.push((
                    "waitlist_one_live_entry",
                    format!("user {user} has {n} live entries for schedule {schedule}"),
                ));
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::EntryRecord;
    use crate::store::MemoryStore;
    use crate::time::tests::FixedClock;
    use domain::WaitlistEntryId;
    use std::sync::Arc;

    fn record(user: i64, status: WaitlistStatus, seq: u64) -> EntryRecord {
        EntryRecord {
            user_id: UserId::new(user).expect("positive"),
            schedule_id: ScheduleId::new(1).expect("positive"),
            seq,
            status,
            offer: None,
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn broken_entries_are_reported() {
        // Arrange: an OFFERED entry without a live hold, a WAITING one missing from its list,
        // and two live entries of one user for one date.
        let store = MemoryStore::new(Arc::new(FixedClock::default()));
        let mut state = store.state();
        let id = |n: u128| WaitlistEntryId::from_uuid(uuid::Uuid::from_u128(n));
        state
            .waitlists
            .entries
            .insert(id(1), record(5, WaitlistStatus::Offered, 1));
        state
            .waitlists
            .entries
            .insert(id(2), record(5, WaitlistStatus::Waiting, 2));
        // Act
        let mut found: Vec<&str> = state
            .check_waitlists(chrono::Utc::now())
            .into_iter()
            .map(|(check, _)| check)
            .collect();
        found.sort_unstable();
        // Assert
        assert_eq!(
            found,
            vec![
                "waitlist_offer_live_hold",
                "waitlist_one_live_entry",
                "waitlist_waiting_consistent"
            ]
        );
    }
}

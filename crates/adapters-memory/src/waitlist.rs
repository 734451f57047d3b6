//! Waiting lists: joins, reads, leaving, and the offer step ([`State::offer_waitlist_seats`],
//! the one callable unit every seat-freeing change runs: cancel and leave here, refunds when
//! wired). The rules are the domain's (`domain::waitlist`).

use crate::state::{EntryRecord, SeatRecord, State};
use crate::store::MemoryStore;
use crate::time::plus;
use async_trait::async_trait;
use domain::guards::{Guard, Guards};
use domain::ports::WaitlistStore;
use domain::{
    effective_entry_status, effective_reservation_status, pair_offers, seat_free_for_hold, Cursor,
    JoinFacts, JoinVerdict, JoinWaitlistError, Page, PageRequest, Reservation, ReservationId,
    ReservationStatus, ReservedSeat, ScheduleId, SeatId, StoreError, Timestamp, UserId,
    WaitlistCounts, WaitlistEntry, WaitlistEntryError, WaitlistEntryId, WaitlistJoined,
    WaitlistOffer, WaitlistPolicy, WaitlistStatus,
};

/// The cursor of an entry in `(created_at, id)` order.
fn entry_cursor(e: &WaitlistEntry) -> Cursor {
    Cursor {
        created_at: e.created_at,
        id: e.id.get(),
    }
}

impl State {
    /// Whether the date has WAITING entries (its free seats are then kept for the list).
    pub(crate) fn has_waiting(&self, schedule_id: ScheduleId) -> bool {
        self.waitlists
            .waiting
            .get(&schedule_id)
            .is_some_and(|w| !w.is_empty())
    }

    /// THE rule ([`seat_free_for_hold`]): free for an ordinary hold, and listed available.
    pub(crate) fn seat_free_for_hold(&self, seat: &SeatRecord, now: Timestamp) -> bool {
        seat_free_for_hold(
            !self.seat_available(seat, now),
            self.has_waiting(seat.schedule_id),
        )
    }

    /// Whether `r` (effective status) is the offer of a stored-OFFERED entry and still HELD.
    pub(crate) fn is_live_offer(&self, r: &Reservation) -> bool {
        r.status == ReservationStatus::Held
            && self
                .waitlists
                .by_offer
                .get(&r.id)
                .and_then(|e| self.waitlists.entries.get(e))
                .is_some_and(|e| e.status == WaitlistStatus::Offered)
    }

    /// A paid offer's entry becomes FULFILLED (called by the payment, in its critical section).
    pub(crate) fn fulfil_offer(&mut self, reservation: ReservationId) {
        if let Some(&entry) = self.waitlists.by_offer.get(&reservation) {
            self.settle_entry(entry, WaitlistStatus::Fulfilled);
        }
    }

    /// Moves a live entry to a final status, out of the WAITING/OFFERED indexes.
    fn settle_entry(&mut self, id: WaitlistEntryId, status: WaitlistStatus) {
        let Some(e) = self.waitlists.entries.get_mut(&id) else {
            return;
        };
        match e.status {
            WaitlistStatus::Waiting => {
                if let Some(w) = self.waitlists.waiting.get_mut(&e.schedule_id) {
                    w.remove(&e.seq);
                }
            }
            WaitlistStatus::Offered => {
                if let Some(o) = self.waitlists.offered.get_mut(&e.schedule_id) {
                    o.remove(&id);
                }
            }
            _ => return,
        }
        e.status = status;
    }

    /// The effective status of a stored entry at `now`.
    pub(crate) fn entry_status(&self, e: &EntryRecord, now: Timestamp) -> WaitlistStatus {
        let offer = e
            .offer
            .and_then(|(r, _)| self.reservations.get(&r))
            .map(|r| effective_reservation_status(r.status, r.held_until, now));
        effective_entry_status(e.status, offer)
    }

    /// An entry as its user sees it.
    fn entry_view(&self, id: WaitlistEntryId, now: Timestamp) -> Option<WaitlistEntry> {
        let e = self.waitlists.entries.get(&id)?;
        let status = self.entry_status(e, now);
        let position = (status == WaitlistStatus::Waiting).then(|| {
            let ahead = self
                .waitlists
                .waiting
                .get(&e.schedule_id)
                .map_or(0, |w| w.range(..e.seq).count());
            u32::try_from(ahead + 1).unwrap_or(u32::MAX)
        });
        let offer = (status == WaitlistStatus::Offered)
            .then(|| {
                let (reservation_id, seat_id) = e.offer?;
                let r = self.reservations.get(&reservation_id)?;
                Some(WaitlistOffer {
                    reservation_id,
                    seat_id,
                    held_until: r.held_until,
                })
            })
            .flatten();
        Some(WaitlistEntry {
            id,
            user_id: e.user_id,
            schedule_id: e.schedule_id,
            status,
            position,
            offer,
            created_at: e.created_at,
        })
    }

    /// The user's live entry for the date, if any.
    fn live_entry_of(
        &self,
        user_id: UserId,
        schedule_id: ScheduleId,
        now: Timestamp,
    ) -> Option<WaitlistEntryId> {
        self.waitlists
            .by_user
            .get(&user_id)?
            .iter()
            .find_map(|(_, id)| {
                let e = self.waitlists.entries.get(id)?;
                (e.schedule_id == schedule_id && self.entry_status(e, now).is_live()).then_some(*id)
            })
    }

    fn join_waitlist(
        &mut self,
        user_id: UserId,
        schedule_id: ScheduleId,
        entry_id: WaitlistEntryId,
        now: Timestamp,
    ) -> Result<WaitlistJoined, JoinWaitlistError> {
        let schedule = self
            .schedules
            .get(&schedule_id)
            .filter(|s| s.starts_at > now);
        let free_seats = schedule.map_or(0, |s| {
            s.seats
                .iter()
                .filter_map(|id| self.seats.get(id))
                .filter(|seat| self.seat_available(seat, now))
                .count()
        });
        let live = self.live_entry_of(user_id, schedule_id, now);
        let verdict = JoinFacts {
            schedule_open: schedule.is_some(),
            has_live_entry: live.is_some(),
            free_seats,
            waiting: self
                .waitlists
                .waiting
                .get(&schedule_id)
                .map_or(0, |w| w.len()),
        }
        .verdict()?;
        let id = match (verdict, live) {
            (JoinVerdict::Existing, Some(id)) => {
                let entry = self.entry_view(id, now).ok_or_else(vanished)?;
                return Ok(WaitlistJoined {
                    entry,
                    created: false,
                });
            }
            _ => entry_id,
        };
        if self.waitlists.entries.contains_key(&id) {
            return Err(StoreError::Internal("entry id already used".into()).into());
        }
        self.waitlists.last_seq += 1;
        let seq = self.waitlists.last_seq;
        self.waitlists.entries.insert(
            id,
            EntryRecord {
                user_id,
                schedule_id,
                seq,
                status: WaitlistStatus::Waiting,
                offer: None,
                created_at: now,
            },
        );
        self.waitlists
            .by_user
            .entry(user_id)
            .or_default()
            .insert((now, id));
        self.waitlists
            .waiting
            .entry(schedule_id)
            .or_default()
            .insert(seq, id);
        let entry = self.entry_view(id, now).ok_or_else(vanished)?;
        Ok(WaitlistJoined {
            entry,
            created: true,
        })
    }

    fn waitlist_page(
        &self,
        user_id: UserId,
        page: PageRequest,
        now: Timestamp,
    ) -> Page<WaitlistEntry> {
        let Some(all) = self.waitlists.by_user.get(&user_id) else {
            return Page::from_overfetch(Vec::new(), page.limit(), entry_cursor);
        };
        let take = usize::try_from(page.limit())
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        let items: Vec<WaitlistEntry> = match page.after() {
            Some(c) => all
                .range(..(c.created_at, WaitlistEntryId::from_uuid(c.id)))
                .rev()
                .take(take)
                .filter_map(|(_, id)| self.entry_view(*id, now))
                .collect(),
            None => all
                .iter()
                .rev()
                .take(take)
                .filter_map(|(_, id)| self.entry_view(*id, now))
                .collect(),
        };
        Page::from_overfetch(items, page.limit(), entry_cursor)
    }

    /// A date's entries counted by effective status; `None` for an unknown date.
    fn waitlist_counts(&self, schedule_id: ScheduleId, now: Timestamp) -> Option<WaitlistCounts> {
        self.schedules.get(&schedule_id)?;
        let mut counts = WaitlistCounts::default();
        for e in self
            .waitlists
            .entries
            .values()
            .filter(|e| e.schedule_id == schedule_id)
        {
            counts.add(self.entry_status(e, now), 1);
        }
        Some(counts)
    }

    fn leave_waitlist(
        &mut self,
        user_id: UserId,
        entry_id: WaitlistEntryId,
        policy: WaitlistPolicy,
        now: Timestamp,
        guards: Guards,
    ) -> Result<(), WaitlistEntryError> {
        let e = self
            .waitlists
            .entries
            .get(&entry_id)
            .filter(|e| e.user_id == user_id)
            .ok_or(WaitlistEntryError::NotFound)?;
        let schedule_id = e.schedule_id;
        if !self.entry_status(e, now).is_live() {
            return Ok(());
        }
        if let Some((reservation, _)) = e.offer {
            self.close_hold(reservation, ReservationStatus::Cancelled);
        }
        self.settle_entry(entry_id, WaitlistStatus::Left);
        self.offer_waitlist_seats(Some(schedule_id), policy, now, guards);
        Ok(())
    }

    /// THE offer step (see `WaitlistStore::offer_waitlist_seats`), for one date or all dates
    /// with a list: settles lapsed and cancelled offers, then offers every free seat to the
    /// earliest WAITING entries. Returns how many offers it made.
    pub(crate) fn offer_waitlist_seats(
        &mut self,
        schedule_id: Option<ScheduleId>,
        policy: WaitlistPolicy,
        now: Timestamp,
        guards: Guards,
    ) -> u64 {
        let dates: Vec<ScheduleId> = match schedule_id {
            Some(id) => vec![id],
            None => {
                let mut all: Vec<ScheduleId> = self
                    .waitlists
                    .waiting
                    .iter()
                    .filter(|(_, w)| !w.is_empty())
                    .map(|(id, _)| *id)
                    .chain(
                        self.waitlists
                            .offered
                            .iter()
                            .filter(|(_, o)| !o.is_empty())
                            .map(|(id, _)| *id),
                    )
                    .collect();
                all.sort_unstable();
                all.dedup();
                all
            }
        };
        dates
            .into_iter()
            .map(|d| self.offer_date(d, policy, now, guards))
            .sum()
    }

    /// The offer step for one date.
    fn offer_date(
        &mut self,
        schedule_id: ScheduleId,
        policy: WaitlistPolicy,
        now: Timestamp,
        guards: Guards,
    ) -> u64 {
        self.settle_lapsed_offers(schedule_id, now);
        let Some(schedule) = self
            .schedules
            .get(&schedule_id)
            .filter(|s| s.starts_at > now)
        else {
            return 0;
        };
        let concert_id = schedule.concert_id;
        let free: Vec<SeatId> = schedule
            .seats
            .iter()
            .filter(|id| {
                self.seats.get(id).is_some_and(|seat| {
                    // Tests only (guard off): every seat of the date reads as free.
                    !guards.on(Guard::WaitlistOffer) || self.seat_available(seat, now)
                })
            })
            .copied()
            .collect();
        let waiting: Vec<(u64, WaitlistEntryId)> = self
            .waitlists
            .waiting
            .get(&schedule_id)
            .map(|w| w.iter().map(|(s, e)| (*s, *e)).collect())
            .unwrap_or_default();
        let mut made = 0;
        for ((_, entry_id), seat_id) in pair_offers(&free, &waiting) {
            if self.make_offer(entry_id, seat_id, concert_id, policy, now) {
                made += 1;
            }
        }
        made
    }

    /// Persists the date's offers whose reservation is no longer a live hold: lapsed ones
    /// become EXPIRED (their reservation too), cancelled ones LEFT.
    fn settle_lapsed_offers(&mut self, schedule_id: ScheduleId, now: Timestamp) {
        let offered: Vec<WaitlistEntryId> = self
            .waitlists
            .offered
            .get(&schedule_id)
            .map(|o| o.iter().copied().collect())
            .unwrap_or_default();
        for id in offered {
            let Some(e) = self.waitlists.entries.get(&id) else {
                continue;
            };
            let status = self.entry_status(e, now);
            if status == WaitlistStatus::Offered {
                continue;
            }
            if let Some((reservation, _)) = e.offer {
                if status == WaitlistStatus::Expired {
                    self.close_hold(reservation, ReservationStatus::Expired);
                }
            }
            self.settle_entry(id, status);
        }
    }

    /// Holds `seat_id` for the entry's user for the offer TTL (exempt from the per-user cap);
    /// the entry becomes OFFERED.
    fn make_offer(
        &mut self,
        entry_id: WaitlistEntryId,
        seat_id: SeatId,
        concert_id: domain::ConcertId,
        policy: WaitlistPolicy,
        now: Timestamp,
    ) -> bool {
        let Some(e) = self.waitlists.entries.get(&entry_id) else {
            return false;
        };
        let (user_id, schedule_id, seq) = (e.user_id, e.schedule_id, e.seq);
        let Some(seat) = self.seats.get(&seat_id) else {
            return false;
        };
        // The store names its offers itself (the offer step runs without a request).
        let reservation_id = ReservationId::from_uuid(uuid::Uuid::now_v7());
        if self.reservations.contains_key(&reservation_id) {
            return false;
        }
        // A lapsed hold on the seat moves to EXPIRED first (as a hold does).
        if let Some(lapsed) = seat.claim.filter(|id| {
            self.reservations
                .get(id)
                .is_some_and(|r| r.status == ReservationStatus::Held && r.held_until <= now)
        }) {
            self.close_hold(lapsed, ReservationStatus::Expired);
        }
        let Some(seat) = self.seats.get_mut(&seat_id) else {
            return false;
        };
        seat.claim = Some(reservation_id);
        let reservation = Reservation {
            id: reservation_id,
            user_id,
            schedule_id,
            concert_id,
            seats: vec![ReservedSeat {
                seat_id,
                number: seat.number.clone(),
                price: seat.price,
            }],
            total_price: seat.price,
            status: ReservationStatus::Held,
            held_until: plus(now, policy.offer_ttl()),
            created_at: now,
        };
        self.user_reservations
            .entry(user_id)
            .or_default()
            .insert((now, reservation_id));
        self.user_held
            .entry(user_id)
            .or_default()
            .insert(reservation_id);
        self.held_deadlines
            .insert((reservation.held_until, reservation_id));
        self.reservations.insert(reservation_id, reservation);
        if let Some(w) = self.waitlists.waiting.get_mut(&schedule_id) {
            w.remove(&seq);
        }
        self.waitlists
            .offered
            .entry(schedule_id)
            .or_default()
            .insert(entry_id);
        self.waitlists.by_offer.insert(reservation_id, entry_id);
        if let Some(e) = self.waitlists.entries.get_mut(&entry_id) {
            e.status = WaitlistStatus::Offered;
            e.offer = Some((reservation_id, seat_id));
        }
        true
    }
}

fn vanished() -> JoinWaitlistError {
    StoreError::Internal("waiting-list entry vanished".into()).into()
}

#[async_trait]
impl WaitlistStore for MemoryStore {
    async fn join_waitlist(
        &self,
        user_id: UserId,
        schedule_id: ScheduleId,
        entry_id: WaitlistEntryId,
    ) -> Result<WaitlistJoined, JoinWaitlistError> {
        let (mut state, now) = self.state_at_now();
        state.join_waitlist(user_id, schedule_id, entry_id, now)
    }

    async fn waitlist_entry(
        &self,
        user_id: UserId,
        entry_id: WaitlistEntryId,
    ) -> Result<Option<WaitlistEntry>, StoreError> {
        let (state, now) = self.state_at_now();
        Ok(state
            .entry_view(entry_id, now)
            .filter(|e| e.user_id == user_id))
    }

    async fn waitlist_entries(
        &self,
        user_id: UserId,
        page: PageRequest,
    ) -> Result<Page<WaitlistEntry>, StoreError> {
        let (state, now) = self.state_at_now();
        Ok(state.waitlist_page(user_id, page, now))
    }

    async fn leave_waitlist(
        &self,
        user_id: UserId,
        entry_id: WaitlistEntryId,
        policy: WaitlistPolicy,
    ) -> Result<(), WaitlistEntryError> {
        let (mut state, now) = self.state_at_now();
        state.leave_waitlist(user_id, entry_id, policy, now, self.guards())
    }

    async fn waitlist_counts(
        &self,
        schedule_id: ScheduleId,
    ) -> Result<Option<WaitlistCounts>, StoreError> {
        let (state, now) = self.state_at_now();
        Ok(state.waitlist_counts(schedule_id, now))
    }

    async fn offer_waitlist_seats(
        &self,
        schedule_id: Option<ScheduleId>,
        policy: WaitlistPolicy,
    ) -> Result<u64, StoreError> {
        let (mut state, now) = self.state_at_now();
        Ok(state.offer_waitlist_seats(schedule_id, policy, now, self.guards()))
    }
}

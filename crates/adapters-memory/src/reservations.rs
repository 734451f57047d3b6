//! Seat holds and reservations.

use crate::state::{SeatRecord, State};
use crate::store::MemoryStore;
use crate::time::plus;
use async_trait::async_trait;
use domain::guards::{Guard, Guards};
use domain::ports::{NewHold, ReservationStore};
use domain::{
    effective_reservation_status, CancelError, Cursor, HoldFacts, HoldPolicy, HoldSeatsError,
    Money, Page, PageRequest, Reservation, ReservationId, ReservationStatus, ReservedSeat,
    ScheduleId, SeatId, StoreError, Timestamp, UserId,
};

/// The cursor of a reservation in `(created_at, id)` order.
pub(crate) fn reservation_cursor(r: &Reservation) -> Cursor {
    Cursor {
        created_at: r.created_at,
        id: r.id.get(),
    }
}

impl State {
    /// A reservation with its effective status.
    fn reservation_view(&self, id: ReservationId, now: Timestamp) -> Option<Reservation> {
        self.reservations.get(&id).map(|r| Reservation {
            status: effective_reservation_status(r.status, r.held_until, now),
            ..r.clone()
        })
    }

    /// A user's reservation with its effective status; `None` for someone else's.
    pub(crate) fn users_reservation(
        &self,
        user_id: UserId,
        id: ReservationId,
        now: Timestamp,
    ) -> Option<Reservation> {
        self.reservation_view(id, now)
            .filter(|r| r.user_id == user_id)
    }

    /// Moves a stored-HELD reservation to a final status and out of the HELD indexes.
    pub(crate) fn close_hold(&mut self, id: ReservationId, status: ReservationStatus) {
        let Some(r) = self.reservations.get_mut(&id) else {
            return;
        };
        if r.status != ReservationStatus::Held {
            return;
        }
        r.status = status;
        self.held_deadlines.remove(&(r.held_until, id));
        if let Some(held) = self.user_held.get_mut(&r.user_id) {
            held.remove(&id);
            if held.is_empty() {
                self.user_held.remove(&r.user_id);
            }
        }
    }

    /// THE place where a reservation that stops being live without expiring through its hold
    /// (a refund) gives its seats back: each seat still claimed by `id` is unclaimed, so the
    /// seat is available to the next hold at once. Returns the freed seats (ascending), for
    /// whoever must hand them on (the waiting lists, at merge).
    pub(crate) fn release_reservation_seats(&mut self, id: ReservationId) -> Vec<SeatId> {
        let Some(r) = self.reservations.get(&id) else {
            return Vec::new();
        };
        let mut freed = Vec::with_capacity(r.seats.len());
        for line in &r.seats {
            if let Some(seat) = self.seats.get_mut(&line.seat_id) {
                if seat.claim == Some(id) {
                    seat.claim = None;
                    freed.push(line.seat_id);
                }
            }
        }
        freed
    }

    /// Seats in the user's HELD, unexpired reservations.
    fn seats_held_by(&self, user_id: UserId, now: Timestamp) -> usize {
        self.user_held.get(&user_id).map_or(0, |held| {
            held.iter()
                .filter_map(|id| self.reservations.get(id))
                .filter(|r| r.status == ReservationStatus::Held && r.held_until > now)
                .map(|r| r.seats.len())
                .sum()
        })
    }

    /// The requested seats of `schedule_id`, in request order, and the first requested seat
    /// that is not one of them.
    fn requested_seats(
        &self,
        schedule_id: ScheduleId,
        ids: &[SeatId],
    ) -> (Vec<(SeatId, &SeatRecord)>, Option<SeatId>) {
        let mut seats = Vec::with_capacity(ids.len());
        let mut missing = None;
        for &seat_id in ids {
            match self.seats.get(&seat_id) {
                Some(seat) if seat.schedule_id == schedule_id => seats.push((seat_id, seat)),
                _ => {
                    missing.get_or_insert(seat_id);
                }
            }
        }
        (seats, missing)
    }

    /// A hold: its facts, gathered in this one critical section, are judged by
    /// [`HoldPolicy::judge_hold`] (a guard that is off, in tests only, reads as satisfied).
    fn hold(
        &mut self,
        hold: NewHold,
        policy: &HoldPolicy,
        now: Timestamp,
        guards: Guards,
    ) -> Result<Reservation, HoldSeatsError> {
        let schedule = self
            .schedules
            .get(&hold.schedule_id)
            .filter(|s| s.starts_at > now)
            .ok_or(HoldSeatsError::ScheduleNotFound)?;
        let concert_id = schedule.concert_id;
        let (seats, missing_seat) = self.requested_seats(hold.schedule_id, hold.seats.ids());
        policy.judge_hold(HoldFacts {
            missing_seat,
            token_admits: self.token_admits(hold.queue_token, hold.user_id, concert_id, now),
            // Tests only (guard off): no seat reads as taken.
            unavailable: if guards.on(Guard::SeatAvailability) {
                seats
                    .iter()
                    .filter(|(_, seat)| !self.seat_free_for_hold(seat, now))
                    .map(|(id, _)| *id)
                    .collect()
            } else {
                Vec::new()
            },
            seats_held: self.seats_held_by(hold.user_id, now),
            seats_wanted: seats.len(),
        })?;
        if self.reservations.contains_key(&hold.reservation_id) {
            return Err(StoreError::Internal("reservation id already used".into()).into());
        }
        let lapsed = self.lapsed_claims(&seats, now);
        let seats: Vec<ReservedSeat> = seats
            .into_iter()
            .map(|(seat_id, seat)| ReservedSeat {
                seat_id,
                number: seat.number.clone(),
                price: seat.price,
            })
            .collect();
        let total_price = Money::checked_sum(seats.iter().map(|s| s.price))
            .ok_or_else(|| StoreError::Internal("total price overflows".into()))?;
        let reservation = Reservation {
            id: hold.reservation_id,
            user_id: hold.user_id,
            schedule_id: hold.schedule_id,
            concert_id,
            seats,
            total_price,
            status: ReservationStatus::Held,
            held_until: plus(now, policy.ttl()),
            created_at: now,
        };
        for id in lapsed {
            self.close_hold(id, ReservationStatus::Expired);
        }
        let id = reservation.id;
        for seat in &reservation.seats {
            if let Some(record) = self.seats.get_mut(&seat.seat_id) {
                record.claim = Some(id);
            }
        }
        self.user_reservations
            .entry(reservation.user_id)
            .or_default()
            .insert((now, id));
        self.user_held
            .entry(reservation.user_id)
            .or_default()
            .insert(id);
        self.held_deadlines.insert((reservation.held_until, id));
        self.reservations.insert(id, reservation.clone());
        Ok(reservation)
    }

    /// The lapsed holds on `seats`, which a hold of those seats moves to EXPIRED: a reservation
    /// is never left HELD once another one has its seat (the PostgreSQL store's
    /// `release_lapsed_holds`).
    fn lapsed_claims(&self, seats: &[(SeatId, &SeatRecord)], now: Timestamp) -> Vec<ReservationId> {
        seats
            .iter()
            .filter_map(|(_, seat)| seat.claim)
            .filter(|id| {
                self.reservations
                    .get(id)
                    .is_some_and(|r| r.status == ReservationStatus::Held && r.held_until <= now)
            })
            .collect()
    }

    fn reservations_page(
        &self,
        user_id: UserId,
        page: PageRequest,
        now: Timestamp,
    ) -> Page<Reservation> {
        let Some(all) = self.user_reservations.get(&user_id) else {
            return Page::from_overfetch(Vec::new(), page.limit(), reservation_cursor);
        };
        let take = usize::try_from(page.limit())
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        let items: Vec<Reservation> = match page.after() {
            Some(c) => all
                .range(..(c.created_at, ReservationId::from_uuid(c.id)))
                .rev()
                .take(take)
                .filter_map(|(_, id)| self.reservation_view(*id, now))
                .collect(),
            None => all
                .iter()
                .rev()
                .take(take)
                .filter_map(|(_, id)| self.reservation_view(*id, now))
                .collect(),
        };
        Page::from_overfetch(items, page.limit(), reservation_cursor)
    }

    fn cancel(
        &mut self,
        user_id: UserId,
        id: ReservationId,
        now: Timestamp,
    ) -> Result<Reservation, CancelError> {
        let current = self
            .users_reservation(user_id, id, now)
            .ok_or(CancelError::NotFound)?;
        if current.status != ReservationStatus::Held {
            return Err(CancelError::NotCancellable(current.status));
        }
        self.close_hold(id, ReservationStatus::Cancelled);
        Ok(Reservation {
            status: ReservationStatus::Cancelled,
            ..current
        })
    }

    fn expire_holds(&mut self, now: Timestamp, batch: u32) -> u64 {
        let due: Vec<ReservationId> = self
            .held_deadlines
            .iter()
            .take_while(|(until, _)| *until <= now)
            .take(usize::try_from(batch).unwrap_or(usize::MAX))
            .map(|(_, id)| *id)
            .collect();
        for id in &due {
            self.close_hold(*id, ReservationStatus::Expired);
        }
        u64::try_from(due.len()).unwrap_or(u64::MAX)
    }
}

#[async_trait]
impl ReservationStore for MemoryStore {
    async fn hold(&self, hold: NewHold, policy: HoldPolicy) -> Result<Reservation, HoldSeatsError> {
        let (mut state, now) = self.state_at_now();
        state.hold(hold, &policy, now, self.guards())
    }

    async fn reservation(
        &self,
        user_id: UserId,
        id: ReservationId,
    ) -> Result<Option<Reservation>, StoreError> {
        let (state, now) = self.state_at_now();
        Ok(state.users_reservation(user_id, id, now))
    }

    async fn reservations(
        &self,
        user_id: UserId,
        page: PageRequest,
    ) -> Result<Page<Reservation>, StoreError> {
        let (state, now) = self.state_at_now();
        Ok(state.reservations_page(user_id, page, now))
    }

    async fn cancel(&self, user_id: UserId, id: ReservationId) -> Result<Reservation, CancelError> {
        let (mut state, now) = self.state_at_now();
        state.cancel(user_id, id, now)
    }

    async fn expire_holds(&self, batch: u32) -> Result<u64, StoreError> {
        let (mut state, now) = self.state_at_now();
        Ok(state.expire_holds(now, batch))
    }
}

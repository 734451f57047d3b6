//! Concerts, schedules and seats.

use crate::line::QueueLine;
use crate::state::{ConcertRecord, ScheduleRecord, SeatRecord, State};
use crate::store::MemoryStore;
use async_trait::async_trait;
use domain::ports::CatalogueStore;
use domain::{
    effective_reservation_status, patch_sale, BrowseError, Concert, ConcertId, CreateScheduleError,
    NewConcert, NewSchedule, ReservationStatus, SalePatch, SaleState, ScheduleId, ScheduleSeats,
    ScheduleSummary, SeatAvailability, SeatId, StoreError, Timestamp, UpdateSaleError,
};

fn next_id(counter: &mut i64) -> Result<i64, StoreError> {
    *counter = counter
        .checked_add(1)
        .ok_or_else(|| StoreError::Internal("id sequence exhausted".into()))?;
    Ok(*counter)
}

impl State {
    /// True when no CONFIRMED and no unexpired HELD reservation has the seat.
    pub(crate) fn seat_available(&self, seat: &SeatRecord, now: Timestamp) -> bool {
        seat.claim
            .and_then(|id| self.reservations.get(&id))
            .is_none_or(|r| {
                !matches!(
                    effective_reservation_status(r.status, r.held_until, now),
                    ReservationStatus::Held | ReservationStatus::Confirmed
                )
            })
    }

    pub(crate) fn create_concert(&mut self, new: NewConcert) -> Result<Concert, StoreError> {
        let id = ConcertId::new(next_id(&mut self.last_concert_id)?)
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        let concert = Concert {
            id,
            title: new.title,
            venue: new.venue,
            sale: new.sale,
        };
        self.concerts.insert(
            id,
            ConcertRecord {
                concert: concert.clone(),
                schedules: Vec::new(),
            },
        );
        self.lines.insert(id, QueueLine::default());
        Ok(concert)
    }

    /// Changes a concert's sale window as [`patch_sale`] decides.
    pub(crate) fn update_sale(
        &mut self,
        concert_id: ConcertId,
        patch: SalePatch,
        now: Timestamp,
    ) -> Result<Concert, UpdateSaleError> {
        let line = self
            .lines
            .get(&concert_id)
            .ok_or(UpdateSaleError::ConcertNotFound)?;
        let record = self
            .concerts
            .get_mut(&concert_id)
            .ok_or(UpdateSaleError::ConcertNotFound)?;
        let state = SaleState {
            window: record.concert.sale,
            drawn: line.drawn().is_some(),
            tokens_issued: line.issued() > 0,
        };
        record.concert.sale = patch_sale(state, patch, now)?;
        Ok(record.concert.clone())
    }

    pub(crate) fn create_schedule(
        &mut self,
        concert_id: ConcertId,
        schedule: &NewSchedule,
    ) -> Result<ScheduleSeats, CreateScheduleError> {
        if !self.concerts.contains_key(&concert_id) {
            return Err(CreateScheduleError::ConcertNotFound);
        }
        let internal = |e: domain::InvalidId| StoreError::Internal(e.to_string());
        let schedule_id =
            ScheduleId::new(next_id(&mut self.last_schedule_id)?).map_err(internal)?;
        let mut seat_ids = Vec::with_capacity(schedule.seats().len());
        let mut seats = Vec::with_capacity(schedule.seats().len());
        for new in schedule.seats() {
            let seat_id = SeatId::new(next_id(&mut self.last_seat_id)?).map_err(internal)?;
            seat_ids.push(seat_id);
            seats.push(SeatAvailability {
                id: seat_id,
                number: new.number.clone(),
                grade: new.grade.clone(),
                price: new.price,
                available: true,
            });
            self.seats.insert(
                seat_id,
                SeatRecord {
                    schedule_id,
                    number: new.number.clone(),
                    grade: new.grade.clone(),
                    price: new.price,
                    claim: None,
                },
            );
        }
        self.schedules.insert(
            schedule_id,
            ScheduleRecord {
                concert_id,
                starts_at: schedule.starts_at(),
                seats: seat_ids,
            },
        );
        if let Some(record) = self.concerts.get_mut(&concert_id) {
            record.schedules.push(schedule_id);
        }
        Ok(ScheduleSeats {
            schedule_id,
            concert_id,
            starts_at: schedule.starts_at(),
            seats,
        })
    }

    fn future_schedules(
        &self,
        concert_id: ConcertId,
        now: Timestamp,
    ) -> Result<Vec<ScheduleSummary>, BrowseError> {
        let record = self
            .concerts
            .get(&concert_id)
            .ok_or(BrowseError::NotFound)?;
        let mut summaries: Vec<ScheduleSummary> = record
            .schedules
            .iter()
            .filter_map(|id| self.schedules.get(id).map(|s| (*id, s)))
            .filter(|(_, s)| s.starts_at > now)
            .map(|(id, s)| {
                let available = s
                    .seats
                    .iter()
                    .filter_map(|seat| self.seats.get(seat))
                    .filter(|seat| self.seat_free_for_hold(seat, now))
                    .count();
                ScheduleSummary {
                    id,
                    concert_id,
                    starts_at: s.starts_at,
                    total_seats: u32::try_from(s.seats.len()).unwrap_or(u32::MAX),
                    available_seats: u32::try_from(available).unwrap_or(u32::MAX),
                }
            })
            .collect();
        summaries.sort_by_key(|s| (s.starts_at, s.id));
        Ok(summaries)
    }

    fn schedule_seats(
        &self,
        schedule_id: ScheduleId,
        now: Timestamp,
    ) -> Result<ScheduleSeats, BrowseError> {
        let schedule = self
            .schedules
            .get(&schedule_id)
            .ok_or(BrowseError::NotFound)?;
        let seats = schedule
            .seats
            .iter()
            .filter_map(|id| self.seats.get(id).map(|seat| (*id, seat)))
            .map(|(id, seat)| SeatAvailability {
                id,
                number: seat.number.clone(),
                grade: seat.grade.clone(),
                price: seat.price,
                available: self.seat_free_for_hold(seat, now),
            })
            .collect();
        Ok(ScheduleSeats {
            schedule_id,
            concert_id: schedule.concert_id,
            starts_at: schedule.starts_at,
            seats,
        })
    }
}

#[async_trait]
impl CatalogueStore for MemoryStore {
    async fn list_concerts(&self) -> Result<Vec<Concert>, StoreError> {
        Ok(self
            .state()
            .concerts
            .values()
            .map(|r| r.concert.clone())
            .collect())
    }

    async fn create_concert(&self, concert: NewConcert) -> Result<Concert, StoreError> {
        self.state().create_concert(concert)
    }

    async fn update_sale(
        &self,
        concert_id: ConcertId,
        patch: SalePatch,
    ) -> Result<Concert, UpdateSaleError> {
        let (mut state, now) = self.state_at_now();
        state.update_sale(concert_id, patch, now)
    }

    async fn create_schedule(
        &self,
        concert_id: ConcertId,
        schedule: NewSchedule,
    ) -> Result<ScheduleSeats, CreateScheduleError> {
        self.state().create_schedule(concert_id, &schedule)
    }

    async fn future_schedules(
        &self,
        concert_id: ConcertId,
    ) -> Result<Vec<ScheduleSummary>, BrowseError> {
        let (state, now) = self.state_at_now();
        state.future_schedules(concert_id, now)
    }

    async fn schedule_seats(&self, schedule_id: ScheduleId) -> Result<ScheduleSeats, BrowseError> {
        let (state, now) = self.state_at_now();
        state.schedule_seats(schedule_id, now)
    }

    async fn schedule_concert(
        &self,
        schedule_id: ScheduleId,
    ) -> Result<Option<ConcertId>, StoreError> {
        Ok(self
            .state()
            .schedules
            .get(&schedule_id)
            .map(|s| s.concert_id))
    }
}

//! Demo data for the in-memory mode: a few well-known concerts with two future dates each.

use crate::state::State;
use crate::store::MemoryStore;
use chrono::TimeDelta;
use domain::{
    ConcertId, ConcertTitle, Money, NewConcert, NewSchedule, NewSeat, SaleWindow, ScheduleId,
    SeatGrade, SeatNumber, StoreError, Timestamp, Venue,
};

/// Seats in every demo schedule: rows A–E with 10 seats each.
pub const DEMO_SEATS_PER_SCHEDULE: usize = 50;

const CONCERTS: [(&str, &str); 3] = [
    ("IU HEREH World Tour Concert - Seoul", "KSPO Dome, Seoul"),
    ("SEVENTEEN Right Here - Encore", "Gocheok Sky Dome, Seoul"),
    (
        "Seoul Philharmonic: Mahler Symphony No. 5",
        "Lotte Concert Hall, Seoul",
    ),
];

/// Minutes from seeding time to the sale opening of the last demo concert (the others have no
/// sale window): its queue starts as a pre-queue, drawn at the opening, for front-ends to try.
pub const DEMO_SALE_OPENS_IN_MINUTES: i64 = 5;

/// Days from seeding time to each demo schedule.
const DAYS_AHEAD: [i64; 2] = [7, 14];

/// Rows and their grade and price in won: A–B VIP, C–E R.
const ROWS: [(&str, &str, i64); 5] = [
    ("A", "VIP", 150_000),
    ("B", "VIP", 150_000),
    ("C", "R", 99_000),
    ("D", "R", 99_000),
    ("E", "R", 99_000),
];

const SEATS_PER_ROW: usize = DEMO_SEATS_PER_SCHEDULE / ROWS.len();

/// What [`MemoryStore::seed_demo`] created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoCatalogue {
    /// Each concert with its schedules (by start time).
    pub concerts: Vec<(ConcertId, Vec<ScheduleId>)>,
}

fn invalid(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("demo data is invalid: {e}"))
}

fn demo_seats() -> Result<Vec<NewSeat>, StoreError> {
    let mut seats = Vec::with_capacity(DEMO_SEATS_PER_SCHEDULE);
    for (row, grade, price) in ROWS {
        for n in 1..=SEATS_PER_ROW {
            seats.push(NewSeat {
                number: SeatNumber::new(format!("{row}-{n}")).map_err(invalid)?,
                grade: SeatGrade::new(grade).map_err(invalid)?,
                price: Money::new(price).map_err(invalid)?,
            });
        }
    }
    Ok(seats)
}

impl State {
    fn seed_demo(&mut self, now: Timestamp) -> Result<DemoCatalogue, StoreError> {
        let seats = demo_seats()?;
        let mut concerts = Vec::with_capacity(CONCERTS.len());
        for (i, (title, venue)) in CONCERTS.into_iter().enumerate() {
            let sale = if i + 1 == CONCERTS.len() {
                let opens_at = now + TimeDelta::minutes(DEMO_SALE_OPENS_IN_MINUTES);
                SaleWindow::new(Some(opens_at), None).map_err(invalid)?
            } else {
                SaleWindow::ALWAYS_OPEN
            };
            let concert = self.create_concert(NewConcert {
                title: ConcertTitle::new(title).map_err(invalid)?,
                venue: Venue::new(venue).map_err(invalid)?,
                sale,
            })?;
            let mut schedules = Vec::with_capacity(DAYS_AHEAD.len());
            for days in DAYS_AHEAD {
                let starts_at = now + TimeDelta::days(days);
                let schedule = NewSchedule::new(starts_at, seats.clone()).map_err(invalid)?;
                let created = self
                    .create_schedule(concert.id, &schedule)
                    .map_err(|e| StoreError::Internal(e.to_string()))?;
                schedules.push(created.schedule_id);
            }
            concerts.push((concert.id, schedules));
        }
        Ok(DemoCatalogue { concerts })
    }
}

impl MemoryStore {
    /// Adds the demo catalogue: three concerts (the last one's sale opens
    /// [`DEMO_SALE_OPENS_IN_MINUTES`] after `now`, with a pre-queue before), each with two schedules 7 and 14 days after
    /// `now`, each with [`DEMO_SEATS_PER_SCHEDULE`] seats (`A-1` … `E-10`; rows A–B are VIP at
    /// 150,000 won, rows C–E are R at 99,000 won). All in one critical section.
    ///
    /// # Errors
    /// [`StoreError::Internal`] only if the built-in data were invalid (a bug).
    pub fn seed_demo(&self, now: Timestamp) -> Result<DemoCatalogue, StoreError> {
        self.state().seed_demo(now)
    }
}

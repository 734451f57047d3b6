//! The catalogue: concerts, their dated schedules and the seats of each schedule.

use crate::{ConcertId, Money, SaleWindow, ScheduleId, SeatId, Timestamp};

/// Why catalogue text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} must be 1 to {max} characters and not blank")]
pub struct InvalidText {
    /// Which field.
    pub field: &'static str,
    /// The maximum length in characters.
    pub max: usize,
}

macro_rules! bounded_text {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Checks the length as sent (in characters, like JSON Schema's `maxLength`, so
            /// that the OpenAPI document and the service agree), then trims.
            ///
            /// # Errors
            /// [`InvalidText`] when blank or too long.
            pub fn new(value: impl Into<String>) -> Result<Self, InvalidText> {
                let value: String = value.into();
                let trimmed = value.trim();
                if trimmed.is_empty() || value.chars().count() > $max {
                    return Err(InvalidText { field: $field, max: $max });
                }
                Ok(Self(trimmed.to_owned()))
            }

            /// The text.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// Longest concert title or venue, in characters as sent (surrounding spaces count).
pub const CONCERT_TEXT_MAX: usize = 200;
/// Longest seat number or grade, in characters as sent (surrounding spaces count).
pub const SEAT_TEXT_MAX: usize = 32;

bounded_text!(
    /// A concert's title.
    ConcertTitle, "title", CONCERT_TEXT_MAX
);
bounded_text!(
    /// Where a concert takes place.
    Venue, "venue", CONCERT_TEXT_MAX
);
bounded_text!(
    /// A seat's label within its schedule, such as `A-12`.
    SeatNumber, "number", SEAT_TEXT_MAX
);
bounded_text!(
    /// A seat's price grade, such as `VIP` or `R`.
    SeatGrade, "grade", SEAT_TEXT_MAX
);

/// A concert as listed in the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Concert {
    /// Its id.
    pub id: ConcertId,
    /// Its title.
    pub title: ConcertTitle,
    /// Its venue.
    pub venue: Venue,
    /// When its sale opens and closes.
    pub sale: SaleWindow,
}

/// What an operator supplies to create a concert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConcert {
    /// The title.
    pub title: ConcertTitle,
    /// The venue.
    pub venue: Venue,
    /// When its sale opens and closes ([`SaleWindow::ALWAYS_OPEN`]: as before v1.1).
    pub sale: SaleWindow,
}

/// A seat as the operator defines it when creating a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSeat {
    /// Its label, unique within the schedule.
    pub number: SeatNumber,
    /// Its grade.
    pub grade: SeatGrade,
    /// Its price.
    pub price: Money,
}

/// The largest number of seats one schedule may have.
pub const MAX_SEATS_PER_SCHEDULE: usize = 10_000;

/// The highest price of one seat: 100,000,000 KRW. A reservation holds seats of one schedule,
/// so its total is at most [`MAX_SEATS_PER_SCHEDULE`] × this (10^12 KRW), far from `i64::MAX`:
/// no total can overflow. PostgreSQL backs it with the CHECK `seats_price_max`.
pub const SEAT_PRICE_MAX: Money = match Money::new(100_000_000) {
    Ok(price) => price,
    Err(_) => panic!("SEAT_PRICE_MAX is not negative"),
};

// A schedule full of seats at the highest price still sums within `i64`.
#[allow(clippy::cast_possible_wrap)]
const _: () = assert!(SEAT_PRICE_MAX
    .won()
    .checked_mul(MAX_SEATS_PER_SCHEDULE as i64)
    .is_some());

/// Why a new schedule was refused before reaching a store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSchedule {
    /// A schedule needs at least one seat and at most [`MAX_SEATS_PER_SCHEDULE`].
    #[error("a schedule has 1 to {MAX_SEATS_PER_SCHEDULE} seats")]
    SeatCount,
    /// Two seats share a number.
    #[error("seat number {0} appears twice")]
    DuplicateSeatNumber(String),
    /// A seat costs more than [`SEAT_PRICE_MAX`] (the seat's number).
    #[error("seat {0}: price must be at most {max} KRW", max = SEAT_PRICE_MAX.won())]
    SeatPriceTooHigh(String),
}

/// A validated new schedule: 1 to [`MAX_SEATS_PER_SCHEDULE`] seats, seat numbers unique, every
/// price at most [`SEAT_PRICE_MAX`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSchedule {
    starts_at: Timestamp,
    seats: Vec<NewSeat>,
}

impl NewSchedule {
    /// Checks the seat list.
    ///
    /// # Errors
    /// [`InvalidSchedule`] for an empty or oversized seat list, a repeated seat number or a
    /// price above [`SEAT_PRICE_MAX`].
    pub fn new(starts_at: Timestamp, seats: Vec<NewSeat>) -> Result<Self, InvalidSchedule> {
        if seats.is_empty() || seats.len() > MAX_SEATS_PER_SCHEDULE {
            return Err(InvalidSchedule::SeatCount);
        }
        let mut seen = std::collections::HashSet::with_capacity(seats.len());
        for seat in &seats {
            if seat.price > SEAT_PRICE_MAX {
                return Err(InvalidSchedule::SeatPriceTooHigh(
                    seat.number.as_str().to_owned(),
                ));
            }
            if !seen.insert(seat.number.as_str()) {
                return Err(InvalidSchedule::DuplicateSeatNumber(
                    seat.number.as_str().to_owned(),
                ));
            }
        }
        Ok(Self { starts_at, seats })
    }

    /// When the performance starts.
    #[must_use]
    pub const fn starts_at(&self) -> Timestamp {
        self.starts_at
    }

    /// The seats, in the operator's order.
    #[must_use]
    pub fn seats(&self) -> &[NewSeat] {
        &self.seats
    }
}

/// A schedule with its seat counts, as browsed by an admitted user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleSummary {
    /// Its id.
    pub id: ScheduleId,
    /// The concert it belongs to.
    pub concert_id: ConcertId,
    /// When it starts.
    pub starts_at: Timestamp,
    /// How many seats it has.
    pub total_seats: u32,
    /// How many are neither sold nor held by an unexpired hold.
    pub available_seats: u32,
}

/// One seat and whether it can be held right now. Never says who holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatAvailability {
    /// Its id.
    pub id: SeatId,
    /// Its label.
    pub number: SeatNumber,
    /// Its grade.
    pub grade: SeatGrade,
    /// Its price.
    pub price: Money,
    /// True when no CONFIRMED or unexpired HELD reservation has it.
    pub available: bool,
}

/// The seats of one schedule, with the concert they belong to (needed to check the queue token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleSeats {
    /// The schedule.
    pub schedule_id: ScheduleId,
    /// Its concert.
    pub concert_id: ConcertId,
    /// When it starts.
    pub starts_at: Timestamp,
    /// Its seats, ordered by id.
    pub seats: Vec<SeatAvailability>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seat(n: &str) -> NewSeat {
        priced(n, Money::ZERO)
    }

    fn priced(n: &str, price: Money) -> NewSeat {
        NewSeat {
            number: SeatNumber::new(n).unwrap_or_else(|_| unreachable!()),
            grade: SeatGrade::new("R").unwrap_or_else(|_| unreachable!()),
            price,
        }
    }

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(
            ConcertTitle::new("  IU  ").map(|t| t.as_str().to_owned()),
            Ok("IU".into())
        );
        assert!(ConcertTitle::new("   ").is_err());
        assert!(SeatNumber::new("x".repeat(33)).is_err());
        // Counted as sent, in characters (JSON Schema's maxLength): padding counts, UTF-8
        // bytes do not.
        assert!(SeatNumber::new(format!(" {} ", "x".repeat(31))).is_err());
        assert!(SeatNumber::new("가".repeat(32)).is_ok());
    }

    #[test]
    fn schedule_needs_unique_seats() {
        let now = chrono::Utc::now();
        assert_eq!(
            NewSchedule::new(now, vec![]),
            Err(InvalidSchedule::SeatCount)
        );
        assert_eq!(
            NewSchedule::new(now, vec![seat("A1"), seat("A1")]),
            Err(InvalidSchedule::DuplicateSeatNumber("A1".into()))
        );
        assert!(NewSchedule::new(now, vec![seat("A1"), seat("A2")]).is_ok());
    }

    #[test]
    fn seat_prices_are_bounded() {
        // Arrange
        let now = chrono::Utc::now();
        let over = SEAT_PRICE_MAX
            .checked_add(Money::new(1).unwrap_or_else(|_| unreachable!()))
            .unwrap_or_else(|| unreachable!());

        // Act
        let at_the_bound = NewSchedule::new(now, vec![seat("A1"), priced("A2", SEAT_PRICE_MAX)]);
        let above = NewSchedule::new(now, vec![seat("A1"), priced("A2", over)]);

        // Assert
        assert!(at_the_bound.is_ok());
        assert_eq!(above, Err(InvalidSchedule::SeatPriceTooHigh("A2".into())));
        assert_eq!(
            InvalidSchedule::SeatPriceTooHigh("A2".into()).to_string(),
            "seat A2: price must be at most 100000000 KRW"
        );
    }

    #[test]
    fn a_full_schedule_at_the_highest_price_has_a_total() {
        // Arrange
        let prices = std::iter::repeat_n(SEAT_PRICE_MAX, MAX_SEATS_PER_SCHEDULE);

        // Act
        let total = Money::checked_sum(prices);

        // Assert
        assert!(total.is_some_and(|t| t.won() == 1_000_000_000_000));
    }
}

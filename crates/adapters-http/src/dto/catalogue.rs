//! Concerts, schedules and seats.

use crate::errors::ApiError;
use chrono::{DateTime, Utc};
use domain::{
    Concert, ConcertTitle, Money, NewConcert, NewSchedule, NewSeat, ScheduleSeats, ScheduleSummary,
    SeatAvailability, SeatGrade, SeatNumber, Venue,
};
use paperclip::actix::Apiv2Schema;
use serde::{Deserialize, Serialize};

/// A concert of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct ConcertDto {
    /// Its id.
    pub id: i64,
    /// Its title.
    pub title: String,
    /// Its venue.
    pub venue: String,
    /// When its sale opens (joins before it wait in the pre-queue for the draw), or null.
    pub sale_opens_at: Option<DateTime<Utc>>,
    /// When its sale closes to new joins, or null.
    pub sale_closes_at: Option<DateTime<Utc>>,
}

impl From<&Concert> for ConcertDto {
    fn from(c: &Concert) -> Self {
        Self {
            id: c.id.get(),
            title: c.title.as_str().to_owned(),
            venue: c.venue.as_str().to_owned(),
            sale_opens_at: c.sale.opens_at(),
            sale_closes_at: c.sale.closes_at(),
        }
    }
}

/// An operator's new concert.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateConcertRequest {
    /// The title (not blank, at most `maxLength` characters).
    pub title: String,
    /// The venue (not blank, at most `maxLength` characters).
    pub venue: String,
    /// When the sale opens (RFC 3339; absent or null: open from the start). Joins before it
    /// wait in the pre-queue, drawn in a random order at the opening.
    #[serde(default)]
    pub sale_opens_at: Option<DateTime<Utc>>,
    /// When the sale closes to new joins (RFC 3339, after `saleOpensAt`; absent or null: never).
    #[serde(default)]
    pub sale_closes_at: Option<DateTime<Utc>>,
}

/// Refuses a text with a NUL character (PostgreSQL cannot store one; both stores refuse it).
fn without_nul(field: &str, value: String) -> Result<String, ApiError> {
    if value.contains('\0') {
        Err(ApiError::Validation(format!(
            "{field} must not contain a NUL character"
        )))
    } else {
        Ok(value)
    }
}

impl CreateConcertRequest {
    /// Validates the request.
    ///
    /// # Errors
    /// [`ApiError::Validation`] for a blank or too long title or venue, or one with a NUL, or a
    /// closing not after the opening.
    pub fn try_into_domain(self) -> Result<NewConcert, ApiError> {
        Ok(NewConcert {
            sale: crate::dto::sale_window(self.sale_opens_at, self.sale_closes_at)?,
            title: ConcertTitle::new(without_nul("title", self.title)?)
                .map_err(|e| ApiError::Validation(e.to_string()))?,
            venue: Venue::new(without_nul("venue", self.venue)?)
                .map_err(|e| ApiError::Validation(e.to_string()))?,
        })
    }
}

/// One seat of an operator's new schedule.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewSeatRequest {
    /// Its label, unique within the schedule (not blank, at most `maxLength` characters).
    pub number: String,
    /// Its grade (not blank, at most `maxLength` characters).
    pub grade: String,
    /// Its price in KRW, 0 to the `maximum` stated in this schema (`SEAT_PRICE_MAX`).
    pub price: i64,
}

/// An operator's new schedule with all its seats.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateScheduleRequest {
    /// When the performance starts (RFC 3339).
    pub starts_at: DateTime<Utc>,
    /// The seats (1 to `maxItems`, numbers unique). The whole body must fit in 64 KiB (413
    /// PAYLOAD_TOO_LARGE otherwise): about 1500 seats with short numbers and grades.
    pub seats: Vec<NewSeatRequest>,
}

impl CreateScheduleRequest {
    /// Validates the request.
    ///
    /// # Errors
    /// [`ApiError::Validation`] for bad seat texts (blank, too long, with a NUL), a negative
    /// price or one above [`domain::SEAT_PRICE_MAX`], no seats, too many seats or a repeated
    /// seat number.
    pub fn try_into_domain(self) -> Result<NewSchedule, ApiError> {
        let invalid = |e: &dyn std::fmt::Display| ApiError::Validation(e.to_string());
        let seats = self
            .seats
            .into_iter()
            .map(|s| {
                Ok(NewSeat {
                    number: SeatNumber::new(without_nul("number", s.number)?)
                        .map_err(|e| invalid(&e))?,
                    grade: SeatGrade::new(without_nul("grade", s.grade)?)
                        .map_err(|e| invalid(&e))?,
                    price: Money::new(s.price).map_err(|e| invalid(&e))?,
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        NewSchedule::new(self.starts_at, seats).map_err(|e| invalid(&e))
    }
}

/// A seat and whether it can be held now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct SeatDto {
    /// Its id.
    pub seat_id: i64,
    /// Its label.
    pub number: String,
    /// Its grade.
    pub grade: String,
    /// Its price in KRW.
    pub price: i64,
    /// True when neither sold nor held.
    pub available: bool,
}

impl From<&SeatAvailability> for SeatDto {
    fn from(s: &SeatAvailability) -> Self {
        Self {
            seat_id: s.id.get(),
            number: s.number.as_str().to_owned(),
            grade: s.grade.as_str().to_owned(),
            price: s.price.won(),
            available: s.available,
        }
    }
}

/// A schedule just created, with its seats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleCreatedDto {
    /// The new schedule's id.
    pub schedule_id: i64,
    /// Its concert.
    pub concert_id: i64,
    /// When it starts.
    pub starts_at: DateTime<Utc>,
    /// Its seats, by id.
    pub seats: Vec<SeatDto>,
}

impl From<&ScheduleSeats> for ScheduleCreatedDto {
    fn from(s: &ScheduleSeats) -> Self {
        Self {
            schedule_id: s.schedule_id.get(),
            concert_id: s.concert_id.get(),
            starts_at: s.starts_at,
            seats: s.seats.iter().map(SeatDto::from).collect(),
        }
    }
}

/// A future schedule with its seat counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleSummaryDto {
    /// Its id.
    pub schedule_id: i64,
    /// When it starts.
    pub starts_at: DateTime<Utc>,
    /// How many seats it has.
    pub total_seats: u32,
    /// How many can be held now.
    pub available_seats: u32,
}

impl From<&ScheduleSummary> for ScheduleSummaryDto {
    fn from(s: &ScheduleSummary) -> Self {
        Self {
            schedule_id: s.id.get(),
            starts_at: s.starts_at,
            total_seats: s.total_seats,
            available_seats: s.available_seats,
        }
    }
}

//! Seat holds and reservations.

use crate::dto::page::encode_cursor;
use crate::errors::ApiError;
use chrono::{DateTime, Utc};
use domain::{Page, Reservation, ReservedSeat, ScheduleId, SeatId};
use paperclip::actix::Apiv2Schema;
use serde::{Deserialize, Serialize};

/// A request to hold seats of one schedule.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HoldRequest {
    /// The schedule.
    pub schedule_id: i64,
    /// 1 to the per-reservation maximum of distinct seats of that schedule.
    pub seat_ids: Vec<i64>,
}

impl HoldRequest {
    /// Validates the ids (the count and distinctness are the use case's to check).
    ///
    /// # Errors
    /// [`ApiError::Validation`] for a non-positive id.
    pub fn try_into_domain(self) -> Result<(ScheduleId, Vec<SeatId>), ApiError> {
        let schedule =
            ScheduleId::new(self.schedule_id).map_err(|e| ApiError::Validation(e.to_string()))?;
        let seats = self
            .seat_ids
            .into_iter()
            .map(|s| SeatId::new(s).map_err(|e| ApiError::Validation(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((schedule, seats))
    }
}

/// A seat inside a reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct ReservedSeatDto {
    /// The seat.
    pub seat_id: i64,
    /// Its label.
    pub number: String,
    /// Its price at hold time, in KRW.
    pub price: i64,
}

impl From<&ReservedSeat> for ReservedSeatDto {
    fn from(s: &ReservedSeat) -> Self {
        Self {
            seat_id: s.seat_id.get(),
            number: s.number.as_str().to_owned(),
            price: s.price.won(),
        }
    }
}

/// A reservation as its holder sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct ReservationDto {
    /// Its id.
    pub reservation_id: uuid::Uuid,
    /// The schedule.
    pub schedule_id: i64,
    /// `HELD` | `CONFIRMED` | `EXPIRED` | `CANCELLED` | `REFUNDED`.
    pub status: &'static str,
    /// The seats, by seat id.
    pub seats: Vec<ReservedSeatDto>,
    /// What a payment costs, in KRW.
    pub total_price: i64,
    /// When the hold runs out.
    pub held_until: DateTime<Utc>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

impl From<&Reservation> for ReservationDto {
    fn from(r: &Reservation) -> Self {
        Self {
            reservation_id: r.id.get(),
            schedule_id: r.schedule_id.get(),
            status: r.status.as_str(),
            seats: r.seats.iter().map(ReservedSeatDto::from).collect(),
            total_price: r.total_price.won(),
            held_until: r.held_until,
            created_at: r.created_at,
        }
    }
}

/// One page of the caller's reservations, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct ReservationPageDto {
    /// The reservations.
    pub items: Vec<ReservationDto>,
    /// The cursor of the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl From<&Page<Reservation>> for ReservationPageDto {
    fn from(p: &Page<Reservation>) -> Self {
        Self {
            items: p.items.iter().map(ReservationDto::from).collect(),
            next_cursor: p.next_cursor.as_ref().map(encode_cursor),
        }
    }
}

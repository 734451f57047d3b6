//! Seat holds and bookings: HELD → CONFIRMED | EXPIRED | CANCELLED; CONFIRMED → REFUNDED.

use crate::{ConcertId, Money, ReservationId, ScheduleId, SeatId, SeatNumber, Timestamp, UserId};

/// A reservation's state. A HELD reservation whose `held_until` has passed is EXPIRED for every
/// purpose at once; [`effective_reservation_status`] applies that rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReservationStatus {
    /// Seats held until `held_until`, awaiting payment.
    Held,
    /// Paid. Final.
    Confirmed,
    /// The hold ran out. Final.
    Expired,
    /// The holder let the seats go. Final.
    Cancelled,
    /// Paid, then refunded before the cut-off: its seats are free again. Final.
    Refunded,
}

impl ReservationStatus {
    /// The contract's spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Held => "HELD",
            Self::Confirmed => "CONFIRMED",
            Self::Expired => "EXPIRED",
            Self::Cancelled => "CANCELLED",
            Self::Refunded => "REFUNDED",
        }
    }

    /// Parses the contract's spelling (used by stores).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "HELD" => Some(Self::Held),
            "CONFIRMED" => Some(Self::Confirmed),
            "EXPIRED" => Some(Self::Expired),
            "CANCELLED" => Some(Self::Cancelled),
            "REFUNDED" => Some(Self::Refunded),
            _ => None,
        }
    }
}

/// The status at `now`: HELD past `held_until` is EXPIRED.
#[must_use]
pub fn effective_reservation_status(
    stored: ReservationStatus,
    held_until: Timestamp,
    now: Timestamp,
) -> ReservationStatus {
    if stored == ReservationStatus::Held && held_until <= now {
        ReservationStatus::Expired
    } else {
        stored
    }
}

/// Why a seat selection was refused before reaching a store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSeatSelection {
    /// No seats, or more than the per-reservation maximum.
    #[error("select between 1 and {max} seats")]
    Count {
        /// The per-reservation maximum.
        max: u32,
    },
    /// The same seat twice.
    #[error("seat {0} is listed twice")]
    Duplicate(SeatId),
}

/// 1..=N distinct seats, sorted by id so that every store locks them in one global order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatSelection(Vec<SeatId>);

impl SeatSelection {
    /// Validates count and distinctness.
    ///
    /// # Errors
    /// [`InvalidSeatSelection`] for an empty, oversized or repeating list.
    pub fn new(
        mut seats: Vec<SeatId>,
        max_per_reservation: u32,
    ) -> Result<Self, InvalidSeatSelection> {
        if seats.is_empty() || seats.len() > max_per_reservation as usize {
            return Err(InvalidSeatSelection::Count {
                max: max_per_reservation,
            });
        }
        seats.sort_unstable();
        if let Some(pair) = seats.windows(2).find(|w| w[0] == w[1]) {
            return Err(InvalidSeatSelection::Duplicate(pair[0]));
        }
        Ok(Self(seats))
    }

    /// The seats in ascending id order.
    #[must_use]
    pub fn ids(&self) -> &[SeatId] {
        &self.0
    }

    /// How many seats.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true: a selection has at least one seat.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A seat inside a reservation, with the price it was held at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservedSeat {
    /// The seat.
    pub seat_id: SeatId,
    /// Its label.
    pub number: SeatNumber,
    /// Its price at hold time.
    pub price: Money,
}

/// A reservation as its holder sees it; `status` is already the effective one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// Its id.
    pub id: ReservationId,
    /// Its holder.
    pub user_id: UserId,
    /// The schedule.
    pub schedule_id: ScheduleId,
    /// The schedule's concert (a payment needs an ACTIVE token for it).
    pub concert_id: ConcertId,
    /// The seats, by ascending seat id.
    pub seats: Vec<ReservedSeat>,
    /// Sum of the seats' prices: exactly what a payment must debit.
    pub total_price: Money,
    /// Effective status.
    pub status: ReservationStatus,
    /// When the hold runs out.
    pub held_until: Timestamp,
    /// When it was made.
    pub created_at: Timestamp,
}

impl Reservation {
    /// True when it may be paid now: HELD (effective) and therefore unexpired.
    #[must_use]
    pub fn is_payable(&self) -> bool {
        self.status == ReservationStatus::Held
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, Utc};

    fn seat(n: i64) -> SeatId {
        SeatId::new(n).unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn held_past_deadline_is_expired() {
        let now = Utc::now();
        let r = ReservationStatus::Held;
        assert_eq!(
            effective_reservation_status(r, now, now),
            ReservationStatus::Expired
        );
        assert_eq!(
            effective_reservation_status(r, now + Duration::seconds(1), now),
            ReservationStatus::Held
        );
        assert_eq!(
            effective_reservation_status(
                ReservationStatus::Confirmed,
                now - Duration::seconds(9),
                now
            ),
            ReservationStatus::Confirmed
        );
    }

    #[test]
    fn selection_is_sorted_distinct_and_bounded() {
        let sel = SeatSelection::new(vec![seat(3), seat(1), seat(2)], 4);
        assert_eq!(
            sel.map(|s| s.ids().to_vec()),
            Ok(vec![seat(1), seat(2), seat(3)])
        );
        assert_eq!(
            SeatSelection::new(vec![], 4),
            Err(InvalidSeatSelection::Count { max: 4 })
        );
        assert_eq!(
            SeatSelection::new(vec![seat(1); 5], 4),
            Err(InvalidSeatSelection::Count { max: 4 })
        );
        assert_eq!(
            SeatSelection::new(vec![seat(2), seat(2)], 4),
            Err(InvalidSeatSelection::Duplicate(seat(2)))
        );
    }

    #[test]
    fn statuses_round_trip_through_text() {
        for s in [
            ReservationStatus::Held,
            ReservationStatus::Confirmed,
            ReservationStatus::Expired,
            ReservationStatus::Cancelled,
            ReservationStatus::Refunded,
        ] {
            assert_eq!(ReservationStatus::parse(s.as_str()), Some(s));
        }
    }
}

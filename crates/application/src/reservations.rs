//! Reservation use cases: hold seats (gated by the queue), read, list, cancel.

use crate::Services;
use domain::ports::NewHold;
use domain::{
    CancelError, HoldSeatsError, Page, PageRequest, QueueAccessError, QueueTokenId, Reservation,
    ReservationId, ReservationReadError, ScheduleId, SeatId, SeatSelection, StoreError, UserId,
};
use tracing::instrument;

impl Services {
    /// Holds 1..=N distinct seats of one schedule, all or none, for the holder of an ACTIVE
    /// token for the schedule's concert.
    ///
    /// # Errors
    /// `InvalidSelection` (checked first), `ScheduleNotFound`, `Access`, then the store's
    /// `SeatNotFound`, `SeatUnavailable`, `HoldLimitExceeded`.
    #[instrument(skip(self, token, seat_ids), fields(user_id = %user, schedule_id = %schedule_id, seats = seat_ids.len()))]
    pub async fn hold_seats(
        &self,
        user: UserId,
        token: Option<QueueTokenId>,
        schedule_id: ScheduleId,
        seat_ids: Vec<SeatId>,
    ) -> Result<Reservation, HoldSeatsError> {
        let hold_policy = self.settings.hold;
        let seats = SeatSelection::new(seat_ids, hold_policy.max_seats_per_reservation())?;
        self.gate()
            .admit_to(
                token,
                user,
                self.ports.catalogue.schedule_concert(schedule_id),
            )
            .await?
            .ok_or(HoldSeatsError::ScheduleNotFound)?;
        let queue_token = token.ok_or(QueueAccessError::TokenRequired)?;
        let hold = NewHold {
            reservation_id: ReservationId::from_uuid(self.ports.ids.next_uuid()),
            user_id: user,
            schedule_id,
            seats,
            queue_token,
        };
        self.ports.reservations.hold(hold, hold_policy).await
    }

    /// One of the user's reservations; someone else's is "not found".
    ///
    /// # Errors
    /// `NotFound` when the user has no reservation with this id.
    #[instrument(skip(self), fields(user_id = %user, reservation_id = %id))]
    pub async fn reservation(
        &self,
        user: UserId,
        id: ReservationId,
    ) -> Result<Reservation, ReservationReadError> {
        self.ports
            .reservations
            .reservation(user, id)
            .await?
            .ok_or(ReservationReadError::NotFound)
    }

    /// The user's reservations, newest first.
    ///
    /// # Errors
    /// Store failures only.
    #[instrument(skip(self, page), fields(user_id = %user))]
    pub async fn reservations(
        &self,
        user: UserId,
        page: PageRequest,
    ) -> Result<Page<Reservation>, StoreError> {
        self.ports.reservations.reservations(user, page).await
    }

    /// Cancels a HELD reservation; its seats are free at once. Then THE waiting-list offer
    /// step runs for its date: while the date has WAITING entries the freed seats are kept for
    /// the list (no ordinary hold can take them), so running it after the cancel's own
    /// transaction loses nothing; if it fails, the scheduler's next tick makes the offers.
    ///
    /// # Errors
    /// `NotFound` (unknown or someone else's), `NotCancellable` (not HELD).
    #[instrument(skip(self), fields(user_id = %user, reservation_id = %id))]
    pub async fn cancel_reservation(
        &self,
        user: UserId,
        id: ReservationId,
    ) -> Result<Reservation, CancelError> {
        let cancelled = self.ports.reservations.cancel(user, id).await?;
        self.offer_freed_seats(cancelled.schedule_id).await;
        Ok(cancelled)
    }
}

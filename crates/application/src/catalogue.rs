//! Catalogue use cases: the public concert list, operator creation, and gated browsing.

use crate::Services;
use domain::{
    BrowseError, Concert, ConcertId, CreateScheduleError, NewConcert, NewSchedule, QueueTokenId,
    SalePatch, ScheduleId, ScheduleSeats, ScheduleSummary, StoreError, UpdateSaleError, UserId,
};
use tracing::instrument;

impl Services {
    /// Every concert (public).
    ///
    /// # Errors
    /// Store failures only.
    #[instrument(skip(self))]
    pub async fn list_concerts(&self) -> Result<Vec<Concert>, StoreError> {
        self.ports.catalogue.list_concerts().await
    }

    /// Adds a concert (operator).
    ///
    /// # Errors
    /// Store failures only.
    #[instrument(skip(self, concert), fields(title = %concert.title))]
    pub async fn create_concert(&self, concert: NewConcert) -> Result<Concert, StoreError> {
        self.ports.catalogue.create_concert(concert).await
    }

    /// Changes a concert's sale window (operator); the store decides under the concert's queue
    /// lock, so the change cannot cross a join or the draw.
    ///
    /// # Errors
    /// `ConcertNotFound`; `Refused` when the opening can no longer move or the window would be
    /// invalid.
    #[instrument(skip(self), fields(concert_id = %concert_id))]
    pub async fn update_sale(
        &self,
        concert_id: ConcertId,
        patch: SalePatch,
    ) -> Result<Concert, UpdateSaleError> {
        self.ports.catalogue.update_sale(concert_id, patch).await
    }

    /// Adds a schedule with its seats (operator).
    ///
    /// # Errors
    /// `ConcertNotFound` for an unknown concert.
    #[instrument(skip(self, schedule), fields(concert_id = %concert_id, seats = schedule.seats().len()))]
    pub async fn create_schedule(
        &self,
        concert_id: ConcertId,
        schedule: NewSchedule,
    ) -> Result<ScheduleSeats, CreateScheduleError> {
        self.ports
            .catalogue
            .create_schedule(concert_id, schedule)
            .await
    }

    /// The concert's future schedules, for the holder of an ACTIVE token for that concert.
    ///
    /// # Errors
    /// `Access` when the token does not let the user in; `NotFound` for an unknown concert.
    #[instrument(skip(self, token), fields(user_id = %user, concert_id = %concert_id))]
    pub async fn future_schedules(
        &self,
        user: UserId,
        token: Option<QueueTokenId>,
        concert_id: ConcertId,
    ) -> Result<Vec<ScheduleSummary>, BrowseError> {
        self.gate().admit(token, user, concert_id).await?;
        self.ports.catalogue.future_schedules(concert_id).await
    }

    /// A schedule's seats, for the holder of an ACTIVE token for the schedule's concert. The
    /// schedule's concert and the token are looked up at once (one wait instead of two); the
    /// token is checked before any seat is read, so an outsider learns nothing.
    ///
    /// # Errors
    /// `NotFound` for an unknown schedule; `Access` when the token does not let the user in.
    #[instrument(skip(self, token), fields(user_id = %user, schedule_id = %schedule_id))]
    pub async fn schedule_seats(
        &self,
        user: UserId,
        token: Option<QueueTokenId>,
        schedule_id: ScheduleId,
    ) -> Result<ScheduleSeats, BrowseError> {
        self.gate()
            .admit_to(
                token,
                user,
                self.ports.catalogue.schedule_concert(schedule_id),
            )
            .await?
            .ok_or(BrowseError::NotFound)?;
        self.ports.catalogue.schedule_seats(schedule_id).await
    }
}

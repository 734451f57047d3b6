//! Waiting-list use cases: join (gated by the queue), read, list, leave, and the offer step run
//! after a change that frees seats.

use crate::Services;
use domain::{
    JoinWaitlistError, Page, PageRequest, QueueTokenId, ScheduleId, StoreError, UserId,
    WaitlistCounts, WaitlistCountsError, WaitlistEntry, WaitlistEntryError, WaitlistEntryId,
    WaitlistJoined,
};
use tracing::instrument;

impl Services {
    /// Joins a sold-out date's waiting list (the caller's ACTIVE token for the date's concert is
    /// needed), or returns the caller's live entry for it.
    ///
    /// # Errors
    /// `ScheduleNotFound` (unknown date, before any token problem), `Access`, then the store's
    /// `ScheduleNotFound` (started) and `SeatsAvailable`.
    #[instrument(skip(self, token), fields(user_id = %user, schedule_id = %schedule_id))]
    pub async fn join_waitlist(
        &self,
        user: UserId,
        token: Option<QueueTokenId>,
        schedule_id: ScheduleId,
    ) -> Result<WaitlistJoined, JoinWaitlistError> {
        self.gate()
            .admit_to(
                token,
                user,
                self.ports.catalogue.schedule_concert(schedule_id),
            )
            .await?
            .ok_or(JoinWaitlistError::ScheduleNotFound)?;
        let entry_id = WaitlistEntryId::from_uuid(self.ports.ids.next_uuid());
        self.ports
            .waitlist
            .join_waitlist(user, schedule_id, entry_id)
            .await
    }

    /// An operator's counts of a date's waiting-list entries by effective status.
    ///
    /// # Errors
    /// `ScheduleNotFound` for an unknown date.
    #[instrument(skip(self), fields(schedule_id = %schedule_id))]
    pub async fn waitlist_counts(
        &self,
        schedule_id: ScheduleId,
    ) -> Result<WaitlistCounts, WaitlistCountsError> {
        self.ports
            .waitlist
            .waitlist_counts(schedule_id)
            .await?
            .ok_or(WaitlistCountsError::ScheduleNotFound)
    }

    /// One of the caller's entries; someone else's is "not found".
    ///
    /// # Errors
    /// `NotFound`.
    #[instrument(skip(self), fields(user_id = %user, entry_id = %id))]
    pub async fn waitlist_entry(
        &self,
        user: UserId,
        id: WaitlistEntryId,
    ) -> Result<WaitlistEntry, WaitlistEntryError> {
        self.ports
            .waitlist
            .waitlist_entry(user, id)
            .await?
            .ok_or(WaitlistEntryError::NotFound)
    }

    /// The caller's entries, newest first.
    ///
    /// # Errors
    /// Store failures only.
    #[instrument(skip(self, page), fields(user_id = %user))]
    pub async fn waitlist_entries(
        &self,
        user: UserId,
        page: PageRequest,
    ) -> Result<Page<WaitlistEntry>, StoreError> {
        self.ports.waitlist.waitlist_entries(user, page).await
    }

    /// Leaves a list: the entry becomes LEFT, a live offer is released and its seat goes to the
    /// next WAITING entry, atomically.
    ///
    /// # Errors
    /// `NotFound`.
    #[instrument(skip(self), fields(user_id = %user, entry_id = %id))]
    pub async fn leave_waitlist(
        &self,
        user: UserId,
        id: WaitlistEntryId,
    ) -> Result<(), WaitlistEntryError> {
        self.ports
            .waitlist
            .leave_waitlist(user, id, self.waitlist)
            .await
    }

    /// THE offer step for a date after a change that freed seats of it; a failure is logged
    /// only (the seats stay kept for the list, and the scheduler's next tick offers them).
    pub(crate) async fn offer_freed_seats(&self, schedule_id: ScheduleId) {
        if let Err(e) = self
            .ports
            .waitlist
            .offer_waitlist_seats(Some(schedule_id), self.waitlist)
            .await
        {
            tracing::warn!(schedule_id = %schedule_id, error = %e, "waiting-list offers deferred to the next tick");
        }
    }
}

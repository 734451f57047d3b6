//! Queue use cases: join, poll, leave, and the operator's view and controls.

use crate::Services;
use domain::{
    AdminQueueError, ConcertId, JoinQueueError, QueueSettingsPatch, QueueStats, QueueTicket,
    QueueTokenError, QueueTokenId, UserId,
};
use tracing::instrument;

/// The answer to a join: the ticket, and whether it is new (201) or the live one (200).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinOutcome {
    /// The user's place in line.
    pub ticket: QueueTicket,
    /// True when a new token was issued.
    pub created: bool,
}

impl Services {
    /// Admissions per minute at the configured pace, used for the wait estimate until a rate
    /// has been measured.
    fn nominal_admissions_per_minute(&self) -> u64 {
        let q = self.settings.queue;
        let per_tick = u64::from(q.admit_batch());
        let tick_ms = u64::try_from(q.admit_interval().as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        per_tick.saturating_mul(60_000) / tick_ms
    }

    /// Takes a place in the concert's line, or returns the user's live one.
    ///
    /// # Errors
    /// `RateLimited` when the user joins too often; `ConcertNotFound` for an unknown concert.
    #[instrument(skip(self), fields(user_id = %user, concert_id = %concert_id))]
    pub async fn join_queue(
        &self,
        user: UserId,
        concert_id: ConcertId,
    ) -> Result<JoinOutcome, JoinQueueError> {
        let now = self.ports.clock.now();
        self.join_limiter
            .check(user, now)
            .map_err(|retry_after_secs| JoinQueueError::RateLimited { retry_after_secs })?;
        let token_id = QueueTokenId::from_uuid(self.ports.ids.next_uuid());
        let joined = self
            .ports
            .queue
            .join(user, concert_id, token_id, self.settings.queue)
            .await?;
        Ok(JoinOutcome {
            ticket: QueueTicket::from_standing(
                &joined.standing,
                self.nominal_admissions_per_minute(),
            ),
            created: joined.created,
        })
    }

    /// The user's place in line; polling keeps a waiting place alive.
    ///
    /// # Errors
    /// `Access(TokenRequired)` for a missing or unknown token, `Access(NotActive)` for another
    /// user's.
    #[instrument(skip(self, token), fields(user_id = %user))]
    pub async fn current_ticket(
        &self,
        user: UserId,
        token: Option<QueueTokenId>,
    ) -> Result<QueueTicket, QueueTokenError> {
        let token = token.ok_or(domain::QueueAccessError::TokenRequired)?;
        let standing = self
            .ports
            .queue
            .poll(token, user, self.settings.queue)
            .await?;
        Ok(QueueTicket::from_standing(
            &standing,
            self.nominal_admissions_per_minute(),
        ))
    }

    /// Leaves the line or frees the active slot.
    ///
    /// # Errors
    /// As [`Services::current_ticket`].
    #[instrument(skip(self, token), fields(user_id = %user))]
    pub async fn leave_queue(
        &self,
        user: UserId,
        token: Option<QueueTokenId>,
    ) -> Result<(), QueueTokenError> {
        let token = token.ok_or(domain::QueueAccessError::TokenRequired)?;
        self.ports.queue.leave(token, user).await
    }

    /// An operator's view of a concert's queue.
    ///
    /// # Errors
    /// `ConcertNotFound` for an unknown concert.
    #[instrument(skip(self), fields(concert_id = %concert_id))]
    pub async fn queue_stats(&self, concert_id: ConcertId) -> Result<QueueStats, AdminQueueError> {
        self.ports
            .queue
            .stats(concert_id, self.settings.queue)
            .await
    }

    /// Changes a concert's admission settings from the next tick on.
    ///
    /// # Errors
    /// `ConcertNotFound` for an unknown concert.
    #[instrument(skip(self), fields(concert_id = %concert_id))]
    pub async fn update_queue_settings(
        &self,
        concert_id: ConcertId,
        patch: QueueSettingsPatch,
    ) -> Result<QueueStats, AdminQueueError> {
        self.ports
            .queue
            .update_settings(concert_id, patch, self.settings.queue)
            .await
    }
}

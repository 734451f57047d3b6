//! The queue gate: only the holder of an ACTIVE token for a concert may browse, hold and pay.

use domain::ports::QueueStore;
use domain::{
    ConcertId, QueueAccessError, QueuePolicy, QueueToken, QueueTokenId, StoreError, UserId,
};
use std::future::Future;

/// Checks `Queue-Token`s against the store's view of them.
pub struct QueueGate<'a> {
    queue: &'a dyn QueueStore,
    policy: QueuePolicy,
}

/// Why the gate did not open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateError {
    /// The token does not let the caller in.
    Access(QueueAccessError),
    /// The store failed.
    Store(StoreError),
}

impl<'a> QueueGate<'a> {
    /// A gate over a queue store.
    #[must_use]
    pub fn new(queue: &'a dyn QueueStore, policy: QueuePolicy) -> Self {
        Self { queue, policy }
    }

    /// Opens for `user` on `concert` when `token` is the user's ACTIVE token for that concert.
    ///
    /// # Errors
    /// `TokenRequired` for a missing or unknown token, `NotActive` for one that is waiting,
    /// expired, or another user's or concert's; store failures pass through.
    pub async fn admit(
        &self,
        token: Option<QueueTokenId>,
        user: UserId,
        concert: ConcertId,
    ) -> Result<QueueToken, GateError> {
        let token = self.lookup(token).await?;
        Self::authorize(token, user, concert)
    }

    /// Looks up the concert a request is about (`concert`, say a schedule's) and the caller's
    /// token at once (one wait instead of two), then lets the token in for that concert.
    /// `Ok(None)` when the concert lookup finds nothing: the caller's "not found", which wins
    /// over any token problem.
    ///
    /// # Errors
    /// `Store` when a lookup fails; `Access` as [`QueueGate::admit`].
    pub async fn admit_to<F>(
        &self,
        token: Option<QueueTokenId>,
        user: UserId,
        concert: F,
    ) -> Result<Option<ConcertId>, GateError>
    where
        F: Future<Output = Result<Option<ConcertId>, StoreError>>,
    {
        let (concert, looked_up) = futures::future::join(concert, self.lookup(token)).await;
        let Some(concert) = concert.map_err(GateError::Store)? else {
            return Ok(None);
        };
        Self::authorize(looked_up?, user, concert)?;
        Ok(Some(concert))
    }

    /// The caller's token, looked up before the concert is known (so that the two lookups can
    /// run at once); [`QueueGate::authorize`] then lets it in or not.
    ///
    /// # Errors
    /// `Access(TokenRequired)` for a missing or unknown token; `Store` when the lookup fails.
    pub async fn lookup(&self, token: Option<QueueTokenId>) -> Result<QueueToken, GateError> {
        let id = token.ok_or(GateError::Access(QueueAccessError::TokenRequired))?;
        let found = self
            .queue
            .token(id, self.policy)
            .await
            .map_err(GateError::Store)?;
        found.ok_or(GateError::Access(QueueAccessError::TokenRequired))
    }

    /// Lets a looked-up token in for `concert`, or says why not.
    ///
    /// # Errors
    /// `Access` when the token is someone else's, another concert's, or not ACTIVE.
    pub fn authorize(
        token: QueueToken,
        user: UserId,
        concert: ConcertId,
    ) -> Result<QueueToken, GateError> {
        token.authorize(user, concert).map_err(GateError::Access)?;
        Ok(token)
    }
}

macro_rules! gate_error_into {
    ($($target:ty),*) => {$(
        impl From<GateError> for $target {
            fn from(e: GateError) -> Self {
                match e {
                    GateError::Access(a) => Self::Access(a),
                    GateError::Store(s) => Self::Store(s),
                }
            }
        }
    )*};
}

gate_error_into!(
    domain::BrowseError,
    domain::HoldSeatsError,
    domain::PayError,
    domain::JoinWaitlistError
);

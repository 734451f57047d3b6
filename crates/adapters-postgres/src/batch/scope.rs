//! What a running batch knows of its callers, for the transaction runner (`db.rs`): the
//! deadline it must finish by, and whether every caller is still there before it commits.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::time::Instant;

/// What a running batch knows of its callers: the earliest deadline among them, and whether any
/// has gone away. The transaction runner (`db.rs`) stops at the deadline and asks
/// [`BatchScope::may_commit`] before each `COMMIT`.
#[derive(Clone)]
pub(crate) struct BatchScope {
    deadline: Instant,
    presence: Arc<dyn Presence>,
    /// Set once a transaction of this run committed: from then on the run goes to its end.
    committed: Arc<AtomicBool>,
    /// Set when a transaction rolled back because a caller had left.
    abandoned: Arc<AtomicBool>,
}

/// Whether every caller of a batch is still waiting for its answer.
pub(super) trait Presence: Send + Sync {
    fn all_present(&self) -> bool;
}

impl BatchScope {
    pub(super) fn new(deadline: Instant, presence: Arc<dyn Presence>) -> Self {
        Self {
            deadline,
            presence,
            committed: Arc::new(AtomicBool::new(false)),
            abandoned: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The earliest deadline of the batch's callers.
    pub(crate) const fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Asked just before `COMMIT`: `false` (and the transaction must roll back) when a caller
    /// left and nothing of this run has committed yet.
    pub(crate) fn may_commit(&self) -> bool {
        if self.committed.load(Ordering::SeqCst) || self.presence.all_present() {
            return true;
        }
        self.abandoned.store(true, Ordering::SeqCst);
        false
    }

    /// Told after a `COMMIT` succeeded.
    pub(crate) fn has_committed(&self) {
        self.committed.store(true, Ordering::SeqCst);
    }

    pub(super) fn was_abandoned(&self) -> bool {
        self.abandoned.load(Ordering::SeqCst) && !self.committed.load(Ordering::SeqCst)
    }
}

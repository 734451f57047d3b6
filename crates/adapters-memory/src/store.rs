//! [`MemoryStore`]: the whole state behind one mutex, the clock that decides time-based rules,
//! and the guards a negative control may switch off.

use crate::state::State;
use async_trait::async_trait;
#[cfg(feature = "negative-controls")]
use domain::guards::Guard;
use domain::guards::Guards;
use domain::ports::{Clock, StoreHealth};
use domain::{OsSeeds, SeedSource, StoreError, Timestamp};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The in-memory store: implements `CatalogueStore`, `QueueStore`, `ReservationStore`,
/// `WalletStore` and `StoreHealth`. Cloning is cheap and every clone shares the same state.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
    /// Every guard is on except in a test's negative control.
    guards: Guards,
    /// Where the pre-queue draws' seeds come from.
    seeds: Arc<dyn SeedSource>,
}

struct Inner {
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store whose time-based rules follow `clock`.
    #[must_use]
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Arc::new(Inner {
                clock,
                state: Mutex::new(State::default()),
            }),
            guards: Guards::default(),
            seeds: Arc::new(OsSeeds),
        }
    }

    /// The same store (sharing its state) drawing its pre-queues with seeds from `seeds`
    /// (fixed seeds make draws reproducible in tests and demos).
    #[must_use]
    pub fn with_seeds(mut self, seeds: Arc<dyn SeedSource>) -> Self {
        self.seeds = seeds;
        self
    }

    /// The draws' seed source.
    pub(crate) fn seeds(&self) -> &dyn SeedSource {
        self.seeds.as_ref()
    }

    /// **Tests only.** The same store (sharing its state) with `guard` switched off, for a
    /// negative control that proves a race test can fail; see [`Guard`]. Nothing in the service
    /// calls this.
    #[doc(hidden)]
    #[must_use]
    #[cfg(feature = "negative-controls")]
    pub fn with_guard_disabled(mut self, guard: Guard) -> Self {
        self.guards = self.guards.without(guard);
        self
    }

    /// The guards in force: all of them, except in a test's negative control.
    pub(crate) fn guards(&self) -> Guards {
        self.guards
    }

    /// The whole state, locked. A panic in another critical section does not take the store
    /// down: the poison flag is ignored (every method leaves the state consistent before any
    /// point where it could fail).
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The locked state and the time read under the lock, so that critical sections observe
    /// time in the order they run.
    pub(crate) fn state_at_now(&self) -> (MutexGuard<'_, State>, Timestamp) {
        let state = self.state();
        let now = self.inner.clock.now();
        (state, now)
    }
}

#[async_trait]
impl StoreHealth for MemoryStore {
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ping_always_answers() {
        let store = MemoryStore::new(Arc::new(crate::time::tests::FixedClock::default()));
        assert_eq!(store.ping().await, Ok(()));
        let clone = store.clone();
        assert!(format!("{clone:?}").contains("MemoryStore"));
    }

    #[test]
    fn store_is_send_and_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<MemoryStore>();
    }
}

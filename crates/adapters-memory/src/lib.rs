//! In-memory implementation of every store port of `domain::ports`.
//!
//! [`MemoryStore`] is the demo-mode store (no `DATABASE_URL`) and the mock server front-end teams
//! develop against, so it follows exactly the rules the PostgreSQL store follows:
//!
//! * every state-changing method is one critical section over the whole state (one mutex, never
//!   held across an `.await`), so every invariant holds at every instant;
//! * time-based rules are decided by the injected [`Clock`] only: a HELD reservation past
//!   `held_until`, an ACTIVE token past `active_until` and a WAITING token not polled within the
//!   idle timeout are EXPIRED for every purpose at once, whether or not a sweep ran;
//! * a waiting token's place in line is kept in a Fenwick tree over issue order, so it is exact
//!   and costs O(log n) even with a million tokens waiting.

mod catalogue;
mod fenwick;
mod invariants;
mod queue;
mod reservations;
mod seed;
mod state;
#[cfg(test)]
mod tests;
mod time;
mod wallet;

#[doc(hidden)]
pub use domain::guards::Guard;
pub use domain::invariants::{InvariantReport, Violation};
pub use fenwick::Fenwick;
pub use seed::{DemoCatalogue, DEMO_SEATS_PER_SCHEDULE};

use async_trait::async_trait;
use domain::guards::Guards;
use domain::ports::{Clock, StoreHealth};
use domain::{StoreError, Timestamp};
use state::State;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The in-memory store: implements `CatalogueStore`, `QueueStore`, `ReservationStore`,
/// `WalletStore` and `StoreHealth`. Cloning is cheap and every clone shares the same state.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
    /// Every guard is on except in a test's negative control.
    guards: Guards,
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
        }
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

    /// The whole state, locked. A panic in another critical section does not take the store
    /// down: the poison flag is ignored (every method leaves the state consistent before any
    /// point where it could fail).
    fn state(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The locked state and the time read under the lock, so that critical sections observe
    /// time in the order they run.
    fn state_at_now(&self) -> (MutexGuard<'_, State>, Timestamp) {
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
mod lib_tests {
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

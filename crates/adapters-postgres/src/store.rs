//! The store handle every port is implemented on: the database runner, the coalescing
//! batchers, and the cache of facts that never change.

use crate::batch::Batcher;
use crate::db::Db;
use crate::requests::{
    HoldAnswer, HoldRequest, JoinAnswer, JoinRequest, ListingAnswer, PayAnswer, PayRequest,
    PollRequest, RecordAnswer, RecordRead, ReservationRead, TokenRead,
};
use crate::rows::TokenRow;
use domain::Reservation;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

/// The PostgreSQL store: implements every port of `domain::ports`. Cloning is cheap and every
/// clone shares the pool, the batchers and the cache.
#[derive(Clone)]
pub struct PgStore {
    pub(crate) db: Db,
    /// The coalesced calls (see `batch/`).
    pub(crate) batches: Arc<Batches>,
    /// Which concert each schedule seen so far belongs to: a fact that never changes (the
    /// trigger `schedules_concert_fixed` refuses to change it), so every listing and hold after
    /// the first skips that read.
    pub(crate) schedule_concerts: Arc<KnownConcerts>,
    /// How many batches of one kind run at once (kept for a test's negative control, which
    /// rebuilds the batchers).
    #[cfg(feature = "negative-controls")]
    pub(crate) slots: usize,
    /// Where the pre-queue draws' seeds come from (OS randomness unless a test fixed them).
    pub(crate) seeds: Arc<dyn domain::SeedSource>,
    /// Draws this instance found due but another instance had made first (it then skipped).
    pub(crate) draws_lost: Arc<std::sync::atomic::AtomicU64>,
}

/// One batcher per coalesced call; each port module supplies its batch function (`connect.rs`
/// puts them together).
pub(crate) struct Batches {
    pub(crate) tokens: Batcher<TokenRead, Option<TokenRow>>,
    pub(crate) polls: Batcher<PollRequest, Option<TokenRow>>,
    pub(crate) joins: Batcher<JoinRequest, JoinAnswer>,
    pub(crate) holds: Batcher<HoldRequest, HoldAnswer>,
    pub(crate) payments: Batcher<PayRequest, PayAnswer>,
    pub(crate) reservations: Batcher<ReservationRead, Option<Reservation>>,
    pub(crate) idempotency_records: Batcher<RecordRead, RecordAnswer>,
    /// Keyed by schedule id.
    pub(crate) schedule_concerts: Batcher<i64, Option<i64>>,
    /// Keyed by schedule id.
    pub(crate) schedule_seats: Batcher<i64, ListingAnswer>,
}

/// A bounded map from schedule to concert (cleared when full: it is only a cache).
#[derive(Debug, Default)]
pub(crate) struct KnownConcerts(Mutex<HashMap<i64, i64>>);

impl KnownConcerts {
    /// Most schedules remembered.
    const MAX: usize = 65_536;

    /// The concert of `schedule`, if seen before.
    pub(crate) fn get(&self, schedule: i64) -> Option<i64> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&schedule)
            .copied()
    }

    /// Remembers the concert of `schedule`.
    pub(crate) fn remember(&self, schedule: i64, concert: i64) {
        let mut known = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if known.len() >= Self::MAX {
            known.clear();
        }
        known.insert(schedule, concert);
    }
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.db.pool_status();
        f.debug_struct("PgStore")
            .field("pool_size", &status.max_size)
            .field("open", &status.size)
            .field("idle", &status.available)
            .finish()
    }
}

//! Builds the store: the pool with its per-connection settings, the runner, and one batcher per
//! coalesced call, each running its port module's batch function.

use crate::config::PgConfig;
use crate::db::Db;
use crate::errors::SetupError;
use crate::store::{Batches, PgStore};
use crate::{catalogue, queue, reservations, wallet};
use diesel::sql_types::Text;
use diesel::ConnectionError;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
#[cfg(feature = "negative-controls")]
use domain::guards::Guard;
use std::sync::Arc;
use std::time::Duration;

/// How many batches of one kind run at once: an eighth of the pool, at least 2 (one runs while
/// the next one fills). Measured with `scripts/bench` on 2 cores and a pool of 16: 2 slots gave
/// 2,512 payments/s, 4 slots 2,146/s, 1 slot 2,028/s.
fn batch_slots(pool_size: usize) -> usize {
    (pool_size / 8).max(2)
}

/// Builds the pool and checks that one connection can be opened.
///
/// # Errors
/// [`SetupError::Config`] for an invalid configuration, [`SetupError::Unavailable`] when the
/// database cannot be reached within the timeouts.
pub async fn connect(config: PgConfig) -> Result<PgStore, SetupError> {
    let store = connect_lazy(config)?;
    store
        .db
        .check_out()
        .await
        .map_err(|e| SetupError::Unavailable(e.to_string()))?;
    Ok(store)
}

/// Builds the pool without opening any connection (they open on first use, and again after the
/// database comes back).
///
/// # Errors
/// [`SetupError::Config`] for an invalid configuration.
pub fn connect_lazy(config: PgConfig) -> Result<PgStore, SetupError> {
    if config.operation_timeout.is_zero() {
        return Err(SetupError::Config(
            "the operation timeout must be longer than zero".into(),
        ));
    }
    let connect_timeout = config.connect_timeout;
    let statement_ms = config.statement_timeout.as_millis().max(1).to_string();
    let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
    // No test query on every checkout (a round trip per request): a connection whose socket
    // closed is known to be broken without asking, and one that fails mid-request is dropped
    // and answered 503 like any outage.
    manager_config.recycling_method = RecyclingMethod::Fast;
    manager_config.custom_setup = Box::new(move |url| {
        let statement_ms = statement_ms.clone();
        Box::pin(async move {
            let mut conn = tokio::time::timeout(connect_timeout, AsyncPgConnection::establish(url))
                .await
                .map_err(|_| ConnectionError::BadConnection("connect timed out".into()))??;
            diesel::sql_query(
                "SELECT set_config('statement_timeout', $1, false), \
                        set_config('idle_in_transaction_session_timeout', $1, false), \
                        set_config('application_name', 'concert-reservation', false)",
            )
            .bind::<Text, _>(&statement_ms)
            .execute(&mut conn)
            .await
            .map_err(ConnectionError::CouldntSetupConfiguration)?;
            Ok(conn)
        })
    });
    let manager =
        AsyncDieselConnectionManager::new_with_config(config.database_url.clone(), manager_config);
    let pool = Pool::builder(manager)
        .max_size(config.pool_size.max(1))
        .wait_timeout(Some(config.wait_timeout))
        .create_timeout(Some(config.connect_timeout + Duration::from_secs(1)))
        .recycle_timeout(Some(config.connect_timeout))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| SetupError::Config(e.to_string()))?;
    Ok(assemble(
        Db::new(pool, config.operation_timeout),
        batch_slots(config.pool_size),
    ))
}

/// The store on `db`: every batcher runs its batches on `db`, `slots` at a time.
fn assemble(db: Db, slots: usize) -> PgStore {
    let batches = Batches {
        tokens: db.batcher(slots, queue::tokens_batch),
        polls: db.batcher(slots, queue::polls_batch),
        joins: db.batcher(slots, queue::joins_batch),
        holds: db.batcher(slots, reservations::holds_batch),
        payments: db.batcher(slots, wallet::payments_batch),
        reservations: db.batcher(slots, reservations::reservations_batch),
        idempotency_records: db.batcher(slots, wallet::records_batch),
        schedule_concerts: db.batcher(slots, catalogue::schedule_concerts_batch),
        schedule_seats: db.batcher(slots, catalogue::listings_batch),
    };
    PgStore {
        db,
        batches: Arc::new(batches),
        schedule_concerts: Arc::default(),
        #[cfg(feature = "negative-controls")]
        slots,
        seeds: Arc::new(domain::OsSeeds),
        draws_lost: Arc::default(),
    }
}

impl PgStore {
    /// The same store (sharing the pool) drawing its pre-queues with seeds from `seeds` (fixed
    /// seeds make draws reproducible in tests).
    #[must_use]
    pub fn with_seeds(mut self, seeds: Arc<dyn domain::SeedSource>) -> Self {
        self.seeds = seeds;
        self
    }

    /// How many draws this instance found due but skipped because another instance had drawn
    /// first (the draw-once guard at work; a race test reads it).
    #[must_use]
    pub fn draws_lost(&self) -> u64 {
        std::sync::atomic::AtomicU64::load(&self.draws_lost, std::sync::atomic::Ordering::Relaxed)
    }
}

impl PgStore {
    /// **Tests only** (cargo feature `negative-controls`). The same store (sharing the pool)
    /// with `guard` switched off, for a negative control that proves a race test can fail. On
    /// PostgreSQL only [`Guard::LockOrder`] is a switch in code; the other guards are SQL
    /// functions and constraints, which a negative control replaces in its own test database
    /// (`tests/common/controls.rs`).
    ///
    /// # Panics
    /// For any guard but [`Guard::LockOrder`].
    #[doc(hidden)]
    #[must_use]
    #[cfg(feature = "negative-controls")]
    pub fn with_guard_disabled(self, guard: Guard) -> Self {
        assert_eq!(
            guard,
            Guard::LockOrder,
            "on PostgreSQL only the lock order is switched off in code; see tests/common/controls.rs"
        );
        assemble(self.db.without(guard), self.slots)
    }
}

//! Connection pool, per-connection settings and the transaction runner every store method uses.

use crate::batch::BatchScope;
use crate::batched::Batches;
use crate::errors::{db_error, is_retryable, pool_error, Fail, SetupError};
use diesel::sql_types::Text;
use diesel::ConnectionError;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{
    AnsiTransactionManager, AsyncConnection, AsyncPgConnection, RunQueryDsl, TransactionManager,
};
use domain::guards::{Guard, Guards};
use domain::StoreError;
use futures::future::BoxFuture;
use futures::TryFutureExt;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How many batches of one kind run at once: an eighth of the pool, at least 2 (one runs while
/// the next one fills). Measured with `scripts/bench` on 2 cores and a pool of 16: 2 slots gave
/// 2,512 payments/s, 4 slots 2,146/s, 1 slot 2,028/s.
fn batch_slots(pool_size: usize) -> usize {
    (pool_size / 8).max(2)
}

/// How many times a transaction that hit a deadlock or serialization failure is re-run.
pub(crate) const MAX_ATTEMPTS: u32 = 4;

/// How to reach PostgreSQL and how long to wait for it.
#[derive(Clone, PartialEq, Eq)]
pub struct PgConfig {
    /// `postgres://user:password@host:port/database`.
    pub database_url: String,
    /// Connections in the pool.
    pub pool_size: usize,
    /// Longest wait to open one connection (TCP connect plus start-up).
    pub connect_timeout: Duration,
    /// Longest wait for a free pooled connection before answering `Unavailable`.
    pub wait_timeout: Duration,
    /// Server-side `statement_timeout` set on every connection.
    pub statement_timeout: Duration,
    /// Client-side bound on one store operation up to its commit (connection wait, every
    /// statement, retries; for a coalesced call, its wait for a batch too); past it the operation
    /// answers `Unavailable` and its connection is dropped, which rolls the transaction back. A
    /// `COMMIT` already sent is waited for (up to this long again). Keep it shorter than the HTTP
    /// request timeout, so that the store gives up, and rolls back, before the request is
    /// answered 503 (the service uses half the request timeout).
    pub operation_timeout: Duration,
}

impl fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConfig")
            .field("database_url", &redact(&self.database_url))
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("wait_timeout", &self.wait_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .finish()
    }
}

/// The URL with any password replaced by `***`, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl PgConfig {
    /// Defaults for `database_url`: a pool of four connections per CPU (8 to 64), 5 s to connect,
    /// 5 s to wait for a pooled connection, a 10 s statement timeout and a 5 s operation bound
    /// (half the service's default request timeout of 10 s).
    #[must_use]
    pub fn new(database_url: impl Into<String>) -> Self {
        let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        Self {
            database_url: database_url.into(),
            pool_size: (cpus * 4).clamp(8, 64),
            connect_timeout: Duration::from_secs(5),
            wait_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(5),
        }
    }

    /// The same settings with another pool size.
    #[must_use]
    pub fn with_pool_size(mut self, pool_size: usize) -> Self {
        self.pool_size = pool_size.max(1);
        self
    }

    /// The same settings with another operation timeout (see [`PgConfig::operation_timeout`]).
    #[must_use]
    pub const fn with_operation_timeout(mut self, operation_timeout: Duration) -> Self {
        self.operation_timeout = operation_timeout;
        self
    }
}

/// The PostgreSQL store: implements every port of `domain::ports`. Cloning is cheap and every
/// clone shares the pool.
#[derive(Clone)]
pub struct PgStore {
    pub(crate) pool: Pool<AsyncPgConnection>,
    operation_timeout: Duration,
    /// Every guard is on except in a test's negative control.
    pub(crate) guards: Guards,
    /// The hot reads, coalesced across concurrent callers (see `batch.rs`).
    pub(crate) batches: Arc<Batches>,
    /// Which concert each schedule seen so far belongs to: a fact that never changes (the
    /// trigger `schedules_concert_fixed` refuses to change it), so every listing and hold after
    /// the first skips that read.
    pub(crate) schedule_concerts: Arc<KnownConcerts>,
}

/// A bounded map from schedule to concert (cleared when full: it is only a cache).
#[derive(Debug, Default)]
pub(crate) struct KnownConcerts(std::sync::Mutex<std::collections::HashMap<i64, i64>>);

impl KnownConcerts {
    /// Most schedules remembered.
    const MAX: usize = 65_536;

    /// The concert of `schedule`, if seen before.
    pub(crate) fn get(&self, schedule: i64) -> Option<i64> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&schedule)
            .copied()
    }

    /// Remembers the concert of `schedule`.
    pub(crate) fn remember(&self, schedule: i64, concert: i64) {
        let mut known = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if known.len() >= Self::MAX {
            known.clear();
        }
        known.insert(schedule, concert);
    }
}

/// Runs single statements on pooled connections; what a batch needs of the store.
#[derive(Clone)]
pub(crate) struct Reader {
    pool: Pool<AsyncPgConnection>,
    operation_timeout: Duration,
    /// The batch this handle works for, if any: its deadline, and its callers' presence.
    scope: Option<BatchScope>,
}

/// The answer of an operation that ran out of time before it could commit (nothing was written).
fn timed_out() -> StoreError {
    StoreError::Unavailable("database operation timed out".into())
}

impl Reader {
    /// The same handle working for one batch: bounded by its callers' earliest deadline, and
    /// committing only while they are all still there.
    pub(crate) fn in_batch(&self, scope: BatchScope) -> Self {
        Self {
            scope: Some(scope),
            ..self.clone()
        }
    }

    /// When this operation must give up: the batch's deadline, or the operation timeout from now.
    fn deadline(&self) -> Instant {
        self.scope.as_ref().map_or_else(
            || Instant::now() + self.operation_timeout,
            BatchScope::deadline,
        )
    }

    /// Runs one statement in a transaction of its own (the statement is typically a function
    /// that does all the work), re-running it after a deadlock or serialization failure, up to
    /// `max_attempts` times, as [`Reader::tx`] does. It is not sent in autocommit: a statement
    /// that the operation timeout gives up on must be rolled back, and in autocommit it would
    /// commit on the server whenever it finished, after its caller was answered 503.
    pub(crate) async fn call<R, F>(&self, max_attempts: u32, body: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: for<'c> Fn(&'c mut AsyncPgConnection) -> BoxFuture<'c, diesel::QueryResult<R>>,
    {
        self.tx(max_attempts, |conn| {
            Box::pin(body(conn).map_err(Fail::<std::convert::Infallible>::Db))
        })
        .await
        .map_err(|e| match e {
            Fail::Db(e) => db_error(e),
            Fail::Store(e) => e,
            Fail::Biz(never) => match never {},
        })
    }

    /// Runs `body` in one transaction (READ COMMITTED): commits on `Ok`, rolls back on `Err`.
    /// A deadlock or serialization failure re-runs it (a fresh call of `body`) up to
    /// `max_attempts` times.
    ///
    /// Everything up to the commit (connection wait, `BEGIN`, the body, retries) is bounded by
    /// the deadline (see [`Reader::deadline`]); past it the connection is dropped mid-transaction,
    /// so the server rolls the work back, and the answer is `Unavailable`. For a batch, the commit
    /// is skipped (rolled back) when one of its callers has left. A `COMMIT` once sent is waited
    /// for (up to the operation timeout again), so an operation that committed is never answered
    /// as timed out.
    pub(crate) async fn tx<R, E, F>(&self, max_attempts: u32, body: F) -> Result<R, Fail<E>>
    where
        F: for<'c> Fn(&'c mut AsyncPgConnection) -> TxFuture<'c, R, E>,
    {
        let deadline = self.deadline();
        let mut attempt = 1;
        loop {
            match self.tx_once(&body, deadline).await {
                Err(Fail::Db(e)) if attempt < max_attempts && is_retryable(&e) => {
                    tracing::debug!(attempt, error = %e, "retrying transaction");
                    attempt += 1;
                    let pause = Instant::now() + Duration::from_millis(5 * u64::from(attempt));
                    if pause >= deadline {
                        return Err(Fail::Store(timed_out()));
                    }
                    tokio::time::sleep_until(pause).await;
                }
                other => return other,
            }
        }
    }

    async fn tx_once<R, E, F>(&self, body: &F, deadline: Instant) -> Result<R, Fail<E>>
    where
        F: for<'c> Fn(&'c mut AsyncPgConnection) -> TxFuture<'c, R, E>,
    {
        let work = async {
            let mut conn = self
                .pool
                .get()
                .await
                .map_err(|e| Fail::Store(pool_error(e)))?;
            AnsiTransactionManager::begin_transaction(&mut *conn).await?;
            let outcome = body(&mut conn).await;
            Ok::<_, Fail<E>>((conn, outcome))
        };
        // Dropped at the deadline, the connection leaves with its transaction open: the pool
        // discards it (diesel marks it broken), the server sees the socket close and rolls back.
        let (mut conn, outcome) = match tokio::time::timeout_at(deadline, work).await {
            Ok(started) => started?,
            Err(_) => return Err(Fail::Store(timed_out())),
        };
        let conn: &mut AsyncPgConnection = &mut conn;
        let value = match outcome {
            Ok(value) => value,
            Err(e) => {
                rollback(conn).await;
                return Err(e);
            }
        };
        if let Some(scope) = &self.scope {
            if !scope.may_commit() {
                rollback(conn).await;
                return Err(Fail::Store(StoreError::Unavailable(
                    "a caller of the batch gave up before it committed".into(),
                )));
            }
        }
        match tokio::time::timeout(
            self.operation_timeout,
            AnsiTransactionManager::commit_transaction(conn),
        )
        .await
        {
            Ok(committed) => committed?,
            Err(_) => {
                return Err(Fail::Store(StoreError::Unavailable(
                    "no answer to COMMIT within the operation timeout (outcome unknown)".into(),
                )))
            }
        }
        if let Some(scope) = &self.scope {
            scope.has_committed();
        }
        Ok(value)
    }

    /// Runs `body` on one pooled connection without a transaction (for reads and idempotent
    /// sweeps), bounded by the deadline; a pool or database failure becomes a [`StoreError`].
    pub(crate) async fn read<R, F>(&self, body: F) -> Result<R, StoreError>
    where
        F: for<'c> Fn(&'c mut AsyncPgConnection) -> BoxFuture<'c, diesel::QueryResult<R>>,
    {
        let once = async {
            let mut conn = self.pool.get().await.map_err(pool_error)?;
            body(&mut conn).await.map_err(db_error)
        };
        match tokio::time::timeout_at(self.deadline(), once).await {
            Ok(result) => result,
            Err(_) => Err(timed_out()),
        }
    }
}

/// Rolls back after a failed body; a connection whose rollback fails is dropped by the pool.
async fn rollback(conn: &mut AsyncPgConnection) {
    let rolled_back = tokio::time::timeout(
        ROLLBACK_TIMEOUT,
        AnsiTransactionManager::rollback_transaction(conn),
    )
    .await;
    match rolled_back {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "rollback failed; the connection is dropped"),
        Err(_) => tracing::debug!("rollback timed out; the connection is dropped"),
    }
}

/// The longest wait for a `ROLLBACK` (the connection is dropped after it, which rolls back too).
const ROLLBACK_TIMEOUT: Duration = Duration::from_secs(1);

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.pool.status();
        f.debug_struct("PgStore")
            .field("pool_size", &status.max_size)
            .field("open", &status.size)
            .field("idle", &status.available)
            .finish()
    }
}

/// Builds the pool and checks that one connection can be opened.
///
/// # Errors
/// [`SetupError::Config`] for an invalid configuration, [`SetupError::Unavailable`] when the
/// database cannot be reached within the timeouts.
pub async fn connect(config: PgConfig) -> Result<PgStore, SetupError> {
    let store = connect_lazy(config)?;
    let first = store
        .pool
        .get()
        .await
        .map_err(|e| SetupError::Unavailable(pool_error(e).to_string()))?;
    drop(first);
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
    let reader = Reader {
        pool: pool.clone(),
        operation_timeout: config.operation_timeout,
        scope: None,
    };
    Ok(PgStore {
        pool,
        operation_timeout: config.operation_timeout,
        guards: Guards::default(),
        batches: Arc::new(Batches::new(
            &reader,
            batch_slots(config.pool_size),
            config.operation_timeout,
        )),
        schedule_concerts: Arc::default(),
    })
}

/// A future borrowing one connection, as transaction bodies return it.
pub(crate) type TxFuture<'c, R, E> = BoxFuture<'c, Result<R, Fail<E>>>;

impl PgStore {
    /// **Tests only.** The same store (sharing the pool) with `guard` switched off, for a negative
    /// control that proves a race test can fail; see [`Guard`] for what each one does. Nothing in
    /// the service calls this.
    #[doc(hidden)]
    #[must_use]
    #[cfg(feature = "negative-controls")]
    pub fn with_guard_disabled(mut self, guard: Guard) -> Self {
        self.guards = self.guards.without(guard);
        self
    }

    /// Runs `body` in one transaction (READ COMMITTED): commits on `Ok`, rolls back on `Err`.
    /// A deadlock or serialization failure re-runs it (a fresh call of `body`); the whole thing,
    /// connection wait included, is bounded by the operation timeout.
    pub(crate) async fn tx<R, E, F>(&self, body: F) -> Result<R, Fail<E>>
    where
        F: for<'c> Fn(&'c mut AsyncPgConnection) -> TxFuture<'c, R, E>,
    {
        self.reader().tx(self.max_attempts(), body).await
    }

    /// Runs one statement (a function that does all the work) in its own transaction, re-running
    /// it after a deadlock or serialization failure as [`PgStore::tx`] does (see [`Reader::call`]).
    pub(crate) async fn call<R, F>(&self, body: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: for<'c> Fn(&'c mut AsyncPgConnection) -> BoxFuture<'c, diesel::QueryResult<R>>,
    {
        self.reader().call(self.max_attempts(), body).await
    }

    /// How often a deadlocked transaction is tried: once, in a test's negative control for
    /// lock order (so the deadlock reaches the caller).
    fn max_attempts(&self) -> u32 {
        if self.guards.on(Guard::LockOrder) {
            MAX_ATTEMPTS
        } else {
            1
        }
    }

    /// The store's statement runner, without its guards.
    fn reader(&self) -> Reader {
        Reader {
            pool: self.pool.clone(),
            operation_timeout: self.operation_timeout,
            scope: None,
        }
    }

    /// Runs `body` on one pooled connection without a transaction (for single statements), with
    /// the same timeout and error handling as [`PgStore::tx`].
    pub(crate) async fn read<R, F>(&self, body: F) -> Result<R, StoreError>
    where
        F: for<'c> Fn(&'c mut AsyncPgConnection) -> BoxFuture<'c, diesel::QueryResult<R>>,
    {
        self.reader().read(body).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/concert"),
            "postgres://app:***@db:5432/concert"
        );
        assert_eq!(
            redact("postgres://app@db/concert"),
            "postgres://app@db/concert"
        );
        let shown = format!("{:?}", PgConfig::new("postgres://u:pw@h/d"));
        assert!(!shown.contains("pw"));
    }
}

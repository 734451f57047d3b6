//! The database runner: every statement of the store runs through [`Db::transaction`] or
//! [`Db::autocommit`], which share one deadline rule, one retry loop and one error mapping.

use crate::batch::{BatchFn, BatchScope, Batcher, Limits};
use crate::errors::{db_error, is_retryable, pool_error, Fail};
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::{AnsiTransactionManager, AsyncPgConnection, TransactionManager};
#[cfg(feature = "negative-controls")]
use domain::guards::{Guard, Guards};
use domain::StoreError;
use futures::future::BoxFuture;
use futures::TryFutureExt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How many times a transaction that hit a deadlock or serialization failure is run in all.
const MAX_ATTEMPTS: u32 = 4;

/// The longest wait for a `ROLLBACK` (the connection is dropped after it, which rolls back too).
const ROLLBACK_TIMEOUT: Duration = Duration::from_secs(1);

/// A future borrowing one connection, as transaction bodies return it.
pub(crate) type TxFuture<'c, R, E> = BoxFuture<'c, Result<R, Fail<E>>>;

/// Runs statements on pooled connections, each operation bounded by a deadline.
#[derive(Clone)]
pub(crate) struct Db {
    pool: Pool<AsyncPgConnection>,
    operation_timeout: Duration,
    /// The batch this handle works for, if any: its deadline, and its callers' presence.
    scope: Option<BatchScope>,
    /// Every guard is on, except in a test's negative control (test builds only).
    #[cfg(feature = "negative-controls")]
    guards: Guards,
    /// How many hold transactions have chosen their seat order (the lock-order control's).
    #[cfg(feature = "negative-controls")]
    seat_orders: Arc<std::sync::atomic::AtomicU64>,
}

/// The answer of an operation that ran out of time before it could commit (nothing was written).
fn timed_out() -> StoreError {
    StoreError::Unavailable("database operation timed out".into())
}

impl Db {
    /// A runner on `pool` whose operations give up after `operation_timeout`.
    pub(crate) fn new(pool: Pool<AsyncPgConnection>, operation_timeout: Duration) -> Self {
        Self {
            pool,
            operation_timeout,
            scope: None,
            #[cfg(feature = "negative-controls")]
            guards: Guards::default(),
            #[cfg(feature = "negative-controls")]
            seat_orders: Arc::default(),
        }
    }

    /// **Tests only.** The same runner with `guard` off (see [`Db::seat_locks_descending`]).
    #[cfg(feature = "negative-controls")]
    #[must_use]
    pub(crate) const fn without(mut self, guard: Guard) -> Self {
        self.guards = self.guards.without(guard);
        self
    }

    /// **Tests only.** With the lock-order guard off, every second hold transaction locks its
    /// seats in descending id order (see `reservations/hold.rs`), so two at once can deadlock.
    #[cfg(feature = "negative-controls")]
    pub(crate) fn seat_locks_descending(&self) -> bool {
        !self.guards.on(Guard::LockOrder)
            && self
                .seat_orders
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                % 2
                == 1
    }

    /// How many times a transaction runs at most: once in a test's negative control for lock
    /// order (so a deadlock reaches the caller), else [`MAX_ATTEMPTS`].
    const fn attempts(&self) -> u32 {
        #[cfg(feature = "negative-controls")]
        if !self.guards.on(Guard::LockOrder) {
            return 1;
        }
        MAX_ATTEMPTS
    }

    /// The same runner working for one batch: bounded by its callers' earliest deadline, and
    /// committing only while they are all still there.
    fn in_batch(&self, scope: BatchScope) -> Self {
        Self {
            scope: Some(scope),
            ..self.clone()
        }
    }

    /// A batcher whose batches run `run` with this runner bound to the batch's callers.
    pub(crate) fn batcher<K, V, F>(&self, slots: usize, run: fn(Self, Vec<K>) -> F) -> Batcher<K, V>
    where
        K: Clone + Send + 'static,
        V: Send + 'static,
        F: Future<Output = Result<Vec<V>, StoreError>> + Send + 'static,
    {
        let db = self.clone();
        let run: BatchFn<K, V> =
            Arc::new(move |keys, scope| Box::pin(run(db.in_batch(scope), keys)));
        Batcher::new(Limits::new(slots, self.operation_timeout), run)
    }

    /// When this operation must give up: the batch's deadline, or the operation timeout from now.
    fn deadline(&self) -> Instant {
        self.scope.as_ref().map_or_else(
            || Instant::now() + self.operation_timeout,
            BatchScope::deadline,
        )
    }

    /// Runs `body` in one transaction (READ COMMITTED): commits on `Ok`, rolls back on `Err`.
    /// A deadlock or serialization failure re-runs it (a fresh call of `body`).
    ///
    /// Everything up to the commit (connection wait, `BEGIN`, the body, retries) is bounded by
    /// the deadline (see [`Db::deadline`]); past it the connection is dropped mid-transaction, so
    /// the server rolls the work back, and the answer is `Unavailable`. For a batch, the commit
    /// is skipped (rolled back) when one of its callers has left. A `COMMIT` once sent is waited
    /// for (up to the operation timeout again), so an operation that committed is never answered
    /// as timed out.
    pub(crate) async fn transaction<R, E, F>(&self, body: F) -> Result<R, Fail<E>>
    where
        F: for<'c> Fn(&'c mut AsyncPgConnection) -> TxFuture<'c, R, E>,
    {
        let deadline = self.deadline();
        let mut attempt = 1;
        loop {
            match self.transaction_once(&body, deadline).await {
                Err(Fail::Db(e)) if attempt < self.attempts() && is_retryable(&e) => {
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

    /// [`Db::transaction`] for a body with no business error of its own (typically one call of a
    /// SQL function that does all the work). It is not sent in autocommit: a statement that the
    /// deadline gives up on must be rolled back, and in autocommit it would commit on the server
    /// whenever it finished, after its caller was answered 503.
    pub(crate) async fn statement<R, F>(&self, body: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: for<'c> Fn(&'c mut AsyncPgConnection) -> BoxFuture<'c, diesel::QueryResult<R>>,
    {
        self.transaction(|conn| Box::pin(body(conn).map_err(Fail::<StoreError>::Db)))
            .await
            .map_err(Fail::into_error)
    }

    /// Runs `body` on one pooled connection without a transaction, bounded by the deadline: for
    /// reads, and for sweeps that any later run repeats (nothing is lost if one is cut short).
    pub(crate) async fn autocommit<R, F>(&self, body: F) -> Result<R, StoreError>
    where
        F: for<'c> Fn(&'c mut AsyncPgConnection) -> BoxFuture<'c, diesel::QueryResult<R>>,
    {
        let once = async {
            let mut conn = self.pool.get().await.map_err(pool_error)?;
            body(&mut conn).await.map_err(db_error)
        };
        tokio::time::timeout_at(self.deadline(), once)
            .await
            .unwrap_or_else(|_| Err(timed_out()))
    }

    async fn transaction_once<R, E, F>(&self, body: &F, deadline: Instant) -> Result<R, Fail<E>>
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

    /// The pool's state, for `Debug`.
    pub(crate) fn pool_status(&self) -> deadpool::Status {
        self.pool.status()
    }

    /// One connection from the pool (start-up's reachability check).
    pub(crate) async fn check_out(&self) -> Result<(), StoreError> {
        self.pool.get().await.map(drop).map_err(pool_error)
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

//! Mapping database and pool failures to the domain's errors.
//!
//! diesel does not expose the SQLSTATE of a database error, only its kind (unique, foreign key,
//! check violation, connection lost, ...) and the server's message. Constraint violations are told
//! apart by constraint name; the few conditions diesel reports as "unknown" (deadlock, shutdown,
//! statement timeout) are recognised by the server's message text.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::deadpool::PoolError;
use diesel_async::pooled_connection::PoolError as ManagerError;
use domain::StoreError;

/// Why the store could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    /// The configuration is unusable (for example a pool size of zero).
    #[error("invalid database configuration: {0}")]
    Config(String),
    /// The database could not be reached within the timeouts.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A migration failed; the schema was left at the last migration that succeeded.
    #[error("database migration failed: {0}")]
    Migration(String),
}

/// How a transaction body fails: a database error (maybe retried), an already mapped store
/// error, or a business rule's answer.
#[derive(Debug)]
pub(crate) enum Fail<E> {
    /// A database error, mapped when the transaction gives up.
    Db(DieselError),
    /// A store failure already mapped (pool timeout, operation timeout, bad row).
    Store(StoreError),
    /// The operation's own error (the transaction is rolled back).
    Biz(E),
}

impl<E> From<DieselError> for Fail<E> {
    fn from(e: DieselError) -> Self {
        Self::Db(e)
    }
}

impl<E: From<StoreError>> Fail<E> {
    /// The operation's error.
    pub(crate) fn into_error(self) -> E {
        match self {
            Self::Db(e) => E::from(db_error(e)),
            Self::Store(e) => E::from(e),
            Self::Biz(e) => e,
        }
    }
}

impl Fail<StoreError> {
    /// The same failure inside an operation with an error of its own: a helper's store failure
    /// is never that operation's business answer.
    pub(crate) fn widen<E>(self) -> Fail<E> {
        match self {
            Self::Db(e) => Fail::Db(e),
            Self::Store(e) | Self::Biz(e) => Fail::Store(e),
        }
    }
}

/// Server messages that mean "the database cannot serve right now".
const UNAVAILABLE_MESSAGES: &[&str] = &[
    "terminating connection",
    "canceling statement due to statement timeout",
    "canceling statement due to lock timeout",
    "canceling statement due to conflict with recovery",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "the database system is not yet accepting connections",
    "too many clients already",
    "remaining connection slots are reserved",
    "connection closed",
    "server closed the connection",
    "connection reset",
    "broken pipe",
    "in a read-only transaction",
];

/// Maps a diesel error: lost or refused connections and timeouts are `Unavailable`, the rest
/// `Internal` (callers map the constraint violations they expect before this).
pub(crate) fn db_error(e: DieselError) -> StoreError {
    match &e {
        DieselError::DatabaseError(
            DatabaseErrorKind::UnableToSendCommand
            | DatabaseErrorKind::ClosedConnection
            | DatabaseErrorKind::ReadOnlyTransaction,
            info,
        ) => StoreError::Unavailable(info.message().to_owned()),
        DieselError::DatabaseError(_, info) if is_unavailable_message(info.message()) => {
            StoreError::Unavailable(info.message().to_owned())
        }
        DieselError::BrokenTransactionManager => {
            StoreError::Unavailable("connection lost during a transaction".into())
        }
        DieselError::DatabaseError(kind, info) => StoreError::Internal(format!(
            "{kind:?}: {} (constraint {:?})",
            info.message(),
            info.constraint_name()
        )),
        other => StoreError::Internal(other.to_string()),
    }
}

fn is_unavailable_message(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    UNAVAILABLE_MESSAGES.iter().any(|m| message.contains(m))
}

/// Maps a pool failure: every one of them means the database cannot be used right now.
pub(crate) fn pool_error(e: PoolError) -> StoreError {
    match e {
        PoolError::Timeout(kind) => StoreError::Unavailable(format!(
            "no database connection available ({kind:?} timeout)"
        )),
        PoolError::Backend(ManagerError::ConnectionError(e)) => {
            StoreError::Unavailable(format!("cannot connect to the database: {e}"))
        }
        PoolError::Backend(ManagerError::QueryError(e)) => {
            StoreError::Unavailable(format!("database connection check failed: {e}"))
        }
        PoolError::Closed => StoreError::Unavailable("connection pool closed".into()),
        PoolError::PostCreateHook(e) => {
            StoreError::Unavailable(format!("connection set-up failed: {e}"))
        }
        PoolError::NoRuntimeSpecified => {
            StoreError::Internal("connection pool has no runtime".into())
        }
    }
}

/// True for a deadlock or serialization failure: the transaction may simply be run again.
pub(crate) fn is_retryable(e: &DieselError) -> bool {
    match e {
        DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => true,
        DieselError::DatabaseError(_, info) => info.message().contains("deadlock detected"),
        _ => false,
    }
}

/// True when a statement gave up waiting for a lock (`lock_timeout`).
pub(crate) fn is_lock_timeout(e: &DieselError) -> bool {
    matches!(e, DieselError::DatabaseError(_, info) if info.message().contains("lock timeout"))
}

/// The constraint a unique violation hit, if that is what `e` is.
pub(crate) fn unique_violation(e: &DieselError) -> Option<&str> {
    match e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            Some(info.constraint_name().unwrap_or(""))
        }
        _ => None,
    }
}

/// A value read back from the database that the domain refuses: a corrupted row.
pub(crate) fn bad_row(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("invalid {what} in the database: {detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shutdown_and_timeouts_are_unavailable() {
        assert!(is_unavailable_message(
            "terminating connection due to administrator command"
        ));
        assert!(is_unavailable_message(
            "canceling statement due to statement timeout"
        ));
        assert!(!is_unavailable_message(
            "duplicate key value violates unique constraint"
        ));
    }
}

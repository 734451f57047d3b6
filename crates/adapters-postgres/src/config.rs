//! How to reach PostgreSQL and how long to wait for it.

use std::fmt;
use std::time::Duration;

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

//! Per-user rate limit on queue joins: a fixed window per user, sharded to keep lock
//! contention low during a ticket-drop spike. Per instance: behind a load balancer each
//! instance enforces it on the traffic it sees.

use domain::{Timestamp, UserId};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

const SHARDS: usize = 32;

/// How many joins one user may make per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinRateLimit {
    /// Joins allowed per window (0 disables the limit).
    pub max_joins: u32,
    /// Window length in seconds (at least 1).
    pub window_secs: u32,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started_at: Timestamp,
    count: u32,
}

/// Counts joins per user and refuses the excess with the seconds to wait.
#[derive(Debug)]
pub struct JoinRateLimiter {
    limit: JoinRateLimit,
    shards: Vec<Mutex<HashMap<UserId, Window>>>,
}

impl JoinRateLimiter {
    /// A limiter with the given limit.
    #[must_use]
    pub fn new(limit: JoinRateLimit) -> Self {
        let limit = JoinRateLimit {
            window_secs: limit.window_secs.max(1),
            ..limit
        };
        Self {
            limit,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// Records a join by `user` at `now`.
    ///
    /// # Errors
    /// The seconds until the user may join again (at least 1) when over the limit.
    pub fn check(&self, user: UserId, now: Timestamp) -> Result<(), u64> {
        if self.limit.max_joins == 0 {
            return Ok(());
        }
        let window = chrono::Duration::seconds(i64::from(self.limit.window_secs));
        let shard_index = usize::try_from(user.get().unsigned_abs() % SHARDS as u64).unwrap_or(0);
        let mut shard = self.shards[shard_index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if shard.len() > 100_000 {
            shard.retain(|_, w| now - w.started_at < window);
        }
        let entry = shard.entry(user).or_insert(Window {
            started_at: now,
            count: 0,
        });
        if now - entry.started_at >= window {
            *entry = Window {
                started_at: now,
                count: 0,
            };
        }
        if entry.count >= self.limit.max_joins {
            let wait = (entry.started_at + window - now).num_milliseconds();
            let secs = u64::try_from(wait).unwrap_or(0).div_ceil(1000).max(1);
            return Err(secs);
        }
        entry.count += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, Utc};

    fn user(n: i64) -> UserId {
        UserId::new(n).expect("positive")
    }

    #[test]
    fn allows_up_to_the_limit_then_says_how_long_to_wait() {
        let limiter = JoinRateLimiter::new(JoinRateLimit {
            max_joins: 2,
            window_secs: 10,
        });
        let t0 = Utc::now();
        assert_eq!(limiter.check(user(1), t0), Ok(()));
        assert_eq!(limiter.check(user(1), t0), Ok(()));
        assert_eq!(limiter.check(user(1), t0 + Duration::seconds(3)), Err(7));
        assert_eq!(
            limiter.check(user(2), t0),
            Ok(()),
            "other users are not affected"
        );
        assert_eq!(
            limiter.check(user(1), t0 + Duration::seconds(10)),
            Ok(()),
            "a new window"
        );
    }

    #[test]
    fn zero_disables_the_limit() {
        let limiter = JoinRateLimiter::new(JoinRateLimit {
            max_joins: 0,
            window_secs: 1,
        });
        let now = Utc::now();
        assert!((0..1000).all(|_| limiter.check(user(1), now).is_ok()));
    }
}

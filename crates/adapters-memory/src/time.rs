//! Saturating arithmetic between [`Timestamp`]s and [`std::time::Duration`]s.

use chrono::{DateTime, TimeDelta, Utc};
use domain::Timestamp;
use std::time::Duration;

/// `t + d`, saturating at the largest representable instant.
pub(crate) fn plus(t: Timestamp, d: Duration) -> Timestamp {
    TimeDelta::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `t - d`, saturating at the smallest representable instant.
pub(crate) fn minus(t: Timestamp, d: Duration) -> Timestamp {
    TimeDelta::from_std(d)
        .ok()
        .and_then(|d| t.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use domain::ports::Clock;
    use std::sync::Mutex;

    /// A clock tests move by hand.
    #[derive(Debug)]
    pub(crate) struct FixedClock(Mutex<Timestamp>);

    impl Default for FixedClock {
        fn default() -> Self {
            Self(Mutex::new(
                DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
                    .expect("valid time")
                    .with_timezone(&Utc),
            ))
        }
    }

    impl FixedClock {
        pub(crate) fn advance(&self, d: Duration) {
            let mut now = self.0.lock().expect("clock lock");
            *now = plus(*now, d);
        }
    }

    impl Clock for FixedClock {
        fn now(&self) -> Timestamp {
            *self.0.lock().expect("clock lock")
        }
    }

    #[test]
    fn arithmetic_saturates() {
        let max = DateTime::<Utc>::MAX_UTC;
        let min = DateTime::<Utc>::MIN_UTC;
        assert_eq!(plus(max, Duration::from_secs(1)), max);
        assert_eq!(minus(min, Duration::from_secs(1)), min);
        assert_eq!(plus(min, Duration::MAX), max);
        let t = FixedClock::default().now();
        assert_eq!(
            minus(plus(t, Duration::from_secs(5)), Duration::from_secs(5)),
            t
        );
    }
}

//! Maintenance use cases run by the scheduler: admission, and the expiry sweeps. Correctness
//! never depends on the sweeps (time-based expiry is applied on every read); they keep tables
//! tidy and free active slots promptly.

use crate::Services;
use domain::{AdmissionReport, StoreError};
use tracing::instrument;

/// Batch size of one expiry sweep step: bounded so one sweep never holds many row locks.
pub const SWEEP_BATCH: u32 = 500;

/// The background jobs' entry points.
#[derive(Clone)]
pub struct MaintenanceJobs {
    services: Services,
}

impl MaintenanceJobs {
    /// Jobs over the same ports and settings as the request path.
    #[must_use]
    pub const fn new(services: Services) -> Self {
        Self { services }
    }

    /// One admission tick over every concert.
    ///
    /// # Errors
    /// Store failures (the scheduler logs them and retries on the next tick).
    #[instrument(skip(self))]
    pub async fn admit(&self) -> Result<Vec<AdmissionReport>, StoreError> {
        self.services
            .ports
            .queue
            .admit(self.services.settings.queue)
            .await
    }

    /// Expires ACTIVE tokens whose window closed, batch after batch until none is left.
    ///
    /// # Errors
    /// Store failures.
    #[instrument(skip(self))]
    pub async fn expire_active_tokens(&self) -> Result<u64, StoreError> {
        drain(|| self.services.ports.queue.expire_active(SWEEP_BATCH)).await
    }

    /// Drops WAITING tokens not polled within the idle timeout.
    ///
    /// # Errors
    /// Store failures.
    #[instrument(skip(self))]
    pub async fn drop_idle_tokens(&self) -> Result<u64, StoreError> {
        let idle = self.services.settings.queue.idle_timeout();
        drain(|| self.services.ports.queue.drop_idle(idle, SWEEP_BATCH)).await
    }

    /// Marks holds past their deadline as EXPIRED.
    ///
    /// # Errors
    /// Store failures.
    #[instrument(skip(self))]
    pub async fn expire_holds(&self) -> Result<u64, StoreError> {
        drain(|| self.services.ports.reservations.expire_holds(SWEEP_BATCH)).await
    }

    /// THE waiting-list offer step over every date with a list: settles lapsed offers and
    /// offers every seat that came back to the earliest WAITING entries. Safe in several
    /// instances at once. Returns how many offers it made.
    ///
    /// # Errors
    /// Store failures.
    #[instrument(skip(self))]
    pub async fn offer_waitlist_seats(&self) -> Result<u64, StoreError> {
        self.services
            .ports
            .waitlist
            .offer_waitlist_seats(None, self.services.waitlist)
            .await
    }
}

/// Runs a bounded sweep step until it reports a partial batch; returns the total.
async fn drain<F, Fut>(mut step: F) -> Result<u64, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, StoreError>>,
{
    let mut total = 0;
    // A cap on rounds keeps one tick bounded even if expiry outpaces the sweep.
    for _ in 0..100 {
        let done = step().await?;
        total += done;
        if done < u64::from(SWEEP_BATCH) {
            break;
        }
    }
    Ok(total)
}

//! Background jobs of the concert reservation service, driven by tokio timers.
//!
//! [`spawn`] starts one loop per [`application::MaintenanceJobs`] entry point, each on its own
//! interval (see [`JobIntervals`]):
//!
//! * **admission** — moves the earliest waiting queue tokens of every concert to ACTIVE. It ticks
//!   [`ADMISSION_TICKS_PER_INTERVAL`] times per admit interval; the store admits at most the
//!   batch per concert per interval-long *slot* of its clock, however many ticks (and instances)
//!   run in it (see `domain::admission`). Ticking more often than the slot length is what keeps
//!   one instance at the full batch per interval although its ticks drift against the slots: a
//!   tick every interval, a little late each time, would now and then land twice in one slot and
//!   skip the next;
//! * **active-token expiry** — expires ACTIVE tokens whose window has closed, freeing slots;
//! * **idle drop** — drops WAITING tokens that were not polled within the idle timeout;
//! * **hold expiry** — marks holds past their deadline as EXPIRED;
//! * **waiting-list offers** — THE offer step over every date with a waiting list: settles
//!   lapsed offers and holds each seat that came back for the earliest WAITING entry. Seats
//!   that come back wait for it (kept for the list), so the offer is at most one interval late;
//!   safe in several instances at once (one date at a time, under its lock).
//!
//! Correctness never depends on the sweeps (the stores apply time-based expiry on every read);
//! they keep the tables tidy and free active slots promptly. Admission does depend on its loop.
//!
//! Every loop is robust: a failing tick is logged once (at `warn` for
//! [`StoreError::Unavailable`], at `error` for [`StoreError::Internal`] or a panic) and the job
//! is simply tried again on the next tick. Ticks never overlap and a late tick is delayed, not
//! bunched up ([`MissedTickBehavior::Delay`]). On shutdown a tick that is running finishes, and
//! no new tick starts.

use application::MaintenanceJobs;
use domain::{AdmissionReport, StoreError};
use std::future::Future;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, trace, warn};

/// The shortest period a loop accepts; a zero period (which tokio refuses) is raised to this.
pub const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// How many admission ticks run per admit interval. The store admits once per slot (one
/// interval of its clock), so only the first tick of a slot with someone to admit does any work;
/// the others are one cheap read. Four means a slot is missed only when a tick runs more than
/// three quarters of an interval late.
pub const ADMISSION_TICKS_PER_INTERVAL: u32 = 4;

/// How often each job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobIntervals {
    /// The admit interval (`QUEUE_ADMIT_INTERVAL_MS`): the length of an admission slot. The
    /// loop ticks [`ADMISSION_TICKS_PER_INTERVAL`] times per interval.
    pub admit: Duration,
    /// Time between sweeps expiring ACTIVE tokens whose window closed.
    pub expire_active: Duration,
    /// Time between sweeps dropping idle WAITING tokens.
    pub drop_idle: Duration,
    /// Time between sweeps expiring holds past their deadline.
    pub expire_holds: Duration,
    /// Time between waiting-list offer steps (the admit interval).
    pub offer_waitlist: Duration,
}

impl JobIntervals {
    /// Admission and the waiting-list offer step every `admit`, and the three expiry sweeps
    /// every `sweep`.
    #[must_use]
    pub const fn new(admit: Duration, sweep: Duration) -> Self {
        Self {
            admit,
            expire_active: sweep,
            drop_idle: sweep,
            expire_holds: sweep,
            offer_waitlist: admit,
        }
    }
}

/// The running job loops. Dropping it does not stop them: cancel the token given to [`spawn`]
/// (or call [`SchedulerHandle::shutdown`]) and then [`SchedulerHandle::join`].
#[derive(Debug)]
pub struct SchedulerHandle {
    shutdown: CancellationToken,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl SchedulerHandle {
    /// Asks every loop to stop: a tick in progress finishes, no new tick starts. Only this
    /// scheduler is affected, not other users of the token given to [`spawn`].
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Whether shutdown was requested (by [`SchedulerHandle::shutdown`] or the parent token).
    #[must_use]
    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// Waits until every loop has stopped. Returns only after shutdown was requested (loops
    /// never end on their own), once each loop's tick in progress, if any, has finished.
    pub async fn join(self) {
        for (job, task) in self.tasks {
            if let Err(e) = task.await {
                error!(job, error = %e, "background job loop ended abnormally");
            }
        }
        info!("background jobs stopped");
    }
}

/// Starts the five job loops on the current tokio runtime. They run until `shutdown` is
/// cancelled (or [`SchedulerHandle::shutdown`] is called); each runs its first tick at once.
///
/// # Panics
/// When called outside a tokio runtime.
#[must_use = "join the handle after cancelling the token to wait for the loops to stop"]
pub fn spawn(
    jobs: MaintenanceJobs,
    intervals: JobIntervals,
    shutdown: CancellationToken,
) -> SchedulerHandle {
    let shutdown = shutdown.child_token();
    let mut tasks = Vec::with_capacity(5);

    let admit_jobs = jobs.clone();
    tasks.push((
        ADMIT,
        tokio::spawn(run_job(
            ADMIT,
            intervals.admit / ADMISSION_TICKS_PER_INTERVAL,
            shutdown.clone(),
            move || {
                let jobs = admit_jobs.clone();
                async move { jobs.admit().await }
            },
            report_admissions,
        )),
    ));

    let active_jobs = jobs.clone();
    tasks.push((
        EXPIRE_ACTIVE,
        tokio::spawn(run_job(
            EXPIRE_ACTIVE,
            intervals.expire_active,
            shutdown.clone(),
            move || {
                let jobs = active_jobs.clone();
                async move { jobs.expire_active_tokens().await }
            },
            report_sweep,
        )),
    ));

    let idle_jobs = jobs.clone();
    tasks.push((
        DROP_IDLE,
        tokio::spawn(run_job(
            DROP_IDLE,
            intervals.drop_idle,
            shutdown.clone(),
            move || {
                let jobs = idle_jobs.clone();
                async move { jobs.drop_idle_tokens().await }
            },
            report_sweep,
        )),
    ));

    let hold_jobs = jobs.clone();
    tasks.push((
        EXPIRE_HOLDS,
        tokio::spawn(run_job(
            EXPIRE_HOLDS,
            intervals.expire_holds,
            shutdown.clone(),
            move || {
                let jobs = hold_jobs.clone();
                async move { jobs.expire_holds().await }
            },
            report_sweep,
        )),
    ));

    tasks.push((
        OFFER_WAITLIST,
        tokio::spawn(run_job(
            OFFER_WAITLIST,
            intervals.offer_waitlist,
            shutdown.clone(),
            move || {
                let jobs = jobs.clone();
                async move { jobs.offer_waitlist_seats().await }
            },
            report_offers,
        )),
    ));

    info!(
        admit_ms = millis(intervals.admit),
        expire_active_ms = millis(intervals.expire_active),
        drop_idle_ms = millis(intervals.drop_idle),
        expire_holds_ms = millis(intervals.expire_holds),
        offer_waitlist_ms = millis(intervals.offer_waitlist),
        "background jobs started"
    );
    SchedulerHandle { shutdown, tasks }
}

const ADMIT: &str = "queue_admission";
const EXPIRE_ACTIVE: &str = "expire_active_tokens";
const DROP_IDLE: &str = "drop_idle_tokens";
const EXPIRE_HOLDS: &str = "expire_holds";
const OFFER_WAITLIST: &str = "offer_waitlist_seats";

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Logs one admission tick: a debug line with the counts when anything was admitted.
#[allow(clippy::ptr_arg)] // the signature is `fn(&str, &T)` with `T` the job's output
fn report_admissions(job: &'static str, reports: &Vec<AdmissionReport>) {
    let admitted: u64 = reports.iter().map(|r| r.admitted).sum();
    if admitted == 0 {
        return;
    }
    let concerts = reports.iter().filter(|r| r.admitted > 0).count();
    debug!(job, admitted, concerts, "admitted waiting queue tokens");
    for report in reports.iter().filter(|r| r.admitted > 0) {
        trace!(job, concert_id = %report.concert_id, admitted = report.admitted, "admitted");
    }
}

/// Logs one sweep: a debug line with the count when anything was swept.
fn report_sweep(job: &'static str, swept: &u64) {
    if *swept > 0 {
        debug!(job, swept = *swept, "expiry sweep");
    }
}

/// Logs one offer step: a debug line with the count when any seat was offered.
fn report_offers(job: &'static str, offered: &u64) {
    if *offered > 0 {
        debug!(job, offered = *offered, "waiting-list offers made");
    }
}

/// What one tick came to.
enum TickOutcome<T> {
    Done(T),
    Failed(StoreError),
    Panicked(String),
}

/// One job loop: ticks every `period` until `shutdown` is cancelled. Each tick runs on its own
/// task so that even a panic in a store cannot end the loop; the loop awaits it, so ticks never
/// overlap and a tick in progress finishes before the loop stops.
async fn run_job<T, F, Fut>(
    job: &'static str,
    period: Duration,
    shutdown: CancellationToken,
    mut tick: F,
    report: fn(&'static str, &T),
) where
    T: Send + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
{
    let mut ticker = tokio::time::interval(period.max(MIN_INTERVAL));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut failed_ticks: u64 = 0;
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let outcome = match tokio::spawn(tick()).await {
            Ok(Ok(value)) => TickOutcome::Done(value),
            Ok(Err(e)) => TickOutcome::Failed(e),
            Err(e) => TickOutcome::Panicked(e.to_string()),
        };
        match outcome {
            TickOutcome::Done(value) => {
                if failed_ticks > 0 {
                    info!(job, failed_ticks, "background job recovered");
                    failed_ticks = 0;
                }
                report(job, &value);
            }
            TickOutcome::Failed(e) => {
                failed_ticks += 1;
                match e {
                    StoreError::Unavailable(_) => warn!(
                        job,
                        failed_ticks,
                        error = %e,
                        "background job failed; retrying on the next tick"
                    ),
                    StoreError::Internal(_) => error!(
                        job,
                        failed_ticks,
                        error = %e,
                        "background job failed; retrying on the next tick"
                    ),
                }
            }
            TickOutcome::Panicked(e) => {
                failed_ticks += 1;
                error!(
                    job,
                    failed_ticks,
                    error = %e,
                    "background job panicked; retrying on the next tick"
                );
            }
        }
    }
    debug!(job, "background job stopped");
}

#[cfg(test)]
mod tests {
    use super::*;
    use application::{JoinRateLimit, JoinRateLimiter, Ports, Services, Settings};
    use domain::ports::{
        MockCatalogueStore, MockClock, MockIdGenerator, MockQueueStore, MockReservationStore,
        MockStoreHealth, MockWalletStore,
    };
    use domain::{HoldPolicy, Money, QueuePolicy, WalletPolicy};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::time::Instant;

    #[derive(Default)]
    struct Counts {
        admit: AtomicUsize,
        expire_active: AtomicUsize,
        drop_idle: AtomicUsize,
        expire_holds: AtomicUsize,
        offer_waitlist: AtomicUsize,
    }

    impl Counts {
        fn get(&self) -> [usize; 5] {
            [
                self.admit.load(Ordering::SeqCst),
                self.expire_active.load(Ordering::SeqCst),
                self.drop_idle.load(Ordering::SeqCst),
                self.expire_holds.load(Ordering::SeqCst),
                self.offer_waitlist.load(Ordering::SeqCst),
            ]
        }
    }

    fn settings() -> Settings {
        let s = Duration::from_secs(1);
        let money = |v| Money::new(v).expect("non-negative");
        Settings {
            queue: QueuePolicy::new(10, 10, s, s, s).expect("valid"),
            hold: HoldPolicy::new(s, 4, 4).expect("valid"),
            wallet: WalletPolicy::new(money(10), money(100)).expect("valid"),
            refund: domain::RefundPolicy::default(),
        }
    }

    /// Jobs over mocks that count calls; `admit_fails` decides, per call number (0-based),
    /// whether the admission tick fails.
    fn jobs(counts: &Arc<Counts>, admit_fails: fn(usize) -> Option<StoreError>) -> MaintenanceJobs {
        let mut queue = MockQueueStore::new();
        let c = Arc::clone(counts);
        queue.expect_admit().returning(move |_| {
            let n = c.admit.fetch_add(1, Ordering::SeqCst);
            admit_fails(n).map_or_else(
                || {
                    Ok(vec![AdmissionReport {
                        concert_id: domain::ConcertId::new(1).expect("positive"),
                        admitted: 3,
                    }])
                },
                Err,
            )
        });
        let c = Arc::clone(counts);
        queue.expect_expire_active().returning(move |_| {
            c.expire_active.fetch_add(1, Ordering::SeqCst);
            Ok(0)
        });
        let c = Arc::clone(counts);
        queue.expect_drop_idle().returning(move |_, _| {
            c.drop_idle.fetch_add(1, Ordering::SeqCst);
            Ok(1)
        });
        let mut reservations = MockReservationStore::new();
        let c = Arc::clone(counts);
        reservations.expect_expire_holds().returning(move |_| {
            c.expire_holds.fetch_add(1, Ordering::SeqCst);
            Ok(2)
        });
        let mut waitlist = domain::ports::MockWaitlistStore::new();
        let c = Arc::clone(counts);
        waitlist
            .expect_offer_waitlist_seats()
            .returning(move |_, _| {
                c.offer_waitlist.fetch_add(1, Ordering::SeqCst);
                Ok(1)
            });
        let ports = Ports {
            catalogue: Arc::new(MockCatalogueStore::new()),
            queue: Arc::new(queue),
            reservations: Arc::new(reservations),
            wallets: Arc::new(MockWalletStore::new()),
            waitlist: Arc::new(waitlist),
            health: Arc::new(MockStoreHealth::new()),
            clock: Arc::new(MockClock::new()),
            ids: Arc::new(MockIdGenerator::new()),
        };
        let limiter = JoinRateLimiter::new(JoinRateLimit {
            max_joins: 0,
            window_secs: 1,
        });
        MaintenanceJobs::new(Services::new(ports, settings(), limiter))
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[tokio::test(start_paused = true)]
    async fn each_job_runs_on_its_own_interval() {
        let counts = Arc::new(Counts::default());
        let token = CancellationToken::new();
        let intervals = JobIntervals {
            admit: ms(400),
            expire_active: ms(200),
            drop_idle: ms(300),
            expire_holds: ms(400),
            offer_waitlist: ms(600),
        };
        let handle = spawn(jobs(&counts, |_| None), intervals, token.clone());

        tokio::time::sleep(ms(1250)).await;
        // First tick at once, then one per period: 0..=1200 ms; admission four times per
        // interval (every 100 ms).
        assert_eq!(counts.get(), [13, 7, 5, 4, 3]);

        token.cancel();
        handle.join().await;
        tokio::time::sleep(ms(5000)).await;
        assert_eq!(counts.get(), [13, 7, 5, 4, 3], "no tick after shutdown");
    }

    #[tokio::test(start_paused = true)]
    async fn failures_do_not_stop_the_loop() {
        let counts = Arc::new(Counts::default());
        let token = CancellationToken::new();
        let handle = spawn(
            jobs(&counts, |n| match n {
                0 => Some(StoreError::Unavailable("database down".into())),
                1 => Some(StoreError::Internal("bug".into())),
                _ => None,
            }),
            JobIntervals::new(ms(400), ms(1000)),
            token.clone(),
        );

        tokio::time::sleep(ms(450)).await;
        assert_eq!(counts.get()[0], 5, "ticks at 0, 100, 200, 300, 400 ms");

        token.cancel();
        handle.join().await;
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_stops_every_loop_promptly() {
        let counts = Arc::new(Counts::default());
        let token = CancellationToken::new();
        let hour = Duration::from_secs(3600);
        let handle = spawn(
            jobs(&counts, |_| None),
            JobIntervals::new(hour, hour),
            token.clone(),
        );
        tokio::time::sleep(ms(10)).await;
        assert_eq!(counts.get(), [1, 1, 1, 1, 1], "the first tick runs at once");

        let asked = Instant::now();
        token.cancel();
        handle.join().await;
        assert!(
            asked.elapsed() < ms(1),
            "join must not wait for the next tick"
        );
        assert_eq!(counts.get(), [1, 1, 1, 1, 1]);
    }

    #[tokio::test(start_paused = true)]
    async fn handle_shutdown_stops_the_loops_but_not_the_parent_token() {
        let counts = Arc::new(Counts::default());
        let token = CancellationToken::new();
        let handle = spawn(
            jobs(&counts, |_| None),
            JobIntervals::new(ms(100), ms(100)),
            token.clone(),
        );
        handle.shutdown();
        assert!(handle.is_shutting_down());
        handle.join().await;
        assert!(!token.is_cancelled());
    }

    #[tokio::test(start_paused = true)]
    async fn a_tick_in_progress_finishes_and_no_new_tick_starts() {
        let token = CancellationToken::new();
        let started = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(AtomicBool::new(false));
        let (s, f) = (Arc::clone(&started), Arc::clone(&finished));
        let task = tokio::spawn(run_job(
            "slow",
            ms(100),
            token.clone(),
            move || {
                let (s, f) = (Arc::clone(&s), Arc::clone(&f));
                async move {
                    s.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(ms(500)).await;
                    f.store(true, Ordering::SeqCst);
                    Ok(0_u64)
                }
            },
            report_sweep,
        ));
        tokio::time::sleep(ms(50)).await;
        assert_eq!(started.load(Ordering::SeqCst), 1);
        assert!(!finished.load(Ordering::SeqCst));

        token.cancel();
        task.await.expect("loop ends cleanly");
        assert!(finished.load(Ordering::SeqCst), "the running tick finished");
        assert_eq!(started.load(Ordering::SeqCst), 1, "no new tick");
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_tick_does_not_stop_the_loop() {
        let token = CancellationToken::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        let task = tokio::spawn(run_job(
            "panicky",
            ms(100),
            token.clone(),
            move || {
                let c = Arc::clone(&c);
                async move {
                    if c.fetch_add(1, Ordering::SeqCst) == 0 {
                        panic!("boom");
                    }
                    Ok(0_u64)
                }
            },
            report_sweep,
        ));
        tokio::time::sleep(ms(250)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        token.cancel();
        task.await.expect("loop ends cleanly");
    }

    #[test]
    fn zero_intervals_are_raised_to_the_minimum() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("runtime");
        rt.block_on(async {
            let token = CancellationToken::new();
            let calls = Arc::new(AtomicUsize::new(0));
            let c = Arc::clone(&calls);
            let task = tokio::spawn(run_job(
                "zero",
                Duration::ZERO,
                token.clone(),
                move || {
                    c.fetch_add(1, Ordering::SeqCst);
                    async { Ok(0_u64) }
                },
                report_sweep,
            ));
            tokio::time::sleep(ms(5)).await;
            token.cancel();
            task.await.expect("loop ends cleanly");
            assert!(calls.load(Ordering::SeqCst) >= 5);
        });
    }
}

//! Maintenance jobs: sweeps repeat while batches come back full, and stop on a partial one.

mod common;

use application::MaintenanceJobs;
use common::*;
use domain::StoreError;

#[tokio::test]
async fn a_sweep_repeats_full_batches_until_a_partial_one() {
    let mut mocks = Mocks::default();
    let mut answers = vec![500u64, 500, 12].into_iter();
    mocks
        .reservations
        .expect_expire_holds()
        .times(3)
        .returning(move |batch| {
            assert_eq!(batch, 500);
            Ok(answers.next().unwrap_or(0))
        });
    let jobs = MaintenanceJobs::new(mocks.build());
    assert_eq!(jobs.expire_holds().await, Ok(1012));
}

#[tokio::test]
async fn a_failing_sweep_reports_the_error() {
    let mut mocks = Mocks::default();
    mocks
        .queue
        .expect_expire_active()
        .returning(|_| Err(StoreError::Unavailable("down".into())));
    let jobs = MaintenanceJobs::new(mocks.build());
    assert_eq!(
        jobs.expire_active_tokens().await,
        Err(StoreError::Unavailable("down".into()))
    );
}

#[tokio::test]
async fn idle_drops_use_the_configured_timeout() {
    let mut mocks = Mocks::default();
    mocks
        .queue
        .expect_drop_idle()
        .withf(|idle, _| *idle == std::time::Duration::from_secs(300))
        .returning(|_, _| Ok(3));
    let jobs = MaintenanceJobs::new(mocks.build());
    assert_eq!(jobs.drop_idle_tokens().await, Ok(3));
}

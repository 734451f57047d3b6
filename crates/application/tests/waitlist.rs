//! Waiting-list use cases: the join is gated by the queue, a cancel runs the offer step for its
//! date (and survives its failure), leaving passes the configured offer TTL.

mod common;

use common::*;
use domain::*;
use std::time::Duration;

fn waiting_entry(id: WaitlistEntryId) -> WaitlistEntry {
    WaitlistEntry {
        id,
        user_id: user(1),
        schedule_id: schedule(1),
        status: WaitlistStatus::Waiting,
        position: Some(1),
        offer: None,
        created_at: now(),
    }
}

#[tokio::test]
async fn joining_needs_the_callers_active_token_before_the_store_is_asked() {
    // Arrange: the waiting-list store must not be called.
    let mut mocks = Mocks::default();
    arrange_hold_gate(&mut mocks, QueueTokenStatus::Waiting);
    let services = mocks.build();
    // Act
    let result = services
        .join_waitlist(user(1), Some(token_id(1)), schedule(1))
        .await;
    // Assert
    assert_eq!(
        result,
        Err(JoinWaitlistError::Access(QueueAccessError::NotActive))
    );
}

#[tokio::test]
async fn an_admitted_join_reaches_the_store_and_an_unknown_date_is_not_found() {
    // Arrange
    let mut mocks = Mocks::default();
    arrange_hold_gate(&mut mocks, QueueTokenStatus::Active);
    mocks
        .waitlist
        .expect_join_waitlist()
        .withf(|u, s, _| *u == user(1) && *s == schedule(1))
        .returning(|_, _, id| {
            Ok(WaitlistJoined {
                entry: waiting_entry(id),
                created: true,
            })
        });
    let services = mocks.build();
    // Act
    let joined = services
        .join_waitlist(user(1), Some(token_id(1)), schedule(1))
        .await;
    // Assert
    assert!(joined.is_ok_and(|j| j.created && j.entry.position == Some(1)));

    let mut mocks = Mocks::default();
    mocks
        .catalogue
        .expect_schedule_concert()
        .returning(|_| Ok(None));
    caller_token(&mut mocks, concert(1), QueueTokenStatus::Active);
    let services = mocks.build();
    assert_eq!(
        services
            .join_waitlist(user(1), Some(token_id(1)), schedule(9))
            .await,
        Err(JoinWaitlistError::ScheduleNotFound)
    );
}

#[tokio::test]
async fn a_cancel_runs_the_offer_step_for_its_date_and_survives_its_failure() {
    // Arrange
    let mut mocks = Mocks::default();
    mocks.reservations.expect_cancel().returning(|u, id| {
        Ok(Reservation {
            status: ReservationStatus::Cancelled,
            ..reservation(id, u, concert(1))
        })
    });
    mocks
        .waitlist
        .expect_offer_waitlist_seats()
        .withf(|s, p| *s == Some(schedule(1)) && p.offer_ttl() == Duration::from_secs(45))
        .times(1)
        .returning(|_, _| Err(StoreError::Unavailable("down".into())));
    let services = mocks
        .build()
        .with_waitlist_policy(WaitlistPolicy::new(Duration::from_secs(45)).expect("valid"));
    // Act
    let cancelled = services
        .cancel_reservation(user(1), reservation_id(1))
        .await;
    // Assert: the cancel stands; the next scheduler tick makes the offers.
    assert_eq!(
        cancelled.map(|r| r.status),
        Ok(ReservationStatus::Cancelled)
    );
}

#[tokio::test]
async fn leaving_passes_the_configured_offer_ttl_and_reading_another_users_entry_is_not_found() {
    // Arrange
    let mut mocks = Mocks::default();
    mocks
        .waitlist
        .expect_leave_waitlist()
        .withf(|_, _, p| p.offer_ttl() == Duration::from_secs(120))
        .returning(|_, _, _| Ok(()));
    mocks
        .waitlist
        .expect_waitlist_entry()
        .returning(|_, _| Ok(None));
    let services = mocks.build();
    let id = WaitlistEntryId::from_uuid(uuid::Uuid::from_u128(7));
    // Act / Assert
    assert_eq!(services.leave_waitlist(user(1), id).await, Ok(()));
    assert_eq!(
        services.waitlist_entry(user(2), id).await,
        Err(WaitlistEntryError::NotFound)
    );
}

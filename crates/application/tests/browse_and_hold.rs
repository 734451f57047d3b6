//! Gated browsing and holds: the queue gate runs before any seat is read or held.

mod common;

use common::*;
use domain::ports::Joined;
use domain::*;

#[tokio::test]
async fn browsing_without_a_token_is_refused_before_the_catalogue_is_read() {
    // Arrange: the catalogue must not be called at all.
    let mocks = Mocks::default();
    let services = mocks.build();
    // Act
    let result = services.future_schedules(user(1), None, concert(1)).await;
    // Assert
    assert_eq!(
        result,
        Err(BrowseError::Access(QueueAccessError::TokenRequired))
    );
}

#[tokio::test]
async fn an_unknown_token_is_token_required() {
    let mut mocks = Mocks::default();
    queue_knows(&mut mocks.queue, None);
    let services = mocks.build();
    let result = services
        .future_schedules(user(1), Some(token_id(9)), concert(1))
        .await;
    assert_eq!(
        result,
        Err(BrowseError::Access(QueueAccessError::TokenRequired))
    );
}

#[tokio::test]
async fn a_token_for_another_concert_or_user_or_still_waiting_is_not_active() {
    for found in [
        token(token_id(1), user(1), concert(2), QueueTokenStatus::Active),
        token(token_id(1), user(2), concert(1), QueueTokenStatus::Active),
        token(token_id(1), user(1), concert(1), QueueTokenStatus::Waiting),
        token(token_id(1), user(1), concert(1), QueueTokenStatus::Expired),
    ] {
        let mut mocks = Mocks::default();
        queue_knows(&mut mocks.queue, Some(found));
        let services = mocks.build();
        let result = services
            .future_schedules(user(1), Some(token_id(1)), concert(1))
            .await;
        assert_eq!(
            result,
            Err(BrowseError::Access(QueueAccessError::NotActive))
        );
    }
}

#[tokio::test]
async fn an_active_token_lists_the_schedules() {
    let mut mocks = Mocks::default();
    queue_knows(
        &mut mocks.queue,
        Some(token(
            token_id(1),
            user(1),
            concert(1),
            QueueTokenStatus::Active,
        )),
    );
    let summary = ScheduleSummary {
        id: schedule(3),
        concert_id: concert(1),
        starts_at: now(),
        total_seats: 50,
        available_seats: 49,
    };
    let expected = vec![summary.clone()];
    mocks
        .catalogue
        .expect_future_schedules()
        .withf(|c| *c == concert(1))
        .returning(move |_| Ok(vec![summary.clone()]));
    let services = mocks.build();
    let result = services
        .future_schedules(user(1), Some(token_id(1)), concert(1))
        .await;
    assert_eq!(result, Ok(expected));
}

#[tokio::test]
async fn seats_of_an_unknown_schedule_are_not_found() {
    let mut mocks = Mocks::default();
    mocks
        .catalogue
        .expect_schedule_concert()
        .returning(|_| Ok(None));
    // The token is looked up at the same time; whatever it says, the schedule decides first.
    queue_knows(&mut mocks.queue, None);
    let services = mocks.build();
    let result = services
        .schedule_seats(user(1), Some(token_id(1)), schedule(5))
        .await;
    assert_eq!(result, Err(BrowseError::NotFound));
}

#[tokio::test]
async fn seats_are_gated_by_the_schedules_concert() {
    let mut mocks = Mocks::default();
    mocks
        .catalogue
        .expect_schedule_concert()
        .returning(|_| Ok(Some(concert(2))));
    queue_knows(
        &mut mocks.queue,
        Some(token(
            token_id(1),
            user(1),
            concert(1),
            QueueTokenStatus::Active,
        )),
    );
    mocks.catalogue.expect_schedule_seats().never();
    let services = mocks.build();
    let result = services
        .schedule_seats(user(1), Some(token_id(1)), schedule(5))
        .await;
    assert_eq!(
        result,
        Err(BrowseError::Access(QueueAccessError::NotActive))
    );
}

#[tokio::test]
async fn store_failures_pass_through_the_gate() {
    let mut mocks = Mocks::default();
    mocks
        .queue
        .expect_token()
        .returning(|_, _| Err(StoreError::Unavailable("down".into())));
    let services = mocks.build();
    let result = services
        .future_schedules(user(1), Some(token_id(1)), concert(1))
        .await;
    assert_eq!(
        result,
        Err(BrowseError::Store(StoreError::Unavailable("down".into())))
    );
}

#[tokio::test]
async fn an_invalid_seat_selection_never_reaches_a_store() {
    let services = Mocks::default().build();
    let too_many = (1..=5).map(seat).collect();
    let result = hold_as_user_one(&services, too_many).await;
    assert_eq!(
        result,
        Err(HoldSeatsError::InvalidSelection(
            InvalidSeatSelection::Count { max: 4 }
        ))
    );
    let repeated = vec![seat(1), seat(1)];
    let result = hold_as_user_one(&services, repeated).await;
    assert_eq!(
        result,
        Err(HoldSeatsError::InvalidSelection(
            InvalidSeatSelection::Duplicate(seat(1))
        ))
    );
    let result = hold_as_user_one(&services, vec![]).await;
    assert!(matches!(result, Err(HoldSeatsError::InvalidSelection(_))));
}

#[tokio::test]
async fn holding_on_an_unknown_schedule_is_schedule_not_found() {
    let mut mocks = Mocks::default();
    mocks
        .catalogue
        .expect_schedule_concert()
        .returning(|_| Ok(None));
    // The token is looked up at the same time; whatever it says, the schedule decides first.
    queue_knows(&mut mocks.queue, None);
    let services = mocks.build();
    let result = hold_as_user_one(&services, vec![seat(1)]).await;
    assert_eq!(result, Err(HoldSeatsError::ScheduleNotFound));
}

#[tokio::test]
async fn holding_with_a_waiting_token_holds_nothing() {
    let mut mocks = Mocks::default();
    arrange_hold_gate(&mut mocks, QueueTokenStatus::Waiting);
    mocks.reservations.expect_hold().never();
    let services = mocks.build();
    let result = hold_as_user_one(&services, vec![seat(1)]).await;
    assert_eq!(
        result,
        Err(HoldSeatsError::Access(QueueAccessError::NotActive))
    );
}

#[tokio::test]
async fn a_hold_sends_sorted_seats_a_fresh_id_and_the_policy_to_the_store() {
    let mut mocks = Mocks::default();
    arrange_hold_gate(&mut mocks, QueueTokenStatus::Active);
    mocks
        .reservations
        .expect_hold()
        .withf(|hold, policy| {
            hold.seats.ids() == [seat(2), seat(7)]
                && hold.user_id == user(1)
                && hold.schedule_id == schedule(1)
                && policy.max_seats_held_per_user() == 4
        })
        .returning(|hold, _| Ok(reservation(hold.reservation_id, hold.user_id, concert(1))));
    let services = mocks.build();
    let result = services
        .hold_seats(
            user(1),
            Some(token_id(1)),
            schedule(1),
            vec![seat(7), seat(2)],
        )
        .await;
    let held = result.expect("held");
    assert_eq!(held.status, ReservationStatus::Held);
}

#[tokio::test]
async fn the_stores_seat_unavailable_reaches_the_caller() {
    let mut mocks = Mocks::default();
    arrange_hold_gate(&mut mocks, QueueTokenStatus::Active);
    mocks.reservations.expect_hold().returning(|_, _| {
        Err(HoldSeatsError::SeatUnavailable {
            seats: vec![seat(1)],
        })
    });
    let services = mocks.build();
    let result = hold_as_user_one(&services, vec![seat(1)]).await;
    assert_eq!(
        result,
        Err(HoldSeatsError::SeatUnavailable {
            seats: vec![seat(1)]
        })
    );
}

#[tokio::test]
async fn someone_elses_reservation_is_not_found() {
    let mut mocks = Mocks::default();
    mocks
        .reservations
        .expect_reservation()
        .returning(|_, _| Ok(None));
    let services = mocks.build();
    let result = services.reservation(user(2), reservation_id(1)).await;
    assert_eq!(result, Err(ReservationReadError::NotFound));
}

fn standing(
    status: QueueTokenStatus,
    position: Option<u64>,
    admitted_last_minute: u64,
) -> QueueStanding {
    QueueStanding {
        token: token(token_id(1), user(1), concert(1), status),
        position,
        admitted_last_minute,
        sale_opens_at: None,
    }
}

#[tokio::test]
async fn joining_reports_a_new_ticket_with_an_estimate_from_the_nominal_rate() {
    let mut mocks = Mocks::default();
    mocks.queue.expect_join().returning(|_, _, _, _| {
        Ok(Joined {
            standing: standing(QueueTokenStatus::Waiting, Some(1200), 0),
            created: true,
        })
    });
    let services = mocks.build();
    let outcome = services
        .join_queue(user(1), concert(1))
        .await
        .expect("joined");
    assert!(outcome.created);
    assert_eq!(outcome.ticket.position, Some(1200));
    // Nominal pace: 10 per 1000 ms = 600 a minute → 1200 waiting ahead is 120 s.
    assert_eq!(outcome.ticket.estimated_wait_seconds, Some(120));
}

#[tokio::test]
async fn the_estimate_prefers_the_measured_rate() {
    let mut mocks = Mocks::default();
    mocks
        .queue
        .expect_poll()
        .returning(|_, _, _| Ok(standing(QueueTokenStatus::Waiting, Some(100), 60)));
    let services = mocks.build();
    let ticket = services
        .current_ticket(user(1), Some(token_id(1)))
        .await
        .expect("ticket");
    assert_eq!(ticket.estimated_wait_seconds, Some(100));
}

#[tokio::test]
async fn joins_over_the_rate_limit_are_refused_with_a_retry_after() {
    let mut mocks = Mocks {
        join_limit: Some(application::JoinRateLimit {
            max_joins: 2,
            window_secs: 60,
        }),
        ..Mocks::default()
    };
    mocks.queue.expect_join().times(2).returning(|_, _, _, _| {
        Ok(Joined {
            standing: standing(QueueTokenStatus::Waiting, Some(1), 0),
            created: false,
        })
    });
    let services = mocks.build();
    assert!(services.join_queue(user(1), concert(1)).await.is_ok());
    assert!(services.join_queue(user(1), concert(1)).await.is_ok());
    let third = services.join_queue(user(1), concert(1)).await;
    assert_eq!(
        third,
        Err(JoinQueueError::RateLimited {
            retry_after_secs: 60
        })
    );
}

#[tokio::test]
async fn polling_or_leaving_without_a_token_is_token_required() {
    let services = Mocks::default().build();
    assert_eq!(
        services.current_ticket(user(1), None).await,
        Err(QueueTokenError::Access(QueueAccessError::TokenRequired))
    );
    assert_eq!(
        services.leave_queue(user(1), None).await,
        Err(QueueTokenError::Access(QueueAccessError::TokenRequired))
    );
}

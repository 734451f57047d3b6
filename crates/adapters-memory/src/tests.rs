//! Unit tests of the in-memory store on a hand-moved clock (the port-level contract suite runs
//! in `tests/contract.rs` on the real clock).

use crate::seed::DEMO_SEATS_PER_SCHEDULE;
use crate::store::MemoryStore;
use crate::time::tests::FixedClock;
use domain::ports::{CatalogueStore, Clock, NewHold, QueueStore, ReservationStore};
use domain::{
    ConcertId, ConcertTitle, HoldSeatsError, NewConcert, QueueAccessError, QueuePolicy,
    QueueSettingsPatch, QueueTokenId, QueueTokenStatus, ReservationId, ReservationStatus,
    SeatSelection, UserId, Venue,
};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

fn store() -> (MemoryStore, Arc<FixedClock>) {
    let clock = Arc::new(FixedClock::default());
    (MemoryStore::new(clock.clone()), clock)
}

fn user(n: i64) -> UserId {
    UserId::new(n).expect("user id")
}

fn tid(n: u128) -> QueueTokenId {
    QueueTokenId::from_uuid(Uuid::from_u128(n))
}

fn policy(batch: u32, max_active: u32) -> QueuePolicy {
    QueuePolicy::new(
        batch,
        max_active,
        Duration::from_secs(1),
        Duration::from_secs(600),
        Duration::from_secs(300),
    )
    .expect("policy")
}

async fn concert(store: &MemoryStore) -> ConcertId {
    store
        .create_concert(NewConcert {
            title: ConcertTitle::new("Unit").expect("title"),
            venue: Venue::new("Hall").expect("venue"),
            sale: domain::SaleWindow::ALWAYS_OPEN,
        })
        .await
        .expect("concert")
        .id
}

#[tokio::test]
async fn a_million_waiting_keep_exact_positions() {
    let (store, _clock) = store();
    let c = concert(&store).await;
    let p = policy(1000, 1_000_000);
    {
        let (mut state, now) = store.state_at_now();
        for n in 1..=1_000_000i64 {
            let id = tid(n.unsigned_abs().into());
            state.join(user(n), c, id, now, &p).expect("join");
        }
    }
    let last = store
        .poll(tid(1_000_000), user(1_000_000), p)
        .await
        .expect("poll");
    assert_eq!(last.position, Some(1_000_000));
    store.admit(p).await.expect("admit");
    store
        .leave(tid(500_000), user(500_000))
        .await
        .expect("leave");
    let last = store
        .poll(tid(1_000_000), user(1_000_000), p)
        .await
        .expect("poll");
    assert_eq!(last.position, Some(998_999));
    let middle = store
        .poll(tid(500_001), user(500_001), p)
        .await
        .expect("poll");
    assert_eq!(middle.position, Some(499_000));
    let stats = store.stats(c, p).await.expect("stats");
    assert_eq!((stats.waiting, stats.active), (998_999, 1000));
}

#[tokio::test]
async fn admission_rate_covers_the_last_minute_only() {
    let (store, clock) = store();
    let c = concert(&store).await;
    let p = policy(2, 100);
    for n in 1..=6 {
        store
            .join(user(n), c, tid(n.unsigned_abs().into()), p)
            .await
            .expect("join");
    }
    store.admit(p).await.expect("admit");
    clock.advance(Duration::from_secs(30));
    store.admit(p).await.expect("admit");
    assert_eq!(
        store.stats(c, p).await.expect("stats").admitted_last_minute,
        4
    );
    clock.advance(Duration::from_secs(30));
    let standing = store.poll(tid(6), user(6), p).await.expect("poll");
    assert_eq!(
        standing.admitted_last_minute, 2,
        "the first tick is 60 s old"
    );
    assert_eq!(standing.position, Some(2));
    clock.advance(Duration::from_secs(30));
    assert_eq!(
        store.stats(c, p).await.expect("stats").admitted_last_minute,
        0
    );
}

#[tokio::test]
async fn idle_tokens_lose_their_place_at_once() {
    let (store, clock) = store();
    let c = concert(&store).await;
    let p = policy(10, 100);
    for n in 1..=4 {
        store
            .join(user(n), c, tid(n.unsigned_abs().into()), p)
            .await
            .expect("join");
    }
    clock.advance(Duration::from_secs(200));
    store.poll(tid(4), user(4), p).await.expect("poll");
    store.poll(tid(2), user(2), p).await.expect("poll");
    clock.advance(Duration::from_secs(100));
    // Tokens 1 and 3 were last seen 300 s ago: EXPIRED now, before any sweep.
    let token = store.token(tid(1), p).await.expect("token").expect("known");
    assert_eq!(token.status, QueueTokenStatus::Expired);
    assert_eq!(
        store.poll(tid(2), user(2), p).await.expect("poll").position,
        Some(1)
    );
    assert_eq!(
        store.poll(tid(4), user(4), p).await.expect("poll").position,
        Some(2)
    );
    assert_eq!(store.stats(c, p).await.expect("stats").waiting, 2);
    let tick = store.admit(policy(1, 100)).await.expect("admit");
    assert_eq!(tick.first().map(|r| r.admitted), Some(1));
    let token = store.token(tid(2), p).await.expect("token").expect("known");
    assert_eq!(
        token.status,
        QueueTokenStatus::Active,
        "idle token 1 was skipped"
    );
    assert_eq!(store.drop_idle(Duration::from_secs(300), 100).await, Ok(2));
    assert_eq!(
        store.poll(tid(4), user(4), p).await.expect("poll").position,
        Some(1)
    );
}

#[tokio::test]
async fn overrides_stay_while_defaults_follow_the_policy() {
    let (store, _clock) = store();
    let c = concert(&store).await;
    let patch = QueueSettingsPatch::new(None, Some(7), Some(true)).expect("patch");
    store
        .update_settings(c, patch, policy(5, 50))
        .await
        .expect("update");
    let settings = store.stats(c, policy(9, 90)).await.expect("stats").settings;
    assert_eq!(
        (settings.admit_batch, settings.max_active, settings.paused),
        (9, 7, true)
    );
}

#[tokio::test]
async fn a_hold_expires_exactly_at_held_until() {
    let (store, clock) = store();
    let seeded = store.seed_demo(clock.now()).expect("seed");
    let schedule_id = seeded.concerts[0].1[0];
    let seats = store.schedule_seats(schedule_id).await.expect("seats");
    let hold_policy = domain::HoldPolicy::new(Duration::from_secs(60), 4, 4).expect("policy");
    let id = ReservationId::from_uuid(Uuid::from_u128(1));
    let token = tid(1);
    let queue = policy(10, 10);
    store
        .join(user(1), seats.concert_id, token, queue)
        .await
        .expect("join");
    store.admit(queue).await.expect("admit");
    let r = store
        .hold(
            NewHold {
                reservation_id: id,
                user_id: user(1),
                schedule_id,
                seats: SeatSelection::new(vec![seats.seats[0].id], 4).expect("seats"),
                queue_token: token,
            },
            hold_policy,
        )
        .await
        .expect("hold");
    assert_eq!(r.total_price.won(), 150_000);
    clock.advance(Duration::from_secs(59));
    let read = store
        .reservation(user(1), id)
        .await
        .expect("read")
        .expect("mine");
    assert_eq!(read.status, ReservationStatus::Held);
    clock.advance(Duration::from_secs(1));
    let read = store
        .reservation(user(1), id)
        .await
        .expect("read")
        .expect("mine");
    assert_eq!(read.status, ReservationStatus::Expired);
    let seats = store.schedule_seats(schedule_id).await.expect("seats");
    assert!(seats.seats[0].available);
}

/// The hold's rules are judged in the shared order (`HoldPolicy::judge_hold`): a seat that is
/// not the schedule's before the queue token (as PostgreSQL reports them).
#[tokio::test]
async fn a_hold_reports_a_missing_seat_before_an_inactive_token() {
    // Arrange: a token that was never admitted, and a seat of another schedule.
    let (store, clock) = store();
    let seeded = store.seed_demo(clock.now()).expect("seed");
    let (schedule_id, other_id) = (seeded.concerts[0].1[0], seeded.concerts[0].1[1]);
    let seats = store.schedule_seats(schedule_id).await.expect("seats");
    let foreign = store.schedule_seats(other_id).await.expect("seats").seats[0].id;
    let token = tid(1);
    store
        .join(user(1), seats.concert_id, token, policy(10, 10))
        .await
        .expect("join");
    let hold_policy = domain::HoldPolicy::new(Duration::from_secs(60), 4, 4).expect("policy");
    let hold = |seat| NewHold {
        reservation_id: ReservationId::from_uuid(Uuid::from_u128(1)),
        user_id: user(1),
        schedule_id,
        seats: SeatSelection::new(vec![seat], 4).expect("seats"),
        queue_token: token,
    };
    // Act
    let missing = store.hold(hold(foreign), hold_policy).await;
    let waiting = store.hold(hold(seats.seats[0].id), hold_policy).await;
    // Assert
    assert_eq!(missing, Err(HoldSeatsError::SeatNotFound(foreign)));
    assert_eq!(waiting, Err(QueueAccessError::NotActive.into()));
}

#[tokio::test]
async fn demo_catalogue_is_complete() {
    let (store, clock) = store();
    let seeded = store.seed_demo(clock.now()).expect("seed");
    assert_eq!(seeded.concerts.len(), 3);
    let concerts = store.list_concerts().await.expect("concerts");
    assert_eq!(concerts.len(), 3);
    for (concert_id, schedules) in &seeded.concerts {
        let listed = store
            .future_schedules(*concert_id)
            .await
            .expect("schedules");
        assert_eq!(listed.iter().map(|s| s.id).collect::<Vec<_>>(), *schedules);
        let days: Vec<i64> = listed
            .iter()
            .map(|s| (s.starts_at - clock.now()).num_days())
            .collect();
        assert_eq!(days, [7, 14]);
        for schedule in listed {
            assert_eq!(schedule.total_seats as usize, DEMO_SEATS_PER_SCHEDULE);
            assert_eq!(schedule.available_seats, schedule.total_seats);
            let seats = store.schedule_seats(schedule.id).await.expect("seats");
            let first = &seats.seats[0];
            let last = &seats.seats[DEMO_SEATS_PER_SCHEDULE - 1];
            assert_eq!(
                (first.number.as_str(), first.grade.as_str()),
                ("A-1", "VIP")
            );
            assert_eq!(first.price.won(), 150_000);
            assert_eq!((last.number.as_str(), last.grade.as_str()), ("E-10", "R"));
            assert_eq!(last.price.won(), 99_000);
        }
    }
}

#[test]
fn a_poisoned_lock_does_not_take_the_store_down() {
    let (store, clock) = store();
    let poisoner = store.clone();
    let result = std::thread::spawn(move || {
        let _guard = poisoner.state();
        panic!("a bug inside a critical section");
    })
    .join();
    assert!(result.is_err());
    assert!(store.seed_demo(clock.now()).is_ok());
}

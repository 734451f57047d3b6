//! Hold, reservation and cancel cases.

use crate::fixtures::{
    active_token, admitted_hold, charge_ok, concert, default_holds, hold_ok, hold_policy, new_hold,
    new_payment, roomy_queue, schedule, schedule_at, seat_ids, seats, user,
};
use crate::StoreUnderTest;
use chrono::TimeDelta;
use domain::{
    CancelError, HoldSeatsError, PageRequest, PayError, QueueAccessError, Reservation,
    ReservationId, ReservationStatus, ScheduleId, SeatId,
};
use std::time::Duration;

async fn available(s: &StoreUnderTest, schedule: ScheduleId) -> Vec<(SeatId, bool)> {
    s.catalogue
        .schedule_seats(schedule)
        .await
        .expect("seats")
        .seats
        .iter()
        .map(|x| (x.id, x.available))
        .collect()
}

async fn is_available(s: &StoreUnderTest, schedule: ScheduleId, seat: SeatId) -> bool {
    available(s, schedule)
        .await
        .into_iter()
        .find(|(id, _)| *id == seat)
        .expect("seat of the schedule")
        .1
}

/// A hold takes all seats or none; `SeatUnavailable` lists every taken seat, ascending.
pub async fn hold_is_all_or_nothing(s: StoreUnderTest) {
    let c = concert(&s, "All Or Nothing").await;
    let sch = schedule(&s, c, 6, 10_000).await;
    let ids = seat_ids(&sch);
    let policy = default_holds();
    let r = hold_ok(&s, user(1), &sch, &[ids[1], ids[3]], policy).await;
    assert_eq!(r.status, ReservationStatus::Held);
    assert_eq!(r.user_id, user(1));
    assert_eq!((r.schedule_id, r.concert_id), (sch.schedule_id, c));
    assert_eq!(r.total_price.won(), 20_000);
    let held: Vec<SeatId> = r.seats.iter().map(|x| x.seat_id).collect();
    assert_eq!(held, [ids[1], ids[3]]);
    assert!(r.held_until > r.created_at);
    let ttl = (r.held_until - r.created_at).num_seconds();
    assert!(
        (299..=301).contains(&ttl),
        "held for the policy's TTL, got {ttl} s"
    );

    let err = s
        .reservations
        .hold(
            admitted_hold(&s, user(2), &sch, &[ids[0], ids[1], ids[2]]).await,
            policy,
        )
        .await;
    assert_eq!(
        err,
        Err(HoldSeatsError::SeatUnavailable {
            seats: vec![ids[1]]
        })
    );
    let err = s
        .reservations
        .hold(
            admitted_hold(&s, user(2), &sch, &[ids[3], ids[4], ids[1]]).await,
            policy,
        )
        .await;
    assert_eq!(
        err,
        Err(HoldSeatsError::SeatUnavailable {
            seats: vec![ids[1], ids[3]]
        })
    );
    // Nothing of the failed holds was kept.
    assert!(is_available(&s, sch.schedule_id, ids[0]).await);
    assert!(is_available(&s, sch.schedule_id, ids[2]).await);
    assert!(is_available(&s, sch.schedule_id, ids[4]).await);
    let page = s
        .reservations
        .reservations(user(2), PageRequest::new(None, None).expect("page"))
        .await
        .expect("list");
    assert!(page.items.is_empty());
    hold_ok(&s, user(2), &sch, &[ids[0], ids[2], ids[4]], policy).await;
}

/// Unknown or started schedules and seats of another schedule are refused.
pub async fn hold_needs_an_open_schedule_and_its_seats(s: StoreUnderTest) {
    let c = concert(&s, "Open Schedule").await;
    let sch = schedule(&s, c, 3, 1000).await;
    let other = schedule(&s, c, 3, 1000).await;
    let started = schedule_at(&s, c, TimeDelta::minutes(-5), seats(3, 1000)).await;
    let policy = default_holds();
    let foreign = seat_ids(&other)[0];
    let mine = seat_ids(&sch)[0];
    assert_eq!(
        s.reservations
            .hold(
                admitted_hold(&s, user(1), &sch, &[mine, foreign]).await,
                policy
            )
            .await,
        Err(HoldSeatsError::SeatNotFound(foreign))
    );
    assert_eq!(
        s.reservations
            .hold(
                admitted_hold(&s, user(1), &started, &seat_ids(&started)[..1]).await,
                policy
            )
            .await,
        Err(HoldSeatsError::ScheduleNotFound)
    );
    let mut ghost = admitted_hold(&s, user(1), &sch, &[mine]).await;
    ghost.schedule_id = ScheduleId::new(9_000_000_000).expect("id");
    assert_eq!(
        s.reservations.hold(ghost, policy).await,
        Err(HoldSeatsError::ScheduleNotFound)
    );
    let missing = SeatId::new(9_000_000_000).expect("id");
    assert_eq!(
        s.reservations
            .hold(
                admitted_hold(&s, user(1), &sch, &[mine, missing]).await,
                policy
            )
            .await,
        Err(HoldSeatsError::SeatNotFound(missing))
    );
    assert!(is_available(&s, sch.schedule_id, mine).await);
}

/// The per-user cap counts every unexpired hold over all schedules, and only those.
pub async fn hold_limit_counts_every_live_hold(s: StoreUnderTest) {
    let c = concert(&s, "Hold Limit").await;
    let first = schedule(&s, c, 6, 1000).await;
    let second = schedule(&s, c, 6, 1000).await;
    let a = seat_ids(&first);
    let b = seat_ids(&second);
    let policy = hold_policy(Duration::from_secs(300), 4, 4);
    let three = hold_ok(&s, user(1), &first, &a[..3], policy).await;
    assert_eq!(
        s.reservations
            .hold(admitted_hold(&s, user(1), &second, &b[..2]).await, policy)
            .await,
        Err(HoldSeatsError::HoldLimitExceeded {
            would_hold: 5,
            limit: 4
        })
    );
    assert!(is_available(&s, second.schedule_id, b[0]).await);
    hold_ok(&s, user(1), &second, &b[..1], policy).await;
    // Other users are not affected.
    hold_ok(&s, user(2), &second, &b[2..6], policy).await;
    s.reservations
        .cancel(user(1), three.id)
        .await
        .expect("cancel");
    hold_ok(&s, user(1), &first, &a[3..6], policy).await;
}

/// 200 concurrent holds of one seat: exactly one succeeds.
pub async fn concurrent_holds_of_one_seat_yield_one(s: StoreUnderTest) {
    let c = concert(&s, "Contended").await;
    let sch = schedule(&s, c, 2, 1000).await;
    let seat = seat_ids(&sch)[0];
    let mut tasks = Vec::new();
    for u in 1..=200 {
        let store = s.reservations.clone();
        let hold = admitted_hold(&s, user(u), &sch, &[seat]).await;
        tasks.push(tokio::spawn(async move {
            store.hold(hold, default_holds()).await
        }));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(e, HoldSeatsError::SeatUnavailable { seats: vec![seat] }),
        }
    }
    assert_eq!(ok, 1);
    assert!(!is_available(&s, sch.schedule_id, seat).await);
}

/// Concurrent overlapping multi-seat holds never share a seat: every refusal names only seats of
/// its own request that a granted hold has; and one user's concurrent holds stop at the cap.
pub async fn concurrent_overlapping_holds_never_share_a_seat(s: StoreUnderTest) {
    // Arrange
    let c = concert(&s, "Overlaps").await;
    let sch = schedule(&s, c, 12, 1000).await;
    let ids = seat_ids(&sch);
    let capped = hold_policy(Duration::from_secs(600), 4, 3);

    // Act: 120 users each ask for two neighbouring seats (pairs overlap: k, k+1); user 999 asks
    // for 8 single seats of another schedule at once with a cap of 3.
    let other = schedule(&s, c, 8, 1000).await;
    let mut tasks = Vec::new();
    for u in 0..120_usize {
        let store = s.reservations.clone();
        let k = u % (ids.len() - 1);
        let hold = admitted_hold(
            &s,
            user(1 + i64::try_from(u).expect("small")),
            &sch,
            &ids[k..k + 2],
        )
        .await;
        tasks.push(tokio::spawn(async move {
            (
                hold.seats.ids().to_vec(),
                store.hold(hold, default_holds()).await,
            )
        }));
    }
    for seat in seat_ids(&other) {
        let store = s.reservations.clone();
        let hold = admitted_hold(&s, user(999), &other, &[seat]).await;
        tasks.push(tokio::spawn(async move {
            (hold.seats.ids().to_vec(), store.hold(hold, capped).await)
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("task"));
    }

    // Assert
    let (pairs, capped_answers) = answers.split_at(120);
    let mut owner = std::collections::HashMap::new();
    for (_, answer) in pairs {
        if let Ok(r) = answer {
            for seat in &r.seats {
                assert!(
                    owner.insert(seat.seat_id, r.id).is_none(),
                    "seat {} held twice",
                    seat.seat_id
                );
            }
            assert_eq!(r.seats.len(), 2);
        }
    }
    assert!(!owner.is_empty());
    for (asked, answer) in pairs {
        if let Err(e) = answer {
            let HoldSeatsError::SeatUnavailable { seats } = e else {
                panic!("unexpected refusal {e:?}");
            };
            assert!(!seats.is_empty());
            for seat in seats {
                assert!(asked.contains(seat), "refusal names a seat not asked for");
                assert!(
                    owner.contains_key(seat),
                    "seat {seat} refused but nobody holds it"
                );
            }
        }
    }
    let granted = capped_answers.iter().filter(|(_, a)| a.is_ok()).count();
    assert_eq!(granted, 3, "the cap of 3 seats held at once");
    for (_, answer) in capped_answers {
        if let Err(e) = answer {
            assert!(
                matches!(
                    e,
                    HoldSeatsError::HoldLimitExceeded {
                        would_hold: 4,
                        limit: 3
                    }
                ),
                "{e:?}"
            );
        }
    }
}

/// A hold past `held_until` is EXPIRED for every purpose before any sweep.
pub async fn expired_hold_is_expired_everywhere_without_a_sweep(s: StoreUnderTest) {
    let q = roomy_queue();
    let c = concert(&s, "Short Holds").await;
    let sch = schedule(&s, c, 3, 1000).await;
    let ids = seat_ids(&sch);
    let short = hold_policy(Duration::from_secs(1), 4, 4);
    let r = hold_ok(&s, user(1), &sch, &ids[..2], short).await;
    let token = active_token(&s, user(1), c, q).await;
    charge_ok(&s, user(1), 10_000, "short-charge").await;
    s.wait(Duration::from_millis(1300)).await;

    let read = s
        .reservations
        .reservation(user(1), r.id)
        .await
        .expect("read")
        .expect("mine");
    assert_eq!(read.status, ReservationStatus::Expired);
    assert!(is_available(&s, sch.schedule_id, ids[0]).await);
    let summary = s.catalogue.future_schedules(c).await.expect("schedules");
    assert_eq!(summary[0].available_seats, 3);
    assert_eq!(
        s.wallets
            .pay(new_payment(user(1), r.id, token, "late-pay"))
            .await,
        Err(PayError::NotPayable)
    );
    assert_eq!(
        s.wallets
            .wallet(user(1))
            .await
            .expect("wallet")
            .balance
            .won(),
        10_000
    );
    assert_eq!(
        s.reservations.cancel(user(1), r.id).await,
        Err(CancelError::NotCancellable(ReservationStatus::Expired))
    );
    // The seats can be held again at once, and the expired hold no longer counts to the cap.
    // Taking a lapsed hold's seat expires that reservation in the same step, so the sweep finds
    // nothing left to do.
    hold_ok(&s, user(2), &sch, &ids[..1], default_holds()).await;
    hold_ok(
        &s,
        user(1),
        &sch,
        &ids[1..3],
        hold_policy(Duration::from_secs(300), 2, 2),
    )
    .await;
    assert_eq!(s.reservations.expire_holds(10).await, Ok(0));
    let read = s
        .reservations
        .reservation(user(1), r.id)
        .await
        .expect("read")
        .expect("mine");
    assert_eq!(read.status, ReservationStatus::Expired);
}

/// `expire_holds` marks due holds in bounded batches and returns how many.
pub async fn expire_holds_is_bounded_by_batch(s: StoreUnderTest) {
    let c = concert(&s, "Sweep").await;
    let sch = schedule(&s, c, 5, 1000).await;
    let ids = seat_ids(&sch);
    let short = hold_policy(Duration::from_secs(1), 4, 4);
    for (i, seat) in ids[..3].iter().enumerate() {
        hold_ok(&s, user(i as i64 + 1), &sch, &[*seat], short).await;
    }
    let live = hold_ok(&s, user(9), &sch, &ids[3..4], default_holds()).await;
    assert_eq!(
        s.reservations.expire_holds(10).await,
        Ok(0),
        "nothing is due yet"
    );
    s.wait(Duration::from_millis(1300)).await;
    assert_eq!(s.reservations.expire_holds(2).await, Ok(2));
    assert_eq!(s.reservations.expire_holds(2).await, Ok(1));
    assert_eq!(s.reservations.expire_holds(2).await, Ok(0));
    let still = s
        .reservations
        .reservation(user(9), live.id)
        .await
        .expect("read")
        .expect("mine");
    assert_eq!(still.status, ReservationStatus::Held);
}

/// The store checks the queue token inside the hold itself: a token spent by a payment or left a
/// moment earlier, another user's, or one for another concert cannot hold, and nothing is held.
pub async fn hold_rechecks_the_queue_token(s: StoreUnderTest) {
    // Arrange
    let q = roomy_queue();
    let c = concert(&s, "Token Recheck").await;
    let elsewhere = concert(&s, "Elsewhere").await;
    let sch = schedule(&s, c, 4, 1000).await;
    let ids = seat_ids(&sch);
    charge_ok(&s, user(1), 10_000, "recheck-charge").await;
    let paid = hold_ok(&s, user(1), &sch, &ids[..1], default_holds()).await;
    let spent = active_token(&s, user(1), c, q).await;
    s.wallets
        .pay(new_payment(user(1), paid.id, spent, "recheck-pay"))
        .await
        .expect("pay");
    let left = active_token(&s, user(2), c, q).await;
    s.queue.leave(left, user(2)).await.expect("leave");
    let someone_elses = active_token(&s, user(3), c, q).await;
    let other_concert = active_token(&s, user(4), elsewhere, q).await;
    let not_active = Err(HoldSeatsError::Access(QueueAccessError::NotActive));

    // Act
    let answers = [
        s.reservations
            .hold(new_hold(user(1), spent, &sch, &ids[1..2]), default_holds())
            .await,
        s.reservations
            .hold(new_hold(user(2), left, &sch, &ids[1..2]), default_holds())
            .await,
        s.reservations
            .hold(
                new_hold(user(4), someone_elses, &sch, &ids[1..2]),
                default_holds(),
            )
            .await,
        s.reservations
            .hold(
                new_hold(user(4), other_concert, &sch, &ids[1..2]),
                default_holds(),
            )
            .await,
    ];

    // Assert
    for answer in answers {
        assert_eq!(answer, not_active);
    }
    assert!(is_available(&s, sch.schedule_id, ids[1]).await);
}

/// Cancelling frees the seats at once; a second cancel is `NotCancellable(CANCELLED)`.
pub async fn cancel_frees_seats_once(s: StoreUnderTest) {
    let c = concert(&s, "Cancel").await;
    let sch = schedule(&s, c, 3, 1000).await;
    let ids = seat_ids(&sch);
    let r = hold_ok(&s, user(1), &sch, &ids[..2], default_holds()).await;
    let cancelled = s.reservations.cancel(user(1), r.id).await.expect("cancel");
    assert_eq!(cancelled.status, ReservationStatus::Cancelled);
    assert_eq!(cancelled.id, r.id);
    assert!(is_available(&s, sch.schedule_id, ids[0]).await);
    assert!(is_available(&s, sch.schedule_id, ids[1]).await);
    assert_eq!(
        s.reservations.cancel(user(1), r.id).await,
        Err(CancelError::NotCancellable(ReservationStatus::Cancelled))
    );
    let read = s
        .reservations
        .reservation(user(1), r.id)
        .await
        .expect("read")
        .expect("mine");
    assert_eq!(read.status, ReservationStatus::Cancelled);
    hold_ok(&s, user(2), &sch, &ids[..2], default_holds()).await;
    assert_eq!(
        s.reservations
            .cancel(user(1), ReservationId::from_uuid(uuid::Uuid::now_v7()))
            .await,
        Err(CancelError::NotFound)
    );
}

/// Another user's reservation does not exist for the caller.
pub async fn other_users_reservation_is_invisible(s: StoreUnderTest) {
    let c = concert(&s, "Privacy").await;
    let sch = schedule(&s, c, 2, 1000).await;
    let r = hold_ok(&s, user(1), &sch, &seat_ids(&sch)[..1], default_holds()).await;
    assert_eq!(s.reservations.reservation(user(2), r.id).await, Ok(None));
    assert_eq!(
        s.reservations.cancel(user(2), r.id).await,
        Err(CancelError::NotFound)
    );
    let theirs = s
        .reservations
        .reservations(user(2), PageRequest::new(None, None).expect("page"))
        .await
        .expect("list");
    assert!(theirs.items.is_empty() && theirs.next_cursor.is_none());
    let mine = s
        .reservations
        .reservation(user(1), r.id)
        .await
        .expect("read");
    assert_eq!(mine.map(|x| x.status), Some(ReservationStatus::Held));
}

fn key(r: &Reservation) -> (chrono::DateTime<chrono::Utc>, uuid::Uuid) {
    (r.created_at, r.id.get())
}

/// The user's reservations come newest first in stable keyset pages.
pub async fn reservations_page_newest_first(s: StoreUnderTest) {
    let c = concert(&s, "Paging").await;
    let sch = schedule(&s, c, 8, 1000).await;
    let ids = seat_ids(&sch);
    let policy = hold_policy(Duration::from_secs(300), 4, 10);
    let mut made = Vec::new();
    for seat in &ids[..7] {
        made.push(hold_ok(&s, user(1), &sch, &[*seat], policy).await.id);
    }
    hold_ok(&s, user(2), &sch, &ids[7..8], policy).await;
    let newest = *made.last().expect("made some");
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let page = s
            .reservations
            .reservations(user(1), PageRequest::new(Some(3), cursor).expect("page"))
            .await
            .expect("list");
        if pages.is_empty() {
            assert_eq!(
                page.items.first().map(|r| r.id),
                Some(newest),
                "newest first"
            );
        }
        pages.push(page.items.len());
        let last = page.next_cursor.is_none();
        cursor = page.next_cursor;
        if let Some(c) = cursor {
            let tail = page.items.last().expect("a full page");
            assert_eq!(
                (c.created_at, c.id),
                key(tail),
                "the cursor is the last item"
            );
        }
        made.retain(|id| !page.items.iter().any(|r| r.id == *id));
        let keys: Vec<_> = page.items.iter().map(key).collect();
        assert!(
            keys.windows(2).all(|w| w[0] > w[1]),
            "newest first, no ties"
        );
        assert!(page.items.iter().all(|r| r.user_id == user(1)));
        if last {
            break;
        }
        assert!(pages.len() < 10, "paging terminates");
    }
    assert_eq!(pages, [3, 3, 1]);
    assert!(made.is_empty(), "every reservation appears once");
}

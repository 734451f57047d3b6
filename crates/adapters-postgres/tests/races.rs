//! Races against the invariant checker, on PostgreSQL (a fresh database per test) and on the
//! in-memory store.
//!
//! Each race runs while a background task checks every invariant every ~20 ms
//! ([`PgStore::check_invariants`] / [`MemoryStore::check_invariants`]), and once more at the end;
//! a guarded race must see no violation at any check and the expected outcome counts. Each race
//! also has a negative control: the same race with the guard it exercises switched off (and, on
//! PostgreSQL, the schema rule behind it dropped in the test's own database), which must be
//! caught — proof that the race can fail.
//!
//! Every race prints one summary line (run with `--nocapture` to see them).

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use adapters_memory::Guard as MemGuard;
use adapters_postgres::Guard;
use common::race::*;
use common::*;
use domain::ports::WalletStore;
use domain::*;
use futures::future::join_all;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

// ------------------------------------------------------------------ race 1: the last seat

/// 200 users race for one seat.
async fn last_seat<S: Stores>(store: Arc<S>) -> Tally {
    let (_, schedule) = concert_with_seats(&*store, 1, 100).await;
    let seat = schedule.seats[0].id;
    let mut holds = Vec::new();
    for n in 1..=200 {
        holds.push(admitted_hold(&*store, user(n), &schedule, &[seat]).await);
    }
    let results = join_all(holds.into_iter().map(|hold| {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.hold(hold, hold_policy(secs(60), 4)).await })
    }))
    .await;
    let mut tally = Tally::default();
    for r in results {
        tally.attempts += 1;
        match r.unwrap() {
            Ok(_) => tally.won += 1,
            Err(HoldSeatsError::SeatUnavailable { .. }) => tally.refused += 1,
            Err(other) => tally.unexpected.push(format!("{other:?}")),
        }
    }
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_the_last_seat_has_one_winner_among_200() {
    // Arrange
    let Some((_db, store, checker)) = pg(&[], &[]).await else {
        return;
    };
    // Act
    let (tally, seen, took) = watched(checker, last_seat(store)).await;
    // Assert
    report("last seat", "pg", true, &tally, &seen, took);
    assert_eq!(
        (tally.won, tally.refused),
        (1, 199),
        "{:?}",
        tally.unexpected
    );
    seen.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_negative_control_the_last_seat_without_its_guard_is_caught() {
    // Arrange: no availability check, no unique index.
    let Some((_db, store, checker)) = pg(
        &["DROP INDEX reservation_seats_one_live"],
        &[Guard::SeatAvailability],
    )
    .await
    else {
        return;
    };
    // Act
    let (tally, seen, took) = watched(checker, last_seat(store)).await;
    // Assert
    report("last seat", "pg", false, &tally, &seen, took);
    assert!(tally.won > 1, "only {} winner(s)", tally.won);
    seen.assert_caught(1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_the_last_seat_has_one_winner_among_200() {
    // Arrange
    let (store, checker) = memory(&[]);
    // Act
    let (tally, seen, took) = watched(checker, last_seat(store)).await;
    // Assert
    report("last seat", "memory", true, &tally, &seen, took);
    assert_eq!(
        (tally.won, tally.refused),
        (1, 199),
        "{:?}",
        tally.unexpected
    );
    seen.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_negative_control_the_last_seat_without_its_guard_is_caught() {
    // Arrange
    let (store, checker) = memory(&[MemGuard::SeatAvailability]);
    // Act
    let (tally, seen, took) = watched(checker, last_seat(store)).await;
    // Assert
    report("last seat", "memory", false, &tally, &seen, took);
    assert!(tally.won > 1, "only {} winner(s)", tally.won);
    seen.assert_caught(1);
}

// ------------------------------------------------------------------ race 2: two payments, one hold

const DOUBLE_PAY_HOLDS: i64 = 25;

/// 25 holds, each paid twice at once under two different keys. `won` counts successful
/// payments; the most payments any one hold got is returned too.
async fn double_payment<S: Stores>(store: Arc<S>) -> (Tally, usize) {
    let (concert, schedule) = concert_with_seats(&*store, 25, 300).await;
    let mut holds = Vec::new();
    for n in 1..=DOUBLE_PAY_HOLDS {
        let u = user(n);
        charge(&*store, u, 1000, &format!("charge-{n}")).await;
        let token = active_token(&*store, u, concert, queue()).await;
        let seat = schedule.seats[usize::try_from(n - 1).unwrap()].id;
        let held = store
            .hold(
                new_hold(u, token, &schedule, &[seat]),
                hold_policy(secs(600), 4),
            )
            .await
            .unwrap();
        holds.push((u, held.id, token));
    }
    let attempts = holds.iter().flat_map(|(u, reservation, token)| {
        ["a", "b"].map(|side| {
            let store = Arc::clone(&store);
            let pay = payment(*u, *reservation, *token, &format!("pay-{u}-{side}"));
            tokio::spawn(async move { (pay.reservation_id, store.pay(pay).await) })
        })
    });
    let results = join_all(attempts).await;
    let mut tally = Tally::default();
    let mut per_hold: BTreeMap<ReservationId, usize> = BTreeMap::new();
    for r in results {
        tally.attempts += 1;
        let (reservation, outcome) = r.unwrap();
        match outcome {
            Ok(_) => {
                tally.won += 1;
                *per_hold.entry(reservation).or_default() += 1;
            }
            Err(PayError::NotPayable | PayError::Access(_)) => tally.refused += 1,
            Err(other) => tally.unexpected.push(format!("{other:?}")),
        }
    }
    (tally, per_hold.values().copied().max().unwrap_or(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_two_payments_for_one_hold_pay_once() {
    // Arrange
    let Some((_db, store, checker)) = pg(&[], &[]).await else {
        return;
    };
    // Act
    let ((tally, most), seen, took) = watched(checker, double_payment(store)).await;
    // Assert
    report("two payments, one hold", "pg", true, &tally, &seen, took);
    assert!(tally.unexpected.is_empty(), "{:?}", tally.unexpected);
    assert_eq!((tally.won, most), (25, 1));
    seen.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_negative_control_two_payments_without_their_guards_are_caught() {
    // Arrange: a CONFIRMED reservation stays payable, the token is not checked, and the
    // one-payment-per-reservation constraint is gone.
    let Some((_db, store, checker)) = pg(
        &["ALTER TABLE payments DROP CONSTRAINT payments_reservation_key"],
        &[Guard::Payable, Guard::TokenActive],
    )
    .await
    else {
        return;
    };
    // Act
    let ((tally, most), seen, took) = watched(checker, double_payment(store)).await;
    // Assert
    report("two payments, one hold", "pg", false, &tally, &seen, took);
    assert_eq!(most, 2);
    seen.assert_caught(4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_two_payments_for_one_hold_pay_once() {
    // Arrange
    let (store, checker) = memory(&[]);
    // Act
    let ((tally, most), seen, took) = watched(checker, double_payment(store)).await;
    // Assert
    report(
        "two payments, one hold",
        "memory",
        true,
        &tally,
        &seen,
        took,
    );
    assert!(tally.unexpected.is_empty(), "{:?}", tally.unexpected);
    assert_eq!((tally.won, most), (25, 1));
    seen.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_negative_control_two_payments_without_their_guards_are_caught() {
    // Arrange
    let (store, checker) = memory(&[MemGuard::Payable, MemGuard::TokenActive]);
    // Act
    let ((tally, most), seen, took) = watched(checker, double_payment(store)).await;
    // Assert
    report(
        "two payments, one hold",
        "memory",
        false,
        &tally,
        &seen,
        took,
    );
    assert_eq!(most, 2);
    seen.assert_caught(4);
}

// ------------------------------------------------------------------ race 3: pay at the deadline

const BOUNDARY_USERS: i64 = 40;

/// Boundary race results beyond the tally.
#[derive(Debug, Default)]
struct Boundary {
    /// Attempts sent before / at-or-after their hold's deadline (by the local clock).
    sent_before: usize,
    sent_after: usize,
    /// Successful payments whose `paid_at` is not before the hold's deadline.
    paid_late: usize,
    /// Users whose money and reservation disagree (debited but not CONFIRMED, or the reverse).
    mismatched: usize,
}

/// 40 one-second holds, each paid once at an instant spread over [deadline − 60 ms,
/// deadline + 57 ms].
async fn pay_at_the_deadline<S: Stores>(store: Arc<S>) -> (Tally, Boundary) {
    let (concert, schedule) = concert_with_seats(&*store, 40, 100).await;
    let mut tokens = Vec::new();
    for n in 1..=BOUNDARY_USERS {
        charge(&*store, user(n), 1000, &format!("charge-{n}")).await;
        tokens.push(active_token(&*store, user(n), concert, queue()).await);
    }
    let mut holds = Vec::new();
    for n in 1..=BOUNDARY_USERS {
        let seat = schedule.seats[usize::try_from(n - 1).unwrap()].id;
        let held = store
            .hold(
                new_hold(
                    user(n),
                    tokens[usize::try_from(n - 1).unwrap()],
                    &schedule,
                    &[seat],
                ),
                hold_policy(secs(1), 4),
            )
            .await
            .unwrap();
        holds.push(held);
    }
    let attempts = holds
        .iter()
        .zip(&tokens)
        .enumerate()
        .map(|(i, (held, token))| {
            let store = Arc::clone(&store);
            let offset = chrono::Duration::milliseconds(-60 + 3 * i64::try_from(i).unwrap());
            let (u, id, deadline, token) = (held.user_id, held.id, held.held_until, *token);
            tokio::spawn(async move {
                let target = deadline + offset;
                if let Ok(wait) = (target - chrono::Utc::now()).to_std() {
                    tokio::time::sleep(wait).await;
                }
                let sent_after = chrono::Utc::now() >= deadline;
                let outcome = store.pay(payment(u, id, token, &format!("pay-{u}"))).await;
                (deadline, sent_after, outcome)
            })
        });
    let results = join_all(attempts.collect::<Vec<_>>()).await;
    let mut tally = Tally::default();
    let mut boundary = Boundary::default();
    for r in results {
        let (deadline, sent_after, outcome) = r.unwrap();
        tally.attempts += 1;
        if sent_after {
            boundary.sent_after += 1;
        } else {
            boundary.sent_before += 1;
        }
        match outcome {
            Ok(receipt) => {
                tally.won += 1;
                if receipt.paid_at >= deadline {
                    boundary.paid_late += 1;
                }
            }
            Err(PayError::NotPayable) => tally.refused += 1,
            Err(other) => tally.unexpected.push(format!("{other:?}")),
        }
    }
    for held in &holds {
        let balance = store.wallet(held.user_id).await.unwrap().balance.won();
        let status = store
            .reservation(held.user_id, held.id)
            .await
            .unwrap()
            .unwrap()
            .status;
        let paid = balance == 900;
        if paid != (status == ReservationStatus::Confirmed) || !(balance == 900 || balance == 1000)
        {
            boundary.mismatched += 1;
        }
    }
    (tally, boundary)
}

fn assert_boundary_held(tally: &Tally, boundary: &Boundary) {
    println!("    boundary: {boundary:?}");
    assert!(tally.unexpected.is_empty(), "{:?}", tally.unexpected);
    assert_eq!(tally.won + tally.refused, 40);
    assert!(
        boundary.sent_after > 0,
        "no attempt crossed the deadline: {boundary:?}"
    );
    assert_eq!((boundary.paid_late, boundary.mismatched), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_payments_across_the_deadline_never_confirm_late() {
    // Arrange
    let Some((_db, store, checker)) = pg(&[], &[]).await else {
        return;
    };
    // Act
    let ((tally, boundary), seen, took) = watched(checker, pay_at_the_deadline(store)).await;
    // Assert
    report("pay at the deadline", "pg", true, &tally, &seen, took);
    assert_boundary_held(&tally, &boundary);
    seen.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_negative_control_late_payments_without_their_guard_are_caught() {
    // Arrange: expired holds stay payable, and the trigger that refuses it is gone.
    let Some((_db, store, checker)) = pg(
        &["DROP TRIGGER reservations_release_seats ON reservations"],
        &[Guard::Payable],
    )
    .await
    else {
        return;
    };
    // Act
    let ((tally, boundary), seen, took) = watched(checker, pay_at_the_deadline(store)).await;
    // Assert
    report("pay at the deadline", "pg", false, &tally, &seen, took);
    println!("    boundary: {boundary:?}");
    assert!(boundary.paid_late > 0, "{boundary:?}");
    seen.assert_caught(4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_payments_across_the_deadline_never_confirm_late() {
    // Arrange
    let (store, checker) = memory(&[]);
    // Act
    let ((tally, boundary), seen, took) = watched(checker, pay_at_the_deadline(store)).await;
    // Assert
    report("pay at the deadline", "memory", true, &tally, &seen, took);
    assert_boundary_held(&tally, &boundary);
    seen.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_negative_control_late_payments_without_their_guard_are_caught() {
    // Arrange
    let (store, checker) = memory(&[MemGuard::Payable]);
    // Act
    let ((tally, boundary), seen, took) = watched(checker, pay_at_the_deadline(store)).await;
    // Assert
    report("pay at the deadline", "memory", false, &tally, &seen, took);
    println!("    boundary: {boundary:?}");
    assert!(boundary.paid_late > 0, "{boundary:?}");
    seen.assert_caught(4);
}

// ------------------------------------------------------------------ race 4: a wallet that affords one

/// One user with 1500 and fifty held 1000-won seats (one per concert, each with its own ACTIVE
/// token, so only the balance decides) pays all fifty at once.
async fn wallet_affords_one<S: Stores>(store: Arc<S>) -> Tally {
    let u = user(1);
    let mut jobs = Vec::new();
    for _ in 0..50 {
        let (concert, schedule) = concert_with_seats(&*store, 1, 1000).await;
        let token = active_token(&*store, u, concert, queue()).await;
        let held = store
            .hold(
                new_hold(u, token, &schedule, &[schedule.seats[0].id]),
                hold_policy(secs(600), 100),
            )
            .await
            .unwrap();
        jobs.push((held.id, token));
    }
    charge(&*store, u, 1500, "charge").await;
    let results = join_all(
        jobs.into_iter()
            .enumerate()
            .map(|(n, (reservation, token))| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    store
                        .pay(payment(u, reservation, token, &format!("pay-{n}")))
                        .await
                })
            }),
    )
    .await;
    let mut tally = Tally::default();
    for r in results {
        tally.attempts += 1;
        match r.unwrap() {
            Ok(_) => tally.won += 1,
            Err(PayError::InsufficientBalance) => tally.refused += 1,
            Err(other) => tally.unexpected.push(format!("{other:?}")),
        }
    }
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_fifty_payments_from_a_wallet_that_affords_one() {
    // Arrange
    let Some((_db, store, checker)) = pg(&[], &[]).await else {
        return;
    };
    // Act
    let (tally, seen, took) = watched(checker, wallet_affords_one(Arc::clone(&store))).await;
    // Assert
    report("wallet affords one", "pg", true, &tally, &seen, took);
    assert_eq!(
        (tally.won, tally.refused),
        (1, 49),
        "{:?}",
        tally.unexpected
    );
    assert_eq!(store.wallet(user(1)).await.unwrap().balance.won(), 500);
    seen.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_negative_control_an_uncovered_wallet_is_caught() {
    // Arrange: no balance condition, no CHECKs.
    let Some((_db, store, checker)) = pg(
        &[
            "ALTER TABLE wallets DROP CONSTRAINT wallets_balance_check",
            "ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_balance_after_check",
        ],
        &[Guard::Balance],
    )
    .await
    else {
        return;
    };
    // Act
    let (tally, seen, took) = watched(checker, wallet_affords_one(store)).await;
    // Assert
    report("wallet affords one", "pg", false, &tally, &seen, took);
    assert!(tally.won > 1, "only {} paid", tally.won);
    seen.assert_caught(2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_fifty_payments_from_a_wallet_that_affords_one() {
    // Arrange
    let (store, checker) = memory(&[]);
    // Act
    let (tally, seen, took) = watched(checker, wallet_affords_one(Arc::clone(&store))).await;
    // Assert
    report("wallet affords one", "memory", true, &tally, &seen, took);
    assert_eq!(
        (tally.won, tally.refused),
        (1, 49),
        "{:?}",
        tally.unexpected
    );
    assert_eq!(store.wallet(user(1)).await.unwrap().balance.won(), 500);
    seen.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_negative_control_an_uncovered_wallet_is_caught() {
    // Arrange
    let (store, checker) = memory(&[MemGuard::Balance]);
    // Act
    let (tally, seen, took) = watched(checker, wallet_affords_one(store)).await;
    // Assert
    report("wallet affords one", "memory", false, &tally, &seen, took);
    assert!(tally.won > 1, "only {} paid", tally.won);
    seen.assert_caught(2);
}

// ------------------------------------------------------------------ race 5: opposite seat orders

const SEATS: usize = 30;

/// 1000 users hold three adjacent seats each: odd users ask for [a, b, c], even users for
/// [c, b, a] of the same triple (pairs of users share a triple; neighbouring triples overlap).
/// They come from 40 workers at once, each holding for one user after another, so holds keep
/// arriving and many small transactions lock overlapping seats at the same time (a storm of all
/// 1000 at once would be settled by a few big batches, one after the other). Nine winners in ten
/// cancel at once, so the seats keep changing hands. Returns the tally and how many successful
/// holds could not be read back as expected.
async fn opposite_orders<S: Stores>(store: Arc<S>) -> (Tally, usize) {
    let (_, schedule) = concert_with_seats(&*store, SEATS, 10).await;
    let seats: Vec<SeatId> = schedule.seats.iter().map(|s| s.id).collect();
    let schedule_id = schedule.schedule_id;
    let mut tokens = Vec::new();
    for n in 1..=1000i64 {
        tokens.push(live_token(&*store, user(n), schedule.concert_id, queue()).await);
    }
    const WORKERS: i64 = 40;
    let tokens = Arc::new(tokens);
    let results = join_all((1..=WORKERS).map(|worker| {
        let store = Arc::clone(&store);
        let tokens = Arc::clone(&tokens);
        let seats = seats.clone();
        tokio::spawn(async move {
            let mut done = Vec::new();
            for n in (worker..=1000).step_by(usize::try_from(WORKERS).unwrap()) {
                let first = usize::try_from((n - 1) / 2).unwrap() % (SEATS - 2);
                let mut asked = seats[first..first + 3].to_vec();
                if n % 2 == 0 {
                    asked.reverse();
                }
                let hold = domain::ports::NewHold {
                    reservation_id: ReservationId::from_uuid(new_id()),
                    user_id: user(n),
                    schedule_id,
                    seats: SeatSelection::new(asked, 4).unwrap(),
                    queue_token: tokens[usize::try_from(n - 1).unwrap()],
                };
                let outcome = store.hold(hold, hold_policy(secs(600), 4)).await;
                let mut cancelled = false;
                if let Ok(held) = &outcome {
                    if n % 10 != 0 {
                        store.cancel(user(n), held.id).await.unwrap();
                        cancelled = true;
                    }
                }
                done.push((n, outcome, cancelled));
            }
            done
        })
    }))
    .await;
    let mut tally = Tally::default();
    let mut unreadable = 0;
    for (n, outcome, cancelled) in results.into_iter().flat_map(Result::unwrap) {
        tally.attempts += 1;
        match outcome {
            Ok(held) => {
                tally.won += 1;
                let expected = if cancelled {
                    ReservationStatus::Cancelled
                } else {
                    ReservationStatus::Held
                };
                let read = store.reservation(user(n), held.id).await.unwrap();
                if read.map(|r| (r.status, r.seats.len())) != Some((expected, 3)) {
                    unreadable += 1;
                }
            }
            Err(HoldSeatsError::SeatUnavailable { .. }) => tally.refused += 1,
            Err(other) => tally.unexpected.push(format!("{other:?}")),
        }
    }
    (tally, unreadable)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_opposite_order_holds_never_deadlock_a_caller_or_leak() {
    // Arrange: deadlocks found fast, as in the negative control.
    let Some((db, store, checker)) = pg(&[FAST_DEADLOCKS], &[]).await else {
        return;
    };
    // Act
    let ((tally, unreadable), seen, took) = watched(checker, opposite_orders(store)).await;
    // Assert
    report("2 x 500 opposite orders", "pg", true, &tally, &seen, took);
    let deadlocks = deadlocks(&db).await;
    println!("    {deadlocks} deadlocks detected by PostgreSQL");
    assert_eq!(
        deadlocks, 0,
        "the lock order should make deadlocks impossible"
    );
    assert!(tally.unexpected.is_empty(), "{:?}", tally.unexpected);
    assert!(tally.won >= SEATS / 3, "only {} holds succeeded", tally.won);
    assert_eq!(unreadable, 0);
    seen.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_negative_control_unordered_locks_deadlock() {
    // Arrange: a batch whose first holder has an even user id locks its seats in descending
    // order (the store's one switch in code), deadlocks are not retried, and found fast.
    let Some((db, store, checker)) = pg(&[FAST_DEADLOCKS], &[Guard::LockOrder]).await else {
        return;
    };
    // Act
    let ((tally, _), seen, took) = watched(checker, opposite_orders(store)).await;
    // Assert
    report("2 x 500 opposite orders", "pg", false, &tally, &seen, took);
    let deadlocks = deadlocks(&db).await;
    println!(
        "    {deadlocks} deadlocks detected by PostgreSQL; {} reached callers, e.g. {:?}",
        tally.unexpected.len(),
        tally.unexpected.first()
    );
    assert!(
        deadlocks > 0,
        "no deadlock: the control did not exercise the lock order"
    );
}

/// Deadlocks are detected after 10 ms of waiting instead of a second.
const FAST_DEADLOCKS: &str = "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET \
    deadlock_timeout = %L', current_database(), '10ms'); END $$";

/// The deadlocks PostgreSQL detected in `db`, read once the raced store's connections have
/// closed (a backend reports its statistics when it exits).
async fn deadlocks(db: &common::TestDb) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        deadlocks: i64,
    }
    let mut conn = db.conn().await;
    let mut last = -1;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        diesel_async::RunQueryDsl::execute(
            diesel::sql_query("SELECT pg_stat_clear_snapshot()"),
            &mut conn,
        )
        .await
        .unwrap();
        let now: Count = diesel_async::RunQueryDsl::get_result(
            diesel::sql_query(
                "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()",
            ),
            &mut conn,
        )
        .await
        .unwrap();
        if now.deadlocks == last {
            return last;
        }
        last = now.deadlocks;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_opposite_order_holds_never_fail_a_caller_or_leak() {
    // Arrange (one critical section per hold: there are no locks to order, so no negative
    // control)
    let (store, checker) = memory(&[]);
    // Act
    let ((tally, unreadable), seen, took) = watched(checker, opposite_orders(store)).await;
    // Assert
    report(
        "2 x 500 opposite orders",
        "memory",
        true,
        &tally,
        &seen,
        took,
    );
    assert!(tally.unexpected.is_empty(), "{:?}", tally.unexpected);
    assert_eq!(unreadable, 0);
    seen.assert_clean();
}

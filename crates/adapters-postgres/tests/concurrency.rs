//! Races: many callers at once, as several app instances sharing one database would be.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use store_contract::fixtures::{ledger_in_pages, statement_balance};

use common::*;
use domain::ports::{NewCharge, NewPayment, QueueStore, ReservationStore, WalletStore};
use domain::*;
use futures::future::join_all;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

async fn count(db: &TestDb, sql: &str) -> i64 {
    let mut conn = db.conn().await;
    let row: Count = diesel_async::RunQueryDsl::get_result(diesel::sql_query(sql), &mut conn)
        .await
        .unwrap();
    row.n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_holds_of_one_seat_have_one_winner() {
    let Some(db) = test_db!() else { return };
    let store = Arc::new(db.store(32).await);
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
    let mut won = 0;
    for r in results {
        match r.unwrap() {
            Ok(_) => won += 1,
            Err(HoldSeatsError::SeatUnavailable { seats }) => assert_eq!(seats, vec![seat]),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) AS n FROM reservation_seats WHERE live"
        )
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_multi_seat_holds_never_deadlock_or_double_hold() {
    let Some(db) = test_db!() else { return };
    let store = Arc::new(db.store(32).await);
    let (_, schedule) = concert_with_seats(&*store, 12, 10).await;
    let s: Vec<SeatId> = schedule.seats.iter().map(|x| x.id).collect();
    // Pairs of requests over the same seats "in opposite order", plus overlapping windows.
    let mut requests = Vec::new();
    for i in 0..60usize {
        let a = s[i % 12];
        let b = s[(i * 7 + 5) % 12];
        let c = s[(i * 5 + 3) % 12];
        let mut seats: Vec<SeatId> = vec![a, b, c];
        seats.sort();
        seats.dedup();
        let mut reversed = seats.clone();
        reversed.reverse();
        requests.push(seats);
        requests.push(reversed);
    }
    let mut tokens = Vec::new();
    for n in 0..requests.len() {
        let u = user(n as i64 + 1);
        tokens.push(live_token(&*store, u, schedule.concert_id, default_queue()).await);
    }
    let results = join_all(requests.into_iter().enumerate().map(|(n, seats)| {
        let store = Arc::clone(&store);
        let hold = domain::ports::NewHold {
            reservation_id: ReservationId::from_uuid(uuid::Uuid::now_v7()),
            user_id: user(n as i64 + 1),
            schedule_id: schedule.schedule_id,
            seats: SeatSelection::new(seats, 4).unwrap(),
            queue_token: tokens[n],
        };
        tokio::spawn(async move { store.hold(hold, hold_policy(secs(60), 4)).await })
    }))
    .await;
    let mut held = HashSet::new();
    for r in results {
        match r.unwrap() {
            Ok(reservation) => {
                for seat in reservation.seats {
                    assert!(
                        held.insert(seat.seat_id),
                        "seat {} held twice",
                        seat.seat_id
                    );
                }
            }
            Err(HoldSeatsError::SeatUnavailable { .. }) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert!(!held.is_empty());
    assert_eq!(
        count(
            &db,
            "SELECT count(*) AS n FROM reservation_seats WHERE live"
        )
        .await,
        held.len() as i64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_expired_hold_yields_its_seat_without_any_sweep() {
    let Some(db) = test_db!() else { return };
    let store = Arc::new(db.store(16).await);
    let (_, schedule) = concert_with_seats(&*store, 1, 10).await;
    let seat = schedule.seats[0].id;
    let first = store
        .hold(
            admitted_hold(&*store, user(1), &schedule, &[seat]).await,
            hold_policy(secs(1), 4),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Many users race for the freed seat: exactly one wins, and the old hold reads EXPIRED.
    let mut holds = Vec::new();
    for n in 2..=40 {
        holds.push(admitted_hold(&*store, user(n), &schedule, &[seat]).await);
    }
    let results = join_all(holds.into_iter().map(|hold| {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.hold(hold, hold_policy(secs(60), 4)).await })
    }))
    .await;
    let won = results
        .into_iter()
        .filter(|r| matches!(r, Ok(Ok(_))))
        .count();
    assert_eq!(won, 1);
    assert_eq!(
        store
            .reservation(user(1), first.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        ReservationStatus::Expired
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_payments_from_a_wallet_that_affords_one() {
    let Some(db) = test_db!() else { return };
    let store = Arc::new(db.store(32).await);
    let u = user(1);
    let queue = default_queue();
    // Fifty concerts, each with an active token and a held seat of price 1000.
    let mut jobs = Vec::new();
    for _ in 0..50 {
        let (concert, schedule) = concert_with_seats(&*store, 1, 1000).await;
        let token = active_token(&*store, u, concert, queue).await;
        let held = store
            .hold(
                new_hold(u, token, &schedule, &[schedule.seats[0].id]),
                hold_policy(secs(600), 100),
            )
            .await
            .unwrap();
        jobs.push((held.id, token));
    }
    store
        .charge(
            NewCharge {
                user_id: u,
                transaction_id: TransactionId::from_uuid(uuid::Uuid::now_v7()),
                amount: ChargeAmount::new(1500, Money::new(1_000_000).unwrap()).unwrap(),
                idempotency: idem("charge", "charge:1500"),
            },
            wallet_policy(1_000_000, 10_000_000),
        )
        .await
        .unwrap();
    let results = join_all(
        jobs.into_iter()
            .enumerate()
            .map(|(n, (reservation, token))| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    store
                        .pay(NewPayment {
                            user_id: u,
                            reservation_id: reservation,
                            queue_token: Some(token),
                            payment_id: PaymentId::from_uuid(uuid::Uuid::now_v7()),
                            transaction_id: TransactionId::from_uuid(uuid::Uuid::now_v7()),
                            idempotency: idem(&format!("pay-{n}"), &format!("pay:{n}")),
                        })
                        .await
                })
            }),
    )
    .await;
    let mut paid = 0;
    for r in results {
        match r.unwrap() {
            Ok(receipt) => {
                paid += 1;
                assert_eq!(receipt.balance_after, Money::new(500).unwrap());
            }
            Err(PayError::InsufficientBalance) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(paid, 1);
    assert_eq!(
        store.wallet(u).await.unwrap().balance,
        Money::new(500).unwrap()
    );
    assert_eq!(count(&db, "SELECT count(*) AS n FROM payments").await, 1);
    assert_eq!(
        count(
            &db,
            "SELECT sum(amount)::bigint AS n FROM ledger_entries WHERE user_id = 1"
        )
        .await,
        500
    );
    // Every rejection was recorded under its key.
    assert_eq!(
        count(&db, "SELECT count(*) AS n FROM idempotency_records").await,
        51
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_charges_never_pass_the_balance_maximum() {
    let Some(db) = test_db!() else { return };
    let store = Arc::new(db.store(32).await);
    let policy = wallet_policy(1_000, 10_000);
    let results = join_all((0..40).map(|n| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            store
                .charge(
                    NewCharge {
                        user_id: user(1),
                        transaction_id: TransactionId::from_uuid(uuid::Uuid::now_v7()),
                        amount: ChargeAmount::new(1_000, Money::new(1_000).unwrap()).unwrap(),
                        idempotency: idem(&format!("c{n}"), "charge:1000"),
                    },
                    policy,
                )
                .await
        })
    }))
    .await;
    let ok = results.iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
    assert_eq!(ok, 10);
    assert_eq!(
        store.wallet(user(1)).await.unwrap().balance,
        Money::new(10_000).unwrap()
    );
    // The same key from many callers at once: one charge, the rest replay or wait their turn.
    let same = join_all((0..20).map(|_| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            store
                .charge(
                    NewCharge {
                        user_id: user(2),
                        transaction_id: TransactionId::from_uuid(uuid::Uuid::now_v7()),
                        amount: ChargeAmount::new(7, Money::new(1_000).unwrap()).unwrap(),
                        idempotency: idem("same", "charge:7"),
                    },
                    policy,
                )
                .await
        })
    }))
    .await;
    for r in same {
        match r.unwrap() {
            Ok(_) | Err(ChargeError::IdempotencyKeyInUse) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        store.wallet(user(2)).await.unwrap().balance,
        Money::new(7).unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_admission_respects_the_cap_and_fifo() {
    let Some(db) = test_db!() else { return };
    let store = Arc::new(db.store(32).await);
    let (concert, _) = concert_with_seats(&*store, 1, 0).await;
    let policy = queue_policy(7, 30, secs(600), secs(600));
    let mut tokens = Vec::new();
    for n in 1..=100 {
        let id = token_id();
        store.join(user(n), concert, id, policy).await.unwrap();
        tokens.push(id);
    }
    let mut admitted_total = 0;
    for _ in 0..6 {
        // A new admission slot for each round of concurrent ticks.
        tokio::time::sleep(policy.admit_interval()).await;
        let reports = join_all((0..8).map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.admit(policy).await })
        }))
        .await;
        for r in reports {
            admitted_total += r.unwrap().unwrap().iter().map(|r| r.admitted).sum::<u64>();
        }
        let stats = store.stats(concert, policy).await.unwrap();
        assert!(stats.active <= 30, "active {} over the cap", stats.active);
    }
    assert_eq!(admitted_total, 30);
    for (i, t) in tokens.iter().enumerate() {
        let status = store.token(*t, policy).await.unwrap().unwrap().status;
        let expected = if i < 30 {
            QueueTokenStatus::Active
        } else {
            QueueTokenStatus::Waiting
        };
        assert_eq!(status, expected, "token {}", i + 1);
    }
    let standing = store.poll(tokens[30], user(31), policy).await.unwrap();
    assert_eq!(standing.position, Some(1));
    assert_eq!(standing.admitted_last_minute, 30);
    // Concurrent joins of one user: one token.
    let joins = join_all((0..10).map(|_| {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.join(user(500), concert, token_id(), policy).await })
    }))
    .await;
    let created = joins
        .into_iter()
        .filter(|j| matches!(j, Ok(Ok(joined)) if joined.created))
        .count();
    assert_eq!(created, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_long_line_answers_positions_without_counting_it() {
    let Some(db) = test_db!() else { return };
    let store = db.store(4).await;
    let (concert, _) = concert_with_seats(&store, 1, 0).await;
    let policy = queue_policy(100, 1000, secs(600), secs(600));
    // 200k waiting tokens inserted directly (joining one by one would only test the client).
    let mut conn = db.conn().await;
    diesel_async::RunQueryDsl::execute(
        diesel::sql_query(
            "WITH n AS (SELECT g FROM generate_series(1, 200000) g) \
             INSERT INTO queue_tokens (id, user_id, concert_id, seq, status) \
             SELECT gen_random_uuid(), 100000 + g, $1, g, 'WAITING' FROM n",
        )
        .bind::<diesel::sql_types::BigInt, _>(concert.get()),
        &mut conn,
    )
    .await
    .unwrap();
    diesel_async::RunQueryDsl::execute(
        diesel::sql_query("UPDATE concert_queues SET next_seq = 200000 WHERE concert_id = $1; ")
            .bind::<diesel::sql_types::BigInt, _>(concert.get()),
        &mut conn,
    )
    .await
    .unwrap();
    diesel_async::RunQueryDsl::execute(diesel::sql_query("ANALYZE queue_tokens"), &mut conn)
        .await
        .unwrap();
    let last = token_id();
    store.join(user(1), concert, last, policy).await.unwrap();
    store.admit(policy).await.unwrap();
    let started = std::time::Instant::now();
    for _ in 0..50 {
        let standing = store.poll(last, user(1), policy).await.unwrap();
        assert_eq!(standing.position, Some(200_001 - 100));
    }
    let per_poll = started.elapsed() / 50;
    assert!(
        per_poll < Duration::from_millis(50),
        "a poll took {per_poll:?}"
    );
    assert_eq!(
        store.stats(concert, policy).await.unwrap().waiting,
        200_001 - 100
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ledger_written_by_two_instances_reads_like_a_statement() {
    // Arrange: two instances (two stores) on one database; four users, each with 4000 won and,
    // in each of four concerts, a held seat of 1000 and an ACTIVE token.
    let Some(db) = test_db!() else { return };
    let instances = [Arc::new(db.store(16).await), Arc::new(db.store(16).await)];
    let store = &instances[0];
    let queue = default_queue();
    let users: Vec<UserId> = (1..=4).map(user).collect();
    let mut concerts = Vec::new();
    for _ in 0..4 {
        concerts.push(concert_with_seats(&**store, users.len(), 1000).await);
    }
    let policy = wallet_policy(1_000_000, 100_000_000);
    let charge = |u: UserId, amount: i64, key: String| NewCharge {
        user_id: u,
        transaction_id: TransactionId::from_uuid(uuid::Uuid::now_v7()),
        amount: ChargeAmount::new(amount, Money::new(1_000_000).unwrap()).unwrap(),
        idempotency: idem(&key, &format!("charge:{amount}")),
    };
    let mut payments = Vec::new();
    for (k, &u) in users.iter().enumerate() {
        store
            .charge(charge(u, 4000, format!("fill-{k}")), policy)
            .await
            .unwrap();
        for (n, (concert, schedule)) in concerts.iter().enumerate() {
            let token = active_token(&**store, u, *concert, queue).await;
            let held = store
                .hold(
                    new_hold(u, token, schedule, &[schedule.seats[k].id]),
                    hold_policy(secs(600), 100),
                )
                .await
                .unwrap();
            payments.push(NewPayment {
                user_id: u,
                reservation_id: held.id,
                queue_token: Some(token),
                payment_id: PaymentId::from_uuid(uuid::Uuid::now_v7()),
                transaction_id: TransactionId::from_uuid(uuid::Uuid::now_v7()),
                idempotency: idem(&format!("pay-{k}-{n}"), &format!("pay:{k}:{n}")),
            });
        }
    }

    // Act: per user twenty charges of different amounts and four payments, all at once,
    // alternating between the instances.
    let mut tasks = Vec::new();
    for (k, &u) in users.iter().enumerate() {
        for i in 1..=20_i64 {
            let instance = Arc::clone(&instances[tasks.len() % 2]);
            let charge = charge(u, i * 10 + 1, format!("charge-{k}-{i}"));
            tasks.push(tokio::spawn(async move {
                instance
                    .charge(charge, policy)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("{e:?}"))
            }));
        }
    }
    for payment in payments {
        let instance = Arc::clone(&instances[tasks.len() % 2]);
        tasks.push(tokio::spawn(async move {
            instance
                .pay(payment)
                .await
                .map(|_| ())
                .map_err(|e| format!("{e:?}"))
        }));
    }
    for result in join_all(tasks).await {
        result.unwrap().expect("every charge and payment succeeds");
    }

    // Assert: each history, read in pages of five on the other instance, is a statement.
    let charged: i64 = (1..=20).map(|i| i * 10 + 1).sum();
    for &u in &users {
        let ledger = ledger_in_pages(&*instances[1], u, 5).await;
        assert_eq!(ledger.len(), 1 + 20 + 4, "entries of {u}");
        let running = statement_balance(u, &ledger);
        assert_eq!(running, charged);
        assert_eq!(store.wallet(u).await.unwrap().balance.won(), running);
    }
    let report = store.check_invariants(queue).await.unwrap();
    assert!(report.is_clean(), "{:?}", report.violations);
    // How often ordering by transaction start (the old order) would have contradicted the
    // balances in this run: the race the numbering closes.
    let misplaced = count(
        &db,
        "SELECT count(*) AS n FROM (SELECT balance_after, sum(amount) OVER ( \
             PARTITION BY user_id ORDER BY created_at, id) AS running FROM ledger_entries) l \
         WHERE balance_after <> running",
    )
    .await;
    eprintln!(
        "entries listed against their balances by transaction start: {misplaced} of {}",
        users.len() * 25
    );
}

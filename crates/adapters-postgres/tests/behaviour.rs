//! Port semantics that need a real database: the queue's arithmetic, the database clock,
//! idempotency, and failure mapping.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use adapters_postgres::{connect, connect_lazy, PgConfig};
use common::*;
use domain::ports::{
    CatalogueStore, NewCharge, NewPayment, QueueStore, ReservationStore, StoreHealth, WalletStore,
};
use domain::*;
use std::time::{Duration, Instant};

fn charge(user_id: UserId, amount: i64, key: &str, fp: &str) -> NewCharge {
    NewCharge {
        user_id,
        transaction_id: TransactionId::from_uuid(uuid::Uuid::now_v7()),
        amount: ChargeAmount::new(amount, Money::new(1_000_000).unwrap()).unwrap(),
        idempotency: idem(key, fp),
    }
}

fn payment(
    user_id: UserId,
    reservation: ReservationId,
    token: QueueTokenId,
    key: &str,
) -> NewPayment {
    NewPayment {
        user_id,
        reservation_id: reservation,
        queue_token: Some(token),
        payment_id: PaymentId::from_uuid(uuid::Uuid::now_v7()),
        transaction_id: TransactionId::from_uuid(uuid::Uuid::now_v7()),
        idempotency: idem(key, &format!("pay:{}", reservation.get())),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn positions_count_only_those_still_waiting() {
    let Some(db) = test_db!() else { return };
    let store = db.store(4).await;
    let (concert, _) = concert_with_seats(&store, 1, 0).await;
    let policy = queue_policy(2, 1000, secs(600), secs(300));
    let mut tokens = Vec::new();
    for n in 1..=10 {
        let id = token_id();
        let joined = store.join(user(n), concert, id, policy).await.unwrap();
        assert!(joined.created);
        assert_eq!(joined.standing.position, Some(n as u64));
        tokens.push(id);
    }
    // Joining again returns the live token.
    let again = store
        .join(user(3), concert, token_id(), policy)
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.standing.token.id, tokens[2]);
    // Users 3 and 5 leave: everyone behind moves up.
    store.leave(tokens[2], user(3)).await.unwrap();
    store.leave(tokens[4], user(5)).await.unwrap();
    let pos = |s: &QueueStanding| s.position;
    assert_eq!(
        pos(&store.poll(tokens[9], user(10), policy).await.unwrap()),
        Some(8)
    );
    assert_eq!(
        pos(&store.poll(tokens[3], user(4), policy).await.unwrap()),
        Some(3)
    );
    // Admit two: users 1 and 2.
    let reports = tick(&store, policy).await;
    assert_eq!(
        reports,
        vec![AdmissionReport {
            concert_id: concert,
            admitted: 2
        }]
    );
    let first = store.poll(tokens[0], user(1), policy).await.unwrap();
    assert_eq!(first.token.status, QueueTokenStatus::Active);
    assert_eq!(first.position, None);
    assert_eq!(first.admitted_last_minute, 2);
    assert_eq!(
        pos(&store.poll(tokens[3], user(4), policy).await.unwrap()),
        Some(1)
    );
    assert_eq!(
        pos(&store.poll(tokens[9], user(10), policy).await.unwrap()),
        Some(6)
    );
    // Next tick passes over the departed tokens: users 4 and 6.
    tick(&store, policy).await;
    let active: Vec<_> = {
        let mut v = Vec::new();
        for (i, t) in tokens.iter().enumerate() {
            let token = store.token(*t, policy).await.unwrap().unwrap();
            if token.status == QueueTokenStatus::Active {
                v.push(i + 1);
            }
        }
        v
    };
    assert_eq!(active, vec![1, 2, 4, 6]);
    assert_eq!(
        pos(&store.poll(tokens[9], user(10), policy).await.unwrap()),
        Some(4)
    );
    let stats = store.stats(concert, policy).await.unwrap();
    assert_eq!(
        (stats.waiting, stats.active, stats.admitted_last_minute),
        (4, 4, 4)
    );
    // Access rules.
    assert_eq!(
        store.poll(tokens[9], user(9), policy).await,
        Err(QueueTokenError::Access(QueueAccessError::NotActive))
    );
    assert_eq!(
        store.poll(token_id(), user(9), policy).await,
        Err(QueueTokenError::Access(QueueAccessError::TokenRequired))
    );
    assert_eq!(
        store.leave(token_id(), user(9)).await,
        Err(QueueTokenError::Access(QueueAccessError::TokenRequired))
    );
    // Leaving twice is fine; the leaver can join again at the back.
    store.leave(tokens[2], user(3)).await.unwrap();
    let back = store
        .join(user(3), concert, token_id(), policy)
        .await
        .unwrap();
    assert!(back.created);
    assert_eq!(back.standing.position, Some(5));
    assert_eq!(
        store
            .join(user(1), ConcertId::new(999).unwrap(), token_id(), policy)
            .await,
        Err(JoinQueueError::ConcertNotFound)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_pause_and_cap_admission() {
    let Some(db) = test_db!() else { return };
    let store = db.store(4).await;
    let (concert, _) = concert_with_seats(&store, 1, 0).await;
    let policy = queue_policy(10, 1000, secs(600), secs(300));
    for n in 1..=8 {
        store
            .join(user(n), concert, token_id(), policy)
            .await
            .unwrap();
    }
    let paused = store
        .update_settings(
            concert,
            QueueSettingsPatch::new(None, Some(3), Some(true)).unwrap(),
            policy,
        )
        .await
        .unwrap();
    assert_eq!(
        paused.settings,
        QueueSettings {
            admit_batch: 10,
            max_active: 3,
            paused: true
        }
    );
    assert!(store.admit(policy).await.unwrap().is_empty());
    store
        .update_settings(
            concert,
            QueueSettingsPatch::new(None, None, Some(false)).unwrap(),
            policy,
        )
        .await
        .unwrap();
    assert_eq!(store.admit(policy).await.unwrap()[0].admitted, 3);
    assert!(store.admit(policy).await.unwrap().is_empty());
    let stats = store.stats(concert, policy).await.unwrap();
    assert_eq!((stats.waiting, stats.active), (5, 3));
    let all = store.all_stats(policy).await.unwrap();
    assert_eq!(all, vec![(concert, stats)]);
    assert_eq!(
        store.stats(ConcertId::new(999).unwrap(), policy).await,
        Err(AdminQueueError::ConcertNotFound)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn time_runs_on_the_database_clock_and_expiry_is_immediate() {
    let Some(db) = test_db!() else { return };
    let store = db.store(4).await;
    let (concert, schedule) = concert_with_seats(&store, 2, 100).await;
    let seat = schedule.seats[0].id;
    let short = queue_policy(10, 1000, secs(1), secs(1));
    let long = queue_policy(10, 1000, secs(600), secs(600));
    // An active token with a 1 s window and a waiting token with a 1 s idle timeout.
    let active = active_token(&store, user(1), concert, short).await;
    let waiting = token_id();
    store.join(user(2), concert, waiting, long).await.unwrap();
    // A 1 s hold.
    let held = store
        .hold(
            admitted_hold(&store, user(1), &schedule, &[seat]).await,
            hold_policy(secs(1), 4),
        )
        .await
        .unwrap();
    assert_eq!(held.status, ReservationStatus::Held);
    let seats = store.schedule_seats(schedule.schedule_id).await.unwrap();
    assert!(!seats.seats[0].available);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // No sweep has run: everything is already expired.
    assert_eq!(
        store.token(active, short).await.unwrap().unwrap().status,
        QueueTokenStatus::Expired
    );
    assert_eq!(
        store
            .poll(waiting, user(2), short)
            .await
            .unwrap()
            .token
            .status,
        QueueTokenStatus::Expired
    );
    let read = store.reservation(user(1), held.id).await.unwrap().unwrap();
    assert_eq!(read.status, ReservationStatus::Expired);
    let seats = store.schedule_seats(schedule.schedule_id).await.unwrap();
    assert!(seats.seats[0].available);
    let summary = store.future_schedules(concert).await.unwrap();
    assert_eq!((summary[0].total_seats, summary[0].available_seats), (2, 2));
    assert_eq!(
        store.cancel(user(1), held.id).await,
        Err(CancelError::NotCancellable(ReservationStatus::Expired))
    );
    // The sweeps then find exactly what expired, and change no effective status.
    assert_eq!(store.expire_holds(100).await.unwrap(), 1);
    assert_eq!(store.expire_active(100).await.unwrap(), 1);
    assert_eq!(
        store.drop_idle(Duration::from_secs(1), 100).await.unwrap(),
        1
    );
    assert_eq!(store.expire_holds(100).await.unwrap(), 0);
    assert_eq!(
        store
            .reservation(user(1), held.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        ReservationStatus::Expired
    );
    // The expired hold does not count against the cap and its seat can be held again.
    let again = store
        .hold(
            admitted_hold(&store, user(3), &schedule, &[seat]).await,
            hold_policy(secs(60), 1),
        )
        .await
        .unwrap();
    assert_eq!(again.status, ReservationStatus::Held);
    // Paying the expired hold is refused (with a fresh active token).
    let token = active_token(&store, user(1), concert, long).await;
    store
        .charge(
            charge(user(1), 1000, "c1", "charge:1000"),
            wallet_policy(1_000_000, 10_000_000),
        )
        .await
        .unwrap();
    assert_eq!(
        store.pay(payment(user(1), held.id, token, "p1")).await,
        Err(PayError::NotPayable)
    );
    assert_eq!(
        store.wallet(user(1)).await.unwrap().balance,
        Money::new(1000).unwrap()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn holds_follow_the_rules() {
    let Some(db) = test_db!() else { return };
    let store = db.store(4).await;
    let (_, schedule) = concert_with_seats(&store, 6, 100).await;
    let (_, other) = concert_with_seats(&store, 1, 100).await;
    let s: Vec<SeatId> = schedule.seats.iter().map(|s| s.id).collect();
    let policy = hold_policy(secs(60), 3);
    let r = store
        .hold(
            admitted_hold(&store, user(1), &schedule, &[s[0], s[1]]).await,
            policy,
        )
        .await
        .unwrap();
    assert_eq!(r.total_price, Money::new(200).unwrap());
    assert_eq!(
        r.seats.iter().map(|x| x.seat_id).collect::<Vec<_>>(),
        vec![s[0], s[1]]
    );
    assert_eq!(
        store
            .hold(
                admitted_hold(&store, user(2), &schedule, &[s[1], s[2]]).await,
                policy
            )
            .await,
        Err(HoldSeatsError::SeatUnavailable { seats: vec![s[1]] })
    );
    assert_eq!(
        store
            .hold(
                admitted_hold(&store, user(1), &schedule, &[s[2], s[3]]).await,
                policy
            )
            .await,
        Err(HoldSeatsError::HoldLimitExceeded {
            would_hold: 4,
            limit: 3
        })
    );
    assert_eq!(
        store
            .hold(
                admitted_hold(&store, user(2), &schedule, &[s[2], other.seats[0].id]).await,
                policy
            )
            .await,
        Err(HoldSeatsError::SeatNotFound(other.seats[0].id))
    );
    let mut missing = admitted_hold(&store, user(2), &schedule, &[s[2]]).await;
    missing.schedule_id = ScheduleId::new(9999).unwrap();
    assert_eq!(
        store.hold(missing, policy).await,
        Err(HoldSeatsError::ScheduleNotFound)
    );
    // Cancel frees the seats at once; only the owner sees it.
    assert_eq!(
        store.cancel(user(2), r.id).await,
        Err(CancelError::NotFound)
    );
    assert!(store.reservation(user(2), r.id).await.unwrap().is_none());
    let cancelled = store.cancel(user(1), r.id).await.unwrap();
    assert_eq!(cancelled.status, ReservationStatus::Cancelled);
    assert_eq!(
        store.cancel(user(1), r.id).await,
        Err(CancelError::NotCancellable(ReservationStatus::Cancelled))
    );
    store
        .hold(
            admitted_hold(&store, user(2), &schedule, &[s[1], s[2]]).await,
            policy,
        )
        .await
        .unwrap();
    // Paging: newest first, with a cursor.
    for seat in &s[3..6] {
        store
            .hold(
                admitted_hold(&store, user(4), &schedule, &[*seat]).await,
                policy,
            )
            .await
            .unwrap();
    }
    let first = store
        .reservations(user(4), PageRequest::new(Some(2), None).unwrap())
        .await
        .unwrap();
    assert_eq!(first.items.len(), 2);
    assert_eq!(first.items[0].seats[0].seat_id, s[5]);
    let second = store
        .reservations(
            user(4),
            PageRequest::new(Some(2), first.next_cursor).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(second.items.len(), 1);
    assert_eq!(second.items[0].seats[0].seat_id, s[3]);
    assert!(second.next_cursor.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn charges_and_payments_replay_under_their_key() {
    let Some(db) = test_db!() else { return };
    let store = db.store(4).await;
    let (concert, schedule) = concert_with_seats(&store, 2, 300).await;
    let policy = wallet_policy(1_000, 1_000);
    let u = user(1);
    let first = store
        .charge(charge(u, 400, "k1", "charge:400"), policy)
        .await
        .unwrap();
    let replay = store
        .charge(charge(u, 400, "k1", "charge:400"), policy)
        .await
        .unwrap();
    assert_eq!(first, replay);
    assert_eq!(
        store
            .charge(charge(u, 500, "k1", "charge:500"), policy)
            .await,
        Err(ChargeError::IdempotencyKeyReused)
    );
    // Over the maximum: refused, recorded, and replayed as refused even once it would fit.
    assert_eq!(
        store
            .charge(charge(u, 700, "k2", "charge:700"), policy)
            .await,
        Err(ChargeError::BalanceLimitExceeded)
    );
    let record = store
        .idempotency_record(u, IdempotencyKey::new("k2").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.outcome,
        Some(StoredOutcome::ChargeRejected(
            ChargeRejection::BalanceLimitExceeded
        ))
    );
    // Pay, then replay after the token has been used up.
    let token = active_token(&store, u, concert, default_queue()).await;
    let held = store
        .hold(
            new_hold(u, token, &schedule, &[schedule.seats[0].id]),
            hold_policy(secs(60), 4),
        )
        .await
        .unwrap();
    let paid = store.pay(payment(u, held.id, token, "p1")).await.unwrap();
    assert_eq!(paid.amount, Money::new(300).unwrap());
    assert_eq!(paid.balance_after, Money::new(100).unwrap());
    assert_eq!(
        store
            .token(token, default_queue())
            .await
            .unwrap()
            .unwrap()
            .status,
        QueueTokenStatus::Expired
    );
    let again = store.pay(payment(u, held.id, token, "p1")).await.unwrap();
    assert_eq!(again, paid);
    assert_eq!(
        store.reservation(u, held.id).await.unwrap().unwrap().status,
        ReservationStatus::Confirmed
    );
    // Insufficient balance is recorded and replayed; nothing moves.
    let token = active_token(&store, u, concert, default_queue()).await;
    let second = store
        .hold(
            new_hold(u, token, &schedule, &[schedule.seats[1].id]),
            hold_policy(secs(60), 4),
        )
        .await
        .unwrap();
    assert_eq!(
        store.pay(payment(u, second.id, token, "p2")).await,
        Err(PayError::InsufficientBalance)
    );
    assert_eq!(
        store
            .reservation(u, second.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        ReservationStatus::Held
    );
    store
        .charge(charge(u, 900, "k3", "charge:900"), policy)
        .await
        .unwrap();
    assert_eq!(
        store.pay(payment(u, second.id, token, "p2")).await,
        Err(PayError::InsufficientBalance)
    );
    // Someone else's reservation: not found, nothing stored.
    assert_eq!(
        store.pay(payment(user(2), second.id, token, "p3")).await,
        Err(PayError::ReservationNotFound)
    );
    assert!(store
        .idempotency_record(user(2), IdempotencyKey::new("p3").unwrap())
        .await
        .unwrap()
        .is_none());
    // The ledger sums to the balance, newest first.
    let ledger = store
        .ledger(u, PageRequest::new(Some(100), None).unwrap())
        .await
        .unwrap();
    let kinds: Vec<_> = ledger.items.iter().map(|e| (e.kind, e.amount)).collect();
    assert_eq!(
        kinds,
        vec![
            (LedgerKind::Charge, 900),
            (LedgerKind::Payment, -300),
            (LedgerKind::Charge, 400)
        ]
    );
    assert_eq!(ledger.items[1].reference, Some(paid.payment_id.to_string()));
    assert_eq!(ledger.items[2].reference.as_deref(), Some("k1"));
    let sum: i64 = ledger.items.iter().map(|e| e.amount).sum();
    assert_eq!(store.wallet(u).await.unwrap().balance.won(), sum);
    assert_eq!(store.wallet(user(77)).await.unwrap().balance, Money::ZERO);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_database_is_unavailable_within_the_timeouts() {
    // A port nothing listens on (the throwaway server's port + 1 is almost surely free).
    let Some(admin) = admin_url() else { return };
    let url = admin.replace("127.0.0.1:", "127.0.0.1:1");
    let url = if url == admin {
        "postgres://postgres@127.0.0.1:9/x".to_owned()
    } else {
        url
    };
    let mut config = PgConfig::new(url);
    config.connect_timeout = Duration::from_millis(500);
    config.wait_timeout = Duration::from_millis(500);
    let started = Instant::now();
    assert!(matches!(
        connect(config.clone()).await,
        Err(adapters_postgres::SetupError::Unavailable(_))
    ));
    let store = connect_lazy(config).unwrap();
    assert!(matches!(
        store.ping().await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.list_concerts().await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store
            .hold(
                domain::ports::NewHold {
                    reservation_id: ReservationId::from_uuid(uuid::Uuid::now_v7()),
                    user_id: user(1),
                    schedule_id: ScheduleId::new(1).unwrap(),
                    seats: selection(&[SeatId::new(1).unwrap()]),
                    queue_token: token_id(),
                },
                hold_policy(secs(60), 4)
            )
            .await,
        Err(HoldSeatsError::Store(StoreError::Unavailable(_)))
    ));
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pool_recovers_after_connections_are_killed() {
    let Some(db) = test_db!() else { return };
    let store = db.store(4).await;
    store.ping().await.unwrap();
    // Kill every connection of the store (as a restart would).
    let mut conn = db.conn().await;
    diesel_async::RunQueryDsl::execute(
        diesel::sql_query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        ),
        &mut conn,
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The next calls either succeed on a fresh connection or fail as Unavailable; soon they all
    // succeed again.
    let mut ok = false;
    for _ in 0..20 {
        match store.list_concerts().await {
            Ok(_) => {
                ok = true;
                break;
            }
            Err(StoreError::Unavailable(_)) => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert!(ok, "the pool did not recover");
}

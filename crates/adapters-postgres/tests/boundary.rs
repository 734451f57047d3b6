//! The hold-expiry boundary: a payment that begins in the last milliseconds of a hold but reaches
//! the reservation's lock only after the deadline, while other users storm the seat.
//!
//! Before migration `2025-01-04-000000_sold_once` this sold seats twice: the payment judged "in
//! time" by its transaction's start, and the storming hold released only the lapsed hold's line,
//! leaving the reservation HELD and payable. Each round here delays the payment *inside its
//! transaction* with a lock held from a test connection, on every payment path:
//!
//! * [`Path::Alone`]: a batch of one, waiting at its idempotency key's advisory lock;
//! * [`Path::Batch`]: a coalesced batch (`wallet/pay.rs`) with a decoy payment whose reservation
//!   sorts first and is row-locked by the test, so the batch transaction has begun and waits
//!   before it locks the payer's reservation. Two blocker payments occupy the batcher's two slots
//!   first, so the payer and the decoy queue into one batch.
//!
//! The negative control runs the same code with the three rules of the migration switched off
//! in its own database (test-only SQL: the functions as they were before it), and must be caught.
//! Every run prints its rounds, collisions (a competing hold granted while the payment was in
//! flight) and double sales; run with `--nocapture` to see them.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use adapters_postgres::PgStore;
use common::race::*;
use common::*;
use diesel::sql_types::{Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::ports::{NewHold, ReservationStore, WalletStore};
use domain::*;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How the payment reaches the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Alone,
    Batch,
}

/// Rounds per run (one seat each, one after the other).
const ROUNDS: usize = 12;
/// The payer's hold.
const TTL: Duration = Duration::from_millis(500);
/// The payment is sent this long before the deadline: its transaction begins in time.
const SEND_BEFORE_MS: i64 = 150;
/// When the test lets the delayed payment go on, relative to the deadline (round-robin).
const RELEASE_AT_MS: [i64; 6] = [-120, 15, 30, 45, 60, 90];
/// Users storming the seat, each trying a hold every [`STORM_EVERY`] from just before the
/// deadline until one wins or [`STORM_UNTIL_MS`] after it.
const STORMERS: i64 = 4;
const STORM_EVERY: Duration = Duration::from_millis(2);
const STORM_UNTIL_MS: i64 = 150;
/// The pool of the raced store: 16 connections give the batcher two slots per kind (`pool.rs`,
/// `batch_slots`), which the two blockers of [`Path::Batch`] occupy.
const POOL: usize = 16;
const BLOCKERS: usize = 2;

/// The three rules of migration `2025-01-04-000000_sold_once`, switched off: "in time" read at
/// the transaction's start, a lapsed hold's lines released while its reservation stays HELD, and
/// no check that a confirmed reservation's lines are live. Test-only SQL, for the negative
/// control's own database; the service's code path is unchanged.
const FIX_OFF: &[&str] = &[
    "CREATE OR REPLACE FUNCTION hold_payable(p_status text, p_held_until timestamptz) \
     RETURNS boolean LANGUAGE sql VOLATILE AS $$ \
        SELECT p_status = 'HELD' AND p_held_until > now() $$",
    "CREATE OR REPLACE FUNCTION release_lapsed_holds(p_seats bigint[]) RETURNS integer \
     LANGUAGE plpgsql AS $$ \
     DECLARE v_ids uuid[]; \
     BEGIN \
        SELECT array_agg(id) INTO v_ids FROM ( \
            SELECT r.id FROM reservations r \
             WHERE r.status = 'HELD' AND r.held_until <= now() AND r.id IN ( \
                   SELECT rs.reservation_id FROM reservation_seats rs \
                    WHERE rs.seat_id = ANY(p_seats) AND rs.live) \
             ORDER BY r.id FOR NO KEY UPDATE OF r) locked; \
        UPDATE reservation_seats SET live = false \
         WHERE seat_id = ANY(p_seats) AND live AND reservation_id = ANY(v_ids); \
        RETURN coalesce(cardinality(v_ids), 0); \
     END $$",
    "ALTER TABLE reservation_seats DISABLE TRIGGER reservation_seats_stay_released",
    "CREATE OR REPLACE FUNCTION reservation_release_seats() RETURNS trigger \
     LANGUAGE plpgsql AS $$ \
     BEGIN \
        IF OLD.status IN ('CONFIRMED', 'EXPIRED', 'CANCELLED') AND NEW.status <> OLD.status THEN \
            RAISE EXCEPTION 'final' USING ERRCODE = 'check_violation'; \
        END IF; \
        IF NEW.status = 'CONFIRMED' AND (OLD.status <> 'HELD' OR NEW.held_until <= now()) THEN \
            RAISE EXCEPTION 'not payable' USING ERRCODE = 'check_violation'; \
        END IF; \
        IF NEW.status IN ('EXPIRED', 'CANCELLED') THEN \
            UPDATE reservation_seats SET live = false WHERE reservation_id = NEW.id AND live; \
        END IF; \
        RETURN NEW; \
     END $$",
];

/// What one round saw.
#[derive(Debug)]
struct Round {
    /// The payment's answer.
    paid: Result<PaymentReceipt, PayError>,
    /// Whether the payment was sent before the deadline and answered only after its release.
    delayed: bool,
    /// When a storming hold won the seat, if one did.
    stolen_at: Option<Instant>,
    /// When the payment was answered.
    answered_at: Instant,
}

impl Round {
    /// A competing hold was granted while the payment was in flight.
    fn collided(&self) -> bool {
        self.stolen_at.is_some_and(|at| at < self.answered_at)
    }

    fn double_sale(&self) -> bool {
        self.paid.is_ok() && self.stolen_at.is_some()
    }
}

/// The totals of one run.
#[derive(Debug, Default)]
struct Summary {
    rounds: usize,
    delayed: usize,
    paid: usize,
    refused: usize,
    collisions: usize,
    double_sales: usize,
    unexpected: Vec<String>,
}

impl Summary {
    fn add(&mut self, round: &Round) {
        self.rounds += 1;
        self.delayed += usize::from(round.delayed);
        self.collisions += usize::from(round.collided());
        self.double_sales += usize::from(round.double_sale());
        match &round.paid {
            Ok(_) => self.paid += 1,
            Err(PayError::NotPayable) => self.refused += 1,
            Err(other) => self.unexpected.push(format!("{other:?}")),
        }
    }
}

/// The raced database: a store of [`POOL`] connections, the checker's store and a connection
/// for the test's locks.
struct Arena {
    db: TestDb,
    store: Arc<PgStore>,
    checker: Watched,
    locks: AsyncPgConnection,
    concert: ConcertId,
    schedule: ScheduleSeats,
    stormers: Vec<(UserId, QueueTokenId)>,
}

async fn arena(ddl: &[&str]) -> Option<Arena> {
    let db = TestDb::new().await?;
    let mut conn = db.conn().await;
    for statement in ddl {
        diesel::sql_query(*statement)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    let store = Arc::new(db.store(POOL).await);
    let checker = Watched::Pg(db.store(1).await);
    let (concert, schedule) = concert_with_seats(&*store, 2 * ROUNDS, 100).await;
    let mut stormers = Vec::new();
    for n in 1..=STORMERS {
        let u = user(n);
        stormers.push((u, active_token(&*store, u, concert, queue()).await));
    }
    Some(Arena {
        db,
        store,
        checker,
        locks: conn,
        concert,
        schedule,
        stormers,
    })
}

async fn exec(conn: &mut AsyncPgConnection, sql: &str) {
    diesel::sql_query(sql)
        .execute(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Takes (`lock`) or gives back the advisory lock a lone payment waits for under `user`'s `key`.
async fn key_lock(conn: &mut AsyncPgConnection, user: UserId, key: &str, lock: bool) {
    let f = if lock {
        "pg_advisory_lock"
    } else {
        "pg_advisory_unlock"
    };
    diesel::sql_query(format!("SELECT {f}(2, hashtext($1))::text AS x"))
        .bind::<Text, _>(format!("{user}:{key}"))
        .execute(conn)
        .await
        .unwrap();
}

fn hold_of(
    u: UserId,
    token: QueueTokenId,
    schedule: &ScheduleSeats,
    seat: SeatId,
    id: Uuid,
) -> NewHold {
    NewHold {
        reservation_id: ReservationId::from_uuid(id),
        ..new_hold(u, token, schedule, &[seat])
    }
}

/// A user with 1000 won, an ACTIVE token and a hold on `seat` with reservation id `id`.
async fn payer(
    a: &Arena,
    u: UserId,
    seat: SeatId,
    id: Uuid,
    ttl: Duration,
) -> (QueueTokenId, Reservation) {
    charge(&*a.store, u, 1000, &format!("charge-{u}")).await;
    let token = active_token(&*a.store, u, a.concert, queue()).await;
    let held = a
        .store
        .hold(
            hold_of(u, token, &a.schedule, seat, id),
            hold_policy(ttl, 4),
        )
        .await
        .unwrap();
    (token, held)
}

/// Sleeps until `deadline + offset_ms` by the wall clock (the database's, on this machine).
async fn until(deadline: Timestamp, offset_ms: i64) {
    let target = deadline + chrono::Duration::milliseconds(offset_ms);
    if let Ok(wait) = (target - chrono::Utc::now()).to_std() {
        tokio::time::sleep(wait).await;
    }
}

/// The stormers try to hold `seat` until one wins or the storm ends; when one won.
fn storm(a: &Arena, seat: SeatId, deadline: Timestamp) -> tokio::task::JoinHandle<Option<Instant>> {
    let store = Arc::clone(&a.store);
    let schedule = a.schedule.clone();
    let stormers = a.stormers.clone();
    tokio::spawn(async move {
        until(deadline, -10).await;
        let end = deadline + chrono::Duration::milliseconds(STORM_UNTIL_MS);
        let tries = stormers.into_iter().map(|(u, token)| {
            let store = Arc::clone(&store);
            let schedule = schedule.clone();
            tokio::spawn(async move {
                while chrono::Utc::now() < end {
                    let hold = new_hold(u, token, &schedule, &[seat]);
                    match store.hold(hold, hold_policy(secs(600), 100)).await {
                        Ok(_) => return Some(Instant::now()),
                        Err(HoldSeatsError::SeatUnavailable { .. }) => {}
                        Err(other) => panic!("a storming hold failed: {other:?}"),
                    }
                    tokio::time::sleep(STORM_EVERY).await;
                }
                None
            })
        });
        futures::future::join_all(tries.collect::<Vec<_>>())
            .await
            .into_iter()
            .filter_map(|won| won.unwrap())
            .min()
    })
}

/// One round: the payer's hold on seat `n`, its payment sent before the deadline and held back
/// until `release_ms` after it, the storm on the seat meanwhile.
async fn round(a: &mut Arena, path: Path, n: usize, release_ms: i64) -> Round {
    let seat = a.schedule.seats[n].id;
    let u = user(1000 + i64::try_from(n).unwrap());
    // The payer's reservation sorts after the decoy's.
    let (token, held) = payer(a, u, seat, Uuid::from_u128(u128::MAX - n as u128), TTL).await;
    let key = format!("pay-{n}");
    let mut blockers = Vec::new();
    let mut decoy = None;
    match path {
        Path::Alone => key_lock(&mut a.locks, u, &key, true).await,
        Path::Batch => {
            let c = user(2000 + i64::try_from(n).unwrap());
            let decoy_seat = a.schedule.seats[ROUNDS + n].id;
            let decoy_id = Uuid::from_u128(1 + n as u128);
            let (c_token, c_held) = payer(a, c, decoy_seat, decoy_id, secs(600)).await;
            exec(&mut a.locks, "BEGIN").await;
            diesel::sql_query(
                "SELECT id::text AS x FROM reservations WHERE id = $1 FOR NO KEY UPDATE",
            )
            .bind::<SqlUuid, _>(decoy_id)
            .execute(&mut a.locks)
            .await
            .unwrap();
            decoy = Some((c, c_token, c_held.id));
        }
    }
    let storm = storm(a, seat, held.held_until);
    until(held.held_until, -SEND_BEFORE_MS - 20).await;
    let mut blocker_locks = None;
    if path == Path::Batch {
        // Two payments that wait at their keys' locks hold both batch slots.
        let mut conn = a.db.conn().await;
        for b in 0..BLOCKERS {
            let bu = user(3000 + i64::try_from(n * BLOCKERS + b).unwrap());
            key_lock(&mut conn, bu, "block", true).await;
            let store = Arc::clone(&a.store);
            let p = payment(bu, ReservationId::from_uuid(new_id()), token_id(), "block");
            blockers.push(tokio::spawn(async move { store.pay(p).await }));
        }
        blocker_locks = Some(conn);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    until(held.held_until, -SEND_BEFORE_MS).await;
    let sent_at = chrono::Utc::now();
    let paying = {
        let store = Arc::clone(&a.store);
        let p = payment(u, held.id, token, &key);
        tokio::spawn(async move {
            let paid = store.pay(p).await;
            (paid, Instant::now(), chrono::Utc::now())
        })
    };
    let decoy_paying = decoy.map(|(c, c_token, c_id)| {
        let store = Arc::clone(&a.store);
        let p = payment(c, c_id, c_token, &format!("decoy-{n}"));
        tokio::spawn(async move { store.pay(p).await })
    });
    if path == Path::Batch {
        tokio::time::sleep(Duration::from_millis(3)).await;
        // Lets the blockers finish: a slot frees and takes the payer and the decoy as one batch,
        // whose transaction begins now and waits at the decoy's row lock.
        if let Some(mut conn) = blocker_locks.take() {
            exec(&mut conn, "SELECT pg_advisory_unlock_all()").await;
        }
        for b in blockers {
            let _ = b.await;
        }
    }
    until(held.held_until, release_ms).await;
    let released_at = chrono::Utc::now();
    match path {
        Path::Alone => key_lock(&mut a.locks, u, &key, false).await,
        Path::Batch => exec(&mut a.locks, "COMMIT").await,
    }
    let (paid, answered_at, answered_wall) = paying.await.unwrap();
    if let Some(d) = decoy_paying {
        d.await.unwrap().unwrap();
    }
    let stolen_at = storm.await.unwrap();
    Round {
        paid,
        delayed: sent_at < held.held_until && answered_wall >= released_at,
        stolen_at,
        answered_at,
    }
}

/// Every round of one path, under the checker.
async fn run(mut a: Arena, path: Path) -> (Summary, Observed) {
    let checker = a.checker.clone();
    let (summary, seen, took) = watched(checker, async {
        let mut summary = Summary::default();
        for n in 0..ROUNDS {
            let release = RELEASE_AT_MS[n % RELEASE_AT_MS.len()];
            let r = round(&mut a, path, n, release).await;
            if !r.delayed {
                println!("    round {n} (release at {release} ms) was not held back: {r:?}");
            }
            summary.add(&r);
        }
        summary
    })
    .await;
    println!(
        "boundary [{path:?}]: {} rounds, {} delayed in their transaction, {} paid, {} refused, \
         {} collisions, {} double sales, {} unexpected; {} checks, {} violations (invariants \
         {:?}), {took:?}",
        summary.rounds,
        summary.delayed,
        summary.paid,
        summary.refused,
        summary.collisions,
        summary.double_sales,
        summary.unexpected.len(),
        seen.checks,
        seen.count(),
        seen.invariants(),
    );
    (summary, seen)
}

fn assert_sold_once(summary: &Summary, seen: &Observed) {
    assert!(summary.unexpected.is_empty(), "{:?}", summary.unexpected);
    assert!(
        summary.delayed * 2 >= ROUNDS,
        "payments were not held back: {summary:?}"
    );
    assert!(summary.collisions > 0, "no round collided: {summary:?}");
    assert!(summary.paid > 0, "no round paid in time: {summary:?}");
    assert_eq!(summary.double_sales, 0, "{summary:?}");
    seen.assert_clean();
}

fn assert_caught(summary: &Summary, seen: &Observed) {
    assert!(
        summary.delayed * 2 >= ROUNDS,
        "payments were not held back: {summary:?}"
    );
    assert!(summary.double_sales > 0, "no double sale: {summary:?}");
    seen.assert_caught(1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payment_alone_at_the_deadline_never_sells_a_stormed_seat_twice() {
    // Arrange
    let Some(a) = arena(&[]).await else { return };
    // Act
    let (summary, seen) = run(a, Path::Alone).await;
    // Assert
    assert_sold_once(&summary, &seen);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batched_payment_at_the_deadline_never_sells_a_stormed_seat_twice() {
    // Arrange
    let Some(a) = arena(&[]).await else { return };
    // Act
    let (summary, seen) = run(a, Path::Batch).await;
    // Assert
    assert_sold_once(&summary, &seen);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn negative_control_a_payment_alone_without_the_fix_sells_twice_and_is_caught() {
    // Arrange
    let Some(a) = arena(FIX_OFF).await else {
        return;
    };
    // Act
    let (summary, seen) = run(a, Path::Alone).await;
    // Assert
    assert_caught(&summary, &seen);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn negative_control_a_batched_payment_without_the_fix_sells_twice_and_is_caught() {
    // Arrange
    let Some(a) = arena(FIX_OFF).await else {
        return;
    };
    // Act
    let (summary, seen) = run(a, Path::Batch).await;
    // Assert
    assert_caught(&summary, &seen);
}

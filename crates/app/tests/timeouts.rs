//! Nothing is written after its answer: a request answered 503 because the database was too slow
//! leaves no hold, no charge and no payment behind, even once the database catches up.
//!
//! The service runs on PostgreSQL with `REQUEST_TIMEOUT_SECS=1` (so the store gives up after
//! 500 ms). A test connection makes the database slow for exactly the rows a request needs by
//! holding their row locks in an open transaction: the seat a hold asks for, the wallet a charge
//! or a payment debits. Each request is answered 503 `SERVICE_UNAVAILABLE` with `Retry-After`;
//! then the lock is released, so the statements the service sent run to their end, and the test
//! checks that none of them committed: no reservation on the seat, the balance, ledger and
//! payments as before, the invariant checker clean. The same requests (same idempotency keys)
//! then succeed, each once.
//!
//! Before this was fixed, a charge (`charge_once`, sent in autocommit) committed as soon as the
//! lock was released, seconds after its 503: the balance assertion below fails then.
//!
//! Needs `TEST_DATABASE_URL` (a server where a database may be created; `scripts/test` starts
//! one); skipped with a note when it is unset, except in CI.

mod support;

use adapters_postgres::{PgConfig, PgStore};
use app::{spawn_app, Config, RunningApp, Secret};
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::{fresh_database, send, Answer};

const ADMIN_KEY: &str = "timeouts-test-admin-key";

#[derive(diesel::QueryableByName)]
struct Scalar {
    #[diesel(sql_type = BigInt)]
    value: i64,
}

fn assert_timed_out(what: &str, a: &Answer) {
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {a:?}");
    assert_eq!(a.body["code"], "SERVICE_UNAVAILABLE", "{what}: {a:?}");
    assert!(a.retry_after.is_some(), "{what}: no Retry-After: {a:?}");
    assert!(
        a.took >= Duration::from_millis(400) && a.took < Duration::from_millis(1500),
        "{what}: answered after {:?} (the store gives up at 500 ms, the request at 1 s)",
        a.took
    );
}

async fn scalar(conn: &mut AsyncPgConnection, sql: &str, bind: &str) -> i64 {
    diesel::sql_query(sql)
        .bind::<Text, _>(bind)
        .get_result::<Scalar>(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .value
}

/// What the database holds for the test's user, seat and reservation.
#[derive(Debug, PartialEq, Eq)]
struct Written {
    reservations_on_seat_2: i64,
    balance: i64,
    ledger_entries: i64,
    payments: i64,
    held_reservations: i64,
}

async fn written(conn: &mut AsyncPgConnection, seat_2: i64) -> Written {
    Written {
        reservations_on_seat_2: scalar(
            conn,
            "SELECT count(*) AS value FROM reservation_seats WHERE seat_id = $1::text::bigint",
            &seat_2.to_string(),
        )
        .await,
        balance: scalar(
            conn,
            "SELECT coalesce(sum(balance), 0)::bigint AS value FROM wallets WHERE $1 = $1",
            "",
        )
        .await,
        ledger_entries: scalar(
            conn,
            "SELECT count(*) AS value FROM ledger_entries WHERE $1 = $1",
            "",
        )
        .await,
        payments: scalar(
            conn,
            "SELECT count(*) AS value FROM payments WHERE $1 = $1",
            "",
        )
        .await,
        held_reservations: scalar(
            conn,
            "SELECT count(*) AS value FROM reservations WHERE status = $1",
            "HELD",
        )
        .await,
    }
}

/// Holds the row locks of `sql` (a `SELECT … FOR UPDATE`) in an open transaction on `conn`.
async fn lock_rows(conn: &mut AsyncPgConnection, sql: &str, bind: i64) {
    diesel::sql_query("BEGIN")
        .execute(conn)
        .await
        .expect("begin");
    diesel::sql_query(sql)
        .bind::<BigInt, _>(bind)
        .execute(conn)
        .await
        .expect("lock the rows");
}

async fn release(conn: &mut AsyncPgConnection) {
    diesel::sql_query("ROLLBACK")
        .execute(conn)
        .await
        .expect("release the locks");
}

struct Client {
    http: reqwest::Client,
    base: String,
    jwt: String,
}

impl Client {
    fn admin(&self, path: &str, body: Value) -> RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(ADMIN_KEY)
            .json(&body)
    }

    fn user_get(&self, path: &str) -> RequestBuilder {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.jwt)
    }

    fn user_post(&self, path: &str, body: Value) -> RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.jwt)
            .json(&body)
    }
}

/// A concert with one schedule of two seats; returns (concert, schedule, seat ids).
async fn concert(client: &Client) -> (i64, i64, Vec<i64>) {
    let concert = send(client.admin(
        "/api/v1/admin/concerts",
        json!({"title": "Timeouts", "venue": "Hall"}),
    ))
    .await;
    assert_eq!(concert.status, StatusCode::CREATED, "{concert:?}");
    let concert_id = concert.body["id"].as_i64().expect("concert id");
    let starts_at = (chrono::Utc::now() + chrono::Duration::days(7)).to_rfc3339();
    let seats: Vec<Value> = (1..=2)
        .map(|n| json!({"number": format!("A-{n}"), "grade": "R", "price": 1_000}))
        .collect();
    let schedule = send(client.admin(
        &format!("/api/v1/admin/concerts/{concert_id}/schedules"),
        json!({"startsAt": starts_at, "seats": seats}),
    ))
    .await;
    assert_eq!(schedule.status, StatusCode::CREATED, "{schedule:?}");
    let seat_ids = schedule.body["seats"]
        .as_array()
        .expect("seats")
        .iter()
        .map(|s| s["seatId"].as_i64().expect("seat id"))
        .collect();
    let schedule_id = schedule.body["scheduleId"].as_i64().expect("schedule id");
    (concert_id, schedule_id, seat_ids)
}

/// Joins the line and polls until the token is ACTIVE.
async fn active_token(client: &Client, concert_id: i64) -> String {
    let joined = send(client.user_post(
        &format!("/api/v1/concerts/{concert_id}/queue-tokens"),
        json!({}),
    ))
    .await;
    assert!(joined.status.is_success(), "{joined:?}");
    let token = joined.body["token"].as_str().expect("token").to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let current = send(
            client
                .user_get("/api/v1/queue-tokens/current")
                .header("Queue-Token", &token),
        )
        .await;
        if current.body["status"] == "ACTIVE" {
            return token;
        }
        assert!(Instant::now() < deadline, "never admitted: {current:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn service(database_url: &str) -> RunningApp {
    spawn_app(Config {
        database_url: Some(Secret::new(database_url)),
        jwt_secret: Some(Secret::new("timeouts-test-jwt-secret-0123456789abcdef")),
        admin_api_key: Some(Secret::new(ADMIN_KEY)),
        database_pool_size: Some(4),
        request_timeout_secs: 1,
        queue_admit_interval_ms: 50,
        demo_data: false,
        ..Config::for_tests()
    })
    .await
    .expect("the service starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_answered_503_for_a_timeout_writes_nothing() {
    let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "TEST_DATABASE_URL must be set in CI (scripts/test sets it)"
        );
        eprintln!("TEST_DATABASE_URL unset: skipping the timeout test (run scripts/test)");
        return;
    };
    // Arrange: the service, a concert, an admitted user with 5,000 and a hold on seat 1.
    let url = fresh_database(&admin_url, "timeouts").await;
    let app = service(&url).await;
    let client = Client {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client"),
        base: app.base_url(),
        jwt: app.mint_token(1, Duration::from_secs(3600)).expect("jwt"),
    };
    let (concert_id, schedule_id, seats) = concert(&client).await;
    let token = active_token(&client, concert_id).await;
    let charge = |key: &'static str| {
        client
            .user_post("/api/v1/wallet/charges", json!({"amount": 5_000}))
            .header("Idempotency-Key", key)
    };
    let hold = |seat: i64| {
        client
            .user_post(
                "/api/v1/reservations",
                json!({"scheduleId": schedule_id, "seatIds": [seat]}),
            )
            .header("Queue-Token", &token)
    };
    let pay = |reservation: &str| {
        client
            .user_post("/api/v1/payments", json!({"reservationId": reservation}))
            .header("Queue-Token", &token)
            .header("Idempotency-Key", "pay-1")
    };
    assert_eq!(send(charge("seed")).await.status, StatusCode::CREATED);
    let held = send(hold(seats[0])).await;
    assert_eq!(held.status, StatusCode::CREATED, "{held:?}");
    let reservation = held.body["reservationId"]
        .as_str()
        .expect("reservation id")
        .to_owned();
    let mut locker = AsyncPgConnection::establish(&url).await.expect("connect");
    let mut reader = AsyncPgConnection::establish(&url).await.expect("connect");
    let before = written(&mut reader, seats[1]).await;
    assert_eq!(
        before,
        Written {
            reservations_on_seat_2: 0,
            balance: 5_000,
            ledger_entries: 1,
            payments: 0,
            held_reservations: 1,
        }
    );

    // Act: each request waits on a row another transaction holds, past the timeouts; then the
    // lock goes, and whatever the service left running gets to finish.
    lock_rows(
        &mut locker,
        "SELECT id FROM seats WHERE id = $1 FOR UPDATE",
        seats[1],
    )
    .await;
    let slow_hold = send(hold(seats[1])).await;
    release(&mut locker).await;
    let wallet_lock = "SELECT user_id FROM wallets WHERE user_id = $1 FOR UPDATE";
    lock_rows(&mut locker, wallet_lock, 1).await;
    let slow_charge = send(charge("charge-2")).await;
    let slow_payment = send(pay(&reservation)).await;
    release(&mut locker).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = written(&mut reader, seats[1]).await;
    println!(
        "answers: hold {} in {:?}, charge {} in {:?}, payment {} in {:?}; \
         before {before:?}, after the locks went {after:?}",
        slow_hold.status,
        slow_hold.took,
        slow_charge.status,
        slow_charge.took,
        slow_payment.status,
        slow_payment.took
    );

    // Assert: three 503s, nothing written by any of them, the invariants hold.
    assert_timed_out("hold", &slow_hold);
    assert_timed_out("charge", &slow_charge);
    assert_timed_out("payment", &slow_payment);
    assert_eq!(after, before, "a request answered 503 wrote something");
    let checker = adapters_postgres::connect(PgConfig::new(url.clone()).with_pool_size(1))
        .await
        .expect("the checker connects");
    let report = PgStore::check_invariants(&checker, app.resolved.settings.queue)
        .await
        .expect("the checks run");
    assert!(report.is_clean(), "{report:?}");

    // Assert: the same requests, retried with the same keys, now succeed, each once.
    assert_eq!(send(hold(seats[1])).await.status, StatusCode::CREATED);
    let charged = send(charge("charge-2")).await;
    assert_eq!(charged.status, StatusCode::CREATED, "{charged:?}");
    assert_eq!(charged.body["balance"], 10_000);
    let paid = send(pay(&reservation)).await;
    assert_eq!(paid.status, StatusCode::CREATED, "{paid:?}");
    let last = written(&mut reader, seats[1]).await;
    assert_eq!((last.balance, last.payments), (9_000, 1));
    app.stop().await.expect("clean stop");
}

//! Two separate processes of the `concert-reservation` binary on one PostgreSQL database, as
//! behind a load balancer: every request of a scenario alternates between them, and both run the
//! background jobs.
//!
//! * 400 admitted users race for 10 seats over both instances: exactly 10 holds win, each seat
//!   is held once, every other request is 409 `SEAT_UNAVAILABLE`.
//! * Both instances admit from one line (max 5 active, 2 per tick): the cap holds as seen from
//!   both, tokens are admitted in issue order, each once.
//! * A payment sent to one instance and replayed on the other with the same `Idempotency-Key`
//!   answers the same 201 and moves the money once.
//!
//! Needs `TEST_DATABASE_URL` (a server where a database may be created; `scripts/test` starts
//! one); skipped with a note when it is unset, except in CI.

mod support;

use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::UserId;
use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::fresh_database;

const JWT_SECRET: &str = "two-instances-jwt-secret-of-32-bytes+";
const ADMIN_KEY: &str = "two-instances-admin-key";

/// One process of the binary; killed (and its log printed if the test is failing) on drop.
struct Instance {
    name: &'static str,
    child: Child,
    log: PathBuf,
    base: String,
}

impl Instance {
    /// Starts the binary with `env` (plus the shared secrets) and its output in a temp file.
    fn start(name: &'static str, database_url: &str, env: &[(&str, &str)]) -> Self {
        let log = std::env::temp_dir().join(format!(
            "two-instances-{name}-{}.log",
            uuid::Uuid::new_v4().simple()
        ));
        let out = File::create(&log).expect("create the log file");
        let err = out.try_clone().expect("clone the log file handle");
        let child = Command::new(env!("CARGO_BIN_EXE_concert-reservation"))
            .env_clear()
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("DATABASE_URL", database_url)
            .env("JWT_SECRET", JWT_SECRET)
            .env("ADMIN_API_KEY", ADMIN_KEY)
            .env("DATABASE_POOL_SIZE", "16")
            .env("HTTP_WORKERS", "2")
            .env("QUEUE_ADMIT_INTERVAL_MS", "50")
            .env("QUEUE_JOIN_RATE_LIMIT", "0")
            .env("RUST_LOG", "info,adapters_scheduler=debug")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("start the binary");
        Self {
            name,
            child,
            log,
            base: String::new(),
        }
    }

    /// Waits for the "listening on http://…" line and records the address.
    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = self.log_text();
            if let Some(at) = text.find("listening on http://") {
                let rest = &text[at + "listening on ".len()..];
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                self.base = rest[..end].to_owned();
                return;
            }
            if let Some(status) = self.child.try_wait().expect("query the child") {
                panic!(
                    "instance {} exited with {status} before listening",
                    self.name
                );
            }
            assert!(
                Instant::now() < deadline,
                "instance {} never logged its address",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "----- log of instance {} ({}) -----\n{}\n----- end of log {} -----",
                self.name,
                self.log.display(),
                self.log_text(),
                self.name
            );
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Two instances on one fresh database, plus an HTTP client.
struct Pair {
    instances: [Instance; 2],
    http: reqwest::Client,
    database_url: String,
}

impl Pair {
    /// Creates a fresh database and starts both instances on it at once (both run the
    /// migrations; one waits for the other). `None` when no test server is configured.
    async fn start(env: &[(&str, &str)]) -> Option<Self> {
        let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
            assert!(
                std::env::var_os("CI").is_none(),
                "TEST_DATABASE_URL must be set in CI (scripts/test sets it)"
            );
            eprintln!("TEST_DATABASE_URL unset: skipping the two-instance test (run scripts/test)");
            return None;
        };
        let database_url = fresh_database(&admin_url, "two_instances").await;
        let mut a = Instance::start("A", &database_url, env);
        let mut b = Instance::start("B", &database_url, env);
        a.wait_listening();
        b.wait_listening();
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let pair = Self {
            instances: [a, b],
            http,
            database_url,
        };
        for instance in &pair.instances {
            pair.wait_ready(instance).await;
        }
        Some(pair)
    }

    async fn wait_ready(&self, instance: &Instance) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = self
                .http
                .get(format!("{}/health/ready", instance.base))
                .send()
                .await
                .is_ok_and(|r| r.status() == StatusCode::OK);
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "instance {} never became ready",
                instance.name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The base URL of instance `i % 2`.
    fn base(&self, i: usize) -> &str {
        &self.instances[i % 2].base
    }

    /// An operator request to instance `i % 2`.
    async fn admin(
        &self,
        i: usize,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base(i)))
            .bearer_auth(ADMIN_KEY);
        if let Some(body) = body {
            req = req.json(&body);
        }
        read(req.send().await.expect("admin request")).await
    }

    /// A user of this pair (JWTs are valid on both instances: same secret).
    fn user(&self, id: i64) -> User {
        let user = UserId::new(id).expect("positive user id");
        User {
            http: self.http.clone(),
            bases: [
                self.instances[0].base.clone(),
                self.instances[1].base.clone(),
            ],
            jwt: adapters_http::mint_user_jwt(JWT_SECRET, user, Duration::from_secs(3600)),
            queue_token: None,
        }
    }

    /// A concert with one schedule of `seats` seats at `price`, created on instance A;
    /// returns (concert id, schedule id, seat ids).
    async fn concert(&self, seats: usize, price: i64) -> (i64, i64, Vec<i64>) {
        let (status, concert) = self
            .admin(
                0,
                Method::POST,
                "/api/v1/admin/concerts",
                Some(json!({"title": "Two instances", "venue": "Hall"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{concert}");
        let concert_id = concert["id"].as_i64().expect("concert id");
        let starts_at = (chrono::Utc::now() + chrono::Duration::days(7)).to_rfc3339();
        let seats: Vec<Value> = (1..=seats)
            .map(|n| json!({"number": format!("A-{n}"), "grade": "R", "price": price}))
            .collect();
        let (status, schedule) = self
            .admin(
                1,
                Method::POST,
                &format!("/api/v1/admin/concerts/{concert_id}/schedules"),
                Some(json!({"startsAt": starts_at, "seats": seats})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{schedule}");
        let schedule_id = schedule["scheduleId"].as_i64().expect("schedule id");
        let seat_ids = schedule["seats"]
            .as_array()
            .expect("seats")
            .iter()
            .map(|s| s["seatId"].as_i64().expect("seat id"))
            .collect();
        (concert_id, schedule_id, seat_ids)
    }

    /// One number from the test database.
    async fn scalar(&self, sql: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = BigInt)]
            value: i64,
        }
        let mut conn = AsyncPgConnection::establish(&self.database_url)
            .await
            .expect("connect to the test database");
        let row: Row = diesel::sql_query(sql)
            .get_result(&mut conn)
            .await
            .expect("query the test database");
        row.value
    }
}

/// A user's client; each request names the instance it goes to.
#[derive(Clone)]
struct User {
    http: reqwest::Client,
    bases: [String; 2],
    jwt: String,
    queue_token: Option<String>,
}

impl User {
    async fn send(
        &self,
        instance: usize,
        method: Method,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.bases[instance % 2]))
            .bearer_auth(&self.jwt);
        if let Some(token) = &self.queue_token {
            req = req.header("Queue-Token", token);
        }
        if let Some(key) = key {
            req = req.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        read(req.send().await.expect("request")).await
    }

    async fn get(&self, instance: usize, path: &str) -> (StatusCode, Value) {
        self.send(instance, Method::GET, path, None, None).await
    }

    /// Joins the concert's line on `instance` and keeps the token.
    async fn join(&mut self, instance: usize, concert_id: i64) {
        let (status, body) = self
            .send(
                instance,
                Method::POST,
                &format!("/api/v1/concerts/{concert_id}/queue-tokens"),
                None,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        self.queue_token = Some(body["token"].as_str().expect("token").to_owned());
    }

    /// The current ticket's status, asked of `instance`.
    async fn status(&self, instance: usize) -> Value {
        let (status, body) = self.get(instance, "/api/v1/queue-tokens/current").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn balance(&self, instance: usize) -> i64 {
        let (status, body) = self.get(instance, "/api/v1/wallet").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["balance"].as_i64().expect("balance")
    }
}

async fn read(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let bytes = resp.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    (status, body)
}

/// xorshift64: a seeded, reproducible choice of seats (the seed is printed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Polls every user (alternating instances) until all are ACTIVE.
async fn wait_all_active(users: &[User]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut pending: Vec<usize> = (0..users.len()).collect();
    let mut round = 0;
    while !pending.is_empty() {
        assert!(
            Instant::now() < deadline,
            "{} users never admitted",
            pending.len()
        );
        let statuses = join_all(pending.iter().map(|&i| users[i].status(i + round))).await;
        pending = pending
            .into_iter()
            .zip(statuses)
            .filter(|(_, s)| s["status"] != "ACTIVE")
            .map(|(i, _)| i)
            .collect();
        round += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const RACERS: usize = 400;
const SEATS: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_hundred_holds_over_two_instances_sell_each_of_ten_seats_once() {
    // Arrange: 400 users admitted (joins and polls alternate instances), 10 seats.
    let Some(pair) = Pair::start(&[("QUEUE_ADMIT_BATCH", "1000")]).await else {
        return;
    };
    let (concert_id, schedule_id, seats) = pair.concert(SEATS, 10_000).await;
    let mut users: Vec<User> = (1..=RACERS)
        .map(|i| pair.user(i64::try_from(i).expect("small")))
        .collect();
    // Joins go 20 at a time: every join to one concert takes the line's counter row in turn,
    // so 400 at once would only measure the pool's wait timeout (the race is the holds').
    for (chunk, group) in users.chunks_mut(20).enumerate() {
        join_all(
            group
                .iter_mut()
                .enumerate()
                .map(|(i, u)| u.join(chunk * 20 + i, concert_id)),
        )
        .await;
    }
    wait_all_active(&users).await;
    let seed = u64::from(uuid::Uuid::new_v4().as_fields().0) | 1;
    eprintln!("seat choice seed: {seed}");
    let mut rng = Rng(seed);
    let picks: Vec<i64> = (0..RACERS)
        .map(|_| seats[usize::try_from(rng.next() % SEATS as u64).expect("small")])
        .collect();
    assert_eq!(
        picks.iter().collect::<BTreeSet<_>>().len(),
        SEATS,
        "every seat is asked for (seed {seed})"
    );

    // Warm up: every user reads the seats on its instance, so both instances have their
    // HTTP connections and database pools open and neither starts the race late.
    let seats_path = format!("/api/v1/schedules/{schedule_id}/seats");
    let listings = join_all(users.iter().enumerate().map(|(i, u)| u.get(i, &seats_path))).await;
    assert!(listings.iter().all(|(s, _)| *s == StatusCode::OK));

    // Act: all 400 holds at once, user i on instance i % 2.
    let started = Instant::now();
    let results = join_all(users.iter().zip(&picks).enumerate().map(|(i, (u, seat))| {
        u.send(
            i,
            Method::POST,
            "/api/v1/reservations",
            Some(json!({"scheduleId": schedule_id, "seatIds": [seat]})),
            None,
        )
    }))
    .await;
    eprintln!("400 concurrent holds answered in {:?}", started.elapsed());

    // Assert: 10 winners, one per seat, winners on both instances; every loser SEAT_UNAVAILABLE.
    let mut winners_by_seat: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    let mut losers = 0;
    for (i, (status, body)) in results.iter().enumerate() {
        match *status {
            StatusCode::CREATED => {
                let seat = body["seats"][0]["seatId"].as_i64().expect("held seat");
                assert_eq!(seat, picks[i], "the seat asked for is held");
                winners_by_seat.entry(seat).or_default().push(i);
            }
            StatusCode::CONFLICT if body["code"] == "SEAT_UNAVAILABLE" => losers += 1,
            other => panic!("user {i}: unexpected answer {other} {body}"),
        }
    }
    let winners: usize = winners_by_seat.values().map(Vec::len).sum();
    assert_eq!((winners, losers), (SEATS, RACERS - SEATS));
    assert_eq!(
        winners_by_seat.keys().copied().collect::<Vec<_>>(),
        {
            let mut all = seats.clone();
            all.sort_unstable();
            all
        },
        "each seat held exactly once"
    );
    assert!(winners_by_seat.values().all(|w| w.len() == 1));
    let per_instance = results
        .iter()
        .enumerate()
        .filter(|(_, (s, _))| *s == StatusCode::CREATED)
        .fold([0, 0], |mut acc, (i, _)| {
            acc[i % 2] += 1;
            acc
        });
    eprintln!("winners per instance (A, B): {per_instance:?}");
    let first_winner = *winners_by_seat
        .values()
        .next()
        .and_then(|w| w.iter().next())
        .expect("a winner");
    for instance in 0..2 {
        let (status, listing) = users[first_winner]
            .get(instance, &format!("/api/v1/schedules/{schedule_id}/seats"))
            .await;
        assert_eq!(status, StatusCode::OK, "{listing}");
        let listing = listing.as_array().expect("seat list");
        assert_eq!(listing.len(), SEATS);
        assert!(
            listing.iter().all(|s| s["available"] == false),
            "every seat shows as taken on instance {instance}: {listing:?}"
        );
    }
    let live_lines = pair
        .scalar("SELECT count(*) AS value FROM reservation_seats WHERE live")
        .await;
    let distinct_live = pair
        .scalar("SELECT count(DISTINCT seat_id) AS value FROM reservation_seats WHERE live")
        .await;
    assert_eq!((live_lines, distinct_live), (10, 10));
}

const LINE: usize = 40;
const MAX_ACTIVE: i64 = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_admitters_keep_the_cap_and_the_issue_order() {
    // Arrange: both instances admit every 50 ms, at most 2 per tick and 5 active; 40 users
    // join in order, alternating instances.
    let Some(pair) = Pair::start(&[("QUEUE_MAX_ACTIVE", "5"), ("QUEUE_ADMIT_BATCH", "2")]).await
    else {
        return;
    };
    let (concert_id, _, _) = pair.concert(1, 1_000).await;
    let mut users = Vec::new();
    for i in 0..LINE {
        let mut user = pair.user(i64::try_from(i).expect("small") + 1);
        user.join(i, concert_id).await;
        users.push(user);
    }

    // Act: poll from the back of the line to the front, alternating instances; whoever is
    // ACTIVE leaves at once (on the other instance) to free a slot.
    let started = Instant::now();
    let mut admitted_order: Vec<usize> = Vec::new();
    let mut done = BTreeSet::new();
    let mut last_position = vec![u64::MAX; LINE];
    let mut max_active_seen = 0;
    let mut rounds = 0;
    let deadline = Instant::now() + Duration::from_secs(90);
    while done.len() < LINE {
        assert!(
            Instant::now() < deadline,
            "admission stalled at {}",
            done.len()
        );
        for instance in 0..2 {
            let (status, stats) = pair
                .admin(
                    instance,
                    Method::GET,
                    &format!("/api/v1/admin/concerts/{concert_id}/queue"),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{stats}");
            let active = stats["active"].as_i64().expect("active");
            assert!(active <= MAX_ACTIVE, "over the cap on {instance}: {stats}");
            max_active_seen = max_active_seen.max(active);
        }
        let mut round = Vec::new();
        for (i, user) in users.iter().enumerate().rev() {
            if done.contains(&i) {
                continue;
            }
            let ticket = user.status(i + rounds).await;
            match ticket["status"].as_str() {
                Some("ACTIVE") => round.push(i),
                Some("WAITING") => {
                    let position = ticket["position"].as_u64().expect("position");
                    assert!(position <= last_position[i], "position went up for {i}");
                    last_position[i] = position;
                }
                other => panic!("unexpected status {other:?} for user {i}"),
            }
        }
        for &i in &round {
            done.insert(i);
            let (status, body) = users[i]
                .send(
                    i + rounds + 1,
                    Method::DELETE,
                    "/api/v1/queue-tokens/current",
                    None,
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        }
        round.sort_unstable();
        admitted_order.extend(round);
        assert_eq!(
            done.iter().copied().collect::<Vec<_>>(),
            (0..done.len()).collect::<Vec<_>>(),
            "admission skipped someone"
        );
        rounds += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "{LINE} tokens admitted in {:?} over {rounds} polling rounds; max active seen {max_active_seen}",
        started.elapsed()
    );

    // Assert: issue order, each token admitted once, and both instances admitted some.
    assert_eq!(admitted_order, (0..LINE).collect::<Vec<_>>());
    let admitted_tokens = pair
        .scalar("SELECT count(*) AS value FROM queue_tokens WHERE admitted_at IS NOT NULL")
        .await;
    let admissions = pair
        .scalar("SELECT coalesce(sum(admitted), 0)::bigint AS value FROM queue_admissions")
        .await;
    assert_eq!((admitted_tokens, admissions), (40, 40), "each token once");
    for instance in &pair.instances {
        let ticks = instance
            .log_text()
            .matches("admitted waiting queue tokens")
            .count();
        eprintln!("instance {} admitted in {ticks} ticks", instance.name);
        assert!(ticks > 0, "instance {} never admitted", instance.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_replayed_on_the_other_instance_moves_money_once() {
    // Arrange: one admitted user holding one seat, with money, all over both instances.
    let Some(pair) = Pair::start(&[]).await else {
        return;
    };
    let (concert_id, schedule_id, seats) = pair.concert(1, 30_000).await;
    let mut user = pair.user(7);
    user.join(0, concert_id).await;
    wait_all_active(std::slice::from_ref(&user)).await;
    let (status, charged) = user
        .send(
            1,
            Method::POST,
            "/api/v1/wallet/charges",
            Some(json!({"amount": 50_000})),
            Some("charge-1"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{charged}");
    let (status, hold) = user
        .send(
            0,
            Method::POST,
            "/api/v1/reservations",
            Some(json!({"scheduleId": schedule_id, "seatIds": [seats[0]]})),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hold}");
    let reservation_id = hold["reservationId"].as_str().expect("id").to_owned();
    let body = json!({"reservationId": reservation_id});

    // Act: pay on A, replay on B (and once more on A).
    let first = user
        .send(
            0,
            Method::POST,
            "/api/v1/payments",
            Some(body.clone()),
            Some("pay-1"),
        )
        .await;
    let replay_b = user
        .send(
            1,
            Method::POST,
            "/api/v1/payments",
            Some(body.clone()),
            Some("pay-1"),
        )
        .await;
    let replay_a = user
        .send(
            0,
            Method::POST,
            "/api/v1/payments",
            Some(body),
            Some("pay-1"),
        )
        .await;

    // Assert
    assert_eq!(first.0, StatusCode::CREATED, "{}", first.1);
    assert_eq!(first.1["amount"], 30_000);
    assert_eq!(first.1["balanceAfter"], 20_000);
    assert_eq!(
        replay_b, first,
        "the other instance replays the same answer"
    );
    assert_eq!(replay_a, first);
    assert_eq!(
        (user.balance(0).await, user.balance(1).await),
        (20_000, 20_000)
    );
    let (status, ledger) = user.get(1, "/api/v1/wallet/transactions").await;
    assert_eq!(status, StatusCode::OK, "{ledger}");
    let entries: Vec<(String, i64)> = ledger["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().expect("kind").to_owned(),
                e["amount"].as_i64().expect("amount"),
            )
        })
        .collect();
    assert_eq!(
        entries,
        vec![
            ("PAYMENT".to_owned(), -30_000),
            ("CHARGE".to_owned(), 50_000)
        ],
        "one charge and one payment, newest first"
    );
    let (status, reservation) = user
        .get(1, &format!("/api/v1/reservations/{reservation_id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{reservation}");
    assert_eq!(reservation["status"], "CONFIRMED");
    assert_eq!(
        pair.scalar("SELECT count(*) AS value FROM payments").await,
        1
    );
}

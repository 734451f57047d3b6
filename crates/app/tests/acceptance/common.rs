//! The acceptance harness: the whole service started in-process on port 0, on either store,
//! and a small HTTP client that speaks the contract.

use app::{spawn_app, Config, RunningApp, Secret};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Which store a test runs against.
#[derive(Debug, Clone)]
pub enum Store {
    /// The in-memory store.
    Memory,
    /// A fresh PostgreSQL database of the throwaway server (URL of the new database).
    Postgres(String),
}

impl Store {
    /// A fresh PostgreSQL database on the server named by `TEST_DATABASE_URL`, or `None` (the
    /// test is skipped) when the variable is unset outside CI.
    pub async fn postgres() -> Option<Self> {
        let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
            assert!(
                std::env::var_os("CI").is_none(),
                "TEST_DATABASE_URL must be set in CI (scripts/test sets it)"
            );
            eprintln!(
                "TEST_DATABASE_URL unset: skipping the PostgreSQL variant (run scripts/test)"
            );
            return None;
        };
        Some(Self::Postgres(
            crate::support::fresh_database(&admin_url, "acceptance").await,
        ))
    }
}

/// A running service and what a test needs to talk to it.
pub struct TestApp {
    /// The service.
    pub app: RunningApp,
    /// Shared HTTP client.
    pub http: reqwest::Client,
    /// `http://127.0.0.1:port`.
    pub base: String,
}

/// The secrets every test instance uses (a database requires real ones).
pub const JWT_SECRET: &str = "acceptance-jwt-secret-of-at-least-32-bytes";
/// The operator key of every test instance.
pub const ADMIN_KEY: &str = "acceptance-admin-key";

impl TestApp {
    /// Starts the service on `store` with fast admission, no demo data, and `tweak` applied.
    pub async fn spawn(store: &Store, tweak: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config {
            queue_admit_interval_ms: 50,
            queue_admit_batch: 1000,
            queue_max_active: 1000,
            demo_data: false,
            jwt_secret: Some(Secret::new(JWT_SECRET)),
            admin_api_key: Some(Secret::new(ADMIN_KEY)),
            database_pool_size: Some(16),
            queue_join_rate_limit: 0,
            ..Config::for_tests()
        };
        if let Store::Postgres(url) = store {
            config.database_url = Some(Secret::new(url.clone()));
        }
        tweak(&mut config);
        let app = spawn_app(config).await.expect("the service starts");
        let base = app.base_url();
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Self { app, http, base }
    }

    /// A client acting as user `id`.
    pub fn user(&self, id: i64) -> UserClient {
        let jwt = self
            .app
            .mint_token(id, Duration::from_secs(3600))
            .expect("jwt");
        UserClient {
            http: self.http.clone(),
            base: self.base.clone(),
            jwt,
            queue_token: None,
        }
    }

    /// Sends an operator request.
    pub async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(ADMIN_KEY);
        if let Some(body) = body {
            req = req.json(&body);
        }
        read(req.send().await.expect("admin request")).await
    }

    /// Creates a concert with one schedule a week ahead whose seats have the given prices;
    /// returns (concert id, schedule id, seat ids in order).
    pub async fn concert_with_seats(&self, prices: &[i64]) -> (i64, i64, Vec<i64>) {
        let seats: Vec<Value> = prices
            .iter()
            .enumerate()
            .map(|(i, p)| json!({"number": format!("A-{}", i + 1), "grade": if i % 2 == 0 { "VIP" } else { "R" }, "price": p}))
            .collect();
        self.concert_with_schedule("Acceptance", "Hall", seats)
            .await
    }

    /// Creates concert `title` at `venue` with one schedule a week ahead holding `seats`
    /// (`{number, grade, price}` each); returns (concert id, schedule id, seat ids in order).
    pub async fn concert_with_schedule(
        &self,
        title: &str,
        venue: &str,
        seats: Vec<Value>,
    ) -> (i64, i64, Vec<i64>) {
        let (status, concert) = self
            .admin(
                Method::POST,
                "/api/v1/admin/concerts",
                Some(json!({"title": title, "venue": venue})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{concert}");
        let concert_id = concert["id"].as_i64().expect("concert id");
        let starts_at = (chrono::Utc::now() + chrono::Duration::days(7)).to_rfc3339();
        let (status, schedule) = self
            .admin(
                Method::POST,
                &format!("/api/v1/admin/concerts/{concert_id}/schedules"),
                Some(json!({"startsAt": starts_at, "seats": seats})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{schedule}");
        let schedule_id = schedule["scheduleId"].as_i64().expect("schedule id");
        let seat_ids = schedule["seats"]
            .as_array()
            .expect("seats in the created schedule")
            .iter()
            .map(|s| s["seatId"].as_i64().expect("seat id"))
            .collect();
        (concert_id, schedule_id, seat_ids)
    }
}

/// One user's client: JWT plus the queue token once joined.
#[derive(Clone)]
pub struct UserClient {
    http: reqwest::Client,
    base: String,
    jwt: String,
    /// The `Queue-Token` sent with every request once set.
    pub queue_token: Option<String>,
}

/// Status and JSON body (Null when the body is empty).
pub async fn read(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let bytes = resp.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    (status, body)
}

/// An answer to an idempotent request: status, JSON body, and whether it said it was a replay
/// (`Idempotent-Replayed: true`).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The JSON body.
    pub body: Value,
    /// True when `Idempotent-Replayed: true` came with it.
    pub replayed: bool,
}

impl UserClient {
    /// Sends a request as this user, with the queue token and an optional idempotency key.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> (StatusCode, Value) {
        read(
            self.request(method, path, body, key)
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    /// Sends a POST under `key` and reads the replay marker too.
    pub async fn send_keyed(&self, path: &str, body: Value, key: &str) -> Answer {
        let resp = self
            .request(Method::POST, path, Some(body), Some(key))
            .send()
            .await
            .expect("request");
        let replayed = resp
            .headers()
            .get("Idempotent-Replayed")
            .is_some_and(|v| v == "true");
        let (status, body) = read(resp).await;
        Answer {
            status,
            body,
            replayed,
        }
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
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
        req
    }

    /// GET as this user.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, None, None).await
    }

    /// Joins the concert's queue and keeps the token.
    pub async fn join(&mut self, concert_id: i64) -> (StatusCode, Value) {
        let (status, body) = self
            .send(
                Method::POST,
                &format!("/api/v1/concerts/{concert_id}/queue-tokens"),
                None,
                None,
            )
            .await;
        if let Some(token) = body["token"].as_str() {
            self.queue_token = Some(token.to_owned());
        }
        (status, body)
    }

    /// Polls the current ticket until it is ACTIVE (panics after 15 s).
    pub async fn wait_active(&self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (status, body) = self.get("/api/v1/queue-tokens/current").await;
            assert_eq!(status, StatusCode::OK, "{body}");
            if body["status"] == "ACTIVE" {
                return body;
            }
            assert!(Instant::now() < deadline, "never admitted: {body}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Joins and waits until admitted.
    pub async fn enter(&mut self, concert_id: i64) {
        let (status, body) = self.join(concert_id).await;
        assert!(
            status == StatusCode::CREATED || status == StatusCode::OK,
            "{body}"
        );
        self.wait_active().await;
    }

    /// Charges the wallet under a fresh key.
    pub async fn charge(&self, amount: i64) -> (StatusCode, Value) {
        let key = uuid::Uuid::new_v4().to_string();
        self.send(
            Method::POST,
            "/api/v1/wallet/charges",
            Some(json!({"amount": amount})),
            Some(&key),
        )
        .await
    }

    /// Holds seats.
    pub async fn hold(&self, schedule_id: i64, seat_ids: &[i64]) -> (StatusCode, Value) {
        self.send(
            Method::POST,
            "/api/v1/reservations",
            Some(json!({"scheduleId": schedule_id, "seatIds": seat_ids})),
            None,
        )
        .await
    }

    /// Pays for a reservation under `key`.
    pub async fn pay(&self, reservation_id: &str, key: &str) -> (StatusCode, Value) {
        self.send(
            Method::POST,
            "/api/v1/payments",
            Some(json!({"reservationId": reservation_id})),
            Some(key),
        )
        .await
    }

    /// The wallet balance.
    pub async fn balance(&self) -> i64 {
        let (status, body) = self.get("/api/v1/wallet").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["balance"].as_i64().expect("balance")
    }
}

/// Runs an acceptance case against both stores: `memory` always, `postgres` when a throwaway
/// server is available (always in CI).
#[macro_export]
macro_rules! on_both_stores {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn memory() {
                super::$case(&$crate::common::Store::Memory).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                if let Some(store) = $crate::common::Store::postgres().await {
                    super::$case(&store).await;
                }
            }
        }
    )*};
}

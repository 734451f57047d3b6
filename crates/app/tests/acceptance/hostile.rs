//! Hostile input (issue 5): another user's ids and queue tokens, tampered JWTs, foreign queue
//! tokens, smuggled server-owned fields, every size and range limit, the join rate limit,
//! protocol abuse (media type, method, path) and the operator key. Every refusal is the
//! contract's status and `code` in an `application/problem+json` body, nothing changes, and no
//! answer is ever a 5xx.

use crate::common::{Store, TestApp, UserClient, ADMIN_KEY, JWT_SECRET};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// One raw answer: status, headers and the body parsed as JSON (Null when empty or not JSON).
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

/// A raw request: any method, path, headers and body bytes, nothing added.
struct Raw<'a> {
    app: &'a TestApp,
    method: Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

impl<'a> Raw<'a> {
    fn new(app: &'a TestApp, method: Method, path: impl Into<String>) -> Self {
        Self {
            app,
            method,
            path: path.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    fn bearer(self, token: &str) -> Self {
        self.header("Authorization", format!("Bearer {token}"))
    }

    fn json(self, body: &Value) -> Self {
        self.body_bytes("application/json", body.to_string().into_bytes())
    }

    fn body_bytes(mut self, content_type: &str, bytes: Vec<u8>) -> Self {
        self.headers
            .push(("Content-Type".to_owned(), content_type.to_owned()));
        self.body = Some(bytes);
        self
    }

    async fn send(self) -> Answer {
        let mut req = self
            .app
            .http
            .request(self.method, format!("{}{}", self.app.base, self.path));
        for (name, value) in self.headers {
            req = req.header(name, value);
        }
        if let Some(body) = self.body {
            req = req.body(body);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }
}

/// Asserts a problem answer with `status` and `code` (and never a 5xx).
#[track_caller]
fn assert_problem(answer: &Answer, status: StatusCode, code: &str, case: &str) {
    assert!(
        !answer.status.is_server_error(),
        "{case}: server error {} {}",
        answer.status,
        answer.body
    );
    assert_eq!(
        (answer.status, answer.body["code"].as_str()),
        (status, Some(code)),
        "{case}: {}",
        answer.body
    );
    let media = answer
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        media.starts_with("application/problem+json"),
        "{case}: content type {media:?}"
    );
    assert_eq!(
        answer.body["status"].as_u64(),
        Some(u64::from(status.as_u16())),
        "{case}"
    );
    if status == StatusCode::UNAUTHORIZED {
        // HTTP: every 401 carries a challenge saying which credential to send.
        let challenge = answer
            .headers
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let expected = if code == "QUEUE_TOKEN_REQUIRED" {
            "Queue-Token realm=\"queue\""
        } else {
            "Bearer"
        };
        assert_eq!(challenge, expected, "{case}: WWW-Authenticate");
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn sign(claims: &Value, alg: Algorithm, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("encode a JWT")
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string().as_bytes())
}

/// A user admitted to `concert_id`, with the raw queue token.
async fn admitted(app: &TestApp, id: i64, concert_id: i64) -> (UserClient, String) {
    let mut user = app.user(id);
    user.enter(concert_id).await;
    let token = user.queue_token.clone().expect("queue token");
    (user, token)
}

/// A fresh JWT of user `id`.
fn jwt(app: &TestApp, id: i64) -> String {
    app.app
        .mint_token(id, std::time::Duration::from_secs(3600))
        .expect("jwt")
}

async fn another_users_ids_and_tokens_are_refused_and_change_nothing(store: &Store) {
    // Arrange: A and B are admitted to one concert; each holds a seat and has money.
    let app = TestApp::spawn(store, |_| {}).await;
    let (concert_id, schedule_id, seats) = app.concert_with_seats(&[10_000, 20_000, 30_000]).await;
    let (a, a_token) = admitted(&app, 1, concert_id).await;
    let (b, b_token) = admitted(&app, 2, concert_id).await;
    let (_, a_held) = a.hold(schedule_id, &[seats[0]]).await;
    let a_res = a_held["reservationId"].as_str().expect("id").to_owned();
    let (_, b_held) = b.hold(schedule_id, &[seats[1]]).await;
    let b_res = b_held["reservationId"].as_str().expect("id").to_owned();
    a.charge(100_000).await;
    b.charge(100_000).await;
    let b_jwt = jwt(&app, 2);
    let a_path = format!("/api/v1/reservations/{a_res}");

    // Act + Assert: B's own JWT and token on A's reservation: 404, as if it did not exist.
    let as_b = |method: Method, path: &str| {
        Raw::new(&app, method, path)
            .bearer(&b_jwt)
            .header("Queue-Token", b_token.clone())
    };
    let cases = [
        (
            "GET A's reservation",
            as_b(Method::GET, &a_path).send().await,
        ),
        (
            "DELETE A's reservation",
            as_b(Method::DELETE, &a_path).send().await,
        ),
        (
            "pay A's reservation",
            as_b(Method::POST, "/api/v1/payments")
                .header("Idempotency-Key", "b-pays-a")
                .json(&json!({"reservationId": a_res}))
                .send()
                .await,
        ),
    ];
    for (case, answer) in &cases {
        assert_problem(answer, StatusCode::NOT_FOUND, "NOT_FOUND", case);
    }

    // B's JWT with A's queue token: every queue-guarded endpoint is QUEUE_TOKEN_NOT_ACTIVE.
    let with_a_token = |method: Method, path: &str| {
        Raw::new(&app, method, path)
            .bearer(&b_jwt)
            .header("Queue-Token", a_token.clone())
    };
    let cases = [
        (
            "GET current with A's token",
            with_a_token(Method::GET, "/api/v1/queue-tokens/current")
                .send()
                .await,
        ),
        (
            "DELETE current with A's token",
            with_a_token(Method::DELETE, "/api/v1/queue-tokens/current")
                .send()
                .await,
        ),
        (
            "browse schedules with A's token",
            with_a_token(
                Method::GET,
                &format!("/api/v1/concerts/{concert_id}/schedules"),
            )
            .send()
            .await,
        ),
        (
            "browse seats with A's token",
            with_a_token(
                Method::GET,
                &format!("/api/v1/schedules/{schedule_id}/seats"),
            )
            .send()
            .await,
        ),
        (
            "hold with A's token",
            with_a_token(Method::POST, "/api/v1/reservations")
                .json(&json!({"scheduleId": schedule_id, "seatIds": [seats[2]]}))
                .send()
                .await,
        ),
        (
            "pay own reservation with A's token",
            with_a_token(Method::POST, "/api/v1/payments")
                .header("Idempotency-Key", "b-pays-with-a-token")
                .json(&json!({"reservationId": b_res}))
                .send()
                .await,
        ),
    ];
    for (case, answer) in &cases {
        assert_problem(
            answer,
            StatusCode::FORBIDDEN,
            "QUEUE_TOKEN_NOT_ACTIVE",
            case,
        );
    }
    let (_, b_list) = b.get("/api/v1/reservations").await;
    let b_ledger = b.get("/api/v1/wallet/transactions").await.1;

    // Assert: nothing changed for anyone.
    let (_, a_view) = a.get(&a_path).await;
    assert_eq!(a_view["status"], "HELD");
    let (_, b_view) = b.get(&format!("/api/v1/reservations/{b_res}")).await;
    assert_eq!(b_view["status"], "HELD");
    assert_eq!(a.balance().await, 100_000);
    assert_eq!(b.balance().await, 100_000);
    let a_ticket = a.wait_active().await;
    assert_eq!(a_ticket["token"].as_str(), Some(a_token.as_str()));
    let b_ticket = b.wait_active().await;
    assert_eq!(b_ticket["token"].as_str(), Some(b_token.as_str()));
    let (_, seat_view) = a
        .get(&format!("/api/v1/schedules/{schedule_id}/seats"))
        .await;
    let available: Vec<bool> = seat_view
        .as_array()
        .expect("seats")
        .iter()
        .map(|s| s["available"].as_bool().expect("available"))
        .collect();
    assert_eq!(available, vec![false, false, true]);
    let b_ids: Vec<&str> = b_list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|r| r["reservationId"].as_str())
        .collect();
    assert_eq!(b_ids, vec![b_res.as_str()]);
    assert_eq!(b_ledger["items"].as_array().map(Vec::len), Some(1));
    app.app.stop().await.expect("clean stop");
}

async fn tampered_jwts_are_unauthenticated(store: &Store) {
    // Arrange
    let app = TestApp::spawn(store, |_| {}).await;
    let t = now();
    let good = json!({"sub": "7", "exp": t + 600, "iat": t});
    let hs256 = |claims: &Value| sign(claims, Algorithm::HS256, JWT_SECRET);
    let valid = hs256(&good);
    let (head, rest) = valid.split_once('.').expect("a JWT has dots");
    let (payload, signature) = rest.split_once('.').expect("a JWT has a signature");
    let mut flipped = signature.to_owned();
    let last = if flipped.ends_with('A') { "B" } else { "A" };
    flipped.replace_range(flipped.len() - 1.., last);
    let escalated = json!({"sub": "1", "exp": t + 600});
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no Authorization header", None),
        ("empty bearer", Some("Bearer ".to_owned())),
        ("basic scheme", Some("Basic dXNlcjpwYXNz".to_owned())),
        ("token without scheme", Some(valid.clone())),
        (
            "alg none",
            Some(format!(
                "Bearer {}.{}.",
                b64(&json!({"alg": "none", "typ": "JWT"})),
                b64(&good)
            )),
        ),
        (
            "alg none with the original signature",
            Some(format!(
                "Bearer {}.{payload}.{signature}",
                b64(&json!({"alg": "none", "typ": "JWT"}))
            )),
        ),
        (
            "bad signature (other secret)",
            Some(format!(
                "Bearer {}",
                sign(&good, Algorithm::HS256, "not-the-secret")
            )),
        ),
        (
            "flipped signature",
            Some(format!("Bearer {head}.{payload}.{flipped}")),
        ),
        (
            "payload swapped under a valid signature",
            Some(format!("Bearer {head}.{}.{signature}", b64(&escalated))),
        ),
        ("no signature", Some(format!("Bearer {head}.{payload}."))),
        (
            "HS512 with the right secret",
            Some(format!(
                "Bearer {}",
                sign(&good, Algorithm::HS512, JWT_SECRET)
            )),
        ),
        (
            "HS384 with the right secret",
            Some(format!(
                "Bearer {}",
                sign(&good, Algorithm::HS384, JWT_SECRET)
            )),
        ),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                hs256(&json!({"sub": "7", "exp": t - 120, "iat": t - 600}))
            )),
        ),
        (
            "missing sub",
            Some(format!("Bearer {}", hs256(&json!({"exp": t + 600})))),
        ),
        (
            "missing exp",
            Some(format!("Bearer {}", hs256(&json!({"sub": "7"})))),
        ),
        (
            "exp as a string",
            Some(format!(
                "Bearer {}",
                hs256(&json!({"sub": "7", "exp": "tomorrow"}))
            )),
        ),
        (
            "non-numeric sub",
            Some(format!(
                "Bearer {}",
                hs256(&json!({"sub": "alice", "exp": t + 600}))
            )),
        ),
        (
            "zero sub",
            Some(format!(
                "Bearer {}",
                hs256(&json!({"sub": "0", "exp": t + 600}))
            )),
        ),
        (
            "negative sub",
            Some(format!(
                "Bearer {}",
                hs256(&json!({"sub": "-1", "exp": t + 600}))
            )),
        ),
        (
            "sub beyond i64",
            Some(format!(
                "Bearer {}",
                hs256(&json!({"sub": "99999999999999999999", "exp": t + 600}))
            )),
        ),
        (
            "sub as a JSON number",
            Some(format!(
                "Bearer {}",
                hs256(&json!({"sub": 7, "exp": t + 600}))
            )),
        ),
        ("garbage", Some("Bearer not.a.jwt".to_owned())),
        ("one segment", Some("Bearer abcdef".to_owned())),
        ("four segments", Some(format!("Bearer {valid}.extra"))),
        (
            "the admin key as a user token",
            Some(format!("Bearer {ADMIN_KEY}")),
        ),
    ];
    let targets = [
        (Method::GET, "/api/v1/wallet", None),
        (Method::GET, "/api/v1/reservations", None),
        (
            Method::POST,
            "/api/v1/wallet/charges",
            Some(json!({"amount": 1000})),
        ),
        (Method::POST, "/api/v1/concerts/1/queue-tokens", None),
    ];

    // Act + Assert: every case on every target is 401 UNAUTHENTICATED with a challenge.
    let mut checked = 0;
    for (case, authorization) in &cases {
        for (method, path, body) in &targets {
            let mut req = Raw::new(&app, method.clone(), *path)
                .header("Idempotency-Key", format!("jwt-{checked}"));
            if let Some(value) = authorization {
                req = req.header("Authorization", value.clone());
            }
            if let Some(body) = body {
                req = req.json(body);
            }
            let answer = req.send().await;
            assert_problem(
                &answer,
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                &format!("{case} on {method} {path}"),
            );
            assert!(answer.headers.contains_key(WWW_AUTHENTICATE), "{case}");
            checked += 1;
        }
    }

    // Nothing was charged to anyone the tokens named, and the real token still works.
    let user = app.user(7);
    assert_eq!(user.balance().await, 0);
    assert_eq!(app.user(1).balance().await, 0);
    let answer = Raw::new(&app, Method::GET, "/api/v1/wallet")
        .bearer(&valid)
        .send()
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(checked, cases.len() * targets.len());
    app.app.stop().await.expect("clean stop");
}

async fn foreign_and_malformed_queue_tokens_are_refused(store: &Store) {
    // Arrange: one user admitted to concert 2 only; a second user admitted to concert 1.
    let app = TestApp::spawn(store, |_| {}).await;
    let (concert_1, schedule_1, seats_1) = app.concert_with_seats(&[10_000]).await;
    let (concert_2, schedule_2, seats_2) = app.concert_with_seats(&[10_000, 10_000]).await;
    let (user, token_2) = admitted(&app, 5, concert_2).await;
    let (_, held) = user.hold(schedule_2, &[seats_2[0]]).await;
    let own = held["reservationId"].as_str().expect("id").to_owned();
    let user_jwt = jwt(&app, 5);
    let (other, other_token) = admitted(&app, 6, concert_1).await;
    let guarded = |token: Option<&str>| {
        let token = token.map(str::to_owned);
        let user_jwt = user_jwt.clone();
        let app = &app;
        move |method: Method, path: String| {
            let mut raw = Raw::new(app, method, path).bearer(&user_jwt);
            if let Some(token) = &token {
                raw = raw.header("Queue-Token", token.clone());
            }
            raw
        }
    };

    // Act + Assert: a token of concert 2 on concert 1's browse, seats and hold is 403.
    let with_2 = guarded(Some(&token_2));
    let cases = [
        (
            "schedules of another concert",
            with_2(
                Method::GET,
                format!("/api/v1/concerts/{concert_1}/schedules"),
            )
            .send()
            .await,
        ),
        (
            "seats of another concert",
            with_2(Method::GET, format!("/api/v1/schedules/{schedule_1}/seats"))
                .send()
                .await,
        ),
        (
            "hold in another concert",
            with_2(Method::POST, "/api/v1/reservations".to_owned())
                .json(&json!({"scheduleId": schedule_1, "seatIds": [seats_1[0]]}))
                .send()
                .await,
        ),
    ];
    for (case, answer) in &cases {
        assert_problem(
            answer,
            StatusCode::FORBIDDEN,
            "QUEUE_TOKEN_NOT_ACTIVE",
            case,
        );
    }

    // Missing, malformed or unknown tokens are QUEUE_TOKEN_REQUIRED on every guarded endpoint,
    // even where everything else in the request is the caller's own and valid.
    let unknown = uuid::Uuid::new_v4().to_string();
    let bad_tokens: [Option<&str>; 6] = [
        None,
        Some("not-a-uuid"),
        Some("00000000-0000-0000-0000-00000000000g"),
        Some(&unknown),
        Some("' OR 1=1 --"),
        Some(""),
    ];
    let mut checked = 0;
    for bad in bad_tokens {
        let with = guarded(bad);
        let requests = [
            with(Method::GET, "/api/v1/queue-tokens/current".to_owned()),
            with(Method::DELETE, "/api/v1/queue-tokens/current".to_owned()),
            with(
                Method::GET,
                format!("/api/v1/concerts/{concert_2}/schedules"),
            ),
            with(Method::GET, format!("/api/v1/schedules/{schedule_2}/seats")),
            with(Method::POST, "/api/v1/reservations".to_owned())
                .json(&json!({"scheduleId": schedule_2, "seatIds": [seats_2[1]]})),
            with(Method::POST, "/api/v1/payments".to_owned())
                .header("Idempotency-Key", format!("qt-{checked}"))
                .json(&json!({"reservationId": own})),
        ];
        for req in requests {
            let case = format!("queue token {bad:?} on {} {}", req.method, req.path);
            let answer = req.send().await;
            assert_problem(
                &answer,
                StatusCode::UNAUTHORIZED,
                "QUEUE_TOKEN_REQUIRED",
                &case,
            );
            checked += 1;
        }
    }

    // Assert: nothing was held or paid, both tokens still work for their owners.
    assert_eq!(checked, 36);
    assert_eq!(user.wait_active().await["status"], "ACTIVE");
    let (_, mine) = user.get(&format!("/api/v1/reservations/{own}")).await;
    assert_eq!(mine["status"], "HELD");
    let (_, seats) = user
        .get(&format!("/api/v1/schedules/{schedule_2}/seats"))
        .await;
    assert_eq!(seats[1]["available"], true);
    let (_, seats) = other
        .get(&format!("/api/v1/schedules/{schedule_1}/seats"))
        .await;
    assert_eq!(seats[0]["available"], true);
    assert_eq!(
        other.wait_active().await["token"].as_str(),
        Some(other_token.as_str())
    );
    app.app.stop().await.expect("clean stop");
}

async fn smuggled_fields_are_refused_and_store_nothing(store: &Store) {
    // Arrange
    let app = TestApp::spawn(store, |_| {}).await;
    let (concert_id, schedule_id, seats) = app.concert_with_seats(&[50_000, 50_000]).await;
    let (user, token) = admitted(&app, 9, concert_id).await;
    let user_jwt = jwt(&app, 9);
    let (_, held) = user.hold(schedule_id, &[seats[1]]).await;
    let res_id = held["reservationId"].as_str().expect("id").to_owned();
    let hold_bodies = [
        json!({"scheduleId": schedule_id, "seatIds": [seats[0]], "price": 1}),
        json!({"scheduleId": schedule_id, "seatIds": [seats[0]], "totalPrice": 0}),
        json!({"scheduleId": schedule_id, "seatIds": [seats[0]], "userId": 1}),
        json!({"scheduleId": schedule_id, "seatIds": [seats[0]], "status": "CONFIRMED"}),
        json!({"scheduleId": schedule_id, "seatIds": [seats[0]], "heldUntil": "2999-01-01T00:00:00Z"}),
        json!({"scheduleId": schedule_id, "seatIds": [{"seatId": seats[0], "price": 1}]}),
        json!({"scheduleId": schedule_id, "seat_ids": [seats[0]]}),
    ];
    let charge_bodies = [
        json!({"amount": 1000, "balance": 100_000_000}),
        json!({"amount": 1000, "userId": 1}),
        json!({"amount": 1000, "status": "DONE"}),
        json!({"amount": 1000, "totalPrice": 5}),
        json!({"amount": 1000, "price": 5}),
    ];
    let pay_bodies = [
        json!({"reservationId": res_id, "amount": 1}),
        json!({"reservationId": res_id, "totalPrice": 1}),
        json!({"reservationId": res_id, "price": 1}),
        json!({"reservationId": res_id, "userId": 1}),
        json!({"reservationId": res_id, "status": "CONFIRMED"}),
        json!({"reservationId": res_id, "balance": 999_999}),
    ];
    let admin_bodies = [
        (
            "/api/v1/admin/concerts",
            Method::POST,
            json!({"title": "T", "venue": "V", "id": 99}),
        ),
        (
            "/api/v1/admin/concerts/1/queue",
            Method::PATCH,
            json!({"paused": true, "waiting": 0}),
        ),
        // A NUL cannot be stored by PostgreSQL: refused up front on both stores (found by
        // scripts/fuzz-api --postgres, where it was a 500).
        (
            "/api/v1/admin/concerts",
            Method::POST,
            json!({"title": "A\u{0}B", "venue": "V"}),
        ),
    ];
    user.charge(200_000).await;

    // Act + Assert
    let as_user = |method: Method, path: &str| {
        Raw::new(&app, method, path)
            .bearer(&user_jwt)
            .header("Queue-Token", token.clone())
    };
    for (i, body) in hold_bodies.iter().enumerate() {
        let answer = as_user(Method::POST, "/api/v1/reservations")
            .json(body)
            .send()
            .await;
        assert_problem(
            &answer,
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
            &format!("hold #{i} {body}"),
        );
    }
    for (i, body) in charge_bodies.iter().enumerate() {
        let answer = as_user(Method::POST, "/api/v1/wallet/charges")
            .header("Idempotency-Key", format!("smuggle-charge-{i}"))
            .json(body)
            .send()
            .await;
        assert_problem(
            &answer,
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
            &format!("charge #{i} {body}"),
        );
    }
    for (i, body) in pay_bodies.iter().enumerate() {
        let answer = as_user(Method::POST, "/api/v1/payments")
            .header("Idempotency-Key", format!("smuggle-pay-{i}"))
            .json(body)
            .send()
            .await;
        assert_problem(
            &answer,
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
            &format!("pay #{i} {body}"),
        );
    }
    for (path, method, body) in &admin_bodies {
        let answer = Raw::new(&app, method.clone(), *path)
            .bearer(ADMIN_KEY)
            .json(body)
            .send()
            .await;
        assert_problem(
            &answer,
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
            &format!("{method} {path} {body}"),
        );
    }

    // Assert: nothing stored — one reservation (still HELD), one ledger entry, same balance,
    // the refused keys are still free, no concert was created and the queue is not paused.
    let (_, list) = user.get("/api/v1/reservations").await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(list["items"][0]["status"], "HELD");
    let (_, ledger) = user.get("/api/v1/wallet/transactions").await;
    assert_eq!(ledger["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(user.balance().await, 200_000);
    let (_, seat_view) = user
        .get(&format!("/api/v1/schedules/{schedule_id}/seats"))
        .await;
    assert_eq!(seat_view[0]["available"], true);
    let (status, _) = user
        .send(
            Method::POST,
            "/api/v1/wallet/charges",
            Some(json!({"amount": 1})),
            Some("smuggle-charge-0"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "a refused key stored nothing");
    let (_, concerts) = user.get("/api/v1/concerts").await;
    assert_eq!(concerts.as_array().map(Vec::len), Some(1));
    let (_, stats) = app
        .admin(
            Method::GET,
            &format!("/api/v1/admin/concerts/{concert_id}/queue"),
            None,
        )
        .await;
    assert_eq!(stats["paused"], false);
    app.app.stop().await.expect("clean stop");
}

async fn limits_are_enforced(store: &Store) {
    // Arrange: a small balance ceiling so that it can be reached in two charges.
    let app = TestApp::spawn(store, |c| {
        c.charge_max = 1_000_000;
        c.balance_max = 1_500_000;
    })
    .await;
    let (concert_id, schedule_id, seats) = app.concert_with_seats(&[1000; 6]).await;
    let (user, token) = admitted(&app, 11, concert_id).await;
    let user_jwt = jwt(&app, 11);
    let as_user = |method: Method, path: &str| {
        Raw::new(&app, method, path)
            .bearer(&user_jwt)
            .header("Queue-Token", token.clone())
    };
    let big = format!(
        "{{\"amount\": 1, \"pad\": \"{}\"}}",
        "x".repeat(64 * 1024 + 1)
    );
    let big_hold = format!(
        "{{\"scheduleId\": {schedule_id}, \"seatIds\": [{}1]}}",
        "1, ".repeat(30_000)
    );

    // Act + Assert: bodies over 64 KiB are 413.
    for (case, path, body) in [
        ("big charge", "/api/v1/wallet/charges", big.clone()),
        ("big hold", "/api/v1/reservations", big_hold),
        ("big payment", "/api/v1/payments", big),
    ] {
        let answer = as_user(Method::POST, path)
            .header("Idempotency-Key", "big")
            .body_bytes("application/json", body.into_bytes())
            .send()
            .await;
        assert_problem(
            &answer,
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            case,
        );
    }

    // Seat lists: too many, none, repeated, non-positive, not numbers.
    for seat_ids in [
        json!(seats[..5]),
        json!([]),
        json!([seats[0], seats[0]]),
        json!([0]),
        json!([-1]),
        json!(["1"]),
        json!([1.5]),
        json!(null),
        json!([9_223_372_036_854_775_808_u64]),
    ] {
        let answer = as_user(Method::POST, "/api/v1/reservations")
            .json(&json!({"scheduleId": schedule_id, "seatIds": seat_ids}))
            .send()
            .await;
        assert_problem(
            &answer,
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
            &format!("seats {seat_ids}"),
        );
    }

    // Charge amounts out of range or not integers.
    let amounts = [
        "0",
        "-1",
        "-9223372036854775808",
        "1000001",
        "1.5",
        "1e3",
        "\"1000\"",
        "null",
        "true",
        "99999999999999999999999999",
        "9223372036854775807",
    ];
    for (i, amount) in amounts.iter().enumerate() {
        let answer = as_user(Method::POST, "/api/v1/wallet/charges")
            .header("Idempotency-Key", format!("amount-{i}"))
            .body_bytes(
                "application/json",
                format!("{{\"amount\": {amount}}}").into_bytes(),
            )
            .send()
            .await;
        assert_problem(
            &answer,
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
            &format!("amount {amount}"),
        );
    }

    // The balance ceiling: 1 000 000 fits, 600 000 more does not.
    let (status, _) = user.charge(1_000_000).await;
    assert_eq!(status, StatusCode::CREATED);
    let answer = as_user(Method::POST, "/api/v1/wallet/charges")
        .header("Idempotency-Key", "over-the-top")
        .json(&json!({"amount": 600_000}))
        .send()
        .await;
    assert_problem(
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "BALANCE_LIMIT_EXCEEDED",
        "balance over the maximum",
    );

    // Page sizes and cursors.
    let mut page_cases = 0;
    for list in ["/api/v1/reservations", "/api/v1/wallet/transactions"] {
        for query in [
            "limit=0",
            "limit=101",
            "limit=abc",
            "limit=-1",
            "limit=1.5",
            "limit=99999999999",
            "cursor=not-a-cursor",
            "cursor=%00%01",
            "cursor=MjAyNS0wMS0wMVQwMDowMDowMFp8eA",
            "limit=5&cursor=",
        ] {
            let answer = as_user(Method::GET, &format!("{list}?{query}"))
                .send()
                .await;
            assert_problem(
                &answer,
                StatusCode::BAD_REQUEST,
                "VALIDATION_FAILED",
                &format!("{list}?{query}"),
            );
            page_cases += 1;
        }
    }

    // Assert: only the one good charge moved money; nothing was held.
    assert_eq!(page_cases, 20);
    assert_eq!(user.balance().await, 1_000_000);
    let (_, ledger) = user.get("/api/v1/wallet/transactions").await;
    assert_eq!(ledger["items"].as_array().map(Vec::len), Some(1));
    let (_, list) = user.get("/api/v1/reservations?limit=100").await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0));
    app.app.stop().await.expect("clean stop");
}

async fn queue_joins_are_rate_limited_per_user(store: &Store) {
    // Arrange: three joins per user per minute.
    let app = TestApp::spawn(store, |c| {
        c.queue_join_rate_limit = 3;
        c.queue_join_rate_window_secs = 60;
    })
    .await;
    let (concert_id, _, _) = app.concert_with_seats(&[1000]).await;
    let mut greedy = app.user(21);
    let mut patient = app.user(22);

    // Act
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(greedy.join(concert_id).await.0);
    }
    let limited = Raw::new(
        &app,
        Method::POST,
        format!("/api/v1/concerts/{concert_id}/queue-tokens"),
    )
    .bearer(&jwt(&app, 21))
    .send()
    .await;
    let (patient_status, _) = patient.join(concert_id).await;

    // Assert
    assert_eq!(
        statuses,
        vec![StatusCode::CREATED, StatusCode::OK, StatusCode::OK]
    );
    assert_problem(
        &limited,
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
        "fourth join",
    );
    let retry_after: u64 = limited
        .headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a numeric Retry-After");
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(
        patient_status,
        StatusCode::CREATED,
        "other users unaffected"
    );
    // The limited user still has its place: polling needs no join.
    assert_eq!(greedy.wait_active().await["status"], "ACTIVE");
    app.app.stop().await.expect("clean stop");
}

async fn protocol_abuse_is_refused(store: &Store) {
    // Arrange
    let app = TestApp::spawn(store, |_| {}).await;
    let (concert_id, schedule_id, seats) = app.concert_with_seats(&[1000]).await;
    let (user, token) = admitted(&app, 31, concert_id).await;
    let user_jwt = jwt(&app, 31);
    let as_user = |method: Method, path: &str| {
        Raw::new(&app, method, path)
            .bearer(&user_jwt)
            .header("Queue-Token", token.clone())
            .header("Idempotency-Key", "protocol")
    };
    let hold = json!({"scheduleId": schedule_id, "seatIds": [seats[0]]}).to_string();

    // Act + Assert: bodies that are not application/json are 415.
    for (case, path, content_type) in [
        ("text/plain charge", "/api/v1/wallet/charges", "text/plain"),
        (
            "form hold",
            "/api/v1/reservations",
            "application/x-www-form-urlencoded",
        ),
        ("xml payment", "/api/v1/payments", "application/xml"),
        ("garbage media type", "/api/v1/reservations", "nonsense"),
    ] {
        let answer = as_user(Method::POST, path)
            .body_bytes(content_type, hold.clone().into_bytes())
            .send()
            .await;
        assert_problem(
            &answer,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            case,
        );
    }
    let answer = Raw::new(&app, Method::POST, "/api/v1/admin/concerts")
        .bearer(ADMIN_KEY)
        .body_bytes("text/plain", b"{\"title\":\"T\",\"venue\":\"V\"}".to_vec())
        .send()
        .await;
    assert_problem(
        &answer,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
        "admin text/plain",
    );

    // Malformed JSON is 400.
    for (i, body) in ["{", "[]", "\"amount\"", "{\"amount\": 1,}", "\u{0}"]
        .iter()
        .enumerate()
    {
        let answer = as_user(Method::POST, "/api/v1/wallet/charges")
            .header("Idempotency-Key", format!("malformed-{i}"))
            .body_bytes("application/json", body.as_bytes().to_vec())
            .send()
            .await;
        assert_problem(
            &answer,
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
            &format!("body {body:?}"),
        );
    }

    // Known paths with other methods are 405; unknown paths and ids are 404.
    for (method, path) in [
        (Method::PUT, "/api/v1/wallet".to_owned()),
        (Method::DELETE, "/api/v1/concerts".to_owned()),
        (Method::PATCH, "/api/v1/reservations".to_owned()),
        (Method::GET, "/api/v1/wallet/charges".to_owned()),
        (Method::GET, "/api/v1/payments".to_owned()),
        (Method::PUT, "/api/v1/queue-tokens/current".to_owned()),
        (
            Method::POST,
            format!("/api/v1/reservations/{}", uuid::Uuid::new_v4()),
        ),
        (Method::DELETE, "/api/v1/admin/concerts/1/queue".to_owned()),
    ] {
        let answer = as_user(method.clone(), &path).send().await;
        assert_problem(
            &answer,
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            &format!("{method} {path}"),
        );
    }
    for path in [
        "/api/v1/nope",
        "/api/v1/reservations/not-a-uuid",
        "/api/v1/reservations/00000000-0000-0000-0000-000000000000",
        "/api/v1/concerts/-1/schedules",
        "/api/v1/concerts/abc/schedules",
        "/api/v1/schedules/99999999999999999999/seats",
        "/api/v1/schedules/0/seats",
    ] {
        let answer = as_user(Method::GET, path).send().await;
        assert_problem(&answer, StatusCode::NOT_FOUND, "NOT_FOUND", path);
    }

    // Operator endpoints without the key or with a wrong one are 401 with a Bearer challenge;
    // with a user JWT (a known caller, not an operator) 403.
    let admin_calls = [
        (
            Method::POST,
            "/api/v1/admin/concerts".to_owned(),
            Some(json!({"title": "T", "venue": "V"})),
        ),
        (
            Method::POST,
            format!("/api/v1/admin/concerts/{concert_id}/schedules"),
            Some(json!({"startsAt": "2999-01-01T00:00:00Z",
                "seats": [{"number": "Z", "grade": "R", "price": 1}]})),
        ),
        (
            Method::GET,
            format!("/api/v1/admin/concerts/{concert_id}/queue"),
            None,
        ),
        (
            Method::PATCH,
            format!("/api/v1/admin/concerts/{concert_id}/queue"),
            Some(json!({"paused": true})),
        ),
    ];
    let wrong_keys = [
        (None, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
        (
            Some(String::new()),
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
        ),
        (
            Some(format!("{ADMIN_KEY}x")),
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
        ),
        (
            Some(ADMIN_KEY[..ADMIN_KEY.len() - 1].to_owned()),
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
        ),
        (Some(user_jwt.clone()), StatusCode::FORBIDDEN, "FORBIDDEN"),
    ];
    let mut forbidden = 0;
    for (key, status, code) in &wrong_keys {
        for (method, path, body) in &admin_calls {
            let mut req = Raw::new(&app, method.clone(), path.clone());
            if let Some(key) = key {
                req = req.header("Authorization", format!("Bearer {key}"));
            }
            if let Some(body) = body {
                req = req.json(body);
            }
            let answer = req.send().await;
            let case = format!("key {key:?} on {method} {path}");
            assert_problem(&answer, *status, code, &case);
            let challenge = answer
                .headers
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok());
            let expected = (*status == StatusCode::UNAUTHORIZED).then_some("Bearer");
            assert_eq!(challenge, expected, "{case}");
            forbidden += 1;
        }
    }

    // Assert: nothing was held, charged, created or paused.
    assert_eq!(forbidden, 20);
    let (_, seat_view) = user
        .get(&format!("/api/v1/schedules/{schedule_id}/seats"))
        .await;
    assert_eq!(seat_view[0]["available"], true);
    assert_eq!(user.balance().await, 0);
    let (_, concerts) = user.get("/api/v1/concerts").await;
    assert_eq!(concerts.as_array().map(Vec::len), Some(1));
    let (_, stats) = app
        .admin(
            Method::GET,
            &format!("/api/v1/admin/concerts/{concert_id}/queue"),
            None,
        )
        .await;
    assert_eq!(stats["paused"], false);
    app.app.stop().await.expect("clean stop");
}

crate::on_both_stores!(
    another_users_ids_and_tokens_are_refused_and_change_nothing,
    tampered_jwts_are_unauthenticated,
    foreign_and_malformed_queue_tokens_are_refused,
    smuggled_fields_are_refused_and_store_nothing,
    limits_are_enforced,
    queue_joins_are_rate_limited_per_user,
    protocol_abuse_is_refused,
);

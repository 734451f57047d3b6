//! Hardening of issue 10: seat prices are bounded when a schedule is created (items 7), and the
//! JWT and start-up rules (item 10), through HTTP against the whole running service.

use crate::common::{Store, TestApp, JWT_SECRET};
use app::{spawn_app, Config, Secret};
use domain::{UserId, SEAT_PRICE_MAX};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The schedules an admitted user sees for `concert_id`.
async fn schedules_of(app: &TestApp, concert_id: i64) -> Vec<Value> {
    let mut user = app.user(1);
    user.enter(concert_id).await;
    let (status, body) = user
        .get(&format!("/api/v1/concerts/{concert_id}/schedules"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().cloned().expect("a list of schedules")
}

/// A schedule a week ahead whose second seat costs `price`.
fn schedule_with_price(price: i64) -> Value {
    let starts_at = (chrono::Utc::now() + chrono::Duration::days(7)).to_rfc3339();
    json!({"startsAt": starts_at, "seats": [
        {"number": "A-1", "grade": "R", "price": 1000},
        {"number": "A-2", "grade": "VIP", "price": price},
    ]})
}

async fn a_seat_price_above_the_bound_is_refused_and_creates_nothing(store: &Store) {
    // Arrange
    let app = TestApp::spawn(store, |_| {}).await;
    let (status, concert) = app
        .admin(
            Method::POST,
            "/api/v1/admin/concerts",
            Some(json!({"title": "Priced", "venue": "Hall"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{concert}");
    let concert_id = concert["id"].as_i64().expect("concert id");
    let path = format!("/api/v1/admin/concerts/{concert_id}/schedules");

    // Act
    let (over_status, over) = app
        .admin(
            Method::POST,
            &path,
            Some(schedule_with_price(SEAT_PRICE_MAX.won() + 1)),
        )
        .await;
    let (far_status, far) = app
        .admin(Method::POST, &path, Some(schedule_with_price(i64::MAX)))
        .await;
    let after_refusals = schedules_of(&app, concert_id).await;
    let (at_status, at) = app
        .admin(
            Method::POST,
            &path,
            Some(schedule_with_price(SEAT_PRICE_MAX.won())),
        )
        .await;

    // Assert
    for (status, body) in [(over_status, &over), (far_status, &far)] {
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["code"], "VALIDATION_FAILED", "{body}");
        assert_eq!(body["status"], 400, "{body}");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("A-2") && detail.contains(&SEAT_PRICE_MAX.won().to_string()),
            "{body}"
        );
    }
    assert!(after_refusals.is_empty(), "{after_refusals:?}");
    assert_eq!(
        at_status,
        StatusCode::CREATED,
        "the bound itself is allowed: {at}"
    );
    assert_eq!(schedules_of(&app, concert_id).await.len(), 1);
    if let Store::Postgres(url) = store {
        the_database_refuses_a_price_above_the_bound(url, &at).await;
    }
}

/// The schema's CHECK backs the domain's bound, at the same value.
async fn the_database_refuses_a_price_above_the_bound(url: &str, schedule: &Value) {
    use diesel::sql_types::BigInt;
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let schedule_id = schedule["scheduleId"].as_i64().expect("schedule id");
    let mut conn = AsyncPgConnection::establish(url).await.expect("connect");
    let insert = |number: &'static str, price: i64| {
        diesel::sql_query(
            "INSERT INTO seats (schedule_id, number, grade, price) VALUES ($1, $2, 'R', $3)",
        )
        .bind::<BigInt, _>(schedule_id)
        .bind::<diesel::sql_types::Text, _>(number)
        .bind::<BigInt, _>(price)
    };
    let over = insert("DB-1", SEAT_PRICE_MAX.won() + 1)
        .execute(&mut conn)
        .await;
    let at = insert("DB-2", SEAT_PRICE_MAX.won())
        .execute(&mut conn)
        .await;
    let error = over.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        error.contains("seats_price_max"),
        "refused by the CHECK: {error}"
    );
    assert_eq!(at.ok(), Some(1), "the bound itself is allowed");
}

crate::on_both_stores!(a_seat_price_above_the_bound_is_refused_and_creates_nothing);

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn sign(claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("encode a JWT")
}

/// The status of `GET /api/v1/wallet` with `token`.
async fn wallet_status(app: &TestApp, token: &str) -> (StatusCode, Value) {
    let resp = app
        .http
        .get(format!("{}/api/v1/wallet", app.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_issuer_audience_and_not_before_are_checked() {
    // Arrange
    let app = TestApp::spawn(&Store::Memory, |c| {
        c.jwt_issuer = Some("https://id.example".into());
        c.jwt_audience = Some("concerts".into());
    })
    .await;
    let claims = |extra: Value| {
        let mut c = json!({"sub": "4", "exp": now() + 600});
        if let (Some(c), Some(e)) = (c.as_object_mut(), extra.as_object()) {
            c.extend(e.clone());
        }
        c
    };
    let user = UserId::new(4).expect("id");
    let refused = [
        (
            "no iss or aud",
            adapters_http::mint_user_jwt(JWT_SECRET, user, Duration::from_secs(600)),
        ),
        (
            "other issuer",
            sign(&claims(
                json!({"iss": "https://evil.example", "aud": "concerts"}),
            )),
        ),
        (
            "other audience",
            sign(&claims(
                json!({"iss": "https://id.example", "aud": "billing"}),
            )),
        ),
        (
            "not yet valid",
            sign(&claims(
                json!({"iss": "https://id.example", "aud": "concerts", "nbf": now() + 120}),
            )),
        ),
    ];
    let accepted = [
        (
            "minted by the service",
            app.app
                .mint_token(4, Duration::from_secs(600))
                .expect("jwt"),
        ),
        (
            "already valid",
            sign(&claims(
                json!({"iss": "https://id.example", "aud": "concerts", "nbf": now() - 60}),
            )),
        ),
    ];

    // Act
    let mut answers = Vec::new();
    for (case, token) in refused.iter().chain(&accepted) {
        answers.push((*case, wallet_status(&app, token).await));
    }

    // Assert
    let (refusals, acceptances) = answers.split_at(refused.len());
    for (case, (status, body)) in refusals {
        assert_eq!(status, &StatusCode::UNAUTHORIZED, "{case}: {body}");
        assert_eq!(body["code"], "UNAUTHENTICATED", "{case}: {body}");
    }
    for (case, (status, body)) in acceptances {
        assert_eq!(status, &StatusCode::OK, "{case}: {body}");
        assert_eq!(body["userId"], 4, "{case}: {body}");
    }
}

#[tokio::test]
async fn demo_secrets_on_a_public_address_and_short_secrets_with_a_database_do_not_start() {
    // Arrange
    let public = Config {
        bind_addr: "0.0.0.0:0".to_owned(),
        ..Config::for_tests()
    };
    let short_secret = Config {
        database_url: Some(Secret::new("postgres://nobody@127.0.0.1:1/none")),
        jwt_secret: Some(Secret::new("only-31-bytes-of-secret-xxxxxxx")),
        admin_api_key: Some(Secret::new("a-real-key")),
        ..Config::for_tests()
    };

    // Act
    let public_err = spawn_app(public.clone()).await.err();
    let short_err = spawn_app(short_secret).await.err();
    let explicit = spawn_app(Config {
        jwt_secret: Some(Secret::new("my-own-secret")),
        admin_api_key: Some(Secret::new("my-own-key")),
        ..public
    })
    .await;

    // Assert
    let public_err = public_err.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        public_err.starts_with("JWT_SECRET must be set to a secret of your own"),
        "{public_err}"
    );
    let short_err = short_err.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        short_err.contains("JWT_SECRET: must be at least 32 bytes"),
        "{short_err}"
    );
    let running = explicit.expect("explicit secrets start on any address");
    running.stop().await.expect("stops");
}

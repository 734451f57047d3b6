//! CORS through the whole service: a page on another origin can read the mock server's answers,
//! errors included; with a database no origin is allowed until the operator lists some; a
//! malformed origin stops the service at start-up.

use crate::common::{Store, TestApp, JWT_SECRET};
use app::{spawn_app, Config, Secret};
use reqwest::{Method, StatusCode};
use std::time::Duration;

const PAGE: &str = "http://localhost:5173";

fn header(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

impl TestApp {
    /// A preflight from [`PAGE`] for a queue join with the contract's headers.
    async fn preflight_join(&self) -> reqwest::Response {
        self.http
            .request(
                Method::OPTIONS,
                format!("{}/api/v1/concerts/1/queue-tokens", self.base),
            )
            .header("Origin", PAGE)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization,queue-token,idempotency-key,content-type",
            )
            .send()
            .await
            .expect("preflight")
    }

    /// A queue join by `user` from a page on [`PAGE`].
    async fn join_from_page(&self, user: i64, concert_id: i64) -> reqwest::Response {
        let jwt = self
            .app
            .mint_token(user, Duration::from_secs(600))
            .expect("jwt");
        self.http
            .post(format!(
                "{}/api/v1/concerts/{concert_id}/queue-tokens",
                self.base
            ))
            .header("Origin", PAGE)
            .bearer_auth(jwt)
            .send()
            .await
            .expect("join")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mock_server_lets_any_page_read_its_answers_and_its_rate_limit() {
    // Arrange: one join per user per minute.
    let app = TestApp::spawn(&Store::Memory, |c| {
        c.queue_join_rate_limit = 1;
        c.queue_join_rate_window_secs = 60;
    })
    .await;
    let (concert_id, _, _) = app.concert_with_seats(&[1000]).await;

    // Act
    let preflight = app.preflight_join().await;
    let joined = app.join_from_page(5, concert_id).await;
    let limited = app.join_from_page(5, concert_id).await;

    // Assert
    assert_eq!(preflight.status(), StatusCode::OK);
    assert_eq!(
        header(&preflight, "access-control-allow-origin").as_deref(),
        Some("*")
    );
    assert_eq!(joined.status(), StatusCode::CREATED);
    assert_eq!(
        header(&joined, "access-control-allow-origin").as_deref(),
        Some("*")
    );
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        header(&limited, "access-control-allow-origin").as_deref(),
        Some("*")
    );
    let exposed = header(&limited, "access-control-expose-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(exposed.contains("retry-after"), "{exposed}");
    assert!(header(&limited, "retry-after").is_some());
    assert_eq!(
        header(&limited, "content-type").as_deref(),
        Some("application/problem+json")
    );
    app.app.stop().await.expect("clean stop");
}

/// With no origin allowed: the preflight is refused, answers carry no CORS header.
async fn assert_no_origin_allowed(app: &TestApp) {
    // Act
    let preflight = app.preflight_join().await;
    let answer = app
        .http
        .get(format!("{}/api/v1/concerts", app.base))
        .header("Origin", PAGE)
        .send()
        .await
        .expect("request");

    // Assert
    assert_eq!(preflight.status(), StatusCode::BAD_REQUEST);
    assert!(header(&preflight, "access-control-allow-origin").is_none());
    assert_eq!(answer.status(), StatusCode::OK);
    assert!(header(&answer, "access-control-allow-origin").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_database_no_origin_is_allowed_by_default() {
    // Arrange
    let Some(store) = Store::postgres().await else {
        return;
    };
    let app = TestApp::spawn(&store, |_| {}).await;

    // Act + Assert
    assert_no_origin_allowed(&app).await;
    app.app.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_database_the_listed_origins_are_allowed() {
    // Arrange
    let Some(store) = Store::postgres().await else {
        return;
    };
    let app = TestApp::spawn(&store, |c| {
        c.cors_allowed_origins = Some(format!("https://app.example.com,{PAGE}"));
    })
    .await;

    // Act
    let preflight = app.preflight_join().await;

    // Assert
    assert_eq!(preflight.status(), StatusCode::OK);
    assert_eq!(
        header(&preflight, "access-control-allow-origin").as_deref(),
        Some(PAGE)
    );
    app.app.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mock_server_can_allow_no_origin() {
    // Arrange
    let app = TestApp::spawn(&Store::Memory, |c| {
        c.cors_allowed_origins = Some(String::new());
    })
    .await;

    // Act + Assert
    assert_no_origin_allowed(&app).await;
    app.app.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_origin_stops_the_service_at_start_up() {
    // Arrange
    let config = Config {
        jwt_secret: Some(Secret::new(JWT_SECRET)),
        cors_allowed_origins: Some("http://localhost:5173/app".to_owned()),
        ..Config::for_tests()
    };

    // Act
    let started = spawn_app(config).await;

    // Assert
    let message = started.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.starts_with("invalid setting CORS_ALLOWED_ORIGINS: "),
        "{message}"
    );
}

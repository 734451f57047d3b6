//! What a front-end needs from the mock server: the demo sign-in (on in in-memory mode, off with
//! a database unless the operator turns it on).

use crate::common::{read, Store, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

const SIGN_IN: &str = "/api/v1/demo/sign-in";

impl TestApp {
    /// POSTs `body` to the demo sign-in.
    async fn demo_sign_in(&self, body: &Value) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(format!("{}{SIGN_IN}", self.base))
            .json(body)
            .send()
            .await
            .expect("sign-in request");
        read(resp).await
    }

    /// Reads the served OpenAPI document.
    async fn openapi(&self) -> Value {
        let resp = self
            .http
            .get(format!("{}/api-docs/openapi.json", self.base))
            .send()
            .await
            .expect("document request");
        let (status, doc) = read(resp).await;
        assert_eq!(status, StatusCode::OK);
        doc
    }

    /// `GET /api/v1/wallet` with `token`.
    async fn wallet_with(&self, token: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .get(format!("{}/api/v1/wallet", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("wallet request");
        read(resp).await
    }
}

/// Signs user `id` in and checks the answer and that the API accepts its token.
async fn assert_sign_in_works(app: &TestApp, id: i64) {
    // Act
    let before = chrono::Utc::now();
    let (status, body) = app.demo_sign_in(&json!({"userId": id})).await;
    let after = chrono::Utc::now();

    // Assert
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["tokenType"], "Bearer");
    assert_eq!(body["userId"], id);
    let expires_at = body["expiresAt"]
        .as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .expect("RFC 3339 expiresAt");
    let twelve_hours = chrono::Duration::hours(12);
    assert!(
        expires_at >= before + twelve_hours - chrono::Duration::seconds(1)
            && expires_at <= after + twelve_hours,
        "{expires_at} is not 12 h after {before}"
    );
    let token = body["accessToken"].as_str().expect("accessToken");
    let (status, wallet) = app.wallet_with(token).await;
    assert_eq!(status, StatusCode::OK, "{wallet}");
    assert_eq!(wallet["userId"], id);
}

/// Checks that the sign-in path is unknown and undocumented.
async fn assert_sign_in_absent(app: &TestApp) {
    // Act
    let (status, body) = app.demo_sign_in(&json!({"userId": 1})).await;
    let doc = app.openapi().await;

    // Assert
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("NOT_FOUND")),
        "{body}"
    );
    assert!(doc["paths"].get(SIGN_IN).is_none(), "documented while off");
    assert!(
        doc["paths"]["/api/v1/wallet"].is_object(),
        "the rest is there"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_mode_signs_any_user_in_with_a_token_the_api_accepts() {
    // Arrange: issuer and audience configured, so the token must name them to be accepted.
    let app = TestApp::spawn(&Store::Memory, |c| {
        c.jwt_issuer = Some("https://id.example".into());
        c.jwt_audience = Some("concerts".into());
    })
    .await;

    // Act + Assert
    assert_sign_in_works(&app, 42).await;
    let doc = app.openapi().await;
    assert_eq!(doc["paths"][SIGN_IN]["post"]["operationId"], "demoSignIn");
    app.app.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_sign_in_refuses_bad_bodies() {
    // Arrange
    let app = TestApp::spawn(&Store::Memory, |_| {}).await;
    let bodies = [
        json!({"userId": 0}),
        json!({"userId": -3}),
        json!({}),
        json!({"userId": "1"}),
        json!({"userId": 1.5}),
        json!({"userId": 1, "admin": true}),
        json!("1"),
    ];

    for body in bodies {
        // Act
        let (status, problem) = app.demo_sign_in(&body).await;

        // Assert
        assert_eq!(
            (status, problem["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("VALIDATION_FAILED")),
            "{body}: {problem}"
        );
    }
    app.app.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_mode_can_turn_the_demo_sign_in_off() {
    // Arrange
    let app = TestApp::spawn(&Store::Memory, |c| c.demo_sign_in = Some(false)).await;

    // Act + Assert
    assert_sign_in_absent(&app).await;
    app.app.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_database_there_is_no_demo_sign_in_by_default() {
    // Arrange
    let Some(store) = Store::postgres().await else {
        return;
    };
    let app = TestApp::spawn(&store, |_| {}).await;

    // Act + Assert
    assert_sign_in_absent(&app).await;
    app.app.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_database_the_operator_may_turn_the_demo_sign_in_on() {
    // Arrange
    let Some(store) = Store::postgres().await else {
        return;
    };
    let app = TestApp::spawn(&store, |c| c.demo_sign_in = Some(true)).await;

    // Act + Assert
    assert_sign_in_works(&app, 7).await;
    app.app.stop().await.expect("clean stop");
}

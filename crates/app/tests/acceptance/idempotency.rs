//! 6. One charge replayed 20 times under one Idempotency-Key moves money once and answers the
//!    same each time; another body under that key is IDEMPOTENCY_KEY_REUSED.

use crate::common::{Store, TestApp};
use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn a_replayed_charge_moves_money_once(store: &Store) {
    // Arrange
    let app = TestApp::spawn(store, |_| {}).await;
    let user = app.user(42);
    let body = json!({"amount": 12_345});

    // Act: the first request, then 20 replays.
    let first = user
        .send(
            Method::POST,
            "/api/v1/wallet/charges",
            Some(body.clone()),
            Some("charge-key-1"),
        )
        .await;
    let mut replays = Vec::new();
    for _ in 0..20 {
        replays.push(
            user.send(
                Method::POST,
                "/api/v1/wallet/charges",
                Some(body.clone()),
                Some("charge-key-1"),
            )
            .await,
        );
    }
    let reused = user
        .send(
            Method::POST,
            "/api/v1/wallet/charges",
            Some(json!({"amount": 1})),
            Some("charge-key-1"),
        )
        .await;

    // Assert
    assert_eq!(first.0, StatusCode::CREATED, "{}", first.1);
    assert!(
        replays.iter().all(|r| *r == first),
        "every replay answers the first answer"
    );
    assert_eq!(
        (reused.0, reused.1["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("IDEMPOTENCY_KEY_REUSED")
        )
    );
    assert_eq!(user.balance().await, 12_345);
    let (_, ledger) = user.get("/api/v1/wallet/transactions").await;
    assert_eq!(ledger["items"].as_array().map(Vec::len), Some(1));
    app.app.stop().await.expect("clean stop");
}

async fn concurrent_replays_of_one_charge_move_money_once(store: &Store) {
    let app = TestApp::spawn(store, |_| {}).await;
    let user = app.user(43);
    let body = json!({"amount": 500});
    let results = join_all((0..20).map(|_| {
        user.send(
            Method::POST,
            "/api/v1/wallet/charges",
            Some(body.clone()),
            Some("same-key"),
        )
    }))
    .await;
    let created: Vec<_> = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .collect();
    assert!(!created.is_empty());
    assert!(
        created.iter().all(|r| r.1 == created[0].1),
        "every success is the same answer"
    );
    for (status, body) in &results {
        assert!(
            *status == StatusCode::CREATED
                || (*status == StatusCode::CONFLICT && body["code"] == "IDEMPOTENCY_KEY_IN_USE"),
            "{status} {body}"
        );
    }
    assert_eq!(user.balance().await, 500);
    app.app.stop().await.expect("clean stop");
}

async fn a_charge_without_a_key_is_refused(store: &Store) {
    let app = TestApp::spawn(store, |_| {}).await;
    let user = app.user(44);
    let (status, body) = user
        .send(
            Method::POST,
            "/api/v1/wallet/charges",
            Some(json!({"amount": 5})),
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("IDEMPOTENCY_KEY_REQUIRED"))
    );
    let (status, body) = user
        .send(
            Method::POST,
            "/api/v1/wallet/charges",
            Some(json!({"amount": 0})),
            Some("k-invalid"),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("VALIDATION_FAILED"))
    );
    // A request rejected by validation stored nothing: the key is still free.
    let (status, _) = user
        .send(
            Method::POST,
            "/api/v1/wallet/charges",
            Some(json!({"amount": 5})),
            Some("k-invalid"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    app.app.stop().await.expect("clean stop");
}

crate::on_both_stores!(
    a_replayed_charge_moves_money_once,
    concurrent_replays_of_one_charge_move_money_once,
    a_charge_without_a_key_is_refused
);

//! 6. One charge replayed 20 times under one Idempotency-Key moves money once and answers the
//!    same each time; another body under that key is IDEMPOTENCY_KEY_REUSED. Twenty charges or
//!    payments sent at once under one key: one runs, and every other answer says
//!    `Idempotent-Replayed: true`, however it was answered.

use crate::common::{Answer, Store, TestApp};
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

/// The answers to twenty requests sent at once: exactly one ran (no replay marker), nineteen
/// say they are replays, and all carry the same 201 body.
fn assert_one_ran_and_nineteen_replayed(answers: &[Answer]) {
    for answer in answers {
        assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
        assert_eq!(
            answer.body, answers[0].body,
            "every answer is the first one"
        );
    }
    let replayed = answers.iter().filter(|a| a.replayed).count();
    assert_eq!(
        (answers.len() - replayed, replayed),
        (1, 19),
        "one request ran, every other one says it is a replay"
    );
}

async fn concurrent_replays_of_one_charge_move_money_once(store: &Store) {
    // Arrange
    let app = TestApp::spawn(store, |_| {}).await;
    let user = app.user(43);
    let body = json!({"amount": 500});

    // Act: twenty requests under one key at once.
    let answers = join_all(
        (0..20).map(|_| user.send_keyed("/api/v1/wallet/charges", body.clone(), "same-key")),
    )
    .await;

    // Assert
    assert_one_ran_and_nineteen_replayed(&answers);
    assert_eq!(user.balance().await, 500);
    let (_, ledger) = user.get("/api/v1/wallet/transactions").await;
    assert_eq!(ledger["items"].as_array().map(Vec::len), Some(1));
    app.app.stop().await.expect("clean stop");
}

async fn concurrent_replays_of_one_payment_move_money_once(store: &Store) {
    // Arrange: an admitted user with a held seat of 7000 and 10000 won.
    let app = TestApp::spawn(store, |_| {}).await;
    let mut user = app.user(45);
    let (concert_id, schedule_id, seats) = app.concert_with_seats(&[7_000]).await;
    user.enter(concert_id).await;
    let (status, held) = user.hold(schedule_id, &seats).await;
    assert_eq!(status, StatusCode::CREATED, "{held}");
    let (status, charged) = user.charge(10_000).await;
    assert_eq!(status, StatusCode::CREATED, "{charged}");
    let body = json!({"reservationId": held["reservationId"]});

    // Act: twenty requests under one key at once.
    let answers = join_all(
        (0..20).map(|_| user.send_keyed("/api/v1/payments", body.clone(), "same-pay-key")),
    )
    .await;

    // Assert
    assert_one_ran_and_nineteen_replayed(&answers);
    assert_eq!(answers[0].body["balanceAfter"], 3_000);
    assert_eq!(user.balance().await, 3_000);
    let (_, ledger) = user.get("/api/v1/wallet/transactions").await;
    assert_eq!(ledger["items"].as_array().map(Vec::len), Some(2));
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
    concurrent_replays_of_one_payment_move_money_once,
    a_charge_without_a_key_is_refused
);

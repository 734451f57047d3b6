//! Refunds (contract v1.1), through HTTP on both stores: a paid reservation is refunded once
//! (201, replayed with the same body), its seat is holdable at once, the ledger shows a REFUND of
//! +amount, and every refusal carries its code.

use crate::common::{Store, TestApp, UserClient};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn refund_path(reservation: &Value) -> String {
    format!(
        "/api/v1/reservations/{}/refund",
        reservation.as_str().expect("reservation id")
    )
}

/// Holds the seats and pays for them (charging the price first); returns the reservation id.
async fn paid(user: &UserClient, schedule_id: i64, seats: &[i64], price: i64) -> Value {
    let (status, held) = user.hold(schedule_id, seats).await;
    assert_eq!(status, StatusCode::CREATED, "{held}");
    let (status, charged) = user.charge(price).await;
    assert_eq!(status, StatusCode::CREATED, "{charged}");
    let id = held["reservationId"].clone();
    let (status, receipt) = user.pay(id.as_str().expect("id"), "pay-key").await;
    assert_eq!(status, StatusCode::CREATED, "{receipt}");
    id
}

async fn a_refund_credits_once_frees_the_seat_and_replays(store: &Store) {
    // Arrange: user 61 paid 9000 for seat A-1.
    let app = TestApp::spawn(store, |_| {}).await;
    let mut user = app.user(61);
    let (concert_id, schedule_id, seats) = app.concert_with_seats(&[9_000, 4_000]).await;
    user.enter(concert_id).await;
    let reservation = paid(&user, schedule_id, &seats[..1], 9_000).await;
    let path = refund_path(&reservation);

    // Act
    let first = user.send_keyed(&path, json!({}), "refund-key").await;
    let replay = user.send_keyed(&path, json!({}), "refund-key").await;
    let again = user.send_keyed(&path, json!({}), "refund-key-2").await;

    // Assert: 201 with the receipt; the replay answers the same body and says so.
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert!(!first.replayed);
    assert_eq!(first.body["reservationId"], reservation);
    assert_eq!(first.body["amount"], 9_000);
    assert_eq!(first.body["balanceAfter"], 9_000);
    assert!(first.body["refundId"].is_string());
    assert!(first.body["refundedAt"].is_string());
    assert_eq!(
        (replay.status, &replay.body, replay.replayed),
        (StatusCode::CREATED, &first.body, true)
    );
    assert_eq!(
        (again.status, again.body["code"].as_str()),
        (StatusCode::CONFLICT, Some("RESERVATION_NOT_REFUNDABLE"))
    );
    assert_eq!(user.balance().await, 9_000, "credited once");
    let (_, read) = user
        .get(&format!(
            "/api/v1/reservations/{}",
            reservation.as_str().expect("id")
        ))
        .await;
    assert_eq!(read["status"], "REFUNDED");
    let (_, ledger) = user.get("/api/v1/wallet/transactions").await;
    let newest = &ledger["items"][0];
    assert_eq!(
        (&newest["kind"], &newest["amount"], &newest["balanceAfter"]),
        (&json!("REFUND"), &json!(9_000), &json!(9_000))
    );
    assert_eq!(ledger["items"].as_array().map(Vec::len), Some(3));

    // The seat is holdable right away by someone else.
    let mut other = app.user(62);
    other.enter(concert_id).await;
    let (status, held) = other.hold(schedule_id, &seats[..1]).await;
    assert_eq!(status, StatusCode::CREATED, "{held}");

    // The same key for another reservation is a reuse.
    let reused = user
        .send_keyed(
            &refund_path(&held["reservationId"]),
            json!({}),
            "refund-key",
        )
        .await;
    assert_eq!(
        (reused.status, reused.body["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("IDEMPOTENCY_KEY_REUSED")
        )
    );
    app.app.stop().await.expect("clean stop");
}

async fn refund_refusals_carry_their_codes(store: &Store) {
    // Arrange: user 63 holds one seat (unpaid) and paid another.
    let app = TestApp::spawn(store, |_| {}).await;
    let mut user = app.user(63);
    let (concert_id, schedule_id, seats) = app.concert_with_seats(&[1_000, 2_000]).await;
    user.enter(concert_id).await;
    let (status, held) = user.hold(schedule_id, &seats[1..]).await;
    assert_eq!(status, StatusCode::CREATED, "{held}");
    let reservation = paid(&user, schedule_id, &seats[..1], 1_000).await;
    let stranger = app.user(64);

    // Act
    let no_key = user
        .send(Method::POST, &refund_path(&reservation), None, None)
        .await;
    let theirs = stranger
        .send_keyed(&refund_path(&reservation), json!({}), "k1")
        .await;
    let unknown = user
        .send_keyed(
            &format!("/api/v1/reservations/{}/refund", uuid::Uuid::now_v7()),
            json!({}),
            "k2",
        )
        .await;
    let unpaid = user
        .send_keyed(&refund_path(&held["reservationId"]), json!({}), "k3")
        .await;
    let unpaid_replay = user
        .send_keyed(&refund_path(&held["reservationId"]), json!({}), "k3")
        .await;
    let wrong_method = user
        .send(Method::GET, &refund_path(&reservation), None, None)
        .await;

    // Assert
    assert_eq!(
        (no_key.0, no_key.1["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("IDEMPOTENCY_KEY_REQUIRED"))
    );
    assert_eq!(
        (theirs.status, theirs.body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("NOT_FOUND"))
    );
    assert_eq!(
        (unknown.status, unknown.body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("NOT_FOUND"))
    );
    assert_eq!(
        (unpaid.status, unpaid.body["code"].as_str()),
        (StatusCode::CONFLICT, Some("RESERVATION_NOT_REFUNDABLE"))
    );
    assert_eq!(
        (unpaid_replay.status, &unpaid_replay.body),
        (unpaid.status, &unpaid.body),
        "a stored refusal replays the same"
    );
    assert_eq!(
        (wrong_method.0, wrong_method.1["code"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("METHOD_NOT_ALLOWED"))
    );
    assert_eq!(user.balance().await, 0, "nothing moved");
    app.app.stop().await.expect("clean stop");
}

async fn a_refund_past_the_cutoff_is_refused(store: &Store) {
    // Arrange: refunds close a year before the start; the schedule is a week ahead.
    let app = TestApp::spawn(store, |c| c.refund_cutoff_hours = 8_760).await;
    let mut user = app.user(65);
    let (concert_id, schedule_id, seats) = app.concert_with_seats(&[3_000]).await;
    user.enter(concert_id).await;
    let reservation = paid(&user, schedule_id, &seats, 3_000).await;

    // Act
    let late = user
        .send_keyed(&refund_path(&reservation), json!({}), "late")
        .await;

    // Assert
    assert_eq!(
        (late.status, late.body["code"].as_str()),
        (StatusCode::CONFLICT, Some("REFUND_WINDOW_CLOSED"))
    );
    assert_eq!(user.balance().await, 0);
    app.app.stop().await.expect("clean stop");
}

crate::on_both_stores!(
    a_refund_credits_once_frees_the_seat_and_replays,
    refund_refusals_carry_their_codes,
    a_refund_past_the_cutoff_is_refused
);

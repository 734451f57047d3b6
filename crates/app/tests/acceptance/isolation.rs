//! 7. User B gets 404 for A's reservation (read, cancel, pay) and cannot move A's money.

use crate::common::{Store, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn another_users_reservation_is_not_found_and_their_money_is_out_of_reach(store: &Store) {
    // Arrange: A holds a seat and has money; B is admitted too.
    let app = TestApp::spawn(store, |_| {}).await;
    let (concert_id, schedule_id, seats) = app.concert_with_seats(&[30_000, 30_000]).await;
    let mut a = app.user(1);
    let mut b = app.user(2);
    a.enter(concert_id).await;
    b.enter(concert_id).await;
    let (_, held) = a.hold(schedule_id, &[seats[0]]).await;
    let reservation_id = held["reservationId"].as_str().expect("id").to_owned();
    a.charge(100_000).await;
    b.charge(100_000).await;

    // Act + Assert: every way B can reach for A's reservation is a plain 404.
    let path = format!("/api/v1/reservations/{reservation_id}");
    let (status, body) = b.get(&path).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("NOT_FOUND"))
    );
    let (status, _) = b.send(Method::DELETE, &path, None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = b.pay(&reservation_id, "b-pays-a").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = b.get("/api/v1/reservations").await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0));

    // B cannot name A as the wallet owner: the user id comes from the JWT only.
    let (status, body) = b
        .send(
            Method::POST,
            "/api/v1/wallet/charges",
            Some(json!({"amount": 5, "userId": 1})),
            Some("b-k"),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("VALIDATION_FAILED"))
    );

    // A's reservation and money are untouched.
    let (_, mine) = a.get(&path).await;
    assert_eq!(mine["status"], "HELD");
    assert_eq!(a.balance().await, 100_000);
    assert_eq!(b.balance().await, 100_000);
    app.app.stop().await.expect("clean stop");
}

crate::on_both_stores!(another_users_reservation_is_not_found_and_their_money_is_out_of_reach);

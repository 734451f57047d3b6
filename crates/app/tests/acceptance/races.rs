//! 2. 200 concurrent holds of one seat: exactly one wins.
//! 3. A wallet that affords one reservation, 50 concurrent payments of 50 holds: exactly one.

use crate::common::{Store, TestApp, UserClient};
use futures::future::join_all;
use reqwest::StatusCode;

async fn two_hundred_holds_of_one_seat_have_one_winner(store: &Store) {
    // Arrange: 200 users, all admitted.
    let app = TestApp::spawn(store, |_| {}).await;
    let (concert_id, schedule_id, seats) = app.concert_with_seats(&[50_000]).await;
    let mut users: Vec<UserClient> = (1..=200).map(|i| app.user(i)).collect();
    for user in &mut users {
        let (status, body) = user.join(concert_id).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    join_all(users.iter().map(UserClient::wait_active)).await;

    // Act: all at once.
    let one_seat = [seats[0]];
    let results = join_all(users.iter().map(|u| u.hold(schedule_id, &one_seat))).await;

    // Assert
    let won = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    let lost = results
        .iter()
        .filter(|(s, b)| *s == StatusCode::CONFLICT && b["code"] == "SEAT_UNAVAILABLE")
        .count();
    assert_eq!(
        (won, lost),
        (1, 199),
        "{:?}",
        results
            .iter()
            .find(|(s, _)| *s != StatusCode::CREATED && *s != StatusCode::CONFLICT)
    );
    app.app.stop().await.expect("clean stop");
}

async fn fifty_payments_from_a_wallet_that_affords_one_have_one_winner(store: &Store) {
    // Arrange: one user holding 50 seats in 50 reservations, money for exactly one.
    let app = TestApp::spawn(store, |c| c.max_seats_held_per_user = 50).await;
    let prices = vec![10_000; 50];
    let (concert_id, schedule_id, seats) = app.concert_with_seats(&prices).await;
    let mut user = app.user(7);
    user.enter(concert_id).await;
    let mut reservations = Vec::new();
    for seat in &seats {
        let (status, body) = user.hold(schedule_id, &[*seat]).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        reservations.push(body["reservationId"].as_str().expect("id").to_owned());
    }
    let (status, _) = user.charge(10_000).await;
    assert_eq!(status, StatusCode::CREATED);

    // Act
    let results = join_all(reservations.iter().enumerate().map(|(i, r)| {
        let user = user.clone();
        async move { user.pay(r, &format!("pay-{i}")).await }
    }))
    .await;

    // Assert: one 201; the rest refused with a contract code, never a 5xx.
    let paid = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(paid, 1);
    for (status, body) in &results {
        assert!(
            status.is_success() || status.is_client_error(),
            "{status} {body}"
        );
        if !status.is_success() {
            let code = body["code"].as_str().unwrap_or_default();
            assert!(
                ["INSUFFICIENT_BALANCE", "QUEUE_TOKEN_NOT_ACTIVE"].contains(&code),
                "unexpected refusal {status} {body}"
            );
        }
    }
    assert_eq!(user.balance().await, 0);
    let (_, ledger) = user.get("/api/v1/wallet/transactions?limit=100").await;
    let sum: i64 = ledger["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["amount"].as_i64())
        .sum();
    assert_eq!(sum, 0, "the ledger sums to the balance");
    app.app.stop().await.expect("clean stop");
}

crate::on_both_stores!(
    two_hundred_holds_of_one_seat_have_one_winner,
    fifty_payments_from_a_wallet_that_affords_one_have_one_winner
);

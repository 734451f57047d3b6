//! 1. The whole journey: token → queue → ACTIVE → dates → seats → hold → charge → pay → ledger.

use crate::common::{Store, TestApp};
use reqwest::StatusCode;

async fn whole_journey_succeeds_and_the_ledger_shows_it(store: &Store) {
    // Arrange
    let app = TestApp::spawn(store, |_| {}).await;
    let (concert_id, schedule_id, seats) = app.concert_with_seats(&[150_000, 99_000, 99_000]).await;
    let mut user = app.user(1001);

    // Act: the journey, step by step.
    let (status, concerts) = user.get("/api/v1/concerts").await;
    assert_eq!(status, StatusCode::OK);
    assert!(concerts
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["id"] == concert_id)));

    let (status, ticket) = user.join(concert_id).await;
    assert_eq!(status, StatusCode::CREATED, "{ticket}");
    assert_eq!(ticket["status"], "WAITING");
    assert_eq!(ticket["position"], 1);
    let (status, again) = user.join(concert_id).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a second join returns the live token"
    );
    assert_eq!(again["token"], ticket["token"]);

    let active = user.wait_active().await;
    assert!(active["activeUntil"].is_string() && active["position"].is_null());

    let (status, schedules) = user
        .get(&format!("/api/v1/concerts/{concert_id}/schedules"))
        .await;
    assert_eq!(status, StatusCode::OK, "{schedules}");
    assert_eq!(schedules[0]["scheduleId"], schedule_id);
    assert_eq!(schedules[0]["totalSeats"], 3);
    assert_eq!(schedules[0]["availableSeats"], 3);

    let (status, seat_list) = user
        .get(&format!("/api/v1/schedules/{schedule_id}/seats"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seat_list.as_array().map(Vec::len), Some(3));
    assert!(seat_list[0].get("heldBy").is_none() && seat_list[0].get("userId").is_none());

    let (status, held) = user.hold(schedule_id, &[seats[0], seats[1]]).await;
    assert_eq!(status, StatusCode::CREATED, "{held}");
    assert_eq!(held["status"], "HELD");
    assert_eq!(held["totalPrice"], 249_000);
    let reservation_id = held["reservationId"]
        .as_str()
        .expect("reservation id")
        .to_owned();

    let (status, seat_list) = user
        .get(&format!("/api/v1/schedules/{schedule_id}/seats"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seat_list[0]["available"], false);
    assert_eq!(seat_list[2]["available"], true);

    let (status, charged) = user.charge(300_000).await;
    assert_eq!(status, StatusCode::CREATED, "{charged}");
    assert_eq!(charged["balance"], 300_000);

    let (status, paid) = user.pay(&reservation_id, "journey-pay-1").await;
    assert_eq!(status, StatusCode::CREATED, "{paid}");
    assert_eq!(paid["amount"], 249_000);
    assert_eq!(paid["balanceAfter"], 51_000);

    // Assert: the reservation is confirmed, the token is spent, the ledger shows both moves.
    let (status, reservation) = user
        .get(&format!("/api/v1/reservations/{reservation_id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reservation["status"], "CONFIRMED");
    let (_, ticket) = user.get("/api/v1/queue-tokens/current").await;
    assert_eq!(
        ticket["status"], "EXPIRED",
        "paying expires the queue token"
    );
    assert_eq!(user.balance().await, 51_000);

    let (status, ledger) = user.get("/api/v1/wallet/transactions").await;
    assert_eq!(status, StatusCode::OK, "{ledger}");
    let items = ledger["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    assert_eq!(
        (items[0]["kind"].as_str(), items[0]["amount"].as_i64()),
        (Some("PAYMENT"), Some(-249_000))
    );
    assert_eq!(items[0]["balanceAfter"], 51_000);
    assert_eq!(
        (items[1]["kind"].as_str(), items[1]["amount"].as_i64()),
        (Some("CHARGE"), Some(300_000))
    );
    assert!(ledger["nextCursor"].is_null());

    let (status, list) = user.get("/api/v1/reservations").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"][0]["reservationId"], reservation_id.as_str());
    app.app.stop().await.expect("clean stop");
}

crate::on_both_stores!(whole_journey_succeeds_and_the_ledger_shows_it);

//! 4. With a 1 s hold TTL and the expiry job stopped, the seat is available again and paying is
//!    RESERVATION_NOT_PAYABLE once the TTL has passed.

use crate::common::{Store, TestApp};
use reqwest::StatusCode;
use std::time::Duration;

async fn an_expired_hold_frees_its_seat_even_without_the_sweep(store: &Store) {
    // Arrange: 1 s holds; the sweep would run only once an hour.
    let app = TestApp::spawn(store, |c| {
        c.hold_ttl_secs = 1;
        c.expiry_sweep_interval_ms = 3_600_000;
    })
    .await;
    let (concert_id, schedule_id, seats) = app.concert_with_seats(&[20_000]).await;
    let mut holder = app.user(1);
    let mut other = app.user(2);
    holder.enter(concert_id).await;
    other.enter(concert_id).await;
    let (status, held) = holder.hold(schedule_id, &[seats[0]]).await;
    assert_eq!(status, StatusCode::CREATED, "{held}");
    let reservation_id = held["reservationId"].as_str().expect("id").to_owned();
    let (status, body) = other.hold(schedule_id, &[seats[0]]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("SEAT_UNAVAILABLE"))
    );
    holder.charge(20_000).await;

    // Act: let the hold run out.
    tokio::time::sleep(Duration::from_millis(1_300)).await;

    // Assert: expired for every purpose at once.
    let (_, seat_list) = other
        .get(&format!("/api/v1/schedules/{schedule_id}/seats"))
        .await;
    assert_eq!(seat_list[0]["available"], true, "{seat_list}");
    let (_, reservation) = holder
        .get(&format!("/api/v1/reservations/{reservation_id}"))
        .await;
    assert_eq!(reservation["status"], "EXPIRED");
    let (status, body) = holder.pay(&reservation_id, "late-payment").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("RESERVATION_NOT_PAYABLE")),
        "{body}"
    );
    assert_eq!(holder.balance().await, 20_000, "nothing moved");
    let (status, body) = other.hold(schedule_id, &[seats[0]]).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the seat can be held again: {body}"
    );
    app.app.stop().await.expect("clean stop");
}

crate::on_both_stores!(an_expired_hold_frees_its_seat_even_without_the_sweep);

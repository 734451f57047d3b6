//! Waiting lists (v1.1) through HTTP: join only when sold out (SEATS_AVAILABLE), one live entry
//! per user and date, an offer at once on a cancel and by the scheduler when a hold lapses, an
//! offer paid without a Queue-Token (FULFILLED), leaving, privacy and paging.

use crate::common::{Store, TestApp, UserClient};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn join(user: &UserClient, schedule_id: i64) -> (StatusCode, Value) {
    user.send(
        Method::POST,
        &format!("/api/v1/schedules/{schedule_id}/waitlist"),
        None,
        None,
    )
    .await
}

/// Polls the entry until `status` (panics after 10 s).
async fn wait_for(user: &UserClient, entry: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, body) = user.get(&format!("/api/v1/waitlist/{entry}")).await;
        assert_eq!(code, StatusCode::OK, "{body}");
        if body["status"] == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "entry never became {status}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn a_cancelled_seat_goes_to_the_list_and_is_paid_without_a_token(store: &Store) {
    // Arrange: one seat.
    let app = TestApp::spawn(store, |_| {}).await;
    let (concert_id, schedule_id, seats) = app.concert_with_seats(&[50_000]).await;
    let (mut a, mut b, mut c) = (app.user(2001), app.user(2002), app.user(2003));
    for u in [&mut a, &mut b, &mut c] {
        u.enter(concert_id).await;
    }

    // Act / Assert: not sold out yet.
    let (status, body) = join(&b, schedule_id).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "SEATS_AVAILABLE");
    let mut tokenless = b.clone();
    tokenless.queue_token = None;
    let (status, body) = join(&tokenless, schedule_id).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "QUEUE_TOKEN_REQUIRED");

    let (status, held) = a.hold(schedule_id, &seats).await;
    assert_eq!(status, StatusCode::CREATED, "{held}");
    let (status, entry) = join(&b, schedule_id).await;
    assert_eq!(status, StatusCode::CREATED, "{entry}");
    assert_eq!(
        (&entry["status"], &entry["position"], &entry["offer"]),
        (&Value::from("WAITING"), &Value::from(1), &Value::Null)
    );
    assert_eq!(entry["scheduleId"], schedule_id);
    let (status, again) = join(&b, schedule_id).await;
    assert_eq!(status, StatusCode::OK, "one live entry per user and date");
    assert_eq!(again["entryId"], entry["entryId"]);
    let (status, c_entry) = join(&c, schedule_id).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(c_entry["position"], 2);
    let b_entry = entry["entryId"].as_str().expect("entry id").to_owned();
    let c_entry = c_entry["entryId"].as_str().expect("entry id").to_owned();

    // The seat comes back: offered to B at once.
    let held_id = held["reservationId"].as_str().expect("id").to_owned();
    let (status, _) = a
        .send(
            Method::DELETE,
            &format!("/api/v1/reservations/{held_id}"),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, offered) = b.get(&format!("/api/v1/waitlist/{b_entry}")).await;
    assert_eq!(status, StatusCode::OK, "{offered}");
    assert_eq!(offered["status"], "OFFERED");
    assert!(offered["position"].is_null());
    assert_eq!(offered["offer"]["seatId"], seats[0]);
    let offer_id = offered["offer"]["reservationId"]
        .as_str()
        .expect("offer reservation")
        .to_owned();
    let (status, seat_list) = a
        .get(&format!("/api/v1/schedules/{schedule_id}/seats"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seat_list[0]["available"], false);
    let (status, body) = a.hold(schedule_id, &seats).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "SEAT_UNAVAILABLE");
    let (_, c_view) = c.get(&format!("/api/v1/waitlist/{c_entry}")).await;
    assert_eq!(
        (&c_view["status"], &c_view["position"]),
        (&Value::from("WAITING"), &Value::from(1))
    );
    let (status, _) = c.get(&format!("/api/v1/waitlist/{b_entry}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another user's entry");
    let (status, list) = b.get("/api/v1/reservations").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"][0]["reservationId"], offer_id.as_str());
    assert_eq!(list["items"][0]["status"], "HELD");

    // C leaves; B pays the offer without a Queue-Token.
    let (status, _) = c
        .send(
            Method::DELETE,
            &format!("/api/v1/waitlist/{c_entry}"),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, left) = c.get(&format!("/api/v1/waitlist/{c_entry}")).await;
    assert_eq!(left["status"], "LEFT");
    let mut b_tokenless = b.clone();
    b_tokenless.queue_token = None;
    let (status, body) = b_tokenless.pay(&held_id, "not-an-offer").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "QUEUE_TOKEN_REQUIRED");
    let (status, _) = b.charge(60_000).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, paid) = b_tokenless.pay(&offer_id, "offer-pay").await;
    assert_eq!(status, StatusCode::CREATED, "{paid}");
    assert_eq!(paid["amount"], 50_000);
    let (_, done) = b.get(&format!("/api/v1/waitlist/{b_entry}")).await;
    assert_eq!(
        (&done["status"], &done["offer"]),
        (&Value::from("FULFILLED"), &Value::Null)
    );
    let (status, page) = b.get("/api/v1/waitlist?limit=1").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"][0]["entryId"], b_entry.as_str());
    assert!(page["nextCursor"].is_null());
    let (status, body) = b.get("/api/v1/waitlist?limit=101").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    app.app.stop().await.expect("clean stop");
}

async fn a_lapsed_hold_is_offered_by_the_scheduler(store: &Store) {
    // Arrange: holds of one second.
    let app = TestApp::spawn(store, |c| c.hold_ttl_secs = 1).await;
    let (concert_id, schedule_id, seats) = app.concert_with_seats(&[10_000]).await;
    let (mut a, mut b) = (app.user(2101), app.user(2102));
    a.enter(concert_id).await;
    b.enter(concert_id).await;
    let (status, _) = a.hold(schedule_id, &seats).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, entry) = join(&b, schedule_id).await;
    assert_eq!(status, StatusCode::CREATED, "{entry}");
    // Act: the hold lapses; nobody calls anything but the scheduler.
    let offered = wait_for(&b, entry["entryId"].as_str().expect("id"), "OFFERED").await;
    // Assert
    assert_eq!(offered["offer"]["seatId"], seats[0]);
    let (status, body) = a.hold(schedule_id, &seats).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    app.app.stop().await.expect("clean stop");
}

async fn a_refunded_seat_goes_to_the_list_before_anyone_else(store: &Store) {
    // Arrange: A paid for the date's only seat; B waits on the list; C is admitted too.
    let app = TestApp::spawn(store, |_| {}).await;
    let (concert_id, schedule_id, seats) = app.concert_with_seats(&[30_000]).await;
    let (mut a, mut b, mut c) = (app.user(2201), app.user(2202), app.user(2203));
    for u in [&mut a, &mut b, &mut c] {
        u.enter(concert_id).await;
    }
    let (status, held) = a.hold(schedule_id, &seats).await;
    assert_eq!(status, StatusCode::CREATED, "{held}");
    let (status, _) = a.charge(30_000).await;
    assert_eq!(status, StatusCode::CREATED);
    let paid_id = held["reservationId"].as_str().expect("id").to_owned();
    let (status, paid) = a.pay(&paid_id, "pay-before-refund").await;
    assert_eq!(status, StatusCode::CREATED, "{paid}");
    let (status, entry) = join(&b, schedule_id).await;
    assert_eq!(status, StatusCode::CREATED, "{entry}");
    let entry_id = entry["entryId"].as_str().expect("entry id").to_owned();

    // Act: A gives the ticket back.
    let refund = a
        .send_keyed(
            &format!("/api/v1/reservations/{paid_id}/refund"),
            json!({}),
            "refund-to-the-list",
        )
        .await;

    // Assert: the refund answered, the seat is B's offer by then, and C cannot take it.
    assert_eq!(refund.status, StatusCode::CREATED, "{}", refund.body);
    let (status, offered) = b.get(&format!("/api/v1/waitlist/{entry_id}")).await;
    assert_eq!(status, StatusCode::OK, "{offered}");
    assert_eq!(
        offered["status"], "OFFERED",
        "offered as the refund returns"
    );
    assert_eq!(offered["offer"]["seatId"], seats[0]);
    let (status, body) = c.hold(schedule_id, &seats).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "SEAT_UNAVAILABLE");
    app.app.stop().await.expect("clean stop");
}

crate::on_both_stores!(
    a_cancelled_seat_goes_to_the_list_and_is_paid_without_a_token,
    a_lapsed_hold_is_offered_by_the_scheduler,
    a_refunded_seat_goes_to_the_list_before_anyone_else,
);

//! The operators' view of v1.1 through HTTP on both stores: the queue stats show the live
//! pre-queue, the sale window and when the draw happened (GET and PATCH alike), and
//! `GET /api/v1/admin/schedules/{scheduleId}/waitlist` counts a date's waiting list by
//! effective status.

use crate::common::{Store, TestApp, ADMIN_KEY};
use chrono::{TimeDelta, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn at(secs: i64) -> String {
    (Utc::now() + TimeDelta::seconds(secs)).to_rfc3339()
}

async fn queue_stats(app: &TestApp, concert_id: i64) -> Value {
    let (status, stats) = app
        .admin(
            Method::GET,
            &format!("/api/v1/admin/concerts/{concert_id}/queue"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    stats
}

async fn waitlist_counts(app: &TestApp, schedule_id: i64) -> (StatusCode, Value) {
    app.admin(
        Method::GET,
        &format!("/api/v1/admin/schedules/{schedule_id}/waitlist"),
        None,
    )
    .await
}

async fn operators_see_the_pre_queue_the_draw_and_the_waiting_list(store: &Store) {
    // Arrange: a concert whose sale opens in an hour, one seat.
    let app = TestApp::spawn(store, |_| {}).await;
    let (status, concert) = app
        .admin(
            Method::POST,
            "/api/v1/admin/concerts",
            Some(json!({"title": "Operators", "venue": "Hall", "saleOpensAt": at(3600)})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{concert}");
    let concert_id = concert["id"].as_i64().expect("id");
    let (status, schedule) = app
        .admin(
            Method::POST,
            &format!("/api/v1/admin/concerts/{concert_id}/schedules"),
            Some(json!({"startsAt": at(7 * 86_400),
                        "seats": [{"number": "A-1", "grade": "R", "price": 1000}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{schedule}");
    let schedule_id = schedule["scheduleId"].as_i64().expect("schedule id");
    let seats = vec![schedule["seats"][0]["seatId"].as_i64().expect("seat id")];
    let mut users: Vec<_> = (3001..=3002).map(|u| app.user(u)).collect();
    for user in &mut users {
        let (status, ticket) = user.join(concert_id).await;
        assert_eq!(status, StatusCode::CREATED, "{ticket}");
        assert_eq!(ticket["status"], "PRE_QUEUE");
    }

    // Before the opening: two live pre-queue places, nobody waiting, no draw yet.
    let before = queue_stats(&app, concert_id).await;
    assert_eq!(
        (&before["preQueue"], &before["waiting"]),
        (&json!(2), &json!(0))
    );
    assert!(before["drawnAt"].is_null(), "{before}");
    assert_eq!(before["saleOpensAt"], concert["saleOpensAt"]);
    assert!(before["saleClosesAt"].is_null());

    // The operator opens the sale: the scheduler draws and admits.
    let (status, opened) = app
        .admin(
            Method::PATCH,
            &format!("/api/v1/admin/concerts/{concert_id}"),
            Some(json!({"saleOpensAt": at(-1)})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{opened}");
    for user in &users {
        user.wait_active().await;
    }
    let after = queue_stats(&app, concert_id).await;
    assert_eq!(after["preQueue"], 0, "{after}");
    assert!(after["drawnAt"].is_string(), "{after}");
    let (status, patched) = app
        .admin(
            Method::PATCH,
            &format!("/api/v1/admin/concerts/{concert_id}/queue"),
            Some(json!({"paused": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["drawnAt"], after["drawnAt"]);
    assert_eq!(patched["saleOpensAt"], after["saleOpensAt"]);
    assert_eq!(patched["preQueue"], 0);

    // The waiting list: empty, then one WAITING, then OFFERED when the seat comes back.
    let (status, empty) = waitlist_counts(&app, schedule_id).await;
    assert_eq!(status, StatusCode::OK, "{empty}");
    assert_eq!(
        empty,
        json!({"scheduleId": schedule_id, "waiting": 0, "offered": 0, "fulfilled": 0,
               "expired": 0, "left": 0})
    );
    let (status, held) = users[0].hold(schedule_id, &seats).await;
    assert_eq!(status, StatusCode::CREATED, "{held}");
    let (status, entry) = users[1]
        .send(
            Method::POST,
            &format!("/api/v1/schedules/{schedule_id}/waitlist"),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{entry}");
    let (_, waiting) = waitlist_counts(&app, schedule_id).await;
    assert_eq!(
        (&waiting["waiting"], &waiting["offered"]),
        (&json!(1), &json!(0))
    );
    let held_id = held["reservationId"].as_str().expect("id");
    let (status, _) = users[0]
        .send(
            Method::DELETE,
            &format!("/api/v1/reservations/{held_id}"),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, offered) = waitlist_counts(&app, schedule_id).await;
    assert_eq!(
        (&offered["waiting"], &offered["offered"]),
        (&json!(0), &json!(1))
    );

    // Unknown date, and a wrong key.
    let (status, problem) = waitlist_counts(&app, 999_999).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    assert_eq!(problem["code"], "NOT_FOUND");
    let resp = app
        .http
        .get(format!(
            "{}/api/v1/admin/schedules/{schedule_id}/waitlist",
            app.base
        ))
        .bearer_auth(format!("{ADMIN_KEY}-wrong"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    app.app.stop().await.expect("clean stop");
}

crate::on_both_stores!(operators_see_the_pre_queue_the_draw_and_the_waiting_list);

//! Sale windows and the pre-queue draw (API v1.1), through HTTP on both stores: the concert's
//! window in the catalogue and the admin answers, PRE_QUEUE tokens, the draw at the opening by
//! the running scheduler, SALE_ALREADY_OPEN, SALE_CLOSED and the validation of windows.

use crate::common::{Store, TestApp, ADMIN_KEY};
use chrono::{TimeDelta, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

fn at(secs: i64) -> String {
    (Utc::now() + TimeDelta::seconds(secs)).to_rfc3339()
}

async fn patch_sale(app: &TestApp, concert_id: i64, body: Value) -> (StatusCode, Value) {
    app.admin(
        Method::PATCH,
        &format!("/api/v1/admin/concerts/{concert_id}"),
        Some(body),
    )
    .await
}

async fn sale_windows_pre_queue_draw_and_closing(store: &Store) {
    let app = TestApp::spawn(store, |_| {}).await;

    // A closing before the opening is refused; a window is echoed and listed.
    let (status, problem) = app
        .admin(
            Method::POST,
            "/api/v1/admin/concerts",
            Some(json!({"title": "Bad window", "venue": "Hall",
                        "saleOpensAt": at(3600), "saleClosesAt": at(60)})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["code"], "VALIDATION_FAILED");
    let (status, concert) = app
        .admin(
            Method::POST,
            "/api/v1/admin/concerts",
            Some(json!({"title": "Drawn", "venue": "Hall", "saleOpensAt": at(3600)})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{concert}");
    assert!(concert["saleOpensAt"].is_string() && concert["saleClosesAt"].is_null());
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
    let (status, plain) = app
        .admin(
            Method::POST,
            "/api/v1/admin/concerts",
            Some(json!({"title": "Plain", "venue": "Hall"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{plain}");
    let (status, listed) = app.user(1).get("/api/v1/concerts").await;
    assert_eq!(status, StatusCode::OK);
    let find = |id: &Value| {
        listed
            .as_array()
            .expect("a list")
            .iter()
            .find(|c| c["id"] == *id)
            .cloned()
            .expect("listed")
    };
    assert!(find(&concert["id"])["saleOpensAt"].is_string());
    let plain_listed = find(&plain["id"]);
    assert!(plain_listed["saleOpensAt"].is_null() && plain_listed["saleClosesAt"].is_null());

    // Before the opening: PRE_QUEUE, no position, not active.
    let mut users: Vec<_> = (1..=3).map(|u| app.user(u)).collect();
    for user in &mut users {
        let (status, ticket) = user.join(concert_id).await;
        assert_eq!(status, StatusCode::CREATED, "{ticket}");
        assert_eq!(ticket["status"], "PRE_QUEUE");
        assert!(ticket["position"].is_null() && ticket["estimatedWaitSeconds"].is_null());
        assert_eq!(ticket["saleOpensAt"], concert["saleOpensAt"]);
    }
    let (status, ticket) = users[0].get("/api/v1/queue-tokens/current").await;
    assert_eq!(
        (status, &ticket["status"]),
        (StatusCode::OK, &json!("PRE_QUEUE"))
    );
    let (status, problem) = users[0]
        .get(&format!("/api/v1/concerts/{concert_id}/schedules"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    assert_eq!(problem["code"], "QUEUE_TOKEN_NOT_ACTIVE");

    // The operator opens the sale now: the scheduler draws, then admits everyone.
    let (status, opened) = patch_sale(&app, concert_id, json!({"saleOpensAt": at(-1)})).await;
    assert_eq!(status, StatusCode::OK, "{opened}");
    assert_eq!(opened["id"], concert["id"]);
    for user in &users {
        user.wait_active().await;
    }
    let (status, problem) = patch_sale(&app, concert_id, json!({"saleOpensAt": at(3600)})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["code"], "SALE_ALREADY_OPEN");

    // The closing: new joins are refused, a token in line goes on.
    let (status, closing) = patch_sale(&app, concert_id, json!({"saleClosesAt": at(1)})).await;
    assert_eq!(status, StatusCode::OK, "{closing}");
    assert!(closing["saleClosesAt"].is_string());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, problem) = app.user(9).join(concert_id).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["code"], "SALE_CLOSED");
    let (status, again) = users[0].join(concert_id).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["status"], "ACTIVE");

    // Validation and access of the PATCH.
    for body in [
        json!({"saleOpensAt": null}),
        json!({"paused": true}),
        json!({"saleOpensAt": "tomorrow"}),
    ] {
        let (status, problem) = patch_sale(&app, concert_id, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
        assert_eq!(problem["code"], "VALIDATION_FAILED");
    }
    let (status, problem) = patch_sale(&app, 999_999, json!({"saleClosesAt": null})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    let resp = app
        .http
        .patch(format!("{}/api/v1/admin/concerts/{concert_id}", app.base))
        .bearer_auth(format!("{ADMIN_KEY}-wrong"))
        .json(&json!({"saleClosesAt": null}))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

crate::on_both_stores!(sale_windows_pre_queue_draw_and_closing);

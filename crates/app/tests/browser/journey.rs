//! The whole journey through the page: sign in, concerts, waiting room, dates, seat map, hold
//! with its countdown, top-up, pay, confirmation and ledger.

use crate::browser::Browser;
use crate::scene::Scene;
use reqwest::StatusCode;
use serde_json::json;
use std::sync::Arc;

/// The demo user who buys.
const BUYER: i64 = 101;

/// Three rows of six: VIP, R and S seats.
pub const HALL: &[(&str, usize, &str, i64)] = &[
    ("A", 6, "VIP", 150_000),
    ("B", 6, "R", 110_000),
    ("C", 6, "S", 80_000),
];

/// A person buys two seats through the page, from sign-in to the ledger.
pub async fn whole_journey(scene: Arc<Scene>) {
    // Arrange: admission paused with twelve people ahead in the queue, so the waiting room shows.
    let show = scene.concert("Aurora Live", HALL).await;
    scene
        .queue_settings(show.concert_id, json!({"paused": true}))
        .await;
    let mut ahead = Vec::new();
    for id in 901..=912 {
        let mut person = scene.app.user(id);
        let (status, body) = person.join(show.concert_id).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        ahead.push(person);
    }
    let page = Browser::open(&scene, "").await;

    // Act + Assert: sign in.
    page.wait_view("signin").await;
    page.shot("signin").await;
    page.sign_in(BUYER).await;
    let concert = format!("#concert-{}", show.concert_id);
    page.wait_visible(&concert).await;
    assert!(page.text("#who").await.contains(&BUYER.to_string()));
    page.shot("concerts").await;

    // Act + Assert: the waiting room, 13th in line; five are let in and it moves up to 8th.
    page.click(&concert).await;
    page.wait_view("queue").await;
    page.wait_number("#queue-position", 13).await;
    assert_eq!(page.text("#queue-status").await, "WAITING");
    page.shot("joined-the-line").await;
    scene
        .queue_settings(show.concert_id, json!({"paused": false, "maxActive": 5}))
        .await;
    page.wait_number("#queue-position", 8).await;
    for part in ["#queue-progress", "#queue-wait", "#queue-status"] {
        page.wait_visible(part).await;
    }
    let progress = page
        .js(
            "return document.getElementById('queue-progress').position;",
            vec![],
        )
        .await;
    assert!(
        progress.as_f64().is_some_and(|p| p > 0.3 && p < 0.5),
        "progress {progress}"
    );
    assert_eq!(page.text("#queue-status").await, "WAITING");
    page.shot("waiting-room").await;

    // Arrange: two of those let in hold three seats (B-3, B-4 and C-1) meanwhile.
    let taken = [show.seats[8], show.seats[9], show.seats[12]];
    for (person, seats) in ahead.iter().zip([&taken[..2], &taken[2..]]) {
        person.wait_active().await;
        let (status, body) = person.hold(show.schedule_id, seats).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    // Act + Assert: room for everyone, and the page moves on to the dates by itself.
    scene
        .queue_settings(show.concert_id, json!({"maxActive": 1000}))
        .await;
    page.wait_view("dates").await;
    let date = format!("#date-{}", show.schedule_id);
    page.wait_attr(&date, "data-available", "15").await;
    page.shot("dates").await;

    // Act + Assert: the seat map, by row, and two seats selected.
    page.click(&date).await;
    page.wait_view("seats").await;
    page.wait_visible(&format!("#seat-{}", show.seats[0])).await;
    assert_eq!(page.count("#seat-map .seat-row[data-row]").await, 3);
    let first = format!("#seat-{}", show.seats[0]);
    assert_eq!(
        page.attr(&first, "data-grade").await.as_deref(),
        Some("VIP")
    );
    assert_eq!(
        page.attr(&first, "data-price").await.as_deref(),
        Some("150000")
    );
    assert_eq!(
        page.attr(&first, "data-taken").await.as_deref(),
        Some("false")
    );
    let (a3, a4) = (show.seats[2], show.seats[3]);
    page.select_seat(a3).await;
    page.select_seat(a4).await;
    page.wait_visible("#selection-summary").await;
    page.shot("seat-map").await;

    // Act + Assert: hold, with a live countdown.
    page.click("#hold-button").await;
    page.wait_view("hold").await;
    page.wait_visible("#hold-countdown").await;
    let countdown = page.text("#hold-countdown").await;
    assert!(is_mm_ss(&countdown), "countdown {countdown:?} is not mm:ss");
    page.shot("hold").await;

    // Act + Assert: top up the wallet with exactly the price.
    page.wait_number("#wallet-balance", 0).await;
    page.fill("#topup-amount", "300000").await;
    page.click("#topup-button").await;
    page.wait_number("#wallet-balance", 300_000).await;
    page.shot("topped-up").await;

    // Act + Assert: pay, then the confirmation and the ledger.
    page.click("#pay-button").await;
    page.wait_view("confirmation").await;
    page.wait_visible("#confirmation-text").await;
    page.until(
        "two ledger rows (top-up and payment)",
        "return document.querySelectorAll('#ledger-body tr').length >= 2;",
        vec![],
    )
    .await;
    page.shot("confirmation").await;

    // Assert: the API agrees, the seats are paid for and the wallet is empty.
    let reservations = scene.reservations_of(BUYER).await;
    assert_eq!(reservations.len(), 1, "{reservations:?}");
    assert_eq!(reservations[0]["status"], "CONFIRMED");
    assert_eq!(scene.app.user(BUYER).balance().await, 0);
}

/// `mm:ss`, as the countdown reads.
pub fn is_mm_ss(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 5 && bytes[2] == b':' && [0, 1, 3, 4].iter().all(|&i| bytes[i].is_ascii_digit())
}

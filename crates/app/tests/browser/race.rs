//! Two browser sessions race for the last free seat: exactly one holds it, the other is told
//! plainly and sees the map refreshed with the seat taken.

use crate::browser::Browser;
use crate::scene::Scene;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;

/// Someone who holds every seat but the last through the API.
const OTHER: i64 = 903;
/// The two racers.
const ALICE: i64 = 102;
const BOB: i64 = 103;

/// Clicks `#hold-button` at the page clock's `arguments[0]` (ms since the epoch). Both windows
/// run on this machine's clock, so the two clicks fire within a millisecond or so of each other,
/// far closer than two WebDriver round trips would.
const CLICK_HOLD_AT_JS: &str = "const at = arguments[0];
    setTimeout(() => document.getElementById('hold-button').click(), Math.max(0, at - Date.now()));
    return true;";

/// How a racer's page ended: `won` on the hold view, or `lost:<code>` with the alert shown.
const OUTCOME_JS: &str = "const view = document.body.dataset.view;
    if (view === 'hold') return 'won';
    const a = document.getElementById('alert');
    if (a && a.dataset.code && a.checkVisibility({visibilityProperty: true}))
        return 'lost:' + a.dataset.code;
    return null;";

/// Both pages click hold on the one free seat at the same instant.
pub async fn last_seat_race(scene: Arc<Scene>) {
    // Arrange: four seats, three held by someone else, so one is free.
    let show = scene.concert("Last Seat", &[("A", 4, "VIP", 90_000)]).await;
    let mut other = scene.app.user(OTHER);
    other.enter(show.concert_id).await;
    let (status, body) = other.hold(show.schedule_id, &show.seats[..3]).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let last = show.seats[3];
    let seat = format!("#seat-{last}");
    let (alice, bob) = tokio::join!(Browser::open(&scene, "alice"), Browser::open(&scene, "bob"));
    for (page, user) in [(&alice, ALICE), (&bob, BOB)] {
        page.sign_in(user).await;
        page.open_seat_map(show.concert_id, show.schedule_id).await;
        page.wait_attr(&format!("#seat-{}", show.seats[0]), "data-taken", "true")
            .await;
        page.select_seat(last).await;
        page.shot("last-seat-selected").await;
    }

    // Act: both click hold at the same instant.
    let now: Value = alice.js("return Date.now();", vec![]).await;
    let at = json!(now.as_f64().expect("Date.now()") + 400.0);
    let (a, b) = tokio::join!(
        alice.js(CLICK_HOLD_AT_JS, vec![at.clone()]),
        bob.js(CLICK_HOLD_AT_JS, vec![at])
    );
    assert_eq!((a, b), (json!(true), json!(true)));
    let (a, b) = tokio::join!(
        alice.until("the race decided", OUTCOME_JS, vec![]),
        bob.until("the race decided", OUTCOME_JS, vec![])
    );

    // Assert: exactly one winner; the loser is told and sees the seat taken.
    let outcomes = [a.as_str().unwrap_or(""), b.as_str().unwrap_or("")];
    let winners = outcomes.iter().filter(|o| **o == "won").count();
    assert_eq!(winners, 1, "exactly one hold, got {outcomes:?}");
    let (winner, loser, winner_id) = if outcomes[0] == "won" {
        (&alice, &bob, ALICE)
    } else {
        (&bob, &alice, BOB)
    };
    winner.wait_visible("#hold-countdown").await;
    winner.shot("won-the-seat").await;
    loser
        .wait_attr("#alert", "data-code", "SEAT_UNAVAILABLE")
        .await;
    let message = loser.text("#alert").await.to_lowercase();
    assert!(message.contains("taken"), "unclear message: {message:?}");
    loser.wait_view("seats").await;
    loser.wait_attr(&seat, "data-taken", "true").await;
    assert_eq!(loser.attr(&seat, "disabled").await.as_deref(), Some("true"));
    loser.shot("lost-the-seat").await;

    // Assert: the API agrees: one held reservation, the winner's, and no seat left.
    let loser_id = ALICE + BOB - winner_id;
    let held = scene.reservations_of(winner_id).await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["status"], "HELD");
    assert_eq!(held[0]["seats"][0]["seatId"], last);
    assert!(scene.reservations_of(loser_id).await.is_empty());
    let (status, seats) = other
        .get(&format!("/api/v1/schedules/{}/seats", show.schedule_id))
        .await;
    assert_eq!(status, StatusCode::OK, "{seats}");
    assert!(
        seats.to_string().matches("\"available\":true").count() == 0,
        "a seat is still free: {seats}"
    );
}

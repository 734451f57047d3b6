//! The page works with the keyboard alone, and every control has a name a screen reader reads.

use crate::browser::Browser;
use crate::scene::Scene;
use fantoccini::key::Key;
use serde_json::Value;
use std::sync::Arc;

/// The demo user who uses only the keyboard.
const TYPIST: i64 = 106;

/// Controls with no accessible name: inputs without a label, buttons without text or
/// aria-label (only those rendered now).
const UNNAMED_CONTROLS_JS: &str =
    "return [...document.querySelectorAll('input, textarea, button, progress')]
    .filter((e) => e.checkVisibility({visibilityProperty: true}))
    .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
        && !e.getAttribute('aria-labelledby') && !e.textContent.trim())
    .map((e) => e.outerHTML.slice(0, 80));";

/// Sign in, choose a concert, a date and a seat, hold and release it, all by keyboard.
pub async fn keyboard_only(scene: Arc<Scene>) {
    // Arrange
    let show = scene.concert("Keys Only", &[("A", 4, "R", 50_000)]).await;
    let page = Browser::open(&scene, "").await;
    page.wait_view("signin").await;
    let seat = format!("#seat-{}", show.seats[1]);

    // Act + Assert: sign in with Tab, typing and Enter.
    page.tab_to("#user-id").await;
    for _ in 0..6 {
        page.press(Key::Backspace).await;
    }
    page.type_keys(&TYPIST.to_string()).await;
    page.press(Key::Enter).await;
    page.wait_view("concerts").await;
    assert!(page.text("#who").await.contains(&TYPIST.to_string()));
    assert_named(&page).await;

    // Act + Assert: the concert, then the date, each reached with Tab and opened with Enter.
    page.tab_to(&format!("#concert-{}", show.concert_id)).await;
    page.press(Key::Enter).await;
    page.wait_view("dates").await;
    page.tab_to(&format!("#date-{}", show.schedule_id)).await;
    page.press(Key::Enter).await;
    page.wait_view("seats").await;
    page.wait_visible(&seat).await;
    assert_named(&page).await;

    // Act + Assert: Space selects a seat; Enter on hold holds it.
    page.tab_to(&seat).await;
    page.press(Key::Space).await;
    page.wait_attr(&seat, "aria-pressed", "true").await;
    page.shot("seat-chosen-by-keyboard").await;
    page.tab_to("#hold-button").await;
    page.press(Key::Enter).await;
    page.wait_view("hold").await;
    assert_named(&page).await;

    // Act + Assert: release by keyboard; the seat is free again on the map.
    page.tab_to("#release-button").await;
    page.press(Key::Enter).await;
    page.wait_view("seats").await;
    page.wait_attr(&seat, "data-taken", "false").await;
    page.shot("released-by-keyboard").await;
    let reservations = scene.reservations_of(TYPIST).await;
    assert_eq!(reservations.len(), 1, "{reservations:?}");
    assert_eq!(reservations[0]["status"], "CANCELLED");
}

/// Asserts that every rendered control has an accessible name.
async fn assert_named(page: &Browser) {
    let unnamed = page.js(UNNAMED_CONTROLS_JS, vec![]).await;
    assert_eq!(unnamed, Value::Array(vec![]), "controls without a name");
}

//! A hold runs out while its page is open, and the page says so.

use crate::browser::Browser;
use crate::scene::Scene;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The demo user whose hold runs out.
const HOLDER: i64 = 104;
/// How long holds last in this case (`HOLD_TTL_SECS`).
pub const HOLD_TTL_SECS: u64 = 4;

/// Short holds and a quick expiry sweep.
pub fn short_holds(config: &mut app::Config) {
    config.hold_ttl_secs = HOLD_TTL_SECS;
    config.expiry_sweep_interval_ms = 250;
}

/// The page holds a seat, then sits there until the hold has run out.
pub async fn hold_runs_out(scene: Arc<Scene>) {
    // Arrange
    let show = scene.concert("Short Hold", &[("A", 4, "R", 70_000)]).await;
    let page = Browser::open(&scene, "").await;
    page.sign_in(HOLDER).await;
    page.open_seat_map(show.concert_id, show.schedule_id).await;
    page.select_seat(show.seats[1]).await;

    // Act: hold, then leave the page open.
    page.click("#hold-button").await;
    let held_at = Instant::now();
    page.wait_view("hold").await;
    page.wait_visible("#hold-countdown").await;
    page.shot("hold").await;
    assert!(!page.is_visible("#hold-expired").await, "expired at once");

    // Assert: the page shows the hold ran out, not before its time.
    page.wait_visible("#hold-expired").await;
    let shown_after = held_at.elapsed();
    assert!(
        shown_after >= Duration::from_secs(HOLD_TTL_SECS - 1),
        "shown expired after only {shown_after:?}"
    );
    assert!(!page.text("#hold-expired").await.is_empty());
    assert!(
        !page.is_visible("#pay-button").await,
        "an expired hold offers to pay"
    );
    page.shot("hold-expired").await;

    // Assert: the API agrees once the sweep has run.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reservations = scene.reservations_of(HOLDER).await;
        if reservations
            .first()
            .is_some_and(|r| r["status"] == "EXPIRED")
        {
            break;
        }
        assert!(Instant::now() < deadline, "never EXPIRED: {reservations:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

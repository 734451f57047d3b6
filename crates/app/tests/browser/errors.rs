//! A problem the API reports shows on the page as a clear message, and the person can go on.

use crate::browser::Browser;
use crate::scene::Scene;
use std::sync::Arc;

/// The demo user who pays before topping up.
const PAYER: i64 = 105;

/// Paying with an empty wallet says so in the alert; after a top-up the payment goes through.
pub async fn insufficient_balance(scene: Arc<Scene>) {
    // Arrange: a held seat and an empty wallet.
    let show = scene
        .concert("Empty Wallet", &[("A", 4, "S", 60_000)])
        .await;
    let page = Browser::open(&scene, "").await;
    page.sign_in(PAYER).await;
    page.open_seat_map(show.concert_id, show.schedule_id).await;
    page.select_seat(show.seats[0]).await;
    page.click("#hold-button").await;
    page.wait_view("hold").await;
    page.wait_number("#wallet-balance", 0).await;

    // Act
    page.click("#pay-button").await;

    // Assert: the alert names the problem; the hold stays.
    page.wait_attr("#alert", "data-code", "INSUFFICIENT_BALANCE")
        .await;
    page.wait_visible("#alert").await;
    assert!(!page.text("#alert").await.is_empty());
    page.wait_view("hold").await;
    page.shot("insufficient-balance").await;

    // Act + Assert: top up and pay again.
    page.fill("#topup-amount", "60000").await;
    page.click("#topup-button").await;
    page.wait_number("#wallet-balance", 60_000).await;
    page.click("#pay-button").await;
    page.wait_view("confirmation").await;
    page.shot("confirmation").await;
}

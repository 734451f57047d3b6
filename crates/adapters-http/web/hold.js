// The hold: the held seats, a live countdown to heldUntil, and the expired state when it runs
// out (by the countdown, or because the API says the hold is gone).

import { $, announce, clock, el, won } from "./view.js";

/** How often the countdown redraws, in milliseconds. */
const TICK_MS = 250;

export class HoldView {
  /** `onExpired()` runs once when the hold runs out while shown. */
  constructor({ onExpired }) {
    this.onExpired = onExpired;
    this.timer = null;
    this.reservation = null;
  }

  /**
   * Shows `reservation` (a HELD one). `deadline` is when it runs out on this machine's clock:
   * the server's heldUntil moved by the difference between the two clocks.
   */
  show(reservation, deadline, seatsById) {
    this.stop();
    this.reservation = reservation;
    this.deadline = deadline;
    this.expired = false;
    $("hold-seats").replaceChildren(
      ...reservation.seats.map((s) => {
        const grade = seatsById.get(s.seatId)?.grade;
        return el("li", {}, `Seat ${s.number}${grade ? ` (${grade})` : ""}: ${won(s.price)}`);
      }),
    );
    $("hold-total").textContent = won(reservation.totalPrice);
    $("hold-expired").hidden = true;
    $("hold-heading").textContent = "Your seats are held";
    $("pay-button").disabled = false;
    $("pay-button").hidden = false;
    $("release-button").hidden = false;
    $("hold-countdown").classList.remove("urgent");
    this.tick();
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  /** Stops the countdown. */
  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }

  /** Seconds left on the hold. */
  secondsLeft() {
    return (this.deadline - Date.now()) / 1000;
  }

  tick() {
    const left = this.secondsLeft();
    const countdown = $("hold-countdown");
    countdown.textContent = clock(left);
    countdown.dataset.secondsLeft = String(Math.max(0, Math.ceil(left)));
    countdown.classList.toggle("urgent", left <= 30);
    if (left <= 0) this.expire();
  }

  /** Shows the expired state (once). */
  expire() {
    if (this.expired) return;
    this.expired = true;
    this.stop();
    $("hold-countdown").textContent = clock(0);
    $("hold-heading").textContent = "Your hold has expired";
    $("hold-expired").hidden = false;
    $("pay-button").disabled = true;
    $("pay-button").hidden = true;
    $("release-button").hidden = true;
    announce("Your hold has expired and the seats were released.");
    $("choose-again-button").focus();
    this.onExpired();
  }
}

// The journey: sign in, concerts, waiting room, dates, seat map, hold, pay, confirmation.
// Every call goes to the public API; every error is shown in #alert.

import { call, readLimits, newIdempotencyKey } from "./api.js";
import { seatsTakenMessage } from "./messages.js";
import { $, announce, busy, clock, currentView, el, showAlert, showView, when, won } from "./view.js";
import { WaitingRoom } from "./queue.js";
import { SeatPicker } from "./seats.js";
import { HoldView } from "./hold.js";
import { showBalance, showLedger, topUp } from "./wallet.js";
import { forgetSession, savedToken, useToken, wireSignIn } from "./session.js";

/** How often an open seat map refreshes by itself, in milliseconds. */
const SEAT_REFRESH_MS = 10000;

const state = { concert: null, activeUntil: null, schedule: null, reservation: null };
let limits = { maxSeatsPerHold: 4, chargeMax: 1000000, demoSignIn: null };
const room = new WaitingRoom({ onActive: admitted, onError: queueFailed });
const picker = new SeatPicker(limits.maxSeatsPerHold);
const hold = new HoldView({ onExpired: () => {} });
let seatRefresh = null;

// ---- errors ---------------------------------------------------------------------------------

/** Shows `error`; a lost sign-in or turn also takes the page back to where it can go on. */
function handleError(error) {
  if (error.code === "UNAUTHENTICATED") {
    signOutLocally();
    showAlert(error);
  } else if (error.code === "QUEUE_TOKEN_NOT_ACTIVE" || error.code === "QUEUE_TOKEN_REQUIRED") {
    room.stop();
    hold.stop();
    showConcerts().then(() => showAlert(error));
  } else {
    showAlert(error);
  }
}

function queueFailed(error) {
  if (error.code === "SALE_CLOSED" || error.code === "NOT_FOUND") {
    showConcerts().then(() => showAlert(error));
  } else {
    handleError(error);
  }
}

// ---- signing in and out -----------------------------------------------------------------------

async function signedIn(wallet) {
  await showConcerts();
  announce(`Signed in as user ${wallet.userId}.`);
}

function signOutLocally() {
  room.stop();
  hold.stop();
  stopSeatRefresh();
  forgetSession();
  showView("signin");
}

async function signOut() {
  await room.leave();
  signOutLocally();
  announce("Signed out.");
}

// ---- concerts and the waiting room ---------------------------------------------------------------

async function showConcerts() {
  stopSeatRefresh();
  hold.stop();
  state.activeUntil = null;
  showView("concerts");
  try {
    const { body } = await call("GET", "/api/v1/concerts");
    $("concert-list").replaceChildren(...body.map((c) => el("li", {}, concertButton(c))));
  } catch (e) {
    handleError(e);
  }
}

function concertButton(concert) {
  const sale = saleText(concert);
  const button = el("button", { type: "button", id: `concert-${concert.id}`, className: "card" },
    el("strong", {}, concert.title), el("span", {}, concert.venue),
    sale ? el("span", { className: "hint" }, sale) : "");
  button.addEventListener("click", () => enterQueue(concert));
  return button;
}

function saleText(concert) {
  const now = Date.now();
  if (concert.saleClosesAt && Date.parse(concert.saleClosesAt) <= now) return "Sale closed";
  if (concert.saleOpensAt && Date.parse(concert.saleOpensAt) > now) return `Sale opens ${when(concert.saleOpensAt)}: join the pre-queue now`;
  return "On sale now";
}

function enterQueue(concert) {
  state.concert = concert;
  showView("queue");
  room.join(concert);
}

async function leaveQueue() {
  await room.leave();
  await showConcerts();
  announce("You left the line.");
}

function admitted(ticket) {
  state.activeUntil = ticket.activeUntil ? Date.parse(ticket.activeUntil) : null;
  showDates().then(() => announce("It is your turn. Choose a date."));
}

/** Keeps "your turn ends in …" up to date on the booking views. */
function showTurnEnds() {
  let text = "";
  if (state.activeUntil) {
    const left = (state.activeUntil - Date.now()) / 1000;
    text = left > 0 ? `Your turn to book ends in ${clock(left)}.` : "Your turn to book has ended.";
  }
  for (const node of document.querySelectorAll(".turn-ends")) node.textContent = text;
}

// ---- dates and seats ---------------------------------------------------------------------------

async function showDates() {
  stopSeatRefresh();
  hold.stop();
  $("dates-concert").textContent = `${state.concert.title} · ${state.concert.venue}`;
  $("date-list").replaceChildren();
  $("my-holds").hidden = true;
  showView("dates", { keepAlert: true });
  try {
    const { body } = await call("GET", `/api/v1/concerts/${state.concert.id}/schedules`, { queueToken: room.token });
    const items = body.map((s) => {
      const left = s.availableSeats === 0 ? "sold out" : `${s.availableSeats} of ${s.totalSeats} seats left`;
      const button = el("button", { type: "button", id: `date-${s.scheduleId}`, className: "card", "data-available": s.availableSeats },
        el("strong", {}, when(s.startsAt)), el("span", {}, left));
      button.disabled = s.availableSeats === 0;
      button.addEventListener("click", () => chooseDate(s));
      return el("li", {}, button);
    });
    $("date-list").replaceChildren(...(items.length ? items : [el("li", {}, "No upcoming dates.")]));
    await showMyHolds(body);
  } catch (e) {
    handleError(e);
  }
}

/**
 * Lists the user's live holds (from an earlier visit, another tab, or another concert): those of
 * this concert can be paid, any can be released.
 */
async function showMyHolds(schedules) {
  const res = await call("GET", "/api/v1/reservations?limit=100");
  // The server's clock, from its Date header, so that "live" means live to the server.
  const offset = res.date ? res.date - Date.now() : 0;
  const live = res.body.items.filter((r) => r.status === "HELD" && Date.parse(r.heldUntil) > Date.now() + offset);
  const byId = new Map(schedules.map((s) => [s.scheduleId, s]));
  $("my-holds-list").replaceChildren(...live.map((r) => {
    const schedule = byId.get(r.scheduleId);
    const seats = r.seats.map((s) => s.number).join(", ");
    const what = schedule ? `${seats} on ${when(schedule.startsAt)}` : `${seats} (another concert)`;
    const release = el("button", { type: "button", id: `release-${r.reservationId}` }, "Release");
    release.addEventListener("click", () => busy(release, async () => {
      try {
        await call("DELETE", `/api/v1/reservations/${r.reservationId}`);
        await showDates();
        announce(`Seats ${seats} released.`);
      } catch (e) {
        handleError(e);
      }
    }));
    const item = el("li", { className: "hold-item" }, `${what}: ${won(r.totalPrice)} `);
    if (schedule) {
      const resume = el("button", { type: "button", id: `resume-${r.reservationId}`, className: "primary" }, "Go to payment");
      resume.addEventListener("click", () => {
        state.schedule = schedule;
        showHold(r, Date.parse(r.heldUntil) - offset);
      });
      item.append(resume, " ");
    }
    item.append(release);
    return item;
  }));
  $("my-holds").hidden = live.length === 0;
}

function chooseDate(schedule) {
  state.schedule = schedule;
  picker.reset();
  $("seats-concert").textContent = `${state.concert.title} · ${when(schedule.startsAt)}`;
  showView("seats");
  loadSeats();
  stopSeatRefresh();
  seatRefresh = setInterval(() => currentView() === "seats" && loadSeats(), SEAT_REFRESH_MS);
}

function stopSeatRefresh() {
  clearInterval(seatRefresh);
  seatRefresh = null;
}

/** Reads the seat map; resolves to true when it was read. */
async function loadSeats() {
  try {
    const { body } = await call("GET", `/api/v1/schedules/${state.schedule.scheduleId}/seats`, { queueToken: room.token });
    picker.show(body);
    return true;
  } catch (e) {
    handleError(e);
    return false;
  }
}

async function holdSeats() {
  const chosen = picker.selection();
  if (chosen.length === 0) return;
  const seatIds = chosen.map((s) => s.seatId);
  await busy($("hold-button"), async () => {
    try {
      const { body } = await call("POST", "/api/v1/reservations", {
        body: { scheduleId: state.schedule.scheduleId, seatIds },
        queueToken: room.token,
      });
      showHold(body);
    } catch (e) {
      if (e.code === "SEAT_UNAVAILABLE") {
        await loadSeats();
        const taken = picker.takenAmong(seatIds).map((s) => s.number);
        showAlert(e, seatsTakenMessage(taken));
      } else if (e.code === "HOLD_LIMIT_EXCEEDED") {
        // The dates view lists the holds to pay for or release.
        await showDates();
        showAlert(e, "You would hold more seats than allowed at once, counting all your holds. " +
          "Pay for or release the seats listed under \u201cSeats you are holding\u201d first.");
      } else {
        handleError(e);
      }
    }
  });
  $("hold-button").disabled = picker.selection().length === 0;
}

// ---- hold, pay, confirmation ---------------------------------------------------------------------

/**
 * Shows a fresh hold, counting down on this machine's clock: a new hold's length is
 * heldUntil - createdAt by the server's clock (clocks may differ); `deadline` is given for an
 * older one.
 */
function showHold(reservation, deadline) {
  stopSeatRefresh();
  state.reservation = reservation;
  if (deadline === undefined) {
    const ttl = Date.parse(reservation.heldUntil) - Date.parse(reservation.createdAt);
    deadline = Number.isFinite(ttl) ? Date.now() + ttl : Date.parse(reservation.heldUntil);
  }
  $("hold-concert").textContent = `${state.concert.title} · ${when(state.schedule.startsAt)}`;
  showView("hold");
  hold.show(reservation, deadline, new Map(picker.seats.map((s) => [s.seatId, s])));
  picker.clear();
  const count = reservation.seats.length === 1 ? "1 seat" : `${reservation.seats.length} seats`;
  announce(`${count} held for you. Pay within ${clock(hold.secondsLeft())}.`);
}

async function pay() {
  const reservation = state.reservation;
  await busy($("pay-button"), async () => {
    try {
      const { body } = await call("POST", "/api/v1/payments", {
        body: { reservationId: reservation.reservationId },
        queueToken: room.token,
        idempotencyKey: newIdempotencyKey(),
      });
      room.stop();
      await showConfirmation(reservation, body);
    } catch (e) {
      if (e.code === "INSUFFICIENT_BALANCE") {
        showAlert(e);
        const shortfall = reservation.totalPrice - Number($("wallet-balance").textContent);
        if (shortfall > 0) $("topup-amount").value = String(shortfall);
        $("topup-amount").focus();
      } else if (e.code === "RESERVATION_NOT_PAYABLE") {
        showAlert(e);
        hold.expire();
      } else {
        handleError(e);
      }
    }
  });
  if (hold.expired) $("pay-button").disabled = true;
}

async function release() {
  await busy($("release-button"), async () => {
    try {
      await call("DELETE", `/api/v1/reservations/${state.reservation.reservationId}`);
      hold.stop();
      await chooseAgain();
      announce("The seats were released.");
    } catch (e) {
      handleError(e);
    }
  });
}

async function chooseAgain() {
  chooseDate(state.schedule);
}

async function showConfirmation(reservation, receipt) {
  hold.stop();
  showBalance(receipt.balanceAfter);
  const seats = reservation.seats.map((s) => s.number).join(", ");
  const noun = reservation.seats.length === 1 ? "seat" : "seats";
  $("confirmation-text").textContent =
    `You paid ${won(receipt.amount)} for ${noun} ${seats} at ${state.concert.title}, ${when(state.schedule.startsAt)}. ` +
    `Your wallet balance is now ${won(receipt.balanceAfter)}. Reservation number: ${reservation.reservationId}.`;
  showView("confirmation");
  announce("Payment done: your booking is confirmed.");
  try {
    await showLedger();
  } catch (e) {
    handleError(e);
  }
}

// ---- wallet ------------------------------------------------------------------------------------

async function topUpClicked(event) {
  event.preventDefault();
  const amount = Number($("topup-amount").value);
  if (!Number.isInteger(amount) || amount < 1 || amount > limits.chargeMax) {
    showAlert({ code: "VALIDATION_FAILED" }, `Enter a whole number of won from 1 to ${limits.chargeMax.toLocaleString("en-US")}.`);
    return;
  }
  await busy($("topup-button"), async () => {
    try {
      const receipt = await topUp(amount);
      announce(`Added ${won(receipt.amount)}. Balance: ${won(receipt.balance)}.`);
      if (currentView() === "confirmation") await showLedger();
    } catch (e) {
      handleError(e);
    }
  });
}

// ---- start -------------------------------------------------------------------------------------

function wire() {
  wireSignIn({ onSignedIn: signedIn, onError: handleError });
  $("signout-button").addEventListener("click", signOut);
  $("leave-queue-button").addEventListener("click", leaveQueue);
  for (const b of document.querySelectorAll(".leave-button")) b.addEventListener("click", leaveQueue);
  $("hold-button").addEventListener("click", holdSeats);
  $("refresh-seats-button").addEventListener("click", async () => {
    if (await loadSeats()) announce("Seat map refreshed.");
  });
  $("back-to-dates-button").addEventListener("click", showDates);
  $("pay-button").addEventListener("click", pay);
  $("release-button").addEventListener("click", release);
  $("choose-again-button").addEventListener("click", chooseAgain);
  $("back-to-concerts-button").addEventListener("click", showConcerts);
  $("topup-form").addEventListener("submit", topUpClicked);
  setInterval(showTurnEnds, 1000);
}

async function start() {
  wire();
  limits = await readLimits();
  picker.maxSeats = limits.maxSeatsPerHold;
  $("topup-amount").max = String(limits.chargeMax);
  if (limits.demoSignIn === false) $("signin-unavailable").hidden = false;
  const token = savedToken();
  if (token) {
    try {
      await signedIn(await useToken(token));
      return;
    } catch (e) {
      signOutLocally();
      if (e.code !== "UNAUTHENTICATED") showAlert(e);
      return;
    }
  }
  showView("signin");
  document.body.dataset.ready = "true";
}

start().finally(() => {
  document.body.dataset.ready = "true";
});

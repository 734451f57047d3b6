// The journey: sign in, concerts, waiting room, dates, seat map, hold, pay, confirmation.
// Every call goes to the public API; every error is shown in #alert.

import { call, readLimits, setBearer, newIdempotencyKey } from "./api.js";
import { seatsTakenMessage } from "./messages.js";
import { $, announce, busy, clock, currentView, el, showAlert, showView, when, won } from "./view.js";
import { WaitingRoom } from "./queue.js";
import { SeatPicker } from "./seats.js";
import { HoldView } from "./hold.js";
import { refreshBalance, showBalance, showLedger, topUp } from "./wallet.js";

/** Where the signed-in user's token is kept for this tab (it survives a reload). */
const SESSION_KEY = "concert-tickets.session";
/** How often an open seat map refreshes by itself, in milliseconds. */
const SEAT_REFRESH_MS = 10000;

const state = { concert: null, activeUntil: null, schedule: null, reservation: null, balance: 0 };
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

async function signInDemo(event) {
  event.preventDefault();
  const userId = Number($("user-id").value);
  if (!Number.isInteger(userId) || userId < 1) {
    showAlert({ code: "VALIDATION_FAILED" }, "Enter a user number: a whole number of 1 or more.");
    return;
  }
  await busy($("signin-button"), async () => {
    try {
      const { body } = await call("POST", "/api/v1/demo/sign-in", { body: { userId }, auth: false });
      await signedIn(body.accessToken);
    } catch (e) {
      if (e.status === 404) {
        $("signin-unavailable").hidden = false;
        showAlert(e, "Demo sign-in is turned off on this server. Paste a user token below instead.");
        $("token-input").focus();
      } else {
        handleError(e);
      }
    }
  });
}

async function signInWithToken(event) {
  event.preventDefault();
  const token = $("token-input").value.trim().replace(/^Bearer\s+/i, "");
  if (!token) return;
  await busy($("token-button"), async () => {
    try {
      await signedIn(token);
    } catch (e) {
      signOutLocally();
      showAlert(e, e.code === "UNAUTHENTICATED" ? "That token was not accepted: it is malformed, expired or signed with another secret." : undefined);
    }
  });
}

/** Uses `token`, checks it by reading the wallet, and shows the concerts. */
async function signedIn(token) {
  setBearer(token);
  const wallet = await refreshBalance();
  state.balance = wallet.balance;
  sessionStorage.setItem(SESSION_KEY, JSON.stringify({ token, userId: wallet.userId }));
  $("who").textContent = `user ${wallet.userId}`;
  $("account").hidden = false;
  $("wallet-panel").hidden = false;
  announce(`Signed in as user ${wallet.userId}.`);
  await showConcerts();
}

function signOutLocally() {
  room.stop();
  hold.stop();
  stopSeatRefresh();
  setBearer(null);
  sessionStorage.removeItem(SESSION_KEY);
  $("account").hidden = true;
  $("wallet-panel").hidden = true;
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
  announce("You left the line.");
  await showConcerts();
}

function admitted(ticket) {
  state.activeUntil = ticket.activeUntil ? Date.parse(ticket.activeUntil) : null;
  announce("It is your turn. Choose a date.");
  showDates();
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
  } catch (e) {
    handleError(e);
  }
}

function chooseDate(schedule) {
  state.schedule = schedule;
  picker.clear();
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
      } else {
        handleError(e);
      }
    }
  });
  $("hold-button").disabled = picker.selection().length === 0;
}

// ---- hold, pay, confirmation ---------------------------------------------------------------------

function showHold(reservation) {
  stopSeatRefresh();
  state.reservation = reservation;
  // The hold's length by the server's clock, counted down on this one: clocks may differ.
  const ttl = Date.parse(reservation.heldUntil) - Date.parse(reservation.createdAt);
  const deadline = Number.isFinite(ttl) ? Date.now() + ttl : Date.parse(reservation.heldUntil);
  $("hold-concert").textContent = `${state.concert.title} · ${when(state.schedule.startsAt)}`;
  showView("hold");
  hold.show(reservation, deadline, new Map(picker.seats.map((s) => [s.seatId, s])));
  picker.clear();
  announce(`${reservation.seats.length} seats held for you. Pay within ${clock(hold.secondsLeft())}.`);
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
      announce("The seats were released.");
      await chooseAgain();
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
  $("signin-form").addEventListener("submit", signInDemo);
  $("token-form").addEventListener("submit", signInWithToken);
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
  const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
  if (saved && saved.token) {
    try {
      await signedIn(saved.token);
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

// The page's frame: which view shows, the alert and status lines, and formatting helpers.

import { messageFor } from "./messages.js";

/** The element with `id`. */
export const $ = (id) => document.getElementById(id);

const TITLES = {
  signin: "Sign in",
  concerts: "Concerts",
  queue: "Waiting room",
  dates: "Choose a date",
  seats: "Choose seats",
  hold: "Seats held",
  confirmation: "Booking confirmed",
};

let firstView = true;

/**
 * Shows view `name` (body[data-view]) and moves focus to its heading (not on the first view of
 * the page, where the reader starts at the top anyway). The status line is emptied: announce
 * after showing.
 */
export function showView(name, { keepAlert = false } = {}) {
  document.body.dataset.view = name;
  $("status").textContent = "";
  for (const section of document.querySelectorAll("[data-view-name]")) {
    section.hidden = section.dataset.viewName !== name;
  }
  document.title = `${TITLES[name] || ""} · Concert tickets`;
  if (!keepAlert) clearAlert();
  const heading = document.querySelector(`[data-view-name="${name}"] h1`);
  if (heading && !firstView) heading.focus();
  firstView = false;
}

/** The view now shown. */
export function currentView() {
  return document.body.dataset.view;
}

/** Shows `error` (an ApiError, or a message string) in #alert; `text` overrides its wording. */
export function showAlert(error, text) {
  const alert = $("alert");
  const code = typeof error === "string" ? "" : error.code;
  alert.textContent = text || (typeof error === "string" ? error : messageFor(error));
  if (code) alert.dataset.code = code;
  else delete alert.dataset.code;
  alert.hidden = false;
}

/** Empties and hides #alert. */
export function clearAlert() {
  const alert = $("alert");
  alert.textContent = "";
  delete alert.dataset.code;
  alert.hidden = true;
}

/** Announces `text` politely (#status); `spokenOnly` keeps it off the screen. */
export function announce(text, { spokenOnly = false } = {}) {
  const status = $("status");
  status.textContent = text;
  // A throttled update (the place in line) would read stale on screen, where the view already
  // shows the live figures: such text is only for screen readers.
  status.classList.toggle("visually-hidden", spokenOnly);
}

/** `n` won, grouped for reading: "150,000 won". */
export function won(n) {
  return `${Number(n).toLocaleString("en-US")} won`;
}

/** A date and time in the reader's time zone. */
export function when(iso) {
  return new Date(iso).toLocaleString(undefined, {
    weekday: "short",
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
  });
}

/** `secs` as m:ss (or h:mm:ss), never negative. */
export function clock(secs) {
  const s = Math.max(0, Math.ceil(secs));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${String(m).padStart(2, "0")}:${ss}`;
}

/** A wait in words: "about 2 minutes". */
export function waitWords(secs) {
  if (secs === null || secs === undefined) return "—";
  if (secs < 60) return secs <= 1 ? "about a second" : `about ${Math.round(secs)} seconds`;
  const mins = Math.round(secs / 60);
  return mins === 1 ? "about a minute" : `about ${mins} minutes`;
}

/** Sets `button` busy (disabled, aria-busy) while `work` runs, and re-enables it after. */
export async function busy(button, work) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

/** An element `tag` with `props` (properties, or data-/aria- attributes) and children. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key.startsWith("data-") || key.startsWith("aria-") || key === "role") node.setAttribute(key, value);
    else node[key] = value;
  }
  node.append(...children);
  return node;
}

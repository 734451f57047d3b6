// The waiting room: joins a concert's line, polls the place in line (which also keeps it
// alive), honours Retry-After, and hands over by itself when the token becomes ACTIVE.

import { call } from "./api.js";
import { $, announce, clock, showAlert, waitWords, when } from "./view.js";

/** Seconds between polls while waiting (the admission tick is about a second). */
const WAITING_POLL_SECS = 1;
/** Seconds between polls before the sale opens (nothing moves until the draw). */
const PRE_QUEUE_POLL_SECS = 2;
/** Seconds before retrying after an error that says nothing about when. */
const ERROR_RETRY_SECS = 3;
/** Least seconds between two spoken position updates. */
const ANNOUNCE_EVERY_MS = 15000;

/** Errors after which polling later may still work. */
const TRANSIENT = new Set(["NETWORK", "RATE_LIMITED", "SERVICE_UNAVAILABLE", "INTERNAL"]);

export class WaitingRoom {
  /**
   * `onActive(ticket)` runs once the token is ACTIVE; `onError(error)` gets errors that end the
   * wait (it decides how to show them).
   */
  constructor({ onActive, onError }) {
    this.onActive = onActive;
    this.onError = onError;
    this.token = null;
    this.timer = null;
    this.generation = 0;
    $("rejoin-button").addEventListener("click", () => this.join(this.concert));
  }

  /** Joins `concert`'s line (or gets the live place the user already has) and starts polling. */
  async join(concert) {
    this.stop();
    const generation = this.generation;
    this.concert = concert;
    this.token = null;
    this.startPosition = null;
    this.lastAnnounced = 0;
    $("queue-concert").textContent = `${concert.title} · ${concert.venue}`;
    $("rejoin-button").hidden = true;
    this.render({ status: "JOINING", position: null, estimatedWaitSeconds: null });
    let res;
    try {
      res = await call("POST", `/api/v1/concerts/${concert.id}/queue-tokens`);
    } catch (e) {
      if (generation !== this.generation) return;
      if (TRANSIENT.has(e.code)) {
        // Refused for a while (rate limit, outage): try again when the server says.
        showAlert(e);
        const secs = Math.max(e.retryAfterSeconds || 0, ERROR_RETRY_SECS);
        this.timer = setTimeout(() => generation === this.generation && this.join(concert), secs * 1000);
        return;
      }
      $("rejoin-button").hidden = false;
      this.onError(e);
      return;
    }
    if (generation !== this.generation) return;
    this.token = res.body.token;
    this.handle(res.body, res.retryAfterSeconds);
  }

  /** Stops polling (the place in line is kept until the server's idle timeout). */
  stop() {
    this.generation += 1;
    clearTimeout(this.timer);
    this.timer = null;
  }

  /** Leaves the line or frees the active slot, best effort. */
  async leave() {
    this.stop();
    const token = this.token;
    this.token = null;
    if (!token) return;
    try {
      await call("DELETE", "/api/v1/queue-tokens/current", { queueToken: token });
    } catch (e) {
      // Leaving is a courtesy: the token also expires by itself.
    }
  }

  /** Acts on a fresh ticket: hand over, stop, or poll again. */
  handle(ticket, retryAfterSeconds) {
    this.render(ticket);
    if (ticket.status === "ACTIVE") {
      this.stop();
      this.onActive(ticket);
    } else if (ticket.status === "EXPIRED") {
      this.stop();
      $("rejoin-button").hidden = false;
      showAlert({ code: "QUEUE_TOKEN_EXPIRED" }, "Your place in line expired. Join the line again to continue.");
    } else {
      const base = ticket.status === "PRE_QUEUE" ? PRE_QUEUE_POLL_SECS : WAITING_POLL_SECS;
      this.schedule(Math.max(base, retryAfterSeconds || 0));
    }
  }

  schedule(secs) {
    clearTimeout(this.timer);
    const generation = this.generation;
    this.timer = setTimeout(() => this.poll(generation), secs * 1000);
  }

  async poll(generation) {
    if (generation !== this.generation || !this.token) return;
    try {
      const res = await call("GET", "/api/v1/queue-tokens/current", { queueToken: this.token });
      if (generation !== this.generation) return;
      this.handle(res.body, res.retryAfterSeconds);
    } catch (e) {
      if (generation !== this.generation) return;
      if (TRANSIENT.has(e.code)) {
        showAlert(e);
        this.schedule(Math.max(e.retryAfterSeconds || 0, ERROR_RETRY_SECS));
      } else {
        this.stop();
        $("rejoin-button").hidden = false;
        this.onError(e);
      }
    }
  }

  /** Shows `ticket`: status, place, progress and the estimated wait. */
  render(ticket) {
    const { status, position } = ticket;
    $("queue-status").textContent = status === "JOINING" ? "—" : status;
    $("queue-status").dataset.status = status;
    $("queue-position").textContent = position === null || position === undefined ? "—" : String(position);
    const progress = $("queue-progress");
    if (status === "ACTIVE") {
      progress.max = 1;
      progress.value = 1;
    } else if (position) {
      // From the first place seen (1 step in) to the front (all but the last step).
      this.startPosition = Math.max(this.startPosition || 0, position);
      progress.max = this.startPosition + 1;
      progress.value = this.startPosition - position + 1;
    } else {
      progress.removeAttribute("value");
    }
    $("queue-wait").textContent = this.waitText(ticket);
    $("queue-explain").textContent = this.explain(ticket);
    this.speak(ticket);
  }

  waitText(ticket) {
    if (ticket.status === "PRE_QUEUE" && ticket.saleOpensAt) {
      const secs = (Date.parse(ticket.saleOpensAt) - Date.now()) / 1000;
      return `sale opens in ${clock(secs)}`;
    }
    if (ticket.status === "ACTIVE") return "none: it is your turn";
    return waitWords(ticket.estimatedWaitSeconds);
  }

  explain(ticket) {
    switch (ticket.status) {
      case "PRE_QUEUE":
        return `The sale opens ${ticket.saleOpensAt ? when(ticket.saleOpensAt) : "soon"}. Everyone who joins before then gets a place in line drawn at random when it opens.`;
      case "WAITING":
        return `You are number ${ticket.position} in line. People ahead of you are let in a few at a time.`;
      case "ACTIVE":
        return "It is your turn. Taking you to the dates…";
      case "EXPIRED":
        return "Your place in line expired.";
      default:
        return "Joining the line…";
    }
  }

  /** Tells a screen reader the place in line now and then, not on every poll. */
  speak(ticket) {
    const now = Date.now();
    if (ticket.status === "WAITING" && now - this.lastAnnounced >= ANNOUNCE_EVERY_MS) {
      this.lastAnnounced = now;
      announce(`You are number ${ticket.position} in line; estimated wait ${waitWords(ticket.estimatedWaitSeconds)}.`, {
        spokenOnly: true,
      });
    } else if (ticket.status === "PRE_QUEUE" && !this.lastAnnounced) {
      this.lastAnnounced = now;
      announce("You are in the pre-queue. Your place is drawn when the sale opens.");
    }
  }
}

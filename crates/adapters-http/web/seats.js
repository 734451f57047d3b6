// The seat map: seats laid out by row with grade and price, taken seats disabled, and a
// selection of up to the hold limit.

import { $, announce, el, won } from "./view.js";

/** A seat number's row and its place in the row: "A-3" → ["A", "3"], "B12" → ["B", "12"]. */
export function splitSeatNumber(number) {
  const dash = number.lastIndexOf("-");
  if (dash > 0) return [number.slice(0, dash), number.slice(dash + 1)];
  const match = /^([A-Za-z]+)\s*(\d.*)$/.exec(number);
  return match ? [match[1], match[2]] : ["", number];
}

/** Orders "2" before "10". */
const natural = new Intl.Collator(undefined, { numeric: true }).compare;

export class SeatPicker {
  /** `maxSeats` is the most seats one hold may have. */
  constructor(maxSeats) {
    this.maxSeats = maxSeats;
    this.seats = [];
    this.selected = new Set();
    $("seat-map").addEventListener("click", (event) => {
      const button = event.target.closest("button[data-seat-id]");
      if (button) this.toggle(Number(button.dataset.seatId));
    });
  }

  /**
   * Shows `seats` (as the API lists them), keeping the still-available selected ones. The same
   * seats as shown are updated in place (their buttons, and the focus, stay).
   */
  show(seats) {
    const same = seats.length === this.seats.length && seats.every((s, i) => s.seatId === this.seats[i].seatId);
    this.seats = seats;
    const available = new Set(seats.filter((s) => s.available).map((s) => s.seatId));
    for (const id of [...this.selected]) if (!available.has(id)) this.selected.delete(id);
    if (!same) {
      this.render();
      return;
    }
    for (const seat of seats) {
      const button = $(`seat-${seat.seatId}`);
      button.dataset.taken = String(!seat.available);
      this.updateButton(button, seat);
    }
    this.renderLegend(this.gradeRanks());
    this.renderSummary();
  }

  /** Forgets the selection. */
  clear() {
    this.selected.clear();
  }

  /** Forgets the map too (before another date's map is read, so no stale one shows). */
  reset() {
    this.clear();
    this.seats = [];
    $("seat-map").replaceChildren();
    $("seat-legend").replaceChildren();
    this.renderSummary();
  }

  /** The selected seats, in map order. */
  selection() {
    return this.seats.filter((s) => this.selected.has(s.seatId));
  }

  /** The seats of `ids` that the map now shows as taken. */
  takenAmong(ids) {
    const wanted = new Set(ids);
    return this.seats.filter((s) => wanted.has(s.seatId) && !s.available);
  }

  toggle(seatId) {
    const seat = this.seats.find((s) => s.seatId === seatId);
    if (!seat || !seat.available) return;
    if (this.selected.has(seatId)) {
      this.selected.delete(seatId);
    } else if (this.selected.size >= this.maxSeats) {
      announce(`You can hold up to ${this.maxSeats} seats at once. Unselect one first.`);
      $("selection-summary").textContent = `You can hold up to ${this.maxSeats} seats at once: unselect one to choose another. ${this.summaryText()}`;
      return;
    } else {
      this.selected.add(seatId);
    }
    this.updateButton($(`seat-${seatId}`), seat);
    this.renderSummary();
  }

  render() {
    const map = $("seat-map");
    const rows = new Map();
    for (const seat of this.seats) {
      const [row] = splitSeatNumber(seat.number);
      if (!rows.has(row)) rows.set(row, []);
      rows.get(row).push(seat);
    }
    const ranks = this.gradeRanks();
    map.replaceChildren(
      ...[...rows.entries()].map(([row, seats]) => {
        seats.sort((a, b) => natural(a.number, b.number));
        const label = row ? `Row ${row}` : "Seats";
        return el(
          "div",
          { className: "seat-row", "data-row": row, role: "group", "aria-label": label },
          el("span", { className: "row-label", "aria-hidden": "true" }, row),
          ...seats.map((seat) => this.seatButton(seat, ranks.get(seat.grade))),
        );
      }),
    );
    this.renderLegend(ranks);
    this.renderSummary();
  }

  seatButton(seat, rank) {
    const [, place] = splitSeatNumber(seat.number);
    const button = el("button", {
      type: "button",
      id: `seat-${seat.seatId}`,
      className: `seat grade-${Math.min(rank, 4)}`,
      "data-seat-id": seat.seatId,
      "data-taken": String(!seat.available),
      "data-grade": seat.grade,
      "data-price": seat.price,
      title: `${seat.number} · ${seat.grade} · ${won(seat.price)}`,
    }, place);
    this.updateButton(button, seat);
    return button;
  }

  updateButton(button, seat) {
    const selected = this.selected.has(seat.seatId);
    button.disabled = !seat.available;
    button.setAttribute("aria-pressed", String(selected));
    const state = seat.available ? (selected ? "selected" : "available") : "taken";
    button.setAttribute("aria-label", `Seat ${seat.number}, ${seat.grade}, ${won(seat.price)}, ${state}`);
  }

  /** Grades by descending price: rank 0 is the dearest (for colours). */
  gradeRanks() {
    const prices = new Map();
    for (const s of this.seats) prices.set(s.grade, Math.max(prices.get(s.grade) || 0, s.price));
    const order = [...prices.entries()].sort((a, b) => b[1] - a[1]).map(([g]) => g);
    return new Map(order.map((g, i) => [g, i]));
  }

  renderLegend(ranks) {
    const items = [...ranks.entries()].map(([grade, rank]) => {
      const prices = this.seats.filter((s) => s.grade === grade).map((s) => s.price);
      const low = Math.min(...prices);
      const high = Math.max(...prices);
      const price = low === high ? won(low) : `${won(low)} – ${won(high)}`;
      const left = this.seats.filter((s) => s.grade === grade && s.available).length;
      return el("li", {},
        el("span", { className: `swatch grade-${Math.min(rank, 4)}`, "aria-hidden": "true" }),
        `${grade}: ${price} (${left} left)`);
    });
    items.push(el("li", {}, el("span", { className: "swatch taken", "aria-hidden": "true" }), "Taken"));
    items.push(el("li", {}, el("span", { className: "swatch chosen", "aria-hidden": "true" }), "Selected"));
    $("seat-legend").replaceChildren(...items);
  }

  summaryText() {
    const chosen = this.selection();
    if (chosen.length === 0) return `No seats selected (up to ${this.maxSeats}).`;
    const total = chosen.reduce((sum, s) => sum + s.price, 0);
    const names = chosen.map((s) => `${s.number} (${s.grade})`).join(", ");
    return `${chosen.length} of up to ${this.maxSeats} seats selected: ${names}. Total ${won(total)}.`;
  }

  renderSummary() {
    $("selection-summary").textContent = this.summaryText();
    $("hold-button").disabled = this.selected.size === 0;
  }
}

// The wallet: balance, top-up (a fresh Idempotency-Key per click) and the ledger.

import { call, newIdempotencyKey } from "./api.js";
import { $, el, when } from "./view.js";

const KINDS = { CHARGE: "Top-up", PAYMENT: "Payment", REFUND: "Refund" };

/** Reads the balance and shows it; resolves to the wallet ({ userId, balance }). */
export async function refreshBalance() {
  const { body } = await call("GET", "/api/v1/wallet");
  showBalance(body.balance);
  return body;
}

/** Shows `balance` (plain digits in #wallet-balance, for people and tests alike). */
export function showBalance(balance) {
  const node = $("wallet-balance");
  node.textContent = String(balance);
  node.dataset.balance = String(balance);
}

/** Charges `amount` won with a new key; resolves to the receipt. */
export async function topUp(amount) {
  const { body } = await call("POST", "/api/v1/wallet/charges", {
    body: { amount },
    idempotencyKey: newIdempotencyKey(),
  });
  showBalance(body.balance);
  return body;
}

/** Reads the newest transactions into #ledger-body. */
export async function showLedger() {
  const { body } = await call("GET", "/api/v1/wallet/transactions?limit=20");
  $("ledger-body").replaceChildren(
    ...body.items.map((t) =>
      el(
        "tr",
        { "data-kind": t.kind },
        el("td", {}, when(t.createdAt)),
        el("td", {}, KINDS[t.kind] || t.kind),
        el("td", { className: "num" }, t.amount.toLocaleString("en-US")),
        el("td", { className: "num" }, t.balanceAfter.toLocaleString("en-US")),
      ),
    ),
  );
}

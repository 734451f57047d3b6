// Signing in: the demo sign-in, or a pasted user token when the server has it turned off; the
// token is kept for this tab, so a reload stays signed in.

import { call, setBearer } from "./api.js";
import { $, busy, showAlert } from "./view.js";
import { refreshBalance } from "./wallet.js";

/** Where the signed-in user's token is kept for this tab. */
const SESSION_KEY = "concert-tickets.session";

/**
 * Wires the sign-in forms: `onSignedIn(wallet)` runs after a sign-in, `onError(error)` shows
 * the errors this module does not word itself.
 */
export function wireSignIn({ onSignedIn, onError }) {
  $("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const userId = Number($("user-id").value);
    if (!Number.isInteger(userId) || userId < 1) {
      showAlert({ code: "VALIDATION_FAILED" }, "Enter a user number: a whole number of 1 or more.");
      return;
    }
    await busy($("signin-button"), async () => {
      try {
        const { body } = await call("POST", "/api/v1/demo/sign-in", { body: { userId }, auth: false });
        await onSignedIn(await useToken(body.accessToken));
      } catch (e) {
        if (e.status === 404) {
          $("signin-unavailable").hidden = false;
          showAlert(e, "Demo sign-in is turned off on this server. Paste a user token below instead.");
          $("token-input").focus();
        } else {
          onError(e);
        }
      }
    });
  });
  $("token-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = $("token-input").value.trim().replace(/^Bearer\s+/i, "");
    if (!token) return;
    await busy($("token-button"), async () => {
      try {
        await onSignedIn(await useToken(token));
      } catch (e) {
        forgetSession();
        const rejected = "That token was not accepted: it is malformed, expired or signed with another secret.";
        showAlert(e, e.code === "UNAUTHENTICATED" ? rejected : undefined);
      }
    });
  });
}

/** Uses `token`, checks it by reading the wallet, and keeps it; resolves to the wallet. */
export async function useToken(token) {
  setBearer(token);
  const wallet = await refreshBalance();
  sessionStorage.setItem(SESSION_KEY, JSON.stringify({ token, userId: wallet.userId }));
  $("who").textContent = `user ${wallet.userId}`;
  $("account").hidden = false;
  $("wallet-panel").hidden = false;
  return wallet;
}

/** The token kept by an earlier sign-in in this tab, or null. */
export function savedToken() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
    return saved && typeof saved.token === "string" ? saved.token : null;
  } catch (e) {
    return null;
  }
}

/** Forgets the token and hides what belongs to a signed-in user. */
export function forgetSession() {
  setBearer(null);
  sessionStorage.removeItem(SESSION_KEY);
  $("account").hidden = true;
  $("wallet-panel").hidden = true;
}

// The public API, as any client calls it: JSON in and out, problem+json errors turned into
// ApiError, the user's token, the Queue-Token and Idempotency-Key headers, and Retry-After.

/** An answer that is not 2xx (or no answer at all): the problem+json body, read. */
export class ApiError extends Error {
  constructor(status, problem, retryAfterSeconds) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.code = problem.code || (status ? `HTTP_${status}` : "NETWORK");
    this.title = problem.title || "";
    this.detail = problem.detail || "";
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

let bearer = null;

/** Uses `token` (a user JWT) for every later call; null signs out. */
export function setBearer(token) {
  bearer = token;
}

/** Seconds from a Retry-After header (delta-seconds or an HTTP date), or null. */
function retryAfter(res) {
  const raw = res.headers.get("Retry-After");
  if (!raw) return null;
  const secs = Number(raw);
  if (Number.isFinite(secs)) return Math.max(0, secs);
  const when = Date.parse(raw);
  return Number.isNaN(when) ? null : Math.max(0, (when - Date.now()) / 1000);
}

/**
 * Calls the API. Resolves to { status, body, retryAfterSeconds, date } on 2xx; rejects with an
 * ApiError otherwise (code NETWORK when the server cannot be reached).
 */
export async function call(method, path, options = {}) {
  const headers = { Accept: "application/json, application/problem+json" };
  if (bearer && options.auth !== false) headers.Authorization = `Bearer ${bearer}`;
  if (options.queueToken) headers["Queue-Token"] = options.queueToken;
  if (options.idempotencyKey) headers["Idempotency-Key"] = options.idempotencyKey;
  const init = { method, headers, cache: "no-store" };
  if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, { code: "NETWORK", title: "The server cannot be reached" }, null);
  }
  const text = await res.text();
  let body = null;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch (e) {
      body = null;
    }
  }
  const wait = retryAfter(res);
  if (!res.ok) {
    const problem = body && typeof body === "object" ? body : { title: res.statusText };
    throw new ApiError(res.status, problem, wait);
  }
  const date = Date.parse(res.headers.get("Date") || "");
  return { status: res.status, body, retryAfterSeconds: wait, date: Number.isNaN(date) ? null : date };
}

/** A fresh Idempotency-Key (a random UUID), also where randomUUID is missing (plain http). */
export function newIdempotencyKey() {
  if (globalThis.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The limits the server states in its OpenAPI document, with the contract's defaults. */
export async function readLimits() {
  const limits = { maxSeatsPerHold: 4, chargeMax: 1000000, demoSignIn: null };
  try {
    const { body } = await call("GET", "/api-docs/openapi.json", { auth: false });
    const schemas = (body.components && body.components.schemas) || {};
    const seatIds = schemas.HoldRequest && schemas.HoldRequest.properties.seatIds;
    if (seatIds && Number.isInteger(seatIds.maxItems)) limits.maxSeatsPerHold = seatIds.maxItems;
    const amount = schemas.ChargeRequest && schemas.ChargeRequest.properties.amount;
    if (amount && Number.isInteger(amount.maximum)) limits.chargeMax = amount.maximum;
    limits.demoSignIn = Boolean(body.paths && body.paths["/api/v1/demo/sign-in"]);
  } catch (e) {
    // The defaults stand; the API itself still enforces the real limits.
  }
  return limits;
}

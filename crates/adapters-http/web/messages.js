// Clear words for every problem code of the contract. A code not listed here falls back to the
// problem's own title and detail, so a new server error is still shown, never swallowed.

const MESSAGES = {
  NETWORK: "The server cannot be reached. Check that it is running, then try again.",
  UNAUTHENTICATED: "Your sign-in is no longer valid. Please sign in again.",
  QUEUE_TOKEN_REQUIRED: "Your place in the waiting line was lost. Join the line again.",
  QUEUE_TOKEN_NOT_ACTIVE: "It is not your turn (any more): your time to book ran out or you are still waiting. Join the line again.",
  FORBIDDEN: "You are not allowed to do that.",
  NOT_FOUND: "That no longer exists.",
  VALIDATION_FAILED: "The request was not accepted",
  SEAT_UNAVAILABLE: "One of the seats you chose was just taken by someone else. The seat map has been refreshed: please choose again.",
  HOLD_LIMIT_EXCEEDED: "You would hold more seats than allowed at once. Pay for or release the seats you already hold first.",
  RESERVATION_NOT_PAYABLE: "This hold can no longer be paid: it has expired, been released or is already paid.",
  RESERVATION_NOT_CANCELLABLE: "This reservation can no longer be released.",
  INSUFFICIENT_BALANCE: "Your wallet balance is too low for this payment. Top up your wallet, then pay again.",
  BALANCE_LIMIT_EXCEEDED: "That top-up would take your wallet over its maximum balance. Choose a smaller amount.",
  IDEMPOTENCY_KEY_REQUIRED: "The request was missing its idempotency key. Please try again.",
  IDEMPOTENCY_KEY_REUSED: "That request was already sent with different details. Please try again.",
  IDEMPOTENCY_KEY_IN_USE: "The same request is still being processed. Wait a moment, then check the result.",
  PAYLOAD_TOO_LARGE: "The request was too large.",
  UNSUPPORTED_MEDIA_TYPE: "The request was not sent as JSON.",
  METHOD_NOT_ALLOWED: "That action is not supported here.",
  SALE_CLOSED: "Ticket sales for this concert have closed.",
  SALE_ALREADY_OPEN: "The sale has already opened.",
  SEATS_AVAILABLE: "Seats are still available for this date: choose one instead of joining the waiting list.",
  RATE_LIMITED: "Too many requests in a short time. Please wait a moment",
  SERVICE_UNAVAILABLE: "The service is temporarily unavailable. Please try again shortly.",
  INTERNAL: "Something went wrong on the server. Please try again.",
};

/** The message a person reads for `error` (an ApiError). */
export function messageFor(error) {
  const known = MESSAGES[error.code];
  if (error.code === "VALIDATION_FAILED") {
    return error.detail ? `${known}: ${error.detail}` : `${known}.`;
  }
  if (error.code === "RATE_LIMITED") {
    const secs = error.retryAfterSeconds;
    return secs ? `${known} (about ${Math.ceil(secs)} s), then try again.` : `${known}, then try again.`;
  }
  if (known) return known;
  const parts = [error.title, error.detail].filter(Boolean);
  return parts.length ? parts.join(": ") : `Unexpected answer from the server (HTTP ${error.status}).`;
}

/** The lost-race message, naming the seats that someone else took. */
export function seatsTakenMessage(numbers) {
  if (numbers.length === 0) return MESSAGES.SEAT_UNAVAILABLE;
  const list = numbers.join(", ");
  const verb = numbers.length === 1 ? `Seat ${list} was` : `Seats ${list} were`;
  return `${verb} just taken by someone else. The seat map has been refreshed: please choose again.`;
}

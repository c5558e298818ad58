// The API client: the one place that sends requests (same origin, under /api/v1), attaches the
// session's token, notices a session that has ended (a 401) and turns every other failure into
// an ApiError with a human message. The token lives in sessionStorage: gone with the tab.
import { failureMessage } from "./messages.js";

export const API = "/api/v1";
const TOKEN_KEY = "todo.token";

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

// Thrown when a signed-in call answers 401: the app has already gone back to sign-in and said
// why, so callers show nothing more.
export class SessionEnded extends Error {
  constructor() {
    super("The session has ended.");
    this.name = "SessionEnded";
  }
}

let sessionEndedHandler = () => {};

export function onSessionEnded(handler) {
  sessionEndedHandler = handler;
}

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  start(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

// context: see messages.js; keepalive lets a request outlive the page (a delete on leaving).
export async function request(
  path,
  { method = "GET", json, form, context = "task", keepalive = false } = {},
) {
  const headers = { Accept: "application/json" };
  const token = session.token;
  if (token) headers.Authorization = `Bearer ${token}`;
  let body;
  if (form) {
    body = new URLSearchParams(form);
  } else if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(API + path, { method, headers, body, keepalive });
  } catch {
    throw new ApiError(failureMessage({ network: true }), 0);
  }
  if (response.status === 401 && token && context !== "sign-in") {
    // Only the session that made the call ends: a late answer to an old one leaves a new alone.
    if (session.token === token) {
      session.clear();
      sessionEndedHandler();
    }
    throw new SessionEnded();
  }
  if (!response.ok) {
    const payload = await response.json().catch(() => null);
    const retryAfter = response.headers.get("Retry-After");
    const message = failureMessage({ status: response.status, payload, context, retryAfter });
    throw new ApiError(message, response.status);
  }
  return response.status === 204 ? null : response.json();
}

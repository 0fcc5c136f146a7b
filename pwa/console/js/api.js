// Calls to the therapist API: the session cookie travels by itself; every change carries the
// CSRF token from sign-in. Errors carry the server's {status, detail, errors} body.

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.detail) || (status ? `The server answered ${status}` : "The server cannot be reached"));
    this.status = status;
    this.body = body;
  }
}

const session = { csrf: null, therapistId: null, onSignedOut: null, onCall: null, onOtherSession: null };

// server/auth/identity.py's refusal of a change whose token is not the session's.
const CSRF_REFUSED = "missing or wrong x-csrf-token header";

/** Remember the CSRF token of the signed-in session and whose it is (null when signed out). */
export function setCsrf(token, therapistId = null) {
  session.csrf = token;
  session.therapistId = therapistId;
}

/** Called when any call answers 401: the session ended (expired or signed out elsewhere). */
export function onSignedOut(fn) {
  session.onSignedOut = fn;
}

/** Called with the browser's session (GET /auth/me) when a refused change found that another
 *  therapist signed in meanwhile (in another tab): this tab's page is not theirs. */
export function onOtherSession(fn) {
  session.onOtherSession = fn;
}

/** Called on every call to the server (each one is a use of the session: its idle time restarts). */
export function onCall(fn) {
  session.onCall = fn;
}

// How far the server's clock is ahead of this browser's (ms), from the Date header of the last
// answer: the times the server gives are its own, and a tablet's clock may be off.
let serverAhead = 0;

/** A time the server gave (ISO) on this browser's clock, as of the last answer. */
export function localTime(iso) {
  return Date.parse(iso) - serverAhead;
}

async function send(path, method, body, file = false) {
  if (session.onCall) session.onCall();
  const headers = { Accept: file ? "*/*" : "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && session.csrf) headers["X-CSRF-Token"] = session.csrf;
  let res;
  try {
    res = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, null);
  }
  const date = Date.parse(res.headers.get("Date") || "");
  if (!Number.isNaN(date)) serverAhead = date - Date.now();
  if (file && res.ok) return { res, data: await res.blob() };
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  return { res, data };
}

/**
 * The session the cookie holds now (GET /auth/me), null when none: another tab that signed out
 * and in again gave the browser a new session cookie, while this tab still holds the old
 * session's token.
 */
async function currentSession() {
  const { res, data } = await send("/auth/me", "GET");
  return res.ok && data && data.therapist ? data : null;
}

export async function api(path, { method = "GET", body, quiet401 = false, file = false } = {}) {
  let { res, data } = await send(path, method, body, file);
  if (res.status === 403 && method !== "GET" && data && data.detail === CSRF_REFUSED) {
    const now = await currentSession();
    const mine = now && (session.therapistId === null || now.therapist.id === session.therapistId);
    if (mine) {
      session.csrf = now.csrf_token; // only the same therapist's session is taken
      ({ res, data } = await send(path, method, body, file)); // once: a second refusal is said as it is
    } else {
      // Not done. Nobody is signed in in this browser now: as a session that ended. Someone else:
      // theirs to see (main.js), as a tab told that they signed in.
      if (!quiet401 && now && session.onOtherSession) session.onOtherSession(now);
      else if (!quiet401 && session.onSignedOut) session.onSignedOut();
      throw new ApiError(401, null);
    }
  }
  if (!res.ok) {
    if (res.status === 401 && !quiet401 && session.onSignedOut) session.onSignedOut();
    throw new ApiError(res.status, data);
  }
  if (file) {
    const named = /filename="([^"]+)"/.exec(res.headers.get("content-disposition") || "");
    return { blob: data, filename: named ? named[1] : null };
  }
  return data;
}

/**
 * Download a file the API makes (a plain link would fail silently once the session ended: the
 * browser saves the error or nothing, and no "sign in again" is offered).
 */
export async function download(path, fallbackName) {
  const { blob, filename } = await api(path, { file: true });
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename || fallbackName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** Like api(), but a 404 answers null (an optional resource: no plan yet, no reminders module). */
export async function maybe(path) {
  try {
    return await api(path);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
}

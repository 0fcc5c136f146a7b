// Calls to the patient API. Errors carry the server's {status, detail, errors} body.

import "./core.js";

const core = globalThis.unknotCore;

export class ApiError extends Error {
  constructor(status, body, removed = false) {
    super((body && body.detail) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
    // Unknot's own 401 (core.removalBody): why this device was refused (core.whyRemoved,
    // "removed" or "expired"), else false.
    this.removed = removed;
  }
}

/** The clinic removed this device (or archived or erased the patient): forget them here. Any other
 *  401 (a captive portal, a proxy) is not, and counts as a failure on the way (isOffline). */
export function isRemoved(err) {
  return err instanceof ApiError && Boolean(err.removed);
}

/** True when the request never reached the server (no network, the server is down, or something
 *  in between answered in its place: a 401 that is not Unknot's). */
export function isOffline(err) {
  return !(err instanceof ApiError) || err.status === 503 || err.status === 502 || err.status === 504
    || (err.status === 401 && !err.removed);
}

// The phone's clock against the server's, from the Date header of the last answer that came from
// the network (not a stored copy the worker answered with offline: sw.js marks those, and their
// Date is as old as the copy). With the wall clock and the monotonic clock of that moment, so that
// a clock set since (the patient put it right) is noticed.
let measured = null;
// Off by more than this, the phone's clock is said to be wrong (a few minutes off harm nothing).
const CLOCK_OFF_MS = 15 * 60 * 1000;

function noteServerTime(res) {
  // Only Unknot's own answers (JSON): a captive portal's page carries its own clock.
  if (res.headers.get("X-Unknot-Stored") || !/^application\/json/i.test(res.headers.get("Content-Type") || "")) return;
  const server = Date.parse(res.headers.get("Date") || "");
  if (Number.isNaN(server)) return;
  measured = { ms: server - Date.now(), wall: Date.now(), mono: performance.now() };
}

/** How far the phone's clock is behind the clinic's server (ms; negative: ahead) when it is off by
 *  more than a few minutes, else null; null too before an answer from the network, and once the
 *  phone's clock was set since that answer (its wall clock jumped against the monotonic one). */
export function clockOff() {
  if (!measured) return null;
  const jumped = (Date.now() - measured.wall) - (performance.now() - measured.mono);
  if (Math.abs(jumped) > 60_000) {
    measured = null;
    return null;
  }
  return Math.abs(measured.ms) > CLOCK_OFF_MS ? measured.ms : null;
}

// Answers the worker gave from its stored copy (the network failed): see fromStore.
const storedAnswers = new WeakSet();

/** Whether an answer of call() is the worker's stored copy (sw.js), not the server's answer now. */
export function fromStore(data) {
  return storedAnswers.has(data);
}

export async function call(path, { method = "GET", token, body } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  // Not waiting for ever on a network that passes nothing (see core.deadline).
  const signal = core.deadline();
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
    signal,
  });
  noteServerTime(res);
  const data = await res.json().catch(() => null);
  // Cut short while the answer was still coming in: as if no answer had come.
  if (signal.aborted) throw new Error("timeout");
  if (data && typeof data === "object" && res.headers.get("X-Unknot-Stored")) storedAnswers.add(data);
  if (!res.ok) {
    const removed = core.removalBody(res.status, res.headers.get("Content-Type"), data) && core.whyRemoved(data);
    throw new ApiError(res.status, data, removed);
  }
  return data;
}

/** A device label for the clinic's device list ("iPhone", "Android phone", ...). */
export function deviceLabel(ua = navigator.userAgent) {
  if (/iPhone/.test(ua)) return "iPhone";
  if (/iPad/.test(ua)) return "iPad";
  if (/Android/.test(ua)) return /Mobile/.test(ua) ? "Android phone" : "Android tablet";
  if (/Macintosh/.test(ua)) return "Mac";
  if (/Windows/.test(ua)) return "Windows computer";
  return "Phone";
}

/** iPhone or iPad (iPadOS reports itself as a Mac with touch). */
export function isIos(ua = navigator.userAgent) {
  return /iPhone|iPad|iPod/.test(ua) || (/Macintosh/.test(ua) && navigator.maxTouchPoints > 1);
}

/** Opened from the home screen as an installed app. */
export function isStandalone() {
  return window.matchMedia("(display-mode: standalone)").matches || navigator.standalone === true;
}

/** A client UUID for a record (crypto.randomUUID needs a secure context; fall back to random bytes). */
export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((v) => v.toString(16).padStart(2, "0")).join("");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

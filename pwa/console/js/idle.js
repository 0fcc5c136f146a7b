// When the console's session ends, as the server keeps it: UNKNOT_SESSION_IDLE_MINUTES after its
// last use, and at its expires_at (12 hours after sign-in) however much it is used. At either
// moment the page is hidden and the password asked for over it (main.js), not at the next call.
//
// The server counts only calls as use, so the page's deadline follows its calls, not its keys. A
// therapist typing a long note without saving must not meet the sign-in at Save: a key, a touch or
// the wheel sends a cheap call (GET /auth/me) once the last call is a few minutes old. An untouched
// page sends nothing, so the idle limit still ends a session left alone. The console's tabs tell
// each other when they last called (a time and an end, nothing of a patient): a tab left alone
// beside one in use stays open for as long as the session does.
//
// The browser has one session cookie for all its tabs. A tab that signs out says so, and every
// other tab hides its page at once. A tab that signs in says whose session it is (the therapist's
// id): a tab showing another therapist, asking for the password or showing the sign-in screen asks
// GET /auth/me, and its answer (as every keep-alive's) goes to main.js, which never leaves one
// therapist's patient on screen under another's session.

import { api, localTime, onCall } from "./api.js";

// While the therapist works, a call at most every quarter of the idle limit (30 s for the
// shortest, 2 minutes) and 5 minutes: with the minute the server may miss (it records use once a
// minute), its last use stays well inside the limit.
const KEEP_ALIVE_MAX_MS = 5 * 60_000;

const tabs = typeof BroadcastChannel === "function" ? new BroadcastChannel("unknot-console-session") : null;
// The session's idle limit (ms); null while nobody is signed in or the password is being asked for.
let idleMs = null;
let lastCall = 0;
let endsAt = Infinity;
let timer = null;
// main.js's {ended, signedOutElsewhere, answered}: see watchSession.
let hooks = null;
// The id of the therapist whose session this tab counts.
let whose = null;

function deadline() {
  return Math.min(lastCall + idleMs, endsAt);
}

// Checked again on every touch, call and return of the tab: a sleeping tablet's timers wake late.
function check() {
  clearTimeout(timer);
  timer = null;
  if (idleMs === null) return;
  const left = deadline() - Date.now();
  if (left > 0) {
    timer = setTimeout(check, left);
    return;
  }
  sessionStopped();
  hooks.ended();
}

/** A call reached for the server at `at` (this tab's, or another's): the session's last use. */
function used(at) {
  if (idleMs !== null && Date.now() >= deadline()) {
    check(); // ended before this use: it cannot bring the session back
    return;
  }
  lastCall = Math.max(lastCall, at);
  check();
}

function touched() {
  if (idleMs === null) return;
  if (Date.now() >= deadline()) {
    check();
    return;
  }
  if (Date.now() - lastCall >= Math.min(KEEP_ALIVE_MAX_MS, idleMs / 4)) ask();
}

/** GET /auth/me: whose session the browser holds now. A 401 asks for the password (api.js);
 *  other failures go to `failed` (by default nothing: the next touch, or call, finds out). */
function ask(failed = () => {}) {
  api("/auth/me").then((session) => hooks.answered(session), failed);
}

// Another therapist may be signed in, and it cannot be told: this tab's page is not shown meanwhile.
function unknown() {
  sessionStopped();
  hooks.ended();
}

function heard(data) {
  if (!data) return;
  if (data.signedOut) {
    if (idleMs === null) return; // signed out here too, or already asking for the password
    sessionStopped();
    hooks.signedOutElsewhere();
    return;
  }
  if (Number.isFinite(data.ends)) endsAt = data.ends;
  if (Number.isFinite(data.used)) used(data.used);
  if (!Number.isFinite(data.therapist)) return;
  // Signed out here, or asking for the password: the browser's new session may well be for this
  // page (main.js decides); a failed question leaves the page as it is.
  if (idleMs === null) ask();
  else if (data.therapist !== whose) ask(unknown);
}

/**
 * Watch the session: `ended()` once its idle limit or its end has come; `signedOutElsewhere()`
 * when another tab signed out; `answered(session)` with each GET /auth/me answer asked for here
 * (it may name another therapist than this tab shows, or a session while this tab has none:
 * someone signed in in another tab).
 */
export function watchSession(callbacks) {
  hooks = callbacks;
  onCall(() => {
    const at = Date.now();
    used(at);
    if (tabs) tabs.postMessage({ used: at });
  });
  if (tabs) tabs.onmessage = ({ data }) => heard(data);
  for (const type of ["pointerdown", "keydown", "wheel"]) {
    document.addEventListener(type, touched, { capture: true, passive: true });
  }
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") check();
  });
  // A page the browser kept while another was shown, back by Back or Forward: the session may
  // have changed meanwhile (signed out, signed in as someone else) without this page being told.
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) ask();
  });
}

/** A session answer (sign-in, /auth/me): its idle limit and end start to count. */
export function sessionStarted(session) {
  idleMs = session.idle_minutes * 60_000;
  endsAt = localTime(session.expires_at);
  lastCall = Date.now();
  whose = session.therapist.id;
  // The browser's one cookie is this session now, in every tab.
  if (tabs) tabs.postMessage({ used: lastCall, ends: endsAt, therapist: whose });
  check();
}

/** Signed out by the therapist in this tab: the other tabs hide their pages now, not at their
 *  next call (the message says only that). */
export function sessionSignedOut() {
  sessionStopped();
  if (tabs) tabs.postMessage({ signedOut: true });
}

/** Nobody signed in, or the password being asked for: no deadline meanwhile. */
export function sessionStopped() {
  idleMs = null;
  check();
}

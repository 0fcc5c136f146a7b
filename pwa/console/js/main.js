// The therapist console: session, hash router, header and keyboard shortcuts.
//
// Routes: #/ patients · #/patients/ID detail · #/patients/ID/treat record a treatment ·
// #/patients/ID/plan adjust the active plan · #/patients/ID/handover QR code and printed plan · #/help ·
// #/account change the password
//
// Every view module exports render(params, ctx) -> {node, title, focus?, keys?, cleanup?, dirty?}.
// The router shows the node, sets body[data-view] (tests wait on it), moves focus and wires the
// view's single-key shortcuts. A view with `dirty()` (true while it holds unsaved changes) is not
// left without asking: the console's links and ctx.navigate() (every shortcut) ask before the
// hash changes; the browser's Back and Forward change it first, so the router moves back to the
// view's entry and asks; closing or reloading the tab asks the browser's way (beforeunload).

import { api, ApiError, onOtherSession, onSignedOut, setCsrf } from "./api.js";
import { fill, h } from "./dom.js";
import { sessionSignedOut, sessionStarted, sessionStopped, watchSession } from "./idle.js";
import { confirmDialog, errorBox, explain, toast } from "./ui.js";
import * as account from "./views/account.js";
import * as handover from "./views/handover.js";
import * as help from "./views/help.js";
import * as patient from "./views/patient.js";
import * as patients from "./views/patients.js";
import * as signin from "./views/signin.js";
import * as treat from "./views/treat.js";

const ROUTES = [
  [/^#?\/?(\?archived)?$/, "patients", patients],
  [/^#\/patients\/(\d+)$/, "patient", patient],
  [/^#\/patients\/(\d+)\/treat$/, "treat", treat],
  [/^#\/patients\/(\d+)\/plan$/, "plan", treat],
  [/^#\/patients\/(\d+)\/handover$/, "handover", handover],
  [/^#\/help$/, "help", help],
  [/^#\/account$/, "account", account],
];

const main = document.getElementById("main");
const ctx = {
  therapist: null,
  // Things one view leaves for the next (the fresh invite for the hand-over screen, a message).
  handoff: new Map(),
  navigate(hash) {
    if (unsaved()) leaveThen(() => go(hash));
    else go(hash);
  },
  toast,
};

let current = null;
let cleanup = null;
let keys = {};
// The view that could not be shown because the session had ended: shown once signed in again.
let unshown = false;
// The open "sign in again" question, while there is one.
let reauth = null;
// The shown view's "holds unsaved changes?", the hash it was shown for, and the open question.
let dirty = null;
let shownHash = null;
let asking = null;
// Every history entry of this page carries its place (history.state.at), so a Back or Forward
// the router has to undo while asking is undone by moving back (history.go), never by rewriting
// an entry: Stay then leaves the history exactly as it was. `at` is the shown entry's place.
let at = null;
at = place();
// While asking: the move Leave makes, the last one asked for (a link, then Back: Back).
let leaveTo = null;
// The last element focused outside a dialog (focus goes back there after "sign in again").
let lastFocus = null;
document.addEventListener("focusin", (event) => {
  if (!event.target.closest("dialog")) lastFocus = event.target;
});

function unsaved() {
  return Boolean(ctx.therapist && dirty && dirty());
}

/** True when leaving the view loses nothing, or the therapist chose to leave its changes. */
function mayLeave() {
  if (!unsaved()) return Promise.resolve(true);
  if (!asking) {
    asking = confirmDialog({
      title: "Leave without saving?",
      body: "The changes on this screen are not saved yet. If you leave, they are lost.",
      confirm: "Leave without saving",
      cancel: "Stay on this screen",
      danger: true,
    }).then((leave) => {
      asking = null;
      if (leave) dirty = null;
      return leave;
    });
  }
  return asking;
}

/** Ask before leaving unsaved changes; on Leave make `move`, or the one asked for after it while
 *  the question was open: one move, never two. */
function leaveThen(move) {
  const asked = leaveTo !== null;
  leaveTo = move;
  if (asked) return;
  mayLeave().then((leave) => {
    const last = leaveTo;
    leaveTo = null;
    if (leave) last();
  });
}

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

/** The current entry's place in the history; a new entry (a link, a typed address) gets the next one. */
function place() {
  const state = history.state;
  if (state && Number.isInteger(state.at)) return state.at;
  const next = at === null ? 0 : at + 1;
  history.replaceState({ at: next }, "");
  return next;
}

function hashChanged() {
  const target = location.hash || "#/";
  const here = place();
  const moved = here - at;
  if (moved === 0 && target === shownHash) return; // back on the shown entry after an undone move
  if (shownHash === null || target === shownHash || !unsaved()) {
    at = here;
    route();
    return;
  }
  // The browser's Back or Forward (or a typed address) left this screen's entry first: return to
  // it while asking, and on Leave go where the browser was going.
  history.go(-moved);
  leaveThen(() => history.go(moved));
}

function setHeader() {
  const signedIn = Boolean(ctx.therapist);
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("signout").hidden = !signedIn;
  const who = document.getElementById("who");
  who.hidden = !signedIn;
  fill(who, signedIn ? ctx.therapist.name : "");
  for (const a of [...document.querySelectorAll("#nav a"), who]) {
    const here = a.getAttribute("href") === (location.hash || "#/") ||
      (a.getAttribute("href") === "#/" && /^#\/patients/.test(location.hash));
    if (here) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

async function show(name, module, params) {
  const token = Symbol(name);
  current = token;
  if (cleanup) cleanup();
  cleanup = null;
  keys = {};
  dirty = null;
  main.setAttribute("aria-busy", "true");
  let view;
  try {
    view = await module.render(params, ctx);
  } catch (err) {
    if (current !== token) return;
    if (err instanceof ApiError && err.status === 401) {
      unshown = true; // signing in again comes first
      return;
    }
    view = {
      node: h("section", { class: "view" }, h("h1", { tabindex: "-1" }, "This page could not be shown"), errorBox(err),
        h("p", {}, h("a", { href: "#/" }, "Back to the patients"))),
      title: "Error",
    };
  }
  if (current !== token) {
    if (view && view.cleanup) view.cleanup();
    return;
  }
  main.removeAttribute("aria-busy");
  fill(main, view.node);
  document.title = `${view.title} · Unknot console`;
  document.body.dataset.view = name;
  cleanup = view.cleanup || null;
  keys = view.keys || {};
  dirty = view.dirty || null;
  setHeader();
  const focus = view.focus || main.querySelector("h1");
  if (focus) {
    if (!focus.hasAttribute("tabindex") && focus.tagName === "H1") focus.setAttribute("tabindex", "-1");
    focus.focus({ preventScroll: false });
  }
  window.scrollTo(0, 0);
  const message = ctx.handoff.get("toast");
  if (message) {
    ctx.handoff.delete("toast");
    toast(message);
  }
}

function route() {
  if (!ctx.therapist) {
    shownHash = null;
    show("signin", signin, []);
    return;
  }
  const hash = location.hash || "#/";
  shownHash = hash;
  for (const [pattern, name, module] of ROUTES) {
    const match = hash.match(pattern);
    if (match) {
      show(name, module, [...match.slice(1), name]);
      return;
    }
  }
  ctx.navigate("#/");
}

// A console left untouched on a clinic's shared tablet, or open 12 hours: when the session ends
// (idle.js knows when), or another tab signs out, the page's patient data is hidden and the
// password asked for over it.
watchSession({
  ended() {
    if (ctx.therapist && !reauth) reauth = signInAgain();
  },
  signedOutElsewhere() {
    if (ctx.therapist && !reauth) reauth = signInAgain("You signed out in another tab.");
  },
  answered: sessionNow,
});
// The page's title while it is hidden (it names the patient): given back on signing in again.
let hiddenTitle = null;

/** Hide the page under the "sign in again" question: nothing of it is seen, or read out, meanwhile;
 *  what was typed there stays in it. Call it before that question opens. */
function hidePage() {
  main.hidden = true;
  // A question left open ("Archive <name>?") names the patient too: answered "no" (asked again if wanted).
  for (const open of document.querySelectorAll("dialog[open]")) open.close();
  if (hiddenTitle === null) hiddenTitle = document.title;
  document.title = "Session ended · Unknot console";
  fill(document.getElementById("toast")); // a message may name a patient
}

/** Show the page again: as it was (`keep`), or emptied first for a view drawn anew. */
function showPage(keep) {
  if (!keep) fill(main);
  main.hidden = false;
  if (keep && hiddenTitle !== null) document.title = hiddenTitle;
  hiddenTitle = null;
}

ctx.signedIn = (session) => {
  ctx.therapist = session.therapist;
  setCsrf(session.csrf_token, session.therapist.id);
  fill(document.getElementById("toast"));
  sessionStarted(session);
  route();
};

function signedOut(message) {
  ctx.therapist = null;
  setCsrf(null);
  sessionStopped();
  setHeader();
  route();
  if (message) toast(message);
}

// The open "sign in again" question was answered by a sign-in in another tab (sessionNow).
let handed = false;

/** What a tab says when another tab signed in someone else. */
function signedInElsewhere(session) {
  return session.therapist.name + " signed in in another tab of this browser: these are their patients.";
}

/**
 * The browser's session as GET /auth/me names it now: someone may have signed in in another tab,
 * and this tab's calls go under their cookie. Asking for the password: the question is answered
 * with it (signInAgain goes on as if signed in here). Signed out here: their patients. Another
 * therapist's: the page (a patient of the therapist before) goes at once, unsaved changes and all
 * (they are not the one signed in now), and the console starts afresh on their patients, saying
 * who is signed in.
 */
function sessionNow(session) {
  if (reauth) {
    handed = true;
    signin.giveSession(session);
    return;
  }
  if (ctx.therapist && session.therapist.id === ctx.therapist.id) return;
  if (ctx.therapist) {
    hidePage();
    showPage(false);
    ctx.handoff.set("toast", signedInElsewhere(session));
  } else {
    ctx.handoff.set("toast", "Signed in in another tab of this browser.");
  }
  location.hash = "#/";
  ctx.signedIn(session);
}

// A session that ends under an open page: ask for the password over the page and keep it as it is.
async function signInAgain(why) {
  const before = ctx.therapist;
  const focused = lastFocus; // a busy button may have dropped focus on <body> meanwhile
  sessionStopped();
  hidePage();
  const session = await signin.signInAgain(before.email, why);
  const elsewhere = handed;
  handed = false;
  reauth = null;
  if (!session) {
    showPage(false);
    location.hash = "#/";
    signedOut("You are signed out.");
  } else if (session.therapist.id !== before.id) {
    unshown = false;
    showPage(false);
    location.hash = "#/"; // their own patients, not a page of someone else's
    if (elsewhere) ctx.handoff.set("toast", signedInElsewhere(session));
    ctx.signedIn(session); // someone else: nothing of the page before is theirs to see
  } else {
    ctx.therapist = session.therapist;
    setCsrf(session.csrf_token, session.therapist.id);
    showPage(true);
    sessionStarted(session);
    setHeader();
    if (unshown) {
      unshown = false;
      route();
    } else if (focused && focused.isConnected && !focused.disabled && !focused.closest("[hidden], dialog")) {
      focused.focus(); // back where the therapist was (the Assign button, say)
    }
    toast(elsewhere ? "Signed in again in another tab of this browser." : "Signed in again.");
  }
}

onSignedOut(() => {
  if (ctx.therapist && !reauth) reauth = signInAgain();
});
onOtherSession(sessionNow);

/** Sign out, unless the browser's session is another therapist's now (they signed in in a tab
 *  this one did not hear from): theirs stays, and this tab shows them as the others do (sessionNow). */
async function signOut() {
  try {
    const now = await api("/auth/me", { quiet401: true });
    if (ctx.therapist && now.therapist.id !== ctx.therapist.id) {
      sessionNow(now);
      return;
    }
    await api("/auth/logout", { method: "POST", quiet401: true });
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 401) {
      toast("Signing out failed: " + explain(err));
      return;
    }
  }
  sessionSignedOut();
  location.hash = "#/";
  signedOut("You are signed out.");
}

document.getElementById("signout").addEventListener("click", () => leaveThen(signOut));

document.getElementById("skip").addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});

function typing(target) {
  return target.closest("input, textarea, select, [contenteditable], dialog");
}

document.addEventListener("keydown", (event) => {
  if (event.defaultPrevented || event.altKey || event.metaKey || event.ctrlKey) {
    // Ctrl+Enter (Cmd+Enter) is the one shortcut that works inside fields: the view's main action.
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter" && keys["mod+Enter"]) {
      event.preventDefault();
      keys["mod+Enter"]();
    }
    return;
  }
  if (typing(event.target) || !ctx.therapist) return;
  if (event.key.length === 1 && !help.singleKeysOn()) return; // turned off on Help
  const fn = keys[event.key] || (event.key === "?" ? () => ctx.navigate("#/help") : null);
  if (fn) {
    event.preventDefault();
    fn();
  }
});

// The console's own links ask before the address changes (no history entry for a "stay").
document.addEventListener(
  "click",
  (event) => {
    const link = event.target.closest && event.target.closest("a[href^='#/']");
    if (!link || event.defaultPrevented || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    if (!unsaved()) return;
    event.preventDefault();
    leaveThen(() => go(link.getAttribute("href")));
  },
  true,
);
window.addEventListener("hashchange", hashChanged);
window.addEventListener("beforeunload", (event) => {
  if (!unsaved()) return;
  event.preventDefault();
  event.returnValue = ""; // older Chromium asks only with returnValue set
});

async function boot() {
  try {
    const session = await api("/auth/me", { quiet401: true });
    ctx.therapist = session.therapist;
    setCsrf(session.csrf_token, session.therapist.id);
    sessionStarted(session);
  } catch (err) {
    if (!(err instanceof ApiError) || (err.status !== 401 && err.status !== 0)) throw err;
    if (err.status === 0) toast("The server cannot be reached.");
  }
  route();
}

boot();

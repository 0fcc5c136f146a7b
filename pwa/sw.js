/* Unknot service worker: a classic script at /sw.js with scope "/".
 *
 * - The app shell is precached under a versioned name and served cache-first, so a page
 *   never mixes files of two versions. A new worker waits until the patient taps "Reload"
 *   (the page posts SKIP_WAITING), then old shell caches are deleted.
 * - Of the interface languages only the one this phone uses is precached (a phone needs one, and
 *   each is a tenth of the shell): see shellLang. Another one joins the shell once a page fetches
 *   it online (the patient switched), or a page tells the worker (LANG) which one it loaded.
 * - Patient API reads are network-first with the last good answer as the offline fallback,
 *   kept per device token: an answer is only ever served to the token it was fetched with.
 *   Unknot's own 401 (the clinic removed the device, archived or erased the patient; not a captive
 *   portal's or a proxy's, see core.js isRemoval) forgets the patient on this phone: stored
 *   data, records, cached answers, push subscription (core.js forgetPatient).
 * - The outbox is sent by the page; Background Sync sends it from here when no page of the app
 *   is on screen (the browser fires it once the network is back, even after the app was closed).
 * - Web Push: every push shows a notification; tapping it brings the app to the front on the
 *   reminder's day and slot ("/#today?slot=evening&date=2026-11-25"); pushsubscriptionchange subscribes again with the
 *   same key and sends the new subscription with the token kept in IndexedDB.
 * - The therapist console (/console/) and other API routes are left alone.
 */
"use strict";

// VERSION is a hash of the SHELL files: tests/browser/shell.py checks it and can rewrite it
// (`.venv/bin/python -m tests.browser.shell --write`) whenever a shell file changes.
const VERSION = "f0924f68769b";
const SHELL_CACHE = "unknot-shell-" + VERSION;
// v1 kept answers by URL alone (anyone joined later could be served them): deleted on activate.
const API_CACHE = "unknot-api-v2";
const API_CACHE_MAX = 60;
const SHELL = [
  "/",
  "/app.css",
  "/manifest.webmanifest",
  "/icons/icon.svg",
  "/js/api.js",
  "/js/app.js",
  "/js/core.js",
  "/js/dates.js",
  "/js/dom.js",
  "/js/i18n.js",
  "/js/reminders.js",
  "/js/routine.js",
  "/js/settings.js",
  "/js/sync.js",
  "/js/timer.js",
  "/js/widgets.js",
  "/js/words.js",
  "/js/screens/checkin.js",
  "/js/screens/exercise.js",
  "/js/screens/help.js",
  "/js/screens/join.js",
  "/js/screens/more.js",
  "/js/screens/progress.js",
  "/js/screens/today.js",
];
// The interface languages, /i18n/<code>.js (as LANGS in js/i18n.js); part of VERSION's hash too.
const LANGS = ["en", "es"];

importScripts("/js/core.js");

function langUrl(code) {
  return "/i18n/" + code + ".js";
}

/** The language to precache: the one this phone's pages last loaded (app.js keeps it as
 *  "shell_lang"), else the one a page would pick: the patient's choice, the browser's, the
 *  clinic's, else English (pickLang in js/i18n.js). */
async function shellLang() {
  const core = self.unknotCore;
  const [used, chosen, patient] = await Promise.all(
    ["shell_lang", "lang", "patient"].map((key) => core.get(key).catch(() => null)));
  if (LANGS.includes(used)) return used;
  if (LANGS.includes(chosen)) return chosen;
  for (const tag of self.navigator.languages || []) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (LANGS.includes(base)) return base;
  }
  return patient && LANGS.includes(patient.locale) ? patient.locale : "en";
}

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(SHELL_CACHE);
    const urls = SHELL.concat(langUrl(await shellLang()));
    // Checked with the server, never taken from the HTTP cache unasked: the shell must be exactly
    // the files the server has now. A file the page has just loaded is answered 304 (its ETag)
    // and taken from the HTTP cache, not downloaded again: on a first visit over a weak signal
    // the whole shell came twice, competing with the join and the plan.
    // Cache Storage full: this install fails whole (never a shell with files missing); the page
    // goes on from the network, or with the version already installed, and the browser tries
    // again at its next update check.
    await cache.addAll(urls.map((url) => new Request(url, { cache: "no-cache" })));
  })());
});

/** A language file from the network into this version's shell (it was not precached: the
 *  patient switched to it, or a first visit's page loaded it before this worker was there). */
async function addLang(path) {
  // Checked with the server (see install): one the page has just loaded is answered 304.
  const response = await fetch(new Request(path, { cache: "no-cache" }));
  // Cache Storage full or failing: the page still gets the file, only not kept offline.
  if (response.ok) await caches.open(SHELL_CACHE).then((cache) => cache.put(path, response.clone())).catch(() => {});
  return response;
}

/** A file of this version's shell, null if it is not there or Cache Storage fails (the page
 *  then gets it from the network, as it would without this worker). */
function fromShell(key) {
  return caches.open(SHELL_CACHE).then((cache) => cache.match(key)).catch(() => null);
}

/** A language file from the shell, else from the network into the shell. */
async function langFirst(path) {
  return (await fromShell(path)) || addLang(path);
}

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(names
      .filter((name) => (name.startsWith("unknot-shell-") && name !== SHELL_CACHE)
        || (name.startsWith("unknot-api-") && name !== API_CACHE))
      .map((name) => caches.delete(name)));
    await self.clients.claim();
  })());
});

self.addEventListener("message", (event) => {
  const type = event.data && event.data.type;
  if (type === "SKIP_WAITING") self.skipWaiting();
  if (type === "VERSION" && event.ports[0]) event.ports[0].postMessage({ version: VERSION });
  // The language a page loaded (app.js keepLang): in this version's shell from now on, so the
  // page opens in it offline, after this version takes over too.
  if (type === "LANG" && LANGS.includes(event.data.lang)) {
    event.waitUntil(langFirst(langUrl(event.data.lang)).catch(() => null));
  }
});

async function trimApiCache(cache) {
  const keys = await cache.keys();
  await Promise.all(keys.slice(0, Math.max(0, keys.length - API_CACHE_MAX)).map((key) => cache.delete(key)));
}

function bearer(request) {
  const m = /^Bearer (.+)$/.exec(request.headers.get("Authorization") || "");
  return m ? m[1] : null;
}

/** The cache key of a request: its URL and a hash of its token, so that a cached answer never
 *  goes to another token (another patient joined on this phone, or none). */
async function apiKey(request, token) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token || ""));
  const hex = Array.from(new Uint8Array(digest).slice(0, 12), (b) => b.toString(16).padStart(2, "0")).join("");
  const url = new URL(request.url);
  url.searchParams.set("_token", hex);
  return url.href;
}

/** A message to every open window of the app (not the console); then() callback, never throws. */
function tellWindows(message) {
  return async () => {
    const windows = await self.clients.matchAll({ type: "window" }).catch(() => []);
    for (const client of windows) {
      if (!new URL(client.url).pathname.startsWith("/console")) client.postMessage(message);
    }
  };
}

async function networkFirst(event) {
  const request = event.request;
  const token = bearer(request);
  const key = await apiKey(request, token);
  // Cache Storage full or failing: answers still come from the network, only none are kept.
  const cache = await caches.open(API_CACHE).catch(() => null);
  let response;
  try {
    response = await fetch(request);
  } catch (err) {
    const cached = token && cache ? await cache.match(key).catch(() => null) : null;
    if (cached) return stored(cached);
    throw err;
  }
  if (response.status === 200 && cache && token && await self.unknotCore.get("token").catch(() => null) === token) {
    // Not kept (storage full): the server's answer still goes to the page, not an older copy.
    await cache.put(key, response.clone()).then(() => { trimApiCache(cache).catch(() => {}); }, () => {});
  } else if (response.status === 401 && token) {
    // Removed: forget the patient here too, even if no page of this version is left to do it.
    // Open pages are told once it is done: their own request may not get this 401 (a plan from
    // the cache, a 401 they do not act on), and their next send finds no token (app.js
    // noticeForgotten). Only Unknot's own 401 (core.isRemoval reads a clone, so the page still
    // gets the body): a captive portal's or a proxy's wipes nothing.
    event.waitUntil(self.unknotCore.isRemoval(response).then((removed) => {
      if (!removed) return null;
      return self.unknotCore.forgetPatient(token, removed).then((marker) => {
        if (marker) return self.unknotCore.forgetBrowserData();
        return null;
      }).catch(() => null).then(tellWindows({ type: "revoked" }));
    }));
  }
  return response;
}

/** A stored answer, marked as one: its Date header is as old as the copy, so the page does not
 *  take it for the server's clock now (api.js clockOff). */
function stored(response) {
  const headers = new Headers(response.headers);
  headers.set("X-Unknot-Stored", "1");
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

async function shellFirst(request, key) {
  return (await fromShell(key)) || fetch(request);
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  const path = url.pathname;
  if (path.startsWith("/api/v1/patient/")) {
    event.respondWith(networkFirst(event));
    return;
  }
  if (path.startsWith("/api/") || path.startsWith("/console") || path.startsWith("/schema")) return;
  if (request.mode === "navigate" && (path === "/" || path === "/index.html")) {
    event.respondWith(shellFirst(request, "/"));
    return;
  }
  if (SHELL.includes(path)) event.respondWith(shellFirst(request, path));
  else if (LANGS.some((code) => langUrl(code) === path)) event.respondWith(langFirst(path));
});

self.addEventListener("sync", (event) => {
  if (event.tag !== "unknot-outbox") return;
  event.waitUntil((async () => {
    const windows = (await self.clients.matchAll({ type: "window" }))
      .filter((client) => !new URL(client.url).pathname.startsWith("/console"));
    // A page of the app on screen sends the outbox itself, with its own waits between tries;
    // sending here too would retry at once after every failure. A hidden or frozen tab may not
    // send until the patient comes back to it: the worker sends then (the outbox lock keeps the
    // two from sending the same records at once).
    if (windows.some((client) => client.focused || client.visibilityState === "visible")) return;
    const result = await self.unknotCore.withLock(() => self.unknotCore.flush());
    // Failing lets the browser try this sync again later.
    if (result && (result.status === "offline" || result.status === "retry")) throw new Error(result.status);
  })());
});

// ---- Web Push ---------------------------------------------------------------------------------
// The server sends JSON (server/push/message.py): {v, kind, slot, on_date, title, body, url, tag,
// lang, count, minutes}. Every push shows a notification (subscriptions are userVisibleOnly).

const PUSH_ICON = "/icons/icon-192.png";
// Android's status bar shows the badge, by its alpha only: white waves on transparent
// (tests/browser/badge.py draws it). Without one it shows the browser's own icon.
const PUSH_BADGE = "/icons/badge-96.png";
const PUSH_KEY_URL = "/api/v1/push/public-key";
const PUSH_SUBSCRIPTIONS_URL = "/api/v1/patient/push/subscriptions";

/** A same-origin app address from a payload's url, else Today (never another site or the console). */
function appUrl(value) {
  try {
    const url = new URL(value || "/#/today", self.location.origin);
    if (url.origin === self.location.origin && !url.pathname.startsWith("/console")) return url.href;
  } catch (err) { /* not a URL */ }
  return new URL("/#/today", self.location.origin).href;
}

async function showPush(data) {
  let message = null;
  try {
    message = data ? data.json() : null;
  } catch (err) { /* not JSON: still show something */ }
  if (!message || typeof message.title !== "string" || !message.title) {
    // Never expected from our server; the page keeps a translated fallback text in IndexedDB.
    const text = await self.unknotCore.get("push_fallback").catch(() => null);
    message = { title: (text && text.title) || "Unknot", body: (text && text.body) || "", url: "/#/today" };
  }
  const options = {
    body: typeof message.body === "string" ? message.body : "",
    icon: PUSH_ICON,
    badge: PUSH_BADGE,
    data: { url: appUrl(message.url), slot: message.slot || null, on_date: message.on_date || null,
      kind: message.kind || null },
  };
  // The same tag replaces an earlier notification instead of stacking: a reminder's names its slot
  // and day, and every test shares "unknot-test", so a test never takes a reminder's place.
  if (typeof message.tag === "string" && message.tag) options.tag = message.tag;
  if (typeof message.lang === "string" && message.lang) options.lang = message.lang;
  if (message.kind === "reminder" && options.tag && await seenBefore(options.tag)) options.silent = true;
  return self.registration.showNotification(message.title, options);
}

const SEEN_KEY = "push_seen";
const SEEN_FOR_MS = 3 * 24 * 3600 * 1000;

/** Whether this reminder (by tag: slot and day) arrived before, and remember that it has now.
 *  A server that dies mid-send can send one twice (README "Scaling out"); every push must show a
 *  notification, so the repeat still shows, in place of the first, but without sound or vibration. */
async function seenBefore(tag) {
  const now = Date.now();
  const seen = (await self.unknotCore.get(SEEN_KEY).catch(() => null)) || {};
  const before = typeof seen[tag] === "number" && now - seen[tag] < SEEN_FOR_MS;
  const kept = { [tag]: now };
  for (const [key, at] of Object.entries(seen)) if (now - at < SEEN_FOR_MS && key !== tag) kept[key] = at;
  await self.unknotCore.set(SEEN_KEY, kept).catch(() => {});
  return before;
}

self.addEventListener("push", (event) => {
  event.waitUntil(showPush(event.data));
});

/** Bring the app to the front on the notification's screen, or open it there. */
async function openFromNotification(notification) {
  const url = appUrl(notification.data && notification.data.url);
  const windows = (await self.clients.matchAll({ type: "window", includeUncontrolled: true }))
    .filter((client) => {
      const where = new URL(client.url);
      return where.origin === self.location.origin && !where.pathname.startsWith("/console");
    });
  const client = windows.find((c) => c.focused) || windows.find((c) => c.visibilityState === "visible") || windows[0];
  if (!client) return self.clients.openWindow(url);
  try {
    await client.focus();
  } catch (err) { /* the browser decides; the page still moves to the slot */ }
  // The page routes by itself (see "open" in /js/app.js): no reload, nothing half-typed is lost.
  client.postMessage({ type: "open", url });
  return client;
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(openFromNotification(event.notification));
});

function keyBytes(base64url) {
  const text = base64url.replace(/-/g, "+").replace(/_/g, "/");
  const raw = atob(text + "=".repeat((4 - (text.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

/** The browser replaced or dropped the subscription: subscribe again with the same key and tell the server. */
async function resubscribe(event) {
  const token = await self.unknotCore.get("token");
  if (!token) return;
  let subscription = event.newSubscription || null;
  if (!subscription) {
    const old = event.oldSubscription;
    let key = old && old.options && old.options.applicationServerKey;
    if (!key) {
      const stored = await self.unknotCore.get("push_key");
      if (stored) key = keyBytes(stored);
    }
    if (!key) {
      const res = await fetch(PUSH_KEY_URL, { credentials: "omit", cache: "no-store" });
      key = keyBytes((await res.json()).public_key);
    }
    subscription = await self.registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
  }
  const headers = { "Content-Type": "application/json", Authorization: "Bearer " + token };
  await fetch(PUSH_SUBSCRIPTIONS_URL, {
    method: "PUT", headers, body: JSON.stringify(subscription.toJSON()), credentials: "omit", cache: "no-store",
  });
  const old = event.oldSubscription;
  if (old && old.endpoint && old.endpoint !== subscription.endpoint) {
    // The server also drops it once the push service answers 404/410; this is just sooner.
    // In the body, not the query: a proxy's access log keeps query strings, and the endpoint is secret.
    await fetch(PUSH_SUBSCRIPTIONS_URL, {
      method: "DELETE", headers, body: JSON.stringify({ endpoint: old.endpoint }),
      credentials: "omit", cache: "no-store",
    }).catch(() => null);
  }
}

self.addEventListener("pushsubscriptionchange", (event) => {
  event.waitUntil(resubscribe(event));
});

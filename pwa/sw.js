/* Unknot service worker: a classic script at /sw.js with scope "/".
 *
 * - The app shell is precached under a versioned name and served cache-first, so a page
 *   never mixes files of two versions. A new worker waits until the patient taps "Reload"
 *   (the page posts SKIP_WAITING), then old shell caches are deleted.
 * - Patient API reads are network-first with the last good answer as the offline fallback.
 * - The outbox is sent by the page; Background Sync sends it from here when no page is open
 *   (the browser fires it once the network is back, even after the app was closed).
 * - The therapist console (/console/) and other API routes are left alone.
 */
"use strict";

// VERSION is a hash of the SHELL files: tests/browser/shell.py checks it and can rewrite it
// (`.venv/bin/python -m tests.browser.shell --write`) whenever a shell file changes.
const VERSION = "c77a1fd49c56";
const SHELL_CACHE = "unknot-shell-" + VERSION;
const API_CACHE = "unknot-api-v1";
const API_CACHE_MAX = 60;
const SHELL = [
  "/",
  "/app.css",
  "/manifest.webmanifest",
  "/icons/icon.svg",
  "/i18n/en.js",
  "/i18n/es.js",
  "/js/api.js",
  "/js/app.js",
  "/js/core.js",
  "/js/dates.js",
  "/js/dom.js",
  "/js/i18n.js",
  "/js/reminders.js",
  "/js/routine.js",
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

importScripts("/js/core.js");

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(SHELL_CACHE).then((cache) =>
      // Bypass the HTTP cache: the shell must be exactly this version's files.
      cache.addAll(SHELL.map((url) => new Request(url, { cache: "reload" })))),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(names
      .filter((name) => name.startsWith("unknot-shell-") && name !== SHELL_CACHE)
      .map((name) => caches.delete(name)));
    await self.clients.claim();
  })());
});

self.addEventListener("message", (event) => {
  const type = event.data && event.data.type;
  if (type === "SKIP_WAITING") self.skipWaiting();
  if (type === "VERSION" && event.ports[0]) event.ports[0].postMessage({ version: VERSION });
});

async function trimApiCache(cache) {
  const keys = await cache.keys();
  await Promise.all(keys.slice(0, Math.max(0, keys.length - API_CACHE_MAX)).map((key) => cache.delete(key)));
}

async function networkFirst(request) {
  const cache = await caches.open(API_CACHE);
  try {
    const response = await fetch(request);
    if (response.status === 200) {
      await cache.put(request.url, response.clone());
      trimApiCache(cache);
    }
    return response;
  } catch (err) {
    const cached = await cache.match(request.url);
    if (cached) return cached;
    throw err;
  }
}

async function shellFirst(request, key) {
  const cache = await caches.open(SHELL_CACHE);
  const cached = await cache.match(key);
  return cached || fetch(request);
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  const path = url.pathname;
  if (path.startsWith("/api/v1/patient/")) {
    event.respondWith(networkFirst(request));
    return;
  }
  if (path.startsWith("/api/") || path.startsWith("/console") || path.startsWith("/schema")) return;
  if (request.mode === "navigate" && (path === "/" || path === "/index.html")) {
    event.respondWith(shellFirst(request, "/"));
    return;
  }
  if (SHELL.includes(path)) event.respondWith(shellFirst(request, path));
});

self.addEventListener("sync", (event) => {
  if (event.tag !== "unknot-outbox") return;
  event.waitUntil((async () => {
    const windows = (await self.clients.matchAll({ type: "window" }))
      .filter((client) => !new URL(client.url).pathname.startsWith("/console"));
    // An open page of the app sends the outbox itself, with its own waits between tries;
    // waking it here would retry at once after every failure.
    if (windows.length) return;
    const result = await self.unknotCore.withLock(() => self.unknotCore.flush());
    // Failing lets the browser try this sync again later.
    if (result && (result.status === "offline" || result.status === "retry")) throw new Error(result.status);
  })());
});

// =============================================================================================
// WEB PUSH GOES HERE: "push" (every push must show a notification), "notificationclick"
// (focus or open "/#/today", or the due slot) and "pushsubscriptionchange" (send the new
// subscription to the server). The page side starts in /js/reminders.js.
// =============================================================================================

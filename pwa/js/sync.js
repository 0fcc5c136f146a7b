// When to send the outbox: on start, on `online`, after each new record, when the app comes
// back to the front, and after a failure with growing waits (1 s, 2 s, 4 s ... 5 min).
// Background Sync (where the browser has it) lets the service worker send it later too.
// Back online, the first send that reaches the server calls onBackOnline (the app reads the log
// again: its read at `online` may have failed at the network and got the worker's stored copy).

import "./core.js";

const core = globalThis.unknotCore;
const MAX_WAIT = 5 * 60 * 1000;

export function createSync({ onDone, onRevoked, onBackOnline }) {
  let failures = 0;
  let timer = null;
  let running = null;
  let backOnline = false;

  function later(ms) {
    clearTimeout(timer);
    timer = setTimeout(() => { timer = null; flush(); }, ms);
  }

  function registerBackgroundSync() {
    if (!("serviceWorker" in navigator)) return;
    navigator.serviceWorker.ready
      .then((reg) => reg.sync && reg.sync.register("unknot-outbox"))
      .catch(() => { /* not supported or not allowed: the page retries itself */ });
  }

  async function run() {
    clearTimeout(timer);
    timer = null;
    const result = (await core.withLock(() => core.flush())) || { status: "busy", sent: 0, refused: 0 };
    const records = await core.allRecords();
    const waiting = core.pending(records);
    if (result.status === "revoked") {
      onRevoked(result.why);
    } else if (result.status === "ok" || result.status === "no-token") {
      const due = waiting.filter((r) => !r.ready_at || r.ready_at <= Date.now());
      if (due.length && result.sent === 0 && result.status === "ok") {
        // The server answered but kept none of them: do not spin; wait longer each time.
        failures += 1;
        later(Math.min(MAX_WAIT, 1000 * 2 ** failures));
      } else {
        failures = 0;
        // Records logged meanwhile, or held back a little (an exercise's pain question
        // still open), go when ready.
        const next = Math.min(...waiting.map((r) => r.ready_at || 0));
        if (waiting.length && result.status === "ok") later(Math.max(300, next - Date.now() + 50));
      }
    } else if (result.status === "busy") {
      // Another tab is sending: look again shortly in case our newest record missed its batch.
      if (waiting.length) later(1500);
    } else if (waiting.length) {
      failures += 1;
      const wait = Math.min(MAX_WAIT, 1000 * 2 ** (failures - 1));
      later(Math.round(wait * (0.8 + Math.random() * 0.4)));
      registerBackgroundSync();
    }
    onDone(result, records);
    if (backOnline && result.status === "ok" && result.sent > 0) {
      backOnline = false;
      onBackOnline();
    }
    return result;
  }

  /** Send now (a run already going is reused). */
  function flush() {
    if (!running) running = run().finally(() => { running = null; });
    return running;
  }

  window.addEventListener("online", () => { failures = 0; backOnline = true; flush(); });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") flush();
  });

  return { flush, registerBackgroundSync };
}

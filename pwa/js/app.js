// The patient app: state, routing and the frame around every screen.

import "./core.js";
import { ApiError, call, clockOff, deviceLabel, fromStore, isOffline, isRemoved, uuid } from "./api.js";
import { addDays, isDate, todayIn } from "./dates.js";
import { fill, h } from "./dom.js";
import { LANG_NAMES, LANGS, lang, loadLang, pickLang, t } from "./i18n.js";
import { routineFor } from "./routine.js";
import { createSync } from "./sync.js";
import { renderCheckin } from "./screens/checkin.js";
import { renderExercise } from "./screens/exercise.js";
import { renderHelp } from "./screens/help.js";
import { joinError, linkCode, renderJoin } from "./screens/join.js";
import { renderMore } from "./screens/more.js";
import { renderProgress } from "./screens/progress.js";
import { renderDay } from "./screens/today.js";
import {
  forgetPush, keepFallbackText, loadReminderInvite, pushState, renderReminders, startReminders,
} from "./reminders.js";
import { loadZoneAnswers, sendSettings, withWantedZone } from "./settings.js";

const core = globalThis.unknotCore;
// While the pain question after an exercise is open, its record waits this long before it is sent.
const PAIN_GRACE_MS = 2 * 60 * 1000;
// A done mark tapped on a list waits this long before it is sent: a tap on the wrong circle is
// then simply forgotten (once sent, taking it back goes through the outbox: see app.undo).
const UNDO_MS = 8000;
// How long a change to a record waits for a send already on its way before it gives up.
const LOCK_WAIT_MS = 1500;

const $ = (id) => document.getElementById(id);

// How long the server answers a join id again as the same join (JOIN_RETRY in
// server/db/patients.py).
const JOIN_RETRY_MS = 10 * 60 * 1000;
// The removal of an old join attempt under way (app.forgetOldJoin): a join waits for it, so the
// attempt it stores is never the one removed.
let joinSweep = Promise.resolve();

/** Whether a stored join attempt is past the server's retry window, by the time of its last try
 *  (a clock set back counts too; one from an older app has no time). */
function joinExpired(attempt) {
  return !(Math.abs(Date.now() - attempt.at) <= JOIN_RETRY_MS);
}

/** Records counted once per exercise (see core.perExercise). */
const perExercise = (records) => core.perExercise(records);

export const app = {
  token: null,
  patient: null,
  bundle: null,
  records: [],
  revoked: false,
  // After a removal: how many records had not reached the clinic and were deleted with the rest,
  // and whether the phone expired (not used for a long time) rather than was removed.
  revokedUnsent: 0,
  revokedExpired: false,
  // The forgetting after a removal, while it runs.
  forgetting: null,
  planMissing: false,
  // The last plan request failed (offline, a server error) and there is no stored plan to show.
  planFailed: false,
  // A plan request is on its way (the waiting screen says so).
  planLoading: false,
  online: navigator.onLine,
  installPrompt: null,
  sound: true,
  route: null,
  lastRefresh: 0,
  // Set by a screen that holds something (a running timer) to be let go when it is left.
  cleanup: null,
  // Entries being logged right now ("date|slot|exercise"): a second tap must not log them twice.
  logging: new Set(),
  // Records sent from memory as the page was hidden, until the server answers.
  leavingIds: new Set(),
  // Called after the records are read again, by a screen that is not redrawn for it (exercise).
  onRecords: null,
  // The slot a tapped reminder marks ({date, slot}), until the patient goes to another screen.
  due: null,
  // Which <details> (by data-keep) the patient opened or closed, kept across redraws.
  details: new Map(),
  // Whether reminders are on for this phone (reminders.js pushState), null until known: while they
  // are "off", Today invites the patient to set them.
  push: null,

  today() {
    return todayIn(this.patient && this.patient.timezone);
  },

  /** Find out whether reminders are on for this phone (after startReminders, which may subscribe
   *  again); a screen that shows it is drawn again when it changes to or from "off". */
  async checkPush() {
    const token = this.token;
    if (!token) return;
    const state = await pushState();
    if (this.token !== token || this.revoked) return;
    // What was found, for tests (as data-screen says what is on screen).
    document.body.dataset.push = state;
    if (state === this.push) return;
    const before = this.push;
    this.push = state;
    if (state === "off" || before === "off") refreshPassive();
  },

  routine(date) {
    return routineFor(this.bundle, date, (x, slot) => Boolean(this.completionFor(date, x, slot)));
  },

  /** The completions that count (not refused, not taken back), of one day or of every day. */
  completions(date) {
    const gone = this.withdrawnIds();
    return this.records.filter((r) => r.type === "completion" && r.state !== "rejected" && !gone[r.id]
      && (date === undefined || r.body.on_date === date));
  },

  /** Ids of the completions taken back (see core.withdrawn), worked out once per reading of the records. */
  withdrawnIds() {
    if (this.withdrawnOf !== this.records) {
      this.withdrawnOf = this.records;
      this.withdrawnSet = core.withdrawn(this.records);
    }
    return this.withdrawnSet;
  },

  checkins(date) {
    return this.records.filter((r) => r.type === "checkin" && r.state !== "rejected" && r.body.on_date === date);
  },

  /** The completion logged for one entry of one day, if any (the newest). */
  completionFor(date, exerciseId, slot) {
    const found = this.completions(date).filter((r) => r.body.exercise_id === exerciseId && r.body.slot === slot);
    return found.length ? found[found.length - 1] : null;
  },

  /** How many records wait to be sent, as the patient counts them (see perExercise). */
  pendingCount() {
    return perExercise(core.pending(this.records)).length;
  },

  /** What the header and More say wait to be sent. Online, a record held back for the patient (a
   *  tap to be taken back, a pain question still open) is not counted: it waits for them, not the
   *  network, and goes once ready. Offline, every one is. */
  toSendCount() {
    const now = Date.now();
    return perExercise(core.pending(this.records).filter((r) => !this.online || !(r.ready_at > now))).length;
  },

  /** Records the server refused (kept on the phone, sent again only when asked: retryRejected). */
  rejected() {
    return perExercise(this.records.filter((r) => r.state === "rejected"));
  },

  /** Send the refused records again (the More screen's "Try again", and once at each start). */
  async retryRejected() {
    const n = await core.retryRejected();
    await this.reloadRecords();
    refreshPassive();
    if (n) {
      core.announce({ type: "records" });
      sync.flush();
    }
    return n;
  },

  /** Store a new record and send it when ready; false (said in the live region) when this phone
   *  could not store it (storage full, IndexedDB broken): nothing was logged. */
  async addRecord(type, body, readyAt = 0) {
    const record = { id: body.id, type, state: "pending", ready_at: core.volatile() ? 0 : readyAt, body };
    try {
      await core.putRecord(record);
    } catch {
      this.toast(t("not_stored"));
      return false;
    }
    if (core.volatile() && !(await this.sendAtOnce(record.id))) {
      this.toast(t("not_kept"));
      return false;
    }
    await this.reloadRecords();
    refreshPassive();
    core.announce({ type: "records" });
    // A record held back (readyAt) is not sent yet; the run schedules it for later.
    sync.flush();
    return record;
  },

  /** A record this phone keeps in memory only (core.volatile) goes at once, with no time to take
   *  a tap back: true once the server answered for it. Else it is deleted (the caller says it is
   *  not saved): shown as waiting to be sent, it would be lost unseen when the page closes. */
  async sendAtOnce(id) {
    await core.releaseHolds(id);
    // Twice: the first run may have started before this record was there (sync reuses a run).
    for (let run = 0; run < 2; run += 1) {
      await sync.flush();
      const record = await core.getRecord(id);
      if (!record || record.state !== "pending") return true;
    }
    await core.takeBack(id);
    await this.reloadRecords();
    // A send drew it as waiting meanwhile.
    refreshPassive();
    return false;
  },

  /** Log an exercise as done. With holdBack, it waits for the pain answer (or PAIN_GRACE_MS);
   *  else UNDO_MS, for a tap to be taken back. One record per exercise, slot and day: null when
   *  it is already logged (or being logged), false when it could not be stored (see addRecord). */
  async logCompletion(fields, { holdBack = false } = {}) {
    const key = `${fields.on_date}|${fields.slot}|${fields.exercise_id}`;
    if (this.logging.has(key) || this.completionFor(fields.on_date, fields.exercise_id, fields.slot)) return null;
    this.logging.add(key);
    try {
      return await this.addCompletion(fields, holdBack);
    } finally {
      this.logging.delete(key);
    }
  },

  addCompletion(fields, holdBack) {
    const body = {
      id: uuid(),
      exercise_id: fields.exercise_id,
      on_date: fields.on_date,
      slot: fields.slot,
      done_at: new Date().toISOString(),
    };
    for (const key of ["sets_done", "reps_done", "hold_seconds_done", "pain"]) {
      if (fields[key] !== undefined && fields[key] !== null) body[key] = fields[key];
    }
    return this.addRecord("completion", body, Date.now() + (holdBack ? PAIN_GRACE_MS : UNDO_MS));
  },

  /**
   * Change or delete a record only while it is still on this phone. The server keeps each record
   * once and never changes it (but for a blank pain answer, see answerPain), so a record on its
   * way or sent stays as it went. Answers "ok", "sent" (the clinic has it), "unsure" (it went out
   * and its answer was lost: the clinic may have it), "sending" (on its way right now),
   * "rejected" or "gone".
   */
  async changePending(id, work) {
    if (this.leavingIds.has(id)) return "sending";
    const outcome = await core.withLockWait(async () => {
      const record = await core.getRecord(id);
      if (!record) return "gone";
      if (record.state !== "pending") return record.state;
      // Went out and no answer came back: the clinic may have it, as if it were sent.
      if (record.tried) return "unsure";
      await work(record);
      return "ok";
    }, LOCK_WAIT_MS);
    await this.reloadRecords();
    return outcome || "sending";
  },

  /**
   * The pain answer for completion `id`; it waits settleMs for another change of mind. Into the
   * record while it waits on the phone; once the record has left (or may be on its way) without
   * an answer, into a fill-in that is sent as a repeat of it (the server fills in a blank pain
   * once), offline too. Answers {outcome, pain} (see core.setPain): "ok", "added", or "sent" /
   * "sending" with the answer the clinic keeps, "rejected", "gone".
   */
  async answerPain(id, pain, settleMs) {
    const ask = (options) => core.setPain(id, pain, Date.now() + settleMs, { leaving: this.leavingIds, ...options });
    // A record still held for the answer cannot be on its way: no waiting for a send of other
    // records, however slow.
    let answer = await ask({});
    if (answer.outcome === "wait") {
      // On the phone, but maybe on its way: the lock tells. If the wait runs out, a blank answer
      // still goes as a fill-in.
      answer = (await core.withLockWait(() => ask({ locked: true }), LOCK_WAIT_MS)) || (await ask({ waited: true }));
    }
    await this.reloadRecords();
    if (answer.outcome === "ok" || answer.outcome === "added") {
      core.announce({ type: "records" });
      // Sent when its hold ends (or at once when the patient leaves the screen or the app).
      sync.flush();
    }
    return answer;
  },

  /** The pain question is closed (the patient left the screen): send its record now. */
  async sendNow(id) {
    await core.releaseHolds(id);
    await this.reloadRecords();
    sync.flush();
  },

  /** Take back a done mark. A record that surely never left the phone is deleted ("ok", see
   *  changePending); one that left (or may have, or is on its way) is taken back through the
   *  outbox, like any record, offline too ("taken_back", see core.withdraw): the clinic's record
   *  is marked withdrawn once it arrives. Every completion counted for the same exercise, slot and
   *  day goes with it (two phones may each have logged it), so the mark is clear. "rejected":
   *  refused by the server, nothing to take back; "failed": this phone could not store it;
   *  "not_kept": it keeps nothing and the take-back could not go at once (see withdraw). */
  async undo(id) {
    const mine = this.records.find((r) => r.id === id);
    // Still held back (the seconds to take a tap back): gone at once, however slow a send of
    // other records that holds the lock is.
    let held = false;
    try {
      held = !this.leavingIds.has(id) && (await core.takeBackHeld(id, this.leavingIds));
    } catch { /* storage failing: the locked path below answers */ }
    let outcome = held ? "ok" : await this.changePending(id, () => core.takeBack(id));
    if (held) await this.reloadRecords();
    if (["sent", "unsure", "sending"].includes(outcome)) outcome = await this.withdraw(id);
    if (mine && (outcome === "ok" || outcome === "taken_back")) {
      const { on_date: date, exercise_id: exercise, slot } = mine.body;
      for (const twin of this.completions(date).filter((r) => r.body.exercise_id === exercise && r.body.slot === slot)) {
        const more = await this.undo(twin.id);
        if (more === "taken_back") outcome = more;
      }
    }
    refreshPassive();
    if (outcome === "ok" || outcome === "taken_back") core.announce({ type: "records" });
    return outcome;
  },

  /** Take back completion `id` through the outbox (see undo); "not_kept" when this phone keeps
   *  nothing (core.volatile) and the take-back could not go at once. */
  async withdraw(id) {
    let outcome;
    try {
      outcome = await core.withdraw(id, new Date().toISOString());
    } catch {
      return "failed";
    }
    if (outcome === "taken_back" && core.volatile() && !(await this.sendAtOnce(core.undoId(id)))) return "not_kept";
    await this.reloadRecords();
    if (outcome === "taken_back") sync.flush();
    return outcome;
  },

  /** The app goes to the background or is closed: nothing may stay behind held for a question
   *  nobody is looking at. Held records are let go and everything waiting is sent with a request
   *  that outlives the page. */
  leaving() {
    if (!this.token || this.revoked) return;
    const waiting = core.pending(this.records).filter((r) => !this.leavingIds.has(r.id));
    if (!waiting.length) return;
    if (!navigator.onLine) {
      // Nothing can go now: only the holds are let go, for the worker's Background Sync. Nothing
      // is stamped as tried, so what surely never left can still be taken back.
      core.releaseHolds().then(() => sync.registerBackgroundSync()).catch(() => {});
      return;
    }
    // Closing a page stops its code before IndexedDB answers: send from memory first...
    const { completions, checkins } = core.batchOf(waiting, 200, 100, core.batchLimit());
    const sending = [...completions, ...checkins];
    for (const r of sending) this.leavingIds.add(r.id);
    let stamped = Promise.resolve([]);
    core.postBatch(this.token, completions, checkins, { keepalive: true }).then(async (res) => {
      // Refused whole before anything was stored: as if they never left (see core.clearTried).
      if (res.status === 413) await core.clearTried(await stamped);
      if (!res.ok) return;
      const kept = await res.json();
      await core.markSent(sending, [...(kept.completions || []), ...(kept.checkins || [])], kept.pains, kept.withdrawn);
    }).catch(() => { /* offline: Background Sync sends them (registered below) */ })
      .finally(() => {
        for (const r of sending) this.leavingIds.delete(r.id);
        this.reloadRecords().then(refreshPassive);
        core.announce({ type: "records" });
      });
    // ...stamped as tried (sent from memory first: a closing page may not get this far): if its
    // answer is lost they may be at the clinic (see core.markTried)...
    stamped = core.markTried(sending).catch(() => []);
    // ...then, while the page still runs (it is only hidden), let go of the holds in storage so
    // the worker's Background Sync can send them if that request did not get through.
    core.releaseHolds().then(() => sync.registerBackgroundSync()).catch(() => {});
  },

  logCheckin({ on_date, soreness, red_flags, note }) {
    const body = { id: uuid(), on_date, soreness, red_flags, done_at: new Date().toISOString() };
    if (note) body.note = note;
    return this.addRecord("checkin", body);
  },

  async reloadRecords() {
    this.records = await core.allRecords();
    updateChrome();
    // A screen that is not redrawn (the exercise's pain question) may show what the clinic keeps.
    if (this.onRecords) this.onRecords();
  },

  /** "Send now" (More): a tick still held for a tap to take it back goes too. */
  async flush() {
    await core.releaseHolds().catch(() => {});
    await this.reloadRecords();
    return sync.flush();
  },

  go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  },

  /** The screen on show (see screenKey): taken when a tap happens, for a message said once the
   *  work it started is done (app.toast's `screen`). */
  here() {
    return screenKey(app.route || parse(location.hash));
  },

  /** Say `text` in the message at the foot of the screen. With `screen`, it is about what is on
   *  this screen (a done mark's "Done: ..."): it goes when the patient opens another screen, where
   *  it would only cover the first steps (see render). `screen` may be the key (app.here) of the
   *  screen tapped on before an await: said only if that screen is still on show. Others (a save
   *  that leads to the next screen, records that reached the clinic) keep their time. */
  toast(text, { screen = false } = {}) {
    const key = screen === true ? this.here() : screen;
    if (key && key !== this.here()) return;
    // The live region is always in the page (an element shown and filled at once may not be
    // read out); only its content comes and goes, and an empty region shows nothing. A message
    // still showing stays above the new one (two at most), so neither is missed; each is added
    // once (read out once) and stays long enough to read: 4 s and 60 ms a character, 12 s at most.
    const box = $("toast");
    const last = box.lastElementChild;
    if (last && last.textContent === text) last.remove(); // the same again is read out again
    const line = h("p", { text });
    if (key) line.dataset.screen = key;
    box.append(line);
    setTimeout(() => line.remove(), Math.min(4000 + 60 * text.length, 12000));
    while (box.childElementCount > 2) box.firstElementChild.remove();
    clearOfToast(document.activeElement);
  },

  /** Switch to language `next`; taps in quick succession are done in turn (one may wait for the
   *  network), so the last one tapped is the one shown. */
  setLang(next) {
    const run = () => switchLang(next);
    langSwitch = langSwitch.then(run, run);
    return langSwitch;
  },

  /** The patient changed their own settings from this phone (settings.js): keep them and show the
   *  day, plan and reminders by them. */
  async patientChanged(me) {
    this.patient = me;
    await core.set("patient", me);
    watchDate();
    render();
    refreshPlan().then(refreshLog);
  },

  async setSound(on) {
    this.sound = on;
    await core.set("sound", on);
  },

  /** Exchange an invite code for this phone's token; null when the person chose not to.
   *  `confirmed`: they were asked already, for a try of this code that failed on the way. */
  async join(code, { confirmed = false } = {}) {
    const previous = this.patient;
    // What this phone holds for the current patient goes out under their own token first: if
    // someone else is joining, it could not be sent afterwards.
    if (this.token && !this.revoked && this.pendingCount()) {
      await core.releaseHolds(); // nobody is left to take back a mark or answer a pain question
      await sync.flush();
    }
    // Still unsent (a removed device, a failing server): whose code this is shows only once it is
    // used up, so ask now, while saying no still leaves everything as it was.
    const unsent = previous ? this.pendingCount() : 0;
    if (unsent && !confirmed && !window.confirm(t("join_unsent", { n: unsent, name: previous.display_name }))) {
      return null;
    }
    // A removal still being forgotten finishes first: nothing of it may land on the new patient.
    if (this.forgetting) await this.forgetting;
    // One join id per code, kept (a reload too) until it joins: asked again after an answer that
    // was lost on the way, the server answers as the first time instead of "already used". Only
    // within its retry window, counted from the last try (the join the server made is no later).
    await joinSweep;
    let attempt = await core.get("join_attempt").catch(() => null);
    if (!attempt || attempt.code !== code || joinExpired(attempt)) attempt = { code, id: uuid() };
    attempt.at = Date.now();
    await core.set("join_attempt", attempt).catch(() => {}); // no storage: for this page only
    const body = { code, label: deviceLabel(), join_id: attempt.id };
    const result = await call("/api/v1/patient/join", { method: "POST", body });
    await core.del("join_attempt").catch(() => {});
    if (previous && !samePatient(previous, result.patient)) {
      // Someone else on this phone: nothing of the last person's may go out under the new name.
      await core.clearAll();
      this.records = [];
    }
    // Answers cached for another token are never served to this one (sw.js), but none stay either.
    if (!previous || !samePatient(previous, result.patient)) await core.clearApiCache();
    await core.set("token", result.token);
    await core.set("patient", result.patient);
    await core.del("revoked");
    // Someone else, or the same patient after a removal, which forgot their "Not now" to the
    // invitation to set reminders (and turned push off on this phone): invited again.
    await loadReminderInvite();
    if (!(await core.get("lang"))) {
      await startLang(pickLang(null, navigator.languages, result.patient.locale));
      translateChrome();
    }
    this.token = result.token;
    this.patient = result.patient;
    this.revoked = false;
    this.revokedUnsent = 0;
    this.revokedExpired = false;
    keepStorage();
    await refreshPlan();
    await refreshLog();
    sync.flush();
    // A new device token: the server must learn this browser's subscription again.
    startReminders(this).then(() => this.checkPush());
    return result;
  },

  /** Forget a join attempt whose retry window is over (at start, and when the join screen
   *  opens): its id is of no use any more, and the invite code in it is not kept for nothing. */
  forgetOldJoin() {
    joinSweep = joinSweep.then(async () => {
      const attempt = await core.get("join_attempt");
      if (attempt && joinExpired(attempt)) await core.del("join_attempt");
    }).catch(() => {});
    return joinSweep;
  },

  /** Forget this device's link to the clinic and everything stored for it. */
  async disconnect() {
    // No more reminders on this phone for someone who left it.
    await forgetPush(this);
    await core.clearAll();
    await core.clearApiCache();
    Object.assign(this, { token: null, patient: null, bundle: null, records: [], revoked: false, push: null });
    delete document.body.dataset.push;
    this.go("#/today");
  },

  /**
   * The server answered 401 to `token`: the clinic removed this device, or archived or erased the
   * patient, or it expired unused (`why`, core.whyRemoved: the join screen words it). Everything
   * of the patient on this phone is forgotten (core.forgetPatient, also run by sync and sw.js on
   * their own 401s): the stored data and records, the cached API answers, the
   * push subscription and shown notifications; the join screen then says so. Unsent records are
   * deleted too (they can never be sent with this token, and on a shared phone they are someone's
   * health data); the screen says how many. A 401 for a token replaced by a join since is ignored.
   */
  onRevoked(why = "removed", token = this.token) {
    if (this.revoked) return this.forgetting || Promise.resolve();
    if (!token || token !== this.token) return Promise.resolve();
    this.revoked = true;
    this.revokedExpired = why === "expired";
    this.token = null;
    // Push goes off on this phone with the rest (core.forgetBrowserData).
    Object.assign(this, { patient: null, bundle: null, records: [], planMissing: false, push: null });
    this.details.clear();
    delete document.body.dataset.push;
    if (app.cleanup) {
      app.cleanup();
      app.cleanup = null;
    }
    render({ focus: true });
    this.forgetting = (async () => {
      try {
        const marker = await core.forgetPatient(token, why);
        if (marker) Object.assign(this, { revokedUnsent: marker.unsent, revokedExpired: marker.expired });
      } catch { /* no IndexedDB: nothing was kept */ }
      await core.forgetBrowserData();
      // Other tabs of the app: they find the token gone and forget too.
      core.announce({ type: "records" });
      this.records = [];
      if (this.revoked) render({ focus: true });
    })().finally(() => { this.forgetting = null; });
    return this.forgetting;
  },

  /**
   * The worker (sw.js networkFirst, Background Sync) or another tab may see the 401 first and
   * forget the patient in IndexedDB, token included, before any request of this page is answered
   * 401: its sync then finds no token and its plan may still come from the cache. When the stored
   * token is gone and the "revoked" marker is there while this page still holds a token, that was
   * a removal: show it as one (onRevoked). A join under way stores its new token first.
   */
  async noticeForgotten() {
    const token = this.token;
    if (!token || this.revoked) return;
    let stored;
    let marker;
    try {
      [stored, marker] = await Promise.all([core.get("token"), core.get("revoked")]);
    } catch {
      return; // no IndexedDB: only this page's own 401s tell
    }
    if (!stored && marker && this.token === token) await this.onRevoked(marker.expired ? "expired" : "removed", token);
  },
};

// Records waited on this phone because it was offline: once they reach the clinic, the patient is
// told so in words, not only by the header turning from "6 to send" to "All saved".
let waitedOffline = false;

const sync = createSync({
  onDone: (result, records) => {
    const before = app.pendingCount();
    app.records = records;
    if (app.onRecords) app.onRecords();
    if (result.status === "revoked") app.onRevoked(result.why);
    // No token stored while this page has one: forgotten elsewhere (see noticeForgotten).
    else if (result.status === "no-token") app.noticeForgotten();
    if (result.status === "offline" && app.pendingCount()) waitedOffline = true;
    else if (waitedOffline && result.status === "ok" && result.sent > 0) {
      const arrived = before - app.pendingCount();
      if (arrived > 0) app.toast(t("outbox_arrived", { n: arrived }));
      if (!app.pendingCount()) waitedOffline = false;
    }
    updateChrome();
    // A run that changed no record (nothing ready, no network: every `online` event) leaves the
    // screen as it is: drawing it again costs an old phone time and can move a screen reader's place.
    if (result.sent || result.refused) refreshPassive();
  },
  onRevoked: (why) => app.onRevoked(why),
  onBackOnline: () => refreshLog(),
});

/** Ask the browser to keep this app's storage under storage pressure: unsent records and the
 *  offline plan live there, and a best-effort origin may be evicted without a word. Only once
 *  joined (nothing is worth keeping before). A refusal, a failure or a browser without it changes
 *  nothing: the app works as before, and the next start asks again. */
function keepStorage() {
  try {
    const storage = navigator.storage;
    if (!storage || typeof storage.persist !== "function") return;
    const kept = typeof storage.persisted === "function" ? storage.persisted() : Promise.resolve(false);
    Promise.resolve(kept).then((yes) => yes || storage.persist()).catch(() => {});
  } catch { /* never in the way of anything */ }
}

/** Whether two plan bundles are the same version of the same plan (whatever their language). */
function samePlan(a, b) {
  return a.plan_id === b.plan_id && a.version === b.version && a.updated_at === b.updated_at;
}

/** Whether bundle a is an older plan, or an older version of the same plan, than b. Plan ids only
 *  grow (the server never hands one out twice); updated_at has whole seconds and may tie. */
function olderPlan(a, b) {
  return a.plan_id < b.plan_id || (a.plan_id === b.plan_id && a.version < b.version);
}

/** The stored plan for a language, unless a newer plan was stored since in another language:
 *  offline, the current plan in the other language beats an outdated one in this language. */
async function storedPlan(language) {
  const [mine, newest] = await Promise.all([core.get(`plan:${language}`), core.get("plan")]);
  if (mine && (!newest || samePlan(mine, newest))) return mine;
  return newest || mine || null;
}

/** `run` again after 2 s, 4 s, ... up to 5 minutes (`later`), until `settle` (a busy or restarting
 *  server is not asked every moment by every phone). */
function backoff(run) {
  let timer = null;
  let delay = 0;
  const settle = () => {
    clearTimeout(timer);
    delay = 0;
  };
  // Back online the app asks at once (see start): a wait grown long while the network was down
  // would leave a first failed try (the network often is not quite back) unrepeated for minutes.
  window.addEventListener("online", settle);
  return {
    later() {
      clearTimeout(timer);
      delay = Math.min(delay ? delay * 2 : 2000, 5 * 60 * 1000);
      timer = setTimeout(run, delay);
    },
    settle,
  };
}

let planFetch = Promise.resolve();
// Asked again while there is none to show after a failure, or while the one shown is the worker's
// stored copy though the browser is online (back online, the first read often fails at the
// network; a plan the therapist changed meanwhile would wait for the next start).
const planRetry = backoff(() => {
  if (app.token) refreshPlan();
});

/** Draw the waiting screen again when it shows (a plan request started or ended). */
function redrawWaiting() {
  if (document.body.dataset.screen === "waiting") render();
}

/** Fetch the plan bundle in the current language and keep it for offline use. One fetch at a
 *  time: an answer arriving late (the worker's stored copy while offline) is compared with what
 *  the one before it stored, never written over it. */
function refreshPlan() {
  planFetch = planFetch.then(fetchPlan, fetchPlan);
  return planFetch;
}

async function fetchPlan() {
  const token = app.token;
  if (!token) return;
  refreshMe();
  app.planLoading = true;
  redrawWaiting();
  try {
    await fetchPlanFor(token);
  } finally {
    app.planLoading = false;
    redrawWaiting();
    checkClock();
  }
}

let clockWasOff = false;

/** Today's card about a phone clock that is off (api.js clockOff) shows once an answer from the
 *  server tells, and goes once the clock is put right (looked at every minute, see watchDate). */
function checkClock() {
  const off = clockOff() !== null;
  if (off === clockWasOff) return;
  clockWasOff = off;
  refreshPassive();
}

async function fetchPlanFor(token) {
  let bundle;
  try {
    bundle = await call(`/api/v1/patient/plan?lang=${lang()}`, { token });
  } catch (err) {
    if (isRemoved(err)) app.onRevoked(err.removed, token);
    else if (err instanceof ApiError && err.status === 404) {
      planRetry.settle();
      app.planFailed = false;
      app.planMissing = true;
      app.bundle = null;
      render();
    } else if (app.token === token) {
      // Offline or a server error: the stored plan stays on screen. With none, the waiting screen
      // says so instead of "Loading…" for ever, and the plan is asked for again by itself (not
      // after a refusal, which would come again).
      app.planFailed = true;
      if (!app.bundle && (isOffline(err) || err.status >= 500)) planRetry.later();
    }
    return;
  }
  // Removed (or someone else joined) while this was on its way: not theirs to keep.
  if (app.token !== token) return;
  app.planFailed = false;
  // The worker's stored copy while the browser is online: the server has not answered yet.
  if (fromStore(bundle) && navigator.onLine) planRetry.later();
  else planRetry.settle();
  try {
    await showPlan(token, bundle);
  } catch {
    // This phone could not store it (storage full or broken), which no wait mends.
    if (!app.bundle) app.planFailed = true;
  }
}

/** Keep a plan bundle fetched with `token` and show it, unless a newer one is kept already. */
async function showPlan(token, bundle) {
  // Offline, the worker answers with the last copy it has for this language, which may be
  // older than the plan already seen in the other one: keep the newer plan then.
  const newest = await core.get("plan");
  if (newest && olderPlan(bundle, newest)) return;
  // Only while the token is still stored: a removal forgotten meanwhile (the worker's 401, or
  // this page's) must not get the plan written back after it.
  if (!(await core.setForToken(token, { [`plan:${lang()}`]: bundle, plan: bundle })) || app.token !== token) return;
  const shown = app.bundle && !app.planMissing;
  const changed = !shown || app.bundle.version !== bundle.version || app.bundle.plan_id !== bundle.plan_id
    || app.bundle.updated_at !== bundle.updated_at;
  app.bundle = bundle;
  app.planMissing = false;
  app.lastRefresh = Date.now();
  // A screen the patient is busy on (a check-in being filled in, a running timer) is not drawn
  // again under them: the changed plan shows from the next screen on.
  if (changed && !shown) render();
  else if (changed) refreshPassive();
}

/** The patient as the clinic has them now: a rename shows from the next screen on, without joining again. */
async function refreshMe() {
  const token = app.token;
  try {
    // A language picked in the app (maybe offline) goes to the server: reminders are written in it.
    // So does a time zone chosen offline, which counts on this phone until the server has it.
    const me = await withWantedZone((await sendSettings(app)) || (await call("/api/v1/patient/me", { token })));
    if (app.token !== token || JSON.stringify(me) === JSON.stringify(app.patient)) return;
    if (!(await core.setForToken(token, { patient: me })) || app.token !== token) return;
    app.patient = me;
  } catch (err) {
    // A removed device. Said here too: the plan asked at the same time may have come from the
    // worker's cache (its network back a moment later), and the worker forgets the token on this
    // 401, so the next send finds none and would not say it either.
    if (isRemoved(err)) app.onRevoked(err.removed, token);
    // Offline: the next refresh tries again.
  }
}

/** Pull what was logged (on this phone or another) so done marks, week and streak are right. */
async function refreshLog() {
  if (!app.token || !app.bundle) return;
  const to = app.today();
  // The server gives at most 366 days at a time; the program is much shorter.
  const earliest = addDays(to, -365);
  // From the first day of the oldest version the bundle carries (the plans a follow-up replaced).
  const treated = [app.bundle.program, ...(app.bundle.earlier || []).map((e) => e.program)]
    .map((p) => p.treated_on).sort()[0];
  const from = treated > to ? to : treated < earliest ? earliest : treated;
  const token = app.token;
  let log;
  try {
    log = await call(`/api/v1/patient/log?from=${from}&to=${to}`, { token });
  } catch (err) {
    if (isRemoved(err)) app.onRevoked(err.removed, token);
    // Only a read that failed on the way is asked again by itself: a server that answered would
    // answer the same.
    else if (isOffline(err)) retryLogLater();
    return;
  }
  if (app.token !== token) return;
  if (fromStore(log)) retryLogLater();
  else logRetry.settle();
  try {
    const changed = (await core.mergeSent("completion", log.completions, token))
      + (await core.mergeSent("checkin", log.checkins, token));
    // Nothing new (the usual case): the screen is not drawn again, which costs an old phone time
    // and can move a screen reader's place.
    if (!changed) return;
    await app.reloadRecords();
  } catch {
    return; // this phone could not store it (storage full or broken), which no wait mends
  }
  refreshPassive();
}

const logRetry = backoff(refreshLog);

/** The log came from the worker's stored copy, or not at all, while the browser says it is online
 *  (back online, the first read often fails at the network): read it again until the server
 *  answers. Offline, the `online` event reads it again. */
function retryLogLater() {
  if (navigator.onLine) logRetry.later();
  else logRetry.settle();
}

// ---- routing -----------------------------------------------------------------------------

const PASSIVE = new Set(["today", "day", "progress", "help", "more"]);

/** "#/day/2026-11-20" -> {name: "day", args: [...]}; "#today?slot=evening&date=2026-11-20" (a
 *  reminder) adds params. */
function parse(hash) {
  const [path, query = ""] = hash.replace(/^#\/?/, "").split("?");
  const parts = path.split("/").map(decodeURIComponent);
  const [name, ...rest] = parts;
  return { name: name || "today", args: rest, params: new URLSearchParams(query) };
}

/** The day a reminder was for (it may be tapped after midnight), else today. */
function reminderDate(date) {
  return isDate(date) ? date : app.today();
}

/** The slot a tapped reminder marks on the day drawn, if it was for that day. */
function dueSlot(date) {
  return app.due && app.due.date === date ? app.due.slot : null;
}

function screenFor(r) {
  const needsPlan = !["help", "more", "reminders", "join"].includes(r.name);
  if (!app.token || app.revoked) {
    if (["help", "more"].includes(r.name)) return r.name === "help" ? renderHelp(app) : renderMore(app);
    return renderJoin(app, { revoked: app.revoked });
  }
  if (needsPlan && !app.bundle) return waitingForPlan();
  switch (r.name) {
    case "day": {
      const date = r.args[0] || app.today();
      return renderDay(app, date, { due: dueSlot(date) });
    }
    case "ex": return renderExercise(app, { date: r.args[0], slot: r.args[1], exerciseId: r.args[2] });
    case "checkin": return renderCheckin(app, r.args[0] || app.today());
    case "progress": return renderProgress(app);
    case "help": return renderHelp(app);
    case "more": return renderMore(app);
    case "reminders": return renderReminders(app);
    case "join": return renderJoin(app, {});
    case "today": return renderDay(app, app.today(), { due: dueSlot(app.today()) });
    default: return renderDay(app, app.today());
  }
}

function waitingForPlan() {
  const failed = app.planFailed && !app.planMissing && !app.planLoading;
  const title = app.planMissing ? t("no_plan_title") : failed ? t("plan_failed_title") : t("loading");
  const text = app.planMissing ? t("no_plan_text") : failed ? t("plan_failed_text") : null;
  return h("section", { class: "screen" },
    h("h1", { tabindex: "-1", text: title }),
    text ? h("p", { text }) : null,
    h("button", {
      class: "btn", type: "button", text: t("try_again"), "data-focus": "plan-retry",
      on: {
        click: () => {
          // Said in the live region: the screen itself may look the same after the answer.
          app.toast(t("plan_retrying"), { screen: true });
          if (!app.planLoading) refreshPlan();
        },
      },
    }));
}

// What takes keyboard focus on a screen (a heading too: each screen's gets it when drawn).
const FOCUSABLE = "a[href], button, input, select, textarea, summary, [tabindex]";

/** Where keyboard focus is on the screen, to find it again once the screen is drawn anew (the
 *  records sent, the app back in front, another tab's mark): a control's data-focus key, or else
 *  its place among the screen's controls with its address or words. Null when it is elsewhere. */
function focusPlace(main) {
  const el = document.activeElement;
  if (!el || el === main || !main.contains(el)) return null;
  const keyed = el.closest("[data-focus]");
  if (keyed) return { key: keyed.dataset.focus };
  return { index: [...main.querySelectorAll(FOCUSABLE)].indexOf(el), tag: el.tagName, label: placeLabel(el) };
}

function placeLabel(el) {
  return el.getAttribute("href") || el.textContent;
}

/** The control at `place` (see focusPlace) on the screen drawn now, if it is still there. */
function findPlace(main, place) {
  if (place.key) {
    const key = CSS.escape(place.key);
    return main.querySelector(`[data-focus="${key}"]`);
  }
  const el = main.querySelectorAll(FOCUSABLE)[place.index];
  return el && el.tagName === place.tag && placeLabel(el) === place.label ? el : null;
}

/** The entry of the exercise just left (`left`, an "ex" route) on the day list now drawn, if it is there. */
function entryLeft(main, r, left) {
  if (!left || left.name !== "ex" || !["today", "day"].includes(r.name)) return null;
  const [date, slot, exercise] = left.args;
  const shown = r.name === "day" && r.args[0] ? r.args[0] : app.today();
  if (date !== shown || !slot || !exercise) return null;
  const key = CSS.escape(`open:${slot}:${exercise}`);
  return main.querySelector(`[data-focus="${key}"]`);
}

/** Draw the screen the route names. With `focus` (a new screen), focus goes to its heading; back
 *  on a day's list from one of its exercises (`left`: the route before), to that exercise's entry
 *  instead, in view, so the patient goes on from where they were, not from the top of the list. */
function render({ focus = false, left = null } = {}) {
  const main = $("main");
  const scroll = window.scrollY;
  // Re-drawing the same screen keeps keyboard focus on the same control.
  const place = focus ? null : focusPlace(main);
  if (app.cleanup) {
    app.cleanup();
    app.cleanup = null;
  }
  const r = app.route || parse(location.hash);
  if (focus) dropToastsOfOtherScreens(screenKey(r));
  const node = screenFor(r);
  // Sections the patient opened or closed stay so when the screen is drawn again.
  for (const d of node.querySelectorAll("details[data-keep]")) {
    if (app.details.has(d.dataset.keep)) d.open = app.details.get(d.dataset.keep);
  }
  fill(main, node);
  const heading = main.querySelector("h1");
  if (heading && !heading.hasAttribute("tabindex")) heading.setAttribute("tabindex", "-1");
  document.title = heading ? `${heading.textContent} · Unknot` : "Unknot";
  for (const link of document.querySelectorAll("#nav a")) {
    const target = link.getAttribute("href").slice(2);
    // Reminders is one of More's screens: its tab stays marked there.
    const current = target === r.name || (target === "today" && r.name === "day" && !r.args[0])
      || (target === "more" && r.name === "reminders");
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  // A reminder opens its day at its slot (see route): that slot's heading gets focus.
  const slot = ["today", "day"].includes(r.name) && dueSlot(r.name === "day" && r.args[0] ? r.args[0] : app.today());
  const slotHeading = focus && slot && main.querySelector(`#slot-${slot}`);
  const entry = focus && !slotHeading && entryLeft(main, r, left);
  if (slotHeading) {
    slotHeading.setAttribute("tabindex", "-1");
    slotHeading.focus({ preventScroll: true });
    slotHeading.scrollIntoView({ block: "start" });
  } else if (entry) {
    entry.focus({ preventScroll: true });
    entry.scrollIntoView({ block: "center" });
  } else if (focus) {
    window.scrollTo(0, 0);
    if (heading) heading.focus({ preventScroll: true });
  } else {
    window.scrollTo(0, scroll);
    // A control gone with the redraw leaves focus on the screen's heading, not on the page's body.
    const again = place && (findPlace(main, place) || heading);
    if (again) again.focus({ preventScroll: true });
  }
  updateChrome();
  // What is on screen, for tests and the benchmark (the join screen whatever the route said).
  const shown = !app.token || app.revoked ? (["help", "more"].includes(r.name) ? r.name : "join")
    : !app.bundle && !["help", "more", "reminders", "join"].includes(r.name) ? "waiting" : r.name;
  document.body.dataset.screen = shown;
  performance.mark(`rendered:${shown}`);
}

/** A route as the screen it shows: "today", "day/2026-11-20", "ex/2026-11-20/morning/neck-tilt". */
function screenKey(r) {
  return [r.name, ...r.args].join("/");
}

/** Messages about another screen's controls (app.toast's `screen`) leave with it. Removing them
 *  from the live region is not read out (it says additions only), and the new screen's own
 *  messages, and those about no screen, stay. */
function dropToastsOfOtherScreens(key) {
  for (const line of $("toast").querySelectorAll("p[data-screen]")) {
    if (line.dataset.screen !== key) line.remove();
  }
}

/** Re-draw screens that only show data (never one with a running timer or a form being filled). */
function refreshPassive() {
  const r = app.route || parse(location.hash);
  if (PASSIVE.has(r.name) && !(app.revoked || !app.token)) render();
}

/** Show the screen the address names; true when it was an invite link that joined this phone. */
async function route() {
  const hash = location.hash;
  const join = /^#join=(.*)$/s.exec(hash);
  if (join) {
    // The code must not stay in the address bar or the history, whole or damaged.
    history.replaceState(null, "", `${location.pathname}#/today`);
    app.route = parse("#/today");
    const { code, complete } = linkCode(join[1]);
    if (complete) return joinFromLink(code);
    // Cut short or mangled on its way: nothing is tried with it; the patient sees what arrived.
    if (app.token && !app.revoked) {
      app.toast(t("join_link_incomplete"));
      render({ focus: true });
    } else {
      showJoin(renderJoin(app, { code, notice: t("join_link_incomplete") }));
    }
    return false;
  }
  const left = app.route;
  app.route = parse(hash);
  app.due = null;
  if (app.route.name === "today" && (app.route.params.has("date") || app.route.params.has("slot"))) {
    // A tapped reminder ("#today?slot=evening&date=2026-11-25"). Its address is replaced by the
    // day's own (#/today or #/day/DATE): left as it is, Today would stay on that day after
    // midnight and a done mark would log the day before. Only the slot's mark stays, on that day.
    const date = reminderDate(app.route.params.get("date"));
    const slot = app.route.params.get("slot");
    if (/^(morning|midday|evening)$/.test(slot || "")) app.due = { date, slot };
    const own = date === app.today() ? "#/today" : `#/day/${date}`;
    history.replaceState(null, "", `${location.pathname}${own}`);
    app.route = parse(own);
  }
  const undated = { day: "#/today", checkin: "#/checkin" }[app.route.name];
  if (undated && app.route.args[0] && !isDate(app.route.args[0])) {
    // A day no calendar has ("#/day/garbage", "#/day/2026-02-30", a link cut short) would break
    // the screens' date arithmetic or show another day: the address becomes the day-less one.
    history.replaceState(null, "", `${location.pathname}${undated}`);
    app.route = parse(undated);
  }
  render({ focus: true, left });
  return false;
}

/** Whether a join is the same patient again (a new code after a removed device, a renamed patient). */
function samePatient(before, after) {
  // Stored by an older version of the app without the id: the name is all there is.
  return before.id === undefined ? before.display_name === after.display_name : before.id === after.id;
}

// The invite link being joined or joined with in this page ({code, done}): opened again (tapped
// twice while a slow join was on its way), it is the same join, not a second one that the server
// refuses as "already used" while the phone is in fact joined.
let linkJoin = null;

/** Join with an invite link's code; true when this phone joined (the first time it is opened). */
async function joinFromLink(code) {
  if (linkJoin && linkJoin.code === code) {
    await linkJoin.done;
    if (app.token && !app.revoked) {
      render({ focus: true });
      return false;
    }
  }
  linkJoin = { code, done: joinWith(code) };
  const joined = await linkJoin.done;
  if (!joined) linkJoin = null; // refused or cancelled: the link can be tried again
  return joined;
}

async function joinWith(code) {
  fill($("main"), h("section", { class: "screen" }, h("h1", { tabindex: "-1", text: t("joining") })));
  try {
    const joined = Boolean(await app.join(code));
    if (!joined) app.toast(t("join_cancelled"));
    render({ focus: true });
    return joined;
  } catch (err) {
    if (app.token && !app.revoked) {
      // Already joined on this phone: keep going and just say why the link did not work.
      app.toast(joinError(err));
      render({ focus: true });
      return false;
    }
    showJoin(renderJoin(app, { code, error: err, revoked: false }));
    return false;
  }
}

/** The join screen with what went wrong with a link; its heading gets focus, as on any new screen. */
function showJoin(screen) {
  fill($("main"), screen);
  document.body.dataset.screen = "join";
  document.title = `${t("join_title")} · Unknot`;
  updateChrome();
  const heading = $("main").querySelector("h1");
  // A heading takes focus only with a tabindex: without it, focus stayed on the page's body.
  heading.setAttribute("tabindex", "-1");
  heading.focus();
}

// ---- the frame: header, sync status, banners, navigation ------------------------------

/** A control reached from the keyboard is not left hidden under a message at the bottom of the
 *  screen (marking one done after another, the next one came to rest under "Done: ..."): the
 *  page scrolls it clear, once the browser has scrolled it into view. */
function clearOfToast(el) {
  requestAnimationFrame(() => {
    const box = $("toast");
    if (!el || !box.childElementCount || !$("main").contains(el) || document.activeElement !== el) return;
    try {
      if (!el.matches(":focus-visible")) return; // a tap: the finger is where the patient looks
    } catch {
      return; // a browser without :focus-visible
    }
    const toast = box.getBoundingClientRect();
    const it = el.getBoundingClientRect();
    if (it.bottom > toast.top && it.top < toast.bottom) window.scrollBy(0, it.bottom - toast.top + 8);
  });
}

function translateChrome() {
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.dataset.i18nLabel));
}

// The refused records the patient was told of (ids; kv "refused_said"), null until read at start.
// The toast is for a refusal not told yet: the start's retry refuses the same records again, and
// a toast at every start says nothing new (the header keeps saying they are there).
let refusedSaid = null;
let refusedTurn = Promise.resolve();

async function sayRefused(refused) {
  if (!refusedSaid || refused.every((r) => refusedSaid.has(r.id))) return;
  // Another tab may have said it already.
  const stored = await core.get("refused_said").catch(() => null);
  for (const id of stored || []) refusedSaid.add(id);
  if (refused.every((r) => refusedSaid.has(r.id))) return;
  for (const r of refused) refusedSaid.add(r.id);
  app.toast(t("outbox_refused_toast", { n: refused.length }));
  // Only a record still on the phone and not sent can be refused (again): the others are let go.
  const open = new Set(app.records.filter((r) => r.state !== "sent").map((r) => r.id));
  refusedSaid = new Set([...refusedSaid].filter((id) => open.has(id)));
  await core.set("refused_said", [...refusedSaid]).catch(() => {});
}

// Whether the patient was told that this phone cannot keep their program (core.volatile).
let storageSaid = false;

function updateChrome() {
  if (app.token && !storageSaid && core.volatile()) {
    storageSaid = true;
    // Joined in this visit only: a reload disconnects the phone, and its code is used up.
    app.toast(t(core.tokenLasts(app.token) ? "storage_failed" : "storage_lost"));
  }
  const all = app.pendingCount(); // held ones too (data-count)
  const count = app.toSendCount();
  const rejected = app.rejected();
  const refused = rejected.length;
  const status = $("sync");
  status.dataset.count = String(all);
  status.dataset.rejected = String(refused);
  status.hidden = !app.token && all === 0;
  status.classList.toggle("waiting", count > 0);
  status.classList.toggle("refused", count === 0 && refused > 0);
  // A record newly refused: said at once (the header keeps saying it).
  if (refused) refusedTurn = refusedTurn.then(() => sayRefused(rejected)).catch(() => {});
  // Never "All saved" while the clinic refused something. The button is a polite live region
  // (index.html): its text is replaced only when it changes, as a screen reader may read out any
  // new text node, and this runs on every redraw.
  const text = count > 0 ? t("outbox_waiting", { n: count })
    : refused > 0 ? t("outbox_refused", { n: refused }) : t("outbox_empty");
  if ($("sync-text").textContent !== text) fill($("sync-text"), text);
  // The offline notice is a live region always in the page, filled only while offline: shown and
  // filled at once, it may not be read out (as the toast's).
  const offline = app.online ? "" : t(core.volatile() ? "offline_unkept" : "offline_banner");
  if ($("offline").textContent !== offline) fill($("offline"), offline ? h("p", { text: offline }) : null);
  $("nav").hidden = !app.token || app.revoked;
}

/** The "new version" notice, in a live region always in the page (filled, not shown: see the
 *  offline notice in updateChrome). `held` ("form" or "timer", see unsavedWork): the new version
 *  already runs in another tab and this one waits for it to be done or left (see reloadWhenFree). */
function showUpdate(reg, { held = null } = {}) {
  shownUpdate = { reg, held }; // drawn again in another language (switchLang)
  const banner = $("update");
  const after = held === "timer" ? "update_after_timer" : "update_after_form";
  fill(banner,
    h("p", { text: t("update_ready") }, held ? ` ${t(after)}` : null),
    h("button", {
      class: "btn small", type: "button", text: t("update_reload"),
      on: {
        click: () => {
          // Another tab may have let the new worker take over already: no worker waits any more
          // and no controllerchange will come, but this page still runs the old files.
          if (!reg || !reg.waiting) {
            reloadOnce();
            return;
          }
          updateWanted = true;
          reg.waiting.postMessage({ type: "SKIP_WAITING" });
        },
      },
    }));
}

let shownUpdate = null;
let updateWanted = false;
let reloading = false;
let reloadHeld = null;
let heldBy = null;

function reloadOnce() {
  if (reloading) return;
  reloading = true;
  location.reload();
}

// A form counts as changed from the patient's first input in it until it leaves the screen or its
// screen clears data-unsaved (one that stays on screen once saved). h() sets values as properties,
// so defaultValue cannot tell what the patient changed.
function watchUnsaved() {
  const mark = (event) => {
    const form = event.target.closest && event.target.closest("form");
    if (form) form.dataset.unsaved = "";
  };
  $("main").addEventListener("input", mark, true);
  $("main").addEventListener("change", mark, true);
}

/** What a reload now would lose, null if nothing: "timer", an exercise timer under way
 *  (data-timer-running: its place in the holds and the mark it logs when it ends), or "form", a
 *  changed form or a screen that must stay until it is left (data-keep-until-left: advice shown
 *  once, after the check-in that asked for it was saved; the pain question after a mark). */
function unsavedWork() {
  const main = $("main");
  if (main.querySelector("[data-timer-running]")) return "timer";
  return main.querySelector("form[data-unsaved], [data-keep-until-left]") ? "form" : null;
}

/** Another tab's new version took over: this page reloads now, or, while the patient is filling
 *  a form or following a timer, as soon as it is saved, over or left (the DOM changes then), so
 *  the two versions do not mix for longer than that takes. */
function reloadWhenFree() {
  heldBy = unsavedWork();
  if (!heldBy) {
    reloadOnce();
    return;
  }
  showUpdate(null, { held: heldBy });
  if (reloadHeld) return;
  reloadHeld = new MutationObserver(() => {
    const held = unsavedWork();
    if (!held) reloadOnce();
    else if (held !== heldBy) {
      // A timer that ended with the pain question open, say: the notice says what it waits for now.
      heldBy = held;
      showUpdate(null, { held });
    }
  });
  reloadHeld.observe($("main"), {
    childList: true, subtree: true, attributes: true,
    attributeFilter: ["data-unsaved", "data-keep-until-left", "data-timer-running"],
  });
}

function openUrl(value) {
  let url;
  try {
    url = new URL(value, location.href);
  } catch {
    return;
  }
  if (url.origin !== location.origin) return;
  if (url.pathname === location.pathname) app.go(url.hash || "#/today");
  else location.assign(url.href);
}

function registerWorker() {
  if (!("serviceWorker" in navigator)) return;
  // A first install also changes the controller (clients.claim) and needs no reload: the page
  // came from the network with the same files. Once a worker controls the page, a new one taking
  // over (asked for in this tab or in another) means this page's code is of the old version and
  // its files are gone from the cache: every open tab reloads, so two versions never mix for
  // long (a tab with a form being filled in or a timer under way waits until it is done or left).
  let controlled = Boolean(navigator.serviceWorker.controller);
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    // Asked for in this tab: the patient chose to reload, even over a form they had started.
    if (updateWanted) reloadOnce();
    else if (controlled) reloadWhenFree();
    controlled = true;
  });
  navigator.serviceWorker.addEventListener("message", (event) => {
    if (event.data && event.data.type === "records") app.reloadRecords().then(refreshPassive);
    // The worker was answered 401 and forgot the patient (sw.js networkFirst).
    if (event.data && event.data.type === "revoked") app.noticeForgotten();
    // A tapped reminder (sw.js notificationclick): go to its screen in this window.
    if (event.data && event.data.type === "open") openUrl(event.data.url);
  });
  // The worker's importScripts (core.js) are checked with the server on every update check too:
  // by default the browser may take them from its HTTP cache, and a new worker would run an old
  // core.js.
  navigator.serviceWorker.register("/sw.js", { scope: "/", updateViaCache: "none" }).then((reg) => {
    if (reg.waiting && navigator.serviceWorker.controller) showUpdate(reg);
    reg.addEventListener("updatefound", () => {
      const worker = reg.installing;
      if (!worker) return;
      worker.addEventListener("statechange", () => {
        if (worker.state === "installed" && navigator.serviceWorker.controller) showUpdate(reg);
      });
    });
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") reg.update().catch(() => {});
    });
  }).catch(() => { /* no worker (private mode, old browser): the app still runs online */ });
}

// ---- the date --------------------------------------------------------------------------

let shownDay = null;
let dayTimer = null;

/** Today turns into tomorrow at midnight (the patient's zone) while the app is open: look every
 *  minute, on the minute, and when the app comes back to the front; draw the new day at once. */
function watchDate() {
  clearTimeout(dayTimer);
  const day = app.today();
  if (shownDay !== null && day !== shownDay) {
    shownDay = day;
    refreshPassive();
    refreshLog();
  }
  shownDay = day;
  checkClock();
  dayTimer = setTimeout(watchDate, 60_000 - (Date.now() % 60_000) + 50);
}

// ---- start -------------------------------------------------------------------------------

let langSwitch = Promise.resolve();

async function switchLang(next) {
  try {
    await loadLang(next, { ask: true });
  } catch {
    // Offline, and this phone never stored that language (sw.js keeps the one in use): the app
    // stays in this one and says so in it.
    app.toast(t("lang_needs_network", { name: LANG_NAMES[next] }));
    return;
  }
  keepLang();
  await core.set("lang", next).catch(() => {}); // no storage: for this visit
  translateChrome();
  if (shownUpdate) showUpdate(shownUpdate.reg, { held: shownUpdate.held });
  if (app.token) keepFallbackText();
  const stored = await storedPlan(next).catch(() => null);
  if (stored) app.bundle = stored;
  render();
  if (app.token) refreshPlan();
}

/** The page's language stays on this phone for offline use (sw.js): kept for the next version's
 *  install, and put now in the shell of every worker of the app (the one in control, and a new
 *  version installing or waiting): on a first visit the page loaded it before any worker was there. */
function keepLang() {
  const language = lang();
  core.set("shell_lang", language).catch(() => {});
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.ready.then((reg) => {
    for (const worker of new Set([reg.installing, reg.waiting, reg.active])) {
      if (worker) worker.postMessage({ type: "LANG", lang: language });
    }
  }).catch(() => {});
}

/** Load `wanted`'s texts, else, when its file is not on this phone and there is no network (the
 *  browser's language changed offline, say), another language this phone has, and say why. */
async function startLang(wanted) {
  try {
    await loadLang(wanted);
  } catch (err) {
    let other = null;
    for (const code of LANGS) {
      if (!other && code !== wanted) other = await loadLang(code).catch(() => null);
    }
    if (!other) throw err;
    app.toast(t("lang_needs_network", { name: LANG_NAMES[wanted] }));
  }
  keepLang();
}

async function start() {
  watchUnsaved();
  registerWorker();
  let saved = {};
  try {
    const [token, patient, savedLang, revoked, sound, said] = await Promise.all(
      ["token", "patient", "lang", "revoked", "sound", "refused_said"].map((k) => core.get(k)));
    saved = { token, patient, savedLang, revoked, sound, said };
    app.records = await core.allRecords();
  } catch {
    // No IndexedDB (some private modes): the app works for this visit only.
  }
  refusedSaid = new Set(saved.said || []);
  app.token = saved.token || null;
  app.patient = saved.patient || null;
  app.revoked = Boolean(saved.revoked) && !app.token;
  if (app.revoked) {
    // Removed earlier, maybe by the worker, or by an older version of the app that kept the
    // patient's data after a removal: nothing of theirs stays (see onRevoked).
    try {
      const marker = await core.forgetPatient(null);
      app.revokedUnsent = (marker && marker.unsent) || 0;
      app.revokedExpired = Boolean(marker && marker.expired);
    } catch { /* no IndexedDB */ }
    await core.forgetBrowserData();
    Object.assign(app, { patient: null, records: [] });
  }
  app.sound = saved.sound !== false;
  await startLang(pickLang(saved.savedLang, navigator.languages, app.patient && app.patient.locale));
  await loadZoneAnswers();
  await loadReminderInvite();
  translateChrome();
  try {
    app.bundle = await storedPlan(lang());
  } catch {
    app.bundle = null;
  }

  $("sync").addEventListener("click", () => {
    if (app.pendingCount()) app.toast(t(app.online ? "outbox_sending" : "outbox_offline"));
    else if (app.rejected().length) {
      app.go("#/more");
      return;
    } else app.toast(t("outbox_empty_long")); // a tap on "All saved" says what it means
    sync.flush();
  });
  $("main").addEventListener("focusin", (event) => clearOfToast(event.target));
  $("main").addEventListener("toggle", (event) => {
    const key = event.target.dataset && event.target.dataset.keep;
    if (key) app.details.set(key, event.target.open);
  }, true);
  window.addEventListener("hashchange", route);
  // Back online (maybe after days): the plan, and what was logged meanwhile on the patient's other
  // phone, so its done marks and the streak show here too.
  window.addEventListener("online", () => { app.online = true; updateChrome(); refreshPlan().then(refreshLog); });
  window.addEventListener("offline", () => { app.online = false; updateChrome(); });
  window.addEventListener("beforeinstallprompt", (event) => {
    event.preventDefault();
    app.installPrompt = event;
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState !== "visible") {
      app.leaving();
      return;
    }
    if (Date.now() - app.lastRefresh > 5 * 60 * 1000) refreshPlan().then(refreshLog);
    watchDate();
    refreshPassive();
    // Notifications allowed or blocked in the browser's settings meanwhile.
    app.checkPush();
  });
  window.addEventListener("pagehide", () => app.leaving());
  watchDate();
  try {
    const channel = new BroadcastChannel("unknot");
    channel.onmessage = (event) => {
      if (event.data && event.data.type === "records") {
        // Another tab may have forgotten a removed patient (its onRevoked announces it).
        app.noticeForgotten();
        app.reloadRecords().then(refreshPassive);
      }
    };
  } catch { /* other tabs catch up when focused */ }

  await app.forgetOldJoin();
  // A join from a link has already started everything below for the new token.
  const joined = await route();
  if (app.token && !joined) {
    // Refused records are tried once more at each start: the reason may be gone (the phone's
    // clock was set right). Refused again, they stay so with their reason.
    if (app.rejected().length) await app.retryRejected().catch(() => 0);
    keepStorage();
    sync.flush();
    refreshPlan().then(refreshLog);
    startReminders(app).then(() => app.checkPush());
  }
}

start();

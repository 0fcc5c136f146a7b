// Reminders (More > Reminders, #/reminders) and Web Push on this phone.
//
// - The patient picks a time, weekdays and on/off for morning, midday and evening, and quiet
//   hours; the server keeps them (PUT /api/v1/patient/reminders) and names a wrong field.
// - Notification permission is asked only when the patient taps "Remind me at these times".
//   The browser then subscribes with the server's VAPID key and the subscription goes to the
//   server. "Send me a test reminder" and "Turn off reminders on this phone" follow.
// - Where push cannot work (no Push API, notifications blocked, iPhone or iPad before "Add to
//   Home Screen") the screen says so and offers the same times as a calendar file (.ics).
// - startReminders() sends the current subscription on every start (browsers can change it
//   silently) and subscribes again when it vanished, or when the server no longer had the one this
//   phone sent before (it drops one its push service calls gone); /sw.js handles
//   pushsubscriptionchange.
// - Today invites the patient to set reminders (reminderInvite) while they could work on this phone
//   but are off here, the program is not over and the patient has not said "Not now" on this phone
//   in the last week (asked again once after a week; a second "Not now" is for good).
//   A phone the clinic disconnected loses its subscription (core.forgetBrowserData) and, with the
//   rest of the patient's data, that "Not now": joined again, it is invited again.

import "./core.js";
import { ApiError, call, isIos, isOffline, isRemoved, isStandalone } from "./api.js";
import { longDate, todayIn, zoneName } from "./dates.js";
import { fill, h, newId } from "./dom.js";
import { lang, placeName, t } from "./i18n.js";
import { SLOTS } from "./routine.js";
import { slotName } from "./words.js";

const core = globalThis.unknotCore;
const KEY_URL = "/api/v1/push/public-key";
const SUBSCRIPTIONS_URL = "/api/v1/patient/push/subscriptions";
const REMINDERS_URL = "/api/v1/patient/reminders";
const TEST_URL = "/api/v1/patient/push/test";
const CALENDAR_URL = "/api/v1/patient/reminders.ics";
const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
// Literal keys so the i18n check sees them: full names are the accessible names, short ones are shown.
const DAY_NAMES = {
  mon: ["day_mon", "day_short_mon"],
  tue: ["day_tue", "day_short_tue"],
  wed: ["day_wed", "day_short_wed"],
  thu: ["day_thu", "day_short_thu"],
  fri: ["day_fri", "day_short_fri"],
  sat: ["day_sat", "day_short_sat"],
  sun: ["day_sun", "day_short_sun"],
};
// A browser without a reachable push service can leave subscribe() pending for ever.
const SUBSCRIBE_TIMEOUT_MS = 20000;
const WORKER_TIMEOUT_MS = 10000;

// ---- push plumbing -----------------------------------------------------------------------------

/**
 * What this browser can do about push:
 *   "ios-install"  iPhone/iPad in the browser: push needs the app on the Home Screen first
 *   "unsupported"  no Push API (or no service worker, or no notifications)
 *   "blocked"      the patient (or the browser) denied notifications for this site
 *   "ready"        push can be used (permission may still have to be asked)
 */
export function pushSupport() {
  if (isIos() && !isStandalone()) return "ios-install";
  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
    return "unsupported";
  }
  if (Notification.permission === "denied") return "blocked";
  return "ready";
}

function withTimeout(promise, ms) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error("timeout")), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

function registration() {
  return withTimeout(navigator.serviceWorker.ready, WORKER_TIMEOUT_MS);
}

function keyBytes(base64url) {
  const text = base64url.replace(/-/g, "+").replace(/_/g, "/");
  const raw = atob(text + "=".repeat((4 - (text.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

/** False only when the subscription is known to use another key than the server's. */
function sameKey(subscription, key) {
  const used = subscription.options && subscription.options.applicationServerKey;
  if (!used || !key) return true;
  const a = new Uint8Array(used);
  const b = keyBytes(key);
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

async function publicKey() {
  const { public_key: key } = await call(KEY_URL);
  await core.set("push_key", key).catch(() => {});
  return key;
}

async function subscribe(reg, key) {
  return withTimeout(reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) }),
    SUBSCRIBE_TIMEOUT_MS);
}

async function sendSubscription(app, subscription) {
  const answer = await call(SUBSCRIPTIONS_URL, { method: "PUT", token: app.token, body: subscription.toJSON() });
  // What this phone sent last: on a later start, the server not having it means it dropped it.
  await core.set("push_sent", subscription.endpoint).catch(() => {});
  return answer;
}

async function deleteSubscription(app, endpoint) {
  try {
    // In the body, not the query: a proxy's access log keeps query strings, and the endpoint is secret.
    await call(SUBSCRIPTIONS_URL, { method: "DELETE", token: app.token, body: { endpoint } });
  } catch (err) {
    // 404: the server had already dropped it. Offline: the push service answers 410 later.
    if (isRemoved(err)) throw err;
  }
}

/** For the worker, should a push ever come without a text of its own (in the app's language). */
export function keepFallbackText() {
  core.set("push_fallback", { title: t("push_fallback_title"), body: t("push_fallback_body") }).catch(() => {});
}

/**
 * At every start of a joined app: send this browser's subscription to the server again (it may
 * have changed), or subscribe again when the patient turned reminders on and it vanished.
 * Never asks for permission and never throws.
 */
export async function startReminders(app) {
  if (!app.token) return;
  keepFallbackText();
  if (pushSupport() !== "ready" || Notification.permission !== "granted") return;
  try {
    const reg = await registration();
    let subscription = await reg.pushManager.getSubscription();
    const wanted = await core.get("push_wanted");
    if (!subscription && !wanted) return;
    let key = null;
    try {
      key = await publicKey();
    } catch {
      // Offline: the PUT below fails too, and the next start tries again.
    }
    if (subscription && key && !sameKey(subscription, key)) {
      // The server has new keys: the old subscription can no longer be used.
      await deleteSubscription(app, subscription.endpoint);
      await subscription.unsubscribe().catch(() => false);
      subscription = null;
    }
    if (!subscription) {
      if (!wanted || !key) return;
      subscription = await subscribe(reg, key);
    }
    const sentBefore = await core.get("push_sent").catch(() => null);
    const answer = await sendSubscription(app, subscription);
    if (answer && answer.created && sentBefore === subscription.endpoint && key) {
      // The server had this subscription and dropped it: its push service answered 404/410 (the
      // browser may not have noticed). Sending it again only stored a dead one: make a new one.
      await core.set("push_wanted", true);
      await deleteSubscription(app, subscription.endpoint);
      await subscription.unsubscribe().catch(() => false);
      await sendSubscription(app, await subscribe(reg, key));
    }
  } catch (err) {
    if (isRemoved(err)) app.onRevoked(err.removed);
  }
}

/**
 * Whether reminders are on for this phone, as the Reminders screen says it: "on" (a subscription
 * and the permission), "off" (push can work here, but is not set up), or why it cannot work here
 * ("blocked", "unsupported", "ios-install"; see pushSupport). Never asks, never throws.
 */
export async function pushState() {
  const support = pushSupport();
  if (support !== "ready") return support;
  try {
    const reg = await registration();
    const subscription = await reg.pushManager.getSubscription();
    return subscription && Notification.permission === "granted" ? "on" : "off";
  } catch {
    return "unsupported";
  }
}

// The patient's "Not now" to Today's invitation on this phone (kv, so forgetting the patient after
// a removal forgets it too), read at start and after every join: {id, until}, until being when to
// ask again by the phone's clock (ms), null for never. The first "Not now" (a sore first evening)
// waits a week; the second, or reminders turned off on purpose, is for good. An older phone kept
// only the id: for good.
const INVITE_KEY = "reminder_invite_closed";
const INVITE_AGAIN_MS = 7 * 24 * 3600 * 1000;
let inviteClosed = null;

/** Read whether the invitation was turned down on this phone. */
export async function loadReminderInvite() {
  try {
    inviteClosed = (await core.get(INVITE_KEY)) ?? null;
  } catch {
    inviteClosed = null; // no storage: invited again next visit
  }
}

/** Note the patient's "Not now" (or reminders turned off); resolves once it is stored (or could not be). */
function closeInvite(app, forGood) {
  if (!app.patient) return Promise.resolve();
  const id = app.patient.id;
  const again = inviteClosed && inviteClosed.id === id; // asked once more after a week
  inviteClosed = { id, until: forGood || again ? null : Date.now() + INVITE_AGAIN_MS };
  return core.set(INVITE_KEY, inviteClosed).catch(() => {});
}

function inviteClosedFor(id) {
  const c = inviteClosed;
  return c === id || (!!c && c.id === id && (c.until === null || Date.now() < c.until));
}

/** The last control before `node` in the screen that can take focus, else the screen's heading. */
function focusBefore(node) {
  const main = node.closest("main") || document.body;
  const controls = [...main.querySelectorAll("a[href], button:not([disabled]), summary, input:not([disabled])")]
    .filter((el) => el.getClientRects().length && (el.compareDocumentPosition(node) & Node.DOCUMENT_POSITION_FOLLOWING));
  return controls.length ? controls[controls.length - 1] : main.querySelector("h1");
}

/**
 * Today's invitation to set reminders, or null: shown once app.checkPush has found reminders
 * "off" here (push can work, no subscription), unless the patient said "Not now" on this phone
 * (a week ago at most, or twice).
 * Today shows it only on today, while the program is not over.
 */
export function reminderInvite(app) {
  if (app.push !== "off" || !app.patient || inviteClosedFor(app.patient.id)) return null;
  const card = h("aside", { class: "card hint reminder-invite", "aria-labelledby": "invite-title" },
    h("h2", { id: "invite-title", text: t("invite_title") }),
    h("p", { text: t("reminders_text") }),
    h("div", { class: "actions" },
      h("a", { class: "btn small", href: "#/reminders", text: t("reminders_open"), "data-focus": "invite-open" }),
      h("button", {
        class: "btn quiet small", type: "button", text: t("invite_later"),
        on: {
          click: async () => {
            const screen = app.here(); // before the wait: see app.toast
            const stored = closeInvite(app);
            // Focus stays where the patient was: on what came before the card.
            const next = focusBefore(card);
            card.remove();
            if (next) next.focus({ preventScroll: true });
            // Said once it is kept: a reload right after must not bring the card back.
            await stored;
            app.toast(t("invite_closed"), { screen });
          },
        },
      })));
  return card;
}

/** Stop push on this phone (disconnecting): unsubscribe and tell the server. Never throws. */
export async function forgetPush(app) {
  try {
    await core.set("push_wanted", false);
    if (pushSupport() !== "ready") return;
    const reg = await withTimeout(navigator.serviceWorker.getRegistration("/"), 3000);
    const subscription = reg && (await reg.pushManager.getSubscription());
    if (!subscription) return;
    if (app.token) await withTimeout(deleteSubscription(app, subscription.endpoint), 5000).catch(() => null);
    await subscription.unsubscribe();
  } catch {
    // Nothing more to do: the server drops a subscription the push service no longer knows.
  }
}

// ---- the screen --------------------------------------------------------------------------------

/** Why no reminder comes these days, when the plan says so: there is none yet, it is over, or it
 *  has not begun. */
function planNote(app) {
  // No plan shown for another reason (offline, still loading): nothing known to say.
  if (!app.bundle) return app.planMissing ? t("reminders_no_plan") : "";
  const routine = app.routine(app.today());
  if (routine.day !== null) return "";
  if (routine.offset < 0) return t("reminders_not_started", { date: longDate(routine.treated_on, lang()) });
  return t("reminders_over");
}

/** "Evening, today at 7:00 PM": the first reminder that can come (the server's next_at: a time on a
 *  day the plan has something then), in the patient's zone; "" when none can. */
function nextText(data) {
  const next = data.rules.filter((r) => r.enabled && r.next_at)
    .sort((a, b) => (a.next_at < b.next_at ? -1 : 1))[0];
  if (!next) return "";
  const at = new Date(next.next_at);
  const day = todayIn(data.timezone, at);
  let time = next.local_time;
  try {
    time = new Intl.DateTimeFormat(lang(), { hour: "numeric", minute: "2-digit", timeZone: data.timezone }).format(at);
  } catch { /* a zone this browser does not know: the time as the patient typed it */ }
  const when = day === todayIn(data.timezone) ? t("next_today") : longDate(day, lang());
  return t("push_next", { slot: slotName(next.slot), when, time });
}

/** A busy or slow push service (429, 5xx, no answer in time) passes: turning reminders off and
 *  on again would not help, and trying later does. */
function passing(result) {
  return result.status === "failed"
    && (result.http_status === null || result.http_status === 429 || result.http_status >= 500);
}

/** What to tell the patient of a test reminder (POST /api/v1/patient/push/test's answer): what
 *  became of it on this phone, the one in their hand, then briefly the other phones it went to.
 *  This phone not among the results: the server dropped its subscription (gone), so it failed. */
function testOutcome(answer) {
  const results = answer.results || [];
  const mine = results.find((r) => r.this_device);
  const n = results.filter((r) => !r.this_device && r.status === "sent").length;
  if (mine && mine.status === "sent") return t(n ? "push_test_sent_others" : "push_test_sent", { n });
  const said = t(mine && passing(mine) ? "push_test_later" : "push_test_failed");
  return n ? `${said} ${t("push_test_elsewhere", { n })}` : said;
}

function checkOption({ label, checked }) {
  const id = newId("opt");
  return h("div", { class: "check-option" },
    h("input", { type: "checkbox", id, checked }),
    h("label", { htmlFor: id, text: label }));
}

function timeField({ label, value, errorId }) {
  const id = newId("time");
  const input = h("input", {
    type: "time", id, value, required: true, step: "60", class: "time-input", "data-error": errorId,
  });
  const field = h("div", { class: "time-field" },
    h("label", { htmlFor: id, class: "field-label", text: label }),
    input,
    h("p", { class: "error field-error", id: errorId }));
  return { field, input };
}

/** One slot's rule as form controls. */
function slotRule(rule) {
  const errorId = newId("err");
  const daysErrorId = newId("err");
  const enabled = checkOption({ label: t("remind_slot"), checked: rule.enabled });
  const time = timeField({ label: t("time_label"), value: rule.local_time, errorId });
  const days = WEEKDAYS.map((day) => {
    const id = newId("day");
    const input = h("input", { type: "checkbox", id, value: day, checked: rule.weekdays.includes(day) });
    return {
      day,
      input,
      node: h("span", { class: "weekday-option" },
        input,
        h("label", { htmlFor: id },
          h("span", { "aria-hidden": "true", text: t(DAY_NAMES[day][1]) }),
          h("span", { class: "sr-only", text: t(DAY_NAMES[day][0]) }))),
    };
  });
  const daysBox = h("fieldset", { class: "weekdays", "aria-describedby": daysErrorId },
    h("legend", { class: "field-label", text: t("days_label") }),
    h("div", { class: "weekday-options" }, days.map((d) => d.node)),
    h("p", { class: "error field-error", id: daysErrorId }));
  const node = h("fieldset", { class: "card reminder-slot", "data-slot": rule.slot },
    h("legend", { class: "slot-legend", text: slotName(rule.slot) }),
    enabled,
    time.field,
    daysBox);
  return {
    slot: rule.slot,
    node,
    timeInput: time.input,
    daysBox,
    read: () => ({
      slot: rule.slot,
      local_time: time.input.value,
      weekdays: days.filter((d) => d.input.checked).map((d) => d.day),
      enabled: enabled.querySelector("input").checked,
    }),
  };
}

function quietRule(quiet) {
  const errorId = newId("err");
  const on = checkOption({ label: t("quiet_on"), checked: Boolean(quiet) });
  const start = timeField({ label: t("quiet_from"), value: quiet ? quiet.start : "22:00", errorId: newId("err") });
  const end = timeField({ label: t("quiet_to"), value: quiet ? quiet.end : "07:00", errorId });
  const node = h("fieldset", { class: "card reminder-quiet" },
    h("legend", { class: "slot-legend", text: t("quiet_title") }),
    h("p", { class: "muted", text: t("quiet_text") }),
    on,
    h("div", { class: "time-row" }, start.field, end.field));
  return {
    node,
    start: start.input,
    end: end.input,
    read: () => (on.querySelector("input").checked ? { start: start.input.value, end: end.input.value } : null),
  };
}

/** Show an error next to an input (or a group of them, already described by it) and mark it invalid. */
function markInvalid(control, text) {
  const errorId = control.dataset.error || control.getAttribute("aria-describedby");
  const box = errorId && document.getElementById(errorId);
  if (box) box.textContent = text;
  if (control.matches("fieldset")) return;
  control.setAttribute("aria-invalid", "true");
  control.setAttribute("aria-describedby", errorId);
}

function clearInvalid(root) {
  for (const el of root.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  for (const el of root.querySelectorAll(".field-error")) el.textContent = "";
}

export function renderReminders(app) {
  const support = pushSupport();
  const view = { state: support === "ready" ? "checking" : support, busy: false, data: null, saved: "", rules: [] };

  // Built once and shown or hidden, so a button keeps keyboard focus while its work runs.
  const stateText = h("p", { class: "push-state", tabindex: "-1", text: t("loading") });
  const nextLine = h("p", { class: "push-next", hidden: true });
  const plan = planNote(app);
  const planText = h("p", { class: "card hint push-plan", hidden: !plan, text: plan });
  const iosText = h("p", { hidden: true, text: t("ios_hint_text") });
  const insteadText = h("p", { class: "calendar-instead", hidden: true, text: t("calendar_instead") });
  const onButtons = h("div", { class: "actions", hidden: true },
    h("button", { class: "btn", type: "button", text: t("push_test_button"), on: { click: () => sendTest() } }),
    h("button", { class: "btn quiet", type: "button", text: t("push_off_button"), on: { click: () => turnOff() } }));
  const pushMessage = h("p", { class: "notice", role: "status" });
  const statusBox = h("section", { class: "block push-status", "aria-labelledby": "push-title", "data-push-state": view.state },
    h("h2", { id: "push-title", text: t("push_title") }),
    stateText,
    nextLine,
    planText,
    iosText,
    insteadText,
    onButtons,
    pushMessage);

  const formMessage = h("p", { class: "notice", role: "status" });
  const formBody = h("div", { class: "reminder-form" }, h("p", { text: t("loading") }));
  const remindButton = h("button", {
    class: "btn big", type: "button", hidden: true, text: t("remind_button"), on: { click: () => turnOn() },
  });
  const saveButton = h("button", {
    class: "btn quiet", type: "submit", hidden: true, text: t("save_times"),
  });
  const remindHint = h("p", { class: "muted", hidden: true, text: t("remind_hint") });
  // Two buttons under the times while reminders are off here: say what the quieter one is for.
  const saveHint = h("p", { class: "muted", hidden: true, text: t("save_hint") });
  const form = h("form", {
    class: "times-form", novalidate: true,
    on: { submit: (event) => { event.preventDefault(); if (!view.busy) save(); } },
  }, formBody, remindHint, h("div", { class: "actions" }, remindButton, saveButton), saveHint, formMessage);
  const timesBox = h("section", { class: "block", "aria-labelledby": "times-title" },
    h("h2", { id: "times-title", text: t("times_title") }),
    form);

  const calendarMessage = h("p", { class: "notice", role: "status" });
  const calendarBox = h("section", { class: "block calendar", "aria-labelledby": "calendar-title" },
    h("h2", { id: "calendar-title", text: t("calendar_title") }),
    h("p", { text: t("calendar_text") }),
    h("button", { class: "btn quiet", type: "button", text: t("calendar_button"), on: { click: () => downloadCalendar() } }),
    calendarMessage);

  const screen = h("section", { class: "screen reminders" },
    h("h1", { text: t("reminders_title") }),
    h("p", { class: "lead", text: t("reminders_text") }),
    statusBox,
    timesBox,
    calendarBox);

  function read() {
    return { rules: view.rules.map((r) => r.read()), quiet_hours: view.quiet.read() };
  }

  function changed() {
    return Boolean(view.data) && JSON.stringify(read()) !== view.saved;
  }

  function failed(err, where, offlineKey) {
    if (isRemoved(err)) {
      app.onRevoked(err.removed);
      return;
    }
    where.textContent = isOffline(err) ? t(offlineKey) : t("something_failed");
  }

  // -- the push state and its buttons --

  function draw() {
    const state = view.state;
    statusBox.dataset.pushState = state;
    // Today's invitation to set reminders follows what this screen finds and does.
    if (state !== "checking") app.push = state;
    const texts = {
      checking: "loading",
      on: "push_state_on",
      off: "push_state_off",
      blocked: "push_state_blocked",
      unsupported: "push_state_unsupported",
      "ios-install": "push_state_ios",
    };
    // On, with every time of day turned off below (as saved): none will come, and it says so.
    const none = state === "on" && view.data && !view.data.rules.some((r) => r.enabled);
    stateText.textContent = t(none ? "push_state_on_none" : texts[state]);
    // When the next reminder comes to this phone, so one that does not come is no surprise.
    const next = state === "on" && !none && view.data ? nextText(view.data) : "";
    nextLine.textContent = next;
    nextLine.hidden = !next;
    const fallback = ["blocked", "unsupported", "ios-install"].includes(state);
    iosText.hidden = state !== "ios-install";
    insteadText.hidden = !fallback;
    onButtons.hidden = state !== "on";
    // Where push cannot work the calendar comes right after the explanation.
    const before = fallback ? statusBox : timesBox;
    if (before.nextElementSibling !== calendarBox) before.after(calendarBox);
    const loaded = Boolean(view.data);
    remindButton.hidden = !loaded || state !== "off";
    remindHint.hidden = remindButton.hidden || Notification.permission === "granted";
    saveButton.hidden = !loaded;
    saveHint.hidden = remindButton.hidden;
    // aria-disabled rather than disabled: a disabled button would drop keyboard focus.
    for (const button of [...onButtons.querySelectorAll("button"), remindButton, saveButton]) {
      if (view.busy) button.setAttribute("aria-disabled", "true");
      else button.removeAttribute("aria-disabled");
    }
  }

  async function checkState() {
    if (support !== "ready") return;
    view.state = await pushState();
    draw();
  }

  async function busyWith(work) {
    if (view.busy) return;
    view.busy = true;
    draw();
    try {
      await work();
    } finally {
      view.busy = false;
      draw();
    }
  }

  function announceState(text) {
    pushMessage.textContent = text;
    stateText.focus();
  }

  // The button that turns reminders on sits at the end of the times, far below the status box:
  // what becomes of the tap is said on the button while it works (a subscription can take many
  // seconds) and in the message right after it; only the new state moves focus up to the box.
  function turnOn() {
    return busyWith(async () => {
      pushMessage.textContent = "";
      formMessage.textContent = "";
      remindButton.textContent = t("remind_busy");
      try {
        await subscribeHere();
      } finally {
        remindButton.textContent = t("remind_button");
      }
    });
  }

  async function subscribeHere() {
    // Asked here, right after the tap, and nowhere else.
    let permission = Notification.permission;
    try {
      if (permission !== "granted") permission = await Notification.requestPermission();
    } catch {
      permission = Notification.permission;
    }
    if (permission === "denied") {
      view.state = "blocked";
      announceState(t("push_denied"));
      return;
    }
    if (permission !== "granted") {
      formMessage.textContent = t("push_dismissed");
      return;
    }
    if (changed() && !(await save())) return;
    try {
      const key = await publicKey();
      const reg = await registration();
      let subscription = await reg.pushManager.getSubscription();
      if (subscription && !sameKey(subscription, key)) {
        await subscription.unsubscribe().catch(() => false);
        subscription = null;
      }
      if (!subscription) subscription = await subscribe(reg, key);
      await core.set("push_wanted", true);
      await sendSubscription(app, subscription);
      view.state = "on";
      announceState(t("push_on_done"));
    } catch (err) {
      if (err instanceof ApiError) failed(err, formMessage, "push_offline");
      else formMessage.textContent = t("push_failed");
    }
  }

  function turnOff() {
    return busyWith(async () => {
      pushMessage.textContent = "";
      try {
        await core.set("push_wanted", false);
        const reg = await registration();
        const subscription = await reg.pushManager.getSubscription();
        if (subscription) {
          await deleteSubscription(app, subscription.endpoint);
          await subscription.unsubscribe();
        }
        view.state = "off";
        // Turned off on purpose: Today does not invite the patient to turn them on again.
        closeInvite(app, true);
        announceState(t("push_off_done"));
      } catch (err) {
        failed(err, pushMessage, "push_offline");
      }
    });
  }

  function sendTest() {
    return busyWith(async () => {
      // The server waits for the phone's push service to answer, which may take seconds.
      pushMessage.textContent = t("push_test_sending");
      const test = () => call(TEST_URL, { method: "POST", token: app.token });
      try {
        let result;
        try {
          result = await test();
        } catch (err) {
          // The server does not know this phone's subscription (yet): send it and try once more.
          if (!(err instanceof ApiError && err.status === 409)) throw err;
          const subscription = await (await registration()).pushManager.getSubscription();
          if (!subscription) throw err;
          await sendSubscription(app, subscription);
          result = await test();
        }
        pushMessage.textContent = testOutcome(result);
      } catch (err) {
        if (err instanceof ApiError && err.status === 429) pushMessage.textContent = t("push_test_wait");
        else if (err instanceof ApiError && err.status === 409) pushMessage.textContent = t("push_test_none");
        else failed(err, pushMessage, "push_offline");
      }
    });
  }

  // -- the times --

  function drawForm() {
    const data = view.data;
    view.rules = SLOTS.map((slot) => data.rules.find((r) => r.slot === slot)
      || { slot, local_time: "", weekdays: [...WEEKDAYS], enabled: false }).map(slotRule);
    view.quiet = quietRule(data.quiet_hours);
    fill(formBody,
      h("p", { class: "muted", text: t("times_zone", { zone: zoneName(data.timezone, lang(), placeName(data.timezone)) }) }),
      h("p", { class: "muted", text: t("reminders_when") }),
      view.rules.map((r) => r.node),
      view.quiet.node);
    view.saved = JSON.stringify(read());
    draw();
  }

  async function load() {
    try {
      view.data = await call(REMINDERS_URL, { token: app.token });
      drawForm();
    } catch (err) {
      if (isRemoved(err)) {
        app.onRevoked(err.removed);
        return;
      }
      fill(formBody,
        h("p", { class: "error", role: "alert", text: t("times_load_failed") }),
        h("button", { class: "btn", type: "button", text: t("try_again"), on: { click: () => load() } }));
    }
  }

  /** Show the server's 422 next to the fields it names; the first one gets focus. */
  function showErrors(errors, sent) {
    let first = null;
    for (const error of errors) {
      const field = error.field || "";
      const rule = /^rules\[(\d+)\]\.(\w+)/.exec(field);
      let control = null;
      let text;
      if (rule) {
        const slot = sent.rules[Number(rule[1])] && sent.rules[Number(rule[1])].slot;
        const shown = view.rules.find((r) => r.slot === slot);
        if (!shown) continue;
        if (rule[2] === "weekdays") {
          control = shown.daysBox;
          text = t("error_days");
        } else {
          control = shown.timeInput;
          text = sent.quiet_hours && /quiet/.test(error.message || "")
            ? t("error_time_quiet", { start: sent.quiet_hours.start, end: sent.quiet_hours.end })
            : t("error_time");
        }
      } else if (field.startsWith("quiet_hours")) {
        control = field.endsWith("start") ? view.quiet.start : view.quiet.end;
        text = /differ/.test(error.message || "") ? t("error_quiet_same") : t("error_time");
      }
      if (!control) continue;
      markInvalid(control, text);
      first = first || control;
    }
    if (first) {
      formMessage.textContent = t("times_check");
      (first.matches("fieldset") ? first.querySelector("input") : first).focus();
    } else {
      formMessage.textContent = t("something_failed");
    }
  }

  /** Save the times; true when the server took them. */
  async function save() {
    clearInvalid(form);
    formMessage.textContent = "";
    const body = read();
    // A cleared time is said at once, offline too, as the server would say it (its 400).
    const empty = body.rules.flatMap((r, i) => (r.local_time ? [] : [{ field: `rules[${i}].local_time` }]))
      .concat(["start", "end"].filter((k) => body.quiet_hours && !body.quiet_hours[k])
        .map((k) => ({ field: `quiet_hours.${k}` })));
    if (empty.length) {
      showErrors(empty, body);
      return false;
    }
    try {
      view.data = await call(REMINDERS_URL, { method: "PUT", token: app.token, body });
      view.saved = JSON.stringify(body);
      // Saved, and the form stays on screen: a new version waiting for it may load now (app.js).
      delete form.dataset.unsaved;
      formMessage.textContent = t("times_saved");
      draw();
      return true;
    } catch (err) {
      // A 400 (a time not in HH:MM, a cleared field) names its field as a 422 does.
      const errors = err instanceof ApiError && [400, 422].includes(err.status) && err.body && err.body.errors;
      if (errors && errors.length) showErrors(errors, body);
      else failed(err, formMessage, "times_offline");
      return false;
    }
  }

  async function downloadCalendar() {
    calendarMessage.textContent = "";
    if (changed() && !(await save())) return;
    try {
      const res = await fetch(CALENDAR_URL, {
        headers: { Authorization: `Bearer ${app.token}`, Accept: "text/calendar" }, credentials: "omit",
      });
      if (!res.ok) throw new ApiError(res.status, null, await core.isRemoval(res));
      const text = await res.text();
      // No event (no plan, the program complete, all times off): a file to add would add nothing.
      if (!text.includes("BEGIN:VEVENT")) {
        calendarMessage.textContent = t("calendar_empty");
        return;
      }
      const url = URL.createObjectURL(new Blob([text], { type: "text/calendar" }));
      const link = h("a", { href: url, download: "unknot-reminders.ics", hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      calendarMessage.textContent = t("calendar_done");
    } catch (err) {
      failed(err, calendarMessage, "calendar_offline");
    }
  }

  draw();
  load();
  checkState();
  return screen;
}

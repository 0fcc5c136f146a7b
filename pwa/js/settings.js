// The patient's own settings on the server (PATCH /api/v1/patient/me): their time zone and language.
//
// - Reminder times, quiet hours and the app's "today" follow the patient's time zone, which the
//   clinic set. When the phone's zone keeps other hours (the patient travelled), Today asks once per
//   pair of zones whether to use the phone's. Yes counts at once on this phone, offline too (a
//   traveller offline would otherwise see, and log, another place's day): the zone is kept as
//   "zone_wanted" and goes to the server with the next refresh of the patient, like the language.
// - Reminders are written in the patient's language on the server: a language picked in the app
//   is sent with the next refresh of the patient (at once when online, else when back online).

import "./core.js";
import { ApiError, call, isOffline, isRemoved } from "./api.js";
import { longDate, todayIn } from "./dates.js";
import { h } from "./dom.js";
import { LANGS, lang, placeName, t } from "./i18n.js";

const core = globalThis.unknotCore;
const ME_URL = "/api/v1/patient/me";
const ANSWERS_KEY = "zone_answers";
// The zone the patient chose on this phone that the server has not taken yet.
const ZONE_KEY = "zone_wanted";

// "patient zone|phone zone" pairs the patient answered (Yes or Not now): not asked again.
let answered = new Set();
let loaded = false;

/** The phone's IANA time zone, or null when the browser does not say. */
export function phoneZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || null;
  } catch {
    return null;
  }
}

/** Minutes ahead of UTC in `zone` at `date`. */
function offsetAt(zone, date) {
  const format = new Intl.DateTimeFormat("en-US", {
    timeZone: zone, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric",
  });
  const p = Object.fromEntries(format.formatToParts(date).map((x) => [x.type, x.value]));
  const local = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour) % 24, Number(p.minute));
  return Math.round((local - date.getTime()) / 60000);
}

/** Whether two zones keep the same hours now and over the coming year (Europe/Paris and
 *  Europe/Madrid do; asking would change nothing the patient sees). */
export function sameHours(a, b, now = new Date()) {
  if (a === b) return true;
  try {
    for (let month = 0; month <= 12; month += 1) {
      const at = new Date(now.getTime() + month * 30.5 * 24 * 3600 * 1000);
      if (offsetAt(a, at) !== offsetAt(b, at)) return false;
    }
    return true;
  } catch {
    return false; // a zone this browser does not know
  }
}

/** Read which pairs of zones were answered (once, at start). */
export async function loadZoneAnswers() {
  try {
    answered = new Set((await core.get(ANSWERS_KEY)) || []);
  } catch { /* no storage: asked again next visit */ }
  loaded = true;
}

async function remember(pair) {
  answered.add(pair);
  await core.set(ANSWERS_KEY, [...answered]).catch(() => {});
}

/** When the two zones are on different dates now, which day the app shows and which it is where the
 *  patient is (Friday evening in New York is already Saturday in Madrid): else null. */
function dayThere(mine, phone, place) {
  const shown = todayIn(mine);
  const here = todayIn(phone);
  if (shown === here) return null;
  return h("p", { class: "zone-days", text: t("zone_days", {
    ...place, shown: longDate(shown, lang()), here: longDate(here, lang()),
  }) });
}

/** The card on Today asking a traveller whether to use the phone's zone, or null. */
export function zonePrompt(app) {
  const phone = phoneZone();
  const mine = app.patient && app.patient.timezone;
  if (!loaded || !app.token || app.revoked || !phone || !mine || sameHours(mine, phone)) return null;
  const pair = `${mine}|${phone}`;
  if (answered.has(pair)) return null;
  const place = { phone: placeName(phone), patient: placeName(mine) };
  const status = h("p", { class: "zone-status", role: "status" });
  const leave = (card) => {
    card.remove();
    const heading = document.querySelector("#main h1");
    if (heading) heading.focus({ preventScroll: true });
  };
  const yes = h("button", { class: "btn small", type: "button", text: t("zone_yes", place), "data-focus": "zone-yes" });
  const notNow = h("button", { class: "btn quiet small", type: "button", text: t("zone_not_now"), "data-focus": "zone-no" });
  const card = h("aside", { class: "card hint zone-prompt", "aria-labelledby": "zone-title" },
    h("h2", { id: "zone-title", text: t("zone_title") }),
    h("p", { text: t("zone_text", place) }),
    dayThere(mine, phone, place),
    h("div", { class: "actions" }, yes, notNow),
    status);
  yes.addEventListener("click", async () => {
    yes.disabled = true;
    notNow.disabled = true;
    status.textContent = t("zone_saving");
    const failed = () => {
      status.textContent = t("zone_failed");
      yes.disabled = false;
      notNow.disabled = false;
    };
    try {
      // Kept first: a send that fails on the way leaves it to go with the next refresh.
      await core.set(ZONE_KEY, phone);
    } catch {
      failed();
      return;
    }
    try {
      const me = await call(ME_URL, { method: "PATCH", token: app.token, body: { timezone: phone } });
      await settled(phone);
      await remember(pair);
      app.toast(t("zone_done", { place: place.phone }));
      await app.patientChanged(me);
    } catch (err) {
      if (isRemoved(err)) {
        app.onRevoked(err.removed);
        return;
      }
      if (!isOffline(err)) {
        await settled(phone);
        failed();
        return;
      }
      // Offline (or the server out of reach): this phone's day follows the new zone now, and the
      // server learns it once back online (reminders change then).
      await remember(pair);
      app.toast(t("zone_done_offline", { place: place.phone }));
      await app.patientChanged(await withWantedZone(app.patient));
    }
  });
  notNow.addEventListener("click", async () => {
    await remember(pair);
    leave(card);
  });
  return card;
}

/** The zone `zone` was taken by the server, or refused for good: no longer waiting to go. */
async function settled(zone) {
  try {
    if ((await core.get(ZONE_KEY)) === zone) await core.del(ZONE_KEY);
  } catch { /* no storage: nothing was kept */ }
}

/** `me` (the patient as the server has them, maybe the worker's stored copy) with the zone chosen
 *  on this phone that the server has not taken yet: the app's today follows it, offline too. */
export async function withWantedZone(me) {
  let zone = null;
  try {
    zone = await core.get(ZONE_KEY);
  } catch { /* no storage */ }
  return me && zone ? { ...me, timezone: zone } : me;
}

let sending = Promise.resolve(null);

/**
 * Tell the server the language picked in this app when it has not confirmed it yet (reminders are
 * written in it), and the time zone chosen here while offline (zone_wanted). The patient as the
 * server has them after the change, or null when there was nothing to send or it could not be sent
 * (offline: the next refresh of the patient tries again, so a pick made offline goes once back
 * online). One at a time, in order. Never throws.
 */
export function sendSettings(app) {
  sending = sending.then(() => send(app), () => send(app));
  return sending;
}

async function send(app) {
  let chosen = null;
  let sent = null;
  let zone = null;
  try {
    [chosen, sent, zone] = await Promise.all([core.get("lang"), core.get("lang_sent"), core.get(ZONE_KEY)]);
  } catch {
    return null; // no storage: nothing was picked
  }
  const body = {};
  if (LANGS.includes(chosen) && chosen !== sent) body.locale = chosen;
  if (zone) body.timezone = zone;
  if (!app.token || !Object.keys(body).length) return null;
  try {
    const me = await call(ME_URL, { method: "PATCH", token: app.token, body });
    if (body.locale) await core.set("lang_sent", chosen).catch(() => {});
    if (zone) await settled(zone);
    return me;
  } catch (err) {
    // A zone the server does not know is refused for good: the clinic's zone stands.
    const refused = err instanceof ApiError && err.status === 422
      && ((err.body && err.body.errors) || []).some((e) => e.field === "timezone");
    if (zone && refused) await settled(zone);
    return null;
  }
}

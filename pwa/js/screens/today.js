// Today (or any day): the routine by time of day, each item with its dosage and done mark.

import { clockOff, isIos, isStandalone } from "../api.js";
import { addDays, longDate } from "../dates.js";
import { h } from "../dom.js";
import { lang, t } from "../i18n.js";
import { reminderInvite } from "../reminders.js";
import { SLOTS } from "../routine.js";
import { zonePrompt } from "../settings.js";
import { entryLine, slotName } from "../words.js";


function installHint(app) {
  if (!isIos() || isStandalone() || app.iosHintClosed) return null;
  const card = h("aside", { class: "card hint", "aria-labelledby": "ios-hint-title" },
    h("h2", { id: "ios-hint-title", text: t("ios_hint_title") }),
    h("p", { text: t("ios_hint_text") }),
    h("button", {
      class: "btn quiet small", type: "button", text: t("close"),
      on: { click: () => { app.iosHintClosed = true; card.remove(); } },
    }));
  return card;
}

/** A card when the phone's clock is off (see api.js clockOff): the app's days follow it, so what
 *  the patient ticks could count for another day (or be refused as in the future). */
function clockCard(app) {
  const off = clockOff();
  if (off === null) return null;
  const zone = app.patient && app.patient.timezone;
  const when = (ms) => {
    const opts = { weekday: "long", day: "numeric", month: "long", hour: "numeric", minute: "2-digit" };
    try {
      return new Intl.DateTimeFormat(lang(), { ...opts, timeZone: zone }).format(new Date(ms));
    } catch {
      return new Intl.DateTimeFormat(lang(), opts).format(new Date(ms));
    }
  };
  const now = Date.now();
  return h("aside", { class: "card hint clock-off", "aria-labelledby": "clock-title" },
    h("h2", { id: "clock-title", text: t("clock_title") }),
    h("p", { text: t("clock_text", { phone: when(now), real: when(now + off) }) }));
}

function aftercareCard(app) {
  const care = app.bundle.aftercare;
  // Closed by default so the routine stays in view; the summary says what it is about.
  return h("details", { class: "card aftercare", "data-keep": "aftercare" },
    h("summary", { text: t("aftercare_title", { hours: care.hours }) }),
    h("ul", { class: "plain-list" }, care.guidance.map((g) => h("li", { text: g }))),
    h("p", { text: care.soreness }),
    h("p", { text: care.temperature }));
}

function dayNav(app, date, today) {
  const prev = addDays(date, -1);
  const next = addDays(date, 1);
  // Next to today, "Back to today" is the way there: a second link to it ("‹ Today" beside
  // "Back to today") would only make the patient wonder which one to take.
  return h("nav", { class: "daynav", "aria-label": t("daynav_label") },
    prev !== today ? h("a", { class: "btn quiet", href: `#/day/${prev}`, text: `‹ ${t("previous_day")}` }) : null,
    date !== today ? h("a", { class: "btn quiet", href: "#/today", text: t("back_to_today") }) : null,
    next !== today ? h("a", { class: "btn quiet", href: `#/day/${next}`, text: `${t("next_day")} ›` }) : null);
}

// Taps being handled ("date|slot|exercise"); kept here because a redraw replaces the buttons.
const busy = new Set();
// When each mark last changed, and to what. A tap this soon after that would turn it straight back
// is a shaky or doubled tap (or a slow phone catching up), not a change of mind. A mark that is no
// longer as that change left it (the records were cleared for someone joining) takes a tap at once.
const settled = new Map();
const SECOND_TAP_MS = 700;

// What the patient is told after tapping a done mark (app.undo's answer).
const UNDO_SAID = {
  ok: "undone", taken_back: "taken_back", rejected: "undo_rejected", gone: "undone", failed: "not_stored",
  not_kept: "not_kept",
};

function entryItem(app, date, entry, today) {
  const exercise = app.bundle.exercises[entry.exercise_id];
  const title = exercise ? exercise.title : entry.exercise_id;
  const record = app.completionFor(date, entry.exercise_id, entry.slot);
  const done = Boolean(record);
  const future = date > today;
  // The time of day tells apart the same exercise done morning and evening, read out of context.
  const slot = slotName(entry.slot).toLocaleLowerCase(lang());
  const check = h("button", {
    class: ["check", done && "on"],
    type: "button",
    "aria-pressed": done ? "true" : "false",
    "aria-label": t(future ? "not_due_label" : !done ? "mark_done_label" : "mark_undone_label", { title, slot }),
    "data-focus": `check:${entry.slot}:${entry.exercise_id}`,
    disabled: future,
    on: {
      click: async () => {
        // One tap at a time per item: a double tap must not log twice (or log and take back).
        const key = `${date}|${entry.slot}|${entry.exercise_id}`;
        const last = settled.get(key);
        if (busy.has(key) || (last && last.done === done && performance.now() - last.at < SECOND_TAP_MS)) return;
        busy.add(key);
        // The screen tapped on: one left before the mark is stored is not told of it.
        const screen = app.here();
        try {
          if (!done) {
            if (await app.logCompletion({ exercise_id: entry.exercise_id, on_date: date, slot: entry.slot })) {
              app.toast(t("logged", { title }), { screen });
            }
          } else {
            app.toast(t(UNDO_SAID[await app.undo(record.id)] || "not_stored", { title }), { screen });
          }
        } finally {
          busy.delete(key);
          // performance.now: a clock set back (Date.now) cannot hold the mark for hours.
          settled.set(key, { at: performance.now(), done: Boolean(app.completionFor(date, entry.exercise_id, entry.slot)) });
        }
      },
    },
  }, h("span", { class: "check-mark", "aria-hidden": "true" }));
  return h("li", { class: ["entry", done && "done"], "data-exercise": entry.exercise_id, "data-slot": entry.slot },
    h("a", {
      class: "entry-main",
      href: `#/ex/${date}/${entry.slot}/${encodeURIComponent(entry.exercise_id)}`,
      "data-focus": `open:${entry.slot}:${entry.exercise_id}`,
    },
      h("span", { class: "entry-title", text: title }),
      h("span", { class: "entry-line", text: entryLine(entry) || t(`kind_${exercise ? exercise.kind : "aftercare"}`) }),
      done ? h("span", { class: "entry-done", text: t("done") }) : null),
    check);
}

/** The day and stage; inside the program the stage says what it is for, open on its first day (a
 *  new stage changes the doses: at "Keeping it up" they drop, on purpose, which the patient is told). */
function phaseInfo(app, routine, phaseLine) {
  const about = routine.day !== null && app.bundle.phase_about ? app.bundle.phase_about[routine.phase] : null;
  if (!about) return h("p", { class: "phase", text: phaseLine });
  const span = app.bundle.program.phases.find((p) => p.id === routine.phase);
  return h("details", { class: "phase-info", open: Boolean(span && span.from_day === routine.day) },
    h("summary", {}, h("span", { class: "phase", text: phaseLine }), h("span", { class: "phase-more", text: t("phase_more") })),
    h("p", { class: "phase-about", text: about }));
}

/** One day's routine; `due` (a slot, from a tapped reminder) marks that slot. */
export function renderDay(app, date, { due = null } = {}) {
  const today = app.today();
  const routine = app.routine(date);
  const isToday = date === today;
  const entries = routine.entries;
  const doneCount = entries.filter((e) => app.completionFor(date, e.exercise_id, e.slot)).length;

  let phaseLine;
  if (routine.day !== null) phaseLine = t("day_phase", { n: routine.day + 1, phase: routine.phase_name });
  else if (routine.offset < 0) phaseLine = t("not_started", { date: longDate(routine.treated_on, lang()) });
  else phaseLine = t("program_over");

  const hasCheckin = app.checkins(date).length > 0;
  const flags = routine.red_flags.length;

  return h("section", { class: "screen today" },
    h("p", { class: "eyebrow", text: isToday ? longDate(date, lang()) : t("planned_for") }),
    h("h1", { text: isToday ? t("today_title", { name: app.patient ? app.patient.display_name : "" }) : longDate(date, lang()) }),
    phaseInfo(app, routine, phaseLine),
    // A plan prepared for a booked visit: the one in force goes on until it starts.
    isToday && routine.in_force && app.bundle.since > today
      ? h("p", { class: "card next-plan", text: t("next_plan_starts", { date: longDate(app.bundle.since, lang()) }) })
      : null,
    dayNav(app, date, today),
    isToday ? clockCard(app) : null,
    isToday ? zonePrompt(app) : null,
    isToday ? installHint(app) : null,
    routine.aftercare ? aftercareCard(app) : null,
    isToday && entries.length ? h("p", { class: "summary", text: t("done_of", { done: doneCount, n: entries.length }) }) : null,
    // Asked daily while the program runs; once it is over the Check-in tab is still there.
    isToday && !hasCheckin && routine.day !== null
      ? h("a", { class: "card link-card checkin-prompt", href: "#/checkin" },
        h("span", { class: "link-title", text: t("checkin_prompt_title") }),
        h("span", { text: t("checkin_prompt_text") }))
      : null,
    entries.length === 0 && routine.day !== null ? h("p", { class: "card", text: t("rest_day") }) : null,
    SLOTS.map((slot) => {
      const items = entries.filter((e) => e.slot === slot);
      if (!items.length) return null;
      const id = `slot-${slot}`;
      return h("section", { class: ["slot", slot === due && "due"], "aria-labelledby": id },
        h("h2", { id, text: slotName(slot) }),
        h("ul", { class: "entries" }, items.map((e) => entryItem(app, date, e, today))));
    }),
    // "Signs to watch for today": on today only, while the program runs (once it is over, and on
    // other days, the header's Warning signs link is there without a card counting them).
    flags && isToday && routine.day !== null
      ? h("a", { class: "card link-card warn-card", href: "#/help" },
        h("span", { class: "link-title", text: t("warning_card_title") }),
        h("span", { text: t("warning_card_text", { n: flags }) }))
      : null,
    // After the routine, where it moves nothing the patient came for: reminders, while they are
    // off on this phone and the program is not over (reminders.js reminderInvite).
    isToday && (routine.day !== null || routine.offset < 0) ? reminderInvite(app) : null);
}

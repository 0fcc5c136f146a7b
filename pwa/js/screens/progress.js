// Plan and progress: the streak, the last seven days, and the whole program by phase and day.

import { addDays, dayNumber, fromDayNumber, shortDate, weekday } from "../dates.js";
import { h } from "../dom.js";
import { lang, t } from "../i18n.js";
import { dosageText, slotName } from "../words.js";

function dayDone(app, date) {
  const routine = app.routine(date);
  const done = routine.entries.filter((e) => app.completionFor(date, e.exercise_id, e.slot)).length;
  return { done, total: routine.entries.length, inForce: routine.in_force };
}

/** Days in a row, ending today (or yesterday while today is still open), with everything due done,
 *  each day by the plan version in force then (as the therapist's side counts it): a day with
 *  nothing due neither counts nor breaks the run; a day no known version covers ends it. */
export function streak(app, today) {
  let n = 0;
  for (let day = today; ; day = addDays(day, -1)) {
    const { done, total, inForce } = dayDone(app, day);
    if (done < total && day === today) continue; // today is still open
    if (!inForce || done < total) return n;
    if (total > 0) n += 1;
  }
}

function weekView(app, today) {
  // The last seven days, each by the plan version in force then (after a follow-up treatment, the
  // days before it by the plan it replaced).
  // Days before the first treatment, with nothing planned or checked in, are left out: on day 1 the
  // patient sees two days, not five rows of "nothing planned" above them.
  let first = addDays(today, -6);
  const treatedOn = app.bundle.program.treated_on;
  while (first < today && first < treatedOn && dayDone(app, first).total === 0 && !app.checkins(first).length) {
    first = addDays(first, 1);
  }
  const count = dayNumber(today) - dayNumber(first) + 1;
  return h("ol", { class: "week" }, Array.from({ length: count }, (_, i) => {
    const date = addDays(first, i);
    const { done, total } = dayDone(app, date);
    const checked = app.checkins(date).length > 0;
    const full = total > 0 && done >= total;
    return h("li", { class: ["week-day", full && "full", date === today && "is-today"] },
      h("a", { href: `#/day/${date}`, "aria-current": date === today ? "date" : null },
        h("span", { class: "week-name", text: `${weekday(date, lang())} ${shortDate(date, lang())}` }),
        h("span", { class: "week-count", text: total ? t("done_of", { done, n: total }) : t("nothing_planned") }),
        h("progress", { max: total || 1, value: String(done), "aria-hidden": "true" }),
        checked ? h("span", { class: "week-check", text: t("checked_in") }) : null));
  }));
}

function phaseBlock(app, phase, today) {
  const bundle = app.bundle;
  const program = bundle.program;
  const start = dayNumber(program.treated_on);
  const from = fromDayNumber(start + phase.from_day);
  const to = fromDayNumber(start + phase.to_day);
  const current = from <= today && today <= to;
  const items = program.items.filter((i) => i.phase === phase.id);
  const byExercise = new Map();
  for (const item of items) {
    if (!byExercise.has(item.exercise_id)) byExercise.set(item.exercise_id, []);
    byExercise.get(item.exercise_id).push(item);
  }
  const doneDays = new Set(app.completions().map((r) => r.body.on_date));
  const days = [];
  for (let d = phase.from_day; d <= phase.to_day; d += 1) days.push(d);
  return h("details", { class: ["phase-block", current && "current"], open: current, "data-keep": `phase:${phase.id}` },
    h("summary", {},
      h("span", { class: "phase-name", text: bundle.phase_names[phase.id] || phase.id }),
      h("span", { class: "phase-dates", text: t("phase_days", {
        a: phase.from_day + 1, b: phase.to_day + 1, from: shortDate(from, lang()), to: shortDate(to, lang()),
      }) }),
      current ? h("span", { class: "badge", text: t("you_are_here") }) : null),
    // What the stage is for and why its dose is what it is (a bundle saved before it had this has none).
    bundle.phase_about?.[phase.id] ? h("p", { class: "phase-about", text: bundle.phase_about[phase.id] }) : null,
    h("ul", { class: "phase-items" }, [...byExercise.entries()].map(([id, blocks]) => {
      const exercise = bundle.exercises[id];
      return h("li", {},
        h("span", { class: "entry-title", text: exercise ? exercise.title : id }),
        blocks.map((b) => h("span", { class: "entry-line", text: [
          blocks.length > 1 ? t("phase_days_short", { a: b.from_day + 1, b: b.to_day + 1 }) : null,
          dosageText(b.dosage),
          b.slots.map(slotName).join(", "),
          b.dosage.days_per_week < 7 ? t("days_per_week", { n: b.dosage.days_per_week }) : null,
        ].filter(Boolean).join(" · ") })));
    })),
    h("ol", { class: "day-chips", "aria-label": t("phase_days_label") }, days.map((d) => {
      const date = fromDayNumber(start + d);
      // Whether a day is done is said in its name and shown by a mark, not by colour alone.
      // The routine is worked out only for days with something logged.
      let state = null;
      if (doneDays.has(date)) {
        const { done, total } = dayDone(app, date);
        state = total > 0 && done >= total ? "done" : "partly";
      }
      const label = { n: d + 1, date: shortDate(date, lang()) };
      return h("li", {}, h("a", {
        href: `#/day/${date}`,
        class: ["chip", state, date === today && "is-today"],
        "aria-current": date === today ? "date" : null,
        "aria-label": t(state ? `day_chip_${state}` : "day_chip_label", label),
      }, String(d + 1), state === "done" ? h("span", { class: "chip-mark", "aria-hidden": "true", text: "✓" }) : null));
    })),
    days.some((d) => doneDays.has(fromDayNumber(start + d)))
      ? h("p", { class: "muted chips-key", "aria-hidden": "true", text: t("day_chips_key") }) : null);
}

/** The headline: the run of fully done days; without one, what was done in the last seven days
 *  (a big "0 days in a row" told a patient who did part of every day that it counted for nothing);
 *  with nothing done yet, where progress will show. */
function headline(app, today) {
  const n = streak(app, today);
  if (n > 0) return [String(n), t("streak_days", { n })];
  let done = 0;
  for (let i = 0; i < 7; i += 1) done += dayDone(app, addDays(today, -i)).done;
  return done > 0 ? [String(done), t("done_last_week", { n: done })] : [null, t("progress_none_yet")];
}

export function renderProgress(app) {
  const today = app.today();
  const [number, words] = headline(app, today);
  return h("section", { class: "screen progress" },
    h("h1", { text: t("progress_title") }),
    h("p", { class: "streak" },
      number ? h("span", { class: "streak-number", text: number }) : null,
      h("span", { class: "streak-text", text: words })),
    h("section", { class: "block", "aria-labelledby": "week-title" },
      h("h2", { id: "week-title", text: t("week_title") }),
      weekView(app, today)),
    h("section", { class: "block", "aria-labelledby": "program-title" },
      h("h2", { id: "program-title", text: t("program_title") }),
      h("p", { class: "muted", text: t("program_treated", {
        muscles: app.bundle.program.treated.map((m) => {
          const name = app.bundle.muscles[m.muscle] || m.muscle;
          const side = t(`side_short_${m.side}`);
          return m.side === "both" ? name : `${name} (${side})`;
        }).join(", "),
      }) }),
      app.bundle.program.phases.map((p) => phaseBlock(app, p, today))));
}

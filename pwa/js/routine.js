// One day's routine from the stored plan: the same rules as server/programs/engine.py
// routine_for, so the phone shows any day with no network. A browser test compares the two
// for every day of a plan; change both together.

import { dayNumber } from "./dates.js";

export const SLOTS = ["morning", "midday", "evening"];

function isActive(item, day) {
  if (!(item.from_day <= day && day <= item.to_day)) return false;
  // Items done fewer than 7 days a week rest on the last days of each week of the item.
  return (day - item.from_day) % 7 < item.dosage.days_per_week;
}

/** Whether day `day` after needling (0: the day itself) may still be within `hours` of it: only
 *  the treatment's date is known, so the hours count from the end of that day. */
function withinHours(day, hours) {
  return day >= 0 && (day - 1) * 24 < hours;
}

/** One day of one version's program (texts from the bundle). */
function dayOf(bundle, program, onDate) {
  const day = dayNumber(onDate) - dayNumber(program.treated_on);
  const span = program.phases.find((p) => p.from_day <= day && day <= p.to_day);
  const phase = span ? span.id : null;
  const entries = [];
  if (phase !== null) {
    program.items.forEach((item, index) => {
      if (!isActive(item, day)) return;
      for (const slot of item.slots) {
        entries.push({ item: index, exercise_id: item.exercise_id, slot, dosage: item.dosage, side: item.side ?? null });
      }
    });
  }
  // Array sort is stable: items keep their plan order within a slot.
  entries.sort((a, b) => SLOTS.indexOf(a.slot) - SLOTS.indexOf(b.slot));
  const hours = bundle.aftercare.hours;
  const precautions = program.precautions || [];
  // A sign for any time shows on every day; one tied to a precaution only within its hours.
  const redFlags = bundle.red_flags
    .filter((f) => f.precaution == null || (precautions.includes(f.precaution) && withinHours(day, f.hours || hours)))
    .map((f) => f.id);
  return {
    on_date: onDate,
    treated_on: program.treated_on,
    day: phase !== null ? day : null,
    // Days since needling, even outside the program (negative before it).
    offset: day,
    phase,
    phase_name: phase !== null ? bundle.phase_names[phase] ?? null : null,
    aftercare: withinHours(day, hours),
    entries,
    red_flags: redFlags,
  };
}

/** The bundle's plan versions, oldest first, each with the first and last date it was in force
 *  (until null: it still is). A bundle from before versions were sent has only its own. */
function versions(bundle) {
  const current = { program: bundle.program, since: bundle.since || bundle.program.treated_on, until: null };
  return [...(bundle.earlier || []), current];
}

/**
 * Everything due on onDate ("YYYY-MM-DD") for a plan bundle (GET /api/v1/patient/plan), by the
 * version in force that day. isDone(exerciseId, slot) says what was logged that day: on a day two
 * versions were in force (the day of an edit or of a follow-up treatment) the one shown is the one
 * the patient did best at, as the therapist's side judges the day, but one asking something comes
 * before one asking nothing; with nothing logged, the newer. The same rule as
 * server/programs/adherence.py version_on. A day no version covers (before the first plan, or
 * older than the versions the bundle carries) is shown by the current plan; in_force is false then.
 * A date outside the program gives no entries; day is null there, as on the server.
 */
export function routineFor(bundle, onDate, isDone = () => false) {
  let best = null;
  let bestKey = null;
  versions(bundle).forEach((v, i) => {
    if (onDate < v.since || (v.until !== null && onDate > v.until)) return;
    const routine = dayOf(bundle, v.program, onDate);
    // Each (exercise, time of day) counts once, as on the server.
    const due = new Set(routine.entries.map((e) => `${e.exercise_id}\n${e.slot}`));
    const done = [...due].filter((k) => isDone(...k.split("\n"))).length;
    const key = [due.size > 0 ? 1 : 0, due.size ? Math.min(1, done / due.size) : 1, done, i];
    const j = bestKey ? key.findIndex((x, n) => x !== bestKey[n]) : 0;
    if (!bestKey || (j >= 0 && key[j] > bestKey[j])) {
      best = routine;
      bestKey = key;
    }
  });
  return best ? { ...best, in_force: true } : { ...dayOf(bundle, bundle.program, onDate), in_force: false };
}

/** Number of days the program runs, day 0 included. */
export function programDays(program) {
  return Math.max(-1, ...program.phases.map((p) => p.to_day)) + 1;
}

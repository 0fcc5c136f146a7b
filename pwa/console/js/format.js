// Words and numbers for the console (English; the printed handout has its own, in the patient's language).

export const SLOTS = ["morning", "midday", "evening"];
export const SLOT_NAMES = { morning: "Morning", midday: "Midday", evening: "Evening" };
export const SIDE_NAMES = { left: "left", right: "right", both: "both sides" };
export const REGION_NAMES = {
  neck: "Neck",
  jaw: "Jaw and head",
  shoulder: "Shoulder and upper arm",
  "upper-back": "Upper back",
  chest: "Chest",
  "lower-back": "Lower back",
  hip: "Hip and buttock",
  thigh: "Thigh",
  "calf-foot": "Lower leg and foot",
  forearm: "Forearm",
};
export const KIND_NAMES = {
  aftercare: "Aftercare",
  mobility: "Mobility",
  stretch: "Stretch",
  posture: "Posture",
  stress: "Stress",
  strength: "Strength",
  "self-massage": "Self-massage",
};
export const PHASE_NAMES = {
  aftercare: "Recovery",
  mobility: "Gentle stretching",
  progression: "Building up",
  maintenance: "Keeping it up",
};
// "Urgent:" reads on into the sign itself ("Urgent: Chest pain at any time…"): the words, not
// only the colour, set an emergency-level sign apart from the other red flags.
export const ATTENTION = { urgent: "Urgent:", pain: "High pain", "red-flag": "Red flag", "not-joined": "No phone connected", inactive: "Inactive" };
export const PRECAUTIONS = {
  "chest-wall": "Chest wall: watch for breathing problems (pneumothorax) for 48 hours",
  nerve: "Near a nerve: watch for lasting numbness or weakness",
  vessel: "Near large vessels: watch for bleeding or swelling",
};

/** Today's date in this browser as YYYY-MM-DD. */
export function todayIso(now = new Date()) {
  const p = (n) => String(n).padStart(2, "0");
  return `${now.getFullYear()}-${p(now.getMonth() + 1)}-${p(now.getDate())}`;
}

/** A YYYY-MM-DD date as a local-midnight Date. */
export function parseDate(iso) {
  const [y, m, d] = iso.split("-").map(Number);
  return new Date(y, m - 1, d);
}

/**
 * The date of a UTC instant ("2026-11-26T07:35:00Z") in this browser's time zone, as YYYY-MM-DD.
 * Never the instant's first ten characters: that is the UTC date, a day off in the evening west of
 * Greenwich (or in the morning east of it).
 */
export function localDate(isoInstant) {
  return todayIso(new Date(isoInstant));
}

export function addDays(iso, days) {
  const d = parseDate(iso);
  d.setDate(d.getDate() + days);
  return todayIso(d);
}

export function daysBetween(a, b) {
  return Math.round((parseDate(b) - parseDate(a)) / 86400000);
}

export function shortDate(iso, lang = "en") {
  return new Intl.DateTimeFormat(lang, { day: "numeric", month: "short" }).format(parseDate(iso));
}

export function longDate(iso, lang = "en") {
  return new Intl.DateTimeFormat(lang, { day: "numeric", month: "long", year: "numeric" }).format(parseDate(iso));
}

/** An instant as a date and time, in the browser's zone or in `timeZone` (a patient's own). */
export function dateTime(isoInstant, timeZone = undefined) {
  return new Intl.DateTimeFormat("en", { dateStyle: "medium", timeStyle: "short", timeZone }).format(new Date(isoInstant));
}

/** "just now", "3 h ago", "2 days ago" for a UTC instant. */
export function ago(isoInstant, now = Date.now()) {
  if (!isoInstant) return "never";
  const minutes = Math.round((now - new Date(isoInstant).getTime()) / 60000);
  if (minutes < 2) return "just now";
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  const days = Math.round(hours / 24);
  return days === 1 ? "yesterday" : `${days} days ago`;
}

export function percent(rate) {
  return `${Math.round(rate * 100)}%`;
}

/** A dosage in words, as server/programs/text.py writes it. */
export function dosageText(d) {
  const parts = [];
  if (d.minutes) parts.push(`${d.minutes} min`);
  if (d.hold_seconds) parts.push(`hold ${d.hold_seconds} s`);
  if (d.reps > 1) parts.push(`${d.reps} repetitions`);
  if (d.sets > 1) parts.push(`${d.sets} sets`);
  parts.push(d.times_per_day > 1 ? `${d.times_per_day} times a day` : "once a day");
  if (d.days_per_week < 7) parts.push(`${d.days_per_week} days a week`);
  return parts.join(", ");
}

/** Plan days as the patient's app and the printed plan count them: the day of needling (the plan's day 0) is day 1. */
export function daysText(from, to) {
  return from === to ? `Day ${from + 1}` : `Days ${from + 1}–${to + 1}`;
}

export function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

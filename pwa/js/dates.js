// Calendar dates as "YYYY-MM-DD" text: no time of day, no time zone surprises.

const DAY_MS = 86400000;

/** Days since 1970-01-01 for an ISO date. */
export function dayNumber(iso) {
  const [y, m, d] = iso.split("-").map(Number);
  return Math.round(Date.UTC(y, m - 1, d) / DAY_MS);
}

/** The ISO date for a day number. */
export function fromDayNumber(n) {
  return new Date(n * DAY_MS).toISOString().slice(0, 10);
}

/** Whether text is a calendar date as "YYYY-MM-DD" ("2026-02-30" is not: it would count as 2 March). */
export function isDate(text) {
  return typeof text === "string" && /^\d{4}-\d{2}-\d{2}$/.test(text) && fromDayNumber(dayNumber(text)) === text;
}

export function addDays(iso, n) {
  return fromDayNumber(dayNumber(iso) + n);
}

/** Today's date in an IANA time zone (the device's own when the zone is unknown). */
export function todayIn(timeZone, now = new Date()) {
  let parts;
  try {
    parts = new Intl.DateTimeFormat("en-US", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" })
      .formatToParts(now);
  } catch {
    parts = new Intl.DateTimeFormat("en-US", { year: "numeric", month: "2-digit", day: "2-digit" }).formatToParts(now);
  }
  const part = (type) => parts.find((p) => p.type === type).value;
  return `${part("year")}-${part("month")}-${part("day")}`;
}

/** A date in words, e.g. "Wednesday 25 November". */
export function longDate(iso, lang, withYear = false) {
  const opts = { weekday: "long", day: "numeric", month: "long", timeZone: "UTC" };
  if (withYear) opts.year = "numeric";
  return new Intl.DateTimeFormat(lang, opts).format(new Date(dayNumber(iso) * DAY_MS));
}

/** A short date, e.g. "25 Nov". */
export function shortDate(iso, lang) {
  return new Intl.DateTimeFormat(lang, { day: "numeric", month: "short", timeZone: "UTC" })
    .format(new Date(dayNumber(iso) * DAY_MS));
}

/** A weekday, e.g. "Wed". */
export function weekday(iso, lang) {
  return new Intl.DateTimeFormat(lang, { weekday: "short", timeZone: "UTC" }).format(new Date(dayNumber(iso) * DAY_MS));
}

/** A time zone in words, e.g. "Central European Time (Madrid)"; its id where the browser has no name.
 *  `city`: the place in the language's words (i18n placeName), said for a zone named after one
 *  ("Europe/Madrid", not "UTC"). */
export function zoneName(zone, lang, city, now = new Date()) {
  try {
    const part = new Intl.DateTimeFormat(lang, { timeZone: zone, timeZoneName: "longGeneric" })
      .formatToParts(now).find((p) => p.type === "timeZoneName");
    if (part) return zone.includes("/") ? `${part.value} (${city})` : part.value;
  } catch { /* an old browser without generic names, or a zone it does not know */ }
  return zone;
}

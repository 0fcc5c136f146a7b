// Small inline charts: the adherence calendar (a table) and soreness and pain over time (SVG),
// each readable without colour and with a text version for screen readers.

import { h, newId, s } from "./dom.js";
import { addDays, daysBetween, parseDate, shortDate } from "./format.js";

const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const STATES = {
  done: ["✓", "all done"],
  partial: ["◐", "partly done"],
  missed: ["✕", "missed"],
  open: ["…", "today, not done yet"],
  rest: ["·", "nothing due"],
  none: ["", "no plan"],
  future: ["", "to come"],
};

function stateOf(day, today) {
  if (!day) return "none";
  if (day.expected === 0) return "rest";
  if (day.done >= day.expected) return "done";
  if (day.done > 0) return "partial";
  return day.on_date === today ? "open" : "missed";
}

/**
 * The adherence calendar: Monday-first weeks ending with today's week.
 * @param {{today: string, days: {on_date: string, expected: number, done: number}[]}} adherence
 * @param {number} weeks
 */
export function calendar(adherence, weeks = 5) {
  const byDate = new Map(adherence.days.map((d) => [d.on_date, d]));
  const today = adherence.today;
  const weekday = (parseDate(today).getDay() + 6) % 7;
  const start = addDays(today, -weekday - 7 * (weeks - 1));
  const rows = [];
  for (let w = 0; w < weeks; w += 1) {
    const cells = [];
    for (let d = 0; d < 7; d += 1) {
      const date = addDays(start, w * 7 + d);
      const day = byDate.get(date);
      const state = date > today ? "future" : stateOf(day, today);
      const [mark, words] = STATES[state];
      const count = day && day.expected ? `, ${day.done} of ${day.expected}` : "";
      cells.push(
        h(
          "td",
          { class: ["day", `s-${state}`, date === today ? "today" : ""], "data-date": date },
          h("span", { class: "dnum", "aria-hidden": "true" }, String(parseDate(date).getDate())),
          h("span", { class: "mark", "aria-hidden": "true" }, mark),
          h("span", { class: "sr-only" }, `${shortDate(date)}: ${words}${count}`),
        ),
      );
    }
    rows.push(h("tr", {}, cells));
  }
  const legend = h(
    "ul",
    { class: "legend", "aria-label": "Legend" },
    ["done", "partial", "missed", "rest", "none"].map((k) =>
      h("li", {}, h("span", { class: ["swatch", `s-${k}`], "aria-hidden": "true" }, STATES[k][0]), STATES[k][1]),
    ),
  );
  return h(
    "div",
    { class: "calendar-wrap" },
    h(
      "table",
      { class: "calendar" },
      h("caption", { class: "sr-only" }, `Adherence per day, ${weeks} weeks up to today`),
      h("thead", {}, h("tr", {}, WEEKDAYS.map((d) => h("th", { scope: "col" }, d)))),
      h("tbody", {}, rows),
    ),
    legend,
  );
}

/**
 * Soreness (check-ins) and pain (logged with exercises), 0-10, over the days shown; red-flag days marked.
 * @param {{today: string, soreness: {on_date, value}[], pain: {on_date, value}[], red_flag_days: string[]}} adherence
 * @param {number} days
 */
export function trendChart(adherence, days = 28) {
  const W = 640;
  const H = 220;
  const m = { l: 34, r: 12, t: 14, b: 30 };
  const first = addDays(adherence.today, -(days - 1));
  const x = (date) => m.l + (daysBetween(first, date) / Math.max(days - 1, 1)) * (W - m.l - m.r);
  const y = (v) => m.t + (1 - v / 10) * (H - m.t - m.b);
  const inRange = (p) => p.on_date >= first && p.on_date <= adherence.today;
  const soreness = adherence.soreness.filter(inRange);
  const pain = adherence.pain.filter(inRange);
  const flags = adherence.red_flag_days.filter((d) => d >= first);
  const titleId = newId("t");
  const descId = newId("d");

  const describe = (name, pts) => {
    if (!pts.length) return `No ${name} logged.`;
    const last = pts[pts.length - 1];
    const max = Math.max(...pts.map((p) => p.value));
    return `${name[0].toUpperCase()}${name.slice(1)}: ${pts.length} days logged, highest ${max}, latest ${last.value} on ${shortDate(last.on_date)}.`;
  };
  const grid = [0, 5, 10].map((v) => [
    s("line", { class: "grid", x1: m.l, x2: W - m.r, y1: y(v), y2: y(v) }),
    s("text", { class: "axis", x: m.l - 6, y: y(v) + 4, "text-anchor": "end" }, String(v)),
  ]);
  const ticks = [first, addDays(first, Math.floor((days - 1) / 2)), adherence.today].map((d, i) =>
    s("text", { class: "axis", x: x(d), y: H - 8, "text-anchor": ["start", "middle", "end"][i] }, shortDate(d)),
  );
  const line = (pts, cls) =>
    pts.length > 1 ? s("polyline", { class: `series ${cls}`, points: pts.map((p) => `${x(p.on_date)},${y(p.value)}`).join(" ") }) : null;
  const flagged = flags.length ? ` Red flags reported on ${flags.map((d) => shortDate(d)).join(", ")}.` : "";
  const svg = s(
    "svg",
    { class: "trend", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": `${titleId} ${descId}` },
    s("title", { id: titleId }, `Soreness and pain, last ${days} days`),
    s("desc", { id: descId }, `${describe("soreness", soreness)} ${describe("pain", pain)}${flagged}`),
    grid,
    ticks,
    flags.map((d) => [
      s("line", { class: "flag-line", x1: x(d), x2: x(d), y1: m.t, y2: H - m.b }),
      s("path", { class: "flag", d: `M${x(d) - 6},${m.t - 2} h12 l-6,10 z` }),
    ]),
    line(soreness, "soreness"),
    line(pain, "pain"),
    soreness.map((p) => s("circle", { class: "dot soreness", cx: x(p.on_date), cy: y(p.value), r: 4.5 })),
    pain.map((p) => s("rect", { class: "dot pain", x: x(p.on_date) - 4, y: y(p.value) - 4, width: 8, height: 8 })),
  );
  const legend = h(
    "ul",
    { class: "legend", "aria-hidden": "true" },
    h("li", {}, h("span", { class: "key key-soreness" }), "Soreness (daily check-in)"),
    h("li", {}, h("span", { class: "key key-pain" }), "Pain during exercises (average)"),
    h("li", {}, h("span", { class: "key key-flag" }), "Red flag reported"),
  );
  const dates = [...new Set([...soreness, ...pain].map((p) => p.on_date).concat(flags))].sort();
  const sore = new Map(soreness.map((p) => [p.on_date, p.value]));
  const pains = new Map(pain.map((p) => [p.on_date, p.value]));
  const table = dates.length
    ? h(
        "details",
        { class: "as-table" },
        h("summary", {}, "Show as a table"),
        h(
          "table",
          {},
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Date"), h("th", { scope: "col" }, "Soreness"), h("th", { scope: "col" }, "Pain"), h("th", { scope: "col" }, "Red flag"))),
          h(
            "tbody",
            {},
            dates.map((d) =>
              h("tr", {}, h("th", { scope: "row" }, shortDate(d)), h("td", {}, sore.has(d) ? String(sore.get(d)) : "—"), h("td", {}, pains.has(d) ? String(pains.get(d)) : "—"), h("td", {}, flags.includes(d) ? "yes" : "")),
            ),
          ),
        ),
      )
    : h("p", { class: "muted" }, "Nothing logged in this period yet.");
  return h("div", { class: "chart-wrap" }, svg, legend, table);
}

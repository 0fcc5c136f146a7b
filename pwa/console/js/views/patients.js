// The patient list: search, adherence this week, latest soreness, last activity, attention;
// and the new-patient form that leads straight to recording the treatment.

import { api } from "../api.js";
import { field, fill, fold, h } from "../dom.js";
import { ago, ATTENTION, dateTime, localDate, longDate, percent, plural, shortDate } from "../format.js";
import { busy, confirmDialog, explain, LEAVING, markControl, markFields } from "../ui.js";

const TZ_KEY = "unknot.console.timezone";
const SORT_KEY = "unknot.console.patient-sort";
// The columns the list sorts by: the header, the way a first click sorts (what a review looks for
// first: the lowest adherence, the highest soreness, the longest silence) and each way in words.
const SORTS = {
  name: { label: "Patient", first: "ascending", ascending: "A to Z", descending: "Z to A" },
  week: { label: "This week", first: "ascending", ascending: "lowest first", descending: "highest first" },
  soreness: { label: "Latest soreness", first: "descending", ascending: "lowest first", descending: "highest first" },
  activity: { label: "Last activity", first: "ascending", ascending: "longest ago first", descending: "most recent first" },
};
const BY_NAME = { key: "name", dir: "ascending" };

function zones() {
  const here = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  let all = [];
  try {
    all = Intl.supportedValuesOf("timeZone");
  } catch {
    all = [here, "UTC"];
  }
  if (!all.includes(here)) all = [here, ...all];
  let chosen = here;
  try {
    chosen = localStorage.getItem(TZ_KEY) || here;
  } catch {
    // storage blocked: the browser's zone it is
  }
  return { all, chosen: all.includes(chosen) ? chosen : here };
}

/** The time-zone picker of the patient forms; `selected` is kept even where the browser does not
 *  list it (an older name of a zone, say). */
export function zoneSelect(id, selected = null) {
  const { all, chosen } = zones();
  const pick = selected || chosen;
  const list = all.includes(pick) ? all : [pick, ...all];
  return h("select", { name: "timezone", id }, list.map((z) => h("option", { value: z, selected: z === pick }, z)));
}

/** The language picker of the patient forms (the languages the patient app and the handout have). */
export function languageSelect(id, selected = "en") {
  return h(
    "select",
    { name: "locale", id },
    h("option", { value: "en", selected: selected === "en" }, "English"),
    h("option", { value: "es", selected: selected === "es" }, "Español"),
  );
}

/** When a red flag was reported, in the patient's time zone (the console's own may be another). */
function reportedAt(instant, timeZone) {
  return h("time", { class: "badge-when", datetime: instant, title: `Time in ${timeZone}, the patient's time zone` }, `reported ${dateTime(instant, timeZone)}`);
}

/** A patient's attention badges, each with its reason written out, and for a red flag when it was
 *  reported (in `timeZone`, the patient's). */
export function attentionBadges(reasons, timeZone) {
  if (!reasons || !reasons.length) return null;
  return h(
    "ul",
    { class: "badges" },
    reasons.map((r) =>
      h(
        "li",
        { class: ["badge", `badge-${r.kind}`], "data-kind": r.kind },
        // Spaces between the parts, so the badge's text reads as one sentence (copied, or found).
        h("span", { class: "badge-kind" }, ATTENTION[r.kind] || r.kind),
        " ",
        h("span", { class: "badge-detail" }, r.detail),
        r.reported_at ? [" ", reportedAt(r.reported_at, timeZone)] : null,
      ),
    ),
  );
}

/** When a patient was added, to tell two of the same name apart. */
function added(p) {
  return `added ${longDate(localDate(p.created_at))}`;
}

/** The therapist's patients, current (`current`, on screen) and archived, named `typed`. */
async function namesakes(typed, current) {
  const key = fold(typed);
  // Without the archived list (a failed request) the current one still warns.
  const archived = await api("/patients?archived=true").catch(() => []);
  return [...current, ...archived].filter((p) => fold(p.display_name) === key);
}

/** Ask before adding a second patient of a name already on the list: usually it is the same person. */
function confirmNamesake(typed, same) {
  const which = same.map((p) => (p.archived_at ? `an archived one (${added(p)})` : `one ${added(p)}`)).join(" and ");
  return confirmDialog({
    title: `You already have a patient named ${typed}`,
    body:
      `You have ${which}. To treat the same person again, open their page instead` +
      `${same.some((p) => p.archived_at) ? " (restore an archived patient first)" : ""}, so their history stays in one place. ` +
      "Add a second patient with this name?",
    confirm: "Add another patient",
    cancel: "Go back",
  });
}

function newPatientForm(ctx, current) {
  const name = h("input", { name: "display_name", id: "new-name", required: true, maxlength: "100", autocomplete: "off" });
  const tz = zoneSelect("new-tz");
  const locale = languageSelect("new-locale");
  const problem = h("div", { class: "alert", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", class: "primary" }, "Add and record treatment");
  const form = h(
    "form",
    { class: "card new-patient", "aria-labelledby": "new-h", novalidate: true },
    h("h2", { id: "new-h" }, "New patient"),
    h(
      "div",
      { class: "row" },
      field("Name", name),
      field("Time zone", tz),
      field("Language", locale),
      h("div", { class: "field field-submit" }, submit),
    ),
    problem,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (submit.disabled) return; // sent already: the patient's screen is on its way
    problem.hidden = true;
    if (!name.value.trim()) {
      markControl(name, "Name: type the patient's name first.");
      name.focus();
      return;
    }
    busy(submit, async () => {
      try {
        const typed = name.value.trim();
        const same = await namesakes(typed, current);
        if (same.length && !(await confirmNamesake(typed, same))) {
          name.focus();
          return;
        }
        const created = await api("/patients", {
          method: "POST",
          body: { display_name: typed, timezone: tz.value, locale: locale.value },
        });
        try {
          localStorage.setItem(TZ_KEY, tz.value);
        } catch {
          // not remembered; no harm
        }
        ctx.handoff.set("toast", `${created.display_name} added.`);
        ctx.navigate(`#/patients/${created.id}/treat`);
        return LEAVING;
      } catch (err) {
        fill(problem, explain(err));
        problem.hidden = false;
        if (!markFields(err, { display_name: name, timezone: tz, locale })) name.focus();
      }
    });
  });
  return { form, name };
}

function row(p, item, namesake) {
  const cells = {
    week: h("td", { "data-label": "This week", class: "num" }, h("span", { class: "muted" }, "…")),
    soreness: h("td", { "data-label": "Latest soreness", class: "num" }, h("span", { class: "muted" }, "…")),
    activity: h("td", { "data-label": "Last activity" }, h("span", { class: "muted" }, "…")),
  };
  const tr = h(
    "tr",
    { "data-patient": String(p.id), "data-name": fold(p.display_name) },
    h(
      "th",
      { scope: "row" },
      h("a", { href: `#/patients/${p.id}`, class: "patient-link" }, p.display_name),
      p.archived_at ? h("span", { class: "tag" }, "archived") : null,
      namesake ? h("span", { class: "muted small namesake" }, ` ${added(p)}`) : null,
    ),
    cells.week,
    cells.soreness,
    cells.activity,
    h("td", { "data-label": "Attention" }, (item && attentionBadges(item.reasons, item.timezone)) || h("span", { class: "muted" }, "—")),
    h(
      "td",
      { class: "actions" },
      p.archived_at
        ? null
        : h("a", { href: `#/patients/${p.id}/treat`, class: "button small", "aria-label": `Record treatment for ${p.display_name}` }, "Treatment"),
    ),
  );
  return { tr, cells };
}

/** The sort the therapist chose last (kept in this browser), or by name. */
function savedSort() {
  try {
    const saved = JSON.parse(localStorage.getItem(SORT_KEY) || "null");
    if (saved && Object.hasOwn(SORTS, saved.key) && ["ascending", "descending"].includes(saved.dir)) return saved;
  } catch {
    // storage blocked or spoilt: by name
  }
  return BY_NAME;
}

function saveSort(sort) {
  try {
    localStorage.setItem(SORT_KEY, JSON.stringify(sort));
  } catch {
    // not remembered; no harm
  }
}

/** The rows in `sort`'s order. A row without the figure (no plan, nothing counted, no soreness in 7
 *  days, never active, or not loaded yet) goes last whichever the direction; ties stay by name. */
function sorted(rows, sort) {
  const sign = sort.dir === "ascending" ? 1 : -1;
  const value = (r) => (sort.key === "name" ? r.index : r.figures[sort.key]);
  return [...rows].sort((a, b) => {
    const x = value(a);
    const y = value(b);
    if (x == null && y == null) return a.index - b.index;
    if (x == null) return 1;
    if (y == null) return -1;
    if (x === y) return a.index - b.index;
    return x < y ? -sign : sign;
  });
}

/** One row's figures from the /adherence overview: this week so far, latest soreness, last activity;
 *  returns them as numbers to sort by (null: none). */
function fillAdherence(cells, overview) {
  const week = overview.week;
  if (!overview.has_plan) fill(cells.week, h("span", { class: "muted" }, "no plan"));
  // A plan prepared for a booked visit, with none before it: nothing is asked until that day.
  else if (overview.starts_on) fill(cells.week, h("span", { class: "muted", title: "The plan prepared for the booked visit starts then" }, `starts ${shortDate(overview.starts_on)}`));
  // Today counts only as far as it is done, and a plan's first day has nothing before it: "nothing
  // due" would contradict the patient page's "0/9 today".
  else if (!week || !week.expected) fill(cells.week, h("span", { class: "muted" }, "nothing counted yet"));
  else {
    fill(
      cells.week,
      h("span", { class: "rate" }, percent(week.rate)),
      h("meter", { min: "0", max: "1", low: "0.5", high: "0.8", optimum: "1", value: String(week.rate), "aria-hidden": "true" }),
      h("span", { class: "sr-only" }, ` (${week.done} of ${week.expected} done)`),
    );
  }
  const last = overview.soreness;
  fill(
    cells.soreness,
    last
      ? [h("span", { class: ["score", last.value >= 7 ? "high" : ""] }, `${last.value}/10`), " ", h("span", { class: "muted small" }, shortDate(last.on_date))]
      : h("span", { class: "muted" }, "—"),
  );
  fill(
    cells.activity,
    overview.last_activity
      ? h("time", { datetime: overview.last_activity, title: dateTime(overview.last_activity) }, ago(overview.last_activity))
      : h("span", { class: "muted" }, "never"),
  );
  const counted = overview.has_plan && !overview.starts_on && week && week.expected;
  return {
    week: counted ? week.rate : null,
    soreness: last ? last.value : null,
    activity: overview.last_activity ? Date.parse(overview.last_activity) : null,
  };
}

export async function render(_params, ctx) {
  const archived = location.hash.includes("archived");
  const [list, attention] = await Promise.all([
    api(`/patients${archived ? "?archived=true" : ""}`),
    api("/attention"),
  ]);
  const attentionOf = new Map(attention.map((a) => [a.patient_id, a]));
  const { form, name } = newPatientForm(ctx, list);

  const search = h("input", { type: "search", id: "patient-search", autocomplete: "off", "aria-controls": "patient-table" });
  const status = h("p", { class: "muted", id: "patient-count", role: "status" });
  const tbody = h("tbody");
  const named = new Map();
  for (const p of list) named.set(fold(p.display_name), (named.get(fold(p.display_name)) || 0) + 1);
  // `index`: the server's order, by name (ignoring case and accents); `figures`: once loaded.
  const rows = list.map((p, index) => ({ ...row(p, attentionOf.get(p.id), named.get(fold(p.display_name)) > 1), index, figures: {} }));
  for (const r of rows) tbody.append(r.tr);

  function filter() {
    const q = fold(search.value.trim());
    let shown = 0;
    for (const { tr } of rows) {
      tr.hidden = Boolean(q) && !tr.dataset.name.includes(q);
      if (!tr.hidden) shown += 1;
    }
    const count = archived ? plural(rows.length, "archived patient", "archived patients") : plural(rows.length, "patient", "patients");
    fill(status, q ? `${shown} of ${count} match “${search.value.trim()}”.` : `${count}.`);
    return shown;
  }
  search.addEventListener("input", filter);
  search.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    const visible = rows.filter((r) => !r.tr.hidden);
    if (visible.length === 1) {
      event.preventDefault();
      ctx.navigate(`#/patients/${visible[0].tr.dataset.patient}`);
    }
  });
  filter();

  // Sortable columns: a button in each header; the header's aria-sort and the caption say the order.
  let sort = savedSort();
  function sortBy(next) {
    sort = next;
    saveSort(sort);
    arrange();
  }
  const caption = h("caption", { class: "sr-only" });
  const headers = Object.entries(SORTS).map(([key, how]) => {
    const arrow = h("span", { class: "sort-arrow", "aria-hidden": "true" });
    const button = h("button", { type: "button", class: "sort", "data-sort": key }, how.label, arrow);
    button.addEventListener("click", () => {
      const other = sort.dir === "ascending" ? "descending" : "ascending";
      sortBy({ key, dir: sort.key === key ? other : how.first });
    });
    return { key, th: h("th", { scope: "col" }, button), arrow };
  });
  // The same choice as a list, for the card layout of a narrow screen, where the headers are hidden
  // (console.css shows it only there): each column both ways, the way a first click sorts first.
  const sortPick = h(
    "select",
    { id: "patient-sort", "aria-controls": "patient-table" },
    Object.entries(SORTS).flatMap(([key, how]) =>
      [how.first, how.first === "ascending" ? "descending" : "ascending"].map((dir) =>
        h("option", { value: key + " " + dir }, how.label + ", " + how[dir]),
      ),
    ),
  );
  sortPick.addEventListener("change", () => {
    const [key, dir] = sortPick.value.split(" ");
    sortBy({ key, dir });
  });
  const sortField = field("Sort by", sortPick);
  sortField.classList.add("sort-pick");
  function arrange() {
    const arrows = { ascending: "▲", descending: "▼" };
    for (const { key, th, arrow } of headers) {
      if (key === sort.key) th.setAttribute("aria-sort", sort.dir);
      else th.removeAttribute("aria-sort");
      fill(arrow, key === sort.key ? arrows[sort.dir] : "↕");
    }
    const how = SORTS[sort.key];
    fill(caption, `${archived ? "Archived patients" : "Your patients"}, sorted by ${how.label}, ${how[sort.dir]}`);
    sortPick.value = sort.key + " " + sort.dir;
    tbody.append(...sorted(rows, sort).map((r) => r.tr));
  }
  arrange();

  const table = h(
    "table",
    { class: "patients", id: "patient-table" },
    caption,
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        headers.map((c) => c.th),
        h("th", { scope: "col" }, "Attention"),
        h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")),
      ),
    ),
    tbody,
  );

  const needing = attention.filter((a) => rows.some((r) => r.tr.dataset.patient === String(a.patient_id)));
  const alerts = needing.length
    ? h(
        "section",
        { class: "card attention", "aria-labelledby": "att-h" },
        h("h2", { id: "att-h" }, `Needs attention (${needing.length})`),
        h(
          "ul",
          { class: "attention-list" },
          needing.map((a) =>
            h("li", {}, h("a", { href: `#/patients/${a.patient_id}` }, a.display_name), attentionBadges(a.reasons, a.timezone)),
          ),
        ),
      )
    : null;

  const node = h(
    "section",
    { class: "view view-patients" },
    h("div", { class: "view-head" }, h("h1", {}, archived ? "Archived patients" : "Patients")),
    archived ? null : form,
    alerts,
    h(
      "section",
      { class: "card", "aria-labelledby": "list-h" },
      h("h2", { id: "list-h", class: "sr-only" }, "Patient list"),
      h(
        "div",
        { class: "list-tools" },
        field("Search patients", search),
        rows.length ? sortField : null,
        h(
          "a",
          { href: archived ? "#/" : "#/?archived", class: "button secondary small" },
          archived ? "Back to current patients" : "Archived patients",
        ),
      ),
      status,
      rows.length
        ? h("div", { class: "table-wrap" }, table)
        : h("p", { class: "empty" }, archived ? "No archived patients." : "No patients yet. Add the first one above."),
    ),
  );

  // The figures of every row come in one request after the names, so the list shows at once.
  let stopped = false;
  if (rows.length) {
    api(`/adherence${archived ? "?archived=true" : ""}`)
      .then((overview) => {
        const rowOf = new Map(rows.map((r) => [r.tr.dataset.patient, r]));
        for (const o of overview) {
          const r = rowOf.get(String(o.patient_id));
          if (r && !stopped) r.figures = fillAdherence(r.cells, o);
        }
        if (!stopped) arrange();
      })
      .catch((err) => {
        if (stopped) return;
        for (const { cells } of rows) fill(cells.week, h("span", { class: "muted", title: explain(err) }, "unavailable"));
      })
      .finally(() => {
        if (!stopped) node.dataset.loaded = "true";
      });
  } else node.dataset.loaded = "true";
  return {
    node,
    title: archived ? "Archived patients" : "Patients",
    // With patients listed, focus stays off the fields so "/" and "n" work at once.
    focus: rows.length || archived ? null : name,
    keys: { "/": () => search.focus(), n: () => name && name.focus() },
    cleanup: () => {
      stopped = true;
    },
  };
}


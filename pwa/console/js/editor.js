// The program editor: phases and days at a glance; per item the times of day, the dosage and
// the days; add, remove and reorder; each exercise's details one click away.
//
// Items keep a key (exercise, phase, first day) so that when the treated muscles change and the
// program is generated again, the therapist's changes to items still in it are kept. Keys are
// unique per row: the same exercise twice in a phase (a saved plan may hold it) gets "|2", "|3"
// for its later rows, and added rows "added:N", so editing, removing or moving a row acts on it.

import { fill, h, newId, s } from "./dom.js";
import { markControl } from "./ui.js";
import {
  addDays,
  daysText,
  dosageText,
  KIND_NAMES,
  PHASE_NAMES,
  plural,
  PRECAUTIONS,
  shortDate,
  SIDE_NAMES,
  SLOT_NAMES,
  SLOTS,
} from "./format.js";

const NUMBERS = [
  // [field, label, min, max]; the hold's and the reps' max, and the hold's and the minutes' min, are
  // the catalog's for the exercise (see limit and least), as the server checks them.
  ["sets", "Sets", 1, 10],
  ["reps", "Reps", 1, 50],
  ["hold_seconds", "Hold (s)", 0, 120],
  ["minutes", "Minutes", 0, 60],
  ["days_per_week", "Days a week", 1, 7],
];
// The labels of the fields the server names in an item's errors ("items[3].dosage.hold_seconds").
const LABELS = {
  ...Object.fromEntries(NUMBERS.map(([name, label]) => [name, label])),
  from_day: "From day",
  to_day: "To day",
  times_per_day: "Times of day",
  slots: "Times of day",
  exercise_id: "Exercise",
  phase: "Phase",
  side: "Side",
};

// A dosage field means nothing at its default ("Drink water" has no sets, reps or hold).
const UNSET = { sets: 1, reps: 1, hold_seconds: 0, minutes: 0 };

/** The number fields an item is edited with: those its exercise or the item itself uses (sets and
 *  reps go with any counted or held exercise), and the days a week, which every item has. */
function dosageFields(ex, item) {
  const uses = (name) => (ex && ex.dosage[name] !== UNSET[name]) || item.dosage[name] !== UNSET[name];
  const counted = uses("sets") || uses("reps") || uses("hold_seconds");
  return NUMBERS.filter(([name]) => (name === "sets" || name === "reps" ? counted : !(name in UNSET) || uses(name)));
}

/** The most the server takes in a number field for an exercise: for the hold and the reps the
 *  catalog gives the limit (the template's, or the exercise's own hold if lower). */
function limit(ex, name, max) {
  const given = ex && { hold_seconds: ex.max_hold_seconds, reps: ex.max_reps }[name];
  return given || max;
}

/** The least the server takes: a held exercise's shortest hold, a timed one's single minute. */
function least(ex, name, min) {
  const given = ex && { hold_seconds: ex.min_hold_seconds, minutes: ex.min_minutes }[name];
  return given || min;
}

function keyOf(item) {
  return `${item.exercise_id}|${item.phase}|${item.from_day}`;
}

function clone(item) {
  return { ...item, slots: [...item.slots], dosage: { ...item.dosage } };
}

/**
 * @param {object} o
 * @param {Map<string, object>} o.exercises catalog exercises by id
 * @param {() => {muscle: string, side: string}[]} o.treated the treated muscles (for new items' side)
 * @param {() => void} [o.onChange]
 */
export function createEditor({ exercises, treated, muscles = new Map(), onChange = () => {} }) {
  let program = null;
  let rows = []; // [{key, item}]
  let touched = new Map(); // key -> item as the therapist left it
  let removed = new Set();
  let added = []; // [{key, item}]
  let addedCount = 0;
  let edits = 0;
  // Fields whose text is not taken: "key|field" -> {text, why}, shown again when the rows are drawn.
  let drafts = new Map();
  const openPanels = new Set(); // "edit:key" / "details:key"
  // The first days are what the therapist adjusts most; later phases open on demand.
  const openPhases = new Set(["aftercare", "mobility"]);

  const element = h("div", { class: "editor", id: "program-editor" });

  function lastDay() {
    return program ? Math.max(...program.phases.map((p) => p.to_day)) : 0;
  }

  function changed(key, item) {
    if (key) touched.set(key, item);
    edits += 1;
    onChange();
  }

  /** Show a program; with merge, the therapist's changes so far are applied to it. */
  function load(next, { merge = false } = {}) {
    const before = new Map(rows.map((r, i) => [r.key, i]));
    program = next;
    if (!merge) {
      touched = new Map();
      removed = new Set();
      added = [];
      edits = 0;
      drafts = new Map();
    }
    rows = [];
    const seen = new Map(); // key -> rows so far with it
    for (const item of next.items) {
      const base = keyOf(item);
      const n = (seen.get(base) || 0) + 1;
      seen.set(base, n);
      const key = n === 1 ? base : `${base}|${n}`;
      if (removed.has(key)) continue;
      const mine = touched.get(key);
      rows.push({ key, item: mine ? { ...clone(mine), side: item.side } : clone(item) });
    }
    for (const a of added) {
      const at = lastIndexOfPhase(a.item.phase);
      rows.splice(at + 1, 0, { key: a.key, item: a.item });
    }
    if (merge) {
      // Items shown before keep the order the therapist gave them; new ones stay where generated.
      const known = rows.filter((r) => before.has(r.key)).sort((a, b) => before.get(a.key) - before.get(b.key));
      rows = rows.map((r) => (before.has(r.key) ? known.shift() : r));
    }
    render();
  }

  function phaseOf(item) {
    return program.phases.find((p) => p.id === item.phase) || { from_day: 0, to_day: lastDay() };
  }

  function lastIndexOfPhase(phase) {
    let at = -1;
    rows.forEach((r, i) => {
      if (r.item.phase === phase) at = i;
    });
    return at === -1 ? rows.length - 1 : at;
  }

  function items() {
    return rows.map(({ item }) => {
      const out = {
        exercise_id: item.exercise_id,
        phase: item.phase,
        from_day: item.from_day,
        to_day: item.to_day,
        slots: SLOTS.filter((sl) => item.slots.includes(sl)),
        dosage: { ...item.dosage },
      };
      if (item.side) out.side = item.side;
      return out;
    });
  }

  function timeline() {
    const total = lastDay() + 1;
    const width = 600;
    const bar = s(
      "svg",
      { class: "timeline", viewBox: `0 0 ${width} 30`, "aria-hidden": "true", preserveAspectRatio: "none" },
      program.phases.map((p) => {
        const x = (p.from_day / total) * width;
        const w = ((p.to_day - p.from_day + 1) / total) * width;
        return s("rect", { class: `phase-${p.id}`, x: x + 1, y: 2, width: Math.max(w - 2, 1), height: 26, rx: 4 });
      }),
    );
    const list = h(
      "ol",
      { class: "phase-list" },
      program.phases.map((p) => {
        const count = rows.filter((r) => r.item.phase === p.id).length;
        return h(
          "li",
          { class: `phase-chip phase-${p.id}` },
          h("strong", {}, PHASE_NAMES[p.id] || p.id),
          ` ${daysText(p.from_day, p.to_day)} · ${shortDate(addDays(program.treated_on, p.from_day))}–${shortDate(addDays(program.treated_on, p.to_day))} · ${plural(count, "item", "items")}`,
        );
      }),
    );
    return h("div", { class: "glance" }, bar, list);
  }

  function details(ex, id, open) {
    if (!ex) return h("div", { id, class: "item-details", hidden: !open }, "No details.");
    return h(
      "div",
      { id, class: "item-details", hidden: !open },
      ex.muscles.length
        ? h("p", {}, h("strong", {}, "Works on: "), ex.muscles.map((m) => (muscles.get(m) || { name: m }).name).join(", "))
        : null,
      h("ol", { class: "steps" }, ex.steps.map((st) => h("li", {}, st))),
      h("p", {}, h("strong", {}, "Should feel: "), ex.feel),
      h("p", {}, h("strong", {}, "Stop if: "), ex.stop),
      ex.avoid ? h("p", {}, h("strong", {}, "Avoid: "), ex.avoid) : null,
      ex.ask_first.length ? h("p", {}, h("strong", {}, "Ask first if: "), ex.ask_first.join("; ")) : null,
      ex.equipment.length ? h("p", {}, h("strong", {}, "Needs: "), ex.equipment.join(", ")) : null,
    );
  }

  // Day fields show days as daysText does, one more than the plan's day numbers.
  function stored(row, name) {
    return String(name === "from_day" || name === "to_day" ? row.item[name] + 1 : row.item.dosage[name]);
  }

  function numberField(row, name, label, min, max) {
    const draft = drafts.get(`${row.key}|${name}`);
    const id = newId("n");
    const input = h("input", {
      type: "number",
      inputmode: "numeric",
      min: String(min),
      max: String(max),
      step: "1",
      value: draft ? draft.text : stored(row, name),
      "data-field": name,
      "data-before": stored(row, name),
      id,
      "aria-invalid": draft ? "true" : null,
      "aria-describedby": `${id}-why`,
    });
    return h(
      "div",
      { class: ["field field-number", draft && "refused"] },
      h("label", { htmlFor: input.id }, label),
      input,
      // Always there (empty while the text is taken), so the live region announces what is put in.
      h("span", { class: "range-error", id: `${id}-why`, "aria-live": "polite" }, draft ? draft.why : ""),
    );
  }

  function itemRow(row, index, samePhase) {
    const { item, key } = row;
    const ex = exercises.get(item.exercise_id);
    const title = ex ? ex.title : item.exercise_id;
    const uid = `i${index}`;
    const editId = `edit-${uid}`;
    const detId = `det-${uid}`;
    const position = samePhase.indexOf(row);
    const editOpen = openPanels.has(`edit:${key}`);
    const detOpen = openPanels.has(`details:${key}`);
    const meta = [ex ? KIND_NAMES[ex.kind] : null, item.side ? SIDE_NAMES[item.side] : null, daysText(item.from_day, item.to_day)]
      .filter(Boolean)
      .join(" · ");
    const det = details(ex, detId, detOpen);
    return h(
      "li",
      { class: "item", "data-key": key, "data-exercise": item.exercise_id },
      h(
        "div",
        { class: "item-head" },
        h(
          "button",
          { type: "button", class: "item-title linkish", "data-action": "details", "aria-expanded": String(detOpen), "aria-controls": detId },
          title,
        ),
        h("span", { class: "item-meta" }, meta),
      ),
      h("p", { class: "item-dose", "data-role": "dose" }, dosageText(item.dosage)),
      h(
        "div",
        { class: "item-controls" },
        h(
          "div",
          { class: "slots", role: "group", "aria-label": `Times of day for ${title}` },
          SLOTS.map((sl) =>
            h(
              "button",
              { type: "button", class: "slot", "data-action": "slot", "data-slot": sl, "aria-pressed": String(item.slots.includes(sl)) },
              SLOT_NAMES[sl],
            ),
          ),
        ),
        h(
          "div",
          { class: "item-actions" },
          h(
            "button",
            { type: "button", class: "small", "data-action": "edit", "aria-expanded": String(editOpen), "aria-controls": editId, "aria-label": `Dosage of ${title}` },
            "Dosage",
          ),
          h("button", { type: "button", class: "small icon", "data-action": "up", "aria-label": `Move ${title} up`, disabled: position === 0 }, "↑"),
          h("button", { type: "button", class: "small icon", "data-action": "down", "aria-label": `Move ${title} down`, disabled: position === samePhase.length - 1 }, "↓"),
          h("button", { type: "button", class: "small icon danger-text", "data-action": "remove", "aria-label": `Remove ${title}` }, "✕"),
        ),
      ),
      h(
        "fieldset",
        { id: editId, class: "item-edit", hidden: !editOpen },
        h("legend", {}, `Dosage and days of ${title}`),
        dosageFields(ex, item).map(([name, label, min, max]) => numberField(row, name, label, least(ex, name, min), limit(ex, name, max))),
        // An item's days stay inside its phase (the server refuses others).
        numberField(row, "from_day", "From day", phaseOf(item).from_day + 1, phaseOf(item).to_day + 1),
        numberField(row, "to_day", "To day", phaseOf(item).from_day + 1, phaseOf(item).to_day + 1),
      ),
      det,
    );
  }

  function addControl(phase) {
    const treatedIds = new Set(treated().map((t) => t.muscle));
    const suitable = [...exercises.values()].filter((e) => e.phases.includes(phase.id));
    const mine = suitable.filter((e) => e.muscles.some((m) => treatedIds.has(m)));
    const byKind = new Map();
    for (const e of suitable) {
      if (mine.includes(e)) continue;
      if (!byKind.has(e.kind)) byKind.set(e.kind, []);
      byKind.get(e.kind).push(e);
    }
    const option = (e) => h("option", { value: e.id }, `${e.title} (${KIND_NAMES[e.kind]})`);
    const select = h(
      "select",
      { id: `add-${phase.id}`, "data-phase": phase.id },
      h("option", { value: "" }, "Choose an exercise…"),
      mine.length ? h("optgroup", { label: "For the treated muscles" }, mine.map(option)) : null,
      [...byKind.entries()].map(([kind, list]) => h("optgroup", { label: KIND_NAMES[kind] || kind }, list.map(option))),
    );
    return h(
      "div",
      { class: "add-item" },
      h("label", { htmlFor: select.id }, `Add to ${PHASE_NAMES[phase.id] || phase.id}`),
      select,
      h("button", { type: "button", class: "small secondary", "data-action": "add", "data-phase": phase.id }, "Add"),
    );
  }

  function render(focusAfter) {
    if (!program) {
      fill(element);
      return;
    }
    const precautions = program.precautions.length
      ? h(
          "div",
          { class: "caution-box" },
          h("strong", {}, "Precautions: "),
          program.precautions.map((p) => PRECAUTIONS[p] || p).join("; "),
          ". The matching warning signs are printed on the plan.",
        )
      : null;
    const sections = program.phases.map((phase) => {
      const mine = rows.filter((r) => r.item.phase === phase.id);
      const headingId = `ph-${phase.id}`;
      const open = openPhases.has(phase.id);
      const section = h(
        "details",
        { class: `phase phase-${phase.id}`, "data-phase": phase.id, open },
        h(
          "summary",
          {},
          h(
            "h3",
            { id: headingId },
            `${daysText(phase.from_day, phase.to_day)} · ${PHASE_NAMES[phase.id] || phase.id}`,
            h("span", { class: "muted small" }, ` ${shortDate(addDays(program.treated_on, phase.from_day))}–${shortDate(addDays(program.treated_on, phase.to_day))} · ${plural(mine.length, "item", "items")}`),
          ),
        ),
        mine.length
          ? h("ol", { class: "items", "aria-labelledby": headingId }, mine.map((r) => itemRow(r, rows.indexOf(r), mine)))
          : h("p", { class: "muted" }, "Nothing in this phase."),
        addControl(phase),
      );
      section.addEventListener("toggle", () => {
        if (section.open) openPhases.add(phase.id);
        else openPhases.delete(phase.id);
      });
      return section;
    });
    fill(element, timeline(), precautions, sections);
    if (focusAfter) {
      const target = element.querySelector(focusAfter);
      if (target) target.focus();
    }
  }

  function rowOf(el) {
    const li = el.closest(".item");
    return li ? rows.find((r) => r.key === li.dataset.key) : null;
  }

  function updateDose(li, row) {
    fill(li.querySelector("[data-role=dose]"), dosageText(row.item.dosage));
  }

  element.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button || button.disabled) return;
    const action = button.dataset.action;
    if (action === "add") {
      const select = element.querySelector(`#add-${button.dataset.phase}`);
      if (!select.value) {
        select.focus();
        return;
      }
      const ex = exercises.get(select.value);
      const phase = program.phases.find((p) => p.id === button.dataset.phase);
      const times = Math.min(ex.dosage.times_per_day, 3);
      const sides = new Set(treated().filter((t) => ex.muscles.includes(t.muscle)).map((t) => t.side));
      let side = null;
      if (ex.sided) side = sides.size === 1 ? [...sides][0] : "both";
      addedCount += 1;
      const key = `added:${addedCount}`;
      const item = {
        exercise_id: ex.id,
        phase: phase.id,
        from_day: phase.from_day,
        to_day: phase.to_day,
        slots: SLOTS.slice(SLOTS.length - times),
        dosage: { ...ex.dosage },
        side,
      };
      added.push({ key, item });
      rows.splice(lastIndexOfPhase(phase.id) + 1, 0, { key, item });
      changed(null, item);
      render(`[data-key="${CSS.escape(key)}"] .item-title`);
      return;
    }
    const row = rowOf(button);
    if (!row) return;
    const li = button.closest(".item");
    if (action === "details" || action === "edit") {
      const panel = document.getElementById(button.getAttribute("aria-controls"));
      const open = button.getAttribute("aria-expanded") !== "true";
      button.setAttribute("aria-expanded", String(open));
      panel.hidden = !open;
      const id = `${action}:${row.key}`;
      if (open) openPanels.add(id);
      else openPanels.delete(id);
      if (open && action === "edit") panel.querySelector("input").focus();
      return;
    }
    if (action === "slot") {
      const sl = button.dataset.slot;
      const on = row.item.slots.includes(sl);
      if (on && row.item.slots.length === 1) {
        fill(li.querySelector("[data-role=dose]"), "An item needs at least one time of day.");
        setTimeout(() => updateDose(li, row), 2500);
        return;
      }
      row.item.slots = on ? row.item.slots.filter((x) => x !== sl) : SLOTS.filter((x) => x === sl || row.item.slots.includes(x));
      // Times a day follow the times of day chosen (more than three stays as the content wrote it).
      if (!(row.item.dosage.times_per_day > 3 && row.item.slots.length === 3)) {
        row.item.dosage.times_per_day = row.item.slots.length;
      }
      button.setAttribute("aria-pressed", String(!on));
      updateDose(li, row);
      changed(row.key, row.item);
      return;
    }
    if (action === "remove") {
      const index = rows.indexOf(row);
      rows.splice(index, 1);
      if (row.key.startsWith("added:")) added = added.filter((a) => a.key !== row.key);
      else removed.add(row.key);
      touched.delete(row.key);
      changed(null, null);
      const next = rows.slice(index).find((r) => r.item.phase === row.item.phase) ||
        rows.slice(0, index).reverse().find((r) => r.item.phase === row.item.phase);
      render(next ? `[data-key="${CSS.escape(next.key)}"] .item-title` : `#add-${row.item.phase}`);
      return;
    }
    if (action === "up" || action === "down") {
      const same = rows.filter((r) => r.item.phase === row.item.phase);
      const other = same[same.indexOf(row) + (action === "up" ? -1 : 1)];
      if (!other) return;
      const a = rows.indexOf(row);
      const b = rows.indexOf(other);
      [rows[a], rows[b]] = [rows[b], rows[a]];
      changed(null, null);
      const moved = `[data-key="${CSS.escape(row.key)}"] [data-action=${action}]`;
      render(moved);
      const target = element.querySelector(moved);
      if (target && target.disabled) element.querySelector(`[data-key="${CSS.escape(row.key)}"] .item-title`).focus();
    }
  });

  /** Why a number field's text is not taken (null when it is): said next to the field. */
  function whyNot(input, row) {
    const name = input.dataset.field;
    const value = Number(input.value);
    const min = Number(input.min);
    const max = Number(input.max);
    if (name === "from_day" || name === "to_day") {
      if (input.value === "" || !Number.isInteger(value) || value < min || value > max) {
        return `This phase is ${daysText(min - 1, max - 1).toLowerCase()}.`;
      }
      if (name === "from_day" && value > row.item.to_day + 1) return `Not after the last day (${row.item.to_day + 1}).`;
      if (name === "to_day" && value < row.item.from_day + 1) return `Not before the first day (${row.item.from_day + 1}).`;
      return null;
    }
    const unit = name === "hold_seconds" ? " s" : "";
    if (input.value === "" || !Number.isInteger(value)) return `Enter a whole number from ${min} to ${max}${unit}.`;
    if (value < min) {
      const own = min !== NUMBERS.find(([n]) => n === name)[2];
      return `At least ${min}${unit}${own ? " for this exercise" : ""}.`;
    }
    if (value > max) {
      const own = max !== NUMBERS.find(([n]) => n === name)[3];
      return `At most ${max}${unit}${own ? " for this exercise" : ""}.`;
    }
    return null;
  }

  /** Show (or clear, with null) why the field's text is not taken, and keep it while the row is shown. */
  function sayWhy(input, row, text) {
    const id = `${row.key}|${input.dataset.field}`;
    if (text) drafts.set(id, { text: input.value, why: text });
    else drafts.delete(id);
    input.setAttribute("aria-invalid", String(Boolean(text)));
    input.parentElement.classList.toggle("refused", Boolean(text));
    fill(document.getElementById(`${input.id}-why`), text || "");
  }

  element.addEventListener("focusin", (event) => {
    const input = event.target.closest("input[data-field]");
    const row = input && rowOf(input);
    // What an edit that ends out of range goes back to (out-of-range text is never stored).
    if (row) input.dataset.before = stored(row, input.dataset.field);
  });

  element.addEventListener("input", (event) => {
    const input = event.target.closest("input[data-field]");
    if (!input) return;
    const row = rowOf(input);
    const name = input.dataset.field;
    const why = whyNot(input, row);
    sayWhy(input, row, why);
    // Each keystroke in range is taken, so the dose line follows the typing; one that ends out of
    // range puts back what the field held before this edit ("12" must not leave the "1" typed on
    // the way), and the field keeps the text typed, marked, until it is put right.
    let value = Number(input.value);
    if (why) value = Number(input.dataset.before);
    if (name === "from_day" || name === "to_day") row.item[name] = value - 1;
    else row.item.dosage[name] = value;
    const li = input.closest(".item");
    updateDose(li, row);
    const meta = li.querySelector(".item-meta");
    const ex = exercises.get(row.item.exercise_id);
    fill(meta, [ex ? KIND_NAMES[ex.kind] : null, row.item.side ? SIDE_NAMES[row.item.side] : null, daysText(row.item.from_day, row.item.to_day)].filter(Boolean).join(" · "));
    changed(row.key, row.item);
  });

  /**
   * The first field whose text is not taken (saving must not send the value before it silently):
   * its phase and dosage opened, focus on it. Returns a sentence naming it, or null when none is.
   */
  function showInvalid() {
    for (const row of rows) {
      for (const name of [...NUMBERS.map(([n]) => n), "from_day", "to_day"]) {
        const draft = drafts.get(`${row.key}|${name}`);
        if (!draft) continue;
        openPhases.add(row.item.phase);
        openPanels.add(`edit:${row.key}`);
        render();
        const input = element.querySelector(`[data-key="${CSS.escape(row.key)}"] input[data-field="${name}"]`);
        input.focus();
        input.scrollIntoView({ block: "center" });
        const ex = exercises.get(row.item.exercise_id);
        return `${ex ? ex.title : row.item.exercise_id} (${PHASE_NAMES[row.item.phase] || row.item.phase}), ${LABELS[name]}: ${draft.why.charAt(0).toLowerCase()}${draft.why.slice(1)}`;
      }
    }
    return null;
  }

  /**
   * Put the server's errors about items ("items[3].dosage.hold_seconds") on the rows they are about:
   * the row's phase and dosage opened, the control marked with the exercise's name and the message.
   * Returns the sentences for the errors marked (empty when none was about a shown row).
   */
  function markErrors(errors) {
    const found = [];
    for (const { field, message } of errors || []) {
      const m = /^items\[(\d+)\](?:\.(?:dosage\.)?(\w+))?/.exec(field);
      const row = m && rows[Number(m[1])];
      if (!row) continue;
      found.push({ row, name: m[2] || "exercise_id", message });
    }
    if (!found.length) return [];
    for (const { row, name } of found) {
      openPhases.add(row.item.phase);
      if (NUMBERS.some(([n]) => n === name) || name === "from_day" || name === "to_day") {
        openPanels.add(`edit:${row.key}`);
      }
    }
    render();
    const sentences = [];
    let first = null;
    for (const { row, name, message } of found) {
      const li = element.querySelector(`[data-key="${CSS.escape(row.key)}"]`);
      const ex = exercises.get(row.item.exercise_id);
      const text = `${ex ? ex.title : row.item.exercise_id} (${PHASE_NAMES[row.item.phase] || row.item.phase}), ${LABELS[name] || name.replace(/_/g, " ")}: ${message}.`;
      const slots = name === "times_per_day" || name === "slots";
      const control =
        li.querySelector(`input[data-field="${name}"]`) ||
        (slots ? li.querySelector(".slots [data-action=slot]") : null) ||
        li.querySelector(".item-title");
      markControl(control, text, { after: slots ? li.querySelector(".slots") : control });
      sentences.push(text);
      first = first || control;
    }
    first.focus();
    first.scrollIntoView({ block: "center" });
    return sentences;
  }

  return {
    element,
    load,
    items,
    markErrors,
    showInvalid,
    get edits() {
      return edits;
    },
    get program() {
      return program;
    },
    clear() {
      program = null;
      rows = [];
      render();
    },
  };
}

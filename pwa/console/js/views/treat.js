// Record a treatment (#/patients/ID/treat): treated muscles from the body map or the list, the
// date, the generated program to adjust, then assign and go to the hand-over.
// The same screen adjusts the active plan (#/patients/ID/plan) without the muscle picker.

import { api, ApiError, maybe } from "../api.js";
import { bodyMap, VIEW_OF } from "../bodymap.js";
import { loadConditions, loadExercises, loadMuscles } from "../catalog.js";
import { createEditor } from "../editor.js";
import { field, fill, fold, h, newId } from "../dom.js";
import { addDays, longDate, plural, PRECAUTIONS, REGION_NAMES, SIDE_NAMES, todayIso } from "../format.js";
import { busy, explain, LEAVING, markFields, showProblem } from "../ui.js";

const SIDES = ["left", "right"];

function actionBar(summary, button) {
  return h("div", { class: "actionbar" }, h("p", { class: "actionbar-summary", role: "status" }, summary), button);
}

export async function render([id, mode], ctx) {
  const [patient, muscles, exercises, current, conditions] = await Promise.all([
    api(`/patients/${id}`),
    loadMuscles(),
    loadExercises(),
    mode === "plan" ? null : maybe(`/patients/${id}/plan`),
    mode === "plan" ? null : loadConditions(),
  ]);
  const back = h("a", { href: `#/patients/${id}`, class: "back" }, `← ${patient.display_name}`);

  if (patient.archived_at) {
    const node = h(
      "section",
      { class: "view" },
      back,
      h("h1", {}, "This patient is archived"),
      h("p", {}, "Restore them on their page before recording a treatment or changing the plan."),
    );
    return { node, title: "Archived patient" };
  }
  if (mode === "plan") return adjust(id, patient, muscles, exercises, back, ctx);
  return record(id, patient, muscles, exercises, back, ctx, current, conditions);
}

const NO_ITEMS = "The program has no exercises left, so there is nothing to give the patient. Add at least one.";

/** Why a step failed, in a short sentence (the step's own message says what to do). A 503's own
 *  words are kept: they say whether anything was saved, which "busy" would not. */
function whyNot(err) {
  if (err instanceof ApiError && err.status === 0) return "The server cannot be reached.";
  if (err instanceof ApiError && err.status === 401) return "Your session had ended.";
  const why = explain(err);
  return why.charAt(0).toUpperCase() + why.slice(1) + (/[.!?]$/.test(why) ? "" : ".");
}

async function adjust(id, patient, muscles, exercises, back, ctx) {
  let record;
  try {
    record = await api(`/patients/${id}/plan`);
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 404) throw err;
    const node = h(
      "section",
      { class: "view" },
      back,
      h("h1", {}, "No plan yet"),
      h("p", {}, h("a", { href: `#/patients/${id}/treat`, class: "button primary" }, "Record a treatment"), " to make one."),
    );
    return { node, title: "No plan" };
  }
  const summary = h("span");
  const problem = h("div", { class: "alert", role: "alert", hidden: true });
  const save = h("button", { type: "button", class: "primary", id: "save-plan" }, "Save changes");
  const editor = createEditor({ exercises, muscles: muscles.byId, treated: () => record.program.treated, onChange: () => describe() });
  function describe() {
    fill(summary, `${plural(editor.items().length, "item", "items")} · ${plural(editor.edits, "change", "changes")} not saved yet`);
  }
  editor.load(record.program);
  describe();
  let saved = false;

  async function doSave() {
    problem.hidden = true;
    const invalid = editor.showInvalid();
    if (invalid) {
      fill(problem, `Nothing was saved. ${invalid}`);
      problem.hidden = false;
      return;
    }
    if (!editor.items().length) {
      showProblem(problem, NO_ITEMS);
      return;
    }
    await busy(save, async () => {
      try {
        await api(`/patients/${id}/plan`, { method: "PUT", body: { plan_id: record.id, version: record.version, items: editor.items() } });
        saved = true;
        ctx.handoff.set("toast", "The plan is saved. The patient's app shows it the next time it connects.");
        ctx.navigate(`#/patients/${id}`);
        return LEAVING;
      } catch (err) {
        const conflict = err instanceof ApiError && err.status === 409 && ((err.body && err.body.errors) || [])[0];
        // An item the server refused: said on its row (which gets focus), and in the alert.
        const onRows = err instanceof ApiError && !conflict ? editor.markErrors(err.body && err.body.errors) : [];
        if (onRows.length) {
          fill(problem, `Nothing was saved. ${onRows.join(" ")}`);
          problem.hidden = false;
          return;
        }
        showProblem(
          problem,
          conflict && conflict.field === "plan_id"
            ? "A newer treatment's plan replaced this plan while you were editing, so your changes were not saved. Reload the page to see the new plan, then make your changes again."
            : conflict && conflict.field === "version"
              ? "Someone changed this plan meanwhile. Reload the page to see the new version, then make your changes again."
              : explain(err),
        );
      }
    });
  }
  save.addEventListener("click", doSave);
  const names = record.program.treated
    .map((t) => `${(muscles.byId.get(t.muscle) || { name: t.muscle }).name} (${SIDE_NAMES[t.side]})`)
    .join(", ");
  const node = h(
    "section",
    { class: "view view-plan" },
    back,
    h("h1", {}, `Adjust the plan · ${patient.display_name}`),
    h("p", { class: "lead" }, `Version ${record.version}, treated on ${longDate(record.program.treated_on)}: ${names}.`),
    problem,
    h("section", { class: "card", "aria-labelledby": "prog-h" }, h("h2", { id: "prog-h" }, "Program"), editor.element),
    actionBar(summary, save),
  );
  return {
    node,
    title: `Adjust plan · ${patient.display_name}`,
    keys: { "mod+Enter": () => save.click() },
    dirty: () => !saved && editor.edits > 0,
  };
}

async function record(id, patient, muscles, exercises, back, ctx, current, conditions) {
  const selected = new Map(); // "muscle|side" -> {muscle, side}, in the order picked
  const isSelected = (m, side) => selected.has(`${m}|${side}`);
  const treated = () => [...selected.values()];

  const summary = h("span");
  const chips = h("ul", { class: "chips", "aria-label": "Selected muscles" });
  const cautions = h("div", { class: "caution-box", hidden: true });
  const previewState = h("p", { class: "muted", id: "preview-state", role: "status" }, "Pick the treated muscles to see the program.");
  const problem = h("div", { class: "alert", role: "alert", hidden: true });
  // The dates the server takes (server/api/plans.py PLAN_DAYS_BACK and PLAN_DAYS_AHEAD).
  const date = h("input", {
    type: "date",
    id: "treated-on",
    value: todayIso(),
    required: true,
    min: addDays(todayIso(), -800),
    max: addDays(todayIso(), 366),
  });
  // A plan dated ahead (prepared for a booked visit) starts on its date; the current plan goes on
  // until then, and without one the patient has no exercises until then: said before assigning.
  // One dated so far back that its program has ended gives the patient nothing to do at all.
  const ahead = h("p", { class: "note", id: "date-ahead", role: "status" });
  const notes = h("textarea", { id: "notes", rows: "2", maxlength: "2000" });
  const assign = h("button", { type: "button", class: "primary", id: "assign" }, "Assign and hand over");

  // Each change the therapist makes here counts; the count when the plan was assigned tells
  // whether what is on screen is assigned already (the invite code may still be missing).
  let changes = 0;
  let assignedAt = null;
  const isAssigned = () => assignedAt === changes;
  let pending = null; // the preview request in flight
  let previewError = null; // why the last preview failed
  let seq = 0; // which selection the program on screen is for
  let timer = null;
  const editor = createEditor({
    exercises,
    muscles: muscles.byId,
    treated,
    onChange: () => {
      changes += 1;
      describe();
    },
  });

  function describe() {
    const n = selected.size;
    const parts = [n ? plural(n, "muscle", "muscles") : "No muscle yet"];
    if (editor.program && n) parts.push(plural(editor.items().length, "item", "items"));
    if (editor.edits) parts.push(plural(editor.edits, "change", "changes"));
    if (isAssigned()) parts.push("assigned; the code is still to make");
    fill(summary, parts.join(" · "));
    fill(assign, isAssigned() ? "Make the code and hand over" : "Assign and hand over");
  }

  const map = bodyMap({
    muscles: muscles.byId,
    isSelected,
    onToggle: (m, side) => toggle(m, side),
  });

  // ---- the searchable list ------------------------------------------------------------------
  const search = h("input", { type: "search", id: "muscle-search", autocomplete: "off", "aria-controls": "muscle-list" });
  const listStatus = h("p", { class: "muted small", role: "status" });
  const groups = muscles.regions.map((region) =>
    h(
      "section",
      { class: "region-group", "data-region": region.region },
      h("h3", {}, REGION_NAMES[region.region] || region.region),
      h(
        "ul",
        {},
        region.muscles.map((m) =>
          h(
            "li",
            { "data-muscle": m.id, "data-search": fold(`${m.name} ${m.id} ${REGION_NAMES[m.region] || ""}`) },
            h("span", { class: "mname" }, m.name, h("span", { class: "muted small" }, ` ${VIEW_OF[m.id] || ""}`)),
            h(
              "span",
              { class: "sides" },
              (m.sided ? SIDES : ["both"]).map((side) =>
                h(
                  "button",
                  { type: "button", class: "side", "data-muscle": m.id, "data-side": side, "aria-pressed": "false", "aria-label": `${m.name}, ${side}` },
                  side === "left" ? "Left" : side === "right" ? "Right" : "Both",
                ),
              ),
            ),
          ),
        ),
      ),
    ),
  );
  const list = h("div", { class: "muscle-list", id: "muscle-list", hidden: true }, groups);
  const browse = h(
    "button",
    { type: "button", class: "secondary small", "aria-expanded": "false", "aria-controls": "muscle-list", id: "browse-muscles" },
    `All muscles (${muscles.byId.size})`,
  );
  let browsing = false;
  browse.addEventListener("click", () => {
    browsing = !browsing;
    browse.setAttribute("aria-expanded", String(browsing));
    filter();
  });

  function filter() {
    const q = fold(search.value.trim());
    list.hidden = !q && !browsing;
    let shown = 0;
    for (const group of groups) {
      let any = false;
      for (const li of group.querySelectorAll("li")) {
        li.hidden = Boolean(q) && !li.dataset.search.includes(q);
        if (!li.hidden) {
          any = true;
          shown += 1;
        }
      }
      group.hidden = !any;
    }
    fill(listStatus, q ? (shown ? `${plural(shown, "muscle matches", "muscles match")}.` : "No muscle matches.") : "");
  }
  search.addEventListener("input", filter);
  search.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === "ArrowDown") {
      const first = list.querySelector("li:not([hidden]) button.side");
      if (first) {
        event.preventDefault();
        first.focus();
      }
    } else if (event.key === "Escape" && search.value) {
      event.preventDefault();
      search.value = "";
      filter();
    }
  });
  list.addEventListener("click", (event) => {
    const b = event.target.closest("button.side");
    if (b) toggle(b.dataset.muscle, b.dataset.side);
  });
  list.addEventListener("keydown", (event) => {
    // Up and Down walk the visible buttons of the same side; Escape goes back to the search.
    const b = event.target.closest("button.side");
    if (!b) return;
    if (event.key === "Escape") {
      event.preventDefault();
      search.focus();
      return;
    }
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    const all = [...list.querySelectorAll(`li:not([hidden]) button.side[data-side="${b.dataset.side}"]`)];
    const next = all[all.indexOf(b) + (event.key === "ArrowDown" ? 1 : -1)];
    event.preventDefault();
    if (next) next.focus();
    else if (event.key === "ArrowUp") search.focus();
  });
  list.addEventListener("pointerover", (event) => {
    const li = event.target.closest("li[data-muscle]");
    map.highlight(li ? li.dataset.muscle : null);
  });
  list.addEventListener("pointerleave", () => map.highlight(null));
  list.addEventListener("focusin", (event) => {
    const li = event.target.closest("li[data-muscle]");
    map.highlight(li ? li.dataset.muscle : null);
  });

  // ---- selection ----------------------------------------------------------------------------
  function toggle(m, side) {
    changes += 1;
    const key = `${m}|${side}`;
    if (selected.has(key)) selected.delete(key);
    else selected.set(key, { muscle: m, side });
    showSelection();
    schedulePreview();
  }

  function showSelection() {
    map.update();
    for (const b of list.querySelectorAll("button.side")) {
      b.setAttribute("aria-pressed", String(isSelected(b.dataset.muscle, b.dataset.side)));
    }
    fill(
      chips,
      [...selected.values()].map((t) => {
        const m = muscles.byId.get(t.muscle);
        return h(
          "li",
          { class: "chip" },
          `${m.name} · ${SIDE_NAMES[t.side]}`,
          h("button", { type: "button", class: "chip-remove", "aria-label": `Remove ${m.name}, ${t.side}`, "data-key": `${t.muscle}|${t.side}` }, "✕"),
        );
      }),
    );
    if (!selected.size) chips.append(h("li", { class: "muted" }, "None yet: click the body map or use the list."));
    showConditions();
    const chosen = [...new Set(treated().map((t) => t.muscle))].map((mid) => muscles.byId.get(mid));
    const kinds = [...new Set(chosen.flatMap((m) => m.precautions))];
    cautions.hidden = !kinds.length;
    fill(
      cautions,
      kinds.map((k) =>
        h(
          "p",
          {},
          h("strong", {}, PRECAUTIONS[k] || k),
          ` (${chosen.filter((m) => m.precautions.includes(k)).map((m) => m.name).join(", ")}).`,
        ),
      ),
      h(
        "details",
        {},
        h("summary", {}, "What the patient is told"),
        chosen.filter((m) => m.precaution_note).map((m) => h("p", {}, h("strong", {}, `${m.name}: `), m.precaution_note)),
      ),
    );
    describe();
  }
  chips.addEventListener("click", (event) => {
    const b = event.target.closest("button.chip-remove");
    if (!b) return;
    const [m, side] = b.dataset.key.split("|");
    const items = [...chips.querySelectorAll("button.chip-remove")];
    const next = items[items.indexOf(b) + 1] || items[items.indexOf(b) - 1];
    toggle(m, side);
    const again = next && chips.querySelector(`button[data-key="${CSS.escape(next.dataset.key)}"]`);
    (again || search).focus();
  });

  // ---- conditions ---------------------------------------------------------------------------
  // Which condition the program is for is the therapist's judgement, never the app's: those linked
  // to the chosen muscles come first only to shorten the search.
  const forConditions = new Set();
  const conditionSummary = h("summary", {});
  const conditionLists = h("div", { class: "condition-lists" });
  const conditionBox = h(
    "details",
    { class: "conditions", id: "conditions" },
    conditionSummary,
    h("p", { class: "hint" }, "Adds the condition's exercises and habits to the program. Optional."),
    conditionLists,
  );
  function describeConditions() {
    const names = conditions.filter((c) => forConditions.has(c.id)).map((c) => c.name);
    fill(conditionSummary, names.length ? `For: ${names.join(", ")}` : "For a condition (optional)");
  }
  function conditionRow(c) {
    const adds = c.extra.map((e) => (exercises.get(e) || { title: e }).title).join(", ");
    const box = h("input", { type: "checkbox", id: newId("cond"), value: c.id, checked: forConditions.has(c.id) });
    const said = adds ? h("span", { class: "muted", id: newId("adds") }, `adds ${adds}`) : null;
    if (said) box.setAttribute("aria-describedby", said.id);
    return h("div", { class: "check-row" }, box, h("label", { htmlFor: box.id }, c.name), said);
  }
  function showConditions() {
    const linked = new Set(treated().flatMap((t) => muscles.byId.get(t.muscle).conditions));
    const first = conditions.filter((c) => linked.has(c.id));
    const rest = conditions.filter((c) => !linked.has(c.id));
    fill(
      conditionLists,
      first.length ? h("fieldset", {}, h("legend", {}, "Linked to the chosen muscles"), first.map(conditionRow)) : null,
      h("fieldset", {}, h("legend", {}, first.length ? "Other conditions" : "Conditions"), rest.map(conditionRow)),
    );
    describeConditions();
  }
  conditionLists.addEventListener("change", (event) => {
    const box = event.target;
    if (box.checked) forConditions.add(box.value);
    else forConditions.delete(box.value);
    changes += 1;
    describeConditions();
    schedulePreview();
  });

  // ---- preview ------------------------------------------------------------------------------
  function schedulePreview() {
    clearTimeout(timer);
    timer = null;
    seq += 1; // an answer still on its way is for an older selection: it will be dropped
    if (!selected.size) {
      pending = null;
      editor.clear();
      sayAhead();
      editor.element.dataset.state = "empty";
      fill(previewState, "Pick the treated muscles to see the program.");
      describe();
      return;
    }
    editor.element.dataset.state = "updating";
    fill(previewState, "Updating the program…");
    const mine = seq;
    timer = setTimeout(() => {
      timer = null;
      pending = preview(mine);
    }, 150);
  }

  /** Generate the program for the current selection; false when the server refused. */
  async function preview(mine) {
    try {
      const program = await api("/programs/preview", {
        method: "POST",
        body: { treated: treated(), treated_on: date.value || todayIso(), conditions: [...forConditions] },
      });
      if (mine !== seq) return true;
      editor.load(program, { merge: true });
      editor.element.dataset.state = "ready";
      sayAhead(); // the program's length tells whether a past date has ended it
      fill(previewState, editor.edits ? "Program updated; your changes are kept." : "");
      describe();
      return true;
    } catch (err) {
      if (mine === seq) {
        previewError = err;
        editor.element.dataset.state = "error";
        fill(previewState, explain(err));
        markFields(err, { treated_on: date }, { focus: false });
      }
      return false;
    }
  }
  function sayAhead() {
    const later = date.value > todayIso();
    const program = editor.program;
    const end = date.value && program ? addDays(date.value, Math.max(...program.phases.map((p) => p.to_day))) : null;
    const ended = end !== null && end < todayIso();
    fill(
      ahead,
      ended
        ? `Dated ${longDate(date.value)}: this program ended on ${longDate(end)}, so the patient's app would show no exercises${current ? " and the current plan stops once this one is assigned" : ""}. Check the date.`
        : !later
          ? ""
          : current
            ? `Dated ${longDate(date.value)}, after today: the current plan goes on until the day before, and this one starts that day.`
            : `Dated ${longDate(date.value)}, after today: the patient's app shows no exercises until that day.`,
    );
  }
  date.addEventListener("change", () => {
    sayAhead();
    changes += 1;
    describe();
    if (selected.size) schedulePreview();
  });
  notes.addEventListener("input", () => {
    if (isAssigned()) {
      changes += 1;
      describe();
    }
  });

  // ---- assign -------------------------------------------------------------------------------
  /** Say why assigning failed: next to the field the server named (focused), or in the alert (focused). */
  function refuse(err, lead = "") {
    const message = `${lead}${explain(err)}`;
    const onRows = err instanceof ApiError ? editor.markErrors(err.body && err.body.errors) : [];
    if (onRows.length) {
      fill(problem, `${lead}${onRows.join(" ")}`);
      problem.hidden = false;
    } else if (markFields(err, { treated_on: date, notes })) {
      fill(problem, message);
      problem.hidden = false;
    } else {
      showProblem(problem, message);
    }
  }

  async function doAssign() {
    problem.hidden = true;
    if (!selected.size) {
      fill(problem, "Pick at least one treated muscle first.");
      problem.hidden = false;
      search.focus();
      return;
    }
    if (!date.value) {
      fill(problem, "Enter the date of the treatment.");
      problem.hidden = false;
      date.focus();
      return;
    }
    const invalid = editor.showInvalid();
    if (invalid) {
      fill(problem, `Nothing was assigned. ${invalid}`);
      problem.hidden = false;
      return;
    }
    await busy(assign, async () => {
      try {
        if (!isAssigned()) {
          if (timer) {
            clearTimeout(timer);
            timer = null;
            pending = preview(seq);
          }
          // A preview that failed (busy server, no network, session ended) is asked for again.
          if (pending && !(await pending)) pending = preview(seq);
          if (pending && !(await pending)) {
            refuse(previewError, "The program could not be made, so nothing was assigned. ");
            return;
          }
          if (!editor.items().length) {
            showProblem(problem, `${NO_ITEMS} Nothing was assigned.`);
            return;
          }
          const body = { treated: treated(), treated_on: date.value, conditions: [...forConditions], items: editor.items() };
          if (notes.value.trim()) body.notes = notes.value.trim();
          await api(`/patients/${id}/plans`, { method: "POST", body });
          assignedAt = changes;
          describe();
        }
        let invite;
        try {
          invite = await api(`/patients/${id}/invites`, { method: "POST" });
        } catch (err) {
          // Only the code is missing: the next click makes the code, it does not assign again.
          showProblem(problem, `The plan is assigned; the code could not be made yet. ${whyNot(err)} Try again with “Make the code and hand over”.`);
          return;
        }
        ctx.handoff.set(`invite:${id}`, invite);
        ctx.handoff.set("toast", "The plan is assigned.");
        ctx.navigate(`#/patients/${id}/handover`);
        return LEAVING;
      } catch (err) {
        refuse(err);
      }
    });
  }
  assign.addEventListener("click", doAssign);

  showSelection();
  const node = h(
    "section",
    { class: "view view-treat" },
    h("div", { class: "title-row" }, back, h("h1", {}, `Record a treatment · ${patient.display_name}`)),
    h(
      "div",
      { class: "treat-grid" },
      h(
        "section",
        { class: "card pick", "aria-labelledby": "map-h" },
        h("h2", { id: "map-h", class: "sr-only" }, "Body map"),
        map.element,
      ),
      h(
        "div",
        { class: "treat-side" },
        h(
          "section",
          { class: "card", "aria-labelledby": "sel-h" },
          h("h2", { id: "sel-h" }, "Treated muscles"),
          current
            ? h(
                "p",
                { class: "note" },
                `Assigning replaces the current plan (treated on ${longDate(current.program.treated_on)}, version ${current.version}). `,
                "The patient's link keeps working. To change that plan instead, ",
                h("a", { href: `#/patients/${id}/plan` }, "adjust it"),
                ".",
              )
            : null,
          h(
            "div",
            { class: "list-tools" },
            field("Find a muscle", search, "Type part of a name; Enter or ↓ reaches the matches."),
            browse,
          ),
          listStatus,
          list,
          chips,
          cautions,
          conditionBox,
          h("div", { class: "row" }, field("Treated on", date), field("Notes", notes, "For you; the patient does not see them.")),
          ahead,
        ),
        h(
          "section",
          { class: "card", "aria-labelledby": "prog-h" },
          h("h2", { id: "prog-h" }, "Program"),
          previewState,
          editor.element,
        ),
      ),
    ),
    problem,
    actionBar(summary, assign),
  );
  return {
    node,
    title: `Record treatment · ${patient.display_name}`,
    focus: search,
    keys: { "/": () => search.focus(), "mod+Enter": () => assign.click() },
    cleanup: () => clearTimeout(timer),
    dirty: () => !isAssigned() && (selected.size > 0 || editor.edits > 0 || notes.value.trim() !== ""),
  };
}

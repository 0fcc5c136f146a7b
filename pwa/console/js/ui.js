// Shared bits of interface: the status toast, a confirm dialog, error messages.

import { ApiError } from "./api.js";
import { field, fill, h, newId } from "./dom.js";

let toastTimer = null;

/** A short message in the polite live region at the bottom of the screen. */
export function toast(message) {
  const el = document.getElementById("toast");
  fill(el, message);
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => fill(el), 6000);
}

// The labels the console's forms give the fields the API names in its errors.
const FIELD_LABELS = {
  treated_on: "Treated on",
  treated: "Treated muscles",
  notes: "Notes",
  note: "Note",
  items: "Program",
  display_name: "Name",
  timezone: "Time zone",
  locale: "Language",
  email: "Email",
  password: "Password",
  current_password: "Current password",
  new_password: "New password",
};

/** The API's field name ("treated_on", "items[2].dosage.sets") as the person sees it. */
export function fieldLabel(name) {
  const item = /^items\[(\d+)\](?:\.(?:dosage\.)?(\w+))?/.exec(name);
  if (item) return `Program item ${Number(item[1]) + 1}` + (item[2] ? `, ${item[2].replace(/_/g, " ")}` : "");
  const base = name.split(/[.[]/)[0];
  return FIELD_LABELS[base] || base.replace(/_/g, " ");
}

// msgspec's wording for a list or text of the wrong length ("Expected `array` of length >= 1"),
// in words a therapist reads.
const LENGTHS = [
  [/^Expected `array` of length >= (\d+)$/, (n) => (n === 1 ? "needs at least one item" : `needs at least ${n} items`)],
  [/^Expected `array` of length <= (\d+)$/, (n) => `can have at most ${n} ${n === 1 ? "item" : "items"}`],
  [/^Expected `str` of length >= (\d+)$/, (n) => (n === 1 ? "must not be empty" : `needs at least ${n} characters`)],
  [/^Expected `str` of length <= (\d+)$/, (n) => `can have at most ${n} ${n === 1 ? "character" : "characters"}`],
];

/** The API's message in plain words (msgspec's length messages rewritten; others as they are). */
export function plainMessage(message) {
  for (const [pattern, words] of LENGTHS) {
    const m = pattern.exec(message);
    if (m) return words(Number(m[1]));
  }
  return message;
}

/** One of the API's {field, message} errors as a sentence. */
function sentence({ field, message: raw }) {
  const message = plainMessage(raw);
  if (field === "patient_id" && /archived/.test(message)) {
    return "This patient is archived, so nothing was changed. Restore them on their page first.";
  }
  if (field === "patient_id" || field === "plan_id" || field === "version") {
    return `${message.charAt(0).toUpperCase()}${message.slice(1)}.`;
  }
  return `${fieldLabel(field)}: ${message}.`;
}

/** A sentence for an error from api(). */
export function explain(err) {
  if (!(err instanceof ApiError)) return `Something went wrong: ${err.message || err}`;
  if (err.status === 0) return "The server cannot be reached. Check the connection and try again.";
  if (err.status === 401) return "Your session had ended, so this was not done. Sign in again, then repeat it.";
  if (err.status === 403 && err.body && /csrf/i.test(err.body.detail || "")) {
    return "The sign-in in this browser changed meanwhile, so this was not done. Reload the page and repeat it.";
  }
  const fields = (err.body && err.body.errors) || [];
  if (fields.length) return fields.map(sentence).join(" ");
  return err.message;
}

/**
 * Mark the controls an API error names ({field: control}): aria-invalid, the message next to the
 * control with its label (and in its description), until it is changed. The first marked control
 * gets focus unless `focus` is false. Returns true when one was marked.
 */
export function markFields(err, controls, { focus = true } = {}) {
  const fields = (err instanceof ApiError && err.body && err.body.errors) || [];
  let first = null;
  for (const { field, message } of fields) {
    const control = controls[field.split(/[.[]/)[0]];
    if (!control) continue;
    markControl(control, `${fieldLabel(field)}: ${plainMessage(message)}.`);
    first = first || control;
  }
  if (first && focus) first.focus();
  return Boolean(first);
}

/**
 * Mark one control with a message: aria-invalid, the message in its description and shown after
 * it (or after `after`, the group a button is in), until it is changed (a button: pressed).
 */
export function markControl(control, text, { after = control } = {}) {
  clearMark(control);
  if (!control.id) control.id = newId("c");
  const note = h("span", { class: "field-error", id: `${control.id}-error` }, text);
  after.after(note);
  control.setAttribute("aria-invalid", "true");
  control.dataset.describedby = control.getAttribute("aria-describedby") || "";
  control.setAttribute("aria-describedby", `${note.id} ${control.dataset.describedby}`.trim());
  const clear = () => clearMark(control);
  control.addEventListener("input", clear, { once: true });
  control.addEventListener("change", clear, { once: true });
  if (control.tagName === "BUTTON") control.addEventListener("click", clear, { once: true });
}

/** Undo markFields() on one control. */
export function clearMark(control) {
  if (control.getAttribute("aria-invalid") !== "true") return;
  const note = document.getElementById(`${control.id}-error`);
  if (note) note.remove();
  control.removeAttribute("aria-invalid");
  if (control.dataset.describedby) control.setAttribute("aria-describedby", control.dataset.describedby);
  else control.removeAttribute("aria-describedby");
  delete control.dataset.describedby;
}

/** Show an error message box and move focus to it (a disabled button must not drop it on <body>). */
export function showProblem(box, message) {
  fill(box, message);
  box.hidden = false;
  if (!box.hasAttribute("tabindex")) box.setAttribute("tabindex", "-1");
  box.focus({ preventScroll: true });
  box.scrollIntoView({ block: "center" });
}

/** An alert box for an error (role=alert so screen readers hear it). */
export function errorBox(err) {
  return h("div", { class: "alert", role: "alert" }, explain(err));
}

/**
 * Ask before something that cannot be undone; resolves true on confirm. With `typed`, the
 * confirm button stays disabled until exactly that text is typed (the strongest confirmation).
 *
 * The answer is settled the moment it is given (a button, Enter in the typed field, or Escape), not
 * on the dialog's "close" event: Chromium fires that event only with the next rendered frame, and a
 * key or click in between (the help key pressed right after "Stay on this screen") would still find
 * the question open and be taken as a move asked for while it is open, then dropped with the Stay.
 */
export function confirmDialog({ title, body, confirm = "Confirm", cancel = "Cancel", danger = false, typed = null }) {
  return new Promise((resolve) => {
    let answered = false;
    const answer = (value) => {
      if (answered) return;
      answered = true;
      if (dialog.open) dialog.close(value); // focus goes back where it was, at once
      dialog.remove();
      resolve(value === "ok");
    };
    const ok = h("button", { value: "ok", class: danger ? "danger" : "primary", type: "submit", disabled: Boolean(typed) }, confirm);
    let input = null;
    if (typed) {
      input = h("input", { type: "text", autocomplete: "off", spellcheck: "false" });
      const matches = () => input.value.trim() === typed;
      input.addEventListener("input", () => {
        ok.disabled = !matches();
      });
      // Enter would press the first button (Cancel): here it confirms, once the text matches.
      input.addEventListener("keydown", (event) => {
        if (event.key !== "Enter") return;
        event.preventDefault();
        if (matches()) answer("ok");
      });
    }
    const dialog = h(
      "dialog",
      { class: "dialog", "aria-labelledby": "dialog-title", "aria-describedby": body ? "dialog-body" : null },
      h(
        "form",
        {
          method: "dialog",
          on: {
            submit: (event) => {
              event.preventDefault();
              answer(event.submitter ? event.submitter.value : "cancel");
            },
          },
        },
        h("h2", { id: "dialog-title" }, title),
        body ? h("p", { id: "dialog-body" }, body) : null,
        input ? field(`Type ${typed} to confirm`, input) : null,
        h(
          "div",
          { class: "buttons" },
          h("button", { value: "cancel", class: "secondary", type: "submit" }, cancel),
          ok,
        ),
      ),
    );
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault(); // Escape: closed here, with the answer
      answer("cancel");
    });
    dialog.addEventListener("close", () => answer(dialog.returnValue)); // closed any other way
    document.body.append(dialog);
    dialog.showModal();
    if (input) input.focus();
  });
}

/** What an action given to busy() returns when it is done and the view is being left. */
export const LEAVING = Symbol("leaving");

/**
 * Disable a button while an async action runs. An action that returns LEAVING keeps it disabled:
 * the next screen can take a moment to load, and a second press meanwhile (Enter twice) would do
 * the thing twice (a second patient, a second code).
 */
export async function busy(button, fn) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  let result;
  try {
    result = await fn();
    return result;
  } finally {
    if (result !== LEAVING) button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

/** A card section with a heading. */
export function card(title, ...children) {
  const id = `card-${title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title), ...children);
}

// Help: the keyboard shortcuts and the documented length of the common path.
// The browser test tests/browser/test_console_flow.py reads the numbers from #path-budget
// and fails when the common path needs more.

import { h } from "../dom.js";

export const BUDGET = { clicks: 5, keys: 1 };

// Shortcuts of one key (a letter, "/" or "?") can be turned off in this browser (WCAG 2.1.4): speech
// input types words into the page, and a word said with focus outside a field would print or move.
const SINGLE_KEYS = "unknot.console.single-keys";

/** Whether the one-key shortcuts are on in this browser (they are unless turned off on Help). */
export function singleKeysOn() {
  try {
    return localStorage.getItem(SINGLE_KEYS) !== "off";
  } catch {
    return true;
  }
}

function setSingleKeys(on) {
  try {
    if (on) localStorage.removeItem(SINGLE_KEYS);
    else localStorage.setItem(SINGLE_KEYS, "off");
  } catch { /* storage refused: on for this page only */ }
}

export async function render() {
  const row = (keys, what) => h("tr", {}, h("th", { scope: "row" }, ...keys.map((k) => h("kbd", {}, k))), h("td", {}, what));
  const single = h("input", { type: "checkbox", id: "single-keys", checked: singleKeysOn(), "aria-describedby": "single-keys-hint" });
  single.addEventListener("change", () => setSingleKeys(single.checked));
  const node = h(
    "section",
    { class: "view view-help" },
    h("h1", {}, "Help"),
    h(
      "section",
      { class: "card", "aria-labelledby": "path-h" },
      h("h2", { id: "path-h" }, "The common path"),
      h(
        "p",
        { id: "path-budget", "data-clicks": String(BUDGET.clicks), "data-keys": String(BUDGET.keys) },
        "A new patient, from the patient list to a printed plan, takes ",
        h("strong", {}, `${BUDGET.clicks} clicks and ${BUDGET.keys} key press`),
        " besides typing the patient's name:",
      ),
      h(
        "ol",
        {},
        h("li", {}, "Under ", h("em", {}, "New patient"), ", type the name and press ", h("kbd", {}, "Enter"),
          ". The treatment screen opens with today's date."),
        h("li", {}, "Click the treated muscles on the body map (one click per muscle and side)."),
        h("li", {}, "If the program is for a condition, such as neck pain, tick it under ", h("em", {}, "For a condition"),
          " (optional): its exercises and habits are added."),
        h("li", {}, "Click ", h("em", {}, "Assign and hand over"), ". The program shown is what gets assigned."),
        h("li", {}, "Click ", h("em", {}, "Print plan"), ", or let the patient scan the QR code."),
      ),
      h("p", {}, "Everything works from the keyboard as well; adjusting the program is optional."),
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "keys-h" },
      h("h2", { id: "keys-h" }, "Keyboard"),
      h(
        "table",
        { class: "keys" },
        h("caption", { class: "sr-only" }, "Keyboard shortcuts"),
        h("tbody", {},
          row(["/"], "Search: patients on the list, muscles on the treatment screen"),
          row(["n"], "New patient (on the patient list)"),
          row(["t"], "Record a treatment (on a patient's page)"),
          row(["Ctrl", "Enter"], "Assign the program, or save the adjusted plan"),
          row(["p"], "Print the plan (on the hand-over screen)"),
          row(["?"], "This help"),
          row(["Tab"], "Body map: each figure is one stop"),
          row(["↑", "↓"], "Body map: the muscle above or below"),
          row(["←", "→"], "Body map: the same muscle on the other side"),
          row(["Space"], "Body map: select or clear the muscle and side")),
      ),
      h(
        "div",
        { class: "check-row" },
        single,
        h("label", { htmlFor: "single-keys" }, "One-key shortcuts"),
        h("span", { class: "muted", id: "single-keys-hint" },
          "/, n, t, p and ? outside a field. Turn them off if you use speech input or they get in your way; Ctrl+Enter and everything else still work. Kept in this browser."),
      ),
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "map-h" },
      h("h2", { id: "map-h" }, "Left and right"),
      h("p", {}, "Sides are always the patient's own. On the front figure the patient faces you, so their right side is on your left; on the back figure their left side is on your left. The letters R and L at the top of each figure show which is which."),
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "account-h" },
      h("h2", { id: "account-h" }, "Your password"),
      h("p", {}, "To change it, click your name at the top (", h("a", { href: "#/account" }, "Your account"),
        "). Your other computers are signed out. A forgotten password is set anew by whoever runs Unknot at your clinic."),
    ),
  );
  return { node, title: "Help" };
}

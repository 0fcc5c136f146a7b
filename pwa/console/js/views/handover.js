// Hand over (#/patients/ID/handover): the invite as a large QR code and a short code, and the
// printable plan. Right after assigning, the fresh invite is on screen and "Print plan" has focus.

import { api, maybe } from "../api.js";
import { codeGroups, fill, h } from "../dom.js";
import { dateTime } from "../format.js";
import { handout, qrImage } from "../handout.js";
import { busy, explain } from "../ui.js";

export async function render([id], ctx) {
  const [patient, plan] = await Promise.all([api(`/patients/${id}`), maybe(`/patients/${id}/handout`)]);
  const back = h("a", { href: `#/patients/${id}`, class: "back no-print" }, `← ${patient.display_name}`);
  if (!plan) {
    const node = h(
      "section",
      { class: "view" },
      back,
      h("h1", {}, `Hand over · ${patient.display_name}`),
      h("p", {}, "There is no plan to hand over yet. ", h("a", { href: `#/patients/${id}/treat` }, "Record a treatment"), " first."),
    );
    return { node, title: "Hand over" };
  }

  // The code made on assigning is shown this once: codes work once, so by the next visit the
  // patient may have used it, and showing or printing it again would hand over a dead code.
  let invite = ctx.handoff.get(`invite:${id}`) || null;
  ctx.handoff.delete(`invite:${id}`);
  // An archived patient cannot join (the server refuses the code): say so instead of offering it.
  const archived = Boolean(patient.archived_at);
  const problem = h("div", { class: "alert", role: "alert", hidden: true });
  const qrBox = h("div", { class: "qr-box" });
  const sheet = h("div", { class: "sheet" });
  const print = h("button", { type: "button", class: "primary big", id: "print" }, "Print plan");
  const fresh = h("button", { type: "button", class: "secondary" }, "New code");
  // The instructions are most of the paper (a usual plan: five pages with them, three without). A
  // patient who has the app finds them there; one who has only the paper needs them.
  const howTo = h("input", { type: "checkbox", id: "print-howto", checked: true, "aria-describedby": "print-howto-hint" });
  howTo.addEventListener("change", () => sheet.classList.toggle("brief", !howTo.checked));
  const printOptions = h(
    "div",
    { class: "check-row print-options" },
    howTo,
    h("label", { htmlFor: "print-howto" }, "Print how to do each exercise"),
    h("span", { class: "muted", id: "print-howto-hint" }, "Steps, muscles and what to feel; about half the paper. When to stop is always printed."),
  );

  function show() {
    if (invite) {
      fill(
        qrBox,
        qrImage(invite),
        h("p", { class: "big-code", id: "invite-code" }, h("span", { class: "sr-only" }, "Invite code "), codeGroups(invite.code)),
        h("p", {}, "Or on the phone open ", h("a", { href: invite.link, id: "invite-link", rel: "noreferrer" }, invite.link), "."),
        h("p", { class: "muted small" }, `Single use; valid until ${dateTime(invite.expires_at)}.`),
      );
      fill(fresh, "New code");
    } else if (archived) {
      fill(
        qrBox,
        h(
          "p",
          { id: "archived-note" },
          "This patient is archived, so no code can be made for them. Restore them on ",
          h("a", { href: `#/patients/${id}` }, "their page"),
          " first; the plan can still be printed.",
        ),
      );
    } else {
      fill(
        qrBox,
        h("p", {}, "No code on screen. Codes work once: make a new one for this patient to scan or to print."),
      );
      fill(fresh, "Make a code");
    }
    fill(sheet, handout(plan, invite));
  }

  fresh.addEventListener("click", () =>
    busy(fresh, async () => {
      problem.hidden = true;
      try {
        invite = await api(`/patients/${id}/invites`, { method: "POST" });
        show();
        ctx.toast("A new code is ready. Earlier codes still work until they are used or expire.");
      } catch (err) {
        fill(problem, explain(err));
        problem.hidden = false;
      }
    }),
  );
  print.addEventListener("click", () => window.print());
  show();

  const node = h(
    "section",
    { class: "view view-handover" },
    back,
    h("h1", { class: "no-print" }, `Hand over · ${patient.display_name}`),
    problem,
    h(
      "div",
      { class: "handover-grid" },
      h(
        "section",
        { class: "card qr-card no-print", "aria-labelledby": "qr-h" },
        h("h2", { id: "qr-h" }, "Scan to join"),
        qrBox,
        h(
          "div",
          { class: "buttons" },
          print,
          archived ? null : fresh,
          h("a", { href: `#/patients/${id}`, class: "button secondary" }, "Done"),
        ),
        printOptions,
      ),
      h(
        "section",
        { class: "card sheet-card", "aria-labelledby": "sheet-h" },
        h("h2", { id: "sheet-h", class: "no-print" }, "Printed plan (preview)"),
        sheet,
      ),
    ),
  );
  return {
    node,
    title: `Hand over · ${patient.display_name}`,
    focus: print,
    keys: { p: () => print.click() },
  };
}

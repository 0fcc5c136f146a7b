// The daily check-in: soreness 0-10 and the red-flag questions, with advice at once.

import { longDate } from "../dates.js";
import { fill, h, newId } from "../dom.js";
import { lang, t } from "../i18n.js";
import { scale } from "../widgets.js";

const URGENCY_ORDER = ["emergency", "same-day", "contact-clinic"];

export function adviceCard(flag, { live = false } = {}) {
  return h("div", { class: `card flag urgency-${flag.urgency}`, role: live ? "alert" : null, "data-flag": flag.id },
    h("p", { class: "flag-urgency", text: t(`urgency_${flag.urgency}`) }),
    h("p", { class: "flag-action", text: flag.action }));
}

/** Whom the advice means by "your clinic": the therapist, the clinic and its number, a tap to
 *  call it. Nothing for a plan stored before the server sent them, or a clinic that set none. */
export function contactCard(bundle) {
  const c = bundle && bundle.contact;
  if (!c || !(c.therapist_name || c.clinic_name || c.clinic_phone)) return null;
  const dial = c.clinic_phone ? "tel:" + c.clinic_phone.replace(/[^\d+]/g, "") : null;
  return h("div", { class: "card contact" },
    h("h2", { text: t("contact_title") }),
    c.clinic_name ? h("p", { text: c.clinic_name }) : null,
    c.therapist_name ? h("p", { text: t("contact_therapist", { name: c.therapist_name }) }) : null,
    // The number's spaces do not break: "Llamar al +34 910 000" over "000" misleads whoever dials it.
    dial ? h("a", { class: "btn contact-call", href: dial, text: t("contact_call", { phone: c.clinic_phone.replace(/\s+/g, "\u00a0") }) }) : null);
}

/** What a soreness score means on the day of the check-in: from day 4 after needling, soreness
 *  that is more than mild has lasted beyond the three days the aftercare calls usual. */
function sorenessAdviceFor(value, daysSinceNeedling) {
  if (value >= 4 && daysSinceNeedling > 3) return t("soreness_lasting");
  return value >= 7 ? t("soreness_high") : value >= 4 ? t("soreness_mid") : t("soreness_low");
}

export function renderCheckin(app, date) {
  const today = app.today();
  if (date > today) date = today;
  const routine = app.routine(date);
  const flags = app.bundle.red_flags.filter((f) => routine.red_flags.includes(f.id));
  flags.sort((a, b) => URGENCY_ORDER.indexOf(a.urgency) - URGENCY_ORDER.indexOf(b.urgency));
  const earlier = app.checkins(date);
  let soreness = null;
  let saving = false; // a second tap on Save while the first is stored must not save twice

  const sorenessAdvice = h("p", { class: "advice", role: "status" });
  // Each advice an alert, put in as its sign is ticked: so only that one is read out, not the
  // others again (not redrawn). The contact card, last, shows under any (app.css).
  const contact = contactCard(app.bundle);
  const flagAdvice = h("div", { class: "flag-advice" }, contact);
  const cards = flags.map((f) => adviceCard(f, { live: true }));
  const errorId = newId("problem");
  const error = h("p", { class: "error", role: "alert", id: errorId });
  const noteId = newId("note");
  const note = h("textarea", { id: noteId, rows: "3", maxlength: "500", autocomplete: "off" });
  const save = h("button", { class: "btn big", type: "submit", text: t("checkin_save") });

  const form = h("form", {
    class: "checkin-form",
    novalidate: true,
    on: {
      submit: async (event) => {
        event.preventDefault();
        if (soreness === null) {
          error.textContent = t("checkin_need_soreness");
          form.querySelector("input[name=soreness]").focus();
          return;
        }
        error.textContent = "";
        if (saving) return;
        saving = true;
        const ticked = flags.filter((f, i) => cards[i].parentNode);
        save.setAttribute("aria-disabled", "true");
        let stored;
        try {
          stored = await app.logCheckin({
            on_date: date,
            soreness,
            red_flags: ticked.map((f) => f.id),
            note: note.value.trim().slice(0, 500),
          });
        } catch (err) {
          saving = false;
          save.removeAttribute("aria-disabled");
          throw err;
        }
        if (stored === false) {
          // Not stored on this phone (said in the live region): the form stays as filled in.
          saving = false;
          save.removeAttribute("aria-disabled");
          return;
        }
        if (!ticked.length) {
          app.toast(t("checkin_saved"));
          app.go("#/today");
          return;
        }
        // A warning sign was ticked: its advice stays in view. The clinic reads check-ins later,
        // so the patient must not leave thinking saving it has told anyone.
        fill(screen, saved(ticked, contact));
        screen.querySelector("h1").focus();
      },
    },
  },
  scale({
    name: "soreness",
    legend: t("soreness_question"),
    hint: t("soreness_hint"),
    // Save moves focus to the numbers as the alert comes: the reason is heard with them.
    problem: errorId,
    onChange: (value) => {
      soreness = value;
      error.textContent = "";
      sorenessAdvice.textContent = sorenessAdviceFor(value, routine.offset);
    },
  }),
  // Under the numbers it asks for: Save moves the patient's focus (and the screen) up to them,
  // and a message left beside Save, far below, would be out of sight.
  error,
  sorenessAdvice,
  flags.length
    ? h("fieldset", { class: "flags" },
      h("legend", { text: t("flags_question") }),
      h("p", { class: "muted", text: t("flags_hint") }),
      // The whole row is the label: a tap anywhere on it ticks the box.
      flags.map((flag, i) => h("label", { class: "flag-option" },
        h("input", {
          type: "checkbox", name: "red_flags", value: flag.id,
          on: {
            change: (event) => {
              if (event.target.checked) flagAdvice.insertBefore(cards[i], cards.slice(i + 1).find((c) => c.parentNode) || contact);
              else cards[i].remove();
            },
          },
        }),
        h("span", { text: flag.sign }))))
    : null,
  flagAdvice,
  h("label", { htmlFor: noteId, class: "field-label", text: t("note_label") }),
  note,
  save);

  const screen = h("section", { class: "screen checkin" },
    h("p", { class: "eyebrow", text: longDate(date, lang()) }),
    h("h1", { text: t("checkin_title") }),
    earlier.length ? h("p", { class: "badge done-badge", text: t("checkin_already", { n: earlier.length }) }) : null,
    form);
  return screen;
}

/** After a check-in with warning signs ticked: saved, and what to do about each, now. */
function saved(ticked, contact) {
  // A new version of the app waits until the patient leaves this advice (app.js unsavedWork):
  // reloaded, the screen would be a fresh check-in and the advice gone.
  return h("div", { class: "checkin-saved", "data-keep-until-left": true },
    h("h1", { tabindex: "-1", text: t("checkin_saved") }),
    h("p", { class: "lead", text: t("checkin_saved_flags") }),
    h("ul", { class: "flag-list" }, ticked.map((flag) =>
      h("li", { class: "flag-item" },
        h("h2", { class: "flag-sign", text: flag.sign }),
        adviceCard(flag)))),
    contact,
    h("a", { class: "btn", href: "#/today", text: t("back_to_today") }));
}

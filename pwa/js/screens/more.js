// More: language, reminders, installing, what waits to be sent, disclaimer, leaving.

import { longDate } from "../dates.js";
import { h } from "../dom.js";
import { LANG_NAMES, LANGS, has, lang, t } from "../i18n.js";

function installSection(app) {
  const standalone = window.matchMedia("(display-mode: standalone)").matches || navigator.standalone === true;
  const ios = /iPhone|iPad|iPod/.test(navigator.userAgent);
  let body;
  if (standalone) body = h("p", { text: t("install_done") });
  else if (app.installPrompt) {
    body = h("button", {
      class: "btn", type: "button", text: t("install_button"),
      on: {
        click: async () => {
          const prompt = app.installPrompt;
          app.installPrompt = null;
          prompt.prompt();
          await prompt.userChoice.catch(() => null);
        },
      },
    });
  } else body = h("p", { text: ios ? t("ios_hint_text") : t("install_menu") });
  return h("section", { class: "block" }, h("h2", { text: t("install_title") }), body);
}

function exerciseTitle(app, id) {
  const exercise = app.bundle && app.bundle.exercises[id];
  return exercise ? exercise.title : id;
}

/** The app's own words for why the clinic's system refused record r (refusal_<code>, the server's
 *  code), which say what to do; null with no code (an older server) or one this app does not know
 *  (a newer server). */
function refusalKey(r) {
  if (r.error === "too large" || typeof r.code !== "string" || !/^[a-z_]+$/.test(r.code)) return null;
  return has("refusal_" + r.code) ? "refusal_" + r.code : null;
}

/** Why r was refused, for its patient: in their language, else the server's message as it came. */
function refusalText(r) {
  const key = refusalKey(r);
  if (key) return t(key);
  if (r.error === "too large") return t("outbox_rejected_reason", { reason: t("outbox_too_large") });
  return r.error ? t("outbox_rejected_reason", { reason: r.error }) : null;
}

/** A refused check-in with warning signs whose reason does not say they went unseen already. */
function unseenFlags(r) {
  return r.type === "checkin" && r.body.red_flags && r.body.red_flags.length > 0 && refusalKey(r) !== "refusal_unknown_red_flag";
}

// Languages whose switch is under way: their button is busy (and looks disabled, keeping focus)
// until it is done or refused, in a More drawn again meanwhile too (a log read back online).
const switching = new Set();

function markBusy(code, busy) {
  for (const button of document.querySelectorAll(`.more .choices button[lang="${code}"]`)) {
    for (const name of ["aria-busy", "aria-disabled"]) {
      if (busy) button.setAttribute(name, "true");
      else button.removeAttribute(name);
    }
  }
}

/** A tap on a language while its switch is under way does nothing. */
function switchTo(app, code) {
  if (switching.has(code)) return;
  switching.add(code);
  markBusy(code, true);
  app.setLang(code).finally(() => {
    switching.delete(code);
    markBusy(code, false);
  });
}

export function renderMore(app) {
  const waiting = app.pendingCount();
  const refused = app.rejected();
  const rejected = refused.length;
  const joined = Boolean(app.token);
  return h("section", { class: "screen more" },
    h("h1", { text: t("more_title") }),
    app.patient && joined ? h("p", { class: "lead", text: t("joined_as", { name: app.patient.display_name }) }) : null,
    h("section", { class: "block", "aria-labelledby": "lang-title" },
      h("h2", { id: "lang-title", text: t("language") }),
      h("div", { class: "choices" }, LANGS.map((code) => h("button", {
        class: "btn quiet", type: "button", lang: code, "aria-pressed": code === lang() ? "true" : "false",
        text: LANG_NAMES[code],
        // Busy until the switch is done (the file may come slowly) or refused (offline).
        "aria-busy": switching.has(code) && "true",
        "aria-disabled": switching.has(code) && "true",
        on: { click: () => switchTo(app, code) },
      })))),
    joined ? h("section", { class: "block" },
      h("h2", { text: t("reminders_title") }),
      h("p", { text: t("reminders_text") }),
      h("a", { class: "btn", href: "#/reminders", text: t("reminders_open") })) : null,
    installSection(app),
    joined ? h("section", { class: "block", "aria-labelledby": "outbox-title" },
      h("h2", { id: "outbox-title", text: t("outbox_title") }),
      // Refused records first, and then never "everything reached your clinic".
      rejected ? h("div", { class: "card outbox-refused" },
        h("p", { class: "error", text: t("outbox_rejected", { n: rejected }) }),
        h("ul", { class: "plain-list" }, refused.map((r) => h("li", {},
          h("span", { text: t(r.type === "undo" ? "outbox_rejected_undo" : "outbox_rejected_item", {
            what: r.type === "checkin" ? t("checkin_title") : exerciseTitle(app, r.body.exercise_id),
            date: longDate(r.body.on_date, lang()),
          }) }),
          // Why, in the patient's language and saying what to do; from a server whose reason the
          // app has no words for, the server's own message.
          refusalText(r) ? h("span", { class: "entry-line refusal", text: refusalText(r) }) : null,
          // A check-in with warning signs refused for any other reason: the clinic has not seen them
          // either, and the patient must not wait for it to.
          unseenFlags(r) ? h("a", { class: "entry-line refusal-flags", href: "#/help", text: t("refusal_flags_unseen") }) : null))),
        // What to do, when a reason above does not say it already.
        refused.every(refusalKey) ? null : h("p", { text: t("outbox_rejected_help") }),
        // The reason may be gone (the phone's clock set right): sent again; refused again, they
        // stay here with their reason.
        h("button", {
          class: "btn", type: "button", text: t("try_again"), "data-focus": "outbox-retry",
          on: {
            click: () => {
              app.toast(t("outbox_retry_done"), { screen: true });
              app.retryRejected();
            },
          },
        })) : null,
      h("p", { class: "outbox-detail", text: waiting ? t("outbox_waiting_long", { n: waiting })
        : rejected ? t("outbox_rest_sent") : t("outbox_empty_long") }),
      waiting ? h("button", { class: "btn", type: "button", text: t("send_now"), on: { click: () => app.flush() } }) : null)
      : null,
    h("section", { class: "block disclaimer" },
      h("h2", { text: t("disclaimer_title") }),
      h("p", { text: app.bundle ? app.bundle.aftercare.disclaimer : t("disclaimer_generic") })),
    joined ? h("section", { class: "block" },
      h("h2", { text: t("leave_title") }),
      h("p", { text: t("leave_text") }),
      h("button", {
        class: "btn danger", type: "button", text: t("leave_button"),
        on: {
          click: () => {
            const extra = waiting ? `\n\n${t("leave_waiting", { n: waiting })}` : "";
            if (window.confirm(t("leave_confirm") + extra)) app.disconnect();
          },
        },
      })) : null);
}

// Warning signs (red flags), aftercare and the disclaimer: reachable from every screen,
// and shown from the stored plan when there is no network.

import { h } from "../dom.js";
import { t } from "../i18n.js";
import { adviceCard, contactCard } from "./checkin.js";

const URGENCY_ORDER = ["emergency", "same-day", "contact-clinic"];

export function renderHelp(app) {
  const bundle = app.bundle;
  if (!bundle || !app.token) {
    return h("section", { class: "screen help" },
      h("h1", { text: t("help_title") }),
      h("div", { class: "card flag urgency-emergency" }, h("p", { class: "flag-action", text: t("help_generic") })),
      h("section", { class: "block" }, h("h2", { text: t("disclaimer_title") }), h("p", { text: t("disclaimer_generic") })));
  }
  const routine = app.routine(app.today());
  const active = new Set(routine.red_flags);
  const flags = bundle.red_flags.filter((f) => active.has(f.id))
    .sort((a, b) => URGENCY_ORDER.indexOf(a.urgency) - URGENCY_ORDER.indexOf(b.urgency));
  const care = bundle.aftercare;
  return h("section", { class: "screen help" },
    h("h1", { text: t("help_title") }),
    h("p", { class: "lead", text: t("help_intro") }),
    contactCard(bundle),
    h("ul", { class: "flag-list" }, flags.map((flag) =>
      h("li", { class: "flag-item" },
        h("h2", { class: "flag-sign", text: flag.sign }),
        adviceCard(flag)))),
    h("section", { class: "block" },
      h("h2", { text: t("aftercare_heading") }),
      h("ul", { class: "plain-list" }, care.guidance.map((g) => h("li", { text: g }))),
      h("p", { text: care.soreness }),
      h("p", { text: care.temperature })),
    h("section", { class: "block disclaimer", id: "disclaimer" },
      h("h2", { text: t("disclaimer_title") }),
      h("p", { text: care.disclaimer })));
}

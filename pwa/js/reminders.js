// Reminders: the entry point for Web Push.
//
// ============================================================================================
// WEB PUSH GOES HERE. This screen is reached from More > Reminders (#/reminders). The push
// work replaces the body of renderReminders: ask for notification permission, subscribe with
// the server's VAPID key, send the subscription and the chosen times per slot to the server,
// and send the current subscription again on every app start. The service worker's push,
// notificationclick and pushsubscriptionchange handlers go in the marked place in /sw.js;
// notificationclick should open "/#/today" (or the due slot's screen).
// ============================================================================================

import { h } from "./dom.js";
import { t } from "./i18n.js";

export function renderReminders(app) {
  return h("section", { class: "screen reminders" },
    h("h1", { text: t("reminders_title") }),
    h("p", { class: "lead", text: t("reminders_later") }),
    h("a", { class: "btn", href: "#/today", text: t("back_to_today") }));
}

/** Called once at start when the patient is joined (a place for re-sending a push subscription). */
export function startReminders(app) {
  return app;
}

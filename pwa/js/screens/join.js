// Joining: the invite link does it by itself; otherwise the patient types the code.

import { ApiError } from "../api.js";
import { h, newId } from "../dom.js";
import { t } from "../i18n.js";

/** Plain words for a failed join. */
export function joinError(err) {
  if (!(err instanceof ApiError)) return t("join_offline");
  if (err.status === 404) return t("join_unknown");
  if (err.status === 410) return t("join_gone");
  if (err.status === 429) return t("join_too_many");
  if (err.status === 422 || err.status === 400) return t("join_check_code");
  return t("join_failed");
}

export function renderJoin(app, { code = "", error = null, revoked = false }) {
  const inputId = newId("code");
  const hintId = newId("hint");
  const message = h("p", { class: "error", role: "alert", text: error ? joinError(error) : "" });
  const input = h("input", {
    id: inputId, name: "code", type: "text", value: code, autocomplete: "off", autocapitalize: "characters",
    spellcheck: "false", required: true, maxlength: "32", "aria-describedby": hintId, enterkeyhint: "go",
  });
  const submit = h("button", { class: "btn big", type: "submit", text: t("join_button") });
  const form = h("form", {
    class: "join-form",
    novalidate: true,
    on: {
      submit: async (event) => {
        event.preventDefault();
        const value = input.value.trim();
        if (value.replace(/[^A-Za-z0-9]/g, "").length < 4) {
          message.textContent = t("join_check_code");
          input.focus();
          return;
        }
        submit.disabled = true;
        message.textContent = "";
        try {
          if (await app.join(value)) app.go("#/today");
          else message.textContent = t("join_cancelled");
        } catch (err) {
          message.textContent = joinError(err);
          input.focus();
        } finally {
          submit.disabled = false;
        }
      },
    },
  },
  h("label", { htmlFor: inputId, class: "field-label", text: t("join_code_label") }),
  h("p", { id: hintId, class: "muted", text: t("join_code_hint") }),
  input,
  message,
  submit);

  // After a removal: what happened, what left the phone (unsent records included), how to join again.
  const unsent = revoked ? app.revokedUnsent || 0 : 0;
  return h("section", { class: "screen join" },
    h("h1", { text: revoked ? t("revoked_title") : t("join_title") }),
    h("p", { class: "lead", text: revoked ? t("revoked_text") : t("join_intro") }),
    unsent ? h("p", { class: "revoked-unsent", text: t("revoked_unsent", { n: unsent }) }) : null,
    revoked ? h("p", { text: t("revoked_again") }) : null,
    form,
    h("p", { class: "muted", text: t("join_privacy") }));
}

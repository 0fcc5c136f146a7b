// Shared pieces of screens.

import { h, newId } from "./dom.js";
import { t } from "./i18n.js";

/**
 * A 0-10 scale as a group of big radio buttons.
 * onChange(value) when the patient picks a number; `problem`: the id of a message about it, read
 * with the group (before its hint) once it says something.
 */
export function scale({ name, legend, hint, value = null, onChange, problem = null }) {
  const hintId = newId("hint");
  return h("fieldset", { class: "scale", "aria-describedby": problem ? `${problem} ${hintId}` : hintId },
    h("legend", { text: legend }),
    h("p", { class: "muted", id: hintId, text: hint || t("scale_hint") }),
    h("div", { class: "scale-options" },
      Array.from({ length: 11 }, (_, n) => {
        const id = newId(name);
        return h("span", { class: "scale-option" },
          h("input", {
            type: "radio", name, id, value: String(n), checked: value === n,
            on: { change: () => onChange(n) },
          }),
          h("label", { htmlFor: id, class: `level-${n <= 3 ? "low" : n <= 5 ? "mid" : "high"}`, text: String(n) }));
      })));
}

/** Advice for a pain level during or after an exercise (0-3 fine, 4-5 caution, 6-10 too much). */
export function painAdvice(level) {
  if (level === null || level === undefined) return "";
  if (level <= 3) return t("pain_ok");
  if (level <= 5) return t("pain_caution");
  return t("pain_stop");
}

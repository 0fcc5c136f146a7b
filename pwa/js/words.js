// Dosage, side and slot in plain words.

import { t } from "./i18n.js";

/** "Hold 30 s, 3 times", "10 minutes", "10 times, 2 rounds" or "" for a habit. */
export function dosageText(d) {
  const parts = [];
  if (d.hold_seconds > 0) {
    parts.push(t("dose_hold", { s: d.hold_seconds, n: d.reps }));
  } else if (d.minutes > 0) {
    parts.push(t("dose_minutes", { n: d.minutes }));
  } else if (d.reps > 1) {
    parts.push(t("dose_reps", { n: d.reps }));
  }
  if (d.sets > 1) parts.push(t("dose_sets", { n: d.sets }));
  return parts.join(", ");
}

export function sideText(side) {
  return side ? t(`side_${side}`) : "";
}

export function slotName(slot) {
  return t(`slot_${slot}`);
}

/** The line under an exercise's title: dosage and side. */
export function entryLine(entry) {
  return [dosageText(entry.dosage), sideText(entry.side)].filter(Boolean).join(" · ");
}

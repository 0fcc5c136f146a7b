// All interface text lives in /i18n/<lang>.js, one object per language with the same keys.

export const LANGS = ["en", "es"];
let dict = {};
let current = "en";

/** Load a language's texts (English when it is not one we have). */
export async function loadLang(lang) {
  const chosen = LANGS.includes(lang) ? lang : "en";
  dict = (await import(`../i18n/${chosen}.js`)).default;
  current = chosen;
  document.documentElement.lang = chosen;
  return chosen;
}

export function lang() {
  return current;
}

/** The language to use: the patient's choice, else the browser's, else the clinic's, else English. */
export function pickLang(saved, browser, clinic) {
  if (LANGS.includes(saved)) return saved;
  for (const tag of browser || []) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (LANGS.includes(base)) return base;
  }
  return LANGS.includes(clinic) ? clinic : "en";
}

/** "America/Mexico_City" -> "Ciudad de México": the place a zone is named after, in the language
 *  (`places`; a zone not listed there by its id's last part, "America/Lima" -> "Lima"). */
export function placeName(zone) {
  const names = dict.places || {};
  return names[zone] || String(zone).split("/").pop().replace(/_/g, " ");
}

/** Whether this language has a text for key (a key built from data the server sent). */
export function has(key) {
  return Object.prototype.hasOwnProperty.call(dict, key);
}

/** A text by key with {name} placeholders filled; plural texts pick their form from vars.n. */
export function t(key, vars = {}) {
  let text = dict[key];
  if (text === undefined) return key;
  if (typeof text === "object") {
    text = text[new Intl.PluralRules(current).select(vars.n ?? 0)] ?? text.other;
  }
  return text.replace(/\{(\w+)\}/g, (_, name) => (vars[name] ?? "").toString());
}

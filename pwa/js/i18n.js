// All interface text lives in /i18n/<lang>.js, one object per language with the same keys.

import "./core.js";

export const LANGS = ["en", "es"];
// Each language by its own name (the buttons on More, the message that one needs a connection).
export const LANG_NAMES = { en: "English", es: "Español" };
let dict = {};
let current = "en";
const loaded = {};
// A dead connection can leave a fetch pending for minutes, and the taps after it wait behind it
// (app.js setLang): so long without the file counts as refused.
const ASK_TIMEOUT_MS = 15000;

/** Load a language's texts (English when it is not one we have). Rejects when its file cannot
 *  be had: only the language this phone uses is stored for offline use (sw.js). `ask`: fetch it
 *  first, so that a failure is never remembered by the page's modules (older browsers keep a
 *  failed import failed until the page reloads). */
export async function loadLang(lang, { ask = false } = {}) {
  const chosen = LANGS.includes(lang) ? lang : "en";
  if (!loaded[chosen]) {
    const signal = ask && globalThis.unknotCore.deadline(ASK_TIMEOUT_MS);
    if (signal && !(await fetch(`/i18n/${chosen}.js`, { signal })).ok) throw new Error(`no texts for ${chosen}`);
    loaded[chosen] = (await import(`../i18n/${chosen}.js`)).default;
  }
  dict = loaded[chosen];
  current = chosen;
  document.documentElement.lang = chosen;
  if (chosen !== "en") await keepEnglish();
  return chosen;
}

/** English for a key the language in use lacks (its file came from a newer version of the app
 *  than this page's code: see t), only when this phone has it already: loaded in this page, or
 *  in the worker's shell (the language the phone used before). Never downloaded for this. */
async function keepEnglish() {
  if (loaded.en || !globalThis.caches) return;
  try {
    if (await caches.match("/i18n/en.js")) loaded.en = (await import("../i18n/en.js")).default;
  } catch { /* t() says such a key in a readable form */ }
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

/** Whether t() has a text for key (a key built from data the server sent): the language's own,
 *  or the English one it falls back to (see keepEnglish). */
export function has(key) {
  const own = (texts) => Boolean(texts) && Object.prototype.hasOwnProperty.call(texts, key);
  return own(dict) || own(loaded.en);
}

/** A text by key with {name} placeholders filled; plural texts pick their form from vars.n. A key
 *  the language lacks is said in English (see keepEnglish), else as words, never as the raw key. */
export function t(key, vars = {}) {
  let text = dict[key] ?? (loaded.en && loaded.en[key]);
  if (text === undefined) {
    const words = key.replace(/_/g, " ");
    return words.charAt(0).toUpperCase() + words.slice(1);
  }
  if (typeof text === "object") {
    text = text[new Intl.PluralRules(current).select(vars.n ?? 0)] ?? text.other;
  }
  return text.replace(/\{(\w+)\}/g, (_, name) => (vars[name] ?? "").toString());
}

// The printed plan, in the patient's language: the QR code and short code, the first days'
// routine by time of day, each of those exercises' own stop rules and "ask first" cautions, the
// aftercare and the warning signs (grouped by the hours after needling each applies in, its own,
// not the aftercare's). The print stylesheet prints this and nothing else: two or three A4 pages
// for a usual plan (two or three muscles), five for 14.

import { h } from "./dom.js";

const FIRST_DAYS = 7; // day 0 (the day of needling) to day 6
const SLOTS = ["morning", "midday", "evening"];
// The times of day an item can be done at, in the order the sheet lists them: all day first.
const WHEN = ["morning midday evening", "morning evening", "morning midday", "midday evening", "morning", "midday", "evening"];

const WORDS = {
  en: {
    title: "Your home program",
    treated: (date) => `Treated on ${date}`,
    muscles: "Treated muscles",
    joinTitle: "Open your program on your phone",
    joinText: (link, code, until) => [
      "Scan the square code with your phone's camera. Or open ",
      h("span", { class: "link" }, link),
      " and type the code ",
      h("strong", { class: "code-inline" }, code),
      `. The code works once, until ${until}.`,
    ],
    noCode: "Ask the clinic for the code to open your program on your phone.",
    firstDays: "Your first week",
    days: (a, b) => (a === b ? `Day ${a}` : `Days ${a}–${b}`),
    onlyDays: (a, b) => (a === b ? ` (day ${a} only)` : ` (days ${a}–${b})`),
    dayZero: "Day 0 is the day of your treatment.",
    slots: { morning: "Morning", midday: "Midday", evening: "Evening" },
    and: "and",
    sides: { left: "left", right: "right", both: "both sides" },
    aftercare: (hours) => `Aftercare: the first ${hours} hours`,
    flags: "Warning signs",
    within: (hours) => `In the first ${hours} hours after treatment`,
    anyTime: "At any time",
    urgency: { emergency: "Emergency", "same-day": "Today", "contact-clinic": "Contact the clinic" },
    therapist: (name) => `Your therapist: ${name}`,
    phone: (number) => `Phone ${number}`,
    contact: "To contact the clinic",
    later: (day) => `From day ${day}, your app shows what to do each day as the program builds up.`,
    stops: "Stop and ask",
    stopIf: "When to stop",
    askFirst: "Ask your clinician before you start",
    every: "All exercises",
    version: (v) => `Plan version ${v}`,
    nothing: "Nothing planned.",
    codeLabel: "Code",
  },
  es: {
    title: "Su programa en casa",
    treated: (date) => `Tratamiento el ${date}`,
    muscles: "Músculos tratados",
    joinTitle: "Abra su programa en el móvil",
    joinText: (link, code, until) => [
      "Escanee el código cuadrado con la cámara del móvil. O abra ",
      h("span", { class: "link" }, link),
      " y escriba el código ",
      h("strong", { class: "code-inline" }, code),
      `. El código sirve una sola vez, hasta el ${until}.`,
    ],
    noCode: "Pida a la clínica el código para abrir su programa en el móvil.",
    firstDays: "Su primera semana",
    days: (a, b) => (a === b ? `Día ${a}` : `Días ${a}–${b}`),
    onlyDays: (a, b) => (a === b ? ` (solo el día ${a})` : ` (días ${a}–${b})`),
    dayZero: "El día 0 es el día del tratamiento.",
    slots: { morning: "Mañana", midday: "Mediodía", evening: "Tarde y noche" },
    and: "y",
    sides: { left: "izquierda", right: "derecha", both: "ambos lados" },
    aftercare: (hours) => `Cuidados: las primeras ${hours} horas`,
    flags: "Señales de alarma",
    within: (hours) => `En las primeras ${hours} horas después del tratamiento`,
    anyTime: "En cualquier momento",
    urgency: { emergency: "Urgencia", "same-day": "Hoy mismo", "contact-clinic": "Contacte con la clínica" },
    therapist: (name) => `Su fisioterapeuta: ${name}`,
    phone: (number) => `Teléfono ${number}`,
    contact: "Para contactar con la clínica",
    later: (day) => `A partir del día ${day}, la aplicación le indica qué hacer cada día a medida que avanza el programa.`,
    stops: "Cuándo parar y consultar",
    stopIf: "Cuándo parar",
    askFirst: "Consulte con su profesional antes de empezar",
    every: "Todos los ejercicios",
    version: (v) => `Versión del plan ${v}`,
    nothing: "Nada previsto.",
    codeLabel: "Código",
  },
};

/** A YYYY-MM-DD date, or an instant (the invite's expiry) on the local calendar, in words. */
function date(iso, lang, opts) {
  // An instant's first ten characters are its UTC date: a day off in the evening west of Greenwich.
  if (iso.length > 10) return new Intl.DateTimeFormat(lang, opts).format(new Date(iso));
  const [y, m, d] = iso.split("-").map(Number);
  return new Intl.DateTimeFormat(lang, opts).format(new Date(y, m - 1, d));
}

function plusDays(iso, n) {
  const [y, m, d] = iso.split("-").map(Number);
  const t = new Date(y, m - 1, d + n);
  return `${t.getFullYear()}-${String(t.getMonth() + 1).padStart(2, "0")}-${String(t.getDate()).padStart(2, "0")}`;
}

/** "Morning, midday and evening" for "morning midday evening". */
function when(key, w) {
  const words = key.split(" ").map((slot, n) => (n ? w.slots[slot].toLowerCase() : w.slots[slot]));
  return words.length === 1 ? words[0] : `${words.slice(0, -1).join(", ")} ${w.and} ${words.at(-1)}`;
}

/** An <img> of the invite's QR code (the server's SVG as a data: URL, so no markup is parsed). */
export function qrImage(invite, className = "qr") {
  const bytes = new TextEncoder().encode(invite.qr_svg);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  const src = `data:image/svg+xml;base64,${btoa(binary)}`;
  return h("img", { src, class: className, alt: `QR code of the invite link ${invite.link}` });
}

/**
 * The warning signs by the window each applies in (its own hours after needling, shortest
 * first), then those for any time: [heading, flags] pairs, empty groups left out.
 */
function flagGroups(flags, w) {
  const windows = [...new Set(flags.map((f) => f.hours).filter((n) => n != null))].sort((a, b) => a - b);
  return [
    ...windows.map((hours) => [w.within(hours), flags.filter((f) => f.hours === hours)]),
    [w.anyTime, flags.filter((f) => f.hours == null)],
  ].filter(([, group]) => group.length);
}

/** A text's sentences (the catalog's texts use no abbreviations, so a stop then a capital ends one). */
function sentences(text) {
  return text.replace(/([.!?])\s+(?=[¿¡(A-ZÁÉÍÓÚÑ])/g, "$1\n").split("\n");
}

/**
 * Rules by the exercises they are for, each rule once: [titles, rules] pairs in the order first
 * met. Sentences, not whole stop texts: exercises share a sentence far more often than a whole
 * text (a 14-muscle plan has its chest-wall emergency sentence in ten exercises, no whole text twice).
 */
function byExercises(exercises, rulesOf) {
  const titlesOf = new Map();
  for (const e of exercises) {
    for (const rule of rulesOf(e)) {
      if (!titlesOf.has(rule)) titlesOf.set(rule, []);
      if (!titlesOf.get(rule).includes(e.title)) titlesOf.get(rule).push(e.title);
    }
  }
  const groups = new Map();
  for (const [rule, titles] of titlesOf) {
    const key = titles.join("\n");
    if (!groups.has(key)) groups.set(key, [titles, []]);
    groups.get(key)[1].push(rule);
  }
  return [...groups.values()];
}

/** The "Stop and ask" section: each exercise's own stop rules and "ask first" cautions, once each. */
function stopSection(shown, w) {
  // Titles apart by a middle dot: some have commas of their own ("Drink water, skip alcohol").
  const list = (heading, groups) => [
    h("h4", {}, heading),
    h(
      "ul",
      // Two columns for a long list only: a short one in two leaves half its lines empty.
      { class: groups.length > 2 ? "two-columns" : null },
      groups.map(([titles, rules]) =>
        h("li", {}, h("strong", {}, `${titles.length === shown.length && shown.length > 1 ? w.every : titles.join(" · ")}: `), rules.join(" ")),
      ),
    ),
  ];
  const asks = byExercises(shown, (i) => i.ask_first);
  return h(
    "section",
    { class: "handout-stops" },
    h("h3", {}, w.stops),
    list(w.stopIf, byExercises(shown, (i) => sentences(i.stop))),
    asks.length ? list(w.askFirst, asks) : null,
  );
}

/**
 * @param {object} plan the /handout answer
 * @param {object|null} invite {code, link, expires_at, qr_svg}
 */
export function handout(plan, invite) {
  const lang = plan.lang in WORDS ? plan.lang : "en";
  const w = WORDS[lang];
  const long = { day: "numeric", month: "long", year: "numeric" };
  const short = { day: "numeric", month: "short" };
  const treated = plan.treated.map((t) => `${t.name} (${w.sides[t.side]})`).join(", ");

  const spans = plan.phases.filter((p) => p.from_day < FIRST_DAYS);
  const shown = []; // each exercise the routine prints, once, in the order it prints them
  const days = spans.map((phase) => {
    const last = Math.min(phase.to_day, FIRST_DAYS - 1);
    const items = plan.items.filter((i) => i.phase === phase.id && i.from_day <= last && i.to_day >= phase.from_day);
    for (const i of items) if (!shown.some((s) => s.exercise_id === i.exercise_id)) shown.push(i);
    // Each item once, under the times of day it is done at: listed again under each time of day,
    // a plan for 14 muscles took six pages.
    const slotsOf = (i) => SLOTS.filter((slot) => i.slots.includes(slot)).join(" ");
    const rows = WHEN.filter((key) => items.some((i) => slotsOf(i) === key)).map((key) =>
      h(
        "tr",
        {},
        h("th", { scope: "row" }, when(key, w)),
        h(
          "td",
          {},
          h(
            "ul",
            {},
            items
              .filter((i) => slotsOf(i) === key)
              .map((i) =>
                h(
                  "li",
                  {},
                  h("strong", {}, i.title),
                  i.side ? ` (${w.sides[i.side]})` : "",
                  `: ${i.dosage_text}`,
                  i.from_day > phase.from_day || i.to_day < last ? w.onlyDays(i.from_day, i.to_day) : "",
                ),
              ),
          ),
        ),
      ),
    );
    return h(
      "section",
      { class: "handout-phase" },
      h(
        "h4",
        {},
        `${w.days(phase.from_day, last)} · ${phase.name} `,
        h("span", { class: "dates" }, `(${date(plusDays(plan.treated_on, phase.from_day), lang, short)}–${date(plusDays(plan.treated_on, last), lang, short)})`),
      ),
      phase.about ? h("p", { class: "phase-about" }, phase.about) : null,
      rows.length ? h("table", { class: "routine" }, h("tbody", {}, rows)) : h("p", { class: "muted" }, w.nothing),
    );
  });

  const join = invite
    ? h(
        "div",
        { class: "handout-join" },
        qrImage(invite, "qr qr-print"),
        h(
          "div",
          {},
          h("h3", {}, w.joinTitle),
          h("p", {}, w.joinText(invite.link, invite.code, date(invite.expires_at, lang, long))),
          h("p", { class: "code big-code", "aria-label": `${w.codeLabel} ${invite.code}` }, invite.code),
        ),
      )
    : h("div", { class: "handout-join" }, h("p", {}, w.noCode));

  // Who to call: the warning signs say "contact the clinic" (the clinic's name and phone are settings).
  const contact = [w.therapist(plan.therapist_name), plan.clinic_name, plan.clinic_phone && w.phone(plan.clinic_phone)]
    .filter(Boolean)
    .join(" · ");

  return h(
    "article",
    { class: "handout", lang, id: "handout", "aria-labelledby": "handout-title" },
    h(
      "header",
      { class: "handout-head" },
      h("h2", { id: "handout-title" }, w.title),
      h("p", {}, h("strong", {}, plan.display_name), ` · ${w.treated(date(plan.treated_on, lang, long))}`),
      h("p", {}, `${w.muscles}: ${treated}`),
      h("p", { class: "handout-contact" }, contact),
    ),
    join,
    h(
      "section",
      { class: "handout-days" },
      h("h3", {}, w.firstDays),
      h("p", { class: "small" }, w.dayZero),
      days,
      h("p", { class: "small" }, w.later(FIRST_DAYS)),
    ),
    stopSection(shown, w),
    h(
      "section",
      { class: "handout-aftercare" },
      h("h3", {}, w.aftercare(plan.aftercare.hours)),
      h("ul", {}, plan.aftercare.guidance.map((g) => h("li", {}, g))),
      h("p", {}, plan.aftercare.temperature),
      h("p", {}, plan.aftercare.soreness),
    ),
    h(
      "section",
      { class: "handout-flags" },
      h("h3", {}, w.flags),
      h("p", { class: "handout-contact" }, h("strong", {}, `${w.contact}: `), contact),
      flagGroups(plan.red_flags, w).map(([heading, flags]) => [
        h("h4", {}, heading),
        h(
          "ul",
          {},
          flags.map((f) =>
            h(
              "li",
              { class: `urgency-${f.urgency}`, "data-flag": f.id },
              h("strong", {}, `${w.urgency[f.urgency] || f.urgency}: `),
              `${f.sign} `,
              h("em", {}, f.action),
            ),
          ),
        ),
      ]),
    ),
    h("footer", { class: "handout-foot" }, h("p", { class: "small" }, plan.aftercare.disclaimer), h("p", { class: "small muted" }, w.version(plan.version))),
  );
}

// The printed plan, in the patient's language: the QR code and short code, the first week's
// exercises by phase, each with what a patient on paper needs to do it (its times of day and dose,
// the muscles it works on, numbered steps, what to feel, when to stop), the "ask first" cautions,
// the aftercare and the warning signs (grouped by the hours after needling each applies in, its
// own, not the aftercare's). The print stylesheet prints this and nothing else, the exercises in
// two columns: five A4 pages for a usual plan (three or four muscles), twelve for 14 in Spanish
// (the console README has the table).

import { codeGroups, h } from "./dom.js";

const FIRST_DAYS = 7; // day 0 (the day of needling) to day 6
// The sheet counts days as the patient's app does: the day of needling is day 1 (the plan's day 0).
const dayNo = (day) => day + 1;
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
      linkText(link),
      " and type the code ",
      h("strong", { class: "code-inline" }, code),
      `. The code works once, until ${until}.`,
    ],
    noCode: "Ask the clinic for the code to open your program on your phone.",
    firstDays: "Your first week",
    days: (a, b) => (a === b ? `Day ${a}` : `Days ${a}–${b}`),
    onlyDays: (a, b) => (a === b ? ` (day ${a} only)` : ` (days ${a}–${b})`),
    dayOne: "Day 1 is the day of your treatment.",
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
    worksOn: "Works on",
    howTo: "How to do it",
    feel: "What you should feel",
    stopIf: "When to stop",
    asBefore: (a, b) => (a === b ? `How to do it: as on day ${a}, above.` : `How to do it: as on days ${a}–${b}, above.`),
    askFirst: "Ask your clinician before you start",
    every: "All exercises",
    version: (v) => `Plan version ${v}`,
    nothing: "Nothing planned.",
    codeLabel: "Code",
    qrAlt: (link) => `QR code of the invite link ${link}`,
  },
  es: {
    title: "Su programa en casa",
    treated: (date) => `Tratamiento el ${date}`,
    muscles: "Músculos tratados",
    joinTitle: "Abra su programa en el móvil",
    joinText: (link, code, until) => [
      "Escanee el código cuadrado con la cámara del móvil. O abra ",
      linkText(link),
      " y escriba el código ",
      h("strong", { class: "code-inline" }, code),
      `. El código sirve una sola vez, hasta el ${until}.`,
    ],
    noCode: "Pida a la clínica el código para abrir su programa en el móvil.",
    firstDays: "Su primera semana",
    days: (a, b) => (a === b ? `Día ${a}` : `Días ${a}–${b}`),
    onlyDays: (a, b) => (a === b ? ` (solo el día ${a})` : ` (días ${a}–${b})`),
    dayOne: "El día 1 es el día del tratamiento.",
    slots: { morning: "Mañana", midday: "Mediodía", evening: "Tarde y noche" },
    // No "y" between times of day: "Mañana y tarde y noche" reads as three. The app's way instead.
    and: null,
    sides: { left: "lado izquierdo", right: "lado derecho", both: "ambos lados" },
    aftercare: (hours) => `Cuidados: las primeras ${hours} horas`,
    flags: "Señales de alarma",
    within: (hours) => `En las primeras ${hours} horas después del tratamiento`,
    anyTime: "En cualquier momento",
    urgency: { emergency: "Urgencia", "same-day": "Hoy mismo", "contact-clinic": "Contacte con la clínica" },
    therapist: (name) => `Su terapeuta: ${name}`,
    phone: (number) => `Teléfono ${number}`,
    contact: "Para contactar con la clínica",
    later: (day) => `A partir del día ${day}, la aplicación le indica qué hacer cada día a medida que avanza el programa.`,
    worksOn: "Trabaja",
    howTo: "Cómo hacerlo",
    feel: "Qué debería notar",
    stopIf: "Cuándo parar",
    asBefore: (a, b) => (a === b ? `Cómo hacerlo: como el día ${a}, más arriba.` : `Cómo hacerlo: como los días ${a}–${b}, más arriba.`),
    askFirst: "Consulte con su profesional antes de empezar",
    every: "Todos los ejercicios",
    version: (v) => `Versión del plan ${v}`,
    nothing: "Nada previsto.",
    codeLabel: "Código",
    qrAlt: (link) => `Código QR del enlace de invitación ${link}`,
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

/** "Morning, midday and evening" for "morning midday evening" ("Mañana, Mediodía, Tarde y noche"). */
function when(key, w) {
  if (!w.and) return key.split(" ").map((slot) => w.slots[slot]).join(", ");
  const words = key.split(" ").map((slot, n) => (n ? w.slots[slot].toLowerCase() : w.slots[slot]));
  return words.length === 1 ? words[0] : `${words.slice(0, -1).join(", ")} ${w.and} ${words.at(-1)}`;
}

/** The invite link, breaking only after a "/", "#", "=" or "-" (a line break inside the code's
 *  groups reads as another group, as on the hand-over screen). */
function linkText(link) {
  const parts = link.match(/[^/#=-]+[/#=-]*|[/#=-]+/g) || [link];
  return h("span", { class: "link" }, parts.flatMap((p, i) => [i ? h("wbr", {}) : null, p]));
}

/** An <img> of the invite's QR code (the server's SVG as a data: URL, so no markup is parsed);
 *  ``alt`` in the reader's language (the console's English by default). */
export function qrImage(invite, className = "qr", alt = WORDS.en.qrAlt(invite.link)) {
  const bytes = new TextEncoder().encode(invite.qr_svg);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  const src = `data:image/svg+xml;base64,${btoa(binary)}`;
  return h("img", { src, class: className, alt });
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

/** Rules by the exercises they are for, each rule once: [titles, rules] pairs in the order first met. */
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

/**
 * The "ask first" cautions of the exercises shown, each once under the exercises it is for (one
 * is in nine exercises of a 14-muscle plan, too long to repeat in each): null when none has any.
 */
function askSection(shown, w) {
  const groups = byExercises(shown, (i) => i.ask_first);
  if (!groups.length) return null;
  // Titles apart by a middle dot: some have commas of their own ("Drink water, skip alcohol").
  return h(
    "section",
    { class: "handout-ask" },
    h("h4", {}, w.askFirst),
    h(
      "ul",
      {},
      groups.map(([titles, rules]) =>
        h("li", {}, h("strong", {}, `${titles.length === shown.length && shown.length > 1 ? w.every : titles.join(" · ")}: `), rules.join(" ")),
      ),
    ),
  );
}

/**
 * One exercise of a phase: its title, then a line per plan item with its times of day and dose.
 * The first time the sheet shows an exercise it says how to do it (the muscles, the numbered
 * steps, what to feel, when to stop, as the app's exercise screen does); a later phase's block
 * points back to that one, so no exercise's instructions print twice.
 */
function exerciseBlock(items, phase, last, first, w) {
  const [one] = items;
  const doses = items.map((i) =>
    h(
      "p",
      { class: "dose" },
      h("strong", {}, `${when(slotsOf(i), w)}: `),
      i.dosage_text,
      i.from_day > phase.from_day || i.to_day < last ? w.onlyDays(dayNo(i.from_day), dayNo(i.to_day)) : "",
    ),
  );
  const title = h("h5", {}, one.title, one.side ? ` (${w.sides[one.side]})` : "");
  if (first) {
    return h("section", { class: "handout-exercise", "data-exercise": one.exercise_id }, title, doses, h("p", { class: "small howto" }, w.asBefore(dayNo(first.from), dayNo(first.to))));
  }
  return h(
    "section",
    { class: "handout-exercise", "data-exercise": one.exercise_id },
    title,
    doses,
    // "howto": what the short sheet (for a patient who has the app) leaves out; never the stop rule.
    one.muscles.length ? h("p", { class: "targets howto" }, h("strong", {}, `${w.worksOn}: `), one.muscles.join(", ")) : null,
    h("ol", { class: "steps howto", "aria-label": w.howTo }, one.steps.map((step) => h("li", {}, step))),
    h("p", { class: "feel howto" }, h("strong", {}, `${w.feel}: `), one.feel),
    h("p", { class: "stop" }, h("strong", {}, `${w.stopIf}: `), one.stop),
  );
}

/** An item's times of day as one key of WHEN ("morning evening"). */
function slotsOf(item) {
  return SLOTS.filter((slot) => item.slots.includes(slot)).join(" ");
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
  const shown = []; // each exercise the sheet prints, once, in the order it prints them
  const firstShown = new Map(); // exercise id -> the days of the phase that says how to do it
  const days = spans.map((phase) => {
    const last = Math.min(phase.to_day, FIRST_DAYS - 1);
    const items = plan.items.filter((i) => i.phase === phase.id && i.from_day <= last && i.to_day >= phase.from_day);
    // Each exercise once per phase, the ones done at every time of day first: an item under each
    // of its times of day again took six pages for 14 muscles.
    const order = (i) => WHEN.indexOf(slotsOf(i));
    const byExercise = new Map();
    for (const i of [...items].sort((a, b) => order(a) - order(b))) {
      if (!byExercise.has(i.exercise_id)) byExercise.set(i.exercise_id, []);
      byExercise.get(i.exercise_id).push(i);
    }
    const blocks = [...byExercise].map(([id, group]) => {
      const block = exerciseBlock(group, phase, last, firstShown.get(id), w);
      if (!firstShown.has(id)) {
        firstShown.set(id, { from: phase.from_day, to: last });
        shown.push(group[0]);
      }
      return block;
    });
    return h(
      "section",
      { class: "handout-phase" },
      h(
        "h4",
        {},
        `${w.days(dayNo(phase.from_day), dayNo(last))} · ${phase.name} `,
        h("span", { class: "dates" }, `(${date(plusDays(plan.treated_on, phase.from_day), lang, short)}–${date(plusDays(plan.treated_on, last), lang, short)})`),
      ),
      phase.about ? h("p", { class: "phase-about" }, phase.about) : null,
      blocks.length ? h("div", { class: "handout-exercises" }, blocks) : h("p", { class: "muted" }, w.nothing),
    );
  });

  const join = invite
    ? h(
        "div",
        { class: "handout-join" },
        qrImage(invite, "qr qr-print", w.qrAlt(invite.link)),
        h(
          "div",
          {},
          h("h3", {}, w.joinTitle),
          h("p", {}, w.joinText(invite.link, invite.code, date(invite.expires_at, lang, long))),
          h("p", { class: "code big-code", "aria-label": `${w.codeLabel} ${invite.code}` }, codeGroups(invite.code)),
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
      "div",
      { class: "handout-top" },
      h(
        "header",
        { class: "handout-head" },
        h("h2", { id: "handout-title" }, w.title),
        h("p", {}, h("strong", {}, plan.display_name), ` · ${w.treated(date(plan.treated_on, lang, long))}`),
        h("p", {}, `${w.muscles}: ${treated}`),
        h("p", { class: "handout-contact" }, contact),
      ),
      join,
    ),
    h(
      "section",
      { class: "handout-days" },
      h("h3", {}, w.firstDays),
      h("p", { class: "small" }, w.dayOne),
      askSection(shown, w),
      days,
      h("p", { class: "small" }, w.later(dayNo(FIRST_DAYS))),
    ),
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
      // On a line of its own: "To contact the clinic: Your therapist: …" had two colons.
      h("p", { class: "handout-contact" }, h("strong", {}, w.contact), h("br"), contact),
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

// A tiny element builder for the console. Text always goes in as text (never HTML), so
// content from the server cannot inject markup; no inline styles, so the strict CSP holds.
// Its own copy of the patient app's /js/dom.js, with SVG and form helpers, on purpose: the
// patient app's service worker serves /js/ from its versioned cache, which right after a
// deploy can be older than the console importing from it.

const SVG_NS = "http://www.w3.org/2000/svg";
const PROPS = ["value", "checked", "disabled", "hidden", "open", "htmlFor", "id", "max", "min", "selected"];

function build(el, props, children) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") {
      const names = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
      if (names) el.setAttribute("class", names);
    } else if (key === "text") el.textContent = value;
    else if (key === "on") for (const [type, fn] of Object.entries(value)) el.addEventListener(type, fn);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (PROPS.includes(key) && !(el instanceof SVGElement)) el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

/**
 * h("button", {class: "primary", on: {click}, "aria-pressed": "true"}, "Assign", child, ...)
 * Keys: class, text, on (event handlers), dataset, and for value/checked/disabled/hidden/open/
 * htmlFor/id/max/min/selected the DOM property; anything else becomes an attribute
 * (null, undefined and false skip it).
 */
export function h(tag, props, ...children) {
  return build(document.createElement(tag), props, children);
}

/** The same for SVG elements (every key becomes an attribute). */
export function s(tag, props, ...children) {
  return build(document.createElementNS(SVG_NS, tag), props, children);
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's content. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let uid = 0;
/** A fresh id for label and aria wiring. */
export function newId(prefix = "c") {
  uid += 1;
  return `${prefix}${uid}`;
}

/** A labelled form field: <div class="field"><label>…</label><control></div>. */
export function field(label, control, hint) {
  if (!control.id) control.id = newId("f");
  let hintEl = null;
  if (hint) {
    hintEl = h("span", { class: "hint", id: newId("h") }, hint);
    control.setAttribute("aria-describedby", hintEl.id);
  }
  return h("div", { class: "field" }, h("label", { htmlFor: control.id }, label), control, hintEl);
}

/** Case- and accent-insensitive text for searching ("Peroné" matches "perone"). */
export function fold(text) {
  return String(text).normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
}

/** An invite code ("XF76-W66B-9537-B99H") that wraps only between its groups, never inside one:
 *  read off a narrow screen, "B / 99H" looks like two groups. The text stays the code itself. */
export function codeGroups(code) {
  const groups = code.match(/[^-]+-?/g) || [code];
  return groups.flatMap((g, i) => [i ? h("wbr", {}) : null, h("span", { class: "code-group" }, g)]);
}

// A tiny element builder. Text always goes in as text (never HTML), so content from the
// server cannot inject markup; no inline styles, so the strict CSP holds.

/**
 * h("button", {class: "big", on: {click}, "aria-pressed": "true"}, "Start", child, ...)
 * Keys: class, text, on (event handlers), and for value/checked/disabled/hidden/open/
 * htmlFor/id the DOM property; anything else becomes an attribute (null/false skip it).
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    else if (key === "text") el.textContent = value;
    else if (key === "on") for (const [type, fn] of Object.entries(value)) el.addEventListener(type, fn);
    else if (["value", "checked", "disabled", "hidden", "open", "htmlFor", "id", "max"].includes(key)) el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's content. Not with replaceChildren: Chrome before 86 (Android WebView,
 *  Samsung Internet 13 and older) lacks it, and then no screen would draw. */
export function fill(el, ...children) {
  while (el.firstChild) el.firstChild.remove();
  append(el, children);
  return el;
}

let uid = 0;
/** A fresh id for label/aria wiring. */
export function newId(prefix = "u") {
  uid += 1;
  return `${prefix}${uid}`;
}

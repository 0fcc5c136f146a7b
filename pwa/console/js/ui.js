// Shared bits of interface: the status toast, a confirm dialog, error messages.

import { ApiError } from "./api.js";
import { fill, h } from "./dom.js";

let toastTimer = null;

/** A short message in the polite live region at the bottom of the screen. */
export function toast(message) {
  const el = document.getElementById("toast");
  fill(el, message);
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => fill(el), 6000);
}

/** A sentence for an error from api(). */
export function explain(err) {
  if (!(err instanceof ApiError)) return `Something went wrong: ${err.message || err}`;
  if (err.status === 0) return "The server cannot be reached. Check the connection and try again.";
  if (err.status === 401) return "Your session had ended, so this was not done. Sign in again, then repeat it.";
  const fields = (err.body && err.body.errors) || [];
  if (fields.length) return fields.map((f) => `${f.field}: ${f.message}`).join("; ");
  return err.message;
}

/** An alert box for an error (role=alert so screen readers hear it). */
export function errorBox(err) {
  return h("div", { class: "alert", role: "alert" }, explain(err));
}

/** Ask before something that cannot be undone; resolves true on confirm. */
export function confirmDialog({ title, body, confirm = "Confirm", cancel = "Cancel", danger = false }) {
  return new Promise((resolve) => {
    const dialog = h(
      "dialog",
      { class: "dialog", "aria-labelledby": "dialog-title", "aria-describedby": body ? "dialog-body" : null },
      h(
        "form",
        { method: "dialog" },
        h("h2", { id: "dialog-title" }, title),
        body ? h("p", { id: "dialog-body" }, body) : null,
        h(
          "div",
          { class: "buttons" },
          h("button", { value: "cancel", class: "secondary", type: "submit" }, cancel),
          h("button", { value: "ok", class: danger ? "danger" : "primary", type: "submit" }, confirm),
        ),
      ),
    );
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok");
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Disable a button while an async action runs; errors go to `onError`. */
export async function busy(button, fn) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await fn();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

/** A card section with a heading. */
export function card(title, ...children) {
  const id = `card-${title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title), ...children);
}

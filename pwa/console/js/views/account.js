// The signed-in therapist's account: change the password. The other sessions of the account are
// signed out by the server; this one stays, under a new cookie. A forgotten password is for an
// administrator: `unknot set-password` (the sign-in screen says so).

import { api, ApiError, setCsrf } from "../api.js";
import { field, fill, h } from "../dom.js";
import { busy, card, explain } from "../ui.js";

const MIN_LENGTH = 10; // as server/auth/secrets.py MIN_PASSWORD_LENGTH

function sessionsEnded(n) {
  if (n === 0) return "You were not signed in anywhere else.";
  return n === 1 ? "1 other session was signed out." : `${n} other sessions were signed out.`;
}

export async function render(_params, ctx) {
  const email = h("input", { type: "email", autocomplete: "username", value: ctx.therapist.email, readonly: true });
  const current = h("input", { type: "password", autocomplete: "current-password", required: true });
  const next = h("input", { type: "password", autocomplete: "new-password", required: true, minlength: MIN_LENGTH });
  const again = h("input", { type: "password", autocomplete: "new-password", required: true });
  const problem = h("div", { class: "alert", role: "alert", hidden: true });
  const done = h("p", { class: "ok", role: "status" });
  const submit = h("button", { type: "submit", class: "primary" }, "Change password");

  function refuse(message, input) {
    fill(problem, message);
    problem.hidden = false;
    input.focus();
  }

  const form = h(
    "form",
    { class: "password-form", novalidate: true, id: "password-form" },
    field("Email", email),
    field("Current password", current),
    field("New password", next, `At least ${MIN_LENGTH} characters. A few unrelated words are easy to remember.`),
    field("New password again", again),
    problem,
    h("div", { class: "buttons" }, submit),
    done,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    problem.hidden = true;
    fill(done);
    if (!current.value) return refuse("Enter your current password.", current);
    // Characters as the server counts them: an emoji is one, though two UTF-16 units (`.length`).
    if ([...next.value].length < MIN_LENGTH) return refuse(`The new password needs at least ${MIN_LENGTH} characters.`, next);
    if (next.value !== again.value) return refuse("The two new passwords are not the same.", again);
    if (next.value === current.value) return refuse("The new password is the same as the current one.", next);
    return busy(submit, async () => {
      try {
        const result = await api("/auth/password", {
          method: "POST",
          body: { current_password: current.value, new_password: next.value },
        });
        // The server renewed this browser's session (a copy of the old cookie stops working): the
        // changes from now on carry the new session's token.
        setCsrf(result.csrf_token, ctx.therapist.id);
        for (const input of [current, next, again]) input.value = "";
        fill(done, `Password changed. ${sessionsEnded(result.other_sessions_ended)}`);
      } catch (err) {
        const wrongField = err instanceof ApiError && err.status === 422 && err.body && err.body.errors[0];
        if (wrongField && wrongField.field === "current_password") refuse("The current password is not right.", current);
        else refuse(explain(err), current);
      }
    });
  });

  const node = h(
    "section",
    { class: "view view-account" },
    h("h1", {}, "Your account"),
    h("p", { class: "lead" }, `Signed in as ${ctx.therapist.name}.`),
    card(
      "Change password",
      h("p", { class: "muted" }, "Your other computers and browsers will have to sign in again with the new password."),
      form,
    ),
  );
  return { node, title: "Your account", focus: current };
}

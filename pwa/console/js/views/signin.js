// Sign in with the clinic account. The session is an HttpOnly cookie; the page keeps the CSRF token.

import { api } from "../api.js";
import { field, fill, h } from "../dom.js";
import { busy, explain } from "../ui.js";

export async function render(_params, ctx) {
  const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true });
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const problem = h("div", { class: "alert", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h(
    "form",
    { class: "card signin", novalidate: true },
    field("Email", email),
    field("Password", password),
    problem,
    submit,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    problem.hidden = true;
    if (!email.value.trim() || !password.value) {
      fill(problem, "Enter your email and password.");
      problem.hidden = false;
      (email.value.trim() ? password : email).focus();
      return;
    }
    busy(submit, async () => {
      try {
        const session = await api("/auth/login", {
          method: "POST",
          body: { email: email.value.trim(), password: password.value },
          quiet401: true,
        });
        ctx.signedIn(session);
      } catch (err) {
        fill(problem, err.status === 401 ? "Wrong email or password." : explain(err));
        problem.hidden = false;
        password.select();
        password.focus();
      }
    });
  });
  const node = h(
    "section",
    { class: "view view-signin" },
    h("h1", {}, "Unknot console"),
    h("p", { class: "lead" }, "Sign in to see your patients and assign home programs."),
    form,
    h("p", { class: "muted" }, "Forgot your password? Whoever runs Unknot at your clinic can set a new one ",
      "(", h("code", {}, "unknot set-password"), ")."),
  );
  return { node, title: "Sign in", focus: email };
}

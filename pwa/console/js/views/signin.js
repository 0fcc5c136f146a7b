// Sign in with the clinic account. The session is an HttpOnly cookie; the page keeps the CSRF token.
// When a session ends while a page is open (it expired, or the password was changed elsewhere),
// signInAgain() asks for the password over the page, so nothing typed or picked there is lost.

import { api } from "../api.js";
import { field, fill, h } from "../dom.js";
import { busy, explain } from "../ui.js";

// The password was right but the browser did not keep the session cookie: a server run for
// production (its cookie is Secure) opened over plain http, or cookies blocked for the site.
// Without this the next request is refused and the form comes straight back as "session ended".
const NOT_KEPT = "Your email and password are right, but this browser did not keep the sign-in. " +
  "Open the console at the clinic's https:// address (over plain http the sign-in is not kept), " +
  "and allow cookies for this site.";

class NotKept extends Error {}

async function login(email, password) {
  const session = await api("/auth/login", { method: "POST", body: { email, password }, quiet401: true });
  try {
    await api("/auth/me", { quiet401: true });
  } catch (err) {
    if (err.status === 401) throw new NotKept(NOT_KEPT);
    // Anything else (the network for a moment) says nothing about the cookie: go on signed in.
  }
  return session;
}

/** The sign-in form's own checks and errors; `onSession` gets the new session. */
function signInForm({ email, password, problem, submit, onSession }) {
  return async (event) => {
    event.preventDefault();
    problem.hidden = true;
    if (!email.value.trim() || !password.value) {
      fill(problem, "Enter your email and password.");
      problem.hidden = false;
      (email.value.trim() ? password : email).focus();
      return;
    }
    await busy(submit, async () => {
      try {
        onSession(await login(email.value.trim(), password.value));
      } catch (err) {
        if (err instanceof NotKept) fill(problem, err.message);
        else fill(problem, err.status === 401 ? "Wrong email or password." : explain(err));
        problem.hidden = false;
        password.select();
        password.focus();
      }
    });
  };
}

function inputs(email = "") {
  return {
    email: h("input", { type: "email", name: "email", autocomplete: "username", required: true, value: email }),
    password: h("input", { type: "password", name: "password", autocomplete: "current-password", required: true }),
    problem: h("div", { class: "alert", role: "alert", hidden: true }),
  };
}

export async function render(_params, ctx) {
  const { email, password, problem } = inputs();
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h(
    "form",
    { class: "card signin", novalidate: true },
    field("Email", email),
    field("Password", password),
    problem,
    submit,
  );
  form.addEventListener("submit", signInForm({ email, password, problem, submit, onSession: ctx.signedIn }));
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

// Closes the open "sign in again" question with a session from elsewhere (see giveSession).
let giveTo = null;

/** Ask for the password again over the current page, saying `why` when given; resolves to the new
 *  session, or null if the therapist chose to sign out instead. */
export function signInAgain(previousEmail, why = "") {
  return new Promise((resolve) => {
    const { email, password, problem } = inputs(previousEmail);
    const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
    const cancel = h("button", { type: "button", class: "secondary" }, "Sign out");
    let session = null;
    const form = h(
      "form",
      { class: "signin", novalidate: true },
      h("h2", { id: "reauth-title" }, "Your session has ended"),
      h("p", { id: "reauth-body" }, why ? why + " " : null, "Sign in again to go on. What you entered on this page is still there; repeat your last step afterwards."),
      field("Email", email),
      field("Password", password),
      problem,
      h("div", { class: "buttons" }, cancel, submit),
    );
    const dialog = h(
      "dialog",
      { class: "dialog", id: "reauth", "aria-labelledby": "reauth-title", "aria-describedby": "reauth-body" },
      form,
    );
    const take = (fresh) => {
      session = fresh;
      dialog.close();
    };
    form.addEventListener("submit", signInForm({ email, password, problem, submit, onSession: take }));
    cancel.addEventListener("click", () => dialog.close());
    // Escape would throw the page away: leaving takes the explicit "Sign out".
    dialog.addEventListener("cancel", (event) => event.preventDefault());
    giveTo = take;
    dialog.addEventListener("close", () => {
      giveTo = null;
      dialog.remove();
      resolve(session);
    });
    document.body.append(dialog);
    dialog.showModal();
    password.focus();
  });
}

/** Answer the open "sign in again" question with `session`, signed in in another tab of this
 *  browser: its promise resolves to it as if signed in here. */
export function giveSession(session) {
  if (giveTo) giveTo(session);
}

// Joining: the invite link does it by itself; otherwise the patient types the code.

import { ApiError, isOffline } from "../api.js";
import { h, newId } from "../dom.js";
import { t } from "../i18n.js";

/** Plain words for a failed join. */
export function joinError(err) {
  if (!(err instanceof ApiError)) return t("join_offline");
  if (err.status === 404) return t("join_unknown");
  if (err.status === 410) return t("join_gone");
  if (err.status === 429) return t("join_too_many");
  if (err.status === 422 || err.status === 400) return t("join_check_code");
  return t("join_failed");
}

// A join that found no network (or no answer came) is tried again by itself after these waits
// while its screen is open and the phone online: the join id makes a repeat safe (one whose answer
// was lost is the same join to the server), so the patient need not find and tap Start again.
const RETRY_MS = [2000, 4000, 8000];

/** An invite code as the server makes it: 16 letters and digits of Crockford's base32. */
const INVITE = /^[0-9A-HJKMNP-TV-Z]{16}$/;

/**
 * A code as typed or copied (spaces, dashes of any kind, a full stop, quotes, a line break): its
 * letters and digits, upper case, with the look-alikes the server also accepts (O for 0, I and L
 * for 1). `complete` when it has the shape of a whole code.
 */
export function cleanCode(text) {
  // NFKC: full-width letters from some keyboards count. Anything else is dropped before upper
  // case, which would make "ß" into "SS".
  const raw = text.normalize("NFKC").replace(/[^A-Za-z0-9]/g, "").toUpperCase()
    .replace(/O/g, "0").replace(/[IL]/g, "1");
  const letters = raw.slice(0, 32);
  return { code: (letters.match(/.{1,4}/g) || []).join("-"), complete: INVITE.test(letters) };
}

/**
 * The code in an invite link's "#join=" part, however a messaging app or a copy passed it on
 * ("%20", "&utm_source=...", and all that `cleanCode` drops).
 */
export function linkCode(value) {
  let text = value;
  try {
    text = decodeURIComponent(value);
  } catch { /* a stray "%": read as it is */ }
  return cleanCode(text.split(/[&?#]/)[0]);
}

export function renderJoin(app, { code = "", error = null, notice = "", revoked = false }) {
  app.forgetOldJoin();
  const inputId = newId("code");
  const hintId = newId("hint");
  const messageId = newId("problem");
  // Filled only once the screen is in the page: an alert inserted already filled may not be read out.
  const message = h("p", { class: "error", role: "alert", id: messageId });
  // How the tries by itself go ("Still connecting…"): polite, as nothing is wrong yet.
  const progress = h("p", { class: "muted join-progress", role: "status" });
  // The field is described by what went wrong too: focus goes to it as the alert comes, and a
  // screen reader that reads the field may cut the alert short; the message is then heard with it.
  const say = (text) => {
    message.textContent = text;
    if (text) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  };
  let tries = 0;
  // A link's join that found no network goes on by itself here (see retry).
  const again = Boolean(error && code && canRetry(error));
  let first = error && !again ? joinError(error) : notice;
  if (first) setTimeout(() => { if (first) say(first); }, 100);
  const input = h("input", {
    id: inputId, name: "code", type: "text", value: code, autocomplete: "off", autocapitalize: "characters",
    spellcheck: "false", required: true, maxlength: "64", "aria-describedby": `${messageId} ${hintId}`,
    enterkeyhint: "go",
  });
  const submit = h("button", { class: "btn big", type: "submit", text: t("join_button") });
  // A slow network: the button says what is happening, not only greyed out.
  const busy = (on) => {
    submit.disabled = on;
    submit.textContent = t(on ? "joining" : "join_button");
  };

  /** Whether a failed join is tried again by itself: it failed on the way (no network, no answer
   *  in time), not at the clinic ("used", "expired"), and the phone is online, with tries left. */
  function canRetry(err) {
    return isOffline(err) && tries < RETRY_MS.length && navigator.onLine;
  }

  /** Try `value` again after the next wait, while this screen is open. */
  function retry(value) {
    const wait = RETRY_MS[tries];
    tries += 1;
    busy(true);
    progress.textContent = t("join_still", { n: tries + 1, total: RETRY_MS.length + 1 });
    // A question before the first try (unsent records of someone else) is not asked again.
    setTimeout(() => { if (form.isConnected) attempt(value, true); }, wait);
  }

  async function attempt(value, confirmed = false) {
    busy(true);
    say("");
    try {
      // Today, unless the patient opened another screen while the join was finishing.
      const here = app.route;
      const joined = await app.join(value, { confirmed });
      tries = 0;
      progress.textContent = "";
      busy(false);
      if (!joined) message.textContent = t("join_cancelled");
      else if (app.route === here) app.go("#/today");
    } catch (err) {
      if (canRetry(err)) {
        retry(value);
        return;
      }
      tries = 0;
      progress.textContent = "";
      busy(false);
      say(joinError(err));
      input.focus();
    }
  }

  const form = h("form", {
    class: "join-form",
    novalidate: true,
    on: {
      submit: (event) => {
        event.preventDefault();
        first = "";
        // Sent as a link's code is: a full stop or a quote copied with it is no part of it.
        const value = cleanCode(input.value).code;
        if (value.replace(/-/g, "").length < 4) {
          say(t("join_check_code"));
          input.focus();
          return;
        }
        attempt(value);
      },
    },
  },
  h("label", { htmlFor: inputId, class: "field-label", text: t("join_code_label") }),
  h("p", { id: hintId, class: "muted", text: t("join_code_hint") }),
  input,
  message,
  progress,
  submit);
  // Once the screen is in the page, so that its progress is read out (see message).
  if (again) setTimeout(() => retry(code), 100);

  // After a removal: what happened (removed by the clinic, or expired unused), what left the phone
  // (unsent records included), how to join again.
  const unsent = revoked ? app.revokedUnsent || 0 : 0;
  return h("section", { class: "screen join" },
    h("h1", { text: revoked ? t("revoked_title") : t("join_title") }),
    h("p", { class: "lead", text: t(revoked ? (app.revokedExpired ? "expired_text" : "revoked_text") : "join_intro") }),
    unsent ? h("p", { class: "revoked-unsent", text: t("revoked_unsent", { n: unsent }) }) : null,
    revoked ? h("p", { text: t("revoked_again") }) : null,
    form,
    h("p", { class: "muted", text: t("join_privacy") }));
}

// A patient's page: adherence calendar, soreness and pain, what they logged, their plan,
// devices, reminders and the audit trail; name, time zone and language, archive, export.

import { api, download, maybe } from "../api.js";
import { loadExercises, loadMuscles } from "../catalog.js";
import { calendar, trendChart } from "../charts.js";
import { field, fill, h } from "../dom.js";
import { addDays, ago, dateTime, daysBetween, localDate, longDate, parseDate, percent, plural, shortDate, SIDE_NAMES, SLOT_NAMES, todayIso } from "../format.js";
import { busy, card, confirmDialog, explain, LEAVING, markFields } from "../ui.js";
import { attentionBadges, languageSelect, zoneSelect } from "./patients.js";

const CALENDAR_WEEKS = 5;
const LANGS = { en: "English", es: "Español" };

async function optional(path) {
  // Optional panels (the reminders module may not be installed): a 404 or an error hides nothing else.
  try {
    return { value: await maybe(path) };
  } catch (err) {
    return { error: err };
  }
}

/** This calendar week's adherence (Monday first), or null with no plan. */
function thisWeek(adherence) {
  if (!adherence.days.length) return null;
  const weekday = (parseDate(adherence.today).getDay() + 6) % 7;
  const start = addDays(adherence.today, -weekday);
  return adherence.weeks.find((w) => w.week_start === start) || null;
}

/** A card across both columns of the page. */
function wide(section) {
  section.classList.add("wide");
  return section;
}

function table(caption, head, rows, empty) {
  if (!rows.length) return h("p", { class: "muted" }, empty);
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "data" },
      h("caption", { class: "sr-only" }, caption),
      h("thead", {}, h("tr", {}, head.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows),
    ),
  );
}

function doneText(c) {
  // Taken back by the patient (a mis-tap): kept in the history, counted nowhere.
  if (c.withdrawn_at) return h("span", { class: "muted", title: `Taken back ${dateTime(c.withdrawn_at)}` }, "taken back");
  const parts = [];
  if (c.sets_done) parts.push(plural(c.sets_done, "set", "sets"));
  if (c.reps_done) parts.push(`${c.reps_done} reps`);
  if (c.hold_seconds_done) parts.push(`${c.hold_seconds_done} s hold`);
  return parts.join(", ") || "done";
}

function activityCard(records, exercises) {
  const recent = [...records.completions].reverse();
  const counted = records.completions.filter((c) => !c.withdrawn_at).length;
  const rows = recent.slice(0, 30).map((c) =>
    h(
      "tr",
      { "data-completion": c.id, class: c.withdrawn_at ? "withdrawn" : "" },
      h("td", {}, h("time", { datetime: c.done_at, title: dateTime(c.done_at) }, shortDate(c.on_date))),
      h("td", {}, SLOT_NAMES[c.slot] || c.slot),
      h("th", { scope: "row" }, (exercises.get(c.exercise_id) || { title: c.exercise_id }).title),
      h("td", {}, doneText(c)),
      h("td", { class: "num" }, c.pain === null || c.pain === undefined ? "—" : `${c.pain}/10`),
      h("td", {}, c.note || ""),
    ),
  );
  return card(
    "Recent activity",
    h("p", { class: "muted small" }, `${plural(counted, "exercise", "exercises")} logged in the last ${daysBetween(records.first, records.last) + 1} days (from ${shortDate(records.first)})${recent.length > 30 ? "; the latest 30 are shown, the CSV export has all" : ""}.`),
    table("Exercises the patient logged, newest first", ["Date", "Time of day", "Exercise", "Done", "Pain", "Note"], rows, "Nothing logged yet."),
  );
}

/** A check-in's red flags, an emergency-level sign first and named so ("Urgent: …"), not by colour alone. */
function flagList(c, records) {
  const urgent = new Set(records.urgent_signs || []);
  const ordered = [...c.red_flags].sort((a, b) => Number(urgent.has(b)) - Number(urgent.has(a)));
  return h(
    "ul",
    { class: "flags" },
    ordered.map((f) =>
      h("li", { class: urgent.has(f) ? "urgent" : "" }, urgent.has(f) ? h("strong", {}, "Urgent: ") : null, records.red_flag_signs[f] || f),
    ),
  );
}

/** "Handled 27 Nov 2026, 10:05 by Dr Ana Ruiz", with the note; the time in the patient's zone as the rest of the page. */
function handledText(mark, timeZone) {
  return h(
    "div",
    { class: "handled" },
    h("span", {}, "Handled ", h("time", { datetime: mark.at, title: `Time in ${timeZone}` }, dateTime(mark.at, timeZone)), ` by ${mark.therapist_name}`),
    mark.note ? h("span", { class: "muted small handled-note" }, mark.note) : null,
  );
}

/** The "Mark as handled" button of a flagged check-in (`when`: its day, as its row says it),
 *  opening a short optional note and the confirming button; a stored mark reloads the page (the
 *  badges above go with it). */
function handleControl(id, c, ctx, when) {
  const open = h("button", { type: "button", class: "secondary small", "aria-expanded": "false", "aria-label": `Mark the red flags of ${when} as handled` }, "Mark as handled");
  const note = h("input", { name: "note", maxlength: "200", autocomplete: "off" });
  const problem = h("p", { class: "alert", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", class: "primary small" }, "Mark as handled");
  const form = h(
    "form",
    { class: "handle-form", hidden: true, novalidate: true, "aria-label": `Red flags of ${when}` },
    field("Note (optional)", note, "What was done, e.g. called the patient."),
    h("div", { class: "buttons" }, submit, h("button", { type: "button", class: "secondary small", on: { click: () => close() } }, "Cancel")),
    problem,
  );
  function close() {
    form.hidden = true;
    open.hidden = false;
    open.setAttribute("aria-expanded", "false");
    open.focus();
  }
  open.addEventListener("click", () => {
    form.hidden = false;
    open.hidden = true;
    open.setAttribute("aria-expanded", "true");
    note.focus();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (submit.disabled) return; // sent already
    problem.hidden = true;
    busy(submit, async () => {
      try {
        await api(`/patients/${id}/checkins/${c.id}/handled`, { method: "POST", body: { note: note.value.trim() } });
        form.dataset.saved = ""; // nothing unsaved: the reload below must not ask
        ctx.handoff.set("toast", `The red flags of ${when} are marked as handled.`);
        ctx.navigate(`#/patients/${id}`);
        return LEAVING;
      } catch (err) {
        fill(problem, explain(err));
        problem.hidden = false;
        markFields(err, { note });
      }
    });
  });
  return [open, form];
}

/** The ids of the check-ins whose warning signs no therapist has marked as handled yet. */
function unhandledFlags(records) {
  const handled = new Set((records.handled || []).map((m) => m.checkin_id));
  return new Set(records.checkins.filter((c) => c.red_flags.length && !handled.has(c.id)).map((c) => c.id));
}

function checkinCard(records, { id, timeZone, archived, ctx }) {
  const handled = new Map((records.handled || []).map((m) => [m.checkin_id, m]));
  // A day with several check-ins gives each its time (in the patient's zone): the rows, and the
  // buttons that mark their red flags as handled, are told apart by more than a hover.
  const perDay = new Map();
  for (const c of records.checkins) perDay.set(c.on_date, (perDay.get(c.on_date) || 0) + 1);
  const clock = new Intl.DateTimeFormat("en", { timeStyle: "short", timeZone });
  const when = (c) => (perDay.get(c.on_date) > 1
    ? `${shortDate(c.on_date)}, ${clock.format(new Date(c.done_at))}` : shortDate(c.on_date));
  const follow = (c) => {
    if (!c.red_flags.length) return "";
    const mark = handled.get(c.id);
    if (mark) return handledText(mark, timeZone);
    return archived ? h("span", { class: "muted" }, "not handled") : handleControl(id, c, ctx, when(c));
  };
  // The latest 30, and any older one whose warning signs are still to be marked as handled: the
  // badge stays until they are, so the button to do it must stay too.
  const newest = [...records.checkins].reverse();
  const unhandled = unhandledFlags(records);
  const shown = newest.filter((c, i) => i < 30 || unhandled.has(c.id));
  const rows = shown.map((c) =>
    h(
      "tr",
      { class: c.red_flags.length ? (handled.has(c.id) ? "flagged handled" : "flagged") : "", "data-checkin": c.id },
      h("th", { scope: "row" }, h("time", { datetime: c.done_at, title: `${dateTime(c.done_at, timeZone)} (${timeZone})` }, when(c))),
      h("td", { class: "num" }, h("span", { class: ["score", c.soreness >= 7 ? "high" : ""] }, `${c.soreness}/10`)),
      h("td", {}, c.red_flags.length ? flagList(c, records) : "none"),
      h("td", {}, c.note || ""),
      h("td", {}, follow(c)),
    ),
  );
  return card(
    "Check-ins",
    newest.length > shown.length
      ? h("p", { class: "muted small" }, `The latest 30 of ${newest.length} check-ins are shown, and any older one with warning signs not yet marked as handled; the CSV export has all.`)
      : null,
    table("Daily check-ins, newest first", ["Date", "Soreness", "Red flags", "Note", "Follow-up"], rows, "No check-ins yet."),
  );
}

function planCard(id, plan, history, muscles) {
  if (!plan) {
    return card(
      "Plan",
      h("p", {}, "No plan assigned yet."),
      h("p", {}, h("a", { href: `#/patients/${id}/treat`, class: "button primary" }, "Record a treatment")),
    );
  }
  const treated = plan.program.treated.map((t) => `${(muscles.byId.get(t.muscle) || { name: t.muscle }).name} (${SIDE_NAMES[t.side]})`);
  // A plan prepared for a booked visit starts on its date; until then the newest plan dated before
  // it goes on (one prepared for a later visit, made before the visit moved forward, never runs).
  const before = history.find((p) => p.id !== plan.id && p.program.treated_on < plan.program.treated_on);
  const ahead = plan.program.treated_on > todayIso()
    ? h(
        "p",
        { class: "note", id: "plan-ahead" },
        `Starts on ${longDate(plan.program.treated_on)}. `,
        before
          ? `Until then the patient keeps the plan treated on ${longDate(before.program.treated_on)}.`
          : "Until then the patient's app shows no exercises.",
      )
    : null;
  return card(
    "Plan",
    ahead,
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Treated on"),
      h("dd", {}, longDate(plan.program.treated_on)),
      h("dt", {}, "Muscles"),
      h("dd", {}, treated.join(", ")),
      h("dt", {}, "Items"),
      h("dd", {}, String(plan.program.items.length)),
      h("dt", {}, "Version"),
      h("dd", {}, `${plan.version}, changed ${ago(plan.updated_at)}`),
      plan.notes ? [h("dt", {}, "Notes"), h("dd", {}, plan.notes)] : null,
    ),
    h(
      "div",
      { class: "buttons" },
      h("a", { href: `#/patients/${id}/plan`, class: "button secondary" }, "Adjust plan"),
      h("a", { href: `#/patients/${id}/handover`, class: "button secondary" }, "Print or hand over"),
    ),
    history.length > 1
      ? h(
          "details",
          {},
          h("summary", {}, `Earlier plans (${history.length - 1})`),
          h(
            "ul",
            {},
            history.slice(1).map((p) => {
              const treated = p.program.treated.map((t) => `${(muscles.byId.get(t.muscle) || { name: t.muscle }).name} (${SIDE_NAMES[t.side]})`);
              return h("li", {}, `Treated ${longDate(p.program.treated_on)}: ${treated.join(", ")} · version ${p.version}`);
            }),
          ),
        )
      : null,
  );
}

/** A device as the console names it: its label, and when another device still joined has the
 *  same label ("iPhone" twice after a new phone), when it joined too (and which of that minute's),
 *  so the buttons that remove them, and what they say, are told apart by ear as well. */
function deviceNames(devices) {
  const active = devices.filter((d) => !d.revoked_at);
  const names = new Map();
  for (const d of devices) {
    const twins = active.filter((o) => o.label === d.label);
    if (d.revoked_at || twins.length < 2) {
      names.set(d.id, d.label);
      continue;
    }
    const joined = dateTime(d.created_at);
    const sameTime = twins.filter((o) => dateTime(o.created_at) === joined);
    const which = sameTime.length > 1 ? ` (${sameTime.indexOf(d) + 1} of ${sameTime.length})` : "";
    names.set(d.id, `${d.label} joined ${joined}${which}`);
  }
  return names;
}

/** Whether a device is joined, in words: removed by the clinic, or expired by going unused for the
 *  server's limit (UNKNOT_DEVICE_IDLE_DAYS), as its "Last seen" shows. */
function deviceStatus(d) {
  if (!d.revoked_at) return "active";
  const on = shortDate(localDate(d.revoked_at));
  return d.expired ? `expired ${on}: unused too long` : `removed ${on}`;
}

function devicesBody(id, devices, refresh) {
  const names = deviceNames(devices);
  const rows = devices.map((d) =>
    h(
      "tr",
      {},
      h("th", { scope: "row" }, d.label),
      h("td", {}, shortDate(localDate(d.created_at))),
      h("td", {}, h("time", { datetime: d.last_seen_at, title: dateTime(d.last_seen_at) }, ago(d.last_seen_at))),
      h("td", {}, deviceStatus(d)),
      // Whether this phone gets push reminders; their times are the patient's (the Reminders card).
      h("td", {}, d.revoked_at ? "—" : d.subscribed ? "on" : "not turned on"),
      h(
        "td",
        {},
        d.revoked_at
          ? null
          : h(
              "button",
              {
                type: "button",
                class: "small danger-text",
                "aria-label": `Remove ${names.get(d.id)}`,
                on: {
                  click: async (event) => {
                    const ok = await confirmDialog({
                      title: `Remove ${names.get(d.id)}?`,
                      body: "The app on that device stops working for this patient, and any code handed out for them but not used yet stops working too. They can join again with a new code.",
                      confirm: "Remove device",
                      danger: true,
                    });
                    if (!ok) return;
                    await busy(event.target, async () => {
                      try {
                        await api(`/patients/${id}/devices/${d.id}`, { method: "DELETE" });
                        await refresh(`${names.get(d.id)} removed.`);
                      } catch (err) {
                        await refresh(explain(err));
                      }
                    });
                  },
                },
              },
              "Remove",
            ),
      ),
    ),
  );
  const withdraw = h(
    "button",
    {
      type: "button",
      class: "secondary small",
      id: "withdraw-codes",
      on: {
        click: async (event) => {
          await busy(event.target, async () => {
            try {
              const { withdrawn } = await api(`/patients/${id}/invites`, { method: "DELETE" });
              await refresh(
                withdrawn
                  ? `${plural(withdrawn, "unused code", "unused codes")} withdrawn: ${withdrawn === 1 ? "it no longer connects" : "they no longer connect"} a phone.`
                  : "There was no unused code to withdraw.",
              );
            } catch (err) {
              await refresh(explain(err));
            }
          });
        },
      },
    },
    "Withdraw unused codes",
  );
  return [
    table("Devices joined to this patient", ["Device", "Joined", "Last seen", "Status", "Reminders", h("span", { class: "sr-only" }, "Actions")], rows, "No device has joined yet. Hand over a code to connect the patient's phone."),
    h(
      "p",
      { class: "muted" },
      withdraw,
      " Every code handed out or printed for this patient and not used yet stops working; joined devices stay joined.",
    ),
  ];
}

/** One line of the delivery log: the time of day and day, a test or a reminder, its outcome, and
 *  the phone it went to (by the name the Devices table gives it), removed or unsubscribed since too;
 *  only an entry logged before the server kept the phone, its subscription gone, names none. */
function deliveryLine(d, names) {
  const what = (SLOT_NAMES[d.slot] || d.slot) + " " + shortDate(d.on_date) + (d.kind === "test" ? " (test)" : "");
  const phone = d.device_id !== null && d.device_id !== undefined
    ? names.get(d.device_id) || d.device
    : d.status === "gone" ? "a phone no longer subscribed" : "";
  return what + ": " + d.status + (phone ? " · " + phone : "") + (d.last_error ? " (" + d.last_error + ")" : "");
}

// Why no reminder is coming although reminders are on (the server's not_coming).
const NONE_COMING = {
  no_plan: () => "No reminder is coming: the patient has no plan yet.",
  plan_ended: (r) => "No reminder is coming: the plan ended on " + shortDate(r.plan_last_day) + ". A new plan starts them again.",
  nothing_more: () => "No reminder is coming: the plan has nothing more at these times of day.",
};

// The status when reminders are on but none can come (no plan, or it has ended): not "On".
const WAITING = { no_plan: "Waiting for a plan", plan_ended: "Ended with the plan" };

/** What a test reminder did on one phone it did not reach, and what helps. */
function notReached(x, phone) {
  if (x.status === "gone") {
    return "Not delivered to " + phone + ": it no longer gets reminders; the patient turns them on again in the app (More, Reminders).";
  }
  const passing = x.http_status === null || x.http_status === 429 || x.http_status >= 500;
  return passing
    ? "Not delivered to " + phone + ": its push service is busy or slow; try again in a few minutes."
    : "Not delivered to " + phone + ": its push service refused it (" + x.error + "); the patient turns reminders off and on again in the app.";
}

/** POST /patients/{id}/reminders/test's answer in words, phone by phone. */
function testSaid(answer, names) {
  const name = (x) => names.get(x.device_id) || x.label || "a phone";
  const reached = answer.results.filter((x) => x.status === "sent").map(name);
  const said = reached.length ? ["Sent to " + reached.join(" and ") + ": it shows there within seconds while the phone is on."] : [];
  return said.concat(answer.results.filter((x) => x.status !== "sent").map((x) => notReached(x, name(x)))).join(" ");
}

/** "Send a test reminder" to the patient's phones (say while they are in the room), and what it did. */
function testControl(id, names) {
  const button = h("button", { type: "button", class: "secondary small" }, "Send a test reminder");
  const said = h("p", { class: "test-result", role: "status" });
  button.addEventListener("click", () => {
    if (button.disabled) return;
    fill(said);
    busy(button, async () => {
      try {
        fill(said, testSaid(await api(`/patients/${id}/reminders/test`, { method: "POST" }), names));
      } catch (err) {
        fill(said, explain(err));
      }
    });
  });
  return [h("div", { class: "buttons" }, button), said];
}

function remindersCard(result, devices, id) {
  if (result.error) return card("Reminders", h("p", { class: "muted" }, `Reminder status is unavailable: ${explain(result.error)}`));
  const r = result.value;
  if (!r) return card("Reminders", h("p", { class: "muted" }, "Reminder status is not available on this server."));
  const rules = r.rules.map((rule) =>
    h(
      "tr",
      {},
      h("th", { scope: "row" }, SLOT_NAMES[rule.slot] || rule.slot),
      h("td", {}, rule.enabled ? rule.local_time : "off"),
      // In the patient's zone, as the heading says: the therapist's own zone may be another.
      // Off (no phone subscribed, say): nothing goes at the rule's next time.
      h("td", {}, r.on && rule.enabled && rule.next_at ? dateTime(rule.next_at, r.timezone) : "—"),
    ),
  );
  const names = deviceNames(devices || []);
  const last = (r.deliveries || []).slice(0, 5).map((d) => h("li", {}, deliveryLine(d, names)));
  // Push services keep a message only so long (UNKNOT_PUSH_TTL_SECONDS): a phone off for longer misses it.
  const kept = r.offline_kept_minutes
    ? h("p", { class: "muted small" }, `A reminder waits at most ${plural(r.offline_kept_minutes, "minute", "minutes")} for a phone that is switched off or offline; a phone that comes back later does not get it (the app still shows the day's routine).`)
    : null;
  return card(
    "Reminders",
    h(
      "p",
      {},
      r.on && WAITING[r.not_coming]
        ? h("strong", { class: "muted" }, WAITING[r.not_coming])
        : h("strong", { class: r.on ? "ok" : "muted" }, r.on ? "On" : "Off"),
      ` · ${plural(r.subscriptions, "device subscribed", "devices subscribed")}`,
      r.last_ok_at ? ` · last delivered ${ago(r.last_ok_at)} (${dateTime(r.last_ok_at, r.timezone)})` : "",
      ` · times in ${r.timezone}`,
      r.quiet_hours ? ` · quiet ${r.quiet_hours.start}–${r.quiet_hours.end}` : "",
    ),
    table("Reminder times", ["Time of day", "Reminder", "Next"], rules, "No reminder times."),
    r.on && NONE_COMING[r.not_coming] ? h("p", { class: "muted" }, NONE_COMING[r.not_coming](r)) : null,
    r.subscriptions ? kept : null,
    r.subscriptions ? testControl(id, names) : null,
    last.length ? h("details", {}, h("summary", {}, "Last deliveries"), h("ul", {}, last)) : null,
  );
}

// What each recorded action means, in the words the rest of the console uses.
const AUDIT_ACTIONS = {
  "patient.create": "Patient added",
  "patient.update": "Details changed",
  "patient.settings": "Time zone or language changed on their phone",
  "patient.transfer": "Moved between therapists",
  "invite.create": "Code for a phone made",
  "invite.withdraw": "Unused codes withdrawn",
  "device.join": "Phone joined with a code",
  "device.revoke": "Device removed",
  "device.expire": "Device expired, unused too long",
  "plan.assign": "Plan assigned",
  "plan.edit": "Plan changed",
  "records.export": "Records exported",
  "checkin.handled": "Red flags marked as handled",
  "reminders.test": "Test reminder sent from the console",
};

// What the patient's own phone does; any other entry without a therapist is the administrator's.
const BY_THE_PATIENT = new Set(["patient.settings", "device.join"]);

/** Who did it: the signed-in therapist, the patient's own phone (their settings), Unknot by itself
 *  (a device unused too long) or the clinic's administrator. */
function auditBy(entry, me) {
  if (entry.action === "device.expire") return "Automatic";
  if (entry.therapist_id === null) return BY_THE_PATIENT.has(entry.action) ? "The patient" : "Administrator";
  return entry.therapist_id === me.id ? "You" : "Another therapist";
}

const UPDATED_FIELDS = { display_name: "name", timezone: "time zone", locale: "language", archived_at: "archived or restored" };

// Why codes were withdrawn or devices removed, as server/api/patients.py records it after "; ".
function auditWhy(why, deviceName) {
  if (!why || why === "by the therapist") return "";
  if (why === "patient archived") return " (the patient was archived)";
  const device = /^device (\d+) revoked$/.exec(why);
  return device ? ` (${deviceName(Number(device[1]))} was removed)` : ` (${why})`;
}

/** An audit entry's detail in words: the API keeps ids ("soleus:left", "3,4; patient archived"). */
function auditDetail(entry, { muscles, devices, checkins }) {
  const detail = entry.detail || "";
  const deviceName = (deviceId) => {
    const d = devices.find((x) => x.id === deviceId);
    return d && d.label ? d.label : `device ${deviceId}`;
  };
  if (entry.action === "patient.update") {
    return detail
      .split(",")
      .map((f) => UPDATED_FIELDS[f] || f)
      .join(", ");
  }
  if (entry.action === "plan.assign") {
    return detail
      .split(",")
      .map((t) => {
        const [id, side] = t.split(":");
        const m = muscles.byId.get(id);
        return (m ? m.name : id) + (side ? `, ${SIDE_NAMES[side] || side}` : "");
      })
      .join("; ");
  }
  if (entry.action === "invite.withdraw") {
    const [count, why] = detail.split("; ");
    const n = Number(count);
    return Number.isInteger(n) ? `${plural(n, "unused code", "unused codes")}${auditWhy(why, deviceName)}` : detail;
  }
  if (entry.action === "device.join" || entry.action === "device.expire") return deviceName(Number(detail));
  if (entry.action === "reminders.test") {
    const counts = /^(\d+) of (\d+)$/.exec(detail);
    return counts ? "reached " + counts[1] + " of " + plural(Number(counts[2]), "phone", "phones") : detail;
  }
  if (entry.action === "checkin.handled") {
    // The check-in by its day, while the page holds it (the last 90 days).
    const c = checkins.find((x) => x.id === detail);
    return c ? `check-in of ${shortDate(c.on_date)}` : "an earlier check-in";
  }
  if (entry.action === "device.revoke") {
    const [ids, why] = detail.split("; ");
    const names = ids.split(",").map((x) => (/^\d+$/.test(x) ? deviceName(Number(x)) : x));
    return `${names.join(", ")}${auditWhy(why, deviceName)}`;
  }
  return detail;
}

function auditCard(entries, me, known, everything) {
  const rows = entries.slice(0, 50).map((a) =>
    h(
      "tr",
      { "data-action": a.action },
      h("td", {}, h("time", { datetime: a.at }, dateTime(a.at))),
      h("th", { scope: "row" }, AUDIT_ACTIONS[a.action] || a.action),
      h("td", {}, auditBy(a, me)),
      h("td", {}, auditDetail(a, known)),
    ),
  );
  return card(
    "History",
    h(
      "details",
      {},
      h("summary", {}, `What was done to this patient's records (${entries.length})`),
      table("Audit trail, newest first", ["When", "Action", "By", "Detail"], rows, "Nothing recorded."),
    ),
    h("p", { class: "muted small" }, "When the patient asks for a copy of their data: everything stored about them, as one file."),
    everything,
  );
}

export async function render([id], ctx) {
  const [patient, adherence, records, plan, history, devices, reminders, audit, attention, exercises, muscles] = await Promise.all([
    api(`/patients/${id}`),
    api(`/patients/${id}/adherence?days=${CALENDAR_WEEKS * 7}`),
    api(`/patients/${id}/records?days=90`),
    maybe(`/patients/${id}/plan`),
    api(`/patients/${id}/plans`),
    api(`/patients/${id}/devices`),
    optional(`/patients/${id}/reminders`),
    api(`/patients/${id}/audit`),
    api("/attention"),
    loadExercises(),
    loadMuscles(),
  ]);
  const reasons = (attention.find((a) => a.patient_id === patient.id) || { reasons: [] }).reasons;
  const archived = Boolean(patient.archived_at);
  const heading = h("h1", {}, patient.display_name, archived ? h("span", { class: "tag" }, "archived") : null);
  const problem = h("div", { class: "alert", role: "alert", hidden: true });

  // ---- name, time zone, language ---------------------------------------------------------------
  const nameInput = h("input", { value: patient.display_name, maxlength: "100", required: true, autocomplete: "off" });
  const tzSelect = zoneSelect("edit-tz", patient.timezone);
  const localeSelect = languageSelect("edit-locale", patient.locale);
  const renameForm = h(
    "form",
    { class: "inline-form", hidden: true, "aria-label": "Patient details", novalidate: true },
    field("Name", nameInput),
    field("Time zone", tzSelect, "Reminders and the days of the plan follow it."),
    field("Language", localeSelect, "Of the patient's app and the printed plan."),
    h("button", { type: "submit", class: "primary small" }, "Save details"),
    h("button", { type: "button", class: "secondary small", on: { click: () => closeRename() } }, "Cancel"),
  );
  const renameButton = h("button", { type: "button", class: "secondary", "aria-expanded": "false" }, "Edit details");
  // Cancel (or Escape) drops what was typed: reopened, the form shows the patient's details, and
  // Save details cannot send a change the therapist turned away from.
  function closeRename() {
    nameInput.value = patient.display_name;
    tzSelect.value = patient.timezone;
    localeSelect.value = patient.locale;
    renameForm.hidden = true;
    renameButton.setAttribute("aria-expanded", "false");
    renameButton.focus();
  }
  renameButton.addEventListener("click", () => {
    renameForm.hidden = false;
    renameButton.setAttribute("aria-expanded", "true");
    nameInput.select();
    nameInput.focus();
  });
  // Escape in the form is its Cancel (a dialog is not inside it: its own Escape stays its own).
  renameForm.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || event.defaultPrevented || event.isComposing) return;
    event.preventDefault();
    closeRename();
  });
  renameForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const submit = renameForm.querySelector("button[type=submit]");
    if (submit.disabled) return; // sent already: the page is loading again
    problem.hidden = true;
    // Only what changed is sent: the patient's phone may have changed the zone meanwhile.
    const body = {};
    if (nameInput.value.trim() !== patient.display_name) body.display_name = nameInput.value;
    if (tzSelect.value !== patient.timezone) body.timezone = tzSelect.value;
    if (localeSelect.value !== patient.locale) body.locale = localeSelect.value;
    if (!Object.keys(body).length) {
      closeRename();
      ctx.toast("Nothing was changed.");
      return;
    }
    busy(submit, async () => {
      try {
        const updated = await api(`/patients/${id}`, { method: "PATCH", body });
        const said = [
          body.display_name !== undefined ? `name ${updated.display_name}` : null,
          body.timezone ? `time zone ${updated.timezone}` : null,
          body.locale ? `language ${LANGS[updated.locale] || updated.locale}` : null,
        ].filter(Boolean);
        ctx.handoff.set("toast", `Saved: ${said.join(", ")}.`);
        ctx.navigate(`#/patients/${id}`);
        return LEAVING;
      } catch (err) {
        fill(problem, explain(err));
        problem.hidden = false;
        markFields(err, { display_name: nameInput, timezone: tzSelect, locale: localeSelect });
      }
    });
  });

  // ---- archive and restore -----------------------------------------------------------------
  const archiveButton = h("button", { type: "button", class: archived ? "secondary" : "danger-text" }, archived ? "Restore" : "Archive");
  archiveButton.addEventListener("click", async () => {
    if (!archived) {
      // Once archived, a red flag can no longer be marked as handled: said before, not found after.
      const open = unhandledFlags(records).size;
      const which = open === 1 ? "One check-in with warning signs is" : open + " check-ins with warning signs are";
      const flags = open ? ` ${which} not marked as handled, and cannot be once the patient is archived.` : "";
      const ok = await confirmDialog({
        title: `Archive ${patient.display_name}?`,
        body: `They leave your patient list and their reminders stop. Their phones are disconnected and unused codes stop working; to restore, hand over a new code. Their records are kept, and you can restore them from the archived list.${flags}`,
        confirm: "Archive",
        danger: true,
      });
      if (!ok) return;
    }
    await busy(archiveButton, async () => {
      try {
        await api(`/patients/${id}`, { method: "PATCH", body: { archived: !archived } });
        ctx.handoff.set("toast", archived ? `${patient.display_name} is restored.` : `${patient.display_name} is archived.`);
        ctx.navigate(archived ? `#/patients/${id}` : "#/");
        return LEAVING;
      } catch (err) {
        fill(problem, explain(err));
        problem.hidden = false;
      }
    });
  });

  // ---- erase (archived patients only) -------------------------------------------------------
  const eraseButton = archived ? h("button", { type: "button", class: "danger-text", id: "erase-patient" }, "Erase all data") : null;
  eraseButton?.addEventListener("click", async () => {
    const ok = await confirmDialog({
      title: `Erase all data of ${patient.display_name}?`,
      body: "Their plans, records, check-ins, devices and reminders are deleted for good; the history keeps only that they were erased. This cannot be undone. Backups made before now still hold the data until they age out.",
      confirm: "Erase all data",
      danger: true,
      typed: patient.display_name,
    });
    if (!ok) return;
    await busy(eraseButton, async () => {
      try {
        await api(`/patients/${id}`, { method: "DELETE" });
        ctx.handoff.set("toast", `All data of ${patient.display_name} is erased. Backups still hold it until they age out.`);
        ctx.navigate("#/");
        return LEAVING;
      } catch (err) {
        fill(problem, explain(err));
        problem.hidden = false;
      }
    });
  });

  // ---- devices ------------------------------------------------------------------------------
  const devicesBox = h("div");
  const devicesSection = card("Devices", devicesBox);
  async function refreshDevices(message) {
    try {
      fill(devicesBox, devicesBody(id, await api(`/patients/${id}/devices`), refreshDevices));
    } catch (err) {
      fill(devicesBox, h("p", { class: "alert", role: "alert" }, explain(err)));
    }
    if (message) ctx.toast(message);
    devicesSection.querySelector("h2").setAttribute("tabindex", "-1");
    devicesSection.querySelector("h2").focus();
  }
  fill(devicesBox, devicesBody(id, devices, refreshDevices));

  // ---- adherence summary --------------------------------------------------------------------
  const week = thisWeek(adherence);
  const todayRow = adherence.days.find((d) => d.on_date === adherence.today);
  const summary = adherence.days.length
    ? h(
        "p",
        { class: "stats" },
        h("span", {}, h("strong", {}, week && week.expected ? percent(week.rate) : "—"), " this week"),
        h("span", {}, h("strong", {}, String(adherence.streak)), ` day${adherence.streak === 1 ? "" : "s"} in a row`),
        todayRow ? h("span", {}, h("strong", {}, `${todayRow.done}/${todayRow.expected}`), " today") : null,
        h("span", {}, "last activity ", h("strong", {}, ago(adherence.last_activity))),
      )
    : plan && plan.program.treated_on > adherence.today
      ? h("p", { class: "muted", id: "adherence-ahead" }, `The plan starts on ${longDate(plan.program.treated_on)}: nothing is asked before.`)
      : h("p", { class: "muted" }, "No active plan in these weeks.");

  const csv = h("button", { type: "button", class: "secondary", id: "export-csv" }, "Export CSV");
  csv.addEventListener("click", () =>
    busy(csv, async () => {
      problem.hidden = true;
      try {
        await download(`/patients/${id}/records.csv`, `unknot-patient-${id}.csv`);
      } catch (err) {
        fill(problem, explain(err));
        problem.hidden = false;
      }
    }),
  );
  // Right of access: the patient may ask for everything stored about them (the export is audited).
  const everything = h("button", { type: "button", class: "secondary small", id: "export-json" }, "Download all data (JSON)");
  everything.addEventListener("click", () =>
    busy(everything, async () => {
      problem.hidden = true;
      try {
        await download(`/patients/${id}/export.json`, `unknot-patient-${id}.json`);
      } catch (err) {
        fill(problem, explain(err));
        problem.hidden = false;
        problem.scrollIntoView({ block: "center" });
      }
    }),
  );
  const treat = h("a", { href: `#/patients/${id}/treat`, class: "button primary", id: "record-treatment" }, "Record treatment");

  const node = h(
    "section",
    { class: "view view-patient" },
    h("a", { href: "#/", class: "back" }, "← Patients"),
    h(
      "div",
      { class: "view-head" },
      heading,
      h("p", { class: "meta" }, `${patient.timezone} · ${LANGS[patient.locale] || patient.locale} · added ${longDate(localDate(patient.created_at))}`),
    ),
    attentionBadges(reasons, patient.timezone),
    h(
      "div",
      { class: "toolbar", role: "group", "aria-label": "Patient actions" },
      archived ? null : treat,
      archived || !plan ? null : h("a", { href: `#/patients/${id}/handover`, class: "button secondary" }, "Hand over"),
      csv,
      renameButton,
      archiveButton,
      eraseButton,
    ),
    renameForm,
    problem,
    h(
      "div",
      { class: "detail-grid" },
      card("Adherence", summary, calendar(adherence, CALENDAR_WEEKS)),
      card("Soreness and pain", trendChart(adherence, 28)),
      // The two tables across the page, the check-ins (red flags) first: side by side on a desk or a
      // landscape tablet, the check-ins' Follow-up column ("Mark as handled") was cut off.
      wide(checkinCard(records, { id, timeZone: patient.timezone, archived, ctx })),
      wide(activityCard(records, exercises)),
      planCard(id, plan, history, muscles),
      devicesSection,
      remindersCard(reminders, devices, id),
      auditCard(audit, ctx.therapist, { muscles, devices, checkins: records.checkins }, everything),
    ),
  );
  return {
    node,
    title: patient.display_name,
    keys: archived ? {} : { t: () => ctx.navigate(`#/patients/${id}/treat`) },
    // A note typed for a red flag and not yet marked as handled is not thrown away without asking.
    dirty: () =>
      [...node.querySelectorAll("form.handle-form:not([hidden]):not([data-saved])")].some(
        (f) => f.elements.note.value.trim() !== "",
      ),
  };
}


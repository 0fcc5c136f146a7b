// One exercise: how to do it, what to feel, when to stop, and the guided timer.

import { isDate, longDate } from "../dates.js";
import { SLOTS } from "../routine.js";
import { fill, h } from "../dom.js";
import { lang, t } from "../i18n.js";
import { createTimer, timerMode } from "../timer.js";
import { painAdvice, scale } from "../widgets.js";
import { dosageText, sideText, slotName } from "../words.js";

let audio = null;
// After a pain answer, the record waits this long for another change of mind before it is sent
// (leaving the screen or the app sends it at once).
const PAIN_SETTLE_MS = 10_000;

function cueSound(app, kind) {
  if (!app.sound) return;
  try {
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    if (audio.state === "suspended") audio.resume();
    const tones = kind === "done" ? [660, 880, 1175] : kind === "go" ? [523] : [880, 880];
    tones.forEach((freq, i) => {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = freq;
      gain.gain.value = 0.2;
      osc.connect(gain).connect(audio.destination);
      const at = audio.currentTime + i * 0.2;
      osc.start(at);
      osc.stop(at + 0.15);
    });
  } catch { /* no audio: the screen and vibration still show it */ }
}

function vibrate(kind) {
  if (navigator.vibrate) navigator.vibrate(kind === "done" ? [200, 100, 200, 100, 400] : kind === "go" ? 100 : 300);
}

function section(title, ...children) {
  return h("section", { class: "block" }, h("h2", { text: title }), ...children);
}

export function renderExercise(app, { date, slot, exerciseId }) {
  const exercise = app.bundle.exercises[exerciseId];
  const today = app.today();
  // An address no plan can have (a date no calendar has, a time of day the app does not have):
  // "not found", as for an exercise the plan does not have.
  if (!exercise || !isDate(date) || !SLOTS.includes(slot)) {
    return h("section", { class: "screen" },
      h("h1", { text: t("not_found") }),
      h("a", { class: "btn", href: "#/today", text: t("back_to_today") }));
  }
  const entry = app.routine(date).entries.find((e) => e.exercise_id === exerciseId && e.slot === slot)
    || { exercise_id: exerciseId, slot, dosage: exercise.dosage, side: null };
  const dosage = entry.dosage;
  const mode = timerMode(dosage);
  const canLog = date <= today;
  let record = app.completionFor(date, exerciseId, slot);
  let heldBack = null; // id of the record waiting for the pain answer
  let logging = false; // a second tap while the first is being stored must not log twice
  let wakeLock = null;

  const live = h("p", { class: "sr-only", "aria-live": "assertive" });
  const donePanel = h("section", { class: "card done-panel", tabindex: "-1", hidden: true, "aria-labelledby": "done-title" });

  async function releaseWakeLock() {
    if (wakeLock) { try { await wakeLock.release(); } catch { /* already released */ } wakeLock = null; }
  }

  async function holdWakeLock() {
    try {
      if (navigator.wakeLock && !wakeLock) {
        const lock = await navigator.wakeLock.request("screen");
        wakeLock = lock;
        // The browser lets go of it when the app goes to the background: ask again next time.
        lock.addEventListener("release", () => { if (wakeLock === lock) wakeLock = null; });
      }
    } catch { /* not allowed */ }
  }

  function onVisibility() {
    if (!timer) return;
    const s = timer.state();
    if (document.visibilityState === "hidden") {
      // No cue can reach a patient who is not looking: stop the clock where they left it.
      if (s.running) {
        timer.pause();
        live.textContent = t("timer_paused_away");
      }
    } else if (s.phase !== "ready" && s.phase !== "done" && (s.running || mode === "count")) {
      holdWakeLock();
    }
  }
  document.addEventListener("visibilitychange", onVisibility);

  function showDone(fresh) {
    const advice = h("p", { class: "pain-advice", role: "status" });
    const painNote = h("p", { class: "pain-note", role: "status" });
    let asked = 0;
    let answered = null; // the pain the patient last chose, kept on the phone or added
    // The answer went after a record that may already have been at the clinic (its answer was
    // lost): once the server says which pain it keeps, and it is another, the patient is told.
    app.onRecords = () => {
      if (!painScale || !heldBack || answered === null) return;
      const mine = app.records.find((r) => r.id === heldBack);
      const waiting = app.records.some((r) => r.id === `fill:${heldBack}`);
      if (!mine || mine.state !== "sent" || waiting) return;
      const kept = mine.body.pain;
      if (kept === undefined || kept === null || kept === answered) return;
      answered = kept;
      for (const input of painScale.querySelectorAll("input[name=pain]")) input.checked = Number(input.value) === kept;
      advice.textContent = painAdvice(kept);
      painNote.textContent = t("pain_sent_as", { n: kept });
    };
    const painScale = fresh ? scale({
      name: "pain",
      legend: t("pain_question"),
      hint: t("pain_hint"),
      onChange: async (value) => {
        advice.textContent = painAdvice(value);
        if (!heldBack) return;
        const mine = ++asked;
        // Kept with the record (or, once it has left the phone, with the repeat that follows it),
        // which waits a little longer for another change (arrow keys step through every number on
        // the way): the last choice is the one that goes.
        const { outcome, pain } = await app.answerPain(heldBack, value, PAIN_SETTLE_MS);
        if (mine === asked && (outcome === "ok" || outcome === "added")) answered = value;
        if (outcome === "ok") {
          painNote.textContent = "";
          return;
        }
        if (mine !== asked) return;
        if (outcome === "added") {
          painNote.textContent = t("pain_added");
          return;
        }
        // The clinic has (or is getting) another answer and keeps the first, or refused the record.
        const kept = outcome === "sent" || outcome === "sending" ? pain : null;
        answered = kept;
        for (const input of painScale.querySelectorAll("input[name=pain]")) input.checked = Number(input.value) === kept;
        advice.textContent = painAdvice(kept);
        painNote.textContent = kept === null ? t("pain_not_kept")
          : t(outcome === "sent" ? "pain_sent_as" : "pain_sending_as", { n: kept });
      },
    }) : null;
    fill(donePanel,
      h("h2", { id: "done-title", text: fresh ? t("well_done") : t("done_already") }),
      h("p", { text: fresh ? t("saved_on_phone") : t("done_already_text") }),
      painScale,
      advice,
      painNote,
      h("a", { class: "btn", href: "#/today", text: t("back_to_today") }));
    donePanel.hidden = false;
    // A new version taken over in another tab waits while the pain question is open (app.js
    // unsavedWork): reloaded, it would be gone, and the mark sent without an answer.
    if (fresh) donePanel.dataset.keepUntilLeft = "";
    markButton.hidden = true;
    donePanel.focus();
  }

  async function logDone(fields) {
    if (!canLog) {
      app.toast(t("future_not_logged"), { screen: true });
      return;
    }
    if (logging) return;
    if (record) { showDone(false); return; }
    logging = true;
    try {
      const logged = await app.logCompletion({ exercise_id: exerciseId, on_date: date, slot, ...fields }, { holdBack: true });
      // Not stored on this phone (said in the live region): nothing shows as done.
      if (logged === false) return;
      if (!logged) {
        // Logged meanwhile (another tab, a tap on Today): one record per exercise and time of day.
        record = app.completionFor(date, exerciseId, slot);
        showDone(false);
        return;
      }
      record = logged;
      heldBack = record.id;
      showDone(true);
    } finally {
      logging = false;
    }
  }

  // ---- the timer ----
  const phaseText = h("p", { class: "timer-phase" });
  const count = h("p", { class: "timer-count", "aria-hidden": "true" });
  const bar = h("progress", { class: "timer-bar", max: 1000, value: "0", "aria-label": t("timer_progress") });
  const reps = h("p", { class: "timer-reps" });
  const buttons = h("div", { class: "timer-buttons" });
  const panel = h("section", { class: "card timer", "data-phase": "ready", "aria-labelledby": "timer-title" });
  let lastPhase = "ready";
  let lastRep = 0; // counting: the repetition last announced, so each tap is heard once
  let controlsKey = "";
  // Stop asked for: the clock waits (paused) for "start over" or "go on"; resume tells whether it ran.
  let stopping = null;
  let cueEnd = null;

  const timer = mode === "none" ? null : createTimer(dosage, {
    onChange: draw,
    onSuspended: () => {
      releaseWakeLock();
      live.textContent = t("timer_paused_away");
    },
    onCue: (kind) => {
      cueSound(app, kind);
      vibrate(kind);
      panel.classList.remove("cue");
      void panel.offsetWidth; // restart the flash
      panel.classList.add("cue");
      // Gone after the flash: with reduced motion or in a contrast theme the cue is an outline,
      // which would otherwise stay on and leave the next cue unseen.
      clearTimeout(cueEnd);
      cueEnd = setTimeout(() => panel.classList.remove("cue"), 600);
      if (kind === "done") {
        releaseWakeLock();
        const s = timer.state();
        logDone({
          sets_done: s.sets,
          reps_done: s.reps,
          hold_seconds_done: mode === "count" ? undefined : s.hold,
        }).finally(() => { delete panel.dataset.timerRunning; });
      }
    },
  });

  function button(text, onClick, cls = "btn") {
    return h("button", { class: cls, type: "button", text, on: { click: onClick } });
  }

  function draw(s) {
    panel.dataset.phase = s.phase;
    // While it is under way (paused too), a new version taken over in another tab waits (app.js
    // unsavedWork): a reload would lose the patient's place. At its end it waits on for the mark
    // being stored (see onCue), which must not be cut short by a reload either.
    if (s.phase === "ready") delete panel.dataset.timerRunning;
    else if (s.phase !== "done") panel.dataset.timerRunning = "";
    const secs = s.secondsLeft;
    const names = {
      ready: t("timer_ready"),
      hold: mode === "minutes" ? t("timer_going") : mode === "count" ? t("timer_count_go") : t("timer_hold"),
      rest: t("timer_rest"),
      setrest: t("timer_setrest", { n: s.set + 1 }),
      done: t("timer_done"),
    };
    const paused = !(s.running || s.phase === "ready" || s.phase === "done" || mode === "count");
    // A walk or a breathing exercise paused is just that: not "Keep going · paused".
    phaseText.textContent = !paused ? names[s.phase]
      : mode === "minutes" && s.phase === "hold" ? t("timer_paused_alone") : `${names[s.phase]} · ${t("timer_paused")}`;
    if (mode === "count" && s.phase === "hold") count.textContent = String(s.rep - 1);
    else if (s.phase === "ready") count.textContent = mode === "count" ? "0" : formatSeconds(s.hold);
    else if (s.phase === "done") count.textContent = "✓";
    else count.textContent = formatSeconds(secs);
    bar.value = String(Math.round((mode === "count" && s.phase === "hold" ? (s.rep - 1) / s.reps : s.fraction) * 1000));
    reps.textContent = mode === "minutes" ? "" : [
      t("rep_of", { n: s.rep, total: s.reps }),
      s.sets > 1 ? t("set_of", { n: s.set, total: s.sets }) : null,
    ].filter(Boolean).join(" · ");
    if (s.phase !== lastPhase) {
      live.textContent = s.phase === "rest" ? t("cue_rest", { n: s.rep, total: s.reps })
        : s.phase === "hold" && mode !== "count" ? t("cue_hold", { s: s.hold })
        : s.phase === "done" ? t("timer_done") : names[s.phase];
      lastPhase = s.phase;
    } else if (mode === "count" && s.phase === "hold" && s.rep !== lastRep) {
      // The big number is hidden from screen readers (it changes too often in a timed hold):
      // a tap on "Done one" is said here instead. Only taps change it, never the clock.
      live.textContent = t("count_done", { n: s.rep - 1, total: s.reps });
    }
    lastRep = s.rep;
    // Rebuild the buttons only when they change: a button replaced under a finger loses the tap.
    if (s.phase === "ready" || s.phase === "done") stopping = null;
    const key = `${s.phase}|${s.running}|${Boolean(stopping)}`;
    if (key === controlsKey) return;
    controlsKey = key;
    const controls = [];
    if (stopping) {
      // A stray tap on Stop must not throw away a set half done: it asks first.
      const resume = stopping.resume;
      controls.push(h("p", { class: "timer-ask", text: t("timer_stop_ask") }));
      controls.push(button(t("timer_resume"), () => {
        stopping = null;
        if (resume) { holdWakeLock(); timer.resume(); } else draw(timer.state());
      }, "btn big"));
      controls.push(button(t("timer_stop_yes"), () => { stopping = null; timer.reset(); releaseWakeLock(); }, "btn quiet"));
    } else if (s.phase === "ready") controls.push(button(t("timer_start"), () => { holdWakeLock(); timer.start(); }, "btn big"));
    else if (s.phase === "done") controls.push(button(t("timer_again"), () => timer.reset(), "btn quiet"));
    else if (mode === "count" && s.phase === "hold") controls.push(button(t("count_rep"), () => timer.countRep(), "btn big"));
    else if (s.running) controls.push(button(t("timer_pause"), () => { timer.pause(); releaseWakeLock(); }, "btn big"));
    else controls.push(button(t("timer_resume"), () => { holdWakeLock(); timer.resume(); }, "btn big"));
    if (s.phase === "rest" || s.phase === "setrest") controls.push(button(t("timer_skip_rest"), () => timer.skipRest(), "btn quiet"));
    if (!stopping && s.phase !== "ready" && s.phase !== "done") {
      controls.push(button(t("timer_stop"), () => {
        stopping = { resume: timer.state().running };
        timer.pause();
        draw(timer.state());
      }, "btn quiet"));
    }
    const hadFocus = buttons.contains(document.activeElement);
    fill(buttons, controls);
    if (stopping) live.textContent = t("timer_stop_ask");
    // Keep keyboard focus in the timer's controls.
    const first = buttons.querySelector("button");
    if (hadFocus && first) first.focus();
  }

  if (timer) {
    // On or off is written on the button for the eye; a screen reader hears it from aria-pressed,
    // under a name that stays "Sound" (a name that changed too would say the state twice, or
    // "Sound off, not pressed").
    const soundState = h("span", { "aria-hidden": "true" });
    const showSound = () => {
      soundButton.setAttribute("aria-pressed", app.sound ? "true" : "false");
      soundState.textContent = t(app.sound ? "sound_on" : "sound_off");
    };
    const soundButton = h("button", {
      class: "btn quiet small", type: "button", "aria-label": t("sound"),
      on: {
        click: async () => {
          await app.setSound(!app.sound);
          showSound();
        },
      },
    }, soundState);
    showSound();
    fill(panel,
      h("h2", { id: "timer-title", text: mode === "count" ? t("counter_title") : t("timer_title") }),
      phaseText, count, bar, reps, buttons, soundButton, live);
    draw(timer.state());
  }

  const markButton = h("button", {
    class: mode === "none" ? "btn big" : "btn quiet",
    type: "button",
    text: mode === "none" ? t("mark_done") : t("mark_done_no_timer"),
    hidden: Boolean(record) || !canLog,
    on: { click: () => logDone({}) },
  });

  app.cleanup = () => {
    if (timer) timer.destroy();
    document.removeEventListener("visibilitychange", onVisibility);
    releaseWakeLock();
    // Leaving the screen closes the pain question: send the record (or its fill-in) now.
    if (heldBack) app.sendNow(heldBack);
    app.onRecords = null;
  };

  const treated = exercise.muscles.filter((m) => app.bundle.muscles[m]).map((m) => app.bundle.muscles[m]);
  const side = sideText(entry.side);

  return h("section", { class: "screen exercise" },
    h("p", { class: "eyebrow", text: `${slotName(slot)} · ${date === today ? t("today") : longDate(date, lang())}` }),
    h("h1", { text: exercise.title }),
    h("p", { class: "dose", text: [dosageText(dosage), side].filter(Boolean).join(" · ") || t(`kind_${exercise.kind}`) }),
    record ? h("p", { class: "badge done-badge", text: t("done_already") }) : null,
    !canLog ? h("p", { class: "muted", text: t("future_not_logged") }) : null,
    section(t("how_to"), h("ol", { class: "steps" }, exercise.steps.map((s) => h("li", { text: s })))),
    timer ? panel : null,
    markButton,
    donePanel,
    section(t("feel"), h("p", { text: exercise.feel })),
    h("section", { class: "block stop" }, h("h2", { text: t("stop") }), h("p", { text: exercise.stop })),
    exercise.avoid ? section(t("avoid"), h("p", { text: exercise.avoid })) : null,
    exercise.ask_first.length
      ? section(t("ask_first"), h("ul", { class: "plain-list" }, exercise.ask_first.map((a) => h("li", { text: a }))))
      : null,
    treated.length ? section(t("works_on"), h("p", { text: treated.join(", ") })) : null,
    h("a", { class: "btn quiet", href: date === today ? "#/today" : `#/day/${date}`, text: t("back") }));
}

function formatSeconds(total) {
  if (total < 60) return String(total);
  const m = Math.floor(total / 60);
  const s = String(total % 60).padStart(2, "0");
  return `${m}:${s}`;
}

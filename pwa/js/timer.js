// The guided hold timer: holds, short rests between repetitions, longer rests between rounds.
// Time comes from Date.now() (a test can drive it with a fake clock). A page that was stopped
// for a while (a locked screen, the app in the background) does not replay the steps it missed:
// the timer stands paused where the patient last saw it, and they go on when they are ready.

export const REST_SECONDS = 5;
export const SET_REST_SECONDS = 20;
// The timer looks five times a second: a longer silence means the page was stopped.
const SUSPENDED_MS = 3000;

/**
 * What the timer does for a dosage:
 *   "hold"    hold_seconds > 0: timed holds, reps x sets
 *   "minutes" minutes > 0: one timed block
 *   "count"   several reps or sets without a hold: the patient taps each one
 *   "none"    a habit or a one-off: just mark it done
 */
export function timerMode(dosage) {
  if (dosage.hold_seconds > 0) return "hold";
  if (dosage.minutes > 0) return "minutes";
  if (dosage.reps > 1 || dosage.sets > 1) return "count";
  return "none";
}

/**
 * A timer for a dosage. onChange(state) after every change; onCue(kind) at "hold-end",
 * "go" (next hold starts) and "done".
 */
export function createTimer(dosage, { onChange, onCue, onSuspended = () => {}, now = () => Date.now() }) {
  const mode = timerMode(dosage);
  const hold = mode === "minutes" ? dosage.minutes * 60 : dosage.hold_seconds;
  const reps = mode === "minutes" ? 1 : dosage.reps;
  const sets = mode === "minutes" ? 1 : dosage.sets;
  const s = {
    mode,
    phase: "ready", // ready | hold | rest | setrest | done
    rep: 1,
    set: 1,
    running: false,
    endsAt: 0,
    left: 0, // ms left when paused
    duration: 0,
    hold,
    reps,
    sets,
  };
  let ticker = null;
  let lastTick = 0;

  function emit() {
    onChange({ ...s, secondsLeft: secondsLeft(), fraction: fraction() });
  }

  function secondsLeft() {
    if (s.phase === "ready" || s.phase === "done") return 0;
    const ms = s.running ? s.endsAt - now() : s.left;
    return Math.max(0, Math.ceil(ms / 1000));
  }

  function fraction() {
    if (!s.duration) return s.phase === "done" ? 1 : 0;
    const ms = s.running ? s.endsAt - now() : s.left;
    return Math.min(1, Math.max(0, 1 - ms / s.duration));
  }

  function begin(phase, seconds, from) {
    s.phase = phase;
    s.duration = seconds * 1000;
    s.endsAt = from + s.duration;
    s.left = s.duration;
  }

  function stopTicking() {
    clearInterval(ticker);
    ticker = null;
  }

  function finish() {
    s.phase = "done";
    s.running = false;
    s.duration = 0;
    stopTicking();
    onCue("done");
  }

  /** Move on from a phase that ended at `at` (ms). */
  function next(at) {
    if (s.phase === "hold") {
      if (s.rep < s.reps) {
        onCue("hold-end");
        if (REST_SECONDS) begin("rest", REST_SECONDS, at);
        else { s.rep += 1; begin("hold", s.hold, at); }
      } else if (s.set < s.sets) {
        onCue("hold-end");
        begin("setrest", SET_REST_SECONDS, at);
      } else {
        finish();
      }
    } else if (s.phase === "rest") {
      s.rep += 1;
      begin("hold", s.hold, at);
      onCue("go");
    } else if (s.phase === "setrest") {
      s.set += 1;
      s.rep = 1;
      if (mode === "count") { s.phase = "hold"; s.duration = 0; stopTicking(); s.running = false; onCue("go"); }
      else { begin("hold", s.hold, at); onCue("go"); }
    }
  }

  function tick() {
    if (!s.running) return;
    const at = now();
    // Stopped for a while: no cue could reach the patient, so nothing after the last look counts.
    const suspended = at - lastTick > SUSPENDED_MS;
    const until = suspended ? lastTick : at;
    lastTick = at;
    let guard = 0;
    while (s.running && s.phase !== "done" && until >= s.endsAt && guard < 1000) {
      next(s.endsAt);
      guard += 1;
    }
    if (suspended && s.running) {
      s.left = Math.max(0, s.endsAt - until);
      s.running = false;
      stopTicking();
      emit();
      onSuspended();
      return;
    }
    emit();
  }

  function startTicking() {
    stopTicking();
    lastTick = now();
    ticker = setInterval(tick, 200);
  }

  return {
    mode,
    state: () => ({ ...s, secondsLeft: secondsLeft(), fraction: fraction() }),

    start() {
      if (mode === "none") return;
      s.rep = 1;
      s.set = 1;
      if (mode === "count") {
        s.phase = "hold";
        s.running = false;
        s.duration = 0;
        emit();
        return;
      }
      begin("hold", s.hold, now());
      s.running = true;
      startTicking();
      onCue("go");
      emit();
    },

    pause() {
      if (!s.running) return;
      s.left = Math.max(0, s.endsAt - now());
      s.running = false;
      stopTicking();
      emit();
    },

    resume() {
      if (s.running || s.phase === "ready" || s.phase === "done" || !s.duration) return;
      s.endsAt = now() + s.left;
      s.running = true;
      startTicking();
      emit();
    },

    /** End a rest early. */
    skipRest() {
      if (s.phase !== "rest" && s.phase !== "setrest") return;
      if (!s.running && s.duration) { s.running = true; startTicking(); }
      next(now());
      emit();
    },

    /** Count mode: one more repetition done. */
    countRep() {
      if (mode !== "count" || s.phase !== "hold") return;
      if (s.rep < s.reps) {
        s.rep += 1;
        onCue("hold-end");
      } else if (s.set < s.sets) {
        onCue("hold-end");
        begin("setrest", SET_REST_SECONDS, now());
        s.running = true;
        startTicking();
      } else {
        finish();
      }
      emit();
    },

    reset() {
      stopTicking();
      Object.assign(s, { phase: "ready", rep: 1, set: 1, running: false, endsAt: 0, left: 0, duration: 0 });
      emit();
    },

    destroy() {
      stopTicking();
    },
  };
}

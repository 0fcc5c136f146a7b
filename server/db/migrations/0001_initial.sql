-- The first schema: accounts, patients, plans, logs, reminders and the audit trail.
-- Times are ISO 8601 text in UTC ('2026-11-25T17:40:00Z'); dates are 'YYYY-MM-DD' in the patient's zone.

CREATE TABLE therapist (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE therapist_session (
    token_hash TEXT PRIMARY KEY,
    therapist_id INTEGER NOT NULL REFERENCES therapist(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX therapist_session_therapist ON therapist_session(therapist_id);

-- Failed attempts per key (account or client address), kept in the database so
-- limits hold across several app processes.
CREATE TABLE attempt (
    key TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX attempt_key_at ON attempt(key, at);

CREATE TABLE patient (
    id INTEGER PRIMARY KEY,
    therapist_id INTEGER NOT NULL REFERENCES therapist(id),
    display_name TEXT NOT NULL,
    timezone TEXT NOT NULL,
    locale TEXT NOT NULL,
    created_at TEXT NOT NULL,
    archived_at TEXT
);
CREATE INDEX patient_therapist ON patient(therapist_id);

CREATE TABLE patient_invite (
    code_hash TEXT PRIMARY KEY,
    patient_id INTEGER NOT NULL REFERENCES patient(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT
);
CREATE INDEX patient_invite_patient ON patient_invite(patient_id);

CREATE TABLE patient_device (
    id INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    patient_id INTEGER NOT NULL REFERENCES patient(id) ON DELETE CASCADE,
    label TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX patient_device_patient ON patient_device(patient_id);

CREATE TABLE treatment (
    id INTEGER PRIMARY KEY,
    patient_id INTEGER NOT NULL REFERENCES patient(id) ON DELETE CASCADE,
    therapist_id INTEGER NOT NULL REFERENCES therapist(id),
    treated_on TEXT NOT NULL,
    notes TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE INDEX treatment_patient ON treatment(patient_id);

CREATE TABLE treated_muscle (
    treatment_id INTEGER NOT NULL REFERENCES treatment(id) ON DELETE CASCADE,
    muscle_id TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('left', 'right', 'both')),
    PRIMARY KEY (treatment_id, muscle_id, side)
);

-- One active plan per patient; superseded plans stay as history.
CREATE TABLE plan (
    id INTEGER PRIMARY KEY,
    patient_id INTEGER NOT NULL REFERENCES patient(id) ON DELETE CASCADE,
    treatment_id INTEGER NOT NULL REFERENCES treatment(id) ON DELETE CASCADE,
    starts_on TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'superseded')),
    version INTEGER NOT NULL DEFAULT 1,
    -- The whole program (phases and items) as JSON: edited and versioned as one document,
    -- read in one row on the patient's hot path.
    program TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX plan_one_active ON plan(patient_id) WHERE status = 'active';

-- Append-only; the id is made by the patient's device so a resent record is recognised.
CREATE TABLE completion (
    id TEXT PRIMARY KEY,
    patient_id INTEGER NOT NULL REFERENCES patient(id) ON DELETE CASCADE,
    exercise_id TEXT NOT NULL,
    on_date TEXT NOT NULL,
    slot TEXT NOT NULL,
    done_at TEXT NOT NULL,
    sets_done INTEGER,
    reps_done INTEGER,
    hold_seconds_done INTEGER,
    pain INTEGER,
    note TEXT NOT NULL DEFAULT '',
    received_at TEXT NOT NULL
);
CREATE INDEX completion_patient_date ON completion(patient_id, on_date);

CREATE TABLE checkin (
    id TEXT PRIMARY KEY,
    patient_id INTEGER NOT NULL REFERENCES patient(id) ON DELETE CASCADE,
    on_date TEXT NOT NULL,
    soreness INTEGER NOT NULL,
    red_flags TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    done_at TEXT NOT NULL,
    received_at TEXT NOT NULL
);
CREATE INDEX checkin_patient_date ON checkin(patient_id, on_date);

CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    therapist_id INTEGER,
    patient_id INTEGER,
    action TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_patient ON audit(patient_id);

-- Plan ids must never be handed out twice: a decoded plan is cached per (id, version), and
-- SQLite reuses the highest rowid after a delete unless the key is AUTOINCREMENT.
CREATE TABLE plan_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
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
INSERT INTO plan_new (id, patient_id, treatment_id, starts_on, status, version, program, created_at, updated_at)
    SELECT id, patient_id, treatment_id, starts_on, status, version, program, created_at, updated_at FROM plan;
DROP TABLE plan;
ALTER TABLE plan_new RENAME TO plan;
CREATE UNIQUE INDEX plan_one_active ON plan(patient_id) WHERE status = 'active';

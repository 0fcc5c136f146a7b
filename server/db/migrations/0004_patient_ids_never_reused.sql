-- Patient ids must never be handed out twice: the audit trail outlives an erased patient under
-- the old id, and SQLite reuses the highest rowid after a delete unless the key is AUTOINCREMENT.
-- Run with foreign keys checked only at the end (migrate.py), so dropping the old table does not
-- cascade into the tables that reference it.
CREATE TABLE patient_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    therapist_id INTEGER NOT NULL REFERENCES therapist(id),
    display_name TEXT NOT NULL,
    timezone TEXT NOT NULL,
    locale TEXT NOT NULL,
    created_at TEXT NOT NULL,
    archived_at TEXT
);
INSERT INTO patient_new (id, therapist_id, display_name, timezone, locale, created_at, archived_at)
    SELECT id, therapist_id, display_name, timezone, locale, created_at, archived_at FROM patient;
DROP TABLE patient;
ALTER TABLE patient_new RENAME TO patient;
CREATE INDEX patient_therapist ON patient(therapist_id);
-- Ids of patients erased before this migration live on in the audit trail: start above them.
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'patient', 0 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'patient');
UPDATE sqlite_sequence SET seq = max(seq, (SELECT coalesce(max(patient_id), 0) FROM audit))
    WHERE name = 'patient';

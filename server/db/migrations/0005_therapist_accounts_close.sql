-- A therapist who left the clinic: the account is closed (no sign-in, no session) and kept, so the
-- audit trail still names who did what. Their patients are moved to a colleague first.
ALTER TABLE therapist ADD COLUMN closed_at TEXT;

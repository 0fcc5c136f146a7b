-- When a therapist's session was last used (to the minute): a session left idle longer than
-- UNKNOT_SESSION_IDLE_MINUTES ends, on top of the 12 hours from sign-in (a clinic's shared tablet
-- left signed in). Sessions that exist already count as used when they were made.
ALTER TABLE therapist_session ADD COLUMN last_used_at TEXT NOT NULL DEFAULT '';
UPDATE therapist_session SET last_used_at = created_at;

-- Browsers a therapist has signed in from (a device cookie, stored as its hash): their sign-in tries
-- are limited on their own, so guesses from elsewhere cannot lock the therapist out of them.
CREATE TABLE therapist_device (
    token_hash TEXT PRIMARY KEY,
    therapist_id INTEGER NOT NULL REFERENCES therapist(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX therapist_device_therapist ON therapist_device(therapist_id);

-- A therapist marks a check-in's red flags as handled (the clinic called the patient, say): the
-- attention list stops raising them, and the check-ins table says when, by whom and the note.
-- Kept on the check-in itself, so a check-in is handled once (a repeat changes nothing) and
-- erasing the patient takes it with the check-in; a later flagged check-in is not handled.
ALTER TABLE checkin ADD COLUMN handled_at TEXT;
ALTER TABLE checkin ADD COLUMN handled_by BIGINT REFERENCES therapist(id);
ALTER TABLE checkin ADD COLUMN handled_note TEXT NOT NULL DEFAULT '';

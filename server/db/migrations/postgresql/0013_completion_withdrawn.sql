-- A completion the patient took back (a mis-tap noticed after it was sent): a tombstone, never a
-- delete, so a replay of the completion from any outbox copy finds it and cannot count it again.
-- NULL: it stands. Set once, from the device's time of the take-back, and never cleared: ticking
-- the exercise again logs a new completion.
ALTER TABLE completion ADD COLUMN withdrawn_at TEXT;

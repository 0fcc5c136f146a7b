-- The hash of the join id a phone sent with its invite code (with the code: see
-- patients.exchange_invite), or NULL (joined before this, or by an app that sent none). A join whose
-- answer was lost on the way is retried with the same id and answered again for the same device,
-- with a new token, instead of "this code was already used"; the join id itself is never stored.
ALTER TABLE patient_device ADD COLUMN join_hash TEXT;

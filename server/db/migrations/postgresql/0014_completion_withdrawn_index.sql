-- The taken-back completions of a patient's days, few beside the rest: each stored batch looks
-- them up (a take-back also takes back the same exercise's other completions of that time of day
-- and day logged before it), and without this index that read grew with every completion stored.
CREATE INDEX completion_withdrawn ON completion(patient_id, on_date) WHERE withdrawn_at IS NOT NULL;

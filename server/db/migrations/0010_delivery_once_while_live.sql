-- A device gets each slot's reminder at most once per local day and patient, but only rows that
-- are or may still be sent count: a reminder closed unsent (the patient changed or turned off that
-- slot, or the device was handed to another patient) no longer blocks the one that replaces it, at
-- the new time or for the new owner.
DROP INDEX reminder_delivery_once;
CREATE UNIQUE INDEX reminder_delivery_once ON reminder_delivery(subscription_id, patient_id, slot, on_date)
WHERE kind = 'reminder' AND status IN ('pending', 'sending', 'sent');

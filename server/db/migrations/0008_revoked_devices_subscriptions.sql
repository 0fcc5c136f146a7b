-- Revoking a device now deletes its push subscriptions (nothing is sent to them any more, and a
-- removed phone's push address and keys are not kept). Devices revoked before that still had them.
DELETE FROM push_subscription
WHERE device_id IN (SELECT id FROM patient_device WHERE revoked_at IS NOT NULL);

-- Why a device was revoked: 'idle' when it went unused for UNKNOT_DEVICE_IDLE_DAYS and expired
-- (patients.expire_idle_devices); NULL when the clinic removed it or archived the patient. The
-- console tells the two apart.
ALTER TABLE patient_device ADD COLUMN revoke_reason TEXT;
-- The scheduler looks for live devices unused too long on every tick: found by this index, not by
-- reading every device ever joined.
CREATE INDEX patient_device_live_seen ON patient_device(last_seen_at) WHERE revoked_at IS NULL;

-- The joined device (phone) a delivery went to, written when it is sent: its subscription is deleted
-- once its push service says it is gone (or the phone is removed), and the therapist's delivery log
-- still names the phone. NULL for rows logged before this, and for reminders never meant for a
-- phone (skipped, missed). The index serves the foreign key when a patient's devices are erased.
ALTER TABLE reminder_delivery ADD COLUMN device_id BIGINT REFERENCES patient_device(id) ON DELETE SET NULL;
CREATE INDEX reminder_delivery_device ON reminder_delivery(device_id) WHERE device_id IS NOT NULL;

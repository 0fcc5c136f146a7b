-- Why a reminder was closed unsent by a change of its slot. A reminder being sent at that moment
-- keeps its status (its send may still succeed, and it still holds the device's place for the
-- day) but is marked: should that send fail, it is closed for this reason instead of retried at
-- the old time, and after a crashed sender's lease it is closed rather than taken over.
ALTER TABLE reminder_delivery ADD COLUMN close_reason TEXT;

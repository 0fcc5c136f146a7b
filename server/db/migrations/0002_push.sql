-- Push reminders: subscriptions, reminder rules and the delivery log the scheduler works from.
-- Times are ISO 8601 text in UTC; local_time is 'HH:MM' in the patient's zone; on_date is the local date.

-- A browser's push subscription, registered by one of the patient's joined devices.
CREATE TABLE push_subscription (
    id INTEGER PRIMARY KEY,
    patient_id INTEGER NOT NULL REFERENCES patient(id) ON DELETE CASCADE,
    -- Revoking the device stops its reminders; deleting it removes the subscription.
    device_id INTEGER NOT NULL REFERENCES patient_device(id) ON DELETE CASCADE,
    endpoint TEXT NOT NULL UNIQUE,
    p256dh TEXT NOT NULL,
    auth TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    last_ok_at TEXT,
    -- Failed attempts since the last success.
    failures INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX push_subscription_patient ON push_subscription(patient_id);
CREATE INDEX push_subscription_device ON push_subscription(device_id);

-- Quiet hours and whether the patient has chosen their own rules (else the plan's defaults apply).
CREATE TABLE reminder_prefs (
    patient_id INTEGER PRIMARY KEY REFERENCES patient(id) ON DELETE CASCADE,
    customized INTEGER NOT NULL DEFAULT 0,
    quiet_start TEXT,
    quiet_end TEXT,
    updated_at TEXT NOT NULL
);

-- One rule per patient and slot. next_due_at is the next occurrence in UTC, computed
-- in `zone`; when the patient's zone changes the scheduler recomputes it.
CREATE TABLE reminder_rule (
    patient_id INTEGER NOT NULL REFERENCES patient(id) ON DELETE CASCADE,
    slot TEXT NOT NULL CHECK (slot IN ('morning', 'midday', 'evening')),
    local_time TEXT NOT NULL,
    -- Bit 0 = Monday ... bit 6 = Sunday.
    weekdays INTEGER NOT NULL CHECK (weekdays BETWEEN 0 AND 127),
    enabled INTEGER NOT NULL,
    zone TEXT NOT NULL,
    next_due_at TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (patient_id, slot)
);
CREATE INDEX reminder_rule_due ON reminder_rule(next_due_at) WHERE next_due_at IS NOT NULL;

-- One message to one subscription (or, without a subscription, a reminder that was
-- skipped or missed). The scheduler claims pending rows with a lease: while a row is
-- 'sending', next_attempt_at is when the claim expires and another sender may take it.
CREATE TABLE reminder_delivery (
    id INTEGER PRIMARY KEY,
    patient_id INTEGER NOT NULL REFERENCES patient(id) ON DELETE CASCADE,
    subscription_id INTEGER REFERENCES push_subscription(id) ON DELETE SET NULL,
    kind TEXT NOT NULL CHECK (kind IN ('reminder', 'test')),
    slot TEXT NOT NULL,
    on_date TEXT NOT NULL,
    due_at TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'gone', 'skipped', 'missed', 'expired')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    claim TEXT,
    payload TEXT NOT NULL DEFAULT '',
    sent_at TEXT,
    http_status INTEGER,
    last_error TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
-- A device gets each slot's reminder at most once per local day, however many schedulers run.
CREATE UNIQUE INDEX reminder_delivery_once ON reminder_delivery(subscription_id, slot, on_date) WHERE kind = 'reminder';
CREATE INDEX reminder_delivery_work ON reminder_delivery(next_attempt_at) WHERE status IN ('pending', 'sending');
CREATE INDEX reminder_delivery_patient ON reminder_delivery(patient_id, id);
CREATE INDEX reminder_delivery_created ON reminder_delivery(created_at);

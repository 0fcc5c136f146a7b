-- Every saved version of a plan, and when it was saved: adherence judges each day by the version
-- in force that day, so an edit does not rewrite the past. plan.program stays the current version
-- (the patient's hot path reads one row); a row here is written with every plan and every edit.
CREATE TABLE plan_version (
    plan_id INTEGER NOT NULL REFERENCES plan(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    program TEXT NOT NULL,
    saved_at TEXT NOT NULL,
    PRIMARY KEY (plan_id, version)
);
-- Earlier versions of existing plans were overwritten and cannot be recovered: the current one
-- stands for the whole plan, from the day the plan was made, as it did before this migration.
INSERT INTO plan_version (plan_id, version, program, saved_at)
    SELECT id, version, program, created_at FROM plan;

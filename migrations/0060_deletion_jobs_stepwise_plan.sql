-- Up Migration

-- A job's plan is now made a table per chunk (deletion.plan_step), so plan_step also says how far
-- planning has come.
COMMENT ON COLUMN deletion.deletion_jobs.plan_step IS 'While planning: the next table of the cascade tree to plan (tables before it are planned). While deleting: the plan step being deleted (steps above it are done).';

-- Down Migration

COMMENT ON COLUMN deletion.deletion_jobs.plan_step IS 'The plan step being deleted (steps above it are done).';

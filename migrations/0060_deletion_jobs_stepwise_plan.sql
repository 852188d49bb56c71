-- Up Migration

-- A job's plan is now made a table per chunk (deletion.plan_step), so plan_step also says how far
-- planning has come; and chunks walk a plan table row by row, not page by page, so plan_cursor is a
-- row's place.
COMMENT ON COLUMN deletion.deletion_jobs.plan_step IS 'While planning: the next table of the cascade tree to plan (tables before it are planned). While deleting: the plan step being deleted (steps above it are done).';
COMMENT ON COLUMN deletion.deletion_jobs.plan_cursor IS 'The place in the current step''s plan table (page x rows per page + item - 1) deleted down to: rows at and above it are done.';

-- Down Migration

COMMENT ON COLUMN deletion.deletion_jobs.plan_step IS 'The plan step being deleted (steps above it are done).';
COMMENT ON COLUMN deletion.deletion_jobs.plan_cursor IS 'The page of the current step''s plan table deleted down to: pages at and above it are done.';

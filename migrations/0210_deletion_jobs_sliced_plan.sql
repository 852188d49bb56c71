-- Up Migration

-- A job plans a big table in ranges of its pages, a chunk at a time (deletion.plan_slices), so that
-- no planning transaction reads a big table whole; this column says where the table being planned
-- has come to.
ALTER TABLE deletion.deletion_jobs ADD COLUMN plan_slice jsonb;
COMMENT ON COLUMN deletion.deletion_jobs.plan_slice IS 'While planning: how far the table at plan_step has been planned (deletion.plan_slices: its pass, the next page to read, the rows stored); NULL when that table is yet to begin.';

-- Down Migration

ALTER TABLE deletion.deletion_jobs DROP COLUMN plan_slice;

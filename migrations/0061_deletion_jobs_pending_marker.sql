-- Up Migration

-- Pending deletion, hidden at once: when a job is scheduled on a soft-delete table, its root row is
-- soft-deleted on its own (no cascade) by a soft-delete operation of its own, so the application
-- stops showing it the moment the deletion is asked for, while the job waits for its time. The job
-- remembers that operation here: cancelling the job restores it, a soft job continues it into the
-- full soft delete of the tree, a hard job marks it purged. Only the engine writes this column (the
-- application's column grants of 0040 leave it out).
ALTER TABLE deletion.deletion_jobs ADD COLUMN pending_op uuid;
COMMENT ON COLUMN deletion.deletion_jobs.pending_op IS 'The soft-delete operation (deletion.soft_delete_operations.op) that hides the job''s root row while the job waits; cleared when the job is done or cancelled, kept when it failed. NULL on tables without soft delete.';

-- Down Migration

ALTER TABLE deletion.deletion_jobs DROP COLUMN pending_op;

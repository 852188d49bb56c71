-- Up Migration

-- A worker pauses a job between chunks while its chunks wait on locks or a streaming replica is too
-- far behind; the job stays running (its heartbeat renewed) and is not failing. These columns say so,
-- for deletion.vw_deletion_jobs and the health view, so that a paused job reads as paused, not stuck.
ALTER TABLE deletion.deletion_jobs
  ADD COLUMN paused_since  timestamptz,
  ADD COLUMN paused_reason text;
COMMENT ON COLUMN deletion.deletion_jobs.paused_since IS 'Since when the worker holding the job has paused it between chunks (deletion.pause_job); NULL while it works.';
COMMENT ON COLUMN deletion.deletion_jobs.paused_reason IS 'Why the job is paused: locks (its chunks wait on locks other sessions hold) or replica_lag (a streaming replica is too far behind); NULL while it works.';

-- Down Migration

ALTER TABLE deletion.deletion_jobs DROP COLUMN paused_reason, DROP COLUMN paused_since;

-- Up Migration

-- The chunk transactions of a job's last run, one row each (every chunk that deleted or marked rows,
-- or deleted the root), with the rows its statements deleted and how long it took: what
-- `deletion-kit jobs undo` restores from the audit log (a hard job's chunks, newest first: parents
-- were deleted after their children, so they are put back before them, all in one transaction), and
-- what /metrics draws its chunk-duration histogram from. Written by the worker's chunk function
-- only; the rows of a job's earlier run are dropped when the job is re-armed (a new run).
CREATE TABLE deletion.deletion_job_transactions (
  job_id     bigint      NOT NULL,
  txid       bigint      NOT NULL,
  rows_deleted bigint    NOT NULL,
  chunk_ms   integer     NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT deletion_job_transactions_pkey PRIMARY KEY (job_id, txid),
  CONSTRAINT fk_deletion_job_transactions_job_id FOREIGN KEY (job_id) REFERENCES deletion.deletion_jobs (id) ON DELETE CASCADE
);
COMMENT ON TABLE deletion.deletion_job_transactions IS 'The chunk transactions of a deletion job''s last run that deleted or marked rows: what deletion.undo_job restores from the audit log, and the chunk durations /metrics reports.';
COMMENT ON COLUMN deletion.deletion_job_transactions.job_id IS 'The job.';
COMMENT ON COLUMN deletion.deletion_job_transactions.txid IS 'The chunk''s transaction id, as the audit log records it (audit.log.txid).';
COMMENT ON COLUMN deletion.deletion_job_transactions.rows_deleted IS 'Rows the chunk''s own statements deleted or soft-deleted.';
COMMENT ON COLUMN deletion.deletion_job_transactions.chunk_ms IS 'How long the chunk took, in milliseconds.';
COMMENT ON COLUMN deletion.deletion_job_transactions.created_at IS 'When the chunk ran.';
GRANT SELECT ON deletion.deletion_job_transactions TO deletion_admin;

-- When a job's last run was undone (deletion.undo_job); NULL otherwise. Cleared when it is re-armed.
ALTER TABLE deletion.deletion_jobs ADD COLUMN undone_at timestamptz;
COMMENT ON COLUMN deletion.deletion_jobs.undone_at IS 'When deletion.undo_job restored everything the job''s last run deleted; NULL otherwise.';

-- Down Migration

ALTER TABLE deletion.deletion_jobs DROP COLUMN undone_at;
DROP TABLE deletion.deletion_job_transactions;

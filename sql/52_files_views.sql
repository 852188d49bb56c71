-- Deferred file cleanup, part 3: what an operator watches (seed 002's stats endpoint, as views).
-- GitLab's loose-foreign-key backlogs grew silently to millions of rows; these views make the
-- backlog, its age and its failures one SELECT away (and `deletion-kit serve` exports them as
-- Prometheus metrics).
--
-- The views are created only when the queue table exists: `migrate down` rebuilds the engine code on
-- whatever migrations remain, and below migration 0050 there is no queue to show.
DO $file_views$
BEGIN
  IF to_regclass('deletion.pending_file_deletions') IS NULL THEN
    RETURN;
  END IF;

  -- One row: how many files wait, how many a cleaner holds, how many failed for good, how old the
  -- oldest waiting file is, and how many attempts the queue has cost so far.
  CREATE OR REPLACE VIEW deletion.vw_file_cleanup_stats AS
  SELECT count(*) FILTER (WHERE q.failed_at IS NULL AND (q.lease_expires_at IS NULL OR q.lease_expires_at <= now()))::bigint AS pending,
         count(*) FILTER (WHERE q.failed_at IS NULL AND q.lease_expires_at > now())::bigint                                 AS in_progress,
         count(*) FILTER (WHERE q.failed_at IS NOT NULL)::bigint                                                            AS failed,
         count(*) FILTER (WHERE q.failed_at IS NULL AND q.lease_expires_at IS NULL AND q.last_error IS NOT NULL)::bigint    AS retrying,
         min(q.queued_at) FILTER (WHERE q.failed_at IS NULL)                                                                AS oldest_pending_queued_at,
         coalesce(extract(epoch FROM now() - min(q.queued_at) FILTER (WHERE q.failed_at IS NULL)), 0)::double precision  AS oldest_pending_age_seconds,
         coalesce(sum(q.attempts), 0)::bigint                                                                               AS attempts
    FROM deletion.pending_file_deletions q;
  COMMENT ON VIEW deletion.vw_file_cleanup_stats IS 'File cleanup backlog: pending, in progress, failed, retrying (pending again after a failed attempt), oldest pending age, attempts so far.';

  -- The files that failed for good, newest first, with what storage said: what `files stats` lists
  -- and what an operator fixes before `deletion-kit files retry --failed`.
  CREATE OR REPLACE VIEW deletion.vw_failed_file_deletions AS
  SELECT q.storage_key, q.source_schema, q.source_table, q.source_pk, q.attempts, q.last_error, q.queued_at, q.failed_at
    FROM deletion.pending_file_deletions q
   WHERE q.failed_at IS NOT NULL
   ORDER BY q.failed_at DESC, q.id DESC;
  COMMENT ON VIEW deletion.vw_failed_file_deletions IS 'Files storage refused max-attempts times, with the last error; retried by deletion.retry_file_deletions(true).';

  -- Counts carry no file names, so the application may read them; the failed keys are for admins.
  GRANT SELECT ON deletion.vw_file_cleanup_stats TO deletion_app, deletion_admin;
  GRANT SELECT ON deletion.vw_failed_file_deletions TO deletion_admin;
END
$file_views$;

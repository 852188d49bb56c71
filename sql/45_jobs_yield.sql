-- Deletion jobs, part 6: a worker that yields. Between chunks a worker gives way in two cases:
--   * to other tenants: with jobs for several roots due, a worker that finished a chunk hands its job
--     back when another job is due (deletion.yield_job), and claims the one worked least recently
--     (deletion.claim_job orders by the last heartbeat, jobs never worked first). So chunks of the
--     due jobs alternate, and a big tenant's delete never starves a small one's;
--   * to the database: while its chunks wait on locks (a chunk that hit the worker's lock_timeout)
--     or a streaming replica is too far behind, the worker pauses the job (deletion.pause_job: the
--     job stays running, its heartbeat renewed, paused_since and paused_reason set) and resumes by
--     itself (deletion.pause_job with no reason) when a chunk goes through again.
-- Both are SECURITY DEFINER (the job columns are the engine's), act only on a job this session holds
-- (deletion.held_job: PD403 otherwise), and only deletion_admin may call them, like the worker's
-- other functions.

-- Loaded only when migration 0040 is applied (no deletion.deletion_jobs below it); pause_job only
-- when 0150 is (its columns). One DO block, body not indented, as in the other job modules.
DO $jobs_yield$
BEGIN
IF to_regclass('deletion.deletion_jobs') IS NULL THEN
  RETURN;  -- migration 0040 is not applied: no deletion jobs
END IF;

-- Hands a held job back (pending, due at once, plan and progress kept) when another job is due now,
-- and says whether it did. The job's heartbeat is the time it was last worked, which is how
-- claim_job then takes the job worked least recently.
CREATE OR REPLACE FUNCTION deletion.yield_job(job_id bigint)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  job deletion.deletion_jobs := deletion.held_job(job_id);
BEGIN
  IF NOT EXISTS (SELECT 1 FROM deletion.deletion_jobs c
                  WHERE c.id <> job.id AND c.status = 'pending'
                    AND coalesce(c.next_attempt_at, c.scheduled_at, '-infinity') <= now()) THEN
    RETURN false;
  END IF;
  -- The time it was last worked, to the microsecond (clock_timestamp: also within one transaction).
  UPDATE deletion.deletion_jobs j SET heartbeat_at = clock_timestamp() WHERE j.id = job.id;
  PERFORM deletion.release_job(job.id);
  RETURN true;
END
$$;
COMMENT ON FUNCTION deletion.yield_job(bigint) IS 'Between chunks: gives a held job back (pending, due at once) when another job is due, so that the due jobs'' chunks interleave; true when it did.';
REVOKE EXECUTE ON FUNCTION deletion.yield_job(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION deletion.yield_job(bigint) TO deletion_admin;

IF NOT deletion.job_column_installed('paused_since') THEN
  RETURN;  -- migration 0150 is not applied: no pause columns
END IF;

-- Marks a held job paused for a reason ('locks', 'replica_lag'), keeping the first paused_since of a
-- pause and renewing the heartbeat (a paused job is not stuck); with reason NULL, marks it working
-- again.
CREATE OR REPLACE FUNCTION deletion.pause_job(job_id bigint, reason text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  job deletion.deletion_jobs := deletion.held_job(job_id);
BEGIN
  IF pause_job.reason IS NOT NULL AND pause_job.reason NOT IN ('locks', 'replica_lag') THEN
    RAISE EXCEPTION 'a job pauses for locks or replica_lag, not "%"', pause_job.reason USING ERRCODE = '22023',
      HINT = 'pass NULL to mark it working again';
  END IF;
  UPDATE deletion.deletion_jobs j
     SET paused_since = CASE WHEN pause_job.reason IS NULL THEN NULL ELSE coalesce(j.paused_since, now()) END,
         paused_reason = pause_job.reason,
         heartbeat_at = now()
   WHERE j.id = job.id;
END
$$;
COMMENT ON FUNCTION deletion.pause_job(bigint, text) IS 'Marks a held job paused between chunks (reason locks or replica_lag; heartbeat renewed), or working again with reason NULL.';
REVOKE EXECUTE ON FUNCTION deletion.pause_job(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION deletion.pause_job(bigint, text) TO deletion_admin;

END
$jobs_yield$;

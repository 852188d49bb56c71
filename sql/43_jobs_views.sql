-- Deletion jobs, part 4: backlog health in one query. GitLab's loose foreign keys show what to avoid:
-- a backlog that grows silently for months. These views make it loud.

-- A job counts as stuck when it runs but its worker's heartbeat is older than this (the worker's
-- default lease), or when it is pending and has been due for longer.
CREATE OR REPLACE FUNCTION deletion.job_stuck_after()
RETURNS interval
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$ SELECT interval '5 minutes' $$;
COMMENT ON FUNCTION deletion.job_stuck_after() IS 'How late a job may be before the views call it overdue or stuck (5 minutes).';
-- The job views run with the reader's rights (security_invoker), so whoever may read them must be
-- able to execute this too: without the grant, every role but a superuser got "permission denied
-- for function job_stuck_after" from deletion-kit jobs. It returns a constant and reads nothing.
GRANT EXECUTE ON FUNCTION deletion.job_stuck_after() TO deletion_app, deletion_admin;

-- The views exist only when migration 0040 is applied: `migrate down` rebuilds the engine on whatever
-- migrations remain, and below 0040 there is no deletion.deletion_jobs to show. So the module is one
-- DO block that returns at once when the table is absent (its body is not indented).
DO $jobs_views$
BEGIN
IF to_regclass('deletion.deletion_jobs') IS NULL THEN
  RETURN;  -- migration 0040 is not applied: no deletion jobs
END IF;

-- Each job, with its age, whether it is overdue or stuck, its pending-deletion marker and its
-- progress. created_by is the actor label the job was scheduled with; the engine reads no product
-- table to name it (an application joins its own users if it wants names). The views run with the
-- reader's rights (security_invoker). pending_op and scheduled_by_role are NULL when migrations 0061
-- and 0070 are not applied (after `migrate down`); paused_since and paused_reason (a running job its
-- worker paused between chunks, deletion.pause_job) when 0150 is not.
EXECUTE format($v$
CREATE OR REPLACE VIEW deletion.vw_deletion_jobs WITH (security_invoker = true) AS
SELECT j.id,
       j.entity_table,
       j.entity_pk,
       j.hard_delete,
       j.status,
       j.reason,
       j.error,
       j.created_at,
       j.created_by,
       %s AS scheduled_by_role,
       j.scheduled_at,
       j.started_at,
       j.finished_at,
       now() - j.created_at AS age,
       j.status = 'pending' AND coalesce(j.next_attempt_at, j.scheduled_at) < now() - deletion.job_stuck_after() AS overdue,
       j.status = 'running' AND j.heartbeat_at < now() - deletion.job_stuck_after() AS stuck,
       j.phase,
       j.attempts,
       j.max_attempts,
       j.next_attempt_at,
       j.cancel_requested,
       %s AS pending_op,
       j.lease_owner,
       j.heartbeat_at,
       j.rows_planned,
       j.rows_deleted,
       CASE WHEN j.status NOT IN ('pending', 'running') THEN 0
            WHEN j.phase = 'delete' THEN j.rows_remaining + 1
            ELSE 1 END AS rows_remaining,
       CASE WHEN j.status = 'done' THEN 100.0
            WHEN j.phase = 'delete' AND j.rows_planned > 0 THEN round(100.0 * (j.rows_planned - j.rows_remaining) / (j.rows_planned + 1), 1)
            ELSE 0.0 END AS percent_done,
       j.chunks,
       j.takeovers,
       coalesce(j.finished_at, now()) - j.started_at AS run_time,
       %s AS paused_since,
       %s AS paused_reason
  FROM deletion.deletion_jobs j
$v$,
    CASE WHEN deletion.job_column_installed('scheduled_by_role') THEN 'j.scheduled_by_role' ELSE 'NULL::name' END,
    CASE WHEN deletion.job_markers_installed() THEN 'j.pending_op' ELSE 'NULL::uuid' END,
    CASE WHEN deletion.job_column_installed('paused_since') THEN 'CASE WHEN j.status = ''running'' THEN j.paused_since END' ELSE 'NULL::timestamptz' END,
    CASE WHEN deletion.job_column_installed('paused_since') THEN 'CASE WHEN j.status = ''running'' THEN j.paused_reason END' ELSE 'NULL::text' END);
COMMENT ON VIEW deletion.vw_deletion_jobs IS 'Each deletion job with its actor and scheduling role, age, overdue/stuck flags, pending-deletion marker, progress (rows planned, deleted, remaining, percent) and whether its worker paused it (since when, why).';

-- The backlog in one row: jobs per status, the oldest pending job's age, overdue and stuck jobs, rows
-- still to delete (planned rows of running jobs; a job not yet planned counts its root only), the
-- deletion rate of the last hour and the time to drain the backlog at that rate; then (added later,
-- so at the end) the failed jobs that something blocked (their error begins with 'blocked:'), the
-- oldest pending age in seconds, the rows still to delete per job table, and the running jobs their
-- worker paused (waiting on locks or a replica: not a failure, healthy stays true).
CREATE OR REPLACE VIEW deletion.vw_deletion_jobs_status WITH (security_invoker = true) AS
WITH recent AS (
  SELECT sum(j.rows_deleted) AS rows_deleted,
         sum(extract(epoch FROM j.finished_at - j.started_at)) AS seconds
    FROM deletion.deletion_jobs j
   WHERE j.status = 'done' AND j.finished_at > now() - interval '1 hour' AND j.started_at IS NOT NULL
), backlog AS (
  SELECT count(*) FILTER (WHERE v.status = 'pending') AS pending,
         count(*) FILTER (WHERE v.status = 'running') AS running,
         count(*) FILTER (WHERE v.status = 'done') AS done,
         count(*) FILTER (WHERE v.status = 'failed') AS failed,
         count(*) FILTER (WHERE v.status = 'cancelled') AS cancelled,
         count(*) FILTER (WHERE v.status = 'pending' AND coalesce(v.next_attempt_at, v.scheduled_at) <= now()) AS due,
         count(*) FILTER (WHERE v.overdue) AS overdue,
         count(*) FILTER (WHERE v.stuck) AS stuck,
         count(*) FILTER (WHERE v.status = 'pending' AND v.attempts > 0) AS retrying,
         max(now() - v.created_at) FILTER (WHERE v.status = 'pending') AS oldest_pending_age,
         coalesce(sum(v.rows_remaining) FILTER (WHERE v.status IN ('pending', 'running')), 0)::bigint AS rows_remaining,
         count(*) FILTER (WHERE v.status = 'failed' AND v.error LIKE 'blocked:%') AS blocked,
         count(*) FILTER (WHERE v.paused_since IS NOT NULL) AS paused
    FROM deletion.vw_deletion_jobs v
), by_table AS (
  SELECT coalesce(jsonb_object_agg(t.entity_table, t.rows_remaining), '{}') AS rows_remaining_by_table
    FROM (SELECT v.entity_table, sum(v.rows_remaining)::bigint AS rows_remaining
            FROM deletion.vw_deletion_jobs v
           WHERE v.status IN ('pending', 'running')
           GROUP BY v.entity_table) t
)
SELECT b.pending, b.running, b.done, b.failed, b.cancelled, b.due, b.overdue, b.stuck, b.retrying,
       b.oldest_pending_age,
       b.rows_remaining,
       round(r.rows_deleted / nullif(r.seconds, 0)) AS rows_per_second,
       make_interval(secs => b.rows_remaining / nullif(r.rows_deleted / nullif(r.seconds, 0), 0)) AS time_to_drain,
       b.overdue = 0 AND b.stuck = 0 AND b.failed = 0 AS healthy,
       b.blocked,
       coalesce(extract(epoch FROM b.oldest_pending_age), 0)::numeric(12, 1) AS oldest_pending_seconds,
       t.rows_remaining_by_table,
       b.paused
  FROM backlog b CROSS JOIN recent r CROSS JOIN by_table t;
COMMENT ON VIEW deletion.vw_deletion_jobs_status IS 'Backlog health in one row: jobs per status, due, overdue, stuck, retrying, blocked, paused, oldest pending age, rows remaining (in all and per table), recent rate and time to drain.';

GRANT SELECT ON deletion.vw_deletion_jobs, deletion.vw_deletion_jobs_status TO deletion_app, deletion_admin;

END
$jobs_views$;

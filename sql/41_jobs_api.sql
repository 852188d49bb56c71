-- Deletion jobs, part 2: the API any client calls. Job rows are written by these SECURITY DEFINER
-- functions only (no role may write deletion_jobs directly), so every job passes schedule's checks
-- and only the role that scheduled a job, or deletion_admin, may cancel it. Rights follow the
-- calling role (deletion.calling_role(): the role the session acts as), never the actor label in
-- created_by. A hard delete needs deletion_admin (or the table's owner), because the worker that
-- carries it out acts with the engine's privileges.
--
-- Pending deletion, hidden at once: on a soft-delete table, scheduling soft-deletes the root row on
-- its own (no cascade) with a soft-delete operation of its own, the job's marker (pending_op,
-- migration 0061), so the application stops showing the row the moment the deletion is asked for,
-- even when the job runs days later. The tree below it is the job's work. The marker ends with the
-- job: a cancelled job restores it (the row is shown again, exactly), a soft job continues it into
-- the soft delete of the whole tree (one operation in the trash, before and after), a hard job marks
-- it purged; a failed job keeps it (the row stays hidden, restorable from the trash). Restoring the
-- marker while the job waits cancels the job when it runs.

-- Loaded only when migration 0040 is applied: `migrate down` rebuilds the engine on whatever
-- migrations remain, and below 0040 there is no deletion.deletion_jobs, whose row type (and, here,
-- policies) this module's functions name. So the module is one DO block that returns at once when the
-- table is absent; its body is not indented, so that each function reads as in the other modules.
DO $jobs_api$
BEGIN
IF to_regclass('deletion.deletion_jobs') IS NULL THEN
  RETURN;  -- migration 0040 is not applied: no deletion jobs
END IF;

-- Who may see job rows: everyone in deletion_app / deletion_admin sees every job (backlog health is
-- everybody's business). Nobody but the engine's own role writes them (migration 0070).
DROP POLICY IF EXISTS deletion_jobs_read ON deletion.deletion_jobs;
CREATE POLICY deletion_jobs_read ON deletion.deletion_jobs FOR SELECT USING (true);
DROP POLICY IF EXISTS deletion_jobs_schedule ON deletion.deletion_jobs;
DROP POLICY IF EXISTS deletion_jobs_rearm ON deletion.deletion_jobs;

-- The canonical text of a key, so the same entity always gets the same job: the key value cast to
-- its column's type and back (' 42' and '42' are one key), or a normalised JSON array for a
-- composite key. Errors from deletion.key_predicate: 42P10, 22023, 22P02.
CREATE OR REPLACE FUNCTION deletion.canonical_key(target regclass, pk text)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
  single_type text;
  canonical text;
BEGIN
  PERFORM deletion.key_predicate(target, pk);  -- validates shape and casts, with clear errors
  IF (SELECT count(*) FROM deletion.primary_key_columns(target)) = 1 THEN
    SELECT k.type_name INTO single_type FROM deletion.primary_key_columns(target) k;
    EXECUTE format('SELECT (%L::%s)::text', pk, single_type) INTO canonical;
    RETURN canonical;
  END IF;
  RETURN pk::jsonb::text;
END
$$;
COMMENT ON FUNCTION deletion.canonical_key(regclass, text) IS 'The canonical text of a primary key (cast to its type and back; normalised JSON for a composite key).';

-- The schema-qualified name a job stores for its table (entity_table): public.workspaces.
CREATE OR REPLACE FUNCTION deletion.job_table_name(target regclass)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = target
$$;
COMMENT ON FUNCTION deletion.job_table_name(regclass) IS 'The schema-qualified table name a deletion job stores in entity_table.';

-- Whether deletion_jobs has a column that a later migration added: the pending-deletion marker
-- (pending_op, 0061), the scheduling role (scheduled_by_role, 0070). The engine is rebuilt on whatever
-- migrations remain after `migrate down`, so the code that writes them asks first.
CREATE OR REPLACE FUNCTION deletion.job_column_installed(column_name name)
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT EXISTS (SELECT 1 FROM pg_attribute a
                  WHERE a.attrelid = to_regclass('deletion.deletion_jobs') AND a.attname = column_name AND NOT a.attisdropped)
$$;
COMMENT ON FUNCTION deletion.job_column_installed(name) IS 'True when deletion_jobs has the given column (added by a later migration).';

CREATE OR REPLACE FUNCTION deletion.job_markers_installed()
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT deletion.job_column_installed('pending_op')
$$;
COMMENT ON FUNCTION deletion.job_markers_installed() IS 'True when deletion_jobs has its pending_op column (migration 0061).';


-- A job's pending-deletion marker: the soft-delete operation that hides its root while it waits, or
-- NULL (no soft delete on the table, the row was already deleted, or migration 0061 is not applied:
-- read through JSON for that reason).
CREATE OR REPLACE FUNCTION deletion.job_pending_op(job deletion.deletion_jobs)
RETURNS uuid
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
  SELECT (to_jsonb(job) ->> 'pending_op')::uuid
$$;
COMMENT ON FUNCTION deletion.job_pending_op(deletion.deletion_jobs) IS 'The pending-deletion marker (soft-delete operation) of a job, or NULL.';

-- Whether the row (target, canonical key) is hidden by the pending-deletion marker of its own job.
-- Row-level security hides such a row from the application, yet it is the row the job is about:
-- scheduling it again must find the live job, and re-arming a failed job (whose marker stays) must
-- find its row. The caller cannot see the row, so the check runs as the engine's owner; it tells
-- the caller no more than deletion_jobs does (every job, with its key, is readable by the roles).
CREATE OR REPLACE FUNCTION deletion.job_root_hidden(target regclass, job_pk text)
RETURNS boolean
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  marker uuid;
  hidden boolean;
BEGIN
  IF NOT deletion.job_markers_installed() OR NOT deletion.is_soft_delete_table(target) THEN
    RETURN false;
  END IF;
  SELECT j.pending_op INTO marker FROM deletion.deletion_jobs j
   WHERE j.entity_table = deletion.job_table_name(target) AND j.entity_pk = job_pk;
  IF marker IS NULL THEN
    RETURN false;
  END IF;
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s r WHERE %s AND r.deletion_op = $1)', target, deletion.key_predicate(target, job_pk, 'r'))
     INTO hidden USING marker;
  RETURN hidden;
END
$$;
COMMENT ON FUNCTION deletion.job_root_hidden(regclass, text) IS 'True when the row is hidden by the pending-deletion marker of its own deletion job.';

-- Hides the root row of a pending job on a soft-delete table at once: one soft-delete operation that
-- marks the root row alone (deleted_at, deleted_by = the job's creator, deletion_reason 'pending
-- deletion job <id>: <reason>', deletion_op), logged in deletion.soft_delete_operations like any
-- other (root_key and rows_per_table in soft_delete_rows' shape), so the trash lists it and
-- deletion.restore can bring it back. Setting deletion_op in the same UPDATE keeps the
-- deletion_20_soft_delete_update trigger from turning it into a cascading soft delete. The
-- operation's id is stored in the job's pending_op. A job whose marker still hides its row (a failed
-- job re-armed) keeps it; a row that is already soft-deleted by an operation of its own, or gone,
-- gets no marker (NULL).
-- Internal: deletion.schedule calls it right after creating or re-arming the job, having checked that
-- the calling role may delete the row.
CREATE OR REPLACE FUNCTION deletion.hide_job_root(job_id bigint)
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  job deletion.deletion_jobs;
  target regclass;
  marker uuid;
  still_hidden boolean;
  stamped_at timestamptz := now();
  marker_reason text;
  image jsonb;
BEGIN
  IF NOT deletion.job_markers_installed() THEN
    RETURN NULL;
  END IF;
  SELECT * INTO job FROM deletion.deletion_jobs j WHERE j.id = job_id FOR UPDATE;
  IF NOT FOUND OR job.status <> 'pending' THEN
    RETURN NULL;
  END IF;
  target := to_regclass(job.entity_table);
  IF target IS NULL OR NOT deletion.is_soft_delete_table(target) THEN
    RETURN NULL;
  END IF;
  marker := deletion.job_pending_op(job);
  IF marker IS NOT NULL THEN
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s r WHERE %s AND r.deletion_op = $1)', target, deletion.key_predicate(target, job.entity_pk, 'r'))
       INTO still_hidden USING marker;
    IF still_hidden THEN
      RETURN marker;
    END IF;
  END IF;

  marker := gen_random_uuid();
  marker_reason := format('pending deletion job %s', job_id) || coalesce(': ' || job.reason, '');
  EXECUTE format('UPDATE %s AS r SET %s WHERE %s AND r.deleted_at IS NULL RETURNING to_jsonb(r)',
                 target, deletion.soft_delete_stamp(target), deletion.key_predicate(target, job.entity_pk, 'r'))
     INTO image USING stamped_at, job.created_by, marker_reason, marker;
  IF image IS NULL THEN
    marker := NULL;
  ELSE
    INSERT INTO deletion.soft_delete_operations (op, root_table, root_key, deleted_by, deletion_reason, performed_at, rows_per_table)
    VALUES (marker, target::text, jsonb_build_array(deletion.key_of(target, image)), job.created_by, marker_reason, stamped_at,
            jsonb_build_object(target::text, 1));
    -- Its unique values step aside, as for any soft-deleted row (sql/12_soft_delete.sql).
    PERFORM deletion.step_aside_deleted_rows(target, marker);
  END IF;
  UPDATE deletion.deletion_jobs j SET pending_op = marker WHERE j.id = job_id;
  RETURN marker;
END
$$;
COMMENT ON FUNCTION deletion.hide_job_root(bigint) IS 'Soft-deletes the root row of a pending deletion job on its own (no cascade), as the job''s pending-deletion marker; returns the operation id (NULL when nothing was hidden).';

-- What becomes of a job's pending-deletion marker when the job ends. Internal: finish_job calls it.
--   cancelled  the marker operation is restored (deletion.restore), so the row is shown again exactly
--              as it was. When it cannot be (PD110: its unique key was taken meanwhile, or its parent
--              was soft-deleted since), the cancel fails with that error and nothing changes;
--   done       a soft job has continued the marker into the soft delete of its tree; a hard job has
--              deleted the row, so the marker is marked purged and the trash no longer lists it;
--   failed     the marker stays: the row stays hidden, in the trash, until the job is re-armed (or an
--              admin restores it, which cancels the job when it runs again);
--   blocked    (a job that failed because something blocks its tree) the marker is restored as when
--              cancelled, so what remains of the tree is visible again; when it cannot be (PD110),
--              the marker stays and the row stays in the trash.
-- A marker that was restored meanwhile is left as it is. The job's pending_op is cleared (except on
-- failure): it names a marker only while the marker hides the row for the job.
CREATE OR REPLACE FUNCTION deletion.settle_job_marker(job_id bigint, outcome text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  job deletion.deletion_jobs;
  marker uuid;
  operation deletion.soft_delete_operations;
  problem text;
BEGIN
  SELECT * INTO job FROM deletion.deletion_jobs j WHERE j.id = job_id;
  marker := deletion.job_pending_op(job);
  IF marker IS NULL OR outcome = 'failed' THEN
    RETURN;
  END IF;
  SELECT * INTO operation FROM deletion.soft_delete_operations o WHERE o.op = marker FOR UPDATE;
  IF FOUND AND operation.restored_at IS NULL AND operation.purged_at IS NULL THEN
    IF outcome = 'blocked' THEN
      BEGIN
        PERFORM deletion.restore(marker);
      EXCEPTION WHEN SQLSTATE 'PD110' THEN
        RETURN;  -- the row cannot be shown again: it stays in the trash, the job keeps naming it
      END;
    ELSIF outcome = 'cancelled' THEN
      BEGIN
        PERFORM deletion.restore(marker);
      EXCEPTION WHEN SQLSTATE 'PD110' THEN
        GET STACKED DIAGNOSTICS problem = MESSAGE_TEXT;
        RAISE EXCEPTION 'deletion job % cannot be cancelled: its row % of % cannot be shown again: %', job_id, job.entity_pk, job.entity_table, problem
          USING ERRCODE = 'PD110',
                HINT = 'free the unique key (or restore the deleted parent), then cancel again; the job and its row are unchanged';
      END;
    ELSIF job.hard_delete THEN
      UPDATE deletion.soft_delete_operations o SET purged_at = now() WHERE o.op = marker;
    END IF;
  END IF;
  UPDATE deletion.deletion_jobs j SET pending_op = NULL WHERE j.id = job_id;
END
$$;
COMMENT ON FUNCTION deletion.settle_job_marker(bigint, text) IS 'Ends a job''s pending-deletion marker with the job: restored when cancelled (PD110 when it cannot be), purged when a hard job is done, kept when it failed.';

-- What would stop a job on this row, as the job itself would run: deletion.plan, run as the engine
-- (whose chunks pass the protection an admin passes) with the job's mode (a hard job deletes with
-- deletion.mode = 'hard', a soft job soft-deletes), reduced to its blocked rows: RESTRICT and NO
-- ACTION foreign keys from rows outside the tree, protection rules, cascades a soft-delete table
-- refuses. No rows: nothing blocks the job now. Internal: deletion.schedule checks it before it
-- accepts a job, deletion.run_chunk names the blockers when a chunk hits one later.
CREATE OR REPLACE FUNCTION deletion.job_blockers(target regclass, pk text, hard boolean)
RETURNS TABLE (table_name regclass, action text, rows bigint, via text[], detail text)
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  previous_mode text := current_setting('deletion.mode', true);
BEGIN
  PERFORM set_config('deletion.mode', CASE WHEN hard THEN 'hard' ELSE '' END, true);
  RETURN QUERY SELECT p.table_name, p.action, p.rows, p.via, p.detail
                 FROM deletion.plan(target, pk) p
                WHERE p.action LIKE 'blocked%'
                  -- a soft job removes nothing, so only protection can block it, and only where the
                  -- plan took the soft path (a table whose plain DELETE stays hard plans a hard delete)
                  AND (hard OR (p.action = 'blocked by protection' AND deletion.policy_flag(target, 'delete_becomes_soft')))
                ORDER BY p.depth, p.table_name::text, p.action;
  PERFORM set_config('deletion.mode', coalesce(previous_mode, ''), true);
END
$$;
COMMENT ON FUNCTION deletion.job_blockers(regclass, text, boolean) IS 'What would block a deletion job on a row, as the job would run (deletion.plan as the engine, in the job''s mode): the plan''s blocked rows; none when nothing blocks it.';

-- The blockers of a job as one line for an error message or a job's error column:
-- "public.audit_holds: 3 rows blocked by restrict (holds_workspace_id_fkey): ...; ...".
CREATE OR REPLACE FUNCTION deletion.job_blockers_text(target regclass, pk text, hard boolean)
RETURNS text
LANGUAGE sql
SET search_path = pg_catalog
AS $$
  SELECT string_agg(format('%s: %s rows %s%s%s', b.table_name, b.rows, b.action,
                           CASE WHEN cardinality(b.via) > 0 THEN format(' (%s)', array_to_string(b.via, ', ')) ELSE '' END,
                           coalesce(': ' || b.detail, '')), '; ')
    FROM deletion.job_blockers(target, pk, hard) b
$$;
COMMENT ON FUNCTION deletion.job_blockers_text(regclass, text, boolean) IS 'The blockers of a deletion job on a row as one line (NULL when none).';

-- Schedules a deletion (a ScheduledDeletion, in Sentry's words). Validates, for the calling role:
-- the table (registered, and for a soft job soft-deletable), the role's right to delete from it (and
-- for a hard job to be deletion_admin or the table's owner), the key (shape and cast), and that the
-- row exists and is active (or is hidden by its own job's pending-deletion marker). A table with
-- row-level-security policies of its own is refused for roles that are not admins: this function
-- runs as the engine and cannot apply those policies as the caller, so it does not pretend to.
-- Scheduling an entity that already has a pending or running job returns that job, unchanged; a
-- cancelled, failed or done one is re-armed with the new arguments and belongs to the calling role
-- from then on, as a new run: phase, plan, progress and counters start again from nothing. On a soft-delete table the job, soft or hard, hides its root row at once
-- (deletion.hide_job_root): the application stops showing it now, the job deletes its tree later.
-- A tree that something blocks (a RESTRICT foreign key from a row outside it, a protection rule:
-- deletion.job_blockers) is refused up front with the blockers in the error, instead of a job that
-- would retry and fail while its root stays hidden; an admin may schedule it anyway with
-- SET LOCAL deletion.force_blocked = 'on' (for a blocker that will be gone by the job's time; the
-- setting is ignored for any other role). A live job that is returned unchanged is not checked again.
-- notify_before: the job writes a due_soon event (sql/70_notifications.sql) that long before run_at,
-- so that an application can tell its users before their data goes; the job's scheduled event is
-- written here, in the caller's transaction.
-- Errors: PD401 table not registered; PD402 soft job on a table without soft delete; 42501 not
-- allowed; 22P02 / 22023 / 42P10 bad key (22023 too for a notify_before that is not positive); P0002
-- no such row; 22004 NULL argument; PD406 blocked.
-- (Before notify_before it had six arguments: that version is dropped, so calls never see two.)
DROP FUNCTION IF EXISTS deletion.schedule(regclass, text, timestamptz, boolean, text, text);
CREATE OR REPLACE FUNCTION deletion.schedule(
  target regclass,
  pk text,
  run_at timestamptz DEFAULT now(),
  hard boolean DEFAULT false,
  reason text DEFAULT NULL,
  created_by text DEFAULT NULL,
  notify_before interval DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  caller name := deletion.calling_role();
  job_table text;
  job_pk text;
  row_exists boolean;
  job_id bigint;
  blockers text;
BEGIN
  IF target IS NULL OR pk IS NULL THEN
    RAISE EXCEPTION 'deletion.schedule needs a table and a key' USING ERRCODE = '22004';
  END IF;
  IF notify_before IS NOT NULL AND (notify_before <= interval '0' OR NOT deletion.job_column_installed('notify_before')) THEN
    RAISE EXCEPTION 'notify_before must be a positive interval (and needs the deletion events migration), not %', notify_before
      USING ERRCODE = '22023', HINT = 'pass how long before run_at the due_soon event comes, like interval ''1 day'' (deletion-kit migrate installs the events)';
  END IF;
  IF deletion.policy_of(target) IS NULL THEN
    RAISE EXCEPTION 'table % is not registered in deletion.table_policies', target
      USING ERRCODE = 'PD401', HINT = format('register it first: SELECT deletion.register_table(%L, ''why it is deleted this way'')', target::text);
  END IF;
  IF coalesce(hard, false) AND NOT deletion.caller_is_admin(target) THEN
    RAISE EXCEPTION 'only deletion_admin may schedule a hard delete of %', target
      USING ERRCODE = '42501', HINT = 'schedule a soft delete (hard => false), or ask an admin';
  END IF;
  -- (An archived table's soft job deletes the row, which archives it: sql/17_soft_delete_archive.sql.)
  IF NOT coalesce(hard, false) AND NOT deletion.is_soft_delete_table(target)
     AND to_jsonb(deletion.policy_of(target)) ->> 'storage' IS DISTINCT FROM 'archive' THEN
    RAISE EXCEPTION 'table % has no soft delete, so a job on it can only hard-delete', target
      USING ERRCODE = 'PD402', HINT = 'schedule with hard => true (needs deletion_admin), or enable soft delete on the table';
  END IF;
  IF NOT has_table_privilege(caller, target, 'DELETE') THEN
    RAISE EXCEPTION 'permission denied to delete from %', target USING ERRCODE = '42501';
  END IF;
  IF NOT deletion.caller_is_admin(target)
     AND EXISTS (SELECT FROM pg_policy p WHERE p.polrelid = target AND p.polname NOT LIKE 'deletion\_%') THEN
    RAISE EXCEPTION 'table % has row-level-security policies of its own, which deletion.schedule cannot apply for role %', target, caller
      USING ERRCODE = '42501', HINT = 'schedule its deletions as deletion_admin (or the table''s owner), or soft-delete the row directly';
  END IF;

  job_pk := deletion.canonical_key(target, pk);
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s r WHERE %s%s)', target, deletion.key_predicate(target, job_pk, 'r'),
                 CASE WHEN deletion.is_soft_delete_table(target) THEN ' AND r.deleted_at IS NULL' ELSE '' END)
     INTO row_exists;
  IF NOT row_exists THEN
    row_exists := deletion.job_root_hidden(target, job_pk);  -- hidden, but it is this job's row
  END IF;
  IF NOT row_exists THEN
    RAISE EXCEPTION 'no row of % has the key %', target, pk USING ERRCODE = 'P0002';
  END IF;
  job_table := deletion.job_table_name(target);

  IF NOT EXISTS (SELECT 1 FROM deletion.deletion_jobs j
                  WHERE j.entity_table = job_table AND j.entity_pk = job_pk AND j.status IN ('pending', 'running'))
     AND NOT (coalesce(current_setting('deletion.force_blocked', true), '') = 'on' AND deletion.caller_is_admin(target)) THEN
    blockers := deletion.job_blockers_text(target, job_pk, coalesce(hard, false));
    IF blockers IS NOT NULL THEN
      RAISE EXCEPTION 'the deletion of % % is blocked: %', job_table, job_pk, blockers
        USING ERRCODE = 'PD406',
              HINT = 'remove what blocks it first (deletion-kit plan shows it), or, as deletion_admin, SET LOCAL deletion.force_blocked = ''on'' to schedule it anyway (the job fails when it reaches the blocker); nothing was scheduled';
    END IF;
  END IF;

  INSERT INTO deletion.deletion_jobs AS j (entity_table, entity_pk, hard_delete, reason, created_by, scheduled_at)
  VALUES (job_table, job_pk, coalesce(hard, false), reason,
          coalesce(schedule.created_by, deletion.current_actor()), coalesce(run_at, now()))
  ON CONFLICT ON CONSTRAINT uq_deletion_jobs DO UPDATE
     SET status = 'pending', hard_delete = excluded.hard_delete, reason = excluded.reason,
         created_by = excluded.created_by, scheduled_at = excluded.scheduled_at, error = NULL,
         finished_at = NULL, attempts = 0, next_attempt_at = NULL, cancel_requested = false,
         -- A new run plans afresh: nothing of the last run's plan, progress or figures is kept
         -- (a done job's phase 'finished' would otherwise end the new run at once, deleting nothing).
         phase = 'plan', plan = NULL, plan_step = NULL, plan_slice = NULL, plan_cursor = NULL, plan_server_start = NULL,
         rows_planned = 0, rows_remaining = NULL, rows_deleted = 0, chunks = 0, takeovers = 0,
         started_at = NULL, heartbeat_at = NULL, lease_owner = NULL, lease_pid = NULL, lease_backend_start = NULL
   WHERE j.status IN ('cancelled', 'failed', 'done')
  RETURNING j.id INTO job_id;
  IF job_id IS NOT NULL AND deletion.job_column_installed('scheduled_by_role') THEN
    EXECUTE 'UPDATE deletion.deletion_jobs SET scheduled_by_role = $1 WHERE id = $2' USING caller, job_id;
  END IF;
  IF job_id IS NOT NULL AND deletion.job_column_installed('undone_at') THEN
    -- A new run: the last run's chunk transactions are no longer what an undo would restore.
    EXECUTE 'UPDATE deletion.deletion_jobs SET undone_at = NULL WHERE id = $1' USING job_id;
    EXECUTE 'DELETE FROM deletion.deletion_job_transactions WHERE job_id = $1' USING job_id;
  END IF;

  IF job_id IS NOT NULL AND deletion.job_column_installed('notify_before') THEN  -- migration 0180
    EXECUTE 'UPDATE deletion.deletion_jobs SET notify_before = $1, due_soon_at = NULL WHERE id = $2' USING schedule.notify_before, job_id;
  END IF;

  IF job_id IS NULL THEN  -- a live job already exists: scheduling again is a no-op
    SELECT j.id INTO job_id FROM deletion.deletion_jobs j
     WHERE j.entity_table = job_table AND j.entity_pk = job_pk;
    RETURN job_id;
  END IF;
  IF deletion.is_soft_delete_table(target) THEN
    PERFORM deletion.hide_job_root(job_id);
  END IF;
  PERFORM deletion.record_job_event(job_id, 'scheduled');  -- the outbox (sql/70_notifications.sql)
  RETURN job_id;
END
$$;
COMMENT ON FUNCTION deletion.schedule(regclass, text, timestamptz, boolean, text, text, interval) IS 'Schedules the deletion of one row (and its cascade tree) at run_at (a due_soon event notify_before ahead), checked for the calling role; returns the job id (the live job''s id when one exists; re-arms a cancelled, failed or done job).';

-- Ends a job: status, time, error; the lease is released, the plan table dropped and the job's
-- pending-deletion marker settled (deletion.settle_job_marker: restored when cancelled, which can
-- fail with PD110). Internal.
CREATE OR REPLACE FUNCTION deletion.finish_job(job_id bigint, final_status text, failure text DEFAULT NULL)
RETURNS deletion.deletion_jobs
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  job deletion.deletion_jobs;
  marker uuid := (SELECT deletion.job_pending_op(j) FROM deletion.deletion_jobs j WHERE j.id = job_id);
BEGIN
  PERFORM deletion.settle_job_marker(job_id, final_status);
  PERFORM deletion.drop_plan(job_id);
  UPDATE deletion.deletion_jobs j
     SET status = final_status, finished_at = now(), error = failure,
         phase = CASE WHEN final_status = 'done' THEN 'finished' ELSE 'plan' END,
         plan = NULL, plan_step = NULL, plan_slice = NULL, plan_cursor = NULL, plan_server_start = NULL,
         rows_remaining = CASE WHEN final_status = 'done' THEN 0 ELSE j.rows_remaining END, cancel_requested = false,
         lease_owner = NULL, lease_pid = NULL, lease_backend_start = NULL, next_attempt_at = NULL
   WHERE j.id = job_id
  RETURNING j.* INTO job;
  -- A job that ends is not paused (a worker's pause outlives its chunks only while it holds the job).
  IF deletion.job_column_installed('paused_since') THEN  -- migration 0150
    EXECUTE 'UPDATE deletion.deletion_jobs j SET paused_since = NULL, paused_reason = NULL WHERE j.id = $1 AND j.paused_since IS NOT NULL'
      USING job_id;
  END IF;
  -- The outbox (sql/70_notifications.sql): done, failed or cancelled; a done soft job names the
  -- operation it left in the trash, whose restore is the job's restored event.
  PERFORM deletion.record_job_event(job_id, final_status, CASE WHEN final_status = 'done' AND NOT job.hard_delete THEN marker END);
  RETURN job;
END
$$;
COMMENT ON FUNCTION deletion.finish_job(bigint, text, text) IS 'Ends a job (done, failed or cancelled): releases its lease and drops its plan.';

-- Cancels a job, for the role that scheduled it or deletion_admin. A pending job is cancelled at once; a running one is asked to stop and does so at
-- its next chunk boundary (every chunk is a transaction, so every row stays consistent). Either way
-- the root row hidden by the job's pending-deletion marker is shown again, exactly as it was (the
-- marker operation is restored). Returns the job's status afterwards ('cancelled', or 'running'
-- while the stop is pending).
-- Errors: P0002 no such job; 42501 another role's job; 55000 the job has already finished; PD110 the row cannot be shown
-- again (its unique key is now held by another row, or its parent was soft-deleted since): nothing
-- changes, the job stays pending.
CREATE OR REPLACE FUNCTION deletion.cancel(job_id bigint)
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  job deletion.deletion_jobs;
  scheduled_by text;
BEGIN
  SELECT * INTO job FROM deletion.deletion_jobs j WHERE j.id = job_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no deletion job has id %', job_id USING ERRCODE = 'P0002', HINT = 'list jobs with deletion-kit jobs';
  END IF;
  scheduled_by := to_jsonb(job) ->> 'scheduled_by_role';
  IF NOT (deletion.caller_is_admin() OR (to_regrole(quote_ident(scheduled_by)) IS NOT NULL AND pg_has_role(deletion.calling_role(), scheduled_by, 'MEMBER'))) THEN
    RAISE EXCEPTION 'deletion job % was scheduled by role %; only that role or deletion_admin may cancel it', job_id, coalesce(scheduled_by, '(unknown)')
      USING ERRCODE = '42501', HINT = 'ask an admin, or the role that scheduled it';
  END IF;
  IF job.status IN ('done', 'failed', 'cancelled') THEN
    RAISE EXCEPTION 'deletion job % is already %; there is nothing to cancel', job_id, job.status
      USING ERRCODE = '55000', HINT = 'schedule it again to re-arm a failed or cancelled job';
  END IF;
  IF job.status = 'pending' THEN
    PERFORM deletion.finish_job(job_id, 'cancelled', 'cancelled by deletion.cancel');
    RETURN 'cancelled';
  END IF;
  UPDATE deletion.deletion_jobs j SET cancel_requested = true WHERE j.id = job_id;
  RETURN 'running';
END
$$;
COMMENT ON FUNCTION deletion.cancel(bigint) IS 'Cancels a deletion job: a pending one at once, a running one at its next chunk boundary.';

-- Sets (or, with NULL, clears) a table's should_proceed hook (seed 000): a function
-- (target regclass, pk text) RETURNS boolean, checked before each chunk of a job on the table;
-- false cancels the job. Errors: PD401 table not registered; PD404 wrong signature.
CREATE OR REPLACE FUNCTION deletion.set_should_proceed(target regclass, hook regprocedure)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  hook_name text;
BEGIN
  IF deletion.policy_of(target) IS NULL THEN
    RAISE EXCEPTION 'table % is not registered in deletion.table_policies', target USING ERRCODE = 'PD401';
  END IF;
  IF hook IS NOT NULL THEN
    SELECT format('%I.%I', n.nspname, p.proname) INTO hook_name
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE p.oid = hook AND p.proargtypes = '2205 25'::oidvector AND p.prorettype = 'boolean'::regtype
       AND NOT p.proretset AND p.prokind = 'f';
    IF hook_name IS NULL THEN
      RAISE EXCEPTION 'should_proceed hook % must be a function (target regclass, pk text) RETURNS boolean', hook
        USING ERRCODE = 'PD404';
    END IF;
  END IF;
  UPDATE deletion.table_policies tp SET should_proceed = hook_name
   WHERE (tp.table_schema, tp.table_name) = (SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = target);
END
$$;
COMMENT ON FUNCTION deletion.set_should_proceed(regclass, regprocedure) IS 'Sets or clears the should_proceed hook of a table: a function (regclass, text) RETURNS boolean; false cancels a job at its next chunk.';

-- The hook of a table as a callable regprocedure, or NULL. A hook that no longer exists is an error
-- (PD404) rather than a silent yes.
CREATE OR REPLACE FUNCTION deletion.should_proceed_hook(target regclass)
RETURNS regprocedure
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
  hook_name text := (deletion.policy_of(target)).should_proceed;
  hook regprocedure;
BEGIN
  IF hook_name IS NULL THEN
    RETURN NULL;
  END IF;
  hook := to_regprocedure(hook_name || '(regclass, text)');
  IF hook IS NULL THEN
    RAISE EXCEPTION 'the should_proceed hook % of table % does not exist', hook_name, target
      USING ERRCODE = 'PD404', HINT = 'recreate it, or clear it with deletion.set_should_proceed(table, NULL)';
  END IF;
  RETURN hook;
END
$$;
COMMENT ON FUNCTION deletion.should_proceed_hook(regclass) IS 'The callable should_proceed hook of a table, or NULL; a registered hook that is missing is an error (PD404).';

-- Undoes a hard job: restores from the audit log everything its last run deleted, across all of its
-- chunk transactions (deletion.deletion_job_transactions, migration 0100), newest first (a job
-- deletes children before parents, so parents come back before their children), in the caller's one
-- transaction: all or nothing. Refused (PD407) when a table of the job's tree is not audited, since
-- what it deleted there cannot be brought back; the dry run says so too. The dry run does the
-- restore and rolls it back, reporting what it would insert and every conflict. The root comes back
-- shown: a job deletes its root without the pending-deletion stamp. For deletion_admin.
-- Returns, per table, the rows put back (kind 'insert') and re-linked (kind 'relink'), or the
-- conflicts; a job already undone returns 'already restored'.
-- Errors: P0002 no such job; 55000 a soft job (restore its operation from the trash), or a job not
-- finished (cancel it first), or one without chunk transactions; PD407 not audited; PD202 conflicts.
CREATE OR REPLACE FUNCTION deletion.undo_job(job_id bigint, dry_run boolean DEFAULT false)
RETURNS TABLE (kind text, table_name text, rows bigint, detail text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  job deletion.deletion_jobs;
  target regclass;
  unaudited text;
  chunk record;
  failure text;
  results jsonb := '[]';
BEGIN
  IF to_regclass('deletion.deletion_job_transactions') IS NULL OR to_regprocedure('audit.restore_transaction(bigint, boolean)') IS NULL THEN
    RAISE EXCEPTION 'undoing a job needs the audit log and migration 0100' USING ERRCODE = '55000';
  END IF;
  SELECT * INTO job FROM deletion.deletion_jobs j WHERE j.id = job_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no deletion job has id %', job_id USING ERRCODE = 'P0002', HINT = 'list jobs with deletion-kit jobs';
  END IF;
  -- an erasure job (sql/62_erasure_jobs.sql) is never undone
  IF to_regclass('deletion.erasure_jobs') IS NOT NULL THEN
    PERFORM deletion.refuse_erased_restore(t.txid, '{}') FROM deletion.deletion_job_transactions t WHERE t.job_id = undo_job.job_id;
  END IF;
  IF NOT job.hard_delete THEN
    RAISE EXCEPTION 'deletion job % is a soft delete: its rows are in the trash as one operation', job_id
      USING ERRCODE = '55000', HINT = 'restore that operation: deletion-kit restore, or SELECT deletion.restore(op)';
  END IF;
  IF job.status IN ('pending', 'running') THEN
    RAISE EXCEPTION 'deletion job % is %: undo a job once it has ended', job_id, job.status
      USING ERRCODE = '55000', HINT = 'cancel it first (deletion-kit cancel), then undo it';
  END IF;
  target := to_regclass(job.entity_table);
  IF target IS NOT NULL THEN
    SELECT string_agg(ct.relid::text, ', ' ORDER BY ct.relid::text) INTO unaudited
      FROM deletion.cascade_tables(target) ct
     WHERE NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = ct.relid AND t.tgname = 'deletion_50_audit_delete');
  END IF;
  IF unaudited IS NOT NULL THEN
    IF dry_run THEN
      RETURN QUERY SELECT 'not audited'::text, u, NULL::bigint,
                          'the audit log has no copy of the rows the job deleted here: the job cannot be undone'::text
                     FROM unnest(string_to_array(unaudited, ', ')) u;
      RETURN;
    END IF;
    RAISE EXCEPTION 'deletion job % cannot be undone: tables of its tree are not audited: %', job_id, unaudited
      USING ERRCODE = 'PD407', HINT = 'audit them (audit.enable) before deleting: what was deleted there is gone; nothing was restored';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM deletion.deletion_job_transactions t WHERE t.job_id = undo_job.job_id) THEN
    RAISE EXCEPTION 'deletion job % has no chunk that deleted rows to undo', job_id
      USING ERRCODE = '55000', HINT = 'a job scheduled again forgets its earlier run; a job that deleted nothing has nothing to undo';
  END IF;

  -- The results are gathered in a variable, which a rolled-back dry run leaves as it was.
  BEGIN
    FOR chunk IN SELECT t.txid FROM deletion.deletion_job_transactions t WHERE t.job_id = undo_job.job_id ORDER BY t.txid DESC LOOP
      results := results || coalesce((SELECT jsonb_agg(to_jsonb(r)) FROM audit.restore_transaction(chunk.txid, false) r), '[]');
    END LOOP;
    IF dry_run THEN
      RAISE EXCEPTION USING ERRCODE = 'PD299', MESSAGE = 'dry run: roll back';
    END IF;
  EXCEPTION
    WHEN SQLSTATE 'PD299' THEN NULL;
    WHEN OTHERS THEN
      IF NOT dry_run THEN
        RAISE;
      END IF;
      GET STACKED DIAGNOSTICS failure = MESSAGE_TEXT;
      results := results || jsonb_build_array(jsonb_build_object('kind', 'conflict',
                   'detail', format('the undo would fail: %s (SQLSTATE %s)', failure, SQLSTATE)));
  END;
  IF NOT dry_run THEN
    UPDATE deletion.deletion_jobs j SET undone_at = now() WHERE j.id = undo_job.job_id;
    PERFORM deletion.record_job_event(undo_job.job_id, 'restored', NULL,  -- the outbox (sql/70_notifications.sql)
              jsonb_build_object('rows_restored', (SELECT coalesce(sum((r ->> 'rows')::bigint), 0) FROM jsonb_array_elements(results) r WHERE r ->> 'kind' = 'insert')));
  END IF;
  RETURN QUERY SELECT r ->> 'kind', r ->> 'table_name', sum((r ->> 'rows')::bigint)::bigint, min(r ->> 'detail')
                 FROM jsonb_array_elements(results) r
                GROUP BY r ->> 'kind', r ->> 'table_name'
                ORDER BY 1 DESC, 2;
END
$$;
COMMENT ON FUNCTION deletion.undo_job(bigint, boolean) IS 'Restores from the audit log everything a hard deletion job''s last run deleted, across its chunk transactions, all or nothing (dry run: what it would do); refused when a table of its tree is not audited.';

GRANT EXECUTE ON FUNCTION deletion.schedule(regclass, text, timestamptz, boolean, text, text, interval),
                          deletion.cancel(bigint), deletion.canonical_key(regclass, text)
  TO deletion_app, deletion_admin;
GRANT EXECUTE ON FUNCTION deletion.set_should_proceed(regclass, regprocedure), deletion.undo_job(bigint, boolean) TO deletion_admin;

END
$jobs_api$;

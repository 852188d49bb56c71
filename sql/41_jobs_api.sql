-- Deletion jobs, part 2: the API any client calls. Scheduling runs as the caller (SECURITY INVOKER),
-- so the caller's own privileges and row-level-security policies decide which rows it may schedule;
-- a hard delete needs deletion_admin (or the table's owner), because the worker that carries it out
-- acts with the engine's privileges.

-- Who may see and write job rows. Everyone in deletion_app / deletion_admin sees every job (backlog
-- health is everybody's business); only an admin may write a job that hard-deletes. The worker's
-- functions are SECURITY DEFINER and owned by the table's owner, which is not subject to these.
DROP POLICY IF EXISTS deletion_jobs_read ON deletion.deletion_jobs;
CREATE POLICY deletion_jobs_read ON deletion.deletion_jobs FOR SELECT USING (true);
DROP POLICY IF EXISTS deletion_jobs_schedule ON deletion.deletion_jobs;
CREATE POLICY deletion_jobs_schedule ON deletion.deletion_jobs FOR INSERT
  WITH CHECK (NOT hard_delete OR deletion.is_admin());
DROP POLICY IF EXISTS deletion_jobs_rearm ON deletion.deletion_jobs;
CREATE POLICY deletion_jobs_rearm ON deletion.deletion_jobs FOR UPDATE
  USING (true) WITH CHECK (NOT hard_delete OR deletion.is_admin());

-- Whether a table's policy makes its deletes soft (issue 3's registry column; false when absent).
CREATE OR REPLACE FUNCTION deletion.job_is_soft_table(target regclass)
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT coalesce((to_jsonb(deletion.policy_of(target)) ->> 'soft_delete')::boolean, false)  -- read as JSON: the column is soft delete's (migration 0010)
$$;
COMMENT ON FUNCTION deletion.job_is_soft_table(regclass) IS 'True when the table''s registry row makes its deletes soft (soft-delete policy).';

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

-- Schedules a deletion (seed 000's ScheduledDeletion.schedule). Validates the table (registered, and
-- for a soft job soft-deletable), the caller's right to delete, the key (shape and cast) and that the
-- row exists and is visible to the caller. Scheduling an entity that already has a pending or running
-- job returns that job; a cancelled, failed or done one is re-armed with the new arguments.
-- Errors: PD401 table not registered; PD402 soft job on a table without soft delete; 42501 not
-- allowed; 22P02 / 22023 / 42P10 bad key; P0002 no such row; 22004 NULL argument.
CREATE OR REPLACE FUNCTION deletion.schedule(
  target regclass,
  pk text,
  run_at timestamptz DEFAULT now(),
  hard boolean DEFAULT false,
  reason text DEFAULT NULL,
  created_by bigint DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  job_table text;
  job_pk text;
  row_exists boolean;
  job_id bigint;
BEGIN
  IF target IS NULL OR pk IS NULL THEN
    RAISE EXCEPTION 'deletion.schedule needs a table and a key' USING ERRCODE = '22004';
  END IF;
  IF deletion.policy_of(target) IS NULL THEN
    RAISE EXCEPTION 'table % is not registered in deletion.table_policies', target
      USING ERRCODE = 'PD401', HINT = format('register it first: SELECT deletion.register_table(%L, ''why it is deleted this way'')', target::text);
  END IF;
  IF coalesce(hard, false) AND NOT deletion.is_admin(target) THEN
    RAISE EXCEPTION 'only deletion_admin may schedule a hard delete of %', target
      USING ERRCODE = '42501', HINT = 'schedule a soft delete (hard => false), or ask an admin';
  END IF;
  IF NOT coalesce(hard, false) AND NOT deletion.job_is_soft_table(target) THEN
    RAISE EXCEPTION 'table % has no soft delete, so a job on it can only hard-delete', target
      USING ERRCODE = 'PD402', HINT = 'schedule with hard => true (needs deletion_admin), or enable soft delete on the table';
  END IF;
  IF NOT has_table_privilege(target, 'DELETE') THEN
    RAISE EXCEPTION 'permission denied to delete from %', target USING ERRCODE = '42501';
  END IF;

  job_pk := deletion.canonical_key(target, pk);
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s r WHERE %s)', target, deletion.key_predicate(target, job_pk, 'r'))
     INTO row_exists;
  IF NOT row_exists THEN
    RAISE EXCEPTION 'no row of % has the key %', target, pk USING ERRCODE = 'P0002';
  END IF;
  SELECT format('%I.%I', n.nspname, c.relname) INTO job_table
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = target;

  INSERT INTO deletion.deletion_jobs AS j (entity_table, entity_pk, hard_delete, reason, created_by, scheduled_at)
  VALUES (job_table, job_pk, coalesce(hard, false), reason,
          coalesce(schedule.created_by, deletion.current_actor()), coalesce(run_at, now()))
  ON CONFLICT ON CONSTRAINT uq_deletion_jobs DO UPDATE
     SET status = 'pending', hard_delete = excluded.hard_delete, reason = excluded.reason,
         created_by = excluded.created_by, scheduled_at = excluded.scheduled_at, error = NULL,
         finished_at = NULL, attempts = 0, next_attempt_at = NULL, cancel_requested = false
   WHERE j.status IN ('cancelled', 'failed', 'done')
  RETURNING j.id INTO job_id;

  IF job_id IS NULL THEN  -- a live job already exists: scheduling again is a no-op
    SELECT j.id INTO job_id FROM deletion.deletion_jobs j
     WHERE j.entity_table = job_table AND j.entity_pk = job_pk;
  END IF;
  RETURN job_id;
END
$$;
COMMENT ON FUNCTION deletion.schedule(regclass, text, timestamptz, boolean, text, bigint) IS 'Schedules the deletion of one row (and its cascade tree) at run_at; returns the job id (the live job''s id when one exists; re-arms a cancelled, failed or done job).';

-- Ends a job: status, time, error; the lease is released and the plan table dropped. Internal.
CREATE OR REPLACE FUNCTION deletion.finish_job(job_id bigint, final_status text, failure text DEFAULT NULL)
RETURNS deletion.deletion_jobs
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  job deletion.deletion_jobs;
BEGIN
  PERFORM deletion.drop_plan(job_id);
  UPDATE deletion.deletion_jobs j
     SET status = final_status, finished_at = now(), error = failure,
         phase = CASE WHEN final_status = 'done' THEN 'finished' ELSE 'plan' END,
         plan = NULL, plan_step = NULL, plan_cursor = NULL, plan_server_start = NULL,
         rows_remaining = CASE WHEN final_status = 'done' THEN 0 ELSE j.rows_remaining END, cancel_requested = false,
         lease_owner = NULL, lease_pid = NULL, lease_backend_start = NULL, next_attempt_at = NULL
   WHERE j.id = job_id
  RETURNING j.* INTO job;
  RETURN job;
END
$$;
COMMENT ON FUNCTION deletion.finish_job(bigint, text, text) IS 'Ends a job (done, failed or cancelled): releases its lease and drops its plan.';

-- Cancels a job. A pending job is cancelled at once; a running one is asked to stop and does so at
-- its next chunk boundary (every chunk is a transaction, so every row stays consistent). Returns the
-- job's status afterwards ('cancelled', or 'running' while the stop is pending).
-- Errors: P0002 no such job; 55000 the job has already finished.
CREATE OR REPLACE FUNCTION deletion.cancel(job_id bigint)
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  job deletion.deletion_jobs;
BEGIN
  SELECT * INTO job FROM deletion.deletion_jobs j WHERE j.id = job_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no deletion job has id %', job_id USING ERRCODE = 'P0002', HINT = 'list jobs with deletion-kit jobs';
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

GRANT EXECUTE ON FUNCTION deletion.schedule(regclass, text, timestamptz, boolean, text, bigint),
                          deletion.cancel(bigint), deletion.canonical_key(regclass, text),
                          deletion.job_is_soft_table(regclass)
  TO deletion_app, deletion_admin;
GRANT EXECUTE ON FUNCTION deletion.set_should_proceed(regclass, regprocedure) TO deletion_admin;
REVOKE EXECUTE ON FUNCTION deletion.finish_job(bigint, text, text) FROM PUBLIC;

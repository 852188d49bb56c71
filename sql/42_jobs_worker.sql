-- Deletion jobs, part 3: what the worker calls. `deletion-kit worker` is a loop around these
-- functions; every decision (which job, what to delete next, when to retry, when to give up) is here.
-- They are SECURITY DEFINER, owned by the migrating role, so a chunk runs with the engine's privilege:
-- deletion.is_admin() is true inside it, which is how protection triggers recognise a sanctioned
-- chunk. Only deletion_admin may call them.
--
-- A job is held by one database session at a time (its lease: the backend's pid and start time, and
-- a heartbeat). When that session is gone (the worker was killed, the server restarted) the job can
-- be taken over at once; when the session lives but its heartbeat is older than the lease, too.

-- Loaded only when migration 0040 is applied: `migrate down` rebuilds the engine on whatever
-- migrations remain, and below 0040 there is no deletion.deletion_jobs, whose row type this module's
-- functions name. So the module is one DO block that returns at once when the table is absent; its
-- body is not indented, so that each function reads as in the other modules.
DO $jobs_worker$
BEGIN
IF to_regclass('deletion.deletion_jobs') IS NULL THEN
  RETURN;  -- migration 0040 is not applied: no deletion jobs
END IF;

-- Claims the next due job for this session, skipping jobs other sessions are claiming right now
-- (FOR UPDATE SKIP LOCKED). Due: pending and past its scheduled time (or its retry time), or running
-- under a lease whose session is gone or whose heartbeat is stale. Returns NULL when nothing is due.
-- Of the due jobs, the one worked least recently (its last heartbeat; never worked first), so that
-- jobs handed back between chunks (deletion.yield_job) take turns.
-- A session is gone when no backend has its pid, or one has it but started at another time (a pid
-- used again). The engine's role sees every session's pid in pg_stat_activity but not the start time
-- of another role's session (PostgreSQL shows that only to the same role and to pg_read_all_stats),
-- so where the start time is hidden the pid alone decides, and a pid used again by an unrelated
-- session keeps the job until its heartbeat is stale.
CREATE OR REPLACE FUNCTION deletion.claim_job(worker text, lease_seconds integer DEFAULT 60)
RETURNS deletion.deletion_jobs
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  job deletion.deletion_jobs;
  my_start timestamptz := (SELECT a.backend_start FROM pg_stat_activity a WHERE a.pid = pg_backend_pid());
BEGIN
  UPDATE deletion.deletion_jobs j
     SET status = 'running',
         takeovers = j.takeovers + (j.status = 'running')::integer,
         lease_owner = worker, lease_pid = pg_backend_pid(), lease_backend_start = my_start,
         heartbeat_at = now(), started_at = coalesce(j.started_at, now()), next_attempt_at = NULL
   WHERE j.id = (
         SELECT c.id
           FROM deletion.deletion_jobs c
          WHERE (c.status = 'pending' AND coalesce(c.next_attempt_at, c.scheduled_at, '-infinity') <= now())
             OR (c.status = 'running'
                 AND (c.heartbeat_at < now() - make_interval(secs => lease_seconds)
                      OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                                      WHERE a.pid = c.lease_pid
                                        AND (a.backend_start IS NULL OR c.lease_backend_start IS NULL
                                             OR a.backend_start = c.lease_backend_start))))
          ORDER BY c.heartbeat_at NULLS FIRST, coalesce(c.next_attempt_at, c.scheduled_at) NULLS FIRST, c.id
          LIMIT 1
            FOR UPDATE SKIP LOCKED)
  RETURNING j.* INTO job;
  IF job.id IS NOT NULL AND job.started_at = now() THEN  -- its first claim: the started event (sql/70_notifications.sql)
    PERFORM deletion.record_job_event(job.id, 'started');
  END IF;
  RETURN job;
END
$$;
COMMENT ON FUNCTION deletion.claim_job(text, integer) IS 'Claims the next due deletion job for this session (FOR UPDATE SKIP LOCKED), taking over jobs whose worker session is gone or whose heartbeat is older than the lease; NULL when none is due.';

-- The job row, locked, when this session holds it; otherwise PD403 (the lease was lost: another
-- worker took it over, or it was released). Internal.
CREATE OR REPLACE FUNCTION deletion.held_job(job_id bigint)
RETURNS deletion.deletion_jobs
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  job deletion.deletion_jobs;
BEGIN
  SELECT * INTO job FROM deletion.deletion_jobs j WHERE j.id = job_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no deletion job has id %', job_id USING ERRCODE = 'P0002';
  END IF;
  IF job.status <> 'running' OR job.lease_pid IS DISTINCT FROM pg_backend_pid() THEN
    RAISE EXCEPTION 'deletion job % is not held by this session (status %, lease %)', job_id, job.status, coalesce(job.lease_owner, 'none')
      USING ERRCODE = 'PD403', HINT = 'claim a job with deletion.claim_job() before working it';
  END IF;
  RETURN job;
END
$$;
COMMENT ON FUNCTION deletion.held_job(bigint) IS 'The locked job row when this session holds its lease; PD403 otherwise.';

-- The soft-delete cascade edges of a soft job's tree (deletion.soft_delete_cascade_plan of its root),
-- as JSON for deletion.soft_job_mark_below: read once a chunk rather than once a statement.
CREATE OR REPLACE FUNCTION deletion.soft_job_edges(root regclass)
RETURNS jsonb
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT coalesce(jsonb_agg(jsonb_build_object('parent', e.parent::oid, 'child', e.child::oid,
                                               'parent_columns', e.parent_columns, 'child_columns', e.child_columns) ORDER BY e.step), '[]')
    FROM deletion.soft_delete_cascade_plan(root) e
$$;
COMMENT ON FUNCTION deletion.soft_job_edges(regclass) IS 'The soft-delete cascade edges of a tree as JSON (parent and child oids, their columns), in walk order; internal.';

-- A soft job's chunk marks a range of planned rows of one table at a time, leaves first; a row added
-- since the plan under a row not yet marked (a comment on an issue of the tree, while the job marked
-- the comments) is in no plan. The chunk that marks the parent takes it, right after marking: the
-- active rows below the rows just marked, through the soft-delete cascade edges of the job's tree
-- (`edges`, the root's deletion.soft_delete_cascade_plan as JSON, read once a chunk), level by level
-- until a level finds none, each with the chunk's stamp. Once a row is marked, the live-parent checks
-- refuse a new row under it (sql/16_soft_delete_live_parents.sql), so the job never walks its whole
-- tree again: its last chunk marks the root alone. `marked_rows` is a query of the rows just marked,
-- all their columns, run with the stamp ($1 to $4: stamped_at, actor, reason, op) and `range_low`,
-- `range_high` as $5, $6 (the chunk's statement's TID range in its plan table). Returns the rows it
-- marked, per table.
CREATE OR REPLACE FUNCTION deletion.soft_job_mark_below(edges jsonb, marked_table regclass, marked_rows text,
                                                        stamped_at timestamptz, actor text, reason text, op uuid,
                                                        range_low tid, range_high tid)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  sources jsonb := jsonb_build_object(marked_table::oid::text, jsonb_build_array(marked_rows));  -- table oid -> queries of its rows marked at this level
  next_sources jsonb;
  edge record;
  found bigint;
  found_rows jsonb;
  counts jsonb := '{}';
BEGIN
  WHILE sources <> '{}' LOOP
    next_sources := '{}';
    FOR edge IN SELECT e.* FROM jsonb_to_recordset(edges) AS e(parent oid, child oid, parent_columns name[], child_columns name[])
                 WHERE sources ? e.parent::text LOOP
      EXECUTE format('WITH marked AS (UPDATE %1$s AS c SET %2$s FROM (%3$s) AS p WHERE %4$s AND c.deleted_at IS NULL RETURNING c.*) '
                     'SELECT count(*), jsonb_agg(to_jsonb(marked)) FROM marked',
                     edge.child::regclass, deletion.soft_delete_stamp(edge.child::regclass),
                     (SELECT string_agg(q, ' UNION ALL ') FROM jsonb_array_elements_text(sources -> edge.parent::text) q),
                     deletion.columns_equal('c', edge.child_columns, 'p', edge.parent_columns))
         INTO found, found_rows USING stamped_at, actor, reason, op, range_low, range_high;
      IF found > 0 THEN
        counts := deletion.sum_row_counts(counts, jsonb_build_object(edge.child::regclass::text, found));
        next_sources := jsonb_set(next_sources, ARRAY[edge.child::text],
                                  coalesce(next_sources -> edge.child::text, '[]')
                                  || to_jsonb(format('SELECT * FROM deletion.key_rows(NULL::%s, %L)', edge.child::regclass, found_rows)));
      END IF;
    END LOOP;
    sources := next_sources;
  END LOOP;
  RETURN counts;
END
$$;
COMMENT ON FUNCTION deletion.soft_job_mark_below(jsonb, regclass, text, timestamptz, text, text, uuid, tid, tid) IS 'A soft job''s chunk: marks the active rows below the rows it just marked (added under them since the plan), through the tree''s soft-delete cascade edges, with the chunk''s stamp; returns the rows marked per table; internal.';

-- One chunk of a job, in the caller's transaction (the worker runs each call in its own). In order:
--   * a cancel request ends the job as cancelled; so does a root row that its pending-deletion marker
--     no longer hides (someone restored the marker operation from the trash: the row is wanted
--     back), and then a should_proceed hook that says no. Cancelling shows the root again
--     (deletion.finish_job restores the marker);
--   * phase plan: the tree is found once, a table per step, a big table a range of its pages per
--     statement (deletion.plan_slices), as many statements per chunk as max_ms allows; the chunk
--     that plans the last step ends there. A tree no bigger than max_rows is then deleted right
--     away by deleting its root; a bigger one is left for the following chunks;
--   * phase delete: the plan's steps are worked from the last back (children before parents), each
--     step's plan table from its last row down; one DELETE per statement removes the rows whose keys
--     are at a range of places in the plan table (a TID range), by primary key, many rows per
--     statement. The chunk stops after max_rows rows or max_ms milliseconds, whichever comes first,
--     sizing each statement from the rate of the one before (kept in the plan step between chunks)
--     so it ends near the time budget (at most doubling; 10 rows for a table not begun);
--   * phase root: the root row is deleted (hard jobs; its cascades remove anything added to the
--     tree since the plan; the marker operation is then marked purged) or soft-deleted with its tree
--     (soft jobs): when the pending-deletion marker hides the root, its operation is continued into
--     the soft delete of the whole tree (deletion.soft_delete_rows with continue_op), so the tree
--     ends under the one operation the trash already showed; without a marker, through
--     deletion.soft_delete. Then the job is done.
-- Hard jobs run with deletion.mode = 'hard', so a soft-delete table's trigger lets the DELETE through.
-- Returns {status, phase, deleted, remaining, planned, chunk_ms}.
CREATE OR REPLACE FUNCTION deletion.run_chunk(job_id bigint, max_rows integer DEFAULT 10000, max_ms integer DEFAULT 100)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  job deletion.deletion_jobs := deletion.held_job(job_id);
  target regclass := to_regclass(job.entity_table);
  started timestamptz := clock_timestamp();
  hook regprocedure;
  proceed boolean;
  deleted bigint := 0;        -- rows deleted by this chunk's own statements
  consumed bigint := 0;       -- plan rows this chunk went through
  n bigint;
  elapsed_ms numeric;
  statement_started timestamptz;
  rate numeric;               -- plan rows per millisecond of the current step's last statement
  batch bigint;
  last_batch bigint;           -- plan rows of this chunk's last statement
  step jsonb;
  step_table regclass;
  delete_sql text;             -- the current step's DELETE
  delete_sql_step integer;     -- the step it was written for
  per_page bigint;             -- rows a page of the current step's plan table holds
  low_place bigint;
  tables_in_tree bigint;
  saved jsonb;
  planned_slice jsonb;        -- what a call of deletion.plan_slices returned: {steps, progress}
  setting record;
  marker uuid := deletion.job_pending_op(job);
  root_found boolean;
  root_op uuid;
  soft_op uuid;
  chunk_marked jsonb := '{}';  -- a soft job's rows marked by this chunk, per table
  edges jsonb;                 -- a soft job's cascade edges (deletion.soft_job_mark_below)
  below jsonb;                 -- rows marked below a statement's rows, per table
  in_range text;               -- the current step's rows in a TID range of its plan table ($5, $6)
  marked_rows_sql text;        -- a soft job's query of the rows its current statement marked
  low_tid tid;                 -- the current statement's TID range in the plan table
  high_tid tid;
  actor text := job.created_by::text;  -- who the job's rows are deleted by, and why
  stamp_reason text := coalesce(job.reason, format('deletion job %s', job_id));
  stop_reason text;
  erasure_chunk jsonb;
BEGIN
  -- An erasure job (sql/62_erasure_jobs.sql) is worked by its own chunk function.
  IF to_regclass('deletion.erasure_jobs') IS NOT NULL THEN
    EXECUTE 'SELECT deletion.run_erasure_chunk(e.job_id, $2, $3) FROM deletion.erasure_jobs e WHERE e.job_id = $1'
       INTO erasure_chunk USING job_id, max_rows, max_ms;
    IF erasure_chunk IS NOT NULL THEN
      RETURN erasure_chunk;
    END IF;
  END IF;
  IF target IS NULL THEN
    RAISE EXCEPTION 'table % of deletion job % no longer exists', job.entity_table, job_id USING ERRCODE = '42P01';
  END IF;
  -- Reasons to stop before doing anything, in order: a cancel request; a root that its
  -- pending-deletion marker no longer hides (it was restored, deletion.restore from the trash:
  -- somebody wants the row back; a root that is gone is left to the phases below, there is nothing
  -- left to delete); a should_proceed hook that says no. Each ends the job as cancelled.
  IF job.cancel_requested THEN
    stop_reason := 'cancelled by deletion.cancel while running';
  ELSIF marker IS NOT NULL THEN
    EXECUTE format('SELECT true, r.deletion_op FROM %s r WHERE %s', target, deletion.key_predicate(target, job.entity_pk, 'r'))
       INTO root_found, root_op;
    IF root_found AND root_op IS DISTINCT FROM marker THEN
      stop_reason := format('cancelled: row %s of %s was restored %s (its pending-deletion operation %s no longer hides it)',
                            job.entity_pk, job.entity_table,
                            CASE WHEN job.phase = 'plan' THEN 'before the job ran' ELSE 'while the job ran; rows deleted before stay deleted' END,
                            marker);
    END IF;
  END IF;
  IF stop_reason IS NULL THEN
    hook := deletion.should_proceed_hook(target);
    IF hook IS NOT NULL THEN
      EXECUTE format('SELECT %s($1, $2)', hook::oid::regproc) USING target, job.entity_pk INTO proceed;
      IF NOT coalesce(proceed, false) THEN
        stop_reason := format('cancelled: should_proceed hook %s said no', hook);
      END IF;
    END IF;
  END IF;
  IF stop_reason IS NOT NULL THEN
    job := deletion.finish_job(job_id, 'cancelled', stop_reason);
    RETURN jsonb_build_object('status', job.status, 'phase', job.phase, 'deleted', 0, 'remaining', job.rows_remaining, 'planned', job.rows_planned);
  END IF;

  -- The chunk's settings hold for its own statements only: they are put back before returning, so a
  -- caller that runs a chunk inside a bigger transaction does not go on deleting in 'hard' mode.
  saved := jsonb_build_object(
    'deletion.mode', current_setting('deletion.mode', true), 'deletion.reason', current_setting('deletion.reason', true),
    'deletion.actor', current_setting('deletion.actor', true), 'deletion.job_id', current_setting('deletion.job_id', true));
  PERFORM set_config('deletion.mode', CASE WHEN job.hard_delete THEN 'hard' ELSE '' END, true);
  PERFORM set_config('deletion.reason', stamp_reason, true);
  PERFORM set_config('deletion.actor', coalesce(job.created_by::text, ''), true);
  PERFORM set_config('deletion.job_id', job_id::text, true);

  -- A plan begun before the server last started was in unlogged tables and may be gone: begin again.
  -- So is a plan whose steps do not say how many rows a page holds (made by an engine before rows
  -- were numbered by place).
  IF job.phase IN ('plan', 'delete') AND job.plan_step IS NOT NULL
     AND (job.plan_server_start IS DISTINCT FROM pg_postmaster_start_time()
          OR (job.phase = 'delete' AND NOT coalesce(job.plan -> 0 ? 'per_page', false))) THEN
    job.phase := 'plan';
    job.plan_step := NULL;
    job.plan_slice := NULL;
  END IF;

  -- A soft job is planned and worked in chunks like a hard one, marking rows instead of deleting
  -- them, under its pending-deletion marker's operation. Without a marker (the root was already
  -- soft-deleted, or migration 0061 is not applied) it is one soft delete of the root.
  IF job.phase = 'plan' AND NOT job.hard_delete AND marker IS NULL THEN
    job.phase := 'root';
  END IF;

  -- Planning: a table of the tree per step, in ranges of its pages, as much as the time budget
  -- allows (at least one statement), each chunk a short transaction of its own. plan_step is the
  -- next table to plan, plan_slice how far it has come.
  IF job.phase = 'plan' THEN
    IF job.plan_step IS NULL THEN
      EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s r WHERE %s)', target, deletion.key_predicate(target, job.entity_pk, 'r'))
         INTO proceed;
      IF NOT proceed THEN
        job.phase := 'finished';  -- the row is already gone
      ELSE
        PERFORM deletion.drop_plan(job_id);
        job.plan := '[]';
        job.plan_step := 0;
        job.plan_slice := NULL;
      END IF;
    END IF;
    tables_in_tree := (SELECT count(*) FROM deletion.cascade_tables(target));
    WHILE job.phase = 'plan' AND job.plan_step < tables_in_tree LOOP
      planned_slice := deletion.plan_slices(job_id, target, job.entity_pk, job.plan_step, job.plan, job.plan_slice,
                                            max_ms - extract(epoch FROM clock_timestamp() - started) * 1000);
      job.plan := planned_slice -> 'steps';
      job.plan_slice := nullif(planned_slice -> 'progress', 'null');
      IF job.plan_slice IS NULL THEN
        job.plan_step := job.plan_step + 1;  -- the step is planned: on to the next table
      END IF;
      -- A call that returns with the table half planned ended because its time was up (by its own
      -- rule: see plan_slices), and calling it again would run at least one more statement. A
      -- table's first statement runs whatever time is left (a small table or pass in one, or a first
      -- range of 128 pages), so the next table begins only in the first half of the chunk.
      EXIT WHEN job.plan_slice IS NOT NULL OR extract(epoch FROM clock_timestamp() - started) * 1000 >= max_ms / 2.0;
    END LOOP;
    job.rows_planned := (SELECT coalesce(sum((s ->> 'rows')::bigint), 0) FROM jsonb_array_elements(job.plan) s);
    job.rows_remaining := job.rows_planned;
    IF job.phase = 'plan' AND job.plan_step >= tables_in_tree THEN
      job.phase := 'delete';
      job.plan_step := jsonb_array_length(job.plan) - 1;
      job.plan_cursor := CASE WHEN job.plan_step >= 0 THEN deletion.plan_rows_end(job.plan -> job.plan_step) ELSE 0 END;
    END IF;
    -- The planning chunk ends here, and deleting starts with the next; but a tree smaller than a
    -- chunk is deleted by this one, step by step like any other (so that every row it deletes is
    -- counted: the root's cascade would delete them uncounted).
    IF job.phase = 'plan' OR (job.phase = 'delete' AND job.rows_planned >= max_rows) THEN
      UPDATE deletion.deletion_jobs j
         SET phase = job.phase, plan = job.plan, plan_step = job.plan_step, plan_slice = job.plan_slice, plan_cursor = job.plan_cursor,
             plan_server_start = pg_postmaster_start_time(), rows_planned = job.rows_planned,
             rows_remaining = job.rows_remaining, heartbeat_at = now(), chunks = j.chunks + 1
       WHERE j.id = job_id;
      FOR setting IN SELECT * FROM jsonb_each_text(saved) LOOP
        PERFORM set_config(setting.key, coalesce(setting.value, ''), true);
      END LOOP;
      RETURN jsonb_build_object('status', 'running', 'phase', job.phase, 'deleted', 0, 'remaining', job.rows_remaining + 1,
                                'planned', job.rows_planned + 1, 'chunk_ms', round(extract(epoch FROM clock_timestamp() - started) * 1000));
    END IF;
  END IF;

  -- The deletes, in a block of their own: when something outside the tree blocks them (a RESTRICT
  -- foreign key from a row added since the job was scheduled, a protection rule), retrying cannot
  -- help. The chunk's deletes are undone, and the job ends failed with the blockers named
  -- (deletion.job_blockers); what earlier chunks deleted stays deleted, and the root is shown
  -- again (its pending-deletion marker is restored), so what remains of the tree is visible.
  BEGIN
    WHILE job.phase = 'delete' LOOP
      elapsed_ms := extract(epoch FROM clock_timestamp() - started) * 1000;
      -- A statement has fixed costs (its statement triggers: audit, statistics), so the chunk ends
      -- when less than a fifth of its time is left rather than spend it on a trickle of small ones;
      -- but not before its first statement, so that every chunk makes progress, whatever its budget.
      EXIT WHEN consumed >= max_rows OR (consumed > 0 AND elapsed_ms >= max_ms * 0.8);
      IF job.plan_cursor <= 0 THEN                 -- this step is done: on to the one before it
        job.plan_step := job.plan_step - 1;
        IF job.plan_step < 0 THEN
          job.phase := 'root';
          EXIT;
        END IF;
        job.plan_cursor := deletion.plan_rows_end(job.plan -> job.plan_step);
        CONTINUE;
      END IF;
      IF delete_sql_step IS DISTINCT FROM job.plan_step THEN
        -- This step's DELETE, written once per chunk and step: rows of the table whose keys are at a
        -- range of places in the plan table (a TID range).
        step := job.plan -> job.plan_step;
        step_table := (step ->> 'relid')::oid::regclass;
        per_page := (step ->> 'per_page')::bigint;
        rate := (step ->> 'rate')::numeric;  -- measured by an earlier chunk; NULL for a table not begun
        last_batch := NULL;
        -- The rows a statement takes: those whose keys are at a range of places in the plan table,
        -- $5 to $6 (a TID range), after the soft-delete stamp's $1 to $4.
        in_range := format(CASE WHEN (SELECT count(*) FROM deletion.primary_key_columns(step_table)) = 1
                                THEN '%s = ANY (ARRAY(SELECT %s FROM %s w WHERE w.ctid >= $5 AND w.ctid < $6))'
                                ELSE '(%s) IN (SELECT %s FROM %s w WHERE w.ctid >= $5 AND w.ctid < $6)' END,
                           deletion.key_column_list(step_table, 't'), deletion.key_column_list(step_table, 'w'),
                           deletion.plan_table(job_id, (step ->> 'step')::integer));
        -- A soft job marks the rows instead, with the stamp of its marker operation (deletion_op
        -- set in the same UPDATE, so the soft-delete trigger does not turn it into a cascade of its own).
        delete_sql := CASE WHEN job.hard_delete THEN format('DELETE FROM %s t WHERE %s', step_table, in_range)
                           ELSE format('UPDATE %s t SET %s WHERE %s AND t.deleted_at IS NULL',
                                       step_table, deletion.soft_delete_stamp(step_table), in_range) END;
        -- A soft job's query of the rows a statement marked, for deletion.soft_job_mark_below: found by
        -- key (OFFSET 0 keeps the operation's test, $4, out of the scan: the statistics, older than the
        -- job, say no row has its operation id, and the planner would read every row the job marked so
        -- far through the operation's index, at every statement).
        marked_rows_sql := format('SELECT t.* FROM (SELECT t.* FROM %s t WHERE %s OFFSET 0) t WHERE t.deletion_op = $4', step_table, in_range);
        delete_sql_step := job.plan_step;
      END IF;
      -- The next statement's size: what fits in the time left at the last statement's rate (kept in
      -- the plan step from chunk to chunk), at most twice the last statement of this chunk, and 10
      -- rows while this table's rate is not known: rows of different tables differ a hundredfold in
      -- cost (a team whose every issue and comment is to be checked for a SET NULL against one that is
      -- a leaf), and the first statement of a table must stay short.
      batch := least(max_rows - consumed,
                     CASE WHEN rate IS NULL THEN least(max_rows, 10)
                          ELSE least(2 * last_batch, greatest(10, floor((max_ms - elapsed_ms) * rate * 0.9))) END);
      low_place := greatest(0, job.plan_cursor - batch);
      statement_started := clock_timestamp();
      low_tid := format('(%s,%s)', low_place / per_page, low_place % per_page + 1)::tid;
      high_tid := format('(%s,%s)', job.plan_cursor / per_page, job.plan_cursor % per_page + 1)::tid;
      EXECUTE delete_sql USING now(), actor, stamp_reason, marker, low_tid, high_tid;
      GET DIAGNOSTICS n = ROW_COUNT;
      IF NOT job.hard_delete THEN
        chunk_marked := deletion.sum_row_counts(chunk_marked, jsonb_build_object(step_table::text, n));
        -- What was added under these rows since the plan goes with them.
        edges := coalesce(edges, deletion.soft_job_edges(target));
        below := deletion.soft_job_mark_below(edges, step_table, marked_rows_sql, now(), actor, stamp_reason, marker, low_tid, high_tid);
        chunk_marked := deletion.sum_row_counts(chunk_marked, below);
        deleted := deleted + (SELECT coalesce(sum(b.value::bigint), 0) FROM jsonb_each_text(below) b);
      END IF;
      deleted := deleted + n;
      last_batch := job.plan_cursor - low_place;
      consumed := consumed + last_batch;
      rate := last_batch / greatest(extract(epoch FROM clock_timestamp() - statement_started) * 1000, 0.5);
      job.plan_cursor := low_place;
      job.plan := jsonb_set(job.plan, ARRAY[job.plan_step::text, 'rate'], to_jsonb(round(rate, 3)));
      job.rows_remaining := greatest(0, job.rows_remaining - n);
    END LOOP;

    -- A soft job's operation lists what its chunks marked so far, so that a cancel (or a blocker)
    -- that restores the operation brings back every row of it, and the trash shows the progress.
    IF chunk_marked <> '{}' THEN
      UPDATE deletion.soft_delete_operations o SET rows_per_table = deletion.sum_row_counts(o.rows_per_table, chunk_marked)
       WHERE o.op = marker AND o.restored_at IS NULL AND o.purged_at IS NULL;
    END IF;

    -- The root's DELETE fires every foreign key of the root table and cascades over whatever joined
    -- the tree since it was planned: it gets a chunk of its own unless this one has used less than
    -- half of its time.
    IF job.phase = 'root' AND (deleted = 0 OR extract(epoch FROM clock_timestamp() - started) * 1000 < max_ms / 2.0) THEN
      IF job.hard_delete THEN
        -- The root is deleted as the row it was before the job hid it: its pending-deletion stamp is
        -- taken off first, so the audit log's image of the DELETE is the visible row, and a restore
        -- from the audit log brings it back shown (not hidden by a marker whose job has ended).
        -- Unique values the marker made step aside come back first (unless an active row took one
        -- meanwhile: then the row goes with its value stepped aside), so the image is the row's own.
        IF marker IS NOT NULL THEN
          n := 0;
          IF to_regclass('deletion.soft_delete_kept_values') IS NOT NULL THEN  -- migration 0090
            BEGIN
              n := deletion.restore_kept_values(target, marker);
            EXCEPTION WHEN unique_violation THEN
              n := 0;
            END;
            DELETE FROM deletion.soft_delete_kept_values kv WHERE kv.op = marker AND kv.table_name = target::text;
          END IF;
          IF n = 0 THEN
            EXECUTE format('UPDATE %s r SET deleted_at = NULL, deleted_by = NULL, deletion_reason = NULL, deletion_op = NULL '
                           'WHERE %s AND r.deletion_op = $1', target, deletion.key_predicate(target, job.entity_pk, 'r'))
              USING marker;
          END IF;
        END IF;
        -- Cascades take whatever joined the tree after the plan was made.
        EXECUTE format('DELETE FROM %s r WHERE %s', target, deletion.key_predicate(target, job.entity_pk, 'r'));
        GET DIAGNOSTICS n = ROW_COUNT;
        deleted := deleted + n;
      ELSIF marker IS NOT NULL THEN
        -- The root is hidden by the job's marker, and the chunks marked its tree, each taking what had
        -- been added under the rows it marked. Left to do: the root, restamped with the job's time,
        -- actor and reason; rows added right under it since the plan (only roles the live-parent
        -- checks let through can add them: the engine's own, superusers), with their trees; the unique
        -- values of every marked row stepped aside; and the operation's log row, which now stands for
        -- the whole tree, so that restoring it brings the whole tree back.
        PERFORM deletion.require_soft_delete_table(target);
        EXECUTE format('UPDATE %s r SET %s WHERE %s AND r.deletion_op = $4', target, deletion.soft_delete_stamp(target),
                       deletion.key_predicate(target, job.entity_pk, 'r'))
          USING now(), actor, stamp_reason, marker;
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n = 0 THEN  -- the row is gone (hard-deleted meanwhile): its marker has nothing left to hide
          UPDATE deletion.soft_delete_operations o SET purged_at = now()
           WHERE o.op = marker AND o.restored_at IS NULL AND o.purged_at IS NULL;
        ELSE
          edges := coalesce(edges, deletion.soft_job_edges(target));
          below := deletion.soft_job_mark_below(edges, target, format('SELECT p.* FROM %s p WHERE %s', target, deletion.key_predicate(target, job.entity_pk, 'p')),
                                                now(), actor, stamp_reason, marker, NULL, NULL);
          deleted := deleted + n + (SELECT coalesce(sum(b.value::bigint), 0) FROM jsonb_each_text(below) b);
          UPDATE deletion.soft_delete_operations o
             SET rows_per_table = deletion.sum_row_counts(o.rows_per_table, below), deleted_by = actor,
                 deletion_reason = stamp_reason, performed_at = now()
           WHERE o.op = marker;
          PERFORM deletion.step_aside_deleted_rows(t::regclass, marker)
             FROM deletion.soft_delete_operations o, jsonb_object_keys(o.rows_per_table) AS t
            WHERE o.op = marker;
        END IF;
      ELSIF to_regprocedure('deletion.soft_delete(regclass, text, text)') IS NOT NULL THEN
        BEGIN
          EXECUTE 'SELECT deletion.soft_delete($1, $2, $3)'
             INTO soft_op USING target, job.entity_pk, stamp_reason;
        EXCEPTION WHEN object_not_in_prerequisite_state THEN
          NULL;  -- 55000: already soft-deleted, which is what the job asked for
        END;
      ELSE
        RAISE EXCEPTION 'deletion job % is a soft delete, but soft delete is not installed', job_id
          USING ERRCODE = 'PD405', HINT = 'install the soft-delete migrations, or schedule the job with hard => true';
      END IF;
      IF soft_op IS NOT NULL THEN  -- a soft delete counts the rows it marked: the root and its tree
        deleted := deleted + (SELECT sum(r.row_count::bigint) FROM deletion.soft_delete_operations o, jsonb_each_text(o.rows_per_table) AS r(table_name, row_count)
                               WHERE o.op = soft_op);
      END IF;
      job.phase := 'finished';
      job.rows_remaining := 0;
    END IF;
  EXCEPTION WHEN foreign_key_violation OR restrict_violation OR SQLSTATE 'PD302' OR SQLSTATE 'PD304' OR SQLSTATE 'PD305' THEN
    GET STACKED DIAGNOSTICS stop_reason = MESSAGE_TEXT;
    stop_reason := format('blocked: %s (SQLSTATE %s); blockers: %s', stop_reason, SQLSTATE,
                          coalesce(deletion.job_blockers_text(target, job.entity_pk, job.hard_delete), 'none found now: schedule it again'));
    FOR setting IN SELECT * FROM jsonb_each_text(saved) LOOP
      PERFORM set_config(setting.key, coalesce(setting.value, ''), true);
    END LOOP;
    PERFORM deletion.settle_job_marker(job_id, 'blocked');
    UPDATE deletion.deletion_jobs j SET chunks = j.chunks + 1, heartbeat_at = now() WHERE j.id = job_id;
    job := deletion.finish_job(job_id, 'failed', stop_reason);
    RETURN jsonb_build_object('status', 'failed', 'phase', job.phase, 'deleted', 0, 'remaining', job.rows_remaining,
                              'planned', job.rows_planned, 'error', stop_reason,
                              'chunk_ms', round(extract(epoch FROM clock_timestamp() - started) * 1000));
  END;

  -- A chunk that deleted (or marked) rows records its transaction and its time: what
  -- deletion.undo_job restores, and what /metrics draws its histogram from.
  IF deleted > 0 AND to_regclass('deletion.deletion_job_transactions') IS NOT NULL THEN
    EXECUTE 'INSERT INTO deletion.deletion_job_transactions (job_id, txid, rows_deleted, chunk_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (job_id, txid) DO UPDATE SET rows_deleted = deletion_job_transactions.rows_deleted + excluded.rows_deleted,
                                                      chunk_ms = deletion_job_transactions.chunk_ms + excluded.chunk_ms'
      USING job_id, pg_current_xact_id()::text::bigint, deleted, round(extract(epoch FROM clock_timestamp() - started) * 1000)::integer;
  END IF;

  UPDATE deletion.deletion_jobs j
     SET phase = job.phase, plan = job.plan, plan_step = job.plan_step, plan_slice = job.plan_slice, plan_cursor = job.plan_cursor, rows_planned = job.rows_planned,
         rows_remaining = job.rows_remaining, rows_deleted = j.rows_deleted + deleted, chunks = j.chunks + 1, heartbeat_at = now()
   WHERE j.id = job_id;
  IF job.phase = 'finished' THEN
    job := deletion.finish_job(job_id, 'done');
  END IF;
  FOR setting IN SELECT * FROM jsonb_each_text(saved) LOOP
    PERFORM set_config(setting.key, coalesce(setting.value, ''), true);
  END LOOP;
  RETURN jsonb_build_object(
    'status', CASE WHEN job.phase = 'finished' THEN 'done' ELSE 'running' END,
    'phase', job.phase,
    'deleted', deleted,
    'remaining', coalesce(job.rows_remaining, 0) + CASE WHEN job.phase IN ('delete', 'root') THEN 1 ELSE 0 END,
    'planned', job.rows_planned + 1,
    'chunk_ms', round(extract(epoch FROM clock_timestamp() - started) * 1000));
END
$$;
COMMENT ON FUNCTION deletion.run_chunk(bigint, integer, integer) IS 'Works one chunk of a held deletion job in the caller''s transaction (plan, then leaves-first deletes by primary key bounded by rows and milliseconds, then the root); returns its progress as JSON.';

-- Records a chunk that failed (the worker calls it after the chunk's transaction rolled back): the
-- job is retried after an exponential backoff (backoff_ms x 2^(attempts-1), at most an hour), and
-- marked failed, with the error, once it has failed max_attempts times. The plan and the progress
-- are kept, so a retry resumes where the job stopped.
CREATE OR REPLACE FUNCTION deletion.fail_chunk(job_id bigint, failure text, backoff_ms integer DEFAULT 1000)
RETURNS deletion.deletion_jobs
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  job deletion.deletion_jobs := deletion.held_job(job_id);
BEGIN
  IF job.attempts + 1 >= job.max_attempts THEN
    UPDATE deletion.deletion_jobs j SET attempts = j.attempts + 1 WHERE j.id = job_id;
    RETURN deletion.finish_job(job_id, 'failed', failure);
  END IF;
  UPDATE deletion.deletion_jobs j
     SET attempts = j.attempts + 1, error = failure, status = 'pending',
         next_attempt_at = now() + least(make_interval(secs => backoff_ms / 1000.0 * 2 ^ j.attempts), interval '1 hour'),
         lease_owner = NULL, lease_pid = NULL, lease_backend_start = NULL
   WHERE j.id = job_id
  RETURNING j.* INTO job;
  RETURN job;
END
$$;
COMMENT ON FUNCTION deletion.fail_chunk(bigint, text, integer) IS 'Records a failed chunk: retry after exponential backoff, or mark the job failed with the error after max_attempts.';

-- Gives a held job back (the worker got SIGTERM between chunks): pending again, due at once, with
-- its plan and progress kept for whoever claims it next.
CREATE OR REPLACE FUNCTION deletion.release_job(job_id bigint)
RETURNS deletion.deletion_jobs
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  job deletion.deletion_jobs := deletion.held_job(job_id);
BEGIN
  UPDATE deletion.deletion_jobs j
     SET status = 'pending', next_attempt_at = NULL, lease_owner = NULL, lease_pid = NULL, lease_backend_start = NULL
   WHERE j.id = job_id
  RETURNING j.* INTO job;
  RETURN job;
END
$$;
COMMENT ON FUNCTION deletion.release_job(bigint) IS 'Gives a held job back as pending (due at once), keeping its plan and progress.';

-- Renews a held job's heartbeat (the worker calls it while a long statement runs elsewhere).
CREATE OR REPLACE FUNCTION deletion.heartbeat(job_id bigint)
RETURNS void
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
  UPDATE deletion.deletion_jobs j SET heartbeat_at = now()
   WHERE j.id = job_id AND j.status = 'running' AND j.lease_pid = pg_backend_pid()
$$;
COMMENT ON FUNCTION deletion.heartbeat(bigint) IS 'Renews the heartbeat of a job this session holds.';

-- How far the streaming replicas are behind: the most WAL, in bytes, that a streaming replica has
-- received but not replayed yet, or not even received (pg_current_wal_lsn() - replay_lsn). NULL when
-- there is no streaming replica, or when the caller may not see their positions (PostgreSQL shows
-- replay_lsn to superusers and members of pg_read_all_stats / pg_monitor only: grant the worker's
-- login role pg_monitor to have it yield). The worker pauses between chunks while this is above
-- --max-replica-lag, so that a big job never leaves the replicas far behind. Runs as the caller.
CREATE OR REPLACE FUNCTION deletion.replica_lag_bytes()
RETURNS numeric
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT max(pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn))
    FROM pg_stat_replication r
   WHERE r.state = 'streaming' AND r.replay_lsn IS NOT NULL AND NOT pg_is_in_recovery()
$$;
COMMENT ON FUNCTION deletion.replica_lag_bytes() IS 'The most WAL (bytes) a streaming replica has not replayed yet; NULL without a streaming replica or without the right to see it (pg_monitor).';

REVOKE EXECUTE ON FUNCTION deletion.claim_job(text, integer), deletion.run_chunk(bigint, integer, integer),
                           deletion.fail_chunk(bigint, text, integer), deletion.release_job(bigint),
                           deletion.heartbeat(bigint), deletion.held_job(bigint),
                           deletion.make_plan(bigint, regclass, text), deletion.drop_plan(bigint), deletion.cancel(bigint)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION deletion.claim_job(text, integer), deletion.run_chunk(bigint, integer, integer),
                          deletion.fail_chunk(bigint, text, integer), deletion.release_job(bigint),
                          deletion.heartbeat(bigint), deletion.replica_lag_bytes()
  TO deletion_admin;
GRANT EXECUTE ON FUNCTION deletion.cancel(bigint) TO deletion_app, deletion_admin;

END
$jobs_worker$;

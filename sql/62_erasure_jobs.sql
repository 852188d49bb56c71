-- Erasure as a scheduled job (docs/erasure.md, "Erasing a large subject as a job"): the same erasure
-- as deletion.erase (sql/60_erasure.sql), worked by the deletion-job worker in chunks, each chunk its
-- own transaction, all or nothing, so that a subject with a million comments never holds locks for
-- minutes, and a worker killed at any point leaves every committed chunk done and the next worker
-- going on from there. deletion.schedule_erasure makes the job (optionally after a grace period,
-- cancellable until its first chunk); deletion.run_chunk hands an erasure job's chunks to
-- deletion.run_erasure_chunk. The job goes through six steps, kept in deletion.erasure_jobs:
--   prepare  check as deletion.erase does (key, subject, rules, the row); take the subject's image and
--            values; insert the tombstone if a rule needs it;
--   rules    each rule in erase's order (re-points and SET NULLs first, then deletes), at most
--            max_rows rows a chunk, by the rows' places (ctid), locked; the values of the rows a
--            delete or redact rule takes are added to the values to scrub;
--   subject  one chunk: the subject row is locked FOR UPDATE (a foreign-key check takes KEY SHARE on
--            it, so from here no new row can reference it), every rule is applied once more, to the
--            rows added under the subject while the job ran (they are erased, and counted, like the
--            others), and the subject is deleted with its CASCADE tree;
--   audit    the images of every row the job's chunks changed (their transactions are the job's
--            deletion_job_transactions), of the subject's row and of rows under its delete or redact
--            rules are redacted by audit.redact, table by table, max_rows images a chunk;
--   engine   operations emptied are marked purged, jobs on the subject cancelled, the subject's
--            values scrubbed from the engine's own text and JSON columns, a column a statement;
--   report   the counts of every chunk, summed (each chunk adds what its own transaction's
--            statistics say), signed, written to deletion.erasures; the job's personal state is
--            cleared and the job is done.
-- Restores of any of the job's chunk transactions are refused (deletion.refuse_erased_restore).

-- Loaded only when migration 0160 is applied (the functions name its tables' row types): the module
-- is one DO block that returns at once otherwise, its body not indented, as sql/42_jobs_worker.sql.
DO $erasure_jobs$
BEGIN
IF to_regclass('deletion.erasure_jobs') IS NULL OR to_regclass('deletion.deletion_job_transactions') IS NULL
   OR to_regclass('deletion.erasures') IS NULL THEN
  RETURN;  -- migration 0160 is not applied: no erasure jobs
END IF;

-- True when migration 0160 (erasure jobs) is applied.
CREATE OR REPLACE FUNCTION deletion.erasure_jobs_installed()
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT deletion.erasure_installed() AND to_regclass('deletion.erasure_jobs') IS NOT NULL
     AND to_regclass('deletion.deletion_job_transactions') IS NOT NULL
$$;
COMMENT ON FUNCTION deletion.erasure_jobs_installed() IS 'True when migration 0160 (erasure jobs, erasure files) is applied.';

-- The foreign keys to a subject table that have no erasure rule, as 'table (columns)' (PD603 lists them).
CREATE OR REPLACE FUNCTION deletion.erasure_missing_rules(subject_table regclass)
RETURNS text[]
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT ARRAY(
    SELECT format('%s (%s)', con.conrelid::regclass, array_to_string(fk.cols, ', '))
      FROM pg_constraint con
      CROSS JOIN LATERAL (SELECT ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY u(attnum, i)
                                         JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = u.attnum ORDER BY u.i) AS cols) fk
      JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace ns ON ns.oid = c.relnamespace
     WHERE con.contype = 'f' AND con.confrelid = subject_table AND con.conparentid = 0
       AND NOT EXISTS (SELECT FROM deletion.erasure_rules er
                        WHERE er.table_schema = ns.nspname AND er.table_name = c.relname AND er.via_columns = fk.cols)
     ORDER BY 1)
$$;
COMMENT ON FUNCTION deletion.erasure_missing_rules(regclass) IS 'Foreign keys to a subject table without an erasure rule, as "table (columns)".';

-- Records the files the current transaction queued for cleanup (queue rows with an id above
-- first_queue_id, queued by this transaction: queued_at is its start time) as the erasure's.
CREATE OR REPLACE FUNCTION deletion.record_erasure_files(erasure_id bigint, first_queue_id bigint)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  n bigint;
BEGIN
  IF to_regclass('deletion.erasure_files') IS NULL OR to_regclass('deletion.pending_file_deletions') IS NULL THEN
    RETURN 0;
  END IF;
  INSERT INTO deletion.erasure_files (erasure_id, queue_id, source_table, queued_at)
  SELECT record_erasure_files.erasure_id, q.id, format('%I.%I', q.source_schema, q.source_table), q.queued_at
    FROM deletion.pending_file_deletions q
   WHERE q.id > first_queue_id AND q.queued_at = now()
  ON CONFLICT DO NOTHING;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;
COMMENT ON FUNCTION deletion.record_erasure_files(bigint, bigint) IS 'Records the files this transaction queued (queue ids above first_queue_id) as an erasure''s, pending confirmation.';

-- The highest id of the file queue now (0 without one): what record_erasure_files counts from.
CREATE OR REPLACE FUNCTION deletion.file_queue_high_water()
RETURNS bigint
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
  n bigint;
BEGIN
  IF to_regclass('deletion.pending_file_deletions') IS NULL THEN
    RETURN 0;
  END IF;
  EXECUTE 'SELECT coalesce(max(id), 0) FROM deletion.pending_file_deletions' INTO n;
  RETURN n;
END
$$;
COMMENT ON FUNCTION deletion.file_queue_high_water() IS 'The file queue''s highest id (0 when empty or absent).';

-- Called by the file cleaner's SQL (sql/51_files_queue.sql) when files leave the queue: removed
-- (storage confirmed) or still_referenced (a live row names the key; the file stays).
CREATE OR REPLACE FUNCTION deletion.confirm_erasure_files(queue_ids bigint[], outcome text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
BEGIN
  IF to_regclass('deletion.erasure_files') IS NULL OR cardinality(queue_ids) = 0 THEN
    RETURN;
  END IF;
  UPDATE deletion.erasure_files f SET outcome = confirm_erasure_files.outcome, confirmed_at = now()
   WHERE f.queue_id = ANY (queue_ids) AND f.outcome = 'pending';
END
$$;
COMMENT ON FUNCTION deletion.confirm_erasure_files(bigint[], text) IS 'Marks an erasure''s queued files as removed from storage (or kept, still referenced) when they leave the file queue.';

-- Per erasure: files queued, removed, kept because still referenced, and still pending confirmation.
CREATE OR REPLACE VIEW deletion.vw_erasure_files AS
SELECT f.erasure_id,
       count(*) AS files_queued,
       count(*) FILTER (WHERE f.outcome = 'removed') AS files_removed,
       count(*) FILTER (WHERE f.outcome = 'still_referenced') AS files_still_referenced,
       count(*) FILTER (WHERE f.outcome = 'pending') AS files_pending,
       max(f.confirmed_at) AS last_confirmed_at
  FROM deletion.erasure_files f
 GROUP BY f.erasure_id;
COMMENT ON VIEW deletion.vw_erasure_files IS 'Per erasure: its files queued for cleanup, confirmed removed, kept (still referenced), pending confirmation.';
REVOKE ALL ON deletion.vw_erasure_files FROM PUBLIC;
GRANT SELECT ON deletion.vw_erasure_files TO deletion_admin;

-- Trigger (on deletion.deletion_jobs): when an erasure job ends (done, cancelled),
-- its subject's key, image and values are cleared, and a cancelled one is marked so. A failed job
-- keeps them, so that it can be re-armed (status pending) and go on where it stopped.
-- SECURITY DEFINER: an admin may end a job by a plain UPDATE of its status (RLS lets it), and has
-- no right on erasure_jobs; the function refuses (42501) to run as the trigger of any other table.
CREATE OR REPLACE FUNCTION deletion.erasure_job_settled()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
BEGIN
  IF TG_RELID <> 'deletion.deletion_jobs'::regclass OR TG_WHEN <> 'AFTER' OR TG_LEVEL <> 'ROW' THEN
    RAISE EXCEPTION 'deletion.erasure_job_settled is the trigger of deletion.deletion_jobs only' USING ERRCODE = '42501';
  END IF;
  UPDATE deletion.erasure_jobs e
     SET subject_key = NULL, subject_image = NULL, secrets = NULL, finished_at = coalesce(e.finished_at, now()),
         step = CASE WHEN NEW.status = 'cancelled' THEN 'cancelled' ELSE e.step END
   WHERE e.job_id = NEW.id AND (e.subject_key IS NOT NULL OR e.secrets IS NOT NULL OR NEW.status = 'cancelled' AND e.step <> 'cancelled');
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION deletion.erasure_job_settled() IS 'Trigger: clears an erasure job''s personal state when its deletion job ends.';
-- Rebuilt with the module (the engine's functions are dropped and made again on every migrate).
DROP TRIGGER IF EXISTS deletion_erasure_job_settled ON deletion.deletion_jobs;
CREATE TRIGGER deletion_erasure_job_settled
  AFTER UPDATE OF status ON deletion.deletion_jobs
  FOR EACH ROW WHEN (NEW.status IN ('done', 'cancelled') AND OLD.status IS DISTINCT FROM NEW.status)
  EXECUTE FUNCTION deletion.erasure_job_settled();

-- Schedules the erasure of a subject as a deletion job that the worker works in chunks, due after
-- `grace` (cancellable with deletion.cancel until its first chunk runs). Checks what erase checks
-- (an admin, the key, a declared subject with a rule for every foreign key, the row, not the
-- tombstone, not erased already), and that no other erasure job is waiting or running on it.
-- signing_key: the operator's key (else deletion.erasure_key); the worker must sign with the same
-- one (DELETION_KIT_ERASURE_KEY). Returns the job id. For deletion_admin.
CREATE OR REPLACE FUNCTION deletion.schedule_erasure(subject_table regclass, key jsonb, reason text,
                                                     grace interval DEFAULT '0 seconds', signing_key text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  k bytea;
  reg record;
  subject record;
  qualified text;
  pk text;
  hashed text;
  found_row boolean;
  missing text[];
  earlier bigint;
  new_erasure bigint;
  new_job bigint;
BEGIN
  PERFORM deletion.require_erasure_installed();
  IF NOT deletion.erasure_jobs_installed() THEN
    RAISE EXCEPTION 'erasure jobs are not installed' USING ERRCODE = '55000', HINT = 'run deletion-kit migrate (migration 0160_erasure_jobs)';
  END IF;
  IF NOT deletion.caller_is_admin() THEN
    RAISE EXCEPTION 'only a deletion_admin may erase a subject' USING ERRCODE = '42501',
      HINT = 'ask a deletion_admin (the privacy officer''s role) to run deletion.schedule_erasure';
  END IF;
  k := deletion.erasure_key(signing_key);
  IF reason IS NULL OR btrim(reason) = '' THEN
    RAISE EXCEPTION 'an erasure needs a reason' USING ERRCODE = '22023', HINT = 'for example the request''s ticket number; put no personal data in it';
  END IF;
  IF grace IS NULL OR grace < interval '0' THEN
    RAISE EXCEPTION 'the grace period must be zero or more, not %', grace USING ERRCODE = '22023', HINT = 'for example ''30 days''';
  END IF;
  reg := deletion.erasure_registered_name(subject_table);
  qualified := format('%I.%I', reg.table_schema, reg.table_name);
  SELECT * INTO subject FROM deletion.erasure_subjects s WHERE s.table_schema = reg.table_schema AND s.table_name = reg.table_name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'table % is not an erasure subject', subject_table USING ERRCODE = 'PD601',
      HINT = format('declare it and its rules first: SELECT deletion.declare_erasure_subject(%L, ...) (docs/erasure.md)', subject_table::text);
  END IF;
  pk := deletion.subject_key_text(subject_table, key);
  hashed := deletion.erasure_subject_hash(k, qualified, pk);
  missing := deletion.erasure_missing_rules(subject_table);
  IF cardinality(missing) > 0 THEN
    RAISE EXCEPTION 'erasure of % refused: no erasure rule for the foreign keys of %', subject_table, array_to_string(missing, '; ')
      USING ERRCODE = 'PD603', HINT = 'declare one for each (deletion.declare_erasure_rule); deletion-kit lint lists them as erasure_rule_missing';
  END IF;
  EXECUTE format('SELECT true FROM %s t WHERE %s', subject_table, deletion.key_predicate(subject_table, pk, 't')) INTO found_row;
  IF found_row IS NULL THEN
    SELECT e.id INTO earlier FROM deletion.erasures e WHERE e.subject_hash = hashed ORDER BY e.id DESC LIMIT 1;
    IF FOUND THEN
      RAISE EXCEPTION 'the subject % % was already erased (erasure %)', subject_table, pk, earlier
        USING ERRCODE = 'PD604', HINT = 'nothing to do; its report is in deletion.erasures';
    END IF;
    RAISE EXCEPTION 'no row of % has the key %', subject_table, pk USING ERRCODE = 'P0002';
  END IF;
  IF subject.tombstone_key IS NOT NULL AND deletion.key_text(subject_table, subject.tombstone_key) = pk THEN
    RAISE EXCEPTION 'row % of % is the tombstone that erased subjects'' rows point to; it cannot be erased', pk, subject_table
      USING ERRCODE = 'PD602', HINT = 'erase a person, not the tombstone';
  END IF;
  SELECT e.job_id INTO earlier
    FROM deletion.erasure_jobs e JOIN deletion.deletion_jobs j ON j.id = e.job_id
   WHERE e.subject_hash = hashed AND j.status IN ('pending', 'running');
  IF FOUND THEN
    RAISE EXCEPTION 'an erasure job for % % is already scheduled (job %)', subject_table, pk, earlier
      USING ERRCODE = '55000', HINT = 'cancel it first (deletion.cancel) to change its reason or grace period';
  END IF;

  new_erasure := nextval(pg_get_serial_sequence('deletion.erasures', 'id'));
  -- the job names the erasure, not the person: entity_pk is 'erasure <id>'; its reason too
  INSERT INTO deletion.deletion_jobs (entity_table, entity_pk, hard_delete, reason, scheduled_at)
  VALUES (qualified, format('erasure %s', new_erasure), true, format('erasure %s', new_erasure), now() + grace)
  RETURNING id INTO new_job;
  INSERT INTO deletion.erasure_jobs (job_id, erasure_id, subject_table, subject_key, subject_hash, key_id, reason, requested_by)
  VALUES (new_job, new_erasure, qualified, to_jsonb(pk), hashed, deletion.erasure_key_id(k), reason, deletion.calling_role()::text);
  RETURN new_job;
END
$$;
COMMENT ON FUNCTION deletion.schedule_erasure(regclass, jsonb, text, interval, text) IS 'Schedules the erasure of a subject as a chunked deletion job due after a grace period (cancellable until it starts); returns the job id (deletion_admin only).';

-- Adds the current transaction's row counts since `before` (deletion.transaction_row_counts) to a
-- running total, per product table: {"table": [deleted, updated, inserted]}.
CREATE OR REPLACE FUNCTION deletion.add_row_counts(total jsonb, before jsonb, after jsonb)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
  SELECT coalesce(jsonb_object_agg(t.key, jsonb_build_array(t.d, t.u, t.i)), '{}')
    FROM (SELECT x.key, sum(x.d) AS d, sum(x.u) AS u, sum(x.i) AS i
            FROM (SELECT a.key, (a.value ->> 0)::bigint - coalesce((b.value ->> 0)::bigint, 0) AS d,
                         (a.value ->> 1)::bigint - coalesce((b.value ->> 1)::bigint, 0) AS u,
                         (a.value ->> 2)::bigint - coalesce((b.value ->> 2)::bigint, 0) AS i
                    FROM jsonb_each(after) a LEFT JOIN jsonb_each(before) b ON b.key = a.key
                   WHERE split_part(a.key, '.', 1) NOT IN ('deletion', 'audit', 'deletion_work', 'deletion_kit', 'pg_temp')
                  UNION ALL
                  SELECT c.key, (c.value ->> 0)::bigint, (c.value ->> 1)::bigint, (c.value ->> 2)::bigint FROM jsonb_each(total) c) x
           GROUP BY x.key
          HAVING sum(x.d) + sum(x.u) + sum(x.i) > 0) t
$$;
COMMENT ON FUNCTION deletion.add_row_counts(jsonb, jsonb, jsonb) IS 'A running total of product rows [deleted, updated, inserted] per table plus the current transaction''s since a snapshot.';

-- One bounded batch of one erasure rule: up to `budget` rows of the rule's table that reference the
-- subject (soft-deleted ones first for a tombstone rule, which removes them), locked, then deleted,
-- cleared or re-pointed (and redacted). Their soft-delete operations and, for delete and redact
-- rules, their personal values are added to the job's. Returns the rows the batch took.
CREATE OR REPLACE FUNCTION deletion.erasure_rule_batch(subject_table text, subject_image jsonb, rule jsonb, budget bigint,
                                                        INOUT ops uuid[], INOUT secrets text[], OUT taken bigint, OUT purged bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  rel regclass := (rule ->> 'rel')::regclass;
  con oid := (rule ->> 'constraint_oid')::oid;
  via name[] := ARRAY(SELECT jsonb_array_elements_text(rule -> 'via'));
  pred text := deletion.erasure_fk_predicate(con, 't', subject_image);
  soft boolean := deletion.is_soft_delete_table(rel)
                  AND EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = rel AND a.attname = 'deletion_op' AND NOT a.attisdropped);
  tids tid[];
  vals text[];
  cols text;
  assignments text;
  tomb_assign text;
  tomb jsonb;
  n bigint;
BEGIN
  taken := 0;
  purged := 0;
  IF budget < 1 THEN
    RETURN;
  END IF;
  IF soft AND rule ->> 'action' = 'tombstone' THEN
    EXECUTE format('SELECT array_agg(s.ctid) FROM (SELECT t.ctid FROM %s t WHERE %s AND t.deleted_at IS NOT NULL LIMIT %s FOR UPDATE) s', rel, pred, budget)
       INTO tids;
    IF tids IS NOT NULL THEN
      EXECUTE format('SELECT array_agg(DISTINCT t.deletion_op) FROM %s t WHERE t.ctid = ANY ($1) AND t.deletion_op IS NOT NULL', rel) INTO vals USING tids;
      ops := ops || coalesce(vals::uuid[], '{}');
      EXECUTE format('DELETE FROM %s t WHERE t.ctid = ANY ($1)', rel) USING tids;
      GET DIAGNOSTICS purged = ROW_COUNT;
      taken := purged;
      budget := budget - purged;
      IF budget < 1 THEN
        RETURN;
      END IF;
    END IF;
  END IF;
  EXECUTE format('SELECT array_agg(s.ctid) FROM (SELECT t.ctid FROM %s t WHERE %s LIMIT %s FOR UPDATE) s', rel, pred, budget) INTO tids;
  IF tids IS NULL THEN
    RETURN;
  END IF;
  IF soft THEN
    EXECUTE format('SELECT array_agg(DISTINCT t.deletion_op) FROM %s t WHERE t.ctid = ANY ($1) AND t.deletion_op IS NOT NULL', rel) INTO vals USING tids;
    ops := ops || coalesce(vals::uuid[], '{}');
  END IF;
  IF rule ->> 'action' = 'delete' OR (rule ->> 'redact')::boolean THEN
    SELECT string_agg(format('t.%I::text', p.column_name), ', ') INTO cols FROM deletion.personal_columns_of(rel) p;
    IF cols IS NOT NULL THEN
      EXECUTE format('SELECT array_agg(v) FROM %s t CROSS JOIN LATERAL unnest(ARRAY[%s]) v WHERE t.ctid = ANY ($1) AND length(v) >= 4', rel, cols)
         INTO vals USING tids;
      secrets := secrets || coalesce(vals, '{}');
    END IF;
  END IF;
  IF rule ->> 'action' = 'delete' THEN
    EXECUTE format('DELETE FROM %s t WHERE t.ctid = ANY ($1)', rel) USING tids;
  ELSE
    SELECT string_agg(p.assignment, ', ') INTO assignments
      FROM deletion.personal_columns_of(rel) p WHERE (rule ->> 'redact')::boolean AND NOT p.column_name = ANY (via);
    IF rule ->> 'action' = 'set_null' THEN
      SELECT string_agg(format('%I = NULL', v), ', ') INTO tomb_assign FROM unnest(via) v;
    ELSE
      SELECT s.tombstone_key INTO tomb FROM deletion.erasure_subjects s
       WHERE format('%I.%I', s.table_schema, s.table_name) = erasure_rule_batch.subject_table;
      SELECT string_agg(format('%I = %L::%s', ca.attname, tomb ->> pa.attname, format_type(ca.atttypid, ca.atttypmod)), ', ')
        INTO tomb_assign
        FROM pg_constraint c
        CROSS JOIN LATERAL unnest(c.conkey, c.confkey) AS u(child_att, parent_att)
        JOIN pg_attribute ca ON ca.attrelid = c.conrelid AND ca.attnum = u.child_att
        JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = u.parent_att
       WHERE c.oid = con;
    END IF;
    EXECUTE format('UPDATE %s t SET %s WHERE t.ctid = ANY ($1)', rel, concat_ws(', ', tomb_assign, assignments)) USING tids;
  END IF;
  GET DIAGNOSTICS n = ROW_COUNT;
  taken := taken + n;
END
$$;
COMMENT ON FUNCTION deletion.erasure_rule_batch(text, jsonb, jsonb, bigint, uuid[], text[]) IS 'One bounded batch of an erasure rule in an erasure job (locked rows by place); returns the rows it took.';

-- One chunk of an erasure job (called by deletion.run_chunk for jobs that have an erasure_jobs row,
-- in the worker's transaction). Works the job's steps (see the top of this file) until max_rows rows
-- were taken or max_ms passed; returns the worker's {status, phase, deleted, remaining, planned,
-- chunk_ms}, phase being the erasure step.
CREATE OR REPLACE FUNCTION deletion.run_erasure_chunk(job_id bigint, max_rows integer DEFAULT 10000, max_ms integer DEFAULT 100)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  job deletion.deletion_jobs := deletion.held_job(job_id);
  ej deletion.erasure_jobs;
  started timestamptz := clock_timestamp();
  my_txid bigint := pg_current_xact_id()::text::bigint;
  k bytea;
  target regclass;
  reg record;
  subject record;
  pk text;
  missing text[];
  earlier bigint;
  vals text[];
  rule jsonb;
  rules jsonb;
  batch record;
  taken bigint := 0;           -- rows this chunk took (rule rows, audit images, scrubbed columns)
  budget bigint;
  counts_before jsonb := deletion.transaction_row_counts();
  queue_before bigint := deletion.file_queue_high_water();
  files_before bigint := 0;
  files_after bigint := 0;
  n bigint;
  m bigint;
  t record;
  r record;
  pred text;
  txids bigint[];
  tomb_found boolean;
  tomb_image jsonb;
  secrets text[];
  json_secrets text[];
  erased_ops uuid[];
  report jsonb;
  signature text;
  saved jsonb;
  done boolean := false;
  stamp timestamptz := now();
BEGIN
  SELECT * INTO ej FROM deletion.erasure_jobs e WHERE e.job_id = run_erasure_chunk.job_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'deletion job % is not an erasure job', job_id USING ERRCODE = 'P0002';
  END IF;
  target := to_regclass(ej.subject_table);
  IF target IS NULL THEN
    RAISE EXCEPTION 'subject table % of erasure job % no longer exists', ej.subject_table, job_id USING ERRCODE = '42P01';
  END IF;
  -- A cancel is honoured while nothing is done yet; once a chunk changed rows, the erasure goes on to
  -- its end (half an erasure would leave the audit log holding what the rows lost).
  IF job.cancel_requested AND ej.step = 'prepare' THEN
    PERFORM deletion.finish_job(job_id, 'cancelled', 'cancelled by deletion.cancel before the erasure began');
    RETURN jsonb_build_object('status', 'cancelled', 'phase', 'prepare', 'deleted', 0, 'remaining', 0, 'planned', 0, 'chunk_ms', 0);
  END IF;
  k := deletion.erasure_key(NULL);
  IF deletion.erasure_key_id(k) <> ej.key_id THEN
    RAISE EXCEPTION 'erasure job % was scheduled under another signing key (key id %)', job_id, ej.key_id
      USING ERRCODE = '22023', HINT = 'run the worker with the DELETION_KIT_ERASURE_KEY the erasure was scheduled with';
  END IF;
  reg := deletion.erasure_registered_name(target);
  SELECT * INTO subject FROM deletion.erasure_subjects s WHERE s.table_schema = reg.table_schema AND s.table_name = reg.table_name;
  pk := ej.subject_key #>> '{}';

  saved := jsonb_build_object('deletion.mode', current_setting('deletion.mode', true), 'deletion.reason', current_setting('deletion.reason', true),
                              'deletion.job_id', current_setting('deletion.job_id', true));
  -- the audit log's transaction row (sealed, never redacted) gets a reason without personal data
  PERFORM set_config('deletion.reason', format('erasure %s', ej.erasure_id), true);
  PERFORM set_config('deletion.mode', 'hard', true);
  PERFORM set_config('deletion.job_id', job_id::text, true);
  IF to_regclass('deletion.pending_file_deletions') IS NOT NULL THEN
    SELECT coalesce(sum(s.n_tup_ins), 0) INTO files_before FROM pg_stat_xact_user_tables s WHERE s.relid = 'deletion.pending_file_deletions'::regclass;
  END IF;

  WHILE NOT done AND taken < max_rows AND (taken = 0 OR clock_timestamp() - started < make_interval(secs => max_ms / 1000.0)) LOOP
    budget := max_rows - taken;

    IF ej.step = 'prepare' THEN
      missing := deletion.erasure_missing_rules(target);
      IF cardinality(missing) > 0 THEN
        RAISE EXCEPTION 'erasure of % refused: no erasure rule for the foreign keys of %', target, array_to_string(missing, '; ')
          USING ERRCODE = 'PD603', HINT = 'declare one for each (deletion.declare_erasure_rule), then the job is retried';
      END IF;
      EXECUTE format('SELECT to_jsonb(t) FROM %s t WHERE %s FOR UPDATE', target, deletion.key_predicate(target, pk, 't')) INTO ej.subject_image;
      IF ej.subject_image IS NULL THEN
        SELECT e.id INTO earlier FROM deletion.erasures e WHERE e.subject_hash = ej.subject_hash ORDER BY e.id DESC LIMIT 1;
        PERFORM deletion.finish_job(job_id, 'cancelled', CASE WHEN earlier IS NOT NULL THEN format('the subject was already erased (erasure %s)', earlier)
                                                              ELSE 'the subject''s row is gone: nothing to erase' END);
        RETURN jsonb_build_object('status', 'cancelled', 'phase', 'prepare', 'deleted', 0, 'remaining', 0, 'planned', 0, 'chunk_ms', 0);
      END IF;
      -- the subject's values: its declared columns, and the originals its soft delete kept aside
      ej.secrets := ARRAY(SELECT ej.subject_image ->> p.column_name FROM deletion.personal_columns_of(target) p
                           WHERE ej.subject_image ->> p.column_name IS NOT NULL);
      IF to_regclass('deletion.soft_delete_kept_values') IS NOT NULL THEN
        ej.secrets := ej.secrets || ARRAY(SELECT kv2.value FROM deletion.soft_delete_kept_values kv, jsonb_each_text(kv.kept) kv2
                                           WHERE kv.table_name = target::text AND ej.subject_image @> kv.row_key AND kv2.value IS NOT NULL);
        DELETE FROM deletion.soft_delete_kept_values kv WHERE kv.table_name = target::text AND ej.subject_image @> kv.row_key;
      END IF;
      -- the tombstone, inserted from its declared values by the first erasure that re-points to it
      IF EXISTS (SELECT FROM deletion.erasure_rules er
                  WHERE er.subject_schema = reg.table_schema AND er.subject_table = reg.table_name AND er.action = 'tombstone') THEN
        tomb_found := NULL;
        IF subject.tombstone_key IS NOT NULL THEN
          EXECUTE format('SELECT true FROM %s WHERE %s', target, deletion.key_predicate(target, deletion.key_text(target, subject.tombstone_key)))
             INTO tomb_found;
        END IF;
        IF tomb_found IS NULL THEN
          IF subject.tombstone_row IS NULL THEN
            RAISE EXCEPTION 'the tombstone row % of % is gone', subject.tombstone_key, target
              USING ERRCODE = 'PD607', HINT = 'declare it again (deletion.declare_erasure_subject), with an existing key or the values of a row to insert';
          END IF;
          EXECUTE format('INSERT INTO %1$s AS t (%2$s) SELECT %2$s FROM jsonb_populate_record(NULL::%1$s, $1) RETURNING to_jsonb(t)',
                         target, (SELECT string_agg(format('%I', c), ', ') FROM jsonb_object_keys(subject.tombstone_row) c))
             INTO tomb_image USING subject.tombstone_row;
          UPDATE deletion.erasure_subjects s
             SET tombstone_key = (SELECT jsonb_object_agg(kc.column_name, tomb_image -> kc.column_name) FROM deletion.primary_key_columns(target) kc)
           WHERE s.table_schema = reg.table_schema AND s.table_name = reg.table_name;
        END IF;
      END IF;
      -- the rules, in erase's order: re-points and SET NULLs first (RESTRICT keys then let the subject go), deletes next
      SELECT coalesce(jsonb_agg(jsonb_build_object('rel', c.oid::regclass::text, 'table', c.oid::regclass::text, 'constraint_oid', fk.constraint_oid,
                                                   'via', to_jsonb(er.via_columns), 'action', er.action, 'redact', er.redact,
                                                   'rows', 0, 'soft_deleted_rows_removed', 0)
                                ORDER BY er.action = 'delete', er.table_schema, er.table_name, er.via_columns), '[]')
        INTO rules
        FROM deletion.erasure_rules er
        JOIN pg_namespace ns ON ns.nspname = er.table_schema
        JOIN pg_class c ON c.relnamespace = ns.oid AND c.relname = er.table_name
        CROSS JOIN LATERAL deletion.foreign_key_by_columns(c.oid::regclass, er.via_columns) fk
       WHERE er.subject_schema = reg.table_schema AND er.subject_table = reg.table_name AND fk.referenced = target;
      ej.progress := jsonb_build_object('rules', rules, 'tables', '{}'::jsonb, 'audit_rows_redacted', 0, 'audit_values_redacted', 0,
                                        'files_queued', 0, 'jobs_cancelled', 0, 'engine_values_scrubbed', '{}'::jsonb, 'chunks', 0);
      ej.step := 'rules';
      ej.step_index := 0;
      taken := taken + 1;

    ELSIF ej.step = 'rules' THEN
      IF ej.step_index >= jsonb_array_length(ej.progress -> 'rules') THEN
        ej.step := 'subject';
        ej.step_index := 0;
        CONTINUE;
      END IF;
      rule := ej.progress -> 'rules' -> ej.step_index;
      SELECT * INTO batch FROM deletion.erasure_rule_batch(ej.subject_table, ej.subject_image, rule, budget, ej.ops, ej.secrets);
      ej.ops := batch.ops;
      ej.secrets := batch.secrets;
      rule := jsonb_set(jsonb_set(rule, '{rows}', to_jsonb((rule ->> 'rows')::bigint + batch.taken - batch.purged)),
                        '{soft_deleted_rows_removed}', to_jsonb((rule ->> 'soft_deleted_rows_removed')::bigint + batch.purged));
      ej.progress := jsonb_set(ej.progress, ARRAY['rules', ej.step_index::text], rule);
      taken := taken + batch.taken;
      IF batch.taken < budget THEN
        ej.step_index := ej.step_index + 1;   -- this rule has no row left; the next
      END IF;

    ELSIF ej.step = 'subject' THEN
      -- from here no new row can reference the subject (a foreign-key check takes KEY SHARE on it)
      EXECUTE format('SELECT to_jsonb(t) FROM %s t WHERE %s FOR UPDATE', target, deletion.key_predicate(target, pk, 't')) INTO tomb_image;
      IF tomb_image IS NOT NULL THEN
        -- the subject's values as they are now (an email changed while the job ran is theirs too)
        ej.secrets := ej.secrets || ARRAY(SELECT tomb_image ->> p.column_name FROM deletion.personal_columns_of(target) p
                                           WHERE tomb_image ->> p.column_name IS NOT NULL);
        -- the rows added under the subject while the job ran: the same rules, whole
        FOR i IN 0 .. jsonb_array_length(ej.progress -> 'rules') - 1 LOOP
          rule := ej.progress -> 'rules' -> i;
          LOOP
            SELECT * INTO batch FROM deletion.erasure_rule_batch(ej.subject_table, ej.subject_image, rule, 100000, ej.ops, ej.secrets);
            ej.ops := batch.ops;
            ej.secrets := batch.secrets;
            EXIT WHEN batch.taken = 0;
            rule := jsonb_set(jsonb_set(rule, '{rows}', to_jsonb((rule ->> 'rows')::bigint + batch.taken - batch.purged)),
                              '{soft_deleted_rows_removed}', to_jsonb((rule ->> 'soft_deleted_rows_removed')::bigint + batch.purged));
            taken := taken + batch.taken;
          END LOOP;
          ej.progress := jsonb_set(ej.progress, ARRAY['rules', i::text], rule);
        END LOOP;
        IF deletion.is_soft_delete_table(target) THEN
          EXECUTE format('SELECT coalesce(array_agg(t.deletion_op), ''{}'') FROM %s t WHERE %s AND t.deletion_op IS NOT NULL',
                         target, deletion.key_predicate(target, pk, 't'))
             INTO vals;
          ej.ops := ej.ops || vals::uuid[];
        END IF;
        IF to_regclass('deletion.forced_deletes') IS NOT NULL THEN
          INSERT INTO deletion.forced_deletes (table_schema, table_name, pk, reason)
          VALUES (reg.table_schema, reg.table_name, pk, format('erasure %s', ej.erasure_id));
        END IF;
        EXECUTE format('DELETE FROM %s t WHERE %s', target, deletion.key_predicate(target, pk, 't'));
        taken := taken + 1;
      END IF;
      ej.progress := jsonb_set(ej.progress, '{subject_txid}', to_jsonb(my_txid));
      ej.step := 'audit';
      ej.step_index := 0;
      ej.step_cursor := 0;
      done := true;   -- the subject's chunk ends here: its transaction is the one that deleted the person

    ELSIF ej.step = 'audit' THEN
      IF to_regclass('audit.log') IS NULL OR to_regclass('audit.redactions') IS NULL THEN
        ej.step := 'engine';
        ej.step_index := 0;
        CONTINUE;
      END IF;
      -- the tables with declared personal columns or a policy, in a fixed order; step_index is the one being worked
      SELECT x.* INTO t
        FROM (SELECT c.oid::regclass AS rel, format('%I.%I', n2.nspname, c.relname) AS log_name,
                     ARRAY(SELECT p.column_name::text FROM deletion.personal_columns_of(c.oid::regclass) p) AS cols,
                     (c.oid = target) AS is_subject,
                     ARRAY(SELECT fk.constraint_oid
                             FROM deletion.erasure_rules er
                             CROSS JOIN LATERAL deletion.foreign_key_by_columns(c.oid::regclass, er.via_columns) fk
                            WHERE er.table_schema = n2.nspname AND er.table_name = c.relname
                              AND er.subject_schema = reg.table_schema AND er.subject_table = reg.table_name
                              AND (er.action = 'delete' OR er.redact) AND fk.referenced = target) AS owning_keys
                FROM pg_class c JOIN pg_namespace n2 ON n2.oid = c.relnamespace
               WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
                 AND (EXISTS (SELECT FROM deletion.personal_columns p WHERE p.table_schema = n2.nspname AND p.table_name = c.relname)
                      OR EXISTS (SELECT FROM deletion.table_policies tp WHERE tp.table_schema = n2.nspname AND tp.table_name = c.relname))
               ORDER BY 2
              OFFSET ej.step_index LIMIT 1) x;
      IF NOT FOUND THEN
        ej.step := 'engine';
        ej.step_index := 0;
        CONTINUE;
      END IF;
      txids := ARRAY(SELECT jt.txid FROM deletion.deletion_job_transactions jt WHERE jt.job_id = run_erasure_chunk.job_id);
      secrets := ARRAY(SELECT DISTINCT ON (length(v), v) v FROM unnest(ej.secrets) v WHERE length(v) >= 4 ORDER BY length(v) DESC, v);
      pred := concat_ws(' OR ',
        'l.txid = ANY ($4)',
        CASE WHEN t.is_subject THEN format('l.record_id = %L', audit.record_id_of(target, pk)) END,
        (SELECT string_agg(format('(%s)', deletion.erasure_fk_image_predicate(o, 'coalesce(l.old_data, l.changed)', ej.subject_image)), ' OR ')
           FROM unnest(t.owning_keys) o));
      n := 0;
      FOR r IN EXECUTE format($q$
        SELECT l.id, l.created_at,
               ARRAY(SELECT DISTINCT e.key
                       FROM (SELECT * FROM jsonb_each(CASE WHEN jsonb_typeof(l.old_data) = 'object' THEN l.old_data ELSE '{}' END)
                             UNION ALL
                             SELECT * FROM jsonb_each(CASE WHEN jsonb_typeof(l.changed) = 'object' THEN l.changed ELSE '{}' END)) e
                      WHERE e.value <> 'null'::jsonb
                        AND NOT coalesce(l.primary_key ? e.key, false)
                        AND (e.key = ANY ($1) OR deletion.contains_any(e.value #>> '{}', $2))) AS cols
          FROM audit.log l
         WHERE l.table_name = $3 AND l.id > $5 AND (%s)
         ORDER BY l.id
         LIMIT %s$q$, pred, budget)
        USING t.cols, secrets, t.log_name, txids, ej.step_cursor
      LOOP
        n := n + 1;
        ej.step_cursor := r.id;
        CONTINUE WHEN cardinality(r.cols) = 0;
        SELECT count(*) INTO m FROM audit.redact(r.id, r.created_at, r.cols);
        IF m > 0 THEN
          ej.progress := jsonb_set(jsonb_set(ej.progress, '{audit_rows_redacted}', to_jsonb((ej.progress ->> 'audit_rows_redacted')::bigint + 1)),
                                   '{audit_values_redacted}', to_jsonb((ej.progress ->> 'audit_values_redacted')::bigint + m));
        END IF;
      END LOOP;
      taken := taken + n;
      IF n < budget THEN
        ej.step_index := ej.step_index + 1;
        ej.step_cursor := 0;
      END IF;

    ELSIF ej.step = 'engine' THEN
      secrets := ARRAY(SELECT DISTINCT ON (length(v), v) v FROM unnest(ej.secrets) v WHERE length(v) >= 4 ORDER BY length(v) DESC, v);
      json_secrets := ARRAY(SELECT substr(to_jsonb(v)::text, 2, length(to_jsonb(v)::text) - 2) FROM unnest(secrets) v);
      IF ej.step_index = 0 THEN
        -- jobs waiting on the subject: cancelled (their row is gone)
        UPDATE deletion.deletion_jobs j SET status = 'cancelled', finished_at = now(), cancel_requested = false,
               error = format('cancelled by erasure %s: its row was erased', ej.erasure_id)
         WHERE j.entity_table IN (ej.subject_table, target::text) AND j.entity_pk = pk AND j.status IN ('pending', 'failed') AND j.id <> job_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        ej.progress := jsonb_set(ej.progress, '{jobs_cancelled}', to_jsonb(n));
        IF deletion.job_column_installed('pending_op') THEN
          EXECUTE 'UPDATE deletion.deletion_jobs j SET pending_op = NULL WHERE j.entity_table IN ($1, $2) AND j.entity_pk = $3 AND j.status = ''cancelled'' AND j.pending_op IS NOT NULL'
            USING ej.subject_table, target::text, pk;
        END IF;
        ej.step_index := 1;
        taken := taken + 1;
        CONTINUE;
      END IF;
      -- the subject's values in the engine's own text and JSON columns, one column a turn
      SELECT x.* INTO t
        FROM (SELECT c.oid::regclass AS rel, a.attname, a.atttypid, format_type(a.atttypid, a.atttypmod) AS type_name
                FROM pg_class c
                JOIN pg_namespace n2 ON n2.oid = c.relnamespace
                JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
               WHERE n2.nspname IN ('deletion', 'deletion_work') AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                 AND a.atttypid IN ('text'::regtype, 'varchar'::regtype, 'jsonb'::regtype, 'json'::regtype)
                 AND c.oid NOT IN ('deletion.erasures'::regclass, 'deletion.personal_columns'::regclass, 'deletion.erasure_jobs'::regclass)
               ORDER BY c.oid::regclass::text, a.attname
              OFFSET ej.step_index - 1 LIMIT 1) x;
      IF NOT FOUND OR cardinality(secrets) = 0 THEN
        ej.step := 'report';
        CONTINUE;
      END IF;
      EXECUTE format('UPDATE %1$s SET %2$I = deletion.scrub_text(%2$I::text, $1)::%3$s WHERE deletion.contains_any(%2$I::text, $1)',
                     t.rel, t.attname, t.type_name)
        USING CASE WHEN t.atttypid IN ('jsonb'::regtype, 'json'::regtype) THEN json_secrets ELSE secrets END;
      GET DIAGNOSTICS n = ROW_COUNT;
      IF n > 0 THEN
        ej.progress := jsonb_set(ej.progress, '{engine_values_scrubbed}',
                                 (ej.progress -> 'engine_values_scrubbed') || jsonb_build_object(format('%s.%I', t.rel, t.attname), n));
      END IF;
      ej.step_index := ej.step_index + 1;
      taken := taken + 1;

    ELSIF ej.step = 'report' THEN
      -- soft-delete operations the erasure emptied: purged, and recorded so that restore refuses them
      SELECT coalesce(array_agg(DISTINCT o), '{}') INTO ej.ops FROM unnest(ej.ops) o;
      erased_ops := ARRAY(
        SELECT o FROM unnest(ej.ops) o
         WHERE NOT EXISTS (SELECT FROM deletion.soft_delete_operation_tables(o) st(tbl)
                            WHERE deletion.table_has_operation_rows(st.tbl, o)));
      UPDATE deletion.soft_delete_operations so SET purged_at = stamp WHERE so.op = ANY (erased_ops) AND so.purged_at IS NULL;
      secrets := ARRAY(SELECT DISTINCT ON (length(v), v) v FROM unnest(ej.secrets) v WHERE length(v) >= 4 ORDER BY length(v) DESC, v);
      -- this chunk's own counts join the others' before the report is made
      ej.progress := jsonb_set(ej.progress, '{tables}', deletion.add_row_counts(ej.progress -> 'tables', counts_before, deletion.transaction_row_counts()));
      counts_before := deletion.transaction_row_counts();
      report := jsonb_build_object(
        'erasure', ej.erasure_id,
        'subject_table', ej.subject_table,
        'subject', ej.subject_hash,
        'key_id', ej.key_id,
        'reason', deletion.scrub_text(ej.reason, secrets),
        'rules_version', deletion.erasure_rules_version(reg.table_schema, reg.table_name),
        'erased_at', stamp,
        'erased_by', ej.requested_by,
        'txid', coalesce((ej.progress ->> 'subject_txid')::bigint, my_txid),
        'job', job_id,
        'chunks', (ej.progress ->> 'chunks')::bigint + 1,
        'rules', (SELECT coalesce(jsonb_agg(x - 'rel' - 'constraint_oid' ORDER BY o), '[]') FROM jsonb_array_elements(ej.progress -> 'rules') WITH ORDINALITY AS e(x, o)),
        'tables', (SELECT coalesce(jsonb_object_agg(e.key, jsonb_build_object('deleted', (e.value ->> 0)::bigint, 'updated', (e.value ->> 1)::bigint,
                                                                               'inserted', (e.value ->> 2)::bigint)), '{}')
                     FROM jsonb_each(ej.progress -> 'tables') e),
        'audit_rows_redacted', (ej.progress ->> 'audit_rows_redacted')::bigint,
        'audit_values_redacted', (ej.progress ->> 'audit_values_redacted')::bigint,
        'files_queued', (ej.progress ->> 'files_queued')::bigint,
        'soft_delete_operations_erased', cardinality(erased_ops),
        'jobs_cancelled', (ej.progress ->> 'jobs_cancelled')::bigint,
        'engine_values_scrubbed', ej.progress -> 'engine_values_scrubbed');
      signature := deletion.erasure_signature(k, report);
      INSERT INTO deletion.erasures (id, subject_table, subject_hash, key_id, txid, erased_at, erased_by, reason, rules_version, report, signature)
      VALUES (ej.erasure_id, ej.subject_table, ej.subject_hash, ej.key_id, (report ->> 'txid')::bigint, stamp, ej.requested_by, report ->> 'reason',
              report ->> 'rules_version', report, signature);
      INSERT INTO deletion.erased_operations (op, erasure_id) SELECT o, ej.erasure_id FROM unnest(erased_ops) o ON CONFLICT DO NOTHING;
      ej.reason := report ->> 'reason';
      ej.step := 'done';
      done := true;
    ELSE
      done := true;
    END IF;
  END LOOP;

  -- this chunk's counts, files and transaction
  IF ej.step <> 'done' THEN
    ej.progress := jsonb_set(ej.progress, '{tables}', deletion.add_row_counts(ej.progress -> 'tables', counts_before, deletion.transaction_row_counts()));
  END IF;
  IF to_regclass('deletion.pending_file_deletions') IS NOT NULL THEN
    SELECT coalesce(sum(s.n_tup_ins), 0) INTO files_after FROM pg_stat_xact_user_tables s WHERE s.relid = 'deletion.pending_file_deletions'::regclass;
    IF files_after > files_before THEN
      ej.progress := jsonb_set(ej.progress, '{files_queued}', to_jsonb((ej.progress ->> 'files_queued')::bigint + files_after - files_before));
      PERFORM deletion.record_erasure_files(ej.erasure_id, queue_before);
    END IF;
  END IF;
  IF ej.progress ? 'chunks' THEN
    ej.progress := jsonb_set(ej.progress, '{chunks}', to_jsonb((ej.progress ->> 'chunks')::bigint + 1));
  END IF;
  UPDATE deletion.erasure_jobs e
     SET step = ej.step, step_index = ej.step_index, step_cursor = ej.step_cursor, subject_image = ej.subject_image,
         secrets = ej.secrets, ops = ej.ops, progress = ej.progress, reason = ej.reason
   WHERE e.job_id = run_erasure_chunk.job_id;
  INSERT INTO deletion.deletion_job_transactions (job_id, txid, rows_deleted, chunk_ms)
  VALUES (job_id, my_txid, taken, (extract(epoch FROM clock_timestamp() - started) * 1000)::integer)
  ON CONFLICT DO NOTHING;
  UPDATE deletion.deletion_jobs j
     SET chunks = j.chunks + 1, heartbeat_at = now(), attempts = 0, rows_deleted = j.rows_deleted + taken
   WHERE j.id = job_id;
  IF ej.step = 'done' THEN
    job := deletion.finish_job(job_id, 'done');
  END IF;
  PERFORM set_config('deletion.mode', coalesce(saved ->> 'deletion.mode', ''), true);
  PERFORM set_config('deletion.reason', coalesce(saved ->> 'deletion.reason', ''), true);
  PERFORM set_config('deletion.job_id', coalesce(saved ->> 'deletion.job_id', ''), true);
  RETURN jsonb_build_object('status', CASE WHEN ej.step = 'done' THEN 'done' ELSE 'running' END, 'phase', ej.step, 'deleted', taken,
                            'remaining', CASE WHEN ej.step = 'done' THEN 0 ELSE 1 END, 'planned', 1,
                            'chunk_ms', (extract(epoch FROM clock_timestamp() - started) * 1000)::integer);
END
$$;
COMMENT ON FUNCTION deletion.run_erasure_chunk(bigint, integer, integer) IS 'Works one chunk of a held erasure job (prepare, rules, subject, audit, engine, report), bounded by rows and milliseconds; returns its progress as JSON.';

REVOKE EXECUTE ON FUNCTION
  deletion.erasure_jobs_installed(),
  deletion.erasure_missing_rules(regclass),
  deletion.record_erasure_files(bigint, bigint),
  deletion.file_queue_high_water(),
  deletion.confirm_erasure_files(bigint[], text),
  deletion.erasure_job_settled(),
  deletion.erasure_rule_batch(text, jsonb, jsonb, bigint, uuid[], text[]),
  deletion.schedule_erasure(regclass, jsonb, text, interval, text),
  deletion.add_row_counts(jsonb, jsonb, jsonb),
  deletion.run_erasure_chunk(bigint, integer, integer)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION deletion.schedule_erasure(regclass, jsonb, text, interval, text) TO deletion_admin;
END
$erasure_jobs$;

-- Soft delete, part 3: marking rows. One operation marks its root rows and every row reached from them
-- through ON DELETE CASCADE foreign keys into soft-delete tables, all with one operation id, one
-- timestamp, one actor and one reason. The walk is set-based: one UPDATE per foreign key (a recursive
-- one for a self-reference), never a statement per row. Rows already deleted by an earlier operation
-- keep their own operation id, and the walk does not pass through them: restoring this operation will
-- not bring them back.
--
-- Three ways in, one path:
--   deletion.soft_delete(target, pk, reason)  the API; runs the caller's own UPDATE of the row
--   UPDATE t SET deleted_at = now() ...        any client; the row trigger stamps the row
--   DELETE FROM t ...                          any client, on tables with delete_becomes_soft
-- The UPDATE row trigger (deletion_20_soft_delete_update) stamps each row the caller could reach
-- (row-level security and privileges decide that, as for any statement) with the statement's
-- operation id and lets the update happen, so the UPDATE reports its rows and RETURNING returns them;
-- the DELETE row trigger (deletion_20_soft_delete) records the row and skips the delete. The
-- statement trigger (deletion_20_soft_delete_flush) then soft-deletes them all, with their cascade,
-- as one operation. Deferring the cascade to the statement keeps a multi-row statement whose rows
-- cascade into each other (a comment and its replies) from tripping over rows its own cascade marked.

-- Steps aside the unique values of soft-deleted rows of `target` (the operation's rows, or with op
-- NULL every deleted row of a known operation, when the wiring turns a partial key back into a plain
-- one): the original of each step-aside column (deletion.soft_delete_step_aside) is kept in
-- deletion.soft_delete_kept_values and the column gets a suffix, '~' and 16 hex digits of a hash of
-- the operation and the value (cut to the column's length limit first), so the plain UNIQUE
-- constraint no longer sees the deleted row. Rows already stepped aside are left alone, so running
-- it twice (a deletion job continuing its marker) changes nothing. Set-based: one statement a table.
CREATE OR REPLACE FUNCTION deletion.step_aside_deleted_rows(target regclass, op uuid)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  key_columns name[];
  steps record;
  stepped bigint;
BEGIN
  IF to_regclass('deletion.soft_delete_step_aside') IS NULL THEN
    RETURN 0;
  END IF;
  SELECT array_agg(DISTINCT sa.column_name) AS columns,
         string_agg(DISTINCT format('%1$I = CASE WHEN t.%1$I IS NULL THEN NULL ELSE %2$s || ''~'' || left(md5(kept.op::text || t.%1$I::text), 16) END',
                                    sa.column_name,
                                    CASE WHEN sa.max_length IS NULL THEN format('t.%I::text', sa.column_name)
                                         ELSE format('left(t.%I::text, %s)', sa.column_name, sa.max_length - 17) END), ', ') AS assignments
    INTO steps
    FROM deletion.soft_delete_step_aside sa
    JOIN pg_class c ON c.oid = target AND c.relname = sa.table_name
    JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = sa.table_schema;
  IF steps.columns IS NULL THEN
    RETURN 0;
  END IF;
  key_columns := ARRAY(SELECT column_name FROM deletion.primary_key_columns(target));
  EXECUTE format($q$
    WITH kept AS (
      INSERT INTO deletion.soft_delete_kept_values (op, table_name, row_key, kept)
      SELECT t.deletion_op, %1$L, jsonb_build_object(%2$s), jsonb_build_object(%3$s)
        FROM %4$s AS t
       WHERE t.deleted_at IS NOT NULL AND t.deletion_op IS NOT NULL AND ($1::uuid IS NULL OR t.deletion_op = $1)
      ON CONFLICT ON CONSTRAINT soft_delete_kept_values_pkey DO NOTHING
      RETURNING soft_delete_kept_values.op, row_key
    )
    UPDATE %4$s AS t SET %5$s
      FROM kept, jsonb_populate_record(NULL::%4$s, kept.row_key) AS k
     WHERE %6$s$q$,
    target::text,
    (SELECT string_agg(format('%L, t.%I', c, c), ', ') FROM unnest(key_columns) c),
    (SELECT string_agg(format('%L, t.%I', c, c), ', ') FROM unnest(steps.columns) c),
    target, steps.assignments, deletion.columns_equal('t', key_columns, 'k', key_columns))
    USING op;
  GET DIAGNOSTICS stepped = ROW_COUNT;
  RETURN stepped;
END
$$;
COMMENT ON FUNCTION deletion.step_aside_deleted_rows(regclass, uuid) IS 'Soft-deleted rows of a table give up their unique values (a suffix; the originals are kept for restore), so plain UNIQUE constraints ignore them; internal.';

-- Two counts of rows per table (soft_delete_operations.rows_per_table's shape) added together: how
-- a soft delete counts what each of its statements marked, and how a soft job's operation gets what
-- each chunk marked added to what it holds (so the count survives a plan made again half-way).
CREATE OR REPLACE FUNCTION deletion.sum_row_counts(counts jsonb, more jsonb)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
  SELECT coalesce(jsonb_object_agg(c.table_name, c.row_count), '{}')
    FROM (SELECT e.key AS table_name, sum(e.value::bigint) AS row_count
            FROM (SELECT * FROM jsonb_each_text(coalesce(counts, '{}'))
                  UNION ALL
                  SELECT * FROM jsonb_each_text(coalesce(more, '{}'))) e
           GROUP BY e.key
          HAVING sum(e.value::bigint) <> 0) c
$$;
COMMENT ON FUNCTION deletion.sum_row_counts(jsonb, jsonb) IS 'Two rows-per-table counts ({"table": n}) added together (tables that come to 0 left out).';

-- The rows of a JSON array of key objects, typed as the table's rows (jsonb_populate_recordset), for
-- a join by key. jsonb_populate_recordset is estimated at 100 rows, so a soft delete of one row
-- joined them to the whole table by a hash over a sequential scan; estimated at one row (this
-- function is PL/pgSQL, so the planner keeps the estimate), the join goes by the primary key's index,
-- which serves a statement's many rows as well.
CREATE OR REPLACE FUNCTION deletion.key_rows(template anyelement, keys jsonb)
RETURNS SETOF anyelement
LANGUAGE plpgsql
STABLE
ROWS 1
SET search_path = pg_catalog
AS $$
BEGIN
  RETURN QUERY SELECT * FROM jsonb_populate_recordset(template, keys);
END
$$;
COMMENT ON FUNCTION deletion.key_rows(anyelement, jsonb) IS 'jsonb_populate_recordset estimated at one row, for joins by key; internal.';

-- The statements of a soft delete's walk from `target`, as the generic walk (below) runs them and as
-- the walk generated for the table (sql/12_soft_delete_walk.sql) has them written in: one source for
-- both. Their parameters: $1 the time, $2 the actor, $3 the reason, $4 the operation, $5 the roots (a
-- JSON array of primary-key objects), $6 the operation continued (or NULL).
--   step 0, count_roots: how many roots already carry this run's stamp, and how many are to stamp
--           (active ones, and those of the operation continued). A root stamped by this run is the
--           statement trigger's case: the client's UPDATE stamped its rows a moment ago with this
--           operation, this transaction's time, actor and reason; a second UPDATE of them would fire
--           every trigger of the table once more, foreign-key checks included.
--   step 0, stamp_roots: stamps the others.
--   steps 1..n: one UPDATE per cascade edge, in deletion.soft_delete_cascade_plan's order: the
--           children of the rows this operation marked in the parent table, or for a self-reference
--           every descendant of a marked row in one recursive statement. in_cycle: tables reach each
--           other through other tables, and the edges are walked again until they mark nothing.
CREATE OR REPLACE FUNCTION deletion.soft_delete_walk_statements(target regclass)
RETURNS TABLE (step integer, child regclass, statement text, in_cycle boolean)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
  key_columns name[] := ARRAY(SELECT column_name FROM deletion.primary_key_columns(target));
  root_join text := deletion.columns_equal('t', key_columns, 'r', key_columns);  -- a root to its key
  -- a root already stamped by this run
  already_stamped constant text := 'coalesce(t.deletion_op = $4 AND t.deleted_at = $1 AND t.deleted_by::text IS NOT DISTINCT FROM $2 '
                                   'AND t.deletion_reason IS NOT DISTINCT FROM $3, false)';
  edge record;
  child_key name[];
  carried name[];
BEGIN
  RETURN QUERY VALUES
    (0, target, format('SELECT count(*) FILTER (WHERE %3$s), count(*) FILTER (WHERE NOT %3$s) '
                       'FROM %1$s AS t JOIN deletion.key_rows(NULL::%1$s, $5) AS r ON %2$s '
                       'WHERE t.deleted_at IS NULL OR t.deletion_op = $6',
                       target, root_join, already_stamped), false),
    (0, target, format('UPDATE %1$s AS t SET %2$s FROM deletion.key_rows(NULL::%1$s, $5) AS r '
                       'WHERE %3$s AND (t.deleted_at IS NULL OR t.deletion_op = $6) AND NOT %4$s',
                       target, deletion.soft_delete_stamp(target), root_join, already_stamped), false);
  FOR edge IN SELECT * FROM deletion.soft_delete_cascade_plan(target) LOOP
    IF edge.self_reference THEN
      child_key := ARRAY(SELECT column_name FROM deletion.primary_key_columns(edge.child));
      carried := ARRAY(SELECT DISTINCT unnest(child_key || edge.parent_columns));
      statement := format($u$WITH RECURSIVE reached AS (
            SELECT %3$s FROM %1$s AS c JOIN %1$s AS p ON %4$s
             WHERE p.deletion_op = $4 AND c.deleted_at IS NULL
            UNION
            SELECT %3$s FROM %1$s AS c JOIN reached AS p ON %4$s
             WHERE c.deleted_at IS NULL
          )
          UPDATE %1$s AS t SET %2$s FROM reached WHERE %5$s AND t.deleted_at IS NULL$u$,
          edge.child, deletion.soft_delete_stamp(edge.child), deletion.column_list('c', carried),
          deletion.columns_equal('c', edge.child_columns, 'p', edge.parent_columns),
          deletion.columns_equal('t', child_key, 'reached', child_key));
    ELSE
      statement := format('UPDATE %1$s AS c SET %2$s FROM %3$s AS p WHERE p.deletion_op = $4 AND %4$s AND c.deleted_at IS NULL',
                          edge.child, deletion.soft_delete_stamp(edge.child), edge.parent,
                          deletion.columns_equal('c', edge.child_columns, 'p', edge.parent_columns));
    END IF;
    step := edge.step;
    child := edge.child;
    in_cycle := edge.in_cycle;
    RETURN NEXT;
  END LOOP;
END
$$;
COMMENT ON FUNCTION deletion.soft_delete_walk_statements(regclass) IS 'The statements of a soft delete''s walk from a table (roots counted and stamped, then one UPDATE per cascade edge, in order), shared by the generic and the generated walk; internal.';

-- The generic walk: marks the given roots of `target` and their cascade with the stamp ($1-$4 as
-- above) and returns the rows marked per table (soft_delete_operations.rows_per_table's shape), NULL
-- when no root was active. It reads its statements from the catalog and plans each one at every call;
-- the walk generated for each table (sql/12_soft_delete_walk.sql) runs the same statements written
-- in. This one is the reference, and what runs for a table the wiring has not written a walk for.
CREATE OR REPLACE FUNCTION deletion.soft_delete_walk(target regclass, stamped_at timestamptz, actor text, reason text, op uuid,
                                                     root_keys jsonb, continue_op uuid)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  root_statements text[];   -- count_roots, stamp_roots
  edge_statements text[];
  edge_children regclass[];
  in_cycle boolean;
  rows_per_table jsonb;
  marked bigint;
  to_stamp bigint;
  marked_this_pass bigint;
BEGIN
  SELECT array_agg(s.statement ORDER BY s.ord) FILTER (WHERE s.step = 0),
         coalesce(array_agg(s.statement ORDER BY s.ord) FILTER (WHERE s.step > 0), '{}'),
         coalesce(array_agg(s.child ORDER BY s.ord) FILTER (WHERE s.step > 0), '{}'),
         coalesce(bool_or(s.in_cycle), false)
    INTO root_statements, edge_statements, edge_children, in_cycle
    FROM deletion.soft_delete_walk_statements(target) WITH ORDINALITY AS s(step, child, statement, in_cycle, ord);
  EXECUTE root_statements[1] INTO marked, to_stamp USING stamped_at, actor, reason, op, root_keys, continue_op;
  IF to_stamp > 0 THEN
    EXECUTE root_statements[2] USING stamped_at, actor, reason, op, root_keys, continue_op;
    GET DIAGNOSTICS to_stamp = ROW_COUNT;
    marked := marked + to_stamp;
  END IF;
  IF marked = 0 THEN
    RETURN NULL;
  END IF;
  rows_per_table := jsonb_build_object(target::text, marked);
  LOOP
    marked_this_pass := 0;
    FOR i IN 1 .. cardinality(edge_statements) LOOP
      EXECUTE edge_statements[i] USING stamped_at, actor, reason, op;
      GET DIAGNOSTICS marked = ROW_COUNT;
      IF marked > 0 THEN
        rows_per_table := deletion.sum_row_counts(rows_per_table, jsonb_build_object(edge_children[i]::text, marked));
        marked_this_pass := marked_this_pass + marked;
      END IF;
    END LOOP;
    -- Without a cycle between tables, one pass in plan order reaches everything.
    EXIT WHEN NOT in_cycle OR marked_this_pass = 0;
  END LOOP;
  RETURN rows_per_table;
END
$$;
COMMENT ON FUNCTION deletion.soft_delete_walk(regclass, timestamptz, text, text, uuid, jsonb, uuid) IS 'The generic soft-delete walk: marks roots and their cascade from the catalog, planning each statement at every call (the reference, and the fallback of the generated walks); internal.';

-- Marks the given rows of `target` (a JSON array of primary-key objects) and their cascade, as one
-- new operation; returns its id, or NULL when none of the rows was active. Runs as the engine's owner:
-- callers are the statement trigger and the deletion-job worker, nothing else (EXECUTE is revoked
-- from PUBLIC). The walk is the one generated for the table when the wiring wrote it, else the
-- generic one.
--
-- continue_op continues an operation that already marked the root rows alone: a deletion job's
-- pending-deletion marker (sql/41_jobs_api.sql), which hid its root at once and left the tree for the
-- job. The roots it marked are taken again (restamped with this run's time, actor and reason), the
-- cascade is walked from them, and the operation's log row is rewritten with the whole tree, so the
-- trash keeps showing one operation, the one it showed while the job waited, and restoring it brings
-- back the whole tree.
CREATE OR REPLACE FUNCTION deletion.soft_delete_rows(target regclass, root_keys jsonb, actor text, reason text,
                                                     continue_op uuid DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  op uuid := coalesce(continue_op, gen_random_uuid());
  stamped_at timestamptz := now();
  generated_walk regprocedure := deletion.soft_delete_walk_of(target);
  rows_per_table jsonb;
BEGIN
  IF generated_walk IS NOT NULL THEN
    EXECUTE format('SELECT %s($1, $2, $3, $4, $5, $6)', generated_walk::regproc)
      INTO rows_per_table USING stamped_at, actor, reason, op, root_keys, continue_op;
  ELSE
    rows_per_table := deletion.soft_delete_walk(target, stamped_at, actor, reason, op, root_keys, continue_op);
  END IF;
  IF rows_per_table IS NULL THEN
    RETURN NULL;
  END IF;

  -- Unique values of the marked rows step aside (tables whose unique keys stay plain UNIQUE: those
  -- the wiring listed in deletion.soft_delete_step_aside; the others are not called at all).
  IF to_regclass('deletion.soft_delete_step_aside') IS NOT NULL THEN
    PERFORM deletion.step_aside_deleted_rows(t::regclass, op)
       FROM jsonb_object_keys(rows_per_table) AS t
      WHERE EXISTS (SELECT FROM deletion.soft_delete_step_aside sa WHERE format('%I.%I', sa.table_schema, sa.table_name) = t);
  END IF;

  INSERT INTO deletion.soft_delete_operations (op, root_table, root_key, deleted_by, deletion_reason, performed_at, rows_per_table)
  VALUES (op, target::text, root_keys, actor, reason, stamped_at, rows_per_table)
  ON CONFLICT ON CONSTRAINT soft_delete_operations_pkey DO UPDATE  -- only a continued operation is logged already
     SET deleted_by = excluded.deleted_by, deletion_reason = excluded.deletion_reason,
         performed_at = excluded.performed_at, rows_per_table = excluded.rows_per_table;
  RETURN op;
END
$$;
COMMENT ON FUNCTION deletion.soft_delete_rows(regclass, jsonb, text, text, uuid) IS 'Soft-deletes the given rows and their ON DELETE CASCADE descendants in soft-delete tables as one operation (set-based), or continues an operation that marked the roots alone; internal, called by the statement trigger and the job worker.';

-- Row trigger, BEFORE DELETE on tables with delete_becomes_soft: records the row for the statement
-- trigger and skips the delete. Arguments: the primary-key column names. A DELETE issued by another
-- trigger (an ON DELETE CASCADE from a hard-delete table, which would leave this row pointing at a
-- parent that is gone) is refused (PD103) rather than turned into a broken soft delete.
CREATE OR REPLACE FUNCTION deletion.soft_delete_on_delete()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  image jsonb := to_jsonb(OLD);
BEGIN
  PERFORM deletion.require_engine_trigger(TG_RELID, TG_NAME, 'deletion.soft_delete_on_delete'::regproc);
  IF pg_trigger_depth() > 1 THEN
    RAISE EXCEPTION 'a delete reached soft-delete table %.% through another table''s cascade', TG_TABLE_SCHEMA, TG_TABLE_NAME
      USING ERRCODE = 'PD103',
            HINT = 'soft-delete the parent instead (make its table a soft-delete table), or hard-delete as deletion_admin with SET LOCAL deletion.mode = ''hard''';
  END IF;
  INSERT INTO deletion.soft_delete_requests (xact_id, table_oid, row_key, deleted_by, reason)
  SELECT pg_current_xact_id(), TG_RELID, jsonb_object_agg(k, image -> k), deletion.current_actor(), deletion.current_reason()
    FROM unnest(TG_ARGV) AS k;
  PERFORM set_config('deletion.soft_delete_pending', 'on', true);
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION deletion.soft_delete_on_delete() IS 'BEFORE DELETE row trigger (deletion_20_soft_delete): a plain DELETE becomes a soft delete, cascaded by the statement trigger.';

-- Row trigger, BEFORE DELETE on tables whose plain DELETE is refused (registry plain_delete =
-- 'refuse'), in place of deletion.soft_delete_on_delete: a DELETE that the engine would turn into a
-- soft delete cannot tell the client what it did (a row a BEFORE trigger skips counts as not
-- deleted: DELETE 0, RETURNING empty), so it is refused before anything changes, with the two routes
-- that report their rows. A privileged role's hard DELETE (deletion.mode = 'hard') never gets here.
CREATE OR REPLACE FUNCTION deletion.refuse_plain_delete()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
BEGIN
  IF pg_trigger_depth() > 1 THEN
    RAISE EXCEPTION 'a delete reached soft-delete table %.% through another table''s cascade', TG_TABLE_SCHEMA, TG_TABLE_NAME
      USING ERRCODE = 'PD103',
            HINT = 'soft-delete the parent instead (make its table a soft-delete table), or hard-delete as deletion_admin with SET LOCAL deletion.mode = ''hard''';
  END IF;
  RAISE EXCEPTION 'a plain DELETE on %.% is refused: it would soft-delete the rows and report DELETE 0', TG_TABLE_SCHEMA, TG_TABLE_NAME
    USING ERRCODE = 'PD104',
          HINT = format('soft-delete with UPDATE %I.%I SET deleted_at = now() WHERE ... (reports its rows; RETURNING works) '
                        'or SELECT deletion.soft_delete(%L, <key>); a deletion_admin hard-deletes with SET LOCAL deletion.mode = ''hard''',
                        TG_TABLE_SCHEMA, TG_TABLE_NAME, format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME));
END
$$;
COMMENT ON FUNCTION deletion.refuse_plain_delete() IS 'BEFORE DELETE row trigger (deletion_20_soft_delete, plain_delete = refuse): refuses a plain DELETE that would soft-delete and report 0 rows (PD104), naming UPDATE ... SET deleted_at and deletion.soft_delete.';

-- The operation the current statement's soft deletes of a table belong to: the one its first row
-- was stamped with (a pending request), else a new one. Its id begins with the statement's identity:
-- the transaction id (its low 4 bytes) and the statement's start (8 bytes of microseconds), then 4
-- bytes of a sequence (one statement identity covers every statement a function or DO block runs). So row-level security can show a statement the rows it soft-deleted itself (its
-- RETURNING) with one short test (deletion.soft_deleted_by_this_statement), and nothing a session
-- can choose widens it. Internal: called by the UPDATE row trigger.
CREATE OR REPLACE FUNCTION deletion.soft_delete_statement_op(target oid)
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  op uuid;
  tree oid[] := ARRAY[target];
BEGIN
  -- The partitions of one partitioned table share the statement's operation.
  IF (SELECT c.relispartition FROM pg_class c WHERE c.oid = target) THEN
    tree := ARRAY(SELECT t.relid FROM pg_partition_tree(deletion.registered_table_of(target)) t);
  END IF;
  SELECT r.op INTO op FROM deletion.soft_delete_requests r
   WHERE r.xact_id = pg_current_xact_id() AND r.table_oid = ANY (tree) AND r.op IS NOT NULL
   LIMIT 1;
  RETURN coalesce(op, encode(deletion.statement_identity() || substring(int8send(nextval('deletion.soft_delete_op_seq')) FROM 5 FOR 4), 'hex')::uuid);
END
$$;
COMMENT ON FUNCTION deletion.soft_delete_statement_op(oid) IS 'The operation id of the current statement''s soft deletes of a table (new on its first row, beginning with the transaction id); internal.';

-- Row trigger, BEFORE UPDATE OF deleted_at, when a client sets deleted_at on an active row without an
-- operation id (UPDATE t SET deleted_at = now()): stamps the row with the statement's operation (and
-- the actor and reason, unless the UPDATE sets deleted_by or deletion_reason itself) and lets the
-- update happen, so the client's UPDATE reports the rows it deleted and RETURNING returns them; it
-- records the row for the statement trigger, which cascades the operation from the stamped rows.
CREATE OR REPLACE FUNCTION deletion.soft_delete_on_update()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  image jsonb := to_jsonb(OLD);
  new_image jsonb := to_jsonb(NEW);
  op uuid;
  actor text := coalesce(new_image ->> 'deleted_by', deletion.current_actor());
  reason text := coalesce(new_image ->> 'deletion_reason', deletion.current_reason());
BEGIN
  PERFORM deletion.require_engine_trigger(TG_RELID, TG_NAME, 'deletion.soft_delete_on_update'::regproc);
  IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'deletion.soft_delete_requests'::regclass AND attname = 'op') THEN
    -- Migrated down below 0090: the earlier behaviour (the row is skipped, the statement trigger
    -- marks it; the UPDATE reports 0).
    INSERT INTO deletion.soft_delete_requests (xact_id, table_oid, row_key, deleted_by, reason)
    SELECT pg_current_xact_id(), TG_RELID, jsonb_object_agg(k, image -> k), actor, reason FROM unnest(TG_ARGV) AS k;
    PERFORM set_config('deletion.soft_delete_pending', 'on', true);
    RETURN NULL;
  END IF;
  op := deletion.soft_delete_statement_op(TG_RELID);
  INSERT INTO deletion.soft_delete_requests (xact_id, table_oid, row_key, deleted_by, reason, op)
  SELECT pg_current_xact_id(), TG_RELID, jsonb_object_agg(k, image -> k), actor, reason, op
    FROM unnest(TG_ARGV) AS k;
  PERFORM set_config('deletion.soft_delete_pending', 'on', true);
  NEW.deletion_op := op;
  NEW.deleted_by := actor;
  NEW.deletion_reason := reason;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION deletion.soft_delete_on_update() IS 'BEFORE UPDATE row trigger (deletion_20_soft_delete_update): UPDATE ... SET deleted_at stamps the row with its operation (the UPDATE counts it) and the statement trigger cascades.';

-- Statement trigger, AFTER UPDATE OF deleted_at (and AFTER DELETE where a plain DELETE becomes a
-- soft delete), only while rows are pending: soft-deletes the rows this statement's row triggers
-- recorded, set-based, as one operation (the one the UPDATE's rows were stamped with, continued),
-- and leaves its id in the transaction's deletion.soft_delete_op setting.
-- On a partitioned table the row triggers fire on the partitions (TG_RELID is the partition) and the
-- statement trigger on the table the statement named, the parent or one partition
-- (sql/03_partitions.sql): it takes the requests of every table of the registered table's partition
-- tree and soft-deletes them through the registered table.
CREATE OR REPLACE FUNCTION deletion.soft_delete_flush()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  root_keys jsonb;
  actor text;
  reason text;
  stamped uuid;
  op uuid;
  registered regclass := TG_RELID;
  tree oid[] := ARRAY[TG_RELID];
BEGIN
  PERFORM deletion.require_engine_trigger(TG_RELID, TG_NAME, 'deletion.soft_delete_flush'::regproc);
  IF (SELECT c.relkind = 'p' OR c.relispartition FROM pg_class c WHERE c.oid = TG_RELID) THEN
    registered := deletion.registered_table_of(TG_RELID);
    tree := ARRAY(SELECT t.relid FROM pg_partition_tree(registered) t);
  END IF;
  IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'deletion.soft_delete_requests'::regclass AND attname = 'op') THEN
    WITH taken AS (
      DELETE FROM deletion.soft_delete_requests
       WHERE xact_id = pg_current_xact_id() AND table_oid = ANY (tree)
      RETURNING row_key, deleted_by, soft_delete_requests.reason
    )
    SELECT jsonb_agg(DISTINCT row_key), min(deleted_by), min(taken.reason) INTO root_keys, actor, reason FROM taken;
  ELSE
    WITH taken AS (
      DELETE FROM deletion.soft_delete_requests
       WHERE xact_id = pg_current_xact_id() AND table_oid = ANY (tree)
      RETURNING row_key, deleted_by, soft_delete_requests.reason, soft_delete_requests.op
    )
    SELECT jsonb_agg(DISTINCT row_key), min(deleted_by), min(taken.reason), (array_agg(taken.op) FILTER (WHERE taken.op IS NOT NULL))[1]
      INTO root_keys, actor, reason, stamped FROM taken;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM deletion.soft_delete_requests WHERE xact_id = pg_current_xact_id()) THEN
    PERFORM set_config('deletion.soft_delete_pending', '', true);
  END IF;
  IF root_keys IS NOT NULL THEN
    op := deletion.soft_delete_rows(registered, root_keys, actor, reason, stamped);
    IF op IS NOT NULL THEN
      PERFORM set_config('deletion.soft_delete_op', op::text, true);
    END IF;
  END IF;
  -- Restores by UPDATE ... SET deleted_at = NULL (sql/13_soft_delete_restore.sql).
  PERFORM deletion.restore_requested();
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION deletion.soft_delete_flush() IS 'AFTER statement trigger (deletion_20_soft_delete_flush): soft-deletes what the statement''s row triggers recorded, as one operation.';

-- The API: soft-deletes one row (and its cascade) and returns the operation id. It runs as the
-- caller: the row is marked through the caller's own UPDATE, so the caller can soft-delete exactly
-- the rows it could update (privileges and row-level security, the product's own policies included).
-- Errors: PD101 not a soft-delete table; 42P01 unknown table (the regclass cast); 22P02/22023 a key
-- that does not fit; P0002 no active row with that key that the caller can see; 55000 already deleted.
CREATE OR REPLACE FUNCTION deletion.soft_delete(target regclass, pk text, reason text DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  predicate text;
  caller_reason text := current_setting('deletion.reason', true);
  op uuid;
  earlier_op uuid;
  still_there boolean;
BEGIN
  -- An archived table: the row leaves it (sql/17_soft_delete_archive.sql).
  IF to_jsonb(deletion.policy_of(target)) ->> 'storage' = 'archive' THEN
    RETURN deletion.archive_delete(target, pk, reason);
  END IF;
  PERFORM deletion.require_soft_delete_table(target);
  predicate := deletion.key_predicate(target, pk);
  PERFORM set_config('deletion.soft_delete_op', '', true);
  IF reason IS NOT NULL THEN
    PERFORM set_config('deletion.reason', reason, true);
  END IF;
  EXECUTE format('UPDATE %s SET deleted_at = now() WHERE %s AND deleted_at IS NULL', target, predicate);
  PERFORM set_config('deletion.reason', coalesce(caller_reason, ''), true);
  op := nullif(current_setting('deletion.soft_delete_op', true), '')::uuid;
  IF op IS NOT NULL THEN
    RETURN op;
  END IF;
  -- Why not? A row the caller can see but that is already deleted (visible only to roles that bypass
  -- row-level security), or no row the caller can see at all.
  EXECUTE format('SELECT true, deletion_op FROM %s WHERE %s', target, predicate) INTO still_there, earlier_op;
  IF still_there THEN
    RAISE EXCEPTION 'row % of % is already soft-deleted (operation %)', pk, target, earlier_op
      USING ERRCODE = '55000', HINT = format('restore it with SELECT deletion.restore(%L::uuid)', earlier_op);
  END IF;
  RAISE EXCEPTION 'no active row of % has the key %', target, pk
    USING ERRCODE = 'P0002', HINT = 'check the key; deleted rows and rows your role cannot see are not found';
END
$$;
COMMENT ON FUNCTION deletion.soft_delete(regclass, text, text) IS 'Soft-deletes one row and its ON DELETE CASCADE descendants in soft-delete tables as one operation; returns the operation id.';

REVOKE EXECUTE ON FUNCTION deletion.soft_delete_rows(regclass, jsonb, text, text, uuid), deletion.soft_delete_statement_op(oid),
                           deletion.soft_delete_walk_statements(regclass),
                           deletion.soft_delete_walk(regclass, timestamptz, text, text, uuid, jsonb, uuid),
                           deletion.step_aside_deleted_rows(regclass, uuid),
                           deletion.refuse_plain_delete() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION deletion.soft_delete(regclass, text, text) TO deletion_app, deletion_admin;

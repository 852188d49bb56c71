-- Soft delete, part 3: marking rows. One operation marks its root rows and every row reached from them
-- through ON DELETE CASCADE foreign keys into soft-delete tables, all with one operation id, one
-- timestamp, one actor and one reason. The walk is set-based: one UPDATE per foreign key (a recursive
-- one for a self-reference), never a statement per row. Rows already deleted by an earlier operation
-- keep their own operation id, and the walk does not pass through them: restoring this operation will
-- not bring them back.
--
-- Three ways in, one path:
--   deletion.soft_delete(target, pk, reason)  the API; runs the caller's own UPDATE of the row
--   UPDATE t SET deleted_at = now() ...        any client; the row trigger takes it over
--   DELETE FROM t ...                          any client, on tables with delete_becomes_soft
-- The row triggers (deletion_20_soft_delete, deletion_20_soft_delete_update) record the rows the
-- caller could reach (row-level security and privileges decide that, as for any statement) and skip
-- the row change; the statement trigger (deletion_20_soft_delete_flush) then soft-deletes them all as
-- one operation. Deferring to the statement keeps a multi-row DELETE whose rows cascade into each
-- other (a comment and its replies) from tripping over rows its own cascade already marked.

-- Marks the given rows of `target` (a JSON array of primary-key objects) and their cascade, as one
-- new operation; returns its id, or NULL when none of the rows was active. Runs as the engine's owner:
-- callers are the statement trigger and the deletion-job worker, nothing else (EXECUTE is revoked
-- from PUBLIC).
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
  key_columns name[] := ARRAY(SELECT column_name FROM deletion.primary_key_columns(target));
  rows_per_table jsonb;
  marked bigint;
  marked_this_pass bigint;
  edge record;
  has_cycle boolean := false;
  carried name[];
BEGIN
  EXECUTE format('UPDATE %1$s AS t SET %2$s FROM jsonb_populate_recordset(NULL::%1$s, $5) AS r '
                 'WHERE %3$s AND (t.deleted_at IS NULL OR t.deletion_op = $6)',
                 target, deletion.soft_delete_stamp(target), deletion.columns_equal('t', key_columns, 'r', key_columns))
    USING stamped_at, actor, reason, op, root_keys, continue_op;
  GET DIAGNOSTICS marked = ROW_COUNT;
  IF marked = 0 THEN
    RETURN NULL;
  END IF;
  rows_per_table := jsonb_build_object(target::text, marked);

  LOOP
    marked_this_pass := 0;
    FOR edge IN SELECT * FROM deletion.soft_delete_cascade_plan(target) LOOP
      has_cycle := edge.in_cycle;
      IF edge.self_reference THEN
        -- A tree inside one table: every descendant of a marked row, in one recursive statement.
        carried := ARRAY(SELECT DISTINCT unnest(ARRAY(SELECT column_name FROM deletion.primary_key_columns(edge.child)) || edge.parent_columns));
        EXECUTE format($u$
          WITH RECURSIVE reached AS (
            SELECT %3$s FROM %1$s AS c JOIN %1$s AS p ON %4$s
             WHERE p.deletion_op = $4 AND c.deleted_at IS NULL
            UNION
            SELECT %3$s FROM %1$s AS c JOIN reached AS p ON %4$s
             WHERE c.deleted_at IS NULL
          )
          UPDATE %1$s AS t SET %2$s FROM reached WHERE %5$s AND t.deleted_at IS NULL$u$,
          edge.child, deletion.soft_delete_stamp(edge.child), deletion.column_list('c', carried),
          deletion.columns_equal('c', edge.child_columns, 'p', edge.parent_columns),
          deletion.columns_equal('t', ARRAY(SELECT column_name FROM deletion.primary_key_columns(edge.child)),
                                 'reached', ARRAY(SELECT column_name FROM deletion.primary_key_columns(edge.child))))
          USING stamped_at, actor, reason, op;
      ELSE
        -- Children of the rows this operation marked in the parent table.
        EXECUTE format('UPDATE %1$s AS c SET %2$s FROM %3$s AS p WHERE p.deletion_op = $4 AND %4$s AND c.deleted_at IS NULL',
                       edge.child, deletion.soft_delete_stamp(edge.child), edge.parent, deletion.columns_equal('c', edge.child_columns, 'p', edge.parent_columns))
          USING stamped_at, actor, reason, op;
      END IF;
      GET DIAGNOSTICS marked = ROW_COUNT;
      IF marked > 0 THEN
        rows_per_table := jsonb_set(rows_per_table, ARRAY[edge.child::text],
                                    to_jsonb(coalesce((rows_per_table ->> edge.child::text)::bigint, 0) + marked));
        marked_this_pass := marked_this_pass + marked;
      END IF;
    END LOOP;
    -- Without a cycle between tables, one pass in plan order reaches everything.
    EXIT WHEN NOT has_cycle OR marked_this_pass = 0;
  END LOOP;

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

-- Row trigger, BEFORE UPDATE OF deleted_at, when a client sets deleted_at on an active row without an
-- operation id (UPDATE t SET deleted_at = now()): records the row and skips the update, so the row
-- gets a full soft delete with cascade instead, and the application role's UPDATE ... RETURNING never
-- hits the row-level-security check that a deleted new row would fail (42501). deleted_by and
-- deletion_reason given in the same UPDATE are kept.
CREATE OR REPLACE FUNCTION deletion.soft_delete_on_update()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  image jsonb := to_jsonb(OLD);
  new_image jsonb := to_jsonb(NEW);
BEGIN
  PERFORM deletion.require_engine_trigger(TG_RELID, TG_NAME, 'deletion.soft_delete_on_update'::regproc);
  INSERT INTO deletion.soft_delete_requests (xact_id, table_oid, row_key, deleted_by, reason)
  SELECT pg_current_xact_id(), TG_RELID, jsonb_object_agg(k, image -> k),
         coalesce(new_image ->> 'deleted_by', deletion.current_actor()),
         coalesce(new_image ->> 'deletion_reason', deletion.current_reason())
    FROM unnest(TG_ARGV) AS k;
  PERFORM set_config('deletion.soft_delete_pending', 'on', true);
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION deletion.soft_delete_on_update() IS 'BEFORE UPDATE row trigger (deletion_20_soft_delete_update): UPDATE ... SET deleted_at becomes a soft delete with cascade.';

-- Statement trigger, AFTER UPDATE OR DELETE (only while rows are pending): soft-deletes the rows this
-- statement's row triggers recorded, set-based, as one operation, and leaves its id in the
-- transaction's deletion.soft_delete_op setting.
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
  op uuid;
BEGIN
  PERFORM deletion.require_engine_trigger(TG_RELID, TG_NAME, 'deletion.soft_delete_flush'::regproc);
  WITH taken AS (
    DELETE FROM deletion.soft_delete_requests
     WHERE xact_id = pg_current_xact_id() AND table_oid = TG_RELID
    RETURNING row_key, deleted_by, soft_delete_requests.reason
  )
  SELECT jsonb_agg(DISTINCT row_key), min(deleted_by), min(taken.reason) INTO root_keys, actor, reason FROM taken;
  IF NOT EXISTS (SELECT 1 FROM deletion.soft_delete_requests WHERE xact_id = pg_current_xact_id()) THEN
    PERFORM set_config('deletion.soft_delete_pending', '', true);
  END IF;
  IF root_keys IS NOT NULL THEN
    op := deletion.soft_delete_rows(TG_RELID, root_keys, actor, reason);
    IF op IS NOT NULL THEN
      PERFORM set_config('deletion.soft_delete_op', op::text, true);
    END IF;
  END IF;
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

REVOKE EXECUTE ON FUNCTION deletion.soft_delete_rows(regclass, jsonb, text, text, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION deletion.soft_delete(regclass, text, text) TO deletion_app, deletion_admin;

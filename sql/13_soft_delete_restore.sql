-- Soft delete, part 4: restore. An operation comes back exactly: the rows stamped with its id and no
-- others (a comment deleted on its own before its issue stays deleted when the issue comes back).
-- Before anything changes, restore looks for what would make the result wrong, and refuses the whole
-- operation with one error that lists every conflict (PD110):
--   * a restored row whose parent, through an ON DELETE CASCADE foreign key between soft-delete
--     tables, is still deleted (by another operation): it would come back under a deleted parent;
--   * a restored row whose unique key (a partial unique index ... WHERE deleted_at IS NULL) is now
--     held by an active row.
-- Restore is for deletion_admin (EXECUTE is granted to it alone) and runs as the engine's owner, who
-- sees the deleted rows row-level security hides from everyone else.

-- The tables an operation marked rows in, from its log row.
CREATE OR REPLACE FUNCTION deletion.soft_delete_operation_tables(op uuid)
RETURNS SETOF regclass
LANGUAGE plpgsql
STABLE
ROWS 5
SET search_path = pg_catalog
AS $$
BEGIN
  RETURN QUERY
  SELECT to_regclass(t)
    FROM deletion.soft_delete_operations o, jsonb_object_keys(o.rows_per_table) AS t
   WHERE o.op = soft_delete_operation_tables.op AND to_regclass(t) IS NOT NULL;
END
$$;
COMMENT ON FUNCTION deletion.soft_delete_operation_tables(uuid) IS 'The existing tables a soft-delete operation marked rows in.';

-- Rows of the operation whose cascade parent stays deleted: one line per conflict (at most 20 per
-- foreign key, then a count). Each row of the operation looks its parent up by key alone (a LATERAL
-- subquery behind OFFSET 0, which the planner keeps as a lookup a row, by the parent's key): right
-- after a big soft delete the statistics still say that no row has an operation id and hardly any is
-- deleted, and a plain join, planned for one row of the operation and LIMIT 20, read every deleted
-- parent once a row of the operation (over 10 minutes for a workspace of 80,000 rows, where no row
-- had a conflict).
CREATE OR REPLACE FUNCTION deletion.restore_parent_conflicts(op uuid)
RETURNS SETOF text
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  edge record;
  line text;
  total bigint;
BEGIN
  FOR edge IN
    SELECT e.* FROM deletion.soft_delete_cascade_edges() e
     WHERE e.child IN (SELECT deletion.soft_delete_operation_tables(op))
  LOOP
    FOR line, total IN EXECUTE format($q$
        SELECT format('%%s row %%s: its parent %%s row %%s is still deleted (operation %%s)',
                      %1$L, deletion.key_of(%1$L::regclass, to_jsonb(c)), %2$L, deletion.key_of(%2$L::regclass, to_jsonb(p)), p.deletion_op),
               count(*) OVER ()
          FROM %1$s AS c
         CROSS JOIN LATERAL (SELECT p.* FROM %2$s AS p WHERE %3$s OFFSET 0) AS p
         WHERE c.deletion_op = $1 AND p.deleted_at IS NOT NULL AND p.deletion_op IS DISTINCT FROM $1
         LIMIT 20$q$, edge.child, edge.parent, deletion.columns_equal('c', edge.child_columns, 'p', edge.parent_columns))
      USING op
    LOOP
      RETURN NEXT line;
    END LOOP;
    IF total > 20 THEN
      RETURN NEXT format('... and %s more rows of %s under deleted parents in %s', total - 20, edge.child, edge.parent);
    END IF;
  END LOOP;
END
$$;
COMMENT ON FUNCTION deletion.restore_parent_conflicts(uuid) IS 'Rows of a soft-delete operation whose ON DELETE CASCADE parent is deleted by another operation.';

-- Rows of the operation whose active-only unique key is now held by an active row.
CREATE OR REPLACE FUNCTION deletion.restore_unique_conflicts(op uuid)
RETURNS SETOF text
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  u record;
  line text;
BEGIN
  FOR u IN
    SELECT i.indrelid::regclass AS target, ic.relname AS index_name,
           ARRAY(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                   JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                  WHERE k.ord <= i.indnkeyatts ORDER BY k.ord) AS key_columns
      FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
     WHERE i.indrelid IN (SELECT deletion.soft_delete_operation_tables(op))
       AND i.indisunique AND NOT i.indisprimary
       AND pg_get_expr(i.indpred, i.indrelid) ~ '\mdeleted_at IS NULL\M'
       AND NOT (0 = ANY (i.indkey::int2[]))  -- expression indexes: the index itself reports them
  LOOP
    FOR line IN EXECUTE format($q$
        SELECT format('%%s row %%s: %%s (%%s) = (%%s) is now held by active row %%s',
                      %1$L, deletion.key_of(%1$L::regclass, to_jsonb(d)), %2$L, %3$L, concat_ws(', ', %4$s),
                      deletion.key_of(%1$L::regclass, to_jsonb(a)))
          FROM %1$s AS d JOIN %1$s AS a ON %5$s AND a.deleted_at IS NULL
         WHERE d.deletion_op = $1
         LIMIT 20$q$, u.target, u.index_name, array_to_string(u.key_columns, ', '),
         deletion.column_list('d', u.key_columns), deletion.columns_equal('d', u.key_columns, 'a', u.key_columns))
      USING op
    LOOP
      RETURN NEXT line;
    END LOOP;
  END LOOP;
END
$$;
COMMENT ON FUNCTION deletion.restore_unique_conflicts(uuid) IS 'Rows of a soft-delete operation whose unique key among active rows is now taken.';

-- Restores the rows of one operation in one table whose unique values stepped aside: their deletion
-- columns are cleared and the kept originals put back in one statement; returns how many. A value
-- now held by an active row fails with the unique violation, which deletion.restore turns into its
-- list of conflicts.
CREATE OR REPLACE FUNCTION deletion.restore_kept_values(target regclass, op uuid)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  key_columns name[] := ARRAY(SELECT column_name FROM deletion.primary_key_columns(target));
  kept_columns name[];
  n bigint;
BEGIN
  kept_columns := ARRAY(SELECT DISTINCT jsonb_object_keys(kv.kept) FROM deletion.soft_delete_kept_values kv
                         WHERE kv.op = restore_kept_values.op AND kv.table_name = target::text);
  IF cardinality(kept_columns) = 0 THEN
    RETURN 0;
  END IF;
  EXECUTE format('UPDATE %1$s AS t SET deleted_at = NULL, deleted_by = NULL, deletion_reason = NULL, deletion_op = NULL, %2$s '
                 'FROM deletion.soft_delete_kept_values kv, jsonb_populate_record(NULL::%1$s, kv.row_key || kv.kept) AS r '
                 'WHERE kv.op = $1 AND kv.table_name = $2 AND t.deletion_op = $1 AND %3$s',
                 target, (SELECT string_agg(format('%1$I = r.%1$I', c), ', ') FROM unnest(kept_columns) c),
                 deletion.columns_equal('t', key_columns, 'r', key_columns))
    USING op, target::text;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;
COMMENT ON FUNCTION deletion.restore_kept_values(regclass, uuid) IS 'Restores the rows of an operation whose unique values stepped aside, putting the originals back; internal, called by deletion.restore.';

-- Rows of the operation whose stepped-aside unique value (kept for restore) is now held by an active
-- row: the plain UNIQUE constraint would refuse to put it back.
CREATE OR REPLACE FUNCTION deletion.restore_kept_conflicts(op uuid)
RETURNS SETOF text
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  u record;
  line text;
BEGIN
  IF to_regclass('deletion.soft_delete_kept_values') IS NULL THEN
    RETURN;
  END IF;
  FOR u IN
    SELECT c.oid::regclass AS target, sa.index_name,
           ARRAY(SELECT a.attname FROM pg_index i, unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                   JOIN pg_attribute a ON a.attnum = k.attnum
                  WHERE i.indexrelid = to_regclass(format('%I.%I', sa.table_schema, sa.index_name))
                    AND a.attrelid = i.indrelid AND k.ord <= i.indnkeyatts ORDER BY k.ord) AS key_columns
      FROM deletion.soft_delete_step_aside sa
      JOIN pg_namespace n ON n.nspname = sa.table_schema
      JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = sa.table_name
     WHERE c.oid IN (SELECT deletion.soft_delete_operation_tables(op))
  LOOP
    FOR line IN EXECUTE format($q$
        SELECT format('%%s row %%s: %%s (%%s) = (%%s) is now held by active row %%s',
                      %1$L, deletion.key_of(%1$L::regclass, kv.row_key), %2$L, %3$L, concat_ws(', ', %4$s),
                      deletion.key_of(%1$L::regclass, to_jsonb(a)))
          FROM deletion.soft_delete_kept_values kv
          JOIN %1$s AS d ON d.deletion_op = kv.op
          CROSS JOIN LATERAL jsonb_populate_record(d, kv.kept) AS r
          JOIN %1$s AS a ON %5$s AND a.deleted_at IS NULL
         WHERE kv.op = $1 AND kv.table_name = %1$L AND to_jsonb(d) @> kv.row_key
         LIMIT 20$q$, u.target, u.index_name, array_to_string(u.key_columns, ', '),
         deletion.column_list('r', u.key_columns), deletion.columns_equal('r', u.key_columns, 'a', u.key_columns))
      USING op
    LOOP
      RETURN NEXT line;
    END LOOP;
  END LOOP;
END
$$;
COMMENT ON FUNCTION deletion.restore_kept_conflicts(uuid) IS 'Rows of a soft-delete operation whose stepped-aside unique value is now held by an active row.';

-- Everything that stops an operation from being restored now (empty: it can be).
-- (An archived operation's: sql/17_soft_delete_archive.sql.)
CREATE OR REPLACE FUNCTION deletion.restore_conflicts(op uuid)
RETURNS SETOF text
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
BEGIN
  IF to_regprocedure('deletion.is_archived_operation(uuid)') IS NOT NULL AND deletion.is_archived_operation(op) THEN
    RETURN QUERY SELECT deletion.archive_restore_conflicts(op);
    RETURN;
  END IF;
  RETURN QUERY
  SELECT deletion.restore_parent_conflicts(op)
  UNION ALL
  SELECT deletion.restore_unique_conflicts(op)
  UNION ALL
  SELECT deletion.restore_kept_conflicts(op);
END
$$;
COMMENT ON FUNCTION deletion.restore_conflicts(uuid) IS 'Why a soft-delete operation cannot be restored now: one line per conflict (none: it can).';

-- Restores exactly the rows of one operation, all or nothing; returns how many rows came back.
-- Errors: P0002 unknown operation; 55000 already restored or purged; PD110 conflicts (listed).
-- parents_checked: the caller has just checked the operation's parents (the restoring UPDATE's row
-- trigger runs deletion.restore_conflicts before its statement trigger gets here), so they are not
-- read again; a statement's own restores can only bring parents back, never take them away.
CREATE OR REPLACE FUNCTION deletion.restore_operation(op uuid, parents_checked boolean)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  operation record;
  conflicts text[];
  target regclass;
  restored bigint := 0;
  n bigint;
BEGIN
  SELECT * INTO operation FROM deletion.soft_delete_operations o WHERE o.op = restore_operation.op FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no soft-delete operation %', op
      USING ERRCODE = 'P0002', HINT = 'deletion.vw_trash lists the operations that can be restored';
  END IF;
  PERFORM deletion.refuse_erased_operation(op);  -- PD605 when an erasure emptied it (sql/60_erasure.sql)
  IF operation.restored_at IS NOT NULL OR operation.purged_at IS NOT NULL THEN
    RAISE EXCEPTION 'soft-delete operation % was already %', op,
                    CASE WHEN operation.restored_at IS NOT NULL THEN format('restored at %s', operation.restored_at)
                         ELSE format('purged at %s', operation.purged_at) END
      USING ERRCODE = '55000';
  END IF;
  -- An archived operation's rows are in the audit log (sql/17_soft_delete_archive.sql).
  IF to_jsonb(operation) ->> 'archive_txid' IS NOT NULL THEN
    RETURN deletion.restore_archived(op);
  END IF;

  conflicts := CASE WHEN parents_checked THEN '{}' ELSE ARRAY(SELECT c FROM deletion.restore_parent_conflicts(op) AS c ORDER BY 1) END;
  IF cardinality(conflicts) = 0 THEN
    BEGIN
      FOR target IN SELECT deletion.soft_delete_operation_tables(op) LOOP
        -- Rows whose unique values stepped aside get their originals back, in the same statement.
        IF to_regclass('deletion.soft_delete_kept_values') IS NOT NULL THEN
          n := deletion.restore_kept_values(target, op);
          restored := restored + n;
        END IF;
        EXECUTE format('UPDATE %s SET deleted_at = NULL, deleted_by = NULL, deletion_reason = NULL, deletion_op = NULL '
                       'WHERE deletion_op = $1', target)
          USING op;
        GET DIAGNOSTICS n = ROW_COUNT;
        restored := restored + n;
      END LOOP;
      IF to_regclass('deletion.soft_delete_kept_values') IS NOT NULL THEN
        DELETE FROM deletion.soft_delete_kept_values kv WHERE kv.op = restore_operation.op;
      END IF;
    EXCEPTION WHEN unique_violation THEN
      -- Rolled back to before the first UPDATE; now name every conflict, not only the first one.
      conflicts := ARRAY(SELECT c FROM deletion.restore_conflicts(op) AS c ORDER BY 1);
      IF cardinality(conflicts) = 0 THEN
        conflicts := ARRAY[SQLERRM];
      END IF;
    END;
  END IF;
  IF cardinality(conflicts) > 0 THEN
    RAISE EXCEPTION 'soft-delete operation % cannot be restored: %', op, array_to_string(conflicts, '; ')
      USING ERRCODE = 'PD110',
            HINT = 'restore the deleted parents first, or free the unique keys held by active rows; nothing was restored';
  END IF;

  UPDATE deletion.soft_delete_operations o
     SET restored_at = now(), restored_by = deletion.current_actor()
   WHERE o.op = restore_operation.op;
  RETURN restored;
END
$$;
COMMENT ON FUNCTION deletion.restore_operation(uuid, boolean) IS 'deletion.restore(op), its parents'' check left out when the caller has just made it; internal.';

-- Restores exactly the rows of one operation, all or nothing, after checking for deleted parents
-- and taken unique keys; returns how many rows came back.
CREATE OR REPLACE FUNCTION deletion.restore(op uuid)
RETURNS bigint
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
  SELECT deletion.restore_operation(op, false)
$$;
COMMENT ON FUNCTION deletion.restore(uuid) IS 'Restores exactly the rows of one soft-delete operation, all or nothing, after checking for deleted parents and taken unique keys (PD110 lists each).';

-- Restores the operation that deleted the given row (the whole operation, so a child comes back with
-- its parent's cascade, never alone). Errors: P0002 no such row; 55000 the row is not deleted.
CREATE OR REPLACE FUNCTION deletion.restore(target regclass, pk text)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  found_row boolean;
  deleted timestamptz;
  op uuid;
BEGIN
  PERFORM deletion.require_soft_delete_table(target);
  EXECUTE format('SELECT true, deleted_at, deletion_op FROM %s WHERE %s', target, deletion.key_predicate(target, pk))
    INTO found_row, deleted, op;
  IF found_row IS NULL THEN
    PERFORM deletion.refuse_erased_row(target, pk);  -- PD605 when an erasure deleted it (sql/60_erasure.sql)
    RAISE EXCEPTION 'no row of % has the key %', target, pk USING ERRCODE = 'P0002';
  END IF;
  IF deleted IS NULL THEN
    RAISE EXCEPTION 'row % of % is not deleted', pk, target USING ERRCODE = '55000';
  END IF;
  IF op IS NULL THEN
    RAISE EXCEPTION 'row % of % was marked deleted outside the engine (no operation id)', pk, target
      USING ERRCODE = '55000', HINT = 'clear its deleted_at by hand, as its owner';
  END IF;
  RETURN deletion.restore(op);
END
$$;
COMMENT ON FUNCTION deletion.restore(regclass, text) IS 'Restores the whole soft-delete operation that deleted the given row.';

-- Row trigger, BEFORE UPDATE OF deleted_at, when a role that may see deleted rows clears deleted_at
-- (deletion_restorer: UPDATE t SET deleted_at = NULL WHERE id = ...): the row comes back with its
-- deletion columns cleared, so the UPDATE reports it, and the statement trigger brings back the rest
-- of its operation (a row never comes back without its cascade). The operation is checked first, as
-- deletion.restore checks it: PD110 lists every conflict and nothing changes. A row marked deleted
-- outside the engine (no operation id) just comes back.
CREATE OR REPLACE FUNCTION deletion.restore_on_update()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  restoring uuid := OLD.deletion_op;
  operation record;
  conflicts text[];
BEGIN
  PERFORM deletion.require_engine_trigger(TG_RELID, TG_NAME, 'deletion.restore_on_update'::regproc);
  IF restoring IS NOT NULL AND NOT EXISTS (SELECT FROM deletion.soft_delete_restore_requests r
                                     WHERE r.xact_id = pg_current_xact_id() AND r.op = restoring) THEN
    SELECT * INTO operation FROM deletion.soft_delete_operations o WHERE o.op = restoring FOR UPDATE;
    IF FOUND AND operation.restored_at IS NULL AND operation.purged_at IS NULL THEN
      conflicts := ARRAY(SELECT c FROM deletion.restore_conflicts(restoring) AS c ORDER BY 1);
      IF cardinality(conflicts) > 0 THEN
        RAISE EXCEPTION 'soft-delete operation % cannot be restored: %', restoring, array_to_string(conflicts, '; ')
          USING ERRCODE = 'PD110',
                HINT = 'restore the deleted parents first, or free the unique keys held by active rows; nothing was restored';
      END IF;
      INSERT INTO deletion.soft_delete_restore_requests (xact_id, op) VALUES (pg_current_xact_id(), restoring);
      PERFORM set_config('deletion.soft_delete_pending', 'on', true);
    END IF;
  END IF;
  IF restoring IS NOT NULL AND to_regclass('deletion.soft_delete_kept_values') IS NOT NULL THEN
    -- The row's stepped-aside unique values come back (checked above).
    NEW := jsonb_populate_record(NEW, coalesce((SELECT kv.kept FROM deletion.soft_delete_kept_values kv
                                                 WHERE kv.op = restoring AND kv.table_name = TG_RELID::regclass::text
                                                   AND to_jsonb(OLD) @> kv.row_key), '{}'));
  END IF;
  NEW.deleted_by := NULL;
  NEW.deletion_reason := NULL;
  NEW.deletion_op := NULL;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION deletion.restore_on_update() IS 'BEFORE UPDATE row trigger (deletion_20_restore_update): UPDATE ... SET deleted_at = NULL by a role that sees deleted rows restores the row and, at the end of the statement, the rest of its operation.';

-- The statement half: restores the rest of each operation the statement's rows asked for. Called by
-- the soft-delete statement trigger.
CREATE OR REPLACE FUNCTION deletion.restore_requested()
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  op uuid;
BEGIN
  IF to_regclass('deletion.soft_delete_restore_requests') IS NULL THEN
    RETURN;
  END IF;
  FOR op IN
    DELETE FROM deletion.soft_delete_restore_requests r WHERE r.xact_id = pg_current_xact_id() RETURNING r.op
  LOOP
    PERFORM deletion.restore_operation(op, true);  -- its conflicts were checked by deletion.restore_on_update
  END LOOP;
END
$$;
COMMENT ON FUNCTION deletion.restore_requested() IS 'Restores the rest of the operations whose rows the current statement restored by UPDATE; internal.';

REVOKE EXECUTE ON FUNCTION deletion.restore(uuid), deletion.restore(regclass, text), deletion.restore_conflicts(uuid),
                           deletion.restore_parent_conflicts(uuid), deletion.restore_unique_conflicts(uuid)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION deletion.restore(uuid), deletion.restore(regclass, text), deletion.restore_conflicts(uuid),
                          deletion.restore_parent_conflicts(uuid), deletion.restore_unique_conflicts(uuid)
  TO deletion_admin;
-- The role an application switches to for restoring (migration 0090; absent below it).
DO $grant$
BEGIN
  IF to_regrole('deletion_restorer') IS NOT NULL THEN
    GRANT EXECUTE ON FUNCTION deletion.restore(uuid), deletion.restore(regclass, text), deletion.restore_conflicts(uuid)
      TO deletion_restorer;
  END IF;
END
$grant$;
REVOKE EXECUTE ON FUNCTION deletion.restore_on_update(), deletion.restore_requested(), deletion.restore_kept_values(regclass, uuid),
                           deletion.restore_kept_conflicts(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION deletion.restore_kept_conflicts(uuid) TO deletion_admin;

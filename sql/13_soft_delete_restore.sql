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
-- foreign key, then a count).
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
          FROM %1$s AS c JOIN %2$s AS p ON %3$s
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

-- Everything that stops an operation from being restored now (empty: it can be).
CREATE OR REPLACE FUNCTION deletion.restore_conflicts(op uuid)
RETURNS SETOF text
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
  SELECT deletion.restore_parent_conflicts(op)
  UNION ALL
  SELECT deletion.restore_unique_conflicts(op)
$$;
COMMENT ON FUNCTION deletion.restore_conflicts(uuid) IS 'Why a soft-delete operation cannot be restored now: one line per conflict (none: it can).';

-- Restores exactly the rows of one operation, all or nothing; returns how many rows came back.
-- Errors: P0002 unknown operation; 55000 already restored or purged; PD110 conflicts (listed).
CREATE OR REPLACE FUNCTION deletion.restore(op uuid)
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
  SELECT * INTO operation FROM deletion.soft_delete_operations o WHERE o.op = restore.op FOR UPDATE;
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

  conflicts := ARRAY(SELECT c FROM deletion.restore_parent_conflicts(op) AS c ORDER BY 1);
  IF cardinality(conflicts) = 0 THEN
    BEGIN
      FOR target IN SELECT deletion.soft_delete_operation_tables(op) LOOP
        EXECUTE format('UPDATE %s SET deleted_at = NULL, deleted_by = NULL, deletion_reason = NULL, deletion_op = NULL '
                       'WHERE deletion_op = $1', target)
          USING op;
        GET DIAGNOSTICS n = ROW_COUNT;
        restored := restored + n;
      END LOOP;
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
   WHERE o.op = restore.op;
  RETURN restored;
END
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

REVOKE EXECUTE ON FUNCTION deletion.restore(uuid), deletion.restore(regclass, text), deletion.restore_conflicts(uuid),
                           deletion.restore_parent_conflicts(uuid), deletion.restore_unique_conflicts(uuid)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION deletion.restore(uuid), deletion.restore(regclass, text), deletion.restore_conflicts(uuid),
                          deletion.restore_parent_conflicts(uuid), deletion.restore_unique_conflicts(uuid)
  TO deletion_admin;

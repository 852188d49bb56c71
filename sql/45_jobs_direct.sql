-- Deletion jobs, part 6: a direct chunked delete, for code that drives a deletion itself (the loop
-- `while work: work = task.chunk()`): one row's cascade tree deleted in bounded chunks, with no job
-- row, no plan tables and no worker. Each call is one chunk in the caller's transaction: it deletes
-- at most max_rows rows, always rows that nothing in the tree still references through a cascade
-- (leaves first), so no chunk's DELETE cascades further than its own rows, and the last call
-- deletes the root. The caller keeps the loop, and stops or resumes it whenever it likes: every
-- chunk finds where the tree stands now, so there is no state to lose.
--
-- How a chunk finds its leaves: from the root down, along the ON DELETE CASCADE foreign keys, it
-- takes at most max_rows rows of the first child table that still has rows referencing the current
-- rows, and descends into them, until a set of rows has no child left; those it deletes, by ctid
-- (a TID scan), in one DELETE. The walk re-reads the tree on every call: a direct delete pays
-- that for holding no state (a deletion job plans its tree once, sql/40_jobs_plan.sql, and is the
-- way for big trees).
--
-- The same guarantees as a job's chunks, by the same means: each chunk is a DELETE the database
-- checks as any other (the caller's privileges and row-level security, the protection triggers,
-- RESTRICT keys from outside the tree), the audit log records it, the file queue takes its files,
-- and its size is bounded. Unlike a job's chunk it runs as the CALLER (SECURITY INVOKER): nothing
-- here widens what the caller may delete. It is a hard delete: on a tree with soft-delete tables it
-- is for deletion_admin (whose deletion.mode = 'hard' the soft-delete triggers honour); anyone else
-- soft-deletes such a row in one operation (deletion.soft_delete) instead.

-- One chunk of the direct delete of (target, pk) and its cascade tree. Returns
-- {deleted, more, table, depth}: the rows this call deleted, whether anything is left (false once
-- the root is gone, or when there was no such row), the table they were deleted from and its
-- depth below the root. Errors: PD408 a soft-delete table in the tree and the caller is not
-- deletion_admin; 22023 max_rows below 1; the key errors of deletion.key_predicate; any error the
-- DELETE itself raises (23001 / 23503 a RESTRICT / NO ACTION key, PD3xx protection, 42501 privileges).
CREATE OR REPLACE FUNCTION deletion.delete_tree_chunk(target regclass, pk text, max_rows integer DEFAULT 1000)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  current_table regclass := target;
  current_rows tid[];
  child_rows tid[];
  fk record;
  depth integer := 0;
  descended boolean;
  n bigint;
BEGIN
  IF max_rows IS NULL OR max_rows < 1 THEN
    RAISE EXCEPTION 'max_rows must be at least 1, not %', max_rows USING ERRCODE = '22023';
  END IF;
  -- The tables of the tree: the root's and every table a cascade reaches (read from the catalog as
  -- the caller; deletion.cascade_tables is the engine's own).
  IF NOT deletion.is_admin() AND EXISTS (
       WITH RECURSIVE tree (relid) AS (
         SELECT target::oid
         UNION
         SELECT con.conrelid FROM tree t JOIN pg_constraint con ON con.confrelid = t.relid AND con.contype = 'f' AND con.confdeltype = 'c'
       )
       SELECT FROM tree t JOIN pg_class c ON c.oid = t.relid
         JOIN deletion.table_policies p ON p.table_schema = c.relnamespace::regnamespace::name AND p.table_name = c.relname
        WHERE coalesce((to_jsonb(p) ->> 'soft_delete')::boolean, false)) THEN
    RAISE EXCEPTION 'a direct delete of % % is a hard delete, and its tree has soft-delete tables', target, pk
      USING ERRCODE = 'PD408',
            HINT = format('soft-delete it in one operation with SELECT deletion.soft_delete(%L, %L), or run the direct delete as deletion_admin', target, pk);
  END IF;
  -- The admin's DELETE on a soft-delete table is then a hard one (sql/12_soft_delete.sql).
  PERFORM set_config('deletion.mode', 'hard', true);

  EXECUTE format('SELECT array_agg(ctid) FROM %s WHERE %s', target, deletion.key_predicate(target, pk)) INTO current_rows;
  IF current_rows IS NULL THEN
    RETURN jsonb_build_object('deleted', 0, 'more', false, 'table', target::text, 'depth', 0);
  END IF;

  LOOP
    descended := false;
    FOR fk IN
      SELECT con.conrelid::regclass AS child,
             (SELECT string_agg(format('c.%I', a.attname), ', ' ORDER BY k.n) FROM unnest(con.conkey) WITH ORDINALITY k(attnum, n)
                JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum) AS child_columns,
             (SELECT string_agg(format('p.%I', a.attname), ', ' ORDER BY k.n) FROM unnest(con.confkey) WITH ORDINALITY k(attnum, n)
                JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum) AS parent_columns
        FROM pg_constraint con
       WHERE con.contype = 'f' AND con.conparentid = 0 AND con.confrelid = current_table AND con.confdeltype = 'c'
       ORDER BY con.conrelid::regclass::text, con.conname
    LOOP
      -- A row of the current set referencing itself (a self-referencing key) is not its own child.
      EXECUTE format('SELECT array_agg(x.ctid) FROM (SELECT c.ctid FROM %s c WHERE (%s) IN (SELECT %s FROM %s p WHERE p.ctid = ANY ($1))'
                     ' AND NOT (%s = %s AND c.ctid = ANY ($1)) LIMIT $2) x',
                     fk.child, fk.child_columns, fk.parent_columns, current_table, fk.child::oid, current_table::oid)
        INTO child_rows USING current_rows, max_rows;
      IF child_rows IS NOT NULL THEN
        current_table := fk.child;
        current_rows := child_rows;
        depth := depth + 1;
        descended := true;
        EXIT;
      END IF;
    END LOOP;
    EXIT WHEN NOT descended;
    IF depth > 1000 THEN
      RAISE EXCEPTION 'the cascade tree of % % is deeper than 1000 levels (a cycle of cascading keys?)', target, pk USING ERRCODE = '54001';
    END IF;
  END LOOP;

  EXECUTE format('DELETE FROM %s WHERE ctid = ANY ($1)', current_table) USING current_rows;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN jsonb_build_object('deleted', n, 'more', depth > 0, 'table', current_table::text, 'depth', depth);
END
$$;
COMMENT ON FUNCTION deletion.delete_tree_chunk(regclass, text, integer) IS 'One bounded chunk (at most max_rows rows, leaves first) of the direct hard delete of a row and its cascade tree, as the caller, with no job row; {deleted, more, table, depth}: call again while more.';

GRANT EXECUTE ON FUNCTION deletion.delete_tree_chunk(regclass, text, integer) TO deletion_app, deletion_admin;

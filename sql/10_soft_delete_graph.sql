-- Soft delete, part 1: which tables are soft-delete tables, and how a soft delete travels between them.
-- Everything here is read from the catalog and the registry, so it works on any schema: uuid keys,
-- composite keys, self-references. A soft delete follows exactly the foreign keys a hard delete would
-- cascade along (ON DELETE CASCADE), and only into tables that are soft-delete tables themselves:
-- a row in a hard-delete table keeps pointing at its soft-deleted parent, which still exists.

-- The soft-delete tables that exist: registered with soft_delete = true.
-- (Functions that read the soft-delete registry columns are PL/pgSQL, whose bodies are resolved when
-- called: `migrate down` past 0010 rebuilds the engine on a registry without those columns, and the
-- module must still load there.)
CREATE OR REPLACE FUNCTION deletion.soft_delete_tables()
RETURNS SETOF regclass
LANGUAGE plpgsql
STABLE
ROWS 20
SET search_path = pg_catalog
AS $$
BEGIN
  RETURN QUERY
  SELECT c.oid::regclass
    FROM deletion.table_policies tp
    JOIN pg_namespace n ON n.nspname = tp.table_schema
    JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = tp.table_name
   WHERE tp.soft_delete
   ORDER BY tp.table_schema, tp.table_name;
END
$$;
COMMENT ON FUNCTION deletion.soft_delete_tables() IS 'The existing tables whose registry row says soft_delete.';

-- Refuses, with a message that says what to do, a table that is not a soft-delete table (PD101).
CREATE OR REPLACE FUNCTION deletion.require_soft_delete_table(target regclass)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
BEGIN
  IF NOT coalesce((deletion.policy_of(target)).soft_delete, false) THEN
    RAISE EXCEPTION 'table % does not use soft delete', target
      USING ERRCODE = 'PD101', HINT = format('turn it on with SELECT deletion.enable_soft_delete(%L)', target::text);
  END IF;
END
$$;
COMMENT ON FUNCTION deletion.require_soft_delete_table(regclass) IS 'Raises PD101 unless the table is a soft-delete table.';

-- Every ON DELETE CASCADE foreign key between two soft-delete tables, with its columns in key order:
-- the edges a soft delete walks (a self-reference is an edge from a table to itself). A key declared
-- on a partitioned table is one edge (its copies on the partitions are left out); a key declared on
-- one partition of a soft-delete table alone is an edge into that partition, whose rows are the only
-- ones a hard delete would cascade to.
-- The functions it joins (soft_delete_tables, partitions_of) declare a few rows (ROWS): at
-- PostgreSQL's default of 1,000 a call, the join of the two was estimated at a million rows and every
-- statement of a soft delete built a 2 MB hash table for five.
CREATE OR REPLACE FUNCTION deletion.soft_delete_cascade_edges()
RETURNS TABLE (parent regclass, child regclass, constraint_name name, parent_columns name[], child_columns name[])
LANGUAGE sql
STABLE
ROWS 20
SET search_path = pg_catalog
AS $$
  WITH soft AS (SELECT t AS oid FROM deletion.soft_delete_tables() t),
  soft_or_partition AS (SELECT oid FROM soft UNION SELECT p FROM soft s, deletion.partitions_of(s.oid::regclass) p)
  SELECT con.confrelid::regclass, con.conrelid::regclass, con.conname,
         ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
                 JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.ord),
         ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
                 JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord)
    FROM pg_constraint con
   WHERE con.contype = 'f'
     AND con.confdeltype = 'c'
     AND con.conparentid = 0
     AND con.confrelid IN (SELECT oid FROM soft)
     AND con.conrelid IN (SELECT oid FROM soft_or_partition)
$$;
COMMENT ON FUNCTION deletion.soft_delete_cascade_edges() IS 'The ON DELETE CASCADE foreign keys between soft-delete tables: the paths a soft delete (and a restore check) follows.';

-- The order in which a soft delete starting at `root` visits the edges: every edge into a table comes
-- after every edge into any of that table's parents (longest-path depth from the root), and a table's
-- self-references come after its other parents. `in_cycle` is true when tables reach each other
-- through other tables, in which case the walk repeats until it marks nothing more.
CREATE OR REPLACE FUNCTION deletion.soft_delete_cascade_plan(root regclass)
RETURNS TABLE (step integer, parent regclass, child regclass, constraint_name name,
               parent_columns name[], child_columns name[], self_reference boolean, in_cycle boolean)
LANGUAGE sql
STABLE
ROWS 10
SET search_path = pg_catalog
AS $$
  WITH RECURSIVE edges AS (
    SELECT * FROM deletion.soft_delete_cascade_edges()
  ), reach (tbl, depth, path, cyclic) AS (
    SELECT root::oid, 0, ARRAY[root::oid], false
    UNION ALL
    SELECT e.child::oid, r.depth + 1, r.path || e.child::oid, e.child::oid = ANY (r.path)
      FROM reach r
      JOIN edges e ON e.parent::oid = r.tbl AND e.child <> e.parent
     WHERE NOT r.cyclic
  ), depth_of AS (
    SELECT tbl, max(depth) FILTER (WHERE NOT cyclic) AS depth, bool_or(cyclic) AS cyclic
      FROM reach GROUP BY tbl
  )
  SELECT (row_number() OVER (ORDER BY d.depth, e.child = e.parent, e.child::text, e.constraint_name))::integer,
         e.parent, e.child, e.constraint_name, e.parent_columns, e.child_columns, e.child = e.parent,
         (SELECT bool_or(cyclic) FROM depth_of)
    FROM edges e
    JOIN depth_of d ON d.tbl = e.child::oid
   WHERE e.parent::oid IN (SELECT tbl FROM depth_of)
   ORDER BY 1
$$;
COMMENT ON FUNCTION deletion.soft_delete_cascade_plan(regclass) IS 'The cascade edges a soft delete from the given table walks, in the order it walks them.';

-- "a.c1 = b.c1 AND a.c2 = b.c2" for two column lists: how generated statements join keys.
CREATE OR REPLACE FUNCTION deletion.columns_equal(left_alias text, left_columns name[], right_alias text, right_columns name[])
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
  SELECT string_agg(format('%I.%I = %I.%I', left_alias, l.col, right_alias, r.col), ' AND ' ORDER BY l.ord)
    FROM unnest(left_columns) WITH ORDINALITY AS l(col, ord)
    JOIN unnest(right_columns) WITH ORDINALITY AS r(col, ord) USING (ord)
$$;
COMMENT ON FUNCTION deletion.columns_equal(text, name[], text, name[]) IS 'A join condition equating two column lists pairwise, identifiers quoted.';

-- "alias.c1, alias.c2": a quoted column list.
CREATE OR REPLACE FUNCTION deletion.column_list(alias text, columns name[])
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
  SELECT string_agg(CASE WHEN alias IS NULL THEN format('%I', c) ELSE format('%I.%I', alias, c) END, ', ' ORDER BY ord)
    FROM unnest(columns) WITH ORDINALITY AS x(c, ord)
$$;
COMMENT ON FUNCTION deletion.column_list(text, name[]) IS 'A comma-separated, quoted column list, optionally qualified by an alias.';

GRANT EXECUTE ON FUNCTION deletion.require_soft_delete_table(regclass)
  TO deletion_app, deletion_admin;

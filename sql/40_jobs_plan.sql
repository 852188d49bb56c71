-- Deletion jobs, part 1: the plan. A job deletes a row and everything that ON DELETE CASCADE would
-- take with it, leaves first, in short chunks. Finding those rows again for every chunk is what makes
-- the naive way 10-20x slower than one DELETE (docs/jobs.md), so a job finds its tree ONCE: for each
-- table of the tree, parents before children, one CREATE UNLOGGED TABLE ... AS SELECT stores the
-- primary keys of that table's rows in the tree (deletion_work.job_<id>_<step>), found by one scan of
-- the table against its parents' plan tables. Chunks then walk the plan from the last step back
-- (children before parents), each step's plan table from its last page down (a TID range scan, no
-- index needed), and delete by primary key.
--
-- The plan is an optimisation, never the source of truth: a row added to the tree after the plan was
-- made is removed by the cascade when its planned parent is deleted, and the final DELETE of the
-- root cascades over anything left. A plan lost in a server crash is simply made again.

-- The cascade tree's tables: every table reachable from `root` through foreign keys whose action is
-- ON DELETE CASCADE, each with its level. The level is the length of the LONGEST path from the root
-- over every foreign key between tables of the tree (CASCADE, SET NULL and RESTRICT alike), so that
-- ordering by level puts a table after every tree table it references: the plan finds parents
-- before children, and the chunks, which work the plan backwards, delete a table's rows before the
-- rows they reference. That is what makes chunks cheap: no cascade finds anything left to delete,
-- and no SET NULL updates a row that is about to be deleted anyway. Self-references are left out
-- here (a table's own tree is walked when it is planned); cycles end where a path would revisit a table.
CREATE OR REPLACE FUNCTION deletion.cascade_tables(root regclass)
RETURNS TABLE (relid regclass, level integer)
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  WITH RECURSIVE fk_edge AS (
    SELECT con.confrelid AS parent, con.conrelid AS child, con.confdeltype = 'c' AS cascades
      FROM pg_constraint con
     WHERE con.contype = 'f' AND con.conparentid = 0 AND con.conrelid <> con.confrelid
  ), tree (relid) AS (
    SELECT root::oid
    UNION
    SELECT e.child FROM tree t JOIN fk_edge e ON e.parent = t.relid AND e.cascades
  ), walk (relid, level, path) AS (
    SELECT root::oid, 0, ARRAY[root::oid]
    UNION ALL
    SELECT e.child, w.level + 1, w.path || e.child
      FROM walk w
      JOIN fk_edge e ON e.parent = w.relid
     WHERE e.child <> ALL (w.path) AND e.child IN (SELECT t.relid FROM tree t)
  )
  SELECT walk.relid::regclass, max(walk.level)
    FROM walk
   GROUP BY walk.relid
   ORDER BY 2, 1
$$;
COMMENT ON FUNCTION deletion.cascade_tables(regclass) IS 'Tables that ON DELETE CASCADE reaches from a table, each with its longest path over all foreign keys within that tree: planning in this order puts referenced tables first, deleting in reverse puts referencing rows first.';

-- The cascade foreign keys of one table that point at tables of the same plan (or at itself), with
-- the columns on both sides, in key order.
CREATE OR REPLACE FUNCTION deletion.cascade_keys(child regclass)
RETURNS TABLE (constraint_name name, parent regclass, child_columns name[], parent_columns name[])
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT con.conname, con.confrelid::regclass,
         array(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(attnum, n)
                 JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.n),
         array(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(attnum, n)
                 JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.n)
    FROM pg_constraint con
   WHERE con.contype = 'f' AND con.confdeltype = 'c' AND con.conparentid = 0 AND con.conrelid = child
   ORDER BY con.conname
$$;
COMMENT ON FUNCTION deletion.cascade_keys(regclass) IS 'The ON DELETE CASCADE foreign keys of a table, with child and parent columns in key order.';

-- The primary-key column list of a table, each prefixed with an alias ('c.id' or 'c.org_id, c.id'),
-- or bare when alias is NULL.
CREATE OR REPLACE FUNCTION deletion.key_column_list(target regclass, alias text DEFAULT NULL)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT string_agg(CASE WHEN alias IS NULL THEN quote_ident(k.column_name) ELSE format('%I.%I', alias, k.column_name) END, ', ')
    FROM deletion.primary_key_columns(target) k
$$;
COMMENT ON FUNCTION deletion.key_column_list(regclass, text) IS 'The primary-key columns of a table as an SQL column list, optionally alias-qualified.';

-- The plan table of one step of a job.
CREATE OR REPLACE FUNCTION deletion.plan_table(job_id bigint, step integer)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
  SELECT format('deletion_work.%I', 'job_' || job_id || '_' || step)
$$;
COMMENT ON FUNCTION deletion.plan_table(bigint, integer) IS 'Name of the unlogged table holding one step of a job''s plan: deletion_work.job_<id>_<step>.';

-- Drops every plan table of a job.
CREATE OR REPLACE FUNCTION deletion.drop_plan(job_id bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  plan_table text;
BEGIN
  FOR plan_table IN
    SELECT format('deletion_work.%I', c.relname) FROM pg_class c
     WHERE c.relnamespace = 'deletion_work'::regnamespace AND c.relname LIKE 'job\_' || job_id || '\_%' AND c.relkind = 'r'
  LOOP
    EXECUTE format('DROP TABLE IF EXISTS %s', plan_table);
  END LOOP;
END
$$;
COMMENT ON FUNCTION deletion.drop_plan(bigint) IS 'Drops the plan tables of a job.';

-- SQL text of a predicate on child rows (alias c) that holds when the row's foreign key points at a
-- row of `rows_sql`, a query returning the parent's primary key. When the key references the
-- parent's primary key, the child's columns are compared with the planned keys directly; otherwise
-- the parent table is looked up in between.
CREATE OR REPLACE FUNCTION deletion.fk_in_plan(child_columns name[], parent regclass, parent_columns name[], rows_sql text)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
  pk_columns name[] := array(SELECT k.column_name FROM deletion.primary_key_columns(parent) k);
  child_list text := (SELECT string_agg(format('c.%I', col), ', ' ORDER BY n) FROM unnest(child_columns) WITH ORDINALITY u(col, n));
  parent_list text := (SELECT string_agg(format('p.%I', col), ', ' ORDER BY n) FROM unnest(parent_columns) WITH ORDINALITY u(col, n));
BEGIN
  IF cardinality(pk_columns) = cardinality(parent_columns) AND pk_columns @> parent_columns AND parent_columns @> pk_columns THEN
    RETURN format('(%s) IN (SELECT %s FROM (%s) p)', child_list, parent_list, rows_sql);
  END IF;
  RETURN format('(%s) IN (SELECT %s FROM %s p WHERE (%s) IN (%s))', child_list, parent_list, parent,
                deletion.key_column_list(parent, 'p'), rows_sql);
END
$$;
COMMENT ON FUNCTION deletion.fk_in_plan(name[], regclass, name[], text) IS 'SQL text: the child row''s foreign key points at one of the parent rows given by a query of parent keys.';

-- Makes a job's plan and returns its steps, [{step, table, rows, pages}], in cascade order (parents
-- before children): step 0 is the root's own table (the root row itself is not in the plan; a
-- self-referencing root's descendants in its own table are), then every table the cascades reach.
-- Each step is one CREATE UNLOGGED TABLE ... AS SELECT of the table's primary keys whose rows point,
-- through any cascade foreign key, at the root or at a row planned in an earlier step: one scan of
-- the table with hashed lookups into its parents' plans. A self-referencing table is walked with a
-- recursive query, deepest rows stored last so that they are deleted first. A step that finds no
-- rows has no table. Returns NULL when the root row does not exist.
CREATE OR REPLACE FUNCTION deletion.make_plan(job_id bigint, root regclass, pk text)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  root_key text := deletion.key_predicate(root, pk, 'r');
  root_exists boolean;
  tbl record;
  fk record;
  step integer := -1;
  plan_table text;
  planned jsonb := '{}';     -- relid -> plan table of every step with rows
  sources text[];
  self_joins text[];
  key_list text;
  found_rows bigint;
  steps jsonb := '[]';
BEGIN
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s r WHERE %s)', root, root_key) INTO root_exists;
  IF NOT root_exists THEN
    RETURN NULL;
  END IF;
  PERFORM deletion.drop_plan(job_id);

  FOR tbl IN SELECT ct.relid FROM deletion.cascade_tables(root) ct ORDER BY ct.level, ct.relid::text LOOP
    step := step + 1;
    plan_table := deletion.plan_table(job_id, step);
    key_list := deletion.key_column_list(tbl.relid, 'c');
    sources := '{}';
    self_joins := '{}';
    FOR fk IN SELECT * FROM deletion.cascade_keys(tbl.relid) LOOP
      IF fk.parent = tbl.relid THEN
        self_joins := self_joins || (SELECT string_agg(format('c.%I = t.%I', cc, pc), ' AND ')
                                       FROM unnest(fk.child_columns, fk.parent_columns) u(cc, pc));
      END IF;
      IF fk.parent = root AND tbl.relid <> root THEN
        sources := sources || deletion.fk_in_plan(fk.child_columns, fk.parent, fk.parent_columns,
                                                  format('SELECT %s FROM %s r WHERE %s', deletion.key_column_list(root, 'r'), root, root_key));
      END IF;
      IF planned ? fk.parent::oid::text AND (fk.parent <> tbl.relid) THEN
        sources := sources || deletion.fk_in_plan(fk.child_columns, fk.parent, fk.parent_columns,
                                                  format('SELECT * FROM %s', planned ->> fk.parent::oid::text));
      END IF;
    END LOOP;

    IF tbl.relid = root THEN
      sources := ARRAY[deletion.key_predicate(root, pk, 'c')];
      IF cardinality(self_joins) = 0 THEN
        CONTINUE;  -- the root alone: deleted by key in the root phase, nothing to plan
      END IF;
    END IF;
    CONTINUE WHEN cardinality(sources) = 0;

    IF cardinality(self_joins) = 0 THEN
      EXECUTE format('CREATE UNLOGGED TABLE %s AS SELECT %s FROM %s c WHERE %s',
                     plan_table, key_list, tbl.relid, array_to_string(sources, ' OR '));
    ELSE
      -- The table's own tree below the rows found above, level by level; a row reached twice (or a
      -- cycle in the data) is kept once, at its deepest level, and stored deepest last.
      EXECUTE format($f$CREATE UNLOGGED TABLE %1$s AS
                        WITH RECURSIVE tree AS (
                          SELECT c.*, 0 AS deletion_depth FROM %2$s c WHERE %3$s
                          UNION ALL
                          SELECT c.*, t.deletion_depth + 1 FROM %2$s c JOIN tree t ON (%4$s)
                        ) CYCLE %5$s SET deletion_cycle USING deletion_path
                        SELECT %6$s FROM tree c
                         WHERE NOT c.deletion_cycle %7$s
                         GROUP BY %6$s
                         ORDER BY max(c.deletion_depth)$f$,
                     plan_table, tbl.relid, array_to_string(sources, ' OR '), array_to_string(self_joins, ') OR ('),
                     deletion.key_column_list(tbl.relid), key_list,
                     CASE WHEN tbl.relid = root THEN format('AND NOT (%s)', deletion.key_predicate(root, pk, 'c')) ELSE '' END);
    END IF;
    GET DIAGNOSTICS found_rows = ROW_COUNT;
    IF found_rows = 0 THEN
      EXECUTE format('DROP TABLE %s', plan_table);
      CONTINUE;
    END IF;
    -- Statistics, so that the next steps hash-join against this plan instead of probing an index
    -- once per planned key (the planner cannot guess how many distinct keys a fresh table holds).
    EXECUTE format('ANALYZE %s', plan_table);
    planned := planned || jsonb_build_object(tbl.relid::oid::text, plan_table);
    steps := steps || jsonb_build_object(
      'step', step, 'table', tbl.relid::text, 'relid', tbl.relid::oid, 'rows', found_rows,
      'pages', greatest(1, pg_relation_size(plan_table::regclass) / current_setting('block_size')::bigint));
  END LOOP;
  RETURN steps;
END
$$;
COMMENT ON FUNCTION deletion.make_plan(bigint, regclass, text) IS 'Finds a job''s tree once: one unlogged table of primary keys per table the root''s cascades reach (deletion_work.job_<id>_<step>), parents before children; returns the steps with their row and page counts.';

-- Deletion jobs, part 1: the plan. A job deletes a row and everything that ON DELETE CASCADE would
-- take with it, leaves first, in short chunks. Finding those rows again for every chunk is what makes
-- the naive way 10-20x slower than one DELETE (docs/jobs.md), so a job finds its tree ONCE: the keys
-- of every descendant, table by table, parents before children, go into an unlogged table of its own
-- (deletion_work.job_<id>, one row per key, numbered by `seq`). Chunks then walk that table from the
-- highest seq down (children before parents) and delete by primary key.
--
-- The plan is an optimisation, never the source of truth: a row added to the tree after the plan was
-- made is removed by the cascade when its planned parent is deleted, and the final DELETE of the
-- root cascades over anything left. A plan lost in a server crash is simply made again.

-- The cascade graph below a table: every table reachable from `root` through foreign keys whose
-- action is ON DELETE CASCADE, with its level, the length of the LONGEST cascade path from the root.
-- Ordering by level puts every table after all of its cascade parents (a topological order), so a
-- table's rows are planned only once every parent's rows are. Self-references are left out here (a
-- table's own tree is walked level by level when it is planned); cycles through several tables end
-- where a path would revisit a table.
CREATE OR REPLACE FUNCTION deletion.cascade_tables(root regclass)
RETURNS TABLE (relid regclass, level integer)
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  WITH RECURSIVE cascade_edge AS (
    SELECT con.confrelid AS parent, con.conrelid AS child
      FROM pg_constraint con
     WHERE con.contype = 'f' AND con.confdeltype = 'c' AND con.conparentid = 0
       AND con.conrelid <> con.confrelid
  ), walk (relid, level, path) AS (
    SELECT root::oid, 0, ARRAY[root::oid]
    UNION ALL
    SELECT e.child, w.level + 1, w.path || e.child
      FROM walk w JOIN cascade_edge e ON e.parent = w.relid
     WHERE e.child <> ALL (w.path)
  )
  SELECT walk.relid::regclass, max(walk.level)
    FROM walk
   GROUP BY walk.relid
   ORDER BY 2, 1
$$;
COMMENT ON FUNCTION deletion.cascade_tables(regclass) IS 'Tables that ON DELETE CASCADE reaches from a table, each with its longest path length: planning them in this order puts parents before children.';

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

-- SQL text for a row's primary key as text[] (what the plan stores): ARRAY[t.a::text, t.b::text].
CREATE OR REPLACE FUNCTION deletion.plan_key_expr(target regclass, alias text)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT 'ARRAY[' || string_agg(format('%I.%I::text', alias, k.column_name), ', ') || ']'
    FROM deletion.primary_key_columns(target) k
$$;
COMMENT ON FUNCTION deletion.plan_key_expr(regclass, text) IS 'SQL text of a row''s primary key as text[], the form the job plan stores keys in.';

-- SQL text of a predicate matching table rows (alias) to plan rows (plan_alias) by primary key, each
-- key element cast back to its column's type so the table's primary-key index is used.
CREATE OR REPLACE FUNCTION deletion.plan_key_match(target regclass, alias text, plan_alias text)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT string_agg(format('%I.%I = (%I.key[%s])::%s', alias, k.column_name, plan_alias, k.n, k.type_name), ' AND ')
    FROM (SELECT pk.column_name, pk.type_name, row_number() OVER () AS n FROM deletion.primary_key_columns(target) pk) k
$$;
COMMENT ON FUNCTION deletion.plan_key_match(regclass, text, text) IS 'SQL text matching a table''s rows to plan rows by primary key, with casts back to the key types.';

-- The plan table of a job (which may not exist).
CREATE OR REPLACE FUNCTION deletion.plan_table(job_id bigint)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
  SELECT format('deletion_work.%I', 'job_' || job_id)
$$;
COMMENT ON FUNCTION deletion.plan_table(bigint) IS 'Name of the unlogged table holding a job''s plan: deletion_work.job_<id>.';

-- Makes a job's plan: the root's key (seq 1), then, table by table in cascade order, the keys of every
-- row a cascade from the root would delete. Each table is found with one set-based INSERT ... SELECT
-- per cascade foreign key, joined to its parent's keys already in the plan (a hash join over the
-- tables, not a walk row by row); a self-referencing table is walked one tree level per statement.
-- Returns the number of planned rows, the root included (0 when the root row does not exist).
CREATE OR REPLACE FUNCTION deletion.make_plan(job_id bigint, root regclass, pk text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  plan text := deletion.plan_table(job_id);
  tbl record;
  fk record;
  first_seq bigint;        -- first plan row of the table being planned
  level_first bigint;      -- first plan row of the previous level of a self-referencing table
  level_last bigint;
  planned bigint;
  total bigint;
  parent_range int8range;
  ranges jsonb := '{}';    -- relid -> [first seq, last seq] of each planned table's rows
  join_parent text;
BEGIN
  EXECUTE format('DROP TABLE IF EXISTS %s', plan);
  EXECUTE format($f$CREATE UNLOGGED TABLE %s (
                      seq   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                      relid oid    NOT NULL,
                      key   text[] NOT NULL)$f$, plan);
  EXECUTE format('INSERT INTO %s (relid, key) SELECT %s, %s FROM %s r WHERE %s',
                 plan, root::oid, deletion.plan_key_expr(root, 'r'), root, deletion.key_predicate(root, pk, 'r'));
  GET DIAGNOSTICS planned = ROW_COUNT;
  IF planned = 0 THEN
    RETURN 0;
  END IF;

  FOR tbl IN SELECT ct.relid FROM deletion.cascade_tables(root) ct ORDER BY ct.level, ct.relid::text LOOP
    EXECUTE format('SELECT coalesce(max(seq), 0) + 1 FROM %s', plan) INTO first_seq;
    IF tbl.relid = root THEN
      first_seq := 1;  -- the root's own tree (a self-referencing root) grows from the root row
    END IF;

    -- Rows reached from other tables of the plan, one statement per cascade foreign key; a row reached
    -- by two keys is planned once.
    IF tbl.relid <> root THEN
      FOR fk IN SELECT * FROM deletion.cascade_keys(tbl.relid) k WHERE k.parent <> tbl.relid AND ranges ? k.parent::oid::text LOOP
        parent_range := int8range((ranges -> fk.parent::oid::text ->> 0)::bigint, (ranges -> fk.parent::oid::text ->> 1)::bigint, '[]');
        join_parent := deletion.fk_join_to_plan(plan, fk.child_columns, fk.parent, fk.parent_columns);
        EXECUTE format($f$INSERT INTO %1$s (relid, key)
                          SELECT %2$s, %3$s
                            FROM %4$s c %5$s
                           WHERE w.seq BETWEEN %6$s AND %7$s
                             AND NOT EXISTS (SELECT 1 FROM %1$s x WHERE x.seq >= %8$s AND x.key = %3$s)$f$,
                       plan, tbl.relid::oid, deletion.plan_key_expr(tbl.relid, 'c'), tbl.relid, join_parent,
                       lower(parent_range), upper(parent_range) - 1, first_seq);
      END LOOP;
    END IF;

    -- A self-referencing table: its own children, one tree level per statement, until a level is empty.
    FOR fk IN SELECT * FROM deletion.cascade_keys(tbl.relid) k WHERE k.parent = tbl.relid LOOP
      level_first := first_seq;
      LOOP
        EXECUTE format('SELECT coalesce(max(seq), 0) FROM %s', plan) INTO level_last;
        EXIT WHEN level_last < level_first;
        join_parent := deletion.fk_join_to_plan(plan, fk.child_columns, fk.parent, fk.parent_columns);
        EXECUTE format($f$INSERT INTO %1$s (relid, key)
                          SELECT %2$s, %3$s
                            FROM %4$s c %5$s
                           WHERE w.seq BETWEEN %6$s AND %7$s
                             AND NOT EXISTS (SELECT 1 FROM %1$s x WHERE x.seq >= %8$s AND x.key = %3$s)$f$,
                       plan, tbl.relid::oid, deletion.plan_key_expr(tbl.relid, 'c'), tbl.relid, join_parent,
                       level_first, level_last, first_seq);
        level_first := level_last + 1;
      END LOOP;
    END LOOP;

    EXECUTE format('SELECT coalesce(max(seq), 0) FROM %s', plan) INTO level_last;
    IF level_last >= first_seq THEN
      ranges := ranges || jsonb_build_object(tbl.relid::oid::text, jsonb_build_array(first_seq, level_last));
    END IF;
  END LOOP;

  EXECUTE format('SELECT count(*) FROM %s', plan) INTO total;
  RETURN total;
END
$$;
COMMENT ON FUNCTION deletion.make_plan(bigint, regclass, text) IS 'Finds a job''s tree once: the keys of the root and of every row its cascades would delete, parents before children, in deletion_work.job_<id>.';

-- SQL text joining child rows (alias c) to the plan rows (alias w) of their parent table through one
-- foreign key. When the key references the parent's primary key, the child's columns are matched to
-- the planned keys directly; otherwise the parent table is joined in between.
CREATE OR REPLACE FUNCTION deletion.fk_join_to_plan(plan text, child_columns name[], parent regclass, parent_columns name[])
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
  pk_columns name[] := array(SELECT k.column_name FROM deletion.primary_key_columns(parent) k);
  pk_types text[] := array(SELECT k.type_name FROM deletion.primary_key_columns(parent) k);
  matches text[] := '{}';
  i integer;
  pos integer;
BEGIN
  IF parent_columns @> pk_columns AND pk_columns @> parent_columns AND cardinality(pk_columns) = cardinality(parent_columns) THEN
    FOR i IN 1 .. cardinality(child_columns) LOOP
      pos := array_position(pk_columns, parent_columns[i]);
      matches := matches || format('c.%I = (w.key[%s])::%s', child_columns[i], pos, pk_types[pos]);
    END LOOP;
    RETURN format('JOIN %s w ON %s', plan, array_to_string(matches, ' AND '));
  END IF;
  FOR i IN 1 .. cardinality(child_columns) LOOP
    matches := matches || format('c.%I = p.%I', child_columns[i], parent_columns[i]);
  END LOOP;
  RETURN format('JOIN %s p ON %s JOIN %s w ON %s', parent, array_to_string(matches, ' AND '), plan,
                deletion.plan_key_match(parent, 'p', 'w'));
END
$$;
COMMENT ON FUNCTION deletion.fk_join_to_plan(text, name[], regclass, name[]) IS 'SQL text joining a child table (alias c) to its parent''s planned keys (alias w, in the given plan table) through one foreign key.';

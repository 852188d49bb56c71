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

-- The foreign keys of one table, with the columns on both sides in key order and the ON DELETE
-- action (pg_constraint.confdeltype: 'c' cascade, 'n' set null, 'r' restrict, ...). The plan follows
-- the cascades; its order (plan_order) looks at all of them.
CREATE OR REPLACE FUNCTION deletion.foreign_keys(child regclass)
RETURNS TABLE (constraint_name name, parent regclass, child_columns name[], parent_columns name[], on_delete "char")
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT con.conname, con.confrelid::regclass,
         array(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(attnum, n)
                 JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.n),
         array(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(attnum, n)
                 JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.n),
         con.confdeltype
    FROM pg_constraint con
   WHERE con.contype = 'f' AND con.conparentid = 0 AND con.conrelid = child
   ORDER BY con.conname
$$;
COMMENT ON FUNCTION deletion.foreign_keys(regclass) IS 'The foreign keys of a table, with child and parent columns in key order and the ON DELETE action (confdeltype).';

-- The primary-key column list of a table, each prefixed with an alias ('c.id' or 'c.org_id, c.id'),
-- or bare when alias is NULL.
CREATE OR REPLACE FUNCTION deletion.key_column_list(target regclass, alias text DEFAULT NULL)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT deletion.column_list(alias, array(SELECT k.column_name::name FROM deletion.primary_key_columns(target) k))
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
  child_list text := deletion.column_list('c', child_columns);
  parent_list text := deletion.column_list('p', parent_columns);
BEGIN
  IF cardinality(pk_columns) = cardinality(parent_columns) AND pk_columns @> parent_columns AND parent_columns @> pk_columns THEN
    RETURN format('(%s) IN (SELECT %s FROM (%s) p)', child_list, parent_list, rows_sql);
  END IF;
  RETURN format('(%s) IN (SELECT %s FROM %s p WHERE (%s) IN (%s))', child_list, parent_list, parent,
                deletion.key_column_list(parent, 'p'), rows_sql);
END
$$;
COMMENT ON FUNCTION deletion.fk_in_plan(name[], regclass, name[], text) IS 'SQL text: the child row''s foreign key points at one of the parent rows given by a query of parent keys.';

-- The order in which a step's rows are stored in its plan table, and so deleted (from the last page
-- back): a chunk deletes a run of consecutive rows, and this order makes that run share as few
-- parents as possible. Per-parent work is what a statement of scattered rows pays over and over:
-- statement triggers that recount a parent's statistics (a label's issue count is recounted from
-- all of its rows), ON DELETE SET NULL updates of rows the job will delete anyway, locks and pages
-- of parent rows. So, as SQL text over alias c:
--   1. rows that point at another row of their own table through a foreign key that is not a
--      cascade (issues.parent_issue_id, ON DELETE SET NULL) last: the plan is deleted from its last
--      page back, so they go before the rows they point at, whose deletion then finds no child
--      left to set NULL (exact for one level of nesting, which is what such keys mostly hold;
--      cascade self-references are walked level by level instead, see make_plan);
--   2. then the foreign-key columns that point at other tables of the plan, the parent table with
--      the fewest planned rows first (a label before an issue: a run of relations shares a label);
--   3. then the primary key.
-- planned_rows maps each planned table (its oid as text) to its planned row count.
CREATE OR REPLACE FUNCTION deletion.plan_order(target regclass, planned_rows jsonb)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT concat_ws(', ',
           (SELECT string_agg(format('(%s)', (SELECT string_agg(format('c.%I IS NOT NULL', col), ' AND ' ORDER BY n)
                                                FROM unnest(fk.child_columns) WITH ORDINALITY u(col, n))), ', ' ORDER BY fk.constraint_name)
              FROM deletion.foreign_keys(target) fk WHERE fk.parent = target),
           (SELECT string_agg(deletion.column_list('c', fk.child_columns), ', '
                              ORDER BY (planned_rows ->> fk.parent::oid::text)::bigint, fk.constraint_name)
              FROM deletion.foreign_keys(target) fk WHERE fk.parent <> target AND planned_rows ? fk.parent::oid::text),
           deletion.key_column_list(target, 'c'))
$$;
COMMENT ON FUNCTION deletion.plan_order(regclass, jsonb) IS 'SQL ORDER BY list for a step of a deletion plan: rows pointing at their own table last-deleted-first, then grouped by their parents in the plan (fewest first), then by key.';

-- Plans one table of a job's tree: the table at position `step` of deletion.cascade_tables(root)
-- (step 0 is the root's own table: the root row itself is not in the plan, a self-referencing
-- root's descendants in its own table are). `steps` is the plan so far, [{step, table, relid, rows,
-- pages, per_page}], one entry per earlier table that had rows; the function returns it with this table's
-- entry appended when the table has rows in the tree. One CREATE UNLOGGED TABLE ... AS SELECT stores
-- the primary keys of the table's rows that point, through any cascade foreign key, at the root or
-- at a row planned in an earlier step: one scan of the table with hashed lookups into its parents'
-- plans, stored in deletion.plan_order. A self-referencing table is walked with a recursive query,
-- deepest rows stored last so that they are deleted first. A step that finds no rows has no table.
-- Each call is short enough to be a transaction of its own, which is how the worker plans: a step
-- per call, as many calls per chunk as its time budget allows.
CREATE OR REPLACE FUNCTION deletion.plan_step(job_id bigint, root regclass, pk text, step integer, steps jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  tbl regclass := (SELECT ct.relid FROM deletion.cascade_tables(root) ct ORDER BY ct.level, ct.relid::text OFFSET step LIMIT 1);
  root_key text := deletion.key_predicate(root, pk, 'r');
  -- A soft job's plan is what a soft delete marks: active rows of soft-delete tables, reached through
  -- cascades between soft-delete tables only (deletion.soft_delete_cascade_edges), never through a
  -- row that another operation deleted. The job's kind decides; a plan without a job (make_plan from a
  -- benchmark) is a hard one.
  soft boolean := coalesce((SELECT NOT j.hard_delete FROM deletion.deletion_jobs j WHERE j.id = job_id), false);
  active text := '';
  fk record;
  plan_table text := deletion.plan_table(job_id, step);
  planned jsonb;        -- relid -> plan table of every earlier step with rows
  planned_rows jsonb;   -- relid -> rows planned in that step
  sources text[] := '{}';
  self_joins text[] := '{}';
  walked_columns name[] := '{}';  -- the columns of this table that its own rows point at
  walk_list text;
  key_list text;
  found_rows bigint;
  pages bigint;
  per_page bigint;
BEGIN
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'the cascade tree of % has no table at step %', root, step USING ERRCODE = '22023';
  END IF;
  SELECT coalesce(jsonb_object_agg(s ->> 'relid', deletion.plan_table(job_id, (s ->> 'step')::integer)), '{}'),
         coalesce(jsonb_object_agg(s ->> 'relid', (s ->> 'rows')::bigint), '{}')
    INTO planned, planned_rows
    FROM jsonb_array_elements(coalesce(steps, '[]')) s;
  IF to_regclass(plan_table) IS NOT NULL THEN
    EXECUTE format('DROP TABLE %s', plan_table);  -- a step planned again after a failed chunk
  END IF;
  key_list := deletion.key_column_list(tbl, 'c');
  IF soft THEN
    IF NOT deletion.is_soft_delete_table(tbl) THEN
      RETURN steps;  -- a soft delete does not reach it
    END IF;
    -- Active rows, and rows this job already marked (a plan made again after a restart passes
    -- through them to what is below).
    active := format(' AND (c.deleted_at IS NULL OR c.deletion_op = %L::uuid)',
                     (SELECT to_jsonb(j) ->> 'pending_op' FROM deletion.deletion_jobs j WHERE j.id = job_id));
  END IF;

  FOR fk IN SELECT * FROM deletion.foreign_keys(tbl) k
             WHERE k.on_delete = 'c' AND (NOT soft OR deletion.is_soft_delete_table(k.parent)) LOOP
    IF fk.parent = tbl THEN
      self_joins := self_joins || deletion.columns_equal('c', fk.child_columns, 't', fk.parent_columns);
      walked_columns := walked_columns || fk.parent_columns;
    END IF;
    IF fk.parent = root AND tbl <> root THEN
      sources := sources || deletion.fk_in_plan(fk.child_columns, fk.parent, fk.parent_columns,
                                                format('SELECT %s FROM %s r WHERE %s', deletion.key_column_list(root, 'r'), root, root_key));
    END IF;
    IF planned ? fk.parent::oid::text AND fk.parent <> tbl THEN
      sources := sources || deletion.fk_in_plan(fk.child_columns, fk.parent, fk.parent_columns,
                                                format('SELECT * FROM %s', planned ->> fk.parent::oid::text));
    END IF;
  END LOOP;

  IF tbl = root THEN
    IF cardinality(self_joins) = 0 THEN
      RETURN steps;  -- the root alone: deleted by key in the root phase, nothing to plan
    END IF;
    sources := ARRAY[deletion.key_predicate(root, pk, 'c')];
  END IF;
  IF cardinality(sources) = 0 THEN
    RETURN steps;
  END IF;

  IF cardinality(self_joins) = 0 THEN
    EXECUTE format('CREATE UNLOGGED TABLE %s AS SELECT %s FROM %s c WHERE (%s)%s ORDER BY %s',
                   plan_table, key_list, tbl, array_to_string(sources, ' OR '), active, deletion.plan_order(tbl, planned_rows));
  ELSE
    -- The table's own tree below the rows found above, level by level; a row reached twice is kept
    -- once, at its deepest level, and stored deepest last. The walk carries only the key and the
    -- columns its children point at, never whole rows. It stops at level 1000, which also ends a
    -- cycle in the data (its rows come back level after level until then, and are kept once): rows
    -- deeper than that are not planned, and the cascade of their planned ancestors deletes them.
    -- (A CYCLE clause would end cycles at once, but its path array made the walk half again slower:
    -- 3.1 s instead of 2.0 s for the product's 450,000 comments.)
    walk_list := deletion.column_list('c', array(
                   SELECT col FROM unnest(array(SELECT k.column_name::name FROM deletion.primary_key_columns(tbl) k) || walked_columns)
                                   WITH ORDINALITY u(col, n)
                    GROUP BY col ORDER BY min(n)));
    EXECUTE format($f$CREATE UNLOGGED TABLE %1$s AS
                      WITH RECURSIVE tree AS (
                        SELECT %7$s, 0 AS deletion_depth FROM %2$s c WHERE (%3$s)%9$s
                        UNION ALL
                        SELECT %7$s, t.deletion_depth + 1 FROM %2$s c JOIN tree t ON (%4$s) WHERE t.deletion_depth < 1000%8$s
                      )
                      SELECT %5$s FROM tree c
                       WHERE true %6$s
                       GROUP BY %5$s
                       ORDER BY max(c.deletion_depth)$f$,
                   plan_table, tbl, array_to_string(sources, ' OR '), array_to_string(self_joins, ') OR ('),
                   key_list,
                   CASE WHEN tbl = root THEN format('AND NOT (%s)', deletion.key_predicate(root, pk, 'c')) ELSE '' END,
                   walk_list, active, CASE WHEN tbl = root THEN '' ELSE active END);  -- the root itself is hidden by its marker
  END IF;
  GET DIAGNOSTICS found_rows = ROW_COUNT;
  IF found_rows = 0 THEN
    EXECUTE format('DROP TABLE %s', plan_table);
    RETURN steps;
  END IF;
  -- Statistics, so that the next steps hash-join against this plan instead of probing an index
  -- once per planned key (the planner cannot guess how many distinct keys a fresh table holds).
  EXECUTE format('ANALYZE %s', plan_table);
  -- Where the rows are: the pages that hold them (the file can be longer: a bulk write extends it many
  -- pages at a time) and the most rows a page holds (the keys are of one width, so every page but the
  -- last is full). Chunks number the rows by place, page x per_page + item - 1, and walk them down.
  EXECUTE format('SELECT max((ctid::text::point)[0])::bigint + 1, max((ctid::text::point)[1])::bigint FROM %s', plan_table)
     INTO pages, per_page;
  RETURN coalesce(steps, '[]') || jsonb_build_array(jsonb_build_object(
    'step', step, 'table', tbl::text, 'relid', tbl::oid, 'rows', found_rows, 'pages', pages, 'per_page', per_page));
END
$$;
COMMENT ON FUNCTION deletion.plan_step(bigint, regclass, text, integer, jsonb) IS 'Plans one table of a job''s tree (its position in deletion.cascade_tables) into an unlogged table of primary keys, deletion_work.job_<id>_<step>; returns the plan''s steps with it appended when it has rows.';

-- The end of a plan step's rows, as a place: rows are numbered page x per_page + item - 1 in the
-- step's plan table, and a chunk deletes those below its cursor, starting from this one.
CREATE OR REPLACE FUNCTION deletion.plan_rows_end(step jsonb)
RETURNS bigint
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
  SELECT (step ->> 'pages')::bigint * (step ->> 'per_page')::bigint
$$;
COMMENT ON FUNCTION deletion.plan_rows_end(jsonb) IS 'Where a plan step''s rows end: pages x per_page, the place a chunk starts deleting down from.';

-- Makes a job's whole plan in one call and returns its steps (see plan_step), or NULL when the root
-- row does not exist. The worker plans a step per call instead (deletion.run_chunk); this is for
-- callers that want the tree's size at once (the benchmarks, tests).
CREATE OR REPLACE FUNCTION deletion.make_plan(job_id bigint, root regclass, pk text)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  root_exists boolean;
  steps jsonb := '[]';
BEGIN
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s r WHERE %s)', root, deletion.key_predicate(root, pk, 'r')) INTO root_exists;
  IF NOT root_exists THEN
    RETURN NULL;
  END IF;
  PERFORM deletion.drop_plan(job_id);
  FOR step IN 0 .. (SELECT count(*) FROM deletion.cascade_tables(root)) - 1 LOOP
    steps := deletion.plan_step(job_id, root, pk, step, steps);
  END LOOP;
  RETURN steps;
END
$$;
COMMENT ON FUNCTION deletion.make_plan(bigint, regclass, text) IS 'Finds a job''s whole tree in one call: one unlogged table of primary keys per table the root''s cascades reach (deletion_work.job_<id>_<step>), parents before children; returns the steps with their row and page counts, NULL when the root row is gone.';

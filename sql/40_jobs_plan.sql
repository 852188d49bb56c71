-- Deletion jobs, part 1: the plan. A job deletes a row and everything that ON DELETE CASCADE would
-- take with it, leaves first, in short chunks. Finding those rows again for every chunk is what makes
-- the naive way 10-20x slower than one DELETE (docs/jobs.md), so a job finds its tree ONCE: for each
-- table of the tree, parents before children, an unlogged table stores the primary keys of that
-- table's rows in the tree (deletion_work.job_<id>_<step>), found by scanning the table against its
-- parents' plan tables, a range of its pages per statement and a few statements per chunk, so that
-- planning too is short transactions (deletion.plan_slices). Chunks then walk the plan from the last
-- step back (children before parents), each step's plan table from its last page down (a TID range
-- scan, no index needed), and delete by primary key.
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
-- row of `rows_sql`, a query returning the parent's primary key; `negated`, when it does not (as NOT
-- EXISTS, which the planner turns into an anti-join, and true for a key with a NULL in it, which
-- points nowhere). When the key references the parent's primary key, the child's columns are
-- compared with the planned keys directly; otherwise the parent table is looked up in between.
DROP FUNCTION IF EXISTS deletion.fk_in_plan(name[], regclass, name[], text);
CREATE OR REPLACE FUNCTION deletion.fk_in_plan(child_columns name[], parent regclass, parent_columns name[], rows_sql text,
                                               negated boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
  pk_columns name[] := array(SELECT k.column_name FROM deletion.primary_key_columns(parent) k);
  child_list text := deletion.column_list('c', child_columns);
  parent_list text := deletion.column_list('p', parent_columns);
  references_key boolean := cardinality(pk_columns) = cardinality(parent_columns) AND pk_columns @> parent_columns AND parent_columns @> pk_columns;
BEGIN
  IF negated THEN
    RETURN CASE WHEN references_key
                THEN format('NOT EXISTS (SELECT FROM (%s) p WHERE %s)', rows_sql, deletion.columns_equal('p', parent_columns, 'c', child_columns))
                ELSE format('NOT EXISTS (SELECT FROM %s p WHERE %s AND (%s) IN (%s))', parent,
                            deletion.columns_equal('p', parent_columns, 'c', child_columns), deletion.key_column_list(parent, 'p'), rows_sql) END;
  END IF;
  IF references_key THEN
    RETURN format('(%s) IN (SELECT %s FROM (%s) p)', child_list, parent_list, rows_sql);
  END IF;
  RETURN format('(%s) IN (SELECT %s FROM %s p WHERE (%s) IN (%s))', child_list, parent_list, parent,
                deletion.key_column_list(parent, 'p'), rows_sql);
END
$$;
COMMENT ON FUNCTION deletion.fk_in_plan(name[], regclass, name[], text, boolean) IS 'SQL text: the child row''s foreign key points at one of the parent rows given by a query of parent keys (negated: it does not).';

-- The order in which a step's rows are stored in its plan table, and so deleted (from the last page
-- back): a chunk deletes a run of consecutive rows, and this order makes that run share as few
-- parents as possible. Per-parent work is what a statement of scattered rows pays over and over:
-- statement triggers that recount a parent's statistics (a label's issue count is recounted from
-- all of its rows), ON DELETE SET NULL updates of rows the job will delete anyway, locks and pages
-- of parent rows. So, as SQL text over alias c:
--   1. rows that point at another row of their own table last (issues.parent_issue_id, ON DELETE
--      SET NULL; a reply's comment, a cascade): the plan is deleted from its last page back, so
--      they go before the rows they point at, whose deletion then finds no child left to set NULL
--      or to cascade to (exact for one level of nesting, which is what such keys mostly hold, and
--      within one statement's range of pages: see plan_slices);
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

-- How many pages the next range of a planning pass reads (deletion.plan_slices): what fits in
-- ms_left at the worst the range may cost, at most twice the pass's biggest range so far (the last
-- one is smaller when its chunk had less time left) and 1,024 pages (8 MB), at least 32; 128 pages to
-- begin a pass (progress without slice_ms).
-- The worst is reckoned from what was measured. A statement costs something before it reads a page
-- (it hashes the parents' plans): the pass's cheapest statement (least_ms). Pages differ in cost by
-- what the pass takes from them: the rows it takes are sorted and stored, and a table's rows of one
-- tenant are often stored together, so a range of rows outside the tree can be followed by one whose
-- every row is in it (on the product's comments: 26 against 113 ms for 1,024 pages). So once what
-- a taken row costs is known (ms_per_stored_row, measured on ranges that took most of their rows,
-- reading included), a page may cost that for each row it holds; until then, what a page of the
-- last range cost beyond least_ms.
CREATE OR REPLACE FUNCTION deletion.plan_range_pages(progress jsonb, ms_left numeric, rows_per_page numeric, ms_per_stored_row numeric)
RETURNS bigint
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
  SELECT CASE WHEN NOT progress ? 'slice_ms' THEN 128
              ELSE least(2 * (progress ->> 'most_pages')::bigint, 1024,
                         greatest(32, coalesce(floor((ms_left * 0.9 - (progress ->> 'least_ms')::numeric) / nullif(coalesce(
                                                 rows_per_page * ms_per_stored_row,
                                                 greatest((progress ->> 'slice_ms')::numeric - (progress ->> 'least_ms')::numeric, 0)
                                                   / (progress ->> 'slice_pages')::numeric), 0)), 1024)))::bigint END
$$;
COMMENT ON FUNCTION deletion.plan_range_pages(jsonb, numeric, numeric, numeric) IS 'Pages the next range of a planning pass reads: what fits in ms_left at the worst it may cost (the pass''s cheapest statement, plus every row of its pages taken once that cost is known, else the last range''s rate), at most twice the pass''s biggest range and 1,024, at least 32; 128 to begin.';

-- Plans one table of a job's tree, a slice at a time: the table at position `step` of
-- deletion.cascade_tables(root) (step 0 is the root's own table: the root row itself is not in the
-- plan, a self-referencing root's descendants in its own table are). `steps` is the plan so far,
-- [{step, table, relid, rows, pages, per_page}], one entry per earlier table that had rows.
--
-- The step's plan table, deletion_work.job_<id>_<step>, receives the primary keys of the table's
-- rows in the tree, in passes over the table:
--   * pass 0 takes the rows that point, through any cascade foreign key, at the root or at a row
--     planned in an earlier step (hashed lookups into the parents' plans), stored in
--     deletion.plan_order: within each range of pages, rows that point at another row of their own
--     table last (a reply after the comment it answers, which is mostly on an earlier page: rows
--     are written in the order they are made), so that the chunks, which delete a plan table from
--     its last row back, delete replies first; a reply stored before its comment is taken by the
--     comment's cascade;
--   * a table that references itself by a cascade (comment replies, a folder tree) is then walked a
--     level per pass, for what is in the tree by that foreign key alone (a folder tree below the
--     root, a reply on the tree's comment from an issue outside the tree): pass k takes the rows
--     that point at a row the pass before stored (found in the plan table by their places, a TID
--     range) and that pass 0 did not take. Each level is stored after the one before. The walk
--     ends with a pass that finds nothing, or at level 1000 (which also ends a cycle in the data:
--     deeper rows are left to the cascade of their planned ancestors). A row that two foreign keys
--     to its own table reach at two levels is stored twice; deleting it the second time finds it gone.
-- A pass reads the table in ranges of pages (a TID range scan), each one INSERT ... SELECT, as many
-- as `max_ms` allows (at least one), each sized to what is left at the worst it may cost
-- (deletion.plan_range_pages), so that no transaction reads a big table whole; a pass that the
-- statistics say takes few rows (its parents are few: a small tree) is one statement instead, left
-- to the planner (an index probe a parent). `progress` says where the step is: {pass, page,
-- pass_from, level_from, level_to, level_rows, pass_rows, rows, per_page, last, slice_pages,
-- slice_ms, least_ms, most_pages, ms_per_stored_row}, NULL to begin it. Without `max_ms` the
-- step is planned in one call, a statement a pass.
--
-- Returns {steps, progress}: progress NULL when the step is planned, and then steps has this table's
-- entry appended when it has rows. A step that finds no rows has no table.
CREATE OR REPLACE FUNCTION deletion.plan_slices(job_id bigint, root regclass, pk text, step integer, steps jsonb,
                                                progress jsonb DEFAULT NULL, max_ms numeric DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  tbl regclass := (SELECT ct.relid FROM deletion.cascade_tables(root) ct ORDER BY ct.level, ct.relid::text OFFSET step LIMIT 1);
  started timestamptz := clock_timestamp();
  -- A soft job's plan is what a soft delete marks: active rows of soft-delete tables, reached through
  -- cascades between soft-delete tables only (deletion.soft_delete_cascade_edges), never through a
  -- row that another operation deleted. The job's kind decides; a plan without a job (make_plan from a
  -- benchmark) is a hard one.
  soft boolean := coalesce((SELECT NOT j.hard_delete FROM deletion.deletion_jobs j WHERE j.id = job_id), false);
  marker text := (SELECT to_jsonb(j) ->> 'pending_op' FROM deletion.deletion_jobs j WHERE j.id = job_id);
  active text := '';          -- over alias c: the row is active (soft jobs)
  fk record;
  plan_table text := deletion.plan_table(job_id, step);
  planned jsonb;              -- relid -> plan table of every earlier step with rows
  planned_rows jsonb;         -- relid -> rows planned in that step
  seeds text[] := '{}';       -- over alias c: the row points at the root or at a planned parent
  not_seeds text[] := '{}';   -- over alias c: it does not
  self_referencing boolean;
  root_rows_sql text := format('SELECT %s FROM %s r WHERE %s', deletion.key_column_list(root, 'r'), root, deletion.key_predicate(root, pk, 'r'));
  parents_sql text;           -- a query of the parent rows a foreign key is tested against
  key_list text;              -- the table's primary key over alias c
  order_list text;            -- the order its rows are stored in (deletion.plan_order)
  sliced boolean;             -- whether passes read the table in ranges of pages
  pass_sql_for integer;       -- the pass pass_sql was written for
  estimated_rows numeric := 0;    -- what the statistics say pass 0 takes
  pass_sql text;
  slice_sql text;
  table_pages bigint;
  slice_pages bigint;
  slice_started timestamptz;
  slice_ms numeric;           -- how long the last statement took
  stored bigint;
  last_tid tid;
  most_per_page bigint;
  -- Rows a page of the table holds, by the statistics (NULL before they are gathered): the most a
  -- range of pages can take.
  rows_per_page numeric;
  -- What taking a row cost (milliseconds) in the earlier steps, the most of them (see below), for a
  -- table whose own cost is not known yet; NULL when none measured one.
  ms_per_stored_row numeric;
BEGIN
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'the cascade tree of % has no table at step %', root, step USING ERRCODE = '22023';
  END IF;
  SELECT coalesce(jsonb_object_agg(s ->> 'relid', deletion.plan_table(job_id, (s ->> 'step')::integer)), '{}'),
         coalesce(jsonb_object_agg(s ->> 'relid', (s ->> 'rows')::bigint), '{}')
    INTO planned, planned_rows
    FROM jsonb_array_elements(coalesce(steps, '[]')) s;
  IF soft THEN
    IF NOT deletion.is_soft_delete_table(tbl) THEN
      RETURN jsonb_build_object('steps', steps, 'progress', NULL);  -- a soft delete does not reach it
    END IF;
    -- Active rows, and rows this job already marked (a plan made again after a restart passes
    -- through them to what is below).
    active := format(' AND (c.deleted_at IS NULL OR c.deletion_op = %L::uuid)', marker);
  END IF;

  -- Pass 0's rows: those that point at the root or at a planned parent, by any cascade foreign key;
  -- `seeds` says so, `not_seeds` says the opposite.
  FOR fk IN SELECT * FROM deletion.foreign_keys(tbl) k
             WHERE k.on_delete = 'c' AND k.parent <> tbl AND (NOT soft OR deletion.is_soft_delete_table(k.parent))
               AND (k.parent = root OR planned ? k.parent::oid::text) LOOP
    parents_sql := CASE WHEN fk.parent = root THEN root_rows_sql ELSE format('SELECT * FROM %s', planned ->> fk.parent::oid::text) END;
    seeds := seeds || deletion.fk_in_plan(fk.child_columns, fk.parent, fk.parent_columns, parents_sql);
    not_seeds := not_seeds || deletion.fk_in_plan(fk.child_columns, fk.parent, fk.parent_columns, parents_sql, negated => true);
    -- The rows the parents have, by the statistics: the parents' rows times the child table's rows
    -- per parent row (statistics not yet gathered read as many).
    estimated_rows := estimated_rows + CASE WHEN fk.parent = root THEN 1 ELSE (planned_rows ->> fk.parent::oid::text)::numeric END
                      * coalesce((SELECT CASE WHEN c.reltuples < 0 OR p.reltuples <= 0 THEN 'infinity' ELSE c.reltuples / p.reltuples END
                                    FROM pg_class c, pg_class p WHERE c.oid = tbl AND p.oid = fk.parent), 'infinity');
  END LOOP;
  -- Whether the table has cascade foreign keys to itself, which the walk follows.
  self_referencing := EXISTS (SELECT FROM deletion.foreign_keys(tbl) k WHERE k.on_delete = 'c' AND k.parent = tbl);
  IF (tbl = root AND NOT self_referencing) OR (tbl <> root AND cardinality(seeds) = 0) THEN
    RETURN jsonb_build_object('steps', steps, 'progress', NULL);  -- nothing of this table is in the tree (the root alone is deleted by key)
  END IF;
  -- Only a table's own pages are read in ranges: a partitioned table's are its partitions'.
  sliced := max_ms IS NOT NULL AND (SELECT c.relkind = 'r' FROM pg_class c WHERE c.oid = tbl);
  key_list := deletion.key_column_list(tbl, 'c');
  order_list := deletion.plan_order(tbl, planned_rows);
  rows_per_page := (SELECT c.reltuples / c.relpages FROM pg_class c WHERE c.oid = tbl AND c.relpages > 0 AND c.reltuples > 0);
  ms_per_stored_row := (SELECT max((s ->> 'ms_per_stored_row')::numeric) FROM jsonb_array_elements(coalesce(steps, '[]')) s);

  IF progress IS NULL THEN
    IF to_regclass(plan_table) IS NOT NULL THEN
      EXECUTE format('DROP TABLE %s', plan_table);  -- a step planned again after a failed chunk
    END IF;
    -- Not vacuumed by autovacuum: the steps analyze it themselves, nothing updates or deletes its
    -- rows, and the job's last chunk drops it, which must not wait (lock_timeout) on an autovacuum
    -- that the rows just inserted woke.
    EXECUTE format('CREATE UNLOGGED TABLE %s WITH (autovacuum_enabled = false) AS SELECT %s FROM %s c WITH NO DATA', plan_table, key_list, tbl);
    -- The root's own table has no pass 0: its walk begins at the root row.
    progress := jsonb_build_object('pass', CASE WHEN tbl = root THEN 1 ELSE 0 END, 'page', 0, 'pass_from', '(0,0)',
                                   'level_from', '(0,0)', 'level_to', '(0,0)', 'level_rows', 1, 'pass_rows', 0,
                                   'rows', 0, 'per_page', 0, 'last', '(0,0)');
  END IF;

  LOOP
    -- This pass's rows, over alias c, written once a pass.
    IF pass_sql_for IS DISTINCT FROM (progress ->> 'pass')::integer THEN
      pass_sql_for := (progress ->> 'pass')::integer;
      IF pass_sql_for = 0 THEN
        pass_sql := format('(%s)%s', array_to_string(seeds, ' OR '), active);
      ELSE
        -- The level before: the root row (the walk of the root's own table begins there), or the rows
        -- the pass before stored, at their places in the plan table.
        parents_sql := CASE WHEN tbl = root AND pass_sql_for = 1 THEN root_rows_sql
                            ELSE format('SELECT %s FROM %s w WHERE w.ctid > %L::tid AND w.ctid <= %L::tid', deletion.key_column_list(tbl, 'w'),
                                        plan_table, progress ->> 'level_from', progress ->> 'level_to') END;
        pass_sql := format('(%s)%s%s',
                           (SELECT string_agg(deletion.fk_in_plan(k.child_columns, tbl, k.parent_columns, parents_sql), ' OR ')
                              FROM deletion.foreign_keys(tbl) k WHERE k.on_delete = 'c' AND k.parent = tbl),
                           active,
                           CASE WHEN tbl = root THEN format(' AND NOT (%s)', deletion.key_predicate(root, pk, 'c'))
                                ELSE ' AND ' || array_to_string(not_seeds, ' AND ') END);
      END IF;
    END IF;
    table_pages := pg_relation_size(tbl) / current_setting('block_size')::bigint;
    -- One statement for the whole pass when there is no time budget, when the table is small (a
    -- range of pages would hold it all) or when the statistics say the pass takes few rows;
    -- otherwise the next range of pages, sized to the time left.
    IF NOT sliced OR table_pages <= 128
       OR (CASE WHEN pass_sql_for = 0 THEN estimated_rows ELSE (progress ->> 'level_rows')::numeric END) <= 10000 THEN
      slice_pages := NULL;
      slice_sql := pass_sql;
    ELSE
      -- What fits in the time left at the worst the next range may cost (deletion.plan_range_pages).
      slice_pages := deletion.plan_range_pages(progress, max_ms - extract(epoch FROM clock_timestamp() - started) * 1000, rows_per_page,
                                               coalesce((progress ->> 'ms_per_stored_row')::numeric, ms_per_stored_row));
      slice_sql := format('c.ctid >= %L::tid AND c.ctid < %L::tid AND %s',
                          format('(%s,0)', progress ->> 'page'), format('(%s,0)', (progress ->> 'page')::bigint + slice_pages), pass_sql);
    END IF;
    slice_started := clock_timestamp();
    EXECUTE format('WITH stored AS (INSERT INTO %s SELECT %s FROM %s c WHERE %s ORDER BY %s RETURNING ctid)
                    SELECT count(*), max(ctid), max((ctid::text::point)[1])::bigint FROM stored',
                   plan_table, key_list, tbl, slice_sql, order_list)
       INTO stored, last_tid, most_per_page;
    slice_ms := extract(epoch FROM clock_timestamp() - slice_started) * 1000;
    progress := progress || jsonb_build_object(
      'page', CASE WHEN slice_pages IS NULL THEN table_pages ELSE (progress ->> 'page')::bigint + slice_pages END,
      'pass_rows', (progress ->> 'pass_rows')::bigint + stored,
      'rows', (progress ->> 'rows')::bigint + stored,
      'per_page', greatest((progress ->> 'per_page')::bigint, most_per_page),
      'last', coalesce(last_tid::text, progress ->> 'last'));
    IF slice_pages IS NOT NULL THEN
      -- A range that took at least half its rows tells what taking one costs (reading it included),
      -- beyond what the pass's cheapest statement cost; the table keeps the least of these, and its
      -- step's entry passes it to the steps after it.
      IF stored >= 0.5 * slice_pages * rows_per_page AND slice_ms > (progress ->> 'least_ms')::numeric THEN
        progress := progress || jsonb_build_object('ms_per_stored_row',
          least((progress ->> 'ms_per_stored_row')::numeric, round((slice_ms - (progress ->> 'least_ms')::numeric) / stored, 6)));
      END IF;
      progress := progress || jsonb_build_object('slice_pages', slice_pages, 'slice_ms', round(slice_ms, 3),
        'least_ms', round(least((progress ->> 'least_ms')::numeric, slice_ms), 3),
        'most_pages', greatest((progress ->> 'most_pages')::bigint, slice_pages));
    END IF;

    IF (progress ->> 'page')::bigint >= table_pages THEN
      -- The pass is done. The walk goes on from the rows it stored, if any; else the step is planned.
      IF self_referencing AND (progress ->> 'pass_rows')::bigint > 0 AND (progress ->> 'pass')::integer < 1000 THEN
        -- Statistics for the walk's joins against the rows just stored (without them the planner
        -- hashes the whole level at every range of pages instead of the range).
        EXECUTE format('ANALYZE %s', plan_table);
        progress := progress || jsonb_build_object(
          'pass', (progress ->> 'pass')::integer + 1, 'page', 0,
          'level_from', progress ->> 'pass_from', 'level_to', progress ->> 'last', 'level_rows', progress -> 'pass_rows',
          'pass_from', progress ->> 'last', 'pass_rows', 0) - 'slice_ms' - 'least_ms' - 'most_pages';  -- a pass of another cost begins at 128 pages
      ELSE
        IF (progress ->> 'rows')::bigint = 0 THEN
          EXECUTE format('DROP TABLE %s', plan_table);
          RETURN jsonb_build_object('steps', steps, 'progress', NULL);
        END IF;
        -- Statistics, so that the next steps hash-join against this plan instead of probing an index
        -- once per planned key (the planner cannot guess how many distinct keys a fresh table holds).
        EXECUTE format('ANALYZE %s', plan_table);
        -- Where the rows are: up to the page of the last one stored (the file can be longer: a bulk
        -- write extends it many pages at a time), and the most rows a page holds (the keys are of one
        -- width, so every page but the last is full). Chunks number the rows by place, page x
        -- per_page + item - 1, and walk them down.
        RETURN jsonb_build_object('progress', NULL, 'steps', coalesce(steps, '[]') || jsonb_build_array(jsonb_build_object(
          'step', step, 'table', tbl::text, 'relid', tbl::oid, 'rows', (progress ->> 'rows')::bigint,
          'pages', ((progress ->> 'last')::tid::text::point)[0]::bigint + 1, 'per_page', (progress ->> 'per_page')::bigint,
          'ms_per_stored_row', progress -> 'ms_per_stored_row')));
      END IF;
    END IF;
    -- Like a deleting chunk, the call ends when less than a fifth of its time is left, and when the
    -- rest could not hold what another statement costs before it reads a page (after a pass of one
    -- statement: another as long). A range of pages is sized above to fit what is left.
    EXIT WHEN max_ms IS NOT NULL AND (extract(epoch FROM clock_timestamp() - started) * 1000 >= max_ms * 0.8
                                      OR extract(epoch FROM clock_timestamp() - started) * 1000
                                         + CASE WHEN slice_pages IS NULL THEN slice_ms ELSE coalesce((progress ->> 'least_ms')::numeric, 0) END > max_ms);
  END LOOP;
  RETURN jsonb_build_object('steps', steps, 'progress', progress);
END
$$;
COMMENT ON FUNCTION deletion.plan_slices(bigint, regclass, text, integer, jsonb, jsonb, numeric) IS 'Plans one table of a job''s tree (its position in deletion.cascade_tables) into an unlogged table of primary keys, deletion_work.job_<id>_<step>, in ranges of the table''s pages for at most max_ms; returns {steps, progress}: progress NULL once the step is planned (steps then has it appended when it has rows).';

-- Plans one table of a job's tree in one call (deletion.plan_slices without a time budget); returns
-- the plan's steps with it appended when it has rows.
CREATE OR REPLACE FUNCTION deletion.plan_step(job_id bigint, root regclass, pk text, step integer, steps jsonb)
RETURNS jsonb
LANGUAGE sql
SET search_path = pg_catalog
AS $$
  SELECT deletion.plan_slices(job_id, root, pk, step, steps) -> 'steps'
$$;
COMMENT ON FUNCTION deletion.plan_step(bigint, regclass, text, integer, jsonb) IS 'Plans one table of a job''s tree (its position in deletion.cascade_tables) into an unlogged table of primary keys, deletion_work.job_<id>_<step>, in one call; returns the plan''s steps with it appended when it has rows.';

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

-- Restore: puts back what a hard delete removed, from audit.log.
--
-- A restore works on whole statements of the log, (txid, statement_seq): the rows a statement deleted
-- (its cascades included) are inserted again, and the foreign keys its ON DELETE SET NULL actions
-- cleared are set back. It runs in four set-based steps over a temporary table of the rows to restore:
--   1. collect: one row per (table, key), its image taken from the first log entry of the scope, so a
--      row that a SET NULL changed and a CASCADE then deleted comes back as it was before both;
--   2. check: the conflicts (table or column dropped, NOT NULL column added, key or unique value
--      taken, a parent that exists neither in the table nor in the restore, a row to re-link that is
--      gone). A restore checks first only what step 4's statements would not refuse themselves; when
--      one of them refuses, every check runs and reports every conflict at once, as a dry run does;
--   3. order: tables first, then rows. Tables take a rank, parents before children; rows need an
--      order of their own only inside a cycle of tables (a self-referencing tree, or
--      issues.parent_comment_id <-> comments.issue_id), where each row gets a level below its
--      children's. A cycle of rows through nullable foreign keys is broken by inserting one side with
--      NULL and setting it afterwards;
--   4. apply: one INSERT per (rank, level, table), one UPDATE per table for the re-links; the restored rows
--      are logged as INSERTs with reason 'restore of <txid>', and the statements as restored.
-- All or nothing: any conflict refuses the whole restore (SQLSTATE PD202) and nothing changes. A dry
-- run returns the plan and every conflict, and also tries the whole restore in a subtransaction that
-- it rolls back, so that a failure no check foresaw (a CHECK constraint, a trigger) is reported too.

-- The key text of a row as the log records it (record_id) from the text a caller gives: '42', a
-- uuid, or '[7, "eu"]' for a composite key. Validates the key like deletion.key_predicate does.
CREATE OR REPLACE FUNCTION audit.record_id_of(target regclass, pk text)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
  parts text[];
  normalized text;
BEGIN
  PERFORM deletion.key_predicate(target, pk);  -- raises 42P10, 22004, 22023 or 22P02 on a bad key
  SELECT array_agg(format('to_jsonb(%L::%s)', v.val, k.type_name) ORDER BY k.ord)
    INTO parts
    FROM (SELECT kc.*, row_number() OVER () AS ord FROM deletion.primary_key_columns(target) kc) k
    JOIN (SELECT e AS val, n AS ord
            FROM jsonb_array_elements_text(CASE WHEN pk ~ '^\s*\[' THEN pk::jsonb ELSE jsonb_build_array(pk) END)
                 WITH ORDINALITY AS x(e, n)) v ON v.ord = k.ord;
  IF cardinality(parts) = 1 THEN
    EXECUTE format('SELECT %s #>> ''{}''', parts[1]) INTO normalized;
  ELSE
    EXECUTE format('SELECT jsonb_build_array(%s)::text', array_to_string(parts, ', ')) INTO normalized;
  END IF;
  RETURN normalized;
END
$$;
COMMENT ON FUNCTION audit.record_id_of(regclass, text) IS 'The record_id audit.log uses for the row with the given key text.';

-- Starts a statement number of its own in the current transaction (for the log rows restore writes).
CREATE OR REPLACE FUNCTION audit.next_statement()
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  seq integer := coalesce((string_to_array(current_setting('audit.statement', true), '/'))[1]::integer, 0) + 1;
BEGIN
  PERFORM set_config('audit.statement', concat_ws('/', seq, 0, statement_timestamp()), true);
  RETURN seq;
END
$$;
COMMENT ON FUNCTION audit.next_statement() IS 'Allocates the next statement number of the current transaction.';

-- Step 1: the rows to restore, one per (table, key), in pg_temp.audit_restore_rows.
--   kind 'insert': deleted in scope; image = the row before the scope's first change of it.
--   kind 'relink': only updated in scope, by ON DELETE SET NULL / SET DEFAULT actions; image = the old
--                  values of the columns those actions changed. Such an update belongs to a statement
--                  that deleted rows, and changed only columns of SET NULL / SET DEFAULT foreign keys
--                  (a self-referencing one included, so via_cascade is not required).
-- Updates made by UPDATE statements themselves are not undone.
CREATE OR REPLACE FUNCTION audit.collect_restore_rows(scope_txid bigint, scope_statements integer[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
BEGIN
  DROP TABLE IF EXISTS pg_temp.audit_restore_rows;
  CREATE TEMPORARY TABLE audit_restore_rows ON COMMIT DROP AS
  WITH entries AS (
    -- only statements that deleted rows are undone; UPDATE statements (a restore's own re-links,
    -- statistics recounts) are left alone, and their images must not be taken for a row's original
    -- (the statements are found by key: a window over the entries sorted every image)
    SELECT l.*
      FROM audit.log l
     WHERE l.txid = scope_txid AND l.statement_seq = ANY (scope_statements) AND l.action IN ('DELETE', 'UPDATE')
       AND l.statement_seq IN (SELECT d.statement_seq FROM audit.log d
                                WHERE d.txid = scope_txid AND d.statement_seq = ANY (scope_statements) AND d.action = 'DELETE')
  ), set_null_columns AS (
    -- the columns an ON DELETE SET NULL / SET DEFAULT foreign key may change, per table
    SELECT format('%I.%I', n.nspname, c.relname) AS table_name, array_agg(DISTINCT a.attname::text) AS columns
      FROM pg_constraint con
      JOIN pg_class c ON c.oid = con.conrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = ANY (con.conkey)
     WHERE con.contype = 'f' AND con.confdeltype IN ('n', 'd')
     GROUP BY 1
  ), changed_columns AS (
    SELECT e.table_name, coalesce(e.record_id, 'log#' || e.id) AS row_key, array_agg(DISTINCT k) AS columns
      FROM entries e, jsonb_object_keys(e.changed) k
     WHERE e.action = 'UPDATE'
     GROUP BY 1, 2
  ), per_row AS (
    SELECT e.table_name,
           coalesce(e.record_id, 'log#' || e.id) AS row_key,
           min(e.id) AS first_id,
           bool_or(e.action = 'DELETE') AS deleted,
           (array_agg(e.old_data ORDER BY e.id))[1] AS before_image,
           (array_agg(e.primary_key ORDER BY e.id))[1] AS primary_key,
           (array_agg(e.record_id ORDER BY e.id))[1] AS record_id
      FROM entries e
     GROUP BY e.table_name, coalesce(e.record_id, 'log#' || e.id)
  )
  SELECT row_number() OVER (ORDER BY p.first_id) AS row_id,
         p.table_name,
         to_regclass(p.table_name) AS target,
         p.record_id,
         p.primary_key,
         CASE WHEN p.deleted THEN 'insert' ELSE 'relink' END AS kind,
         CASE WHEN p.deleted THEN p.before_image
              ELSE (SELECT jsonb_object_agg(k, p.before_image -> k) FROM unnest(cc.columns) k) END AS image,
         '{}'::text[] AS deferred_columns
    FROM per_row p
    LEFT JOIN changed_columns cc ON cc.table_name = p.table_name AND cc.row_key = p.row_key
    LEFT JOIN set_null_columns s ON s.table_name = p.table_name
   WHERE p.deleted
      OR cc.columns <@ coalesce(s.columns, '{}');
  CREATE INDEX ON pg_temp.audit_restore_rows (row_id);
  CREATE INDEX ON pg_temp.audit_restore_rows (target);
  -- statistics for the columns the steps filter, group and join on: the images would cost the
  -- most to analyze (144 of 170 ms for 44,000 rows) and no plan reads their statistics
  ANALYZE pg_temp.audit_restore_rows (row_id, target, kind, table_name);

  DROP TABLE IF EXISTS pg_temp.audit_restore_conflicts;
  CREATE TEMPORARY TABLE audit_restore_conflicts (table_name text, record_id text, detail text) ON COMMIT DROP;
  DROP TABLE IF EXISTS pg_temp.audit_restore_edges;
  CREATE TEMPORARY TABLE audit_restore_edges (child bigint, parent bigint, foreign_key oid, columns text[], nullable boolean) ON COMMIT DROP;
END
$$;
COMMENT ON FUNCTION audit.collect_restore_rows(bigint, integer[]) IS 'Restore step 1: the rows a set of logged statements deleted or set to NULL, one per (table, key), into pg_temp.audit_restore_rows.';

-- The foreign keys that matter to a restore: those of every table with rows to insert or re-link,
-- with their columns in order, as text arrays for building statements.
CREATE OR REPLACE FUNCTION audit.restore_foreign_keys()
RETURNS TABLE (constraint_oid oid, constraint_name name, child regclass, parent regclass, child_columns text[], parent_columns text[], nullable boolean)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
BEGIN
  RETURN QUERY
  SELECT con.oid, con.conname, con.conrelid::regclass, con.confrelid::regclass,
         ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY u(attnum, n)
                 JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = u.attnum ORDER BY u.n),
         ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY u(attnum, n)
                 JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = u.attnum ORDER BY u.n),
         NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = con.conrelid AND a.attnum = ANY (con.conkey) AND a.attnotnull)
    FROM pg_constraint con
   WHERE con.contype = 'f'
     AND con.conrelid IN (SELECT DISTINCT r.target FROM pg_temp.audit_restore_rows r WHERE r.target IS NOT NULL);
END
$$;
COMMENT ON FUNCTION audit.restore_foreign_keys() IS 'The foreign keys of the tables a restore writes to.';

-- The order of the tables a restore inserts into, in pg_temp.audit_restore_tables: one row per table
-- with rows to insert, its rank (parents rank lower than their children) and the tables it shares a
-- cycle of foreign keys with (itself, when it references itself). The rank is the number of the
-- table's ancestors outside its cycle: a child has all of its parent's and the parent too. Only a
-- foreign key between two tables of one cycle needs its rows ordered one by one (step 3); every
-- other foreign key is satisfied by the ranks. Foreign keys through tables the restore does not
-- write to order nothing. Reads pg_temp.audit_restore_foreign_keys.
CREATE OR REPLACE FUNCTION audit.rank_restore_tables()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
BEGIN
  IF to_regclass('pg_temp.audit_restore_tables') IS NOT NULL THEN
    DROP TABLE pg_temp.audit_restore_tables;
  END IF;
  CREATE TEMPORARY TABLE audit_restore_tables ON COMMIT DROP AS
  WITH RECURSIVE tables AS (
    SELECT DISTINCT r.target FROM pg_temp.audit_restore_rows r WHERE r.kind = 'insert' AND r.target IS NOT NULL
  ), links AS (
    SELECT DISTINCT f.child, f.parent
      FROM pg_temp.audit_restore_foreign_keys f
     WHERE f.child IN (SELECT t.target FROM tables t) AND f.parent IN (SELECT t.target FROM tables t)
  ), reaches (child, ancestor) AS (
    SELECT l.child, l.parent FROM links l
    UNION
    SELECT r.child, l.parent FROM reaches r JOIN links l ON l.child = r.ancestor
  ), kin AS (
    SELECT a.child, a.ancestor, EXISTS (SELECT FROM reaches b WHERE b.child = a.ancestor AND b.ancestor = a.child) AS in_cycle
      FROM reaches a
  )
  SELECT t.target,
         (SELECT count(*) FROM kin k WHERE k.child = t.target AND NOT k.in_cycle)::integer AS rank,
         ARRAY(SELECT k.ancestor FROM kin k WHERE k.child = t.target AND k.in_cycle) AS cycle_tables
    FROM tables t;
END
$$;
COMMENT ON FUNCTION audit.rank_restore_tables() IS 'Restore: ranks the tables to insert into, parents first, and finds the cycles of tables whose rows must be ordered one by one.';

-- A list of columns as SQL, each qualified by an alias: ('p', {a,b}) -> 'p.a, p.b'.
CREATE OR REPLACE FUNCTION audit.column_list(alias text, columns text[])
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
  SELECT string_agg(format('%I.%I', alias, c), ', ' ORDER BY n) FROM unnest(columns) WITH ORDINALITY u(c, n)
$$;
COMMENT ON FUNCTION audit.column_list(text, text[]) IS 'Columns qualified by an alias, as SQL text.';

-- The values of some columns of a logged row image, as SQL that casts each to its column's type:
-- (image, 'public.issues', {workspace_id}) -> '(image ->> ''workspace_id'')::bigint'. Cheaper than
-- jsonb_populate_record for the few key columns the checks compare; types whose JSON form is not
-- their text form (arrays, composites, json) go through jsonb_populate_record.
CREATE OR REPLACE FUNCTION audit.typed_values(image text, target regclass, columns text[])
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT string_agg(
           CASE WHEN t.typcategory IN ('A', 'C') OR t.oid IN ('json'::regtype, 'jsonb'::regtype)
                THEN format('(jsonb_populate_record(NULL::%s, jsonb_build_object(%L, %s -> %L))).%I', target, c, image, c, c)
                ELSE format('(%s ->> %L)::%s', image, c, format_type(a.atttypid, a.atttypmod)) END,
           ', ' ORDER BY u.n)
    FROM unnest(columns) WITH ORDINALITY u(c, n)
    JOIN pg_attribute a ON a.attrelid = target AND a.attname = u.c
    JOIN pg_type t ON t.oid = a.atttypid
$$;
COMMENT ON FUNCTION audit.typed_values(text, regclass, text[]) IS 'SQL for some columns of a JSONB row image, each cast to its column''s type.';

-- The values of some columns of a logged row image as one JSONB array, for joining rows of the
-- restore with each other (a foreign key's columns against the referenced key's).
CREATE OR REPLACE FUNCTION audit.json_values(image text, columns text[])
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
  SELECT format('jsonb_build_array(%s)', string_agg(format('%s -> %L', image, c), ', ' ORDER BY n))
    FROM unnest(columns) WITH ORDINALITY u(c, n)
$$;
COMMENT ON FUNCTION audit.json_values(text, text[]) IS 'SQL for some columns of a JSONB row image as a JSONB array.';

-- Step 2: the conflicts, into pg_temp.audit_restore_conflicts; also the tables' ranks and, inside
-- cycles of tables, the edges between restored rows (child row needs parent row) that step 3 orders by.
-- every_conflict false checks only what the inserts and updates of step 4 would not refuse on their
-- own: a table or column dropped (an INSERT would leave the column out), a row to re-link that is
-- gone (an UPDATE would change nothing), and keys taken or parents missing where the constraint is
-- DEFERRABLE (it would only fail at commit). The rest (a key or unique value taken, a parent
-- missing, a NOT NULL column without a value) the restore leaves to the statements themselves and,
-- when one of them fails, runs every check (every_conflict true) to report them all. Runs again
-- from scratch each time.
CREATE OR REPLACE FUNCTION audit.check_restore_rows(every_conflict boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  t record;  -- a table of the restore
  fk record;
  uq record;
  key_columns text[];
  key_deferrable boolean;
BEGIN
  TRUNCATE pg_temp.audit_restore_conflicts, pg_temp.audit_restore_edges;

  -- tables that no longer exist
  INSERT INTO pg_temp.audit_restore_conflicts
  SELECT DISTINCT r.table_name, NULL::text, format('table %s no longer exists', r.table_name)
    FROM pg_temp.audit_restore_rows r WHERE r.target IS NULL;

  -- columns dropped since capture (one image per table and kind shows them: every image of a table
  -- has the same keys), and NOT NULL columns (without a default) added since or never logged
  INSERT INTO pg_temp.audit_restore_conflicts
  SELECT l.table_name, NULL::text, format('column %I of %s was dropped since the delete was logged', l.column_name, l.table_name)
    FROM (SELECT DISTINCT r.target, r.table_name, k AS column_name
            FROM (SELECT r.* FROM pg_temp.audit_restore_rows r
                   WHERE r.row_id IN (SELECT min(f.row_id) FROM pg_temp.audit_restore_rows f WHERE f.target IS NOT NULL GROUP BY f.target, f.kind)) r,
                 jsonb_object_keys(r.image) k) l
   WHERE NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = l.target AND a.attname = l.column_name AND a.attnum > 0 AND NOT a.attisdropped);
  INSERT INTO pg_temp.audit_restore_conflicts
  SELECT tb.table_name, NULL::text,
         format('column %I of %s is NOT NULL without a default and the log has no value for it (added since the delete, or excluded from the log)', a.attname, tb.table_name)
    FROM (SELECT DISTINCT r.target, r.table_name FROM pg_temp.audit_restore_rows r WHERE r.kind = 'insert' AND r.target IS NOT NULL) tb
    JOIN pg_attribute a ON a.attrelid = tb.target AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull
                       AND NOT a.atthasdef AND a.attidentity = '' AND a.attgenerated = ''
   WHERE every_conflict
     AND EXISTS (SELECT FROM pg_temp.audit_restore_rows r WHERE r.target = tb.target AND r.kind = 'insert' AND NOT r.image ? a.attname::text);

  FOR t IN SELECT DISTINCT r.target FROM pg_temp.audit_restore_rows r WHERE r.target IS NOT NULL LOOP
    SELECT array_agg(k.column_name::text) INTO key_columns FROM deletion.primary_key_columns(t.target) k;
    SELECT coalesce(bool_or(con.condeferrable), false) INTO key_deferrable
      FROM pg_constraint con WHERE con.conrelid = t.target AND con.contype = 'p';
    IF key_columns IS NOT NULL AND (every_conflict OR key_deferrable) THEN
      -- a row to insert whose key is taken now
      EXECUTE format($q$
        INSERT INTO pg_temp.audit_restore_conflicts
        SELECT r.table_name, r.record_id, 'its primary key is taken: a row with this key exists now'
          FROM pg_temp.audit_restore_rows r
         WHERE r.target = $1 AND r.kind = 'insert' AND EXISTS (SELECT FROM %1$s t WHERE (%2$s) = (%3$s))$q$,
        t.target, audit.column_list('t', key_columns), audit.typed_values('r.image', t.target, key_columns)) USING t.target;
    END IF;
    IF key_columns IS NOT NULL THEN
      -- a row to re-link that is gone
      EXECUTE format($q$
        INSERT INTO pg_temp.audit_restore_conflicts
        SELECT r.table_name, r.record_id, format('the row whose %%s was set to NULL no longer exists, so it cannot be re-linked',
                                                 (SELECT string_agg(k, ', ') FROM jsonb_object_keys(r.image) k))
          FROM pg_temp.audit_restore_rows r
         WHERE r.target = $1 AND r.kind = 'relink' AND NOT EXISTS (SELECT FROM %1$s t WHERE (%2$s) = (%3$s))$q$,
        t.target, audit.column_list('t', key_columns), audit.typed_values('r.primary_key', t.target, key_columns)) USING t.target;
    END IF;
    -- a unique value taken now (partial unique indexes: when both rows fall under the predicate)
    FOR uq IN
      SELECT i.indexrelid::regclass AS index_name,
             ARRAY(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY u(attnum, n)
                     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = u.attnum ORDER BY u.n) AS columns,
             pg_get_expr(i.indpred, i.indrelid) AS predicate
        FROM pg_index i
       WHERE i.indrelid = t.target AND i.indisunique AND NOT i.indisprimary AND i.indexprs IS NULL
         AND (every_conflict OR EXISTS (SELECT FROM pg_constraint con WHERE con.conindid = i.indexrelid AND con.condeferrable))
    LOOP
      EXECUTE format($q$
        INSERT INTO pg_temp.audit_restore_conflicts
        SELECT r.table_name, r.record_id, format('unique index %%s: (%3$s) is taken by another row now', %4$L)
          FROM pg_temp.audit_restore_rows r
         WHERE r.target = $1 AND r.kind = 'insert'
           AND (%5$L IS NULL OR EXISTS (SELECT FROM (SELECT (jsonb_populate_record(NULL::%1$s, r.image)).*) t WHERE %6$s))
           AND EXISTS (SELECT FROM %1$s t WHERE (%2$s) = (%7$s) AND %6$s)$q$,
        t.target, audit.column_list('t', uq.columns), array_to_string(uq.columns, ', '), uq.index_name,
        uq.predicate, coalesce(uq.predicate, 'true'), audit.typed_values('r.image', t.target, uq.columns)) USING t.target;
    END LOOP;
  END LOOP;

  -- Foreign keys: each restored row's parent must exist now or be restored too. Rows of the restore
  -- are joined with each other on the JSONB values of the key columns (the same types on both sides
  -- of a foreign key). Inside a cycle of tables a parent in the restore is an edge: the child must be
  -- inserted after it, which step 3 orders; any other foreign key is satisfied by the tables' ranks.
  IF to_regclass('pg_temp.audit_restore_foreign_keys') IS NOT NULL THEN
    DROP TABLE pg_temp.audit_restore_foreign_keys;
  END IF;
  CREATE TEMPORARY TABLE audit_restore_foreign_keys ON COMMIT DROP AS SELECT * FROM audit.restore_foreign_keys();
  PERFORM audit.rank_restore_tables();
  FOR fk IN
    SELECT f.*, EXISTS (SELECT FROM pg_temp.audit_restore_tables tb WHERE tb.target = f.child AND f.parent = ANY (tb.cycle_tables)) AS orders_rows,
           every_conflict OR (SELECT con.condeferrable FROM pg_constraint con WHERE con.oid = f.constraint_oid) AS checks_parents
      FROM pg_temp.audit_restore_foreign_keys f
  LOOP
    CONTINUE WHEN NOT (fk.orders_rows OR fk.checks_parents);
    EXECUTE format($q$
      WITH children AS (
        SELECT r.row_id, r.table_name, r.record_id, %1$s AS reference
          FROM pg_temp.audit_restore_rows r
         WHERE r.target = $1 AND NOT %1$s @> '[null]'
      ), parents_in_restore AS (
        SELECT c.row_id AS child, p.row_id AS parent
          FROM children c
          JOIN pg_temp.audit_restore_rows p ON p.target = $2 AND p.kind = 'insert' AND %2$s = c.reference
         WHERE c.row_id <> p.row_id
      ), edges AS (
        INSERT INTO pg_temp.audit_restore_edges (child, parent, foreign_key, columns, nullable)
        SELECT e.child, e.parent, $3, $4, $5 FROM parents_in_restore e WHERE $7
      )
      INSERT INTO pg_temp.audit_restore_conflicts
      SELECT c.table_name, c.record_id,
             format('its parent in %%s (%%s) no longer exists and is not part of this restore (foreign key %%I)', $2, %3$L, %4$L)
        FROM children c
       WHERE $6
         AND NOT EXISTS (SELECT FROM parents_in_restore e WHERE e.child = c.row_id)
         AND NOT EXISTS (SELECT FROM %5$s t WHERE (%6$s) = (%7$s))$q$,
      audit.json_values('r.image', fk.child_columns), audit.json_values('p.image', fk.parent_columns),
      array_to_string(fk.child_columns, ', '), fk.constraint_name,
      fk.parent, audit.column_list('t', fk.parent_columns),
      (SELECT string_agg(format('(c.reference ->> %s)::%s', n - 1, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY n)
         FROM unnest(fk.child_columns) WITH ORDINALITY u(col, n)
         JOIN pg_attribute a ON a.attrelid = fk.child AND a.attname = u.col))
      USING fk.child, fk.parent, fk.constraint_oid, fk.child_columns, fk.nullable, fk.checks_parents, fk.orders_rows;
  END LOOP;
  -- indexed once every edge is in, the first time (step 3 reads them by parent and by child)
  IF to_regclass('pg_temp.audit_restore_edges_by_parent') IS NULL THEN
    CREATE INDEX audit_restore_edges_by_parent ON pg_temp.audit_restore_edges (parent);
    CREATE INDEX audit_restore_edges_by_child ON pg_temp.audit_restore_edges (child, foreign_key);
  END IF;
  ANALYZE pg_temp.audit_restore_edges;
END
$$;
COMMENT ON FUNCTION audit.check_restore_rows(boolean) IS 'Restore step 2: the conflicts (every one, or those the restore''s own statements would not refuse) into pg_temp.audit_restore_conflicts; the tables'' ranks, and the parent-before-child edges between restored rows of a cycle of tables.';

-- Step 3: a level per row to insert, every parent (in the restore, in the same cycle of tables) on
-- a lower level; rows of tables in no cycle have no edges and stay on level 0. Kahn's
-- algorithm, set-based: each row counts its parents still to place; level 0 is the rows with none;
-- each round takes the edges out of the level just placed, and the rows whose count reaches zero
-- form the next level. The work is proportional to the edges, not to levels x rows. When a round
-- places nothing and rows remain, they form cycles: their edges through nullable foreign keys are
-- deferred (the child is inserted with those columns NULL and set afterwards) and the counts are
-- taken again; cycles through NOT NULL keys are a conflict.
-- The counts and levels are kept in a narrow table of their own, pg_temp.audit_restore_levels (one
-- row per row to insert): kept in pg_temp.audit_restore_rows, every round rewrote the rows it placed
-- with their whole images and index entries, and a row was written three times on its way to its
-- level (4.6 s of an 18 s restore of 73,000 rows).
CREATE OR REPLACE FUNCTION audit.order_restore_rows()
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  current_level integer := 0;
  placed bigint;
  deferred bigint;
  any_deferred boolean := false;  -- no cycle so far: no edge is deferred, no need to look
BEGIN
  DROP TABLE IF EXISTS pg_temp.audit_restore_levels;
  CREATE TEMPORARY TABLE audit_restore_levels ON COMMIT DROP AS
  SELECT r.row_id, coalesce(d.parents, 0)::integer AS pending, CASE WHEN d.parents IS NULL THEN 0 END AS level
    FROM pg_temp.audit_restore_rows r
    LEFT JOIN (SELECT e.child, count(*) AS parents FROM pg_temp.audit_restore_edges e GROUP BY e.child) d ON d.child = r.row_id
   WHERE r.kind = 'insert';
  ALTER TABLE pg_temp.audit_restore_levels ADD PRIMARY KEY (row_id);
  CREATE INDEX ON pg_temp.audit_restore_levels (level);
  ANALYZE pg_temp.audit_restore_levels;
  SELECT count(*) INTO placed FROM pg_temp.audit_restore_levels WHERE level = 0;
  LOOP
    IF placed = 0 THEN
      EXIT WHEN NOT EXISTS (SELECT FROM pg_temp.audit_restore_levels WHERE level IS NULL);
      -- only cycles are left: defer their nullable foreign keys, then count again
      UPDATE pg_temp.audit_restore_rows r
         SET deferred_columns = ARRAY(SELECT DISTINCT c FROM unnest(r.deferred_columns || d.columns) c)
        FROM (SELECT e.child, array_agg(DISTINCT c) AS columns
                FROM pg_temp.audit_restore_edges e
                JOIN pg_temp.audit_restore_levels p ON p.row_id = e.parent AND p.level IS NULL
                CROSS JOIN LATERAL unnest(e.columns) c
               WHERE e.nullable
               GROUP BY e.child) d
       WHERE r.row_id = d.child AND NOT (d.columns <@ r.deferred_columns)
         AND EXISTS (SELECT FROM pg_temp.audit_restore_levels l WHERE l.row_id = r.row_id AND l.level IS NULL);
      GET DIAGNOSTICS deferred = ROW_COUNT;
      IF deferred = 0 THEN
        INSERT INTO pg_temp.audit_restore_conflicts
        SELECT r.table_name, r.record_id, 'it is part of a cycle of rows through NOT NULL foreign keys, which no insert order satisfies'
          FROM pg_temp.audit_restore_rows r JOIN pg_temp.audit_restore_levels l ON l.row_id = r.row_id WHERE l.level IS NULL;
        RETURN current_level;
      END IF;
      any_deferred := true;
      current_level := current_level + 1;
      UPDATE pg_temp.audit_restore_levels l
         SET pending = (SELECT count(*) FROM pg_temp.audit_restore_edges e
                          JOIN pg_temp.audit_restore_levels p ON p.row_id = e.parent
                          JOIN pg_temp.audit_restore_rows c ON c.row_id = e.child
                         WHERE e.child = l.row_id AND p.level IS NULL AND NOT (e.columns <@ c.deferred_columns))
       WHERE l.level IS NULL;
      UPDATE pg_temp.audit_restore_levels SET level = current_level WHERE level IS NULL AND pending = 0;
      GET DIAGNOSTICS placed = ROW_COUNT;
      CONTINUE;
    END IF;
    current_level := current_level + 1;
    UPDATE pg_temp.audit_restore_levels l
       SET pending = l.pending - d.placed_parents,
           level = CASE WHEN l.pending - d.placed_parents = 0 THEN current_level END
      FROM (SELECT e.child, count(*) AS placed_parents
              FROM pg_temp.audit_restore_levels p
              JOIN pg_temp.audit_restore_edges e ON e.parent = p.row_id
             WHERE p.level = current_level - 1
               AND (NOT any_deferred
                    OR NOT EXISTS (SELECT FROM pg_temp.audit_restore_rows c WHERE c.row_id = e.child AND e.columns <@ c.deferred_columns))
             GROUP BY e.child) d
     WHERE l.row_id = d.child AND l.level IS NULL;
    SELECT count(*) INTO placed FROM pg_temp.audit_restore_levels WHERE level = current_level;
  END LOOP;
  ANALYZE pg_temp.audit_restore_levels;  -- for the inserts' joins, a level at a time
  RETURN current_level;
END
$$;
COMMENT ON FUNCTION audit.order_restore_rows() IS 'Restore step 3: levels that insert every parent before its children, row by row; breaks cycles through nullable foreign keys.';

-- Step 4: inserts rank by rank, level by level and table by table, then re-links and sets the
-- deferred columns.
-- Returns rows inserted and re-linked per table.
CREATE OR REPLACE FUNCTION audit.apply_restore_rows()
RETURNS TABLE (table_name text, inserted bigint, relinked bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  step record;
  columns text[];
  key_columns text[];
  n bigint;
BEGIN
  CREATE TEMPORARY TABLE IF NOT EXISTS audit_restore_counts (table_name text, inserted bigint, relinked bigint) ON COMMIT DROP;
  TRUNCATE pg_temp.audit_restore_counts;

  FOR step IN
    SELECT DISTINCT tb.rank, l.level, r.target, r.table_name
      FROM pg_temp.audit_restore_rows r
      JOIN pg_temp.audit_restore_levels l ON l.row_id = r.row_id
      JOIN pg_temp.audit_restore_tables tb ON tb.target = r.target
     ORDER BY tb.rank, l.level, r.table_name
  LOOP
    -- every column the log has a value for, but generated ones; missing columns take their default
    SELECT array_agg(a.attname::text ORDER BY a.attnum) INTO columns
      FROM pg_attribute a
     WHERE a.attrelid = step.target AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
       AND EXISTS (SELECT FROM pg_temp.audit_restore_rows r WHERE r.target = step.target AND r.kind = 'insert' AND r.image ? a.attname);
    EXECUTE format($q$
      INSERT INTO %1$s (%2$s) OVERRIDING SYSTEM VALUE
      SELECT %3$s
        FROM pg_temp.audit_restore_levels l
        JOIN pg_temp.audit_restore_rows r ON r.row_id = l.row_id
       CROSS JOIN LATERAL jsonb_populate_record(NULL::%1$s, r.image - r.deferred_columns) p
       WHERE r.target = $1 AND l.level = $2
       ORDER BY r.row_id$q$,
      step.target, (SELECT string_agg(quote_ident(c), ', ') FROM unnest(columns) c), audit.column_list('p', columns))
      USING step.target, step.level;
    GET DIAGNOSTICS n = ROW_COUNT;
    INSERT INTO pg_temp.audit_restore_counts VALUES (step.table_name, n, 0);
  END LOOP;

  -- re-links (SET NULL undone) and deferred cycle columns: UPDATE the columns the image names
  FOR step IN
    SELECT DISTINCT r.target, r.table_name FROM pg_temp.audit_restore_rows r
     WHERE r.kind = 'relink' OR cardinality(r.deferred_columns) > 0 ORDER BY r.table_name
  LOOP
    SELECT array_agg(k.column_name::text) INTO key_columns FROM deletion.primary_key_columns(step.target) k;
    SELECT array_agg(DISTINCT c) INTO columns
      FROM pg_temp.audit_restore_rows r,
           LATERAL unnest(CASE WHEN r.kind = 'relink' THEN ARRAY(SELECT jsonb_object_keys(r.image)) ELSE r.deferred_columns END) c
     WHERE r.target = step.target;
    EXECUTE format($q$
      UPDATE %1$s t
         SET %2$s
        FROM pg_temp.audit_restore_rows r
       CROSS JOIN LATERAL jsonb_populate_record(NULL::%1$s, r.image || coalesce(r.primary_key, '{}')) p
       WHERE r.target = $1 AND (r.kind = 'relink' OR cardinality(r.deferred_columns) > 0)
         AND (%3$s) = (%4$s)$q$,
      step.target,
      (SELECT string_agg(format('%1$I = CASE WHEN r.image ? %2$L AND (r.kind = ''relink'' OR %2$L = ANY (r.deferred_columns)) THEN p.%1$I ELSE t.%1$I END', c, c), ', ')
         FROM unnest(columns) c),
      audit.column_list('t', key_columns), audit.column_list('p', key_columns))
      USING step.target;
    GET DIAGNOSTICS n = ROW_COUNT;
    INSERT INTO pg_temp.audit_restore_counts
    SELECT step.table_name, 0, count(*) FROM pg_temp.audit_restore_rows r WHERE r.target = step.target AND r.kind = 'relink';
  END LOOP;

  RETURN QUERY
    SELECT c.table_name, sum(c.inserted)::bigint, sum(c.relinked)::bigint
      FROM pg_temp.audit_restore_counts c GROUP BY c.table_name ORDER BY c.table_name;
END
$$;
COMMENT ON FUNCTION audit.apply_restore_rows() IS 'Restore step 4: the inserts (rank by rank, level by level) and the re-links.';

-- The whole restore of some statements of one transaction. Returns the plan (kind 'insert' or
-- 'relink', rows per table), the conflicts (kind 'conflict', one per row and reason) on a dry run,
-- or one row of kind 'already restored'.
CREATE OR REPLACE FUNCTION audit.restore_statements(scope_txid bigint, scope_statements integer[], dry_run boolean)
RETURNS TABLE (kind text, table_name text, record_id text, rows bigint, detail text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  pending integer[];
  done record;
  my_txid bigint := pg_current_xact_id()::text::bigint;
  restore_seq integer;
  previous_reason text := current_setting('deletion.reason', true);
  conflict_count bigint;
  first_conflict record;
  failed_state text;
  failed_message text;
  failed_detail text;
  failed_hint text;
BEGIN
  -- one restore of a transaction at a time
  PERFORM pg_advisory_xact_lock(hashtext('audit.restore'), hashtext(scope_txid::text));

  SELECT array_agg(s ORDER BY s) INTO pending
    FROM unnest(scope_statements) s
   WHERE NOT EXISTS (SELECT FROM audit.restorations ar WHERE ar.txid = scope_txid AND ar.statement_seq = s);
  IF pending IS NULL THEN
    SELECT min(ar.restored_in_txid) AS restored_in, min(ar.restored_at) AS restored_at INTO done
      FROM audit.restorations ar WHERE ar.txid = scope_txid AND ar.statement_seq = ANY (scope_statements);
    RETURN QUERY SELECT 'already restored'::text, NULL::text, NULL::text, 0::bigint,
                        format('transaction %s was already restored (by transaction %s at %s); nothing to do', scope_txid, done.restored_in, done.restored_at);
    RETURN;
  END IF;

  PERFORM deletion.refuse_erased_restore(scope_txid, pending);  -- PD605: erasures are not undone (sql/60_erasure.sql)
  PERFORM audit.collect_restore_rows(scope_txid, pending);
  IF NOT EXISTS (SELECT FROM pg_temp.audit_restore_rows) THEN
    -- only updates made by statements themselves (a restore's own re-links, say): nothing to undo
    RETURN QUERY SELECT CASE WHEN EXISTS (SELECT FROM audit.restorations ar WHERE ar.txid = scope_txid)
                             THEN 'already restored' ELSE 'nothing to restore' END,
                        NULL::text, NULL::text, 0::bigint,
                        format('the statements %s of transaction %s deleted nothing and set no foreign key to NULL that is not restored already; nothing to do',
                               array_to_string(pending, ', '), scope_txid);
    RETURN;
  END IF;
  -- A dry run checks everything. A restore checks only what its own statements would not refuse,
  -- and everything when one of them does (below): a key taken or a parent missing costs the checks
  -- a pass over the rows each, and the INSERTs find it anyway.
  PERFORM audit.check_restore_rows(dry_run);
  PERFORM audit.order_restore_rows();

  SELECT count(*) INTO conflict_count FROM pg_temp.audit_restore_conflicts;

  IF dry_run THEN
    -- try it for real, and roll the attempt back: reports what no check foresaw
    IF conflict_count = 0 THEN
      BEGIN
        PERFORM audit.apply_restore_rows();
        RAISE EXCEPTION USING ERRCODE = 'PD299', MESSAGE = 'dry run: roll back';
      EXCEPTION
        WHEN SQLSTATE 'PD299' THEN NULL;
        WHEN OTHERS THEN
          INSERT INTO pg_temp.audit_restore_conflicts VALUES (NULL, NULL, format('the restore would fail: %s (SQLSTATE %s)', SQLERRM, SQLSTATE));
      END;
    END IF;
    RETURN QUERY
      SELECT r.kind, r.table_name, NULL::text, count(*)::bigint, NULL::text
        FROM pg_temp.audit_restore_rows r GROUP BY r.kind, r.table_name
      UNION ALL
      SELECT 'conflict', c.table_name, c.record_id, NULL::bigint, c.detail FROM pg_temp.audit_restore_conflicts c
      ORDER BY 1 DESC, 2, 3;
    RETURN;
  END IF;

  IF conflict_count = 0 THEN
    PERFORM set_config('deletion.reason', 'restore of ' || scope_txid, true);
    PERFORM audit.note_transaction(my_txid);
    restore_seq := audit.next_statement();
    BEGIN
      PERFORM audit.apply_restore_rows();
    EXCEPTION WHEN OTHERS THEN
      -- a statement refused (its changes are undone with the block's): every check says why, as in
      -- a dry run (the order found no cycle it could not break: it need not run again); an error no
      -- check explains (a CHECK constraint, a trigger) is raised as it came
      GET STACKED DIAGNOSTICS failed_state = RETURNED_SQLSTATE, failed_message = MESSAGE_TEXT,
                              failed_detail = PG_EXCEPTION_DETAIL, failed_hint = PG_EXCEPTION_HINT;
      PERFORM audit.check_restore_rows(true);
      SELECT count(*) INTO conflict_count FROM pg_temp.audit_restore_conflicts;
      IF conflict_count = 0 THEN
        RAISE EXCEPTION USING ERRCODE = failed_state, MESSAGE = failed_message, DETAIL = failed_detail, HINT = failed_hint;
      END IF;
    END;
  END IF;

  IF conflict_count > 0 THEN
    SELECT * INTO first_conflict FROM pg_temp.audit_restore_conflicts c ORDER BY c.table_name, c.record_id LIMIT 1;
    RAISE EXCEPTION 'restore of transaction % refused: % conflict(s), for example % %: %', scope_txid, conflict_count,
                    coalesce(first_conflict.table_name, ''), coalesce(first_conflict.record_id, ''), first_conflict.detail
      USING ERRCODE = 'PD202', HINT = 'nothing was changed; run it with dry_run => true to see every conflict';
  END IF;

  RETURN QUERY
    SELECT 'insert'::text, c.table_name, NULL::text, sum(c.inserted)::bigint, NULL::text
      FROM pg_temp.audit_restore_counts c GROUP BY c.table_name HAVING sum(c.inserted) > 0
    UNION ALL
    SELECT 'relink', r.table_name, NULL, count(*), NULL FROM pg_temp.audit_restore_rows r WHERE r.kind = 'relink' GROUP BY r.table_name
    ORDER BY 1, 2;

  -- the restored rows, logged as INSERTs of the restoring transaction
  INSERT INTO audit.log (txid, statement_seq, table_name, action, record_id, primary_key, old_data, changed, via_cascade)
  SELECT my_txid, restore_seq, r.table_name, 'INSERT', r.record_id, r.primary_key, NULL, r.image, false
    FROM pg_temp.audit_restore_rows r WHERE r.kind = 'insert' ORDER BY r.row_id;

  INSERT INTO audit.restorations (txid, statement_seq, restored_in_txid, rows_inserted, rows_relinked)
  SELECT scope_txid, s,
         my_txid,
         (SELECT count(*) FROM pg_temp.audit_restore_rows r WHERE r.kind = 'insert'),
         (SELECT count(*) FROM pg_temp.audit_restore_rows r WHERE r.kind = 'relink')
    FROM unnest(pending) s;

  PERFORM set_config('deletion.reason', coalesce(previous_reason, ''), true);
END
$$;
COMMENT ON FUNCTION audit.restore_statements(bigint, integer[], boolean) IS 'Restores the rows some statements of a transaction deleted and re-links what they set to NULL; all or nothing.';

-- Restores a hard-deleted row and everything the statement that deleted it removed (its cascade),
-- and puts back the foreign keys that statement set to NULL.
CREATE OR REPLACE FUNCTION audit.restore_deleted(target regclass, pk text, dry_run boolean DEFAULT false)
RETURNS TABLE (kind text, table_name text, record_id text, rows bigint, detail text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  wanted text := audit.record_id_of(target, pk);
  qualified text := (SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = target);
  found_delete record;
BEGIN
  SELECT l.txid, l.statement_seq INTO found_delete
    FROM audit.log l
   WHERE l.table_name = qualified AND l.record_id = wanted AND l.action = 'DELETE'
   ORDER BY l.id DESC
   LIMIT 1;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'the audit log has no deletion of % %', qualified, pk
      USING ERRCODE = 'P0002', HINT = 'check the key, and that the table is audited (audit.enable)';
  END IF;
  RETURN QUERY SELECT * FROM audit.restore_statements(found_delete.txid, ARRAY[found_delete.statement_seq], dry_run);
END
$$;
COMMENT ON FUNCTION audit.restore_deleted(regclass, text, boolean) IS 'Restores a hard-deleted row with everything its statement''s cascade removed, and re-links what it set to NULL (all or nothing).';

-- Undoes every delete and every ON DELETE SET NULL of a transaction.
CREATE OR REPLACE FUNCTION audit.restore_transaction(txid bigint, dry_run boolean DEFAULT false)
RETURNS TABLE (kind text, table_name text, record_id text, rows bigint, detail text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  statements integer[];
BEGIN
  SELECT array_agg(DISTINCT l.statement_seq) INTO statements
    FROM audit.log l WHERE l.txid = restore_transaction.txid AND l.action IN ('DELETE', 'UPDATE');
  IF statements IS NULL THEN
    RAISE EXCEPTION 'the audit log has no delete or update of transaction %', restore_transaction.txid
      USING ERRCODE = 'P0002', HINT = 'find the transaction in audit.audit_log (column txid)';
  END IF;
  RETURN QUERY SELECT * FROM audit.restore_statements(restore_transaction.txid, statements, dry_run);
END
$$;
COMMENT ON FUNCTION audit.restore_transaction(bigint, boolean) IS 'Undoes every delete and SET NULL of a transaction from the audit log (all or nothing).';

-- Restore is for administrators: deletion_admin members (and the owner, and superusers).
REVOKE EXECUTE ON FUNCTION audit.restore_deleted(regclass, text, boolean), audit.restore_transaction(bigint, boolean),
                           audit.restore_statements(bigint, integer[], boolean),
                           audit.collect_restore_rows(bigint, integer[]), audit.check_restore_rows(boolean),
                           audit.rank_restore_tables(), audit.order_restore_rows(), audit.apply_restore_rows()
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.restore_deleted(regclass, text, boolean), audit.restore_transaction(bigint, boolean)
  TO deletion_admin;

-- Soft delete, part 3b: each soft-delete table's walk, generated when it is wired.
-- The generic walk (deletion.soft_delete_walk, sql/12_soft_delete.sql) reads at every call what a
-- soft delete from a table visits: the keys, the cascade edges and their order, from the catalog;
-- then it plans each of its UPDATEs again (EXECUTE). For a client's UPDATE that soft-deletes one
-- issue, that catalog and planning work was most of the statement's time. The wiring therefore
-- writes, for each soft-delete table, a PL/pgSQL function with the walk's statements written in
-- (deletion.soft_delete_walk_statements, the generic walk's own), so they are read once, when the
-- table is wired, and PL/pgSQL keeps their plans for the session.
--
-- A walk follows the foreign keys as they were when it was written. Wiring tables writes again their
-- walks and the walks of every soft-delete table whose cascade can reach them, and migrate wires the
-- tables a migration touched (a new or dropped foreign key locks both its tables), so a schema
-- changed through migrate keeps its walks right. A key added or dropped by hand needs
-- `SELECT deletion.wire('<table>')` (or deletion-kit migrate), as the engine's triggers do; until
-- then the lint rule wiring_differs names the table whose walk is out of date.

-- The name of a table's generated walk: 'soft_delete_walk_<table>_<digest>'
-- (deletion.generated_function_name, at most 55 bytes). Every soft delete asks for it.
CREATE OR REPLACE FUNCTION deletion.soft_delete_walk_name(target regclass)
RETURNS name
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
BEGIN
  RETURN deletion.generated_function_name(target, 'soft_delete_walk');
END
$$;
COMMENT ON FUNCTION deletion.soft_delete_walk_name(regclass) IS 'The name (in schema deletion) of the walk generated for a soft-delete table.';

-- A table's generated walk, NULL when the wiring has not written one (its signature is fixed: the
-- generic walk's parameters after the table).
CREATE OR REPLACE FUNCTION deletion.soft_delete_walk_of(target regclass)
RETURNS regprocedure
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
  walk name := deletion.soft_delete_walk_name(target);
BEGIN
  IF walk IS NULL THEN   -- no such table
    RETURN NULL;
  END IF;
  RETURN to_regprocedure(format('deletion.%I(timestamptz, text, text, uuid, jsonb, uuid)', walk));
END
$$;
COMMENT ON FUNCTION deletion.soft_delete_walk_of(regclass) IS 'The walk generated for a soft-delete table, NULL when there is none.';

-- The CREATE FUNCTION statement of a table's generated walk, from the catalog as it is now. Its
-- parameters are the generic walk's, in the order of the statements' $1-$6, and it returns what the
-- generic walk returns: the rows marked per table, NULL when no root was active. Names are quoted by
-- format('%I') and ('%L'), tables referred to by their qualified names (the function survives a dump
-- and restore).
CREATE OR REPLACE FUNCTION deletion.soft_delete_walk_statement(target regclass)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $generate$
DECLARE
  root_statements text[];
  edges text;
  in_cycle boolean;
BEGIN
  SELECT array_agg(s.statement ORDER BY s.ord) FILTER (WHERE s.step = 0),
         string_agg(format($e$
    %s;
    GET DIAGNOSTICS marked = ROW_COUNT;
    IF marked > 0 THEN
      rows_per_table := deletion.sum_row_counts(rows_per_table, jsonb_build_object(%L, marked));
      marked_this_pass := marked_this_pass + marked;
    END IF;$e$, s.statement, s.child::text), '' ORDER BY s.ord) FILTER (WHERE s.step > 0),
         coalesce(bool_or(s.in_cycle), false)
    INTO root_statements, edges, in_cycle
    FROM deletion.soft_delete_walk_statements(target) WITH ORDINALITY AS s(step, child, statement, in_cycle, ord);
  RETURN format($f$CREATE OR REPLACE FUNCTION deletion.%1$I(stamped_at timestamptz, actor text, reason text, op uuid, root_keys jsonb, continue_op uuid)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $walk$
#variable_conflict use_column
DECLARE
  marked bigint;
  to_stamp bigint;
  marked_this_pass bigint;
  rows_per_table jsonb;
BEGIN
  %2$s INTO marked, to_stamp;
  IF to_stamp > 0 THEN
    %3$s;
    GET DIAGNOSTICS to_stamp = ROW_COUNT;
    marked := marked + to_stamp;
  END IF;
  IF marked = 0 THEN
    RETURN NULL;
  END IF;
  rows_per_table := jsonb_build_object(%4$L, marked);
  LOOP
    marked_this_pass := 0;%5$s
    EXIT WHEN %6$s OR marked_this_pass = 0;
  END LOOP;
  RETURN rows_per_table;
END
$walk$$f$,
    deletion.soft_delete_walk_name(target), root_statements[1], root_statements[2], target::text, coalesce(edges, ''), CASE WHEN in_cycle THEN 'false' ELSE 'true' END);
END
$generate$;
COMMENT ON FUNCTION deletion.soft_delete_walk_statement(regclass) IS 'The CREATE FUNCTION statement of the soft-delete walk generated for one table.';

-- The comment every generated walk starts with: how the wiring (and deletion-kit migrate, which
-- keeps them when it replaces the engine's code) tells them from the modules' functions.
CREATE OR REPLACE FUNCTION deletion.generated_walk_marker()
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
  SELECT 'generated by deletion.wire_soft_delete:'::text
$$;
COMMENT ON FUNCTION deletion.generated_walk_marker() IS 'The prefix of the comment of every generated soft-delete walk.';

-- The comment a table's generated walk carries: the marker, and a digest of the statement that
-- writes it from the catalog as it is now (deletion.wiring_stamp, as for wired triggers).
CREATE OR REPLACE FUNCTION deletion.soft_delete_walk_stamp(target regclass, statement text)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT deletion.wiring_stamp(statement, format('%s soft-delete walk of %s', deletion.generated_walk_marker(), target))
$$;
COMMENT ON FUNCTION deletion.soft_delete_walk_stamp(regclass, text) IS 'The comment of a table''s generated soft-delete walk: the marker and a digest of its statement.';

-- Whether a table's generated walk is there and written for the catalog as it is now (what the
-- wiring would write is what it has). Read by the wiring and by the lint rule wiring_differs, which
-- runs as the caller: SECURITY DEFINER so the caller needs no EXECUTE on the walk's internals; it
-- reads only the catalog (which every role may read) and answers yes or no.
CREATE OR REPLACE FUNCTION deletion.soft_delete_walk_is_current(target regclass)
RETURNS boolean
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
  SELECT coalesce(obj_description(deletion.soft_delete_walk_of(target), 'pg_proc')
                  = deletion.soft_delete_walk_stamp(target, deletion.soft_delete_walk_statement(target)), false)
$$;
COMMENT ON FUNCTION deletion.soft_delete_walk_is_current(regclass) IS 'Whether a soft-delete table''s generated walk exists and matches the catalog as it is now.';

-- Creates or replaces one table's generated walk, only when its statement changed (a rewire that
-- changes nothing runs no DDL). Owned by deletion_owner like every engine function, and nobody may
-- execute it: deletion.soft_delete_rows, which runs as deletion_owner, is its only caller.
CREATE OR REPLACE FUNCTION deletion.ensure_soft_delete_walk(target regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  statement text;
  walk regprocedure;
BEGIN
  IF deletion.soft_delete_walk_is_current(target) THEN
    RETURN;
  END IF;
  statement := deletion.soft_delete_walk_statement(target);
  EXECUTE statement;
  walk := deletion.soft_delete_walk_of(target);
  PERFORM deletion.adopt_generated_function(walk, deletion.soft_delete_walk_stamp(target, statement));
END
$$;
COMMENT ON FUNCTION deletion.ensure_soft_delete_walk(regclass) IS 'Creates or replaces a soft-delete table''s generated walk when its definition changed (owner deletion_owner, EXECUTE to nobody).';

-- After a wiring of the tables `changed`: writes again the walks that can have changed with them,
-- their own and those of the soft-delete tables from which a chain of ON DELETE CASCADE keys reaches
-- one of them or one of their partitions (whatever tables the chain passes through, so a table that
-- stopped being a soft-delete table counts too), each once, and drops the generated walks of tables
-- that are no soft-delete tables any more (turned off, renamed, dropped). Called once a wiring, not
-- once a table: by deletion.rewire_tables and deletion.wire after their tables' wiring, and by
-- enable_soft_delete and disable_soft_delete.
DROP FUNCTION IF EXISTS deletion.regenerate_soft_delete_walks(regclass);
CREATE OR REPLACE FUNCTION deletion.regenerate_soft_delete_walks(changed regclass[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  soft regclass[];
  target regclass;
  walk regprocedure;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'deletion.table_policies'::regclass AND attname = 'soft_delete') THEN
    RETURN;  -- migrated down below 0010: soft delete is not installed
  END IF;
  soft := ARRAY(SELECT deletion.soft_delete_tables());
  FOR target IN
    WITH RECURSIVE reaching (rel) AS (
      SELECT c::oid FROM unnest(changed) c
      UNION
      SELECT k.confrelid
        FROM reaching r
       CROSS JOIN LATERAL (SELECT r.rel UNION SELECT pt.relid FROM pg_partition_tree(r.rel::regclass) pt) AS t(rel)  -- a key may be a partition's
        JOIN pg_constraint k ON k.conrelid = t.rel
       WHERE k.contype = 'f' AND k.confdeltype = 'c'
    )
    SELECT rel::regclass FROM reaching WHERE rel::regclass = ANY (soft) ORDER BY 1
  LOOP
    PERFORM deletion.ensure_soft_delete_walk(target);
  END LOOP;
  FOR walk IN
    SELECT p.oid::regprocedure
      FROM pg_proc p
     WHERE p.pronamespace = 'deletion'::regnamespace AND p.proname LIKE 'soft\_delete\_walk\_%\_%'
       AND starts_with(coalesce(obj_description(p.oid, 'pg_proc'), ''), deletion.generated_walk_marker())
       AND p.proname NOT IN (SELECT deletion.soft_delete_walk_name(s) FROM unnest(soft) s)
  LOOP
    EXECUTE format('DROP FUNCTION %s', walk);
  END LOOP;
END
$$;
COMMENT ON FUNCTION deletion.regenerate_soft_delete_walks(regclass[]) IS 'After a wiring of some tables: writes again, once each, the generated soft-delete walks it can have changed (theirs, and those of the soft-delete tables whose cascade reaches them) and drops those of tables no longer soft-delete tables.';

REVOKE EXECUTE ON FUNCTION deletion.soft_delete_walk_name(regclass), deletion.soft_delete_walk_of(regclass),
                           deletion.soft_delete_walk_statement(regclass), deletion.generated_walk_marker(),
                           deletion.soft_delete_walk_stamp(regclass, text), deletion.soft_delete_walk_is_current(regclass),
                           deletion.ensure_soft_delete_walk(regclass), deletion.regenerate_soft_delete_walks(regclass[])
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION deletion.soft_delete_walk_is_current(regclass) TO deletion_app, deletion_admin;

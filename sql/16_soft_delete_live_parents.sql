-- Soft delete, part 7: no new row under a deleted one. A foreign key's check sees every row of the
-- parent table, deleted ones included (PostgreSQL's referential checks ignore row-level security), so
-- without this a client could insert a comment under a soft-deleted issue, and a restore, a purge or
-- a deletion job would then meet a row that was never part of the operation it is undoing or
-- finishing. So, on every registered table with foreign keys into soft-delete tables:
--   deletion_05_live_parent         AFTER INSERT, per statement, over the inserted rows: refuses the
--                                   statement when any row references a soft-deleted parent
--   deletion_05_live_parent_update  BEFORE UPDATE OF the foreign-key columns, per row: the same for a
--                                   row moved under a deleted parent. Its function is generated for
--                                   the table (below), with the key columns written in, so that the
--                                   trigger carries no condition and no arguments: PostgreSQL copies
--                                   every trigger of a table, its WHEN text and arguments included, at
--                                   the start of every statement on it, and a foreign key's cascade
--                                   starts one statement per parent row it deletes.
-- The refusal looks like the foreign key's own (23503, "is not present in table"), so to a role that
-- may not see deleted rows a deleted parent and a missing one look alike; an admin is told that the
-- parent is soft-deleted, and by which operation. The check locks the parents FOR SHARE before it
-- reads them: a soft delete of one of them that comes later waits for the inserting transaction, and
-- its cascade then finds the new row; one that came first, and has not committed yet, makes the check
-- wait, and the check then sees the parent deleted and refuses the row. Rows that already reference
-- a parent when it is soft-deleted are untouched, and the engine's own writes (restore, audit
-- restore, a job's chunks: the role deletion_owner, and superusers) are not checked: the triggers'
-- WHEN clause (deletion.acts_with_engine_rights, sql/04_caller_predicates.sql) lets them through
-- without a call of the check.
-- A root that a deletion job will hard-delete later is not hidden, and rows may still be added under
-- it until the job runs; the job takes them with the tree (docs/jobs.md).

-- The foreign keys of a table into soft-delete tables, with their column lists: what the triggers
-- check. The wiring passes the constraint names as trigger arguments; their columns are read here.
-- On a partitioned table, also the keys declared on one of its partitions only (as Pagila's payment
-- declares its keys on each month): the check applies them to the rows of that partition.
CREATE OR REPLACE FUNCTION deletion.live_parent_keys(child regclass)
RETURNS TABLE (constraint_name name, parent regclass, child_columns name[], parent_columns name[])
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT con.conname, con.confrelid::regclass,
         ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
                 JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord),
         ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
                 JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.ord)
    FROM pg_constraint con
   WHERE con.contype = 'f' AND con.conparentid = 0
     AND (con.conrelid = child OR con.conrelid IN (SELECT p.relid FROM pg_partition_tree(child) p WHERE p.relid <> child))
     AND con.confrelid IN (SELECT t FROM deletion.soft_delete_tables() t)
   ORDER BY con.conname
$$;
COMMENT ON FUNCTION deletion.live_parent_keys(regclass) IS 'The foreign keys of a table that reference soft-delete tables, with their columns (what deletion_05_live_parent checks).';

-- The two statements that check one foreign key of the new rows in `source` (the trigger's
-- transition table, or the one-row relation of an updated row, $1): the first offending row and its
-- parent's operation, and the lock on the parents that are active. Built by the trigger function and
-- run there, where the transition table is visible.
CREATE OR REPLACE FUNCTION deletion.live_parent_checks(fk record, source text, OUT find_deleted text, OUT lock_active text)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
BEGIN
  find_deleted := format('SELECT to_jsonb(n), p.deletion_op FROM %1$s n JOIN %2$s p ON %3$s WHERE p.deleted_at IS NOT NULL LIMIT 1',
                         source, fk.parent, deletion.columns_equal('n', fk.child_columns, 'p', fk.parent_columns));
  lock_active := format('SELECT count(*) FROM (SELECT 1 FROM %1$s p WHERE (%2$s) IN (SELECT %3$s FROM %4$s n) FOR SHARE OF p) locked',
                        fk.parent, deletion.column_list('p', fk.parent_columns), deletion.column_list('n', fk.child_columns), source);
END
$$;
COMMENT ON FUNCTION deletion.live_parent_checks(record, text) IS 'The statements that find a new row under a soft-deleted parent, and lock the active parents FOR SHARE, for one foreign key.';

-- The refusal: the foreign key's own words to a role that may not see deleted rows; an admin (the
-- calling role) is told the parent is soft-deleted, which key, and by which operation.
CREATE OR REPLACE FUNCTION deletion.refuse_deleted_parent(child regclass, fk record, offending jsonb, parent_op uuid)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  key_values text := (SELECT string_agg(offending ->> c, ', ' ORDER BY n) FROM unnest(fk.child_columns) WITH ORDINALITY AS u(c, n));
BEGIN
  IF deletion.caller_is_admin() THEN
    RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%"', child::text, fk.constraint_name
      USING ERRCODE = '23503',
            DETAIL = format('Key (%s)=(%s) refers to a soft-deleted row of table "%s" (operation %s).',
                            array_to_string(fk.child_columns, ', '), key_values, fk.parent::text, parent_op),
            HINT = format('restore the parent first: SELECT deletion.restore(%L::uuid)', parent_op);
  END IF;
  -- Word for word what PostgreSQL says when the parent is missing and row-level security is on (as
  -- it is on every soft-delete table): table names unqualified, key values left out.
  RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%"',
                  (SELECT relname FROM pg_class WHERE oid = child), fk.constraint_name
    USING ERRCODE = '23503',
          DETAIL = format('Key is not present in table "%s".', (SELECT relname FROM pg_class WHERE oid = fk.parent));
END
$$;
COMMENT ON FUNCTION deletion.refuse_deleted_parent(regclass, record, jsonb, uuid) IS 'Raises the 23503 of a new row under a soft-deleted parent (worded as a missing parent for non-admins).';

-- The checks of the foreign keys named `key_names` of a table (the trigger's TG_RELID) over the new
-- rows in `source`, one row per key: the key, and its two statements (deletion.live_parent_checks).
-- On a partition (a copy of its parent's trigger) the keys are the registered parent's. A key
-- declared on one partition only (declared_on) checks the rows of that partition: all of them when
-- the trigger fired on it (or below it), those found in it when it fired on an ancestor (an INSERT
-- through the parent, whose transition table holds the rows of every partition), none elsewhere.
CREATE OR REPLACE FUNCTION deletion.live_parent_statements(relid oid, key_names name[], source text)
RETURNS TABLE (constraint_name name, parent regclass, child_columns name[], parent_columns name[], find_deleted text, lock_active text)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
  registered regclass := coalesce(deletion.registered_table_of(relid), relid::regclass);
  fk record;
  checks record;
BEGIN
  FOR fk IN SELECT k.*, con.conrelid AS declared_on
              FROM deletion.live_parent_keys(registered) k
              JOIN pg_constraint con ON con.contype = 'f' AND con.conname = k.constraint_name AND con.conparentid = 0
               AND con.confrelid = k.parent
               AND (con.conrelid = registered OR con.conrelid IN (SELECT p.relid FROM pg_partition_tree(registered) p))
             WHERE k.constraint_name = ANY (key_names) LOOP
    CONTINUE WHEN fk.declared_on <> relid
              AND fk.declared_on NOT IN (SELECT a.relid FROM pg_partition_ancestors(relid) a)
              AND relid NOT IN (SELECT a.relid FROM pg_partition_ancestors(fk.declared_on) a);
    IF fk.declared_on <> relid AND relid IN (SELECT a.relid FROM pg_partition_ancestors(fk.declared_on) a) THEN
      checks := deletion.live_parent_checks(fk, format('(SELECT * FROM %s n0 WHERE (%s) IN (SELECT %s FROM %s))', source,
                  deletion.column_list('n0', ARRAY(SELECT k.column_name FROM deletion.primary_key_columns(relid::regclass) k)),
                  deletion.column_list(NULL, ARRAY(SELECT k.column_name FROM deletion.primary_key_columns(relid::regclass) k)),
                  fk.declared_on::regclass));
    ELSE
      checks := deletion.live_parent_checks(fk, source);
    END IF;
    constraint_name := fk.constraint_name;
    parent := fk.parent;
    child_columns := fk.child_columns;
    parent_columns := fk.parent_columns;
    find_deleted := checks.find_deleted;
    lock_active := checks.lock_active;
    RETURN NEXT;
  END LOOP;
END
$$;
COMMENT ON FUNCTION deletion.live_parent_statements(oid, name[], text) IS 'The foreign keys a live-parent check applies to a table''s new rows, each with the statements that check it.';

-- Runs the checks of one updated row (its new image, `new_row`), for the table's generated update
-- trigger function. The parents are locked first and read after: a soft delete of one of them that
-- is under way (its UPDATE done, not yet committed) makes the lock wait, and the read that follows,
-- a statement of its own, sees it committed. Read first, the parent would still look active, and the
-- row would go in under a row deleted a moment later, outside its operation.
CREATE OR REPLACE FUNCTION deletion.check_live_parents_of_row(relid oid, key_names name[], new_row jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  fk record;
  offending jsonb;
  parent_op uuid;
BEGIN
  FOR fk IN SELECT * FROM deletion.live_parent_statements(relid, key_names, format('jsonb_populate_record(NULL::%s, $1)', relid::regclass)) LOOP
    EXECUTE fk.lock_active USING new_row;
    EXECUTE fk.find_deleted INTO offending, parent_op USING new_row;
    IF offending IS NOT NULL THEN
      PERFORM deletion.refuse_deleted_parent(relid::regclass, fk, offending, parent_op);
    END IF;
  END LOOP;
END
$$;
COMMENT ON FUNCTION deletion.check_live_parents_of_row(oid, name[], jsonb) IS 'Refuses (23503) an updated row whose changed foreign keys reference soft-deleted parents; called by the generated update trigger functions.';

-- The trigger function of the INSERT trigger: per statement, it checks the inserted rows (transition
-- table new_rows). Arguments: the names of the foreign keys to check. SECURITY DEFINER: it must see
-- deleted parents, which the writing role may not. The checks run here, not in a helper, because a
-- transition table is visible only to the trigger function itself. (It also checks the row of a
-- BEFORE UPDATE trigger, as the update trigger's function did before it was generated for each
-- table: a trigger wired by an older version keeps working until the table is wired again.)
CREATE OR REPLACE FUNCTION deletion.live_parent_check()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  fk record;
  offending jsonb;
  parent_op uuid;
BEGIN
  PERFORM deletion.require_engine_trigger(TG_RELID, TG_NAME, 'deletion.live_parent_check'::regproc);
  IF TG_OP = 'UPDATE' THEN
    PERFORM deletion.check_live_parents_of_row(TG_RELID, TG_ARGV::name[], to_jsonb(NEW));
    RETURN NEW;
  END IF;
  -- The parents are locked first and read after (deletion.check_live_parents_of_row says why).
  FOR fk IN SELECT * FROM deletion.live_parent_statements(TG_RELID, TG_ARGV::name[], 'new_rows') LOOP
    EXECUTE fk.lock_active;
    EXECUTE fk.find_deleted INTO offending, parent_op;
    IF offending IS NOT NULL THEN
      PERFORM deletion.refuse_deleted_parent(TG_RELID, fk, offending, parent_op);
    END IF;
  END LOOP;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION deletion.live_parent_check() IS 'Trigger deletion_05_live_parent (after INSERT, per statement): refuses rows that reference a soft-delete parent (23503).';

-- The name of a table's generated update trigger function: 'live_parent_update_<table>_<digest>'
-- (deletion.generated_function_name, at most 63 bytes).
CREATE OR REPLACE FUNCTION deletion.live_parent_update_name(target regclass)
RETURNS name
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT deletion.generated_function_name(target, 'live_parent_update')
$$;
COMMENT ON FUNCTION deletion.live_parent_update_name(regclass) IS 'The name (in schema deletion) of the live-parent update trigger function generated for a table.';

-- The comment every generated update trigger function starts with: how the wiring (and
-- deletion-kit migrate, which keeps them when it replaces the engine's code) tells them from the
-- modules' functions.
CREATE OR REPLACE FUNCTION deletion.generated_live_parent_marker()
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
  SELECT 'generated by deletion.wire_live_parents:'::text
$$;
COMMENT ON FUNCTION deletion.generated_live_parent_marker() IS 'The prefix of the comment of every generated live-parent update trigger function.';

-- The CREATE FUNCTION statement of a table's update trigger function, for its foreign keys into
-- soft-delete tables. A key is checked only when it moved: all its columns hold a value (a key with
-- a NULL column references no row, so the SET NULL actions of a hard delete check nothing) and one
-- of them changed (a key left as it was was checked when it was set, so an ORM's UPDATE that writes
-- every column back passes, and so does a row moved by one key while another names a parent deleted
-- after the row was written). The first test, over the columns, lets through at once an update that
-- moved no key. The trigger's WHEN clause has already let the engine's own writes through (as the
-- caller: this function runs as its owner). SECURITY DEFINER, as deletion.live_parent_check: the
-- check must see deleted parents; it runs only from the engine's trigger
-- (deletion.require_engine_trigger).
CREATE OR REPLACE FUNCTION deletion.live_parent_update_statement(target regclass)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $statement$
  SELECT format($f$CREATE OR REPLACE FUNCTION deletion.%1$I()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $body$
DECLARE
  moved name[];
BEGIN
  -- the trigger of %2$s
  IF %3$s THEN
    RETURN NEW;
  END IF;
  moved := array_remove(ARRAY[%4$s]::name[], NULL);
  IF moved = '{}' THEN
    RETURN NEW;
  END IF;
  PERFORM deletion.require_engine_trigger(TG_RELID, TG_NAME, 'deletion.%1$I'::regproc);
  PERFORM deletion.check_live_parents_of_row(TG_RELID, moved, to_jsonb(NEW));
  RETURN NEW;
END
$body$$f$,
    deletion.live_parent_update_name(target), target,
    (SELECT string_agg(format('(new.%1$I IS NULL OR new.%1$I IS NOT DISTINCT FROM old.%1$I)', c), E'\n     AND ' ORDER BY c)
       FROM (SELECT DISTINCT c FROM deletion.live_parent_keys(target) k, unnest(k.child_columns) c) cols),
    (SELECT string_agg(format(E'\n    CASE WHEN %s AND (%s) IS DISTINCT FROM (%s) THEN %L END',
                              (SELECT string_agg(format('new.%I IS NOT NULL', c), ' AND ') FROM unnest(k.child_columns) c),
                              deletion.column_list('new', k.child_columns), deletion.column_list('old', k.child_columns), k.constraint_name),
                       ',' ORDER BY k.constraint_name)
       FROM deletion.live_parent_keys(target) k))
$statement$;
COMMENT ON FUNCTION deletion.live_parent_update_statement(regclass) IS 'The CREATE FUNCTION statement of the live-parent update trigger function generated for one table.';

-- Creates or replaces a table's generated update trigger function, only when its statement changed
-- (a digest in its comment: a rewire that changes nothing runs no DDL). Owned by deletion_owner like
-- every engine function, and nobody may execute it: a trigger needs no EXECUTE to fire, only to be
-- created. Returns the function.
CREATE OR REPLACE FUNCTION deletion.ensure_live_parent_update_function(target regclass)
RETURNS regprocedure
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  statement text := deletion.live_parent_update_statement(target);
BEGIN
  RETURN deletion.ensure_generated_function(
    format('deletion.%I()', deletion.live_parent_update_name(target)), statement,
    deletion.wiring_stamp(statement, format('%s live-parent update check of %s', deletion.generated_live_parent_marker(), target)));
END
$$;
COMMENT ON FUNCTION deletion.ensure_live_parent_update_function(regclass) IS 'Creates or replaces a table''s generated live-parent update trigger function when its definition changed (owner deletion_owner, EXECUTE to nobody).';

-- The per-table wiring: both triggers when the table has foreign keys into soft-delete tables, none
-- otherwise. Called by deletion.rewire() for every registered table, and for the tables that
-- reference a table whose soft delete is turned on or off.
CREATE OR REPLACE FUNCTION deletion.wire_live_parents(target regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  key_names text;
  fk_columns name[];
  wanted_insert text;
  wanted_update text;
  changed boolean;
BEGIN
  IF deletion.policy_of(target) IS NULL AND (SELECT relispartition FROM pg_class WHERE oid = target) THEN
    RETURN;  -- a partition is wired through its parent (sql/03_partitions.sql)
  END IF;
  IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'deletion.table_policies'::regclass AND attname = 'soft_delete')
     OR deletion.policy_of(target) IS NULL THEN
    key_names := NULL;
  ELSE
    SELECT string_agg(quote_literal(k.constraint_name), ', ' ORDER BY k.constraint_name),
           ARRAY(SELECT DISTINCT c FROM deletion.live_parent_keys(target) k2, unnest(k2.child_columns) c ORDER BY c)
      INTO key_names, fk_columns
      FROM deletion.live_parent_keys(target) k;
  END IF;
  IF key_names IS NULL THEN
    changed := deletion.ensure_trigger(target, 'deletion_05_live_parent', NULL);
    changed := deletion.ensure_trigger(target, 'deletion_05_live_parent_update', NULL) OR changed;
  ELSE
    wanted_insert := format('CREATE TRIGGER deletion_05_live_parent AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows '
                            'FOR EACH STATEMENT WHEN (NOT deletion.acts_with_engine_rights()) '
                            'EXECUTE FUNCTION deletion.live_parent_check(%s)', target, key_names);
    -- The update trigger's WHEN is the one test that must run as the writing role; the function,
    -- generated for the table, compares the key columns (the statement header says why).
    wanted_update := format('CREATE TRIGGER deletion_05_live_parent_update BEFORE UPDATE OF %s ON %s FOR EACH ROW '
                            'WHEN (NOT deletion.acts_with_engine_rights()) EXECUTE FUNCTION %s',
                            deletion.column_list(NULL, fk_columns), target,
                            deletion.ensure_live_parent_update_function(target));
    -- (deletion.ensure_trigger: no DDL and no lock when the triggers are already as wanted.)
    changed := deletion.ensure_trigger(target, 'deletion_05_live_parent', wanted_insert);
    changed := deletion.ensure_trigger(target, 'deletion_05_live_parent_update', wanted_update) OR changed;
  END IF;
  PERFORM deletion.drop_unused_generated_functions('deletion', 'live\_parent\_update\_%\_%', deletion.generated_live_parent_marker());
  -- A partitioned table's statement trigger reaches its partitions only as copies: when a parent
  -- table's soft delete changed this table's checks (enable_soft_delete of the parent rewires its
  -- referencing tables), the copies follow at once.
  IF changed AND (SELECT relkind FROM pg_class WHERE oid = target) = 'p' THEN
    PERFORM deletion.wire_partitions(target);
  END IF;
END
$$;
COMMENT ON FUNCTION deletion.wire_live_parents(regclass) IS 'Installs (or removes) the triggers that refuse new rows under soft-deleted parents on one table (idempotent; called by deletion.rewire()).';

-- The tables whose rows reference the given table: rewired when its soft delete is turned on or off.
CREATE OR REPLACE FUNCTION deletion.referencing_tables(parent regclass)
RETURNS SETOF regclass
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT DISTINCT coalesce(deletion.registered_table_of(con.conrelid), con.conrelid::regclass) FROM pg_constraint con
   WHERE con.contype = 'f' AND con.confrelid = parent AND con.conparentid = 0
$$;
COMMENT ON FUNCTION deletion.referencing_tables(regclass) IS 'The tables with a foreign key to the given table (a partition that declares one: its registered partitioned table).';

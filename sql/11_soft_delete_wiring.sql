-- Soft delete, part 2: the wiring of one table. deletion.wire_soft_delete(target) makes a table match
-- its registry row, idempotently; deletion.rewire() calls it for every registered table after each
-- migrate, and deletion.enable_soft_delete() / disable_soft_delete() change the row and call it.
--
-- A soft-delete table gets:
--   columns   deleted_at timestamptz, deleted_by text (or a type of the product's own, such as
--             bigint or uuid, when the column exists), deletion_reason text, deletion_op uuid
--   indexes   <table>_active_idx (primary key, WHERE deleted_at IS NULL): active-row scans and counts;
--             <table>_deleted_at_idx (deleted_at, WHERE deleted_at IS NOT NULL): trash, purge cutoff;
--             <table>_deletion_op_idx (deletion_op, WHERE deletion_op IS NOT NULL): cascade and restore
--   uniques   every unique constraint or index holds among active rows only, so a deleted row never
--             blocks a new one: a key with a text column stays a plain UNIQUE (name and all) and a
--             deleted row's value steps aside (a suffix; restore puts it back); any other key is
--             made partial (... WHERE deleted_at IS NULL); the ones that can be neither (referenced
--             by a foreign key, deferrable, partial on something else) are refused by name (PD102)
--   security  row-level security that hides deleted rows from every role but the engine's own
--             (deletion_owner), deletion_restorer (while a session acts as it) and those that bypass
--             RLS, except from the transaction that deleted them, and refuses new rows that carry a
--             deletion:
--             a permissive policy admitting active rows when the table has no permissive policy of
--             its own (RLS then changes nothing but deleted-row visibility), a restrictive one when it
--             has; the engine's access (deletion.wire_engine_access) lets deletion_owner through
--   triggers  deletion_20_soft_delete         BEFORE DELETE, per row: a plain DELETE becomes a soft
--                                             delete (only when delete_becomes_soft), or is refused
--                                             (PD104) when the registry says plain_delete = refuse
--             deletion_20_soft_delete_update  BEFORE UPDATE OF deleted_at, per row: UPDATE ... SET
--                                             deleted_at = now() becomes a soft delete with cascade
--             deletion_20_restore_update      BEFORE UPDATE OF deleted_at, per row: UPDATE ... SET
--                                             deleted_at = NULL (deletion_restorer) restores the
--                                             row's operation (not for the engine's own restore)
--             deletion_20_soft_delete_flush   AFTER UPDATE OF deleted_at (and DELETE where a DELETE
--                                             becomes a soft delete), per statement: soft-deletes what
--                                             the row triggers collected, set-based, as one operation
-- Turning soft delete off removes the triggers and policies (and RLS when we turned it on); the
-- columns, their data and the indexes stay, so no deletion record is ever lost by a setting.

-- The names of our objects on a table, derived once so wiring and unwiring agree.
CREATE OR REPLACE FUNCTION deletion.soft_delete_index_name(target regclass, suffix text)
RETURNS name
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT format('%s_%s', left(relname, 63 - length(suffix) - 1), suffix)::name FROM pg_class WHERE oid = target
$$;
COMMENT ON FUNCTION deletion.soft_delete_index_name(regclass, text) IS 'The name of one of the soft-delete indexes of a table (<table>_<suffix>, cut to fit 63 bytes).';

-- The SET list that stamps a row as soft-deleted: $1 the time, $2 the actor (text, cast to the type
-- of the table's own deleted_by column), $3 the reason, $4 the operation.
CREATE OR REPLACE FUNCTION deletion.soft_delete_stamp(target regclass)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT format('deleted_at = $1, deleted_by = $2::%s, deletion_reason = $3, deletion_op = $4',
                coalesce((SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
                           WHERE a.attrelid = target AND a.attname = 'deleted_by' AND NOT a.attisdropped), 'text'))
$$;

COMMENT ON FUNCTION deletion.soft_delete_stamp(regclass) IS 'The SET list that stamps a row as soft-deleted (actor cast to the table''s own deleted_by type).';

-- The column of a unique index whose value a deleted row can step aside, with its length limit:
-- the first key column of a string type (text, varchar, citext; not char(n), which pads) that is part
-- of no foreign key of the table (changing it would break or move a reference), long enough for the
-- suffix (24 characters or more). NULL when the index has none, is on an expression, or is referenced
-- by a foreign key (a referenced value must never change); such keys become partial instead.
CREATE OR REPLACE FUNCTION deletion.step_aside_column(unique_index regclass, OUT column_name name, OUT max_length integer)
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT a.attname, CASE WHEN a.atttypmod > 4 THEN a.atttypmod - 4 END
    FROM pg_index i
    JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) ON k.ord <= i.indnkeyatts
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
    JOIN pg_type ty ON ty.oid = a.atttypid
   WHERE i.indexrelid = unique_index
     AND NOT (0 = ANY (i.indkey::int2[]))
     AND NOT EXISTS (SELECT FROM pg_constraint fk WHERE fk.contype = 'f' AND fk.conindid = i.indexrelid)
     AND ty.typcategory = 'S' AND ty.typname NOT IN ('bpchar', 'name', 'char')
     AND NOT EXISTS (SELECT FROM pg_constraint fk WHERE fk.contype = 'f' AND fk.conrelid = i.indrelid AND a.attnum = ANY (fk.conkey))
     AND (a.atttypmod = -1 OR a.atttypmod - 4 >= 24)
   ORDER BY k.ord
   LIMIT 1
$$;
COMMENT ON FUNCTION deletion.step_aside_column(regclass) IS 'The text column of a unique index whose value a soft-deleted row steps aside (NULL: the key cannot step aside and becomes partial).';

-- Makes the table's unique keys hold among active rows only, one of two ways (the registry's
-- unique_keys), and records which:
--   step aside  a key with a text column (deletion.step_aside_column) stays a plain UNIQUE constraint
--               or index, its name too; a soft-deleted row's value of that column gets a suffix (the
--               original is kept for restore), so INSERT ... ON CONFLICT (the key) and ON CONFLICT ON
--               CONSTRAINT <its name> work and a key held only by a deleted row behaves as absent.
--               A key an earlier version made partial is put back (deleted rows step aside first);
--   partial     any other key becomes a partial unique index (... WHERE deleted_at IS NULL): an upsert
--               on it must name the predicate (lint says so, docs/clients.md says how per ORM). The
--               original definition is recorded so it can be put back. Keys that cannot be partial
--               (referenced by a foreign key, deferrable, partial on something else) are refused by
--               name (PD102) and nothing changes.
CREATE OR REPLACE FUNCTION deletion.soft_delete_convert_uniques(target regclass)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  u record;
  blockers text[] := '{}';
  converted integer := 0;
  can_step boolean := to_regclass('deletion.soft_delete_step_aside') IS NOT NULL
                      AND (SELECT to_jsonb(tp) ->> 'unique_keys' FROM deletion.policy_of(target) tp) = 'step_aside';
  schema_name name := (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = target);
  rel_name name := (SELECT relname FROM pg_class WHERE oid = target);
  step record;
  -- A partitioned table's keys: its own (which its partitions inherit) and those a partition declares
  -- alone (an index with no parent index), which must hold among active rows too.
  tree oid[] := ARRAY(SELECT p.relid FROM pg_partition_tree(target) p);
BEGIN
  IF to_regclass('deletion.soft_delete_step_aside') IS NOT NULL THEN
    DELETE FROM deletion.soft_delete_step_aside sa WHERE sa.table_schema = schema_name AND sa.table_name = rel_name;
  END IF;
  FOR u IN
    SELECT i.indexrelid, ic.relname AS index_name, n.nspname, t.relname AS table_name, con.oid AS con_oid,
           con.conname, con.condeferrable, i.indpred IS NOT NULL AS partial,
           coalesce(pg_get_expr(i.indpred, i.indrelid), '') AS predicate,
           (SELECT string_agg(format('%s.%s', fk.conrelid::regclass, fk.conname), ', ')
              FROM pg_constraint fk WHERE fk.contype = 'f' AND fk.conindid = i.indexrelid) AS referenced_by,
           (can_step AND NOT con.condeferrable IS TRUE AND (SELECT sc.column_name FROM deletion.step_aside_column(i.indexrelid) sc) IS NOT NULL) AS steps
      FROM pg_index i
      JOIN pg_class ic ON ic.oid = i.indexrelid
      JOIN pg_class t ON t.oid = i.indrelid
      JOIN pg_namespace n ON n.oid = t.relnamespace
      LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.contype = 'u' AND con.conrelid = i.indrelid
     WHERE (i.indrelid = target OR (i.indrelid = ANY (tree) AND NOT EXISTS (SELECT FROM pg_inherits h WHERE h.inhrelid = i.indexrelid))) AND i.indisunique AND NOT i.indisprimary
       AND NOT (i.indpred IS NOT NULL AND pg_get_expr(i.indpred, i.indrelid) ~ '\mdeleted_at IS NULL\M')
  LOOP
    IF u.steps AND NOT u.partial THEN
      CONTINUE;
    ELSIF u.referenced_by IS NOT NULL THEN
      blockers := blockers || format('%s is referenced by foreign key %s (a foreign key needs a unique key over all rows)', u.index_name, u.referenced_by);
    ELSIF u.condeferrable THEN
      blockers := blockers || format('%s is deferrable (a partial unique index cannot be)', u.index_name);
    ELSIF u.partial THEN
      blockers := blockers || format('%s is already partial (WHERE %s); add "deleted_at IS NULL" to its predicate yourself', u.index_name, u.predicate);
    END IF;
  END LOOP;
  IF cardinality(blockers) > 0 THEN
    RAISE EXCEPTION 'soft delete on % needs its unique keys to hold among active rows only, and these cannot be converted: %',
                    target, array_to_string(blockers, '; ')
      USING ERRCODE = 'PD102',
            HINT = 'replace each by a unique index ... WHERE deleted_at IS NULL (or drop it), then enable soft delete again';
  END IF;

  -- Keys an earlier version made partial that can step aside now: deleted rows step aside, then the
  -- original constraint (its name) comes back.
  IF can_step THEN
    FOR u IN
      SELECT i.indexrelid, ic.relname AS index_name, n.nspname, cv.original
        FROM pg_index i
        JOIN pg_class ic ON ic.oid = i.indexrelid
        JOIN pg_namespace n ON n.oid = ic.relnamespace
        JOIN deletion.soft_delete_unique_conversions cv
          ON cv.table_schema = schema_name AND cv.table_name = rel_name AND cv.index_name = ic.relname
       WHERE (i.indrelid = target OR (i.indrelid = ANY (tree) AND NOT EXISTS (SELECT FROM pg_inherits h WHERE h.inhrelid = i.indexrelid))) AND i.indisunique AND NOT i.indisprimary
         AND pg_get_expr(i.indpred, i.indrelid) ~ '\mdeleted_at IS NULL\M'
         AND (SELECT sc.column_name FROM deletion.step_aside_column(i.indexrelid) sc) IS NOT NULL
    LOOP
      SELECT * INTO step FROM deletion.step_aside_column(u.indexrelid);
      EXECUTE format('DROP INDEX %I.%I', u.nspname, u.index_name);
      INSERT INTO deletion.soft_delete_step_aside VALUES (schema_name, rel_name, u.index_name, step.column_name, step.max_length);
      PERFORM deletion.step_aside_deleted_rows(target, NULL);
      EXECUTE u.original;
      DELETE FROM deletion.soft_delete_unique_conversions cv
       WHERE cv.table_schema = schema_name AND cv.table_name = rel_name AND cv.index_name = u.index_name;
    END LOOP;
    INSERT INTO deletion.soft_delete_step_aside (table_schema, table_name, index_name, column_name, max_length)
    SELECT schema_name, rel_name, ic.relname, sc.column_name, sc.max_length
      FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid, deletion.step_aside_column(i.indexrelid) sc
     WHERE (i.indrelid = target OR (i.indrelid = ANY (tree) AND NOT EXISTS (SELECT FROM pg_inherits h WHERE h.inhrelid = i.indexrelid))) AND i.indisunique AND NOT i.indisprimary AND i.indpred IS NULL AND sc.column_name IS NOT NULL
       AND NOT EXISTS (SELECT FROM pg_constraint con WHERE con.conindid = i.indexrelid AND con.condeferrable)
    ON CONFLICT ON CONSTRAINT soft_delete_step_aside_pkey DO NOTHING;
  END IF;

  FOR u IN
    SELECT i.indexrelid, i.indrelid, ic.relname AS index_name, n.nspname, t.relname AS table_name, con.conname,
           CASE WHEN con.oid IS NOT NULL
                THEN format('ALTER TABLE %s ADD CONSTRAINT %I %s', i.indrelid::regclass, con.conname, pg_get_constraintdef(con.oid))
                ELSE pg_get_indexdef(i.indexrelid) END AS original,
           pg_get_indexdef(i.indexrelid) AS definition
      FROM pg_index i
      JOIN pg_class ic ON ic.oid = i.indexrelid
      JOIN pg_class t ON t.oid = i.indrelid
      JOIN pg_namespace n ON n.oid = t.relnamespace
      LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.contype = 'u' AND con.conrelid = i.indrelid
     WHERE (i.indrelid = target OR (i.indrelid = ANY (tree) AND NOT EXISTS (SELECT FROM pg_inherits h WHERE h.inhrelid = i.indexrelid))) AND i.indisunique AND NOT i.indisprimary AND i.indpred IS NULL
       AND NOT (can_step AND deletion.steps_aside(i.indexrelid))
  LOOP
    IF u.conname IS NOT NULL THEN
      EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', u.indrelid::regclass, u.conname);
    ELSE
      EXECUTE format('DROP INDEX %I.%I', u.nspname, u.index_name);
    END IF;
    EXECUTE u.definition || ' WHERE (deleted_at IS NULL)';
    INSERT INTO deletion.soft_delete_unique_conversions (table_schema, table_name, index_name, original)
    VALUES (u.nspname, u.table_name, u.index_name, u.original)
    ON CONFLICT (table_schema, table_name, index_name) DO UPDATE SET original = excluded.original;
    converted := converted + 1;
  END LOOP;
  RETURN converted;
END
$$;
COMMENT ON FUNCTION deletion.soft_delete_convert_uniques(regclass) IS 'Makes a soft-delete table''s unique keys hold among active rows only: plain UNIQUE whose deleted values step aside where a text column allows, partial otherwise; refuses naming each one that can be neither (PD102).';

-- The idempotent per-table wiring (see the top of this file). Called by deletion.rewire() for every
-- registered table, and by enable_soft_delete / disable_soft_delete.
CREATE OR REPLACE FUNCTION deletion.wire_soft_delete(target regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  policy deletion.table_policies := deletion.policy_of(target);
  -- plain_delete = 'refuse' (migration 0090): a plain DELETE is refused, never turned soft
  plain_delete_refused boolean := coalesce(to_jsonb(policy) ->> 'plain_delete' = 'refuse', false);
  key_columns name[] := ARRAY(SELECT column_name FROM deletion.primary_key_columns(target));
  key_args text;
  owner_oid oid := (SELECT relowner FROM pg_class WHERE oid = target);
  wrong text;
  has_own_permissive boolean;
  own_ops text;
  restorer text;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'deletion.table_policies'::regclass AND attname = 'soft_delete') THEN
    RETURN;  -- migrated down below 0010: soft delete is not installed
  END IF;
  IF policy.table_name IS NULL OR NOT policy.soft_delete THEN
    -- Off (or never on): remove the behaviour, keep the data and indexes. Tables that never had it
    -- are left alone (no DDL, so no lock on every registered table at every migrate).
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = target AND tgname LIKE 'deletion\_20\_soft\_delete%')
       AND NOT EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = target AND polname LIKE 'deletion\_20\_soft\_delete%') THEN
      RETURN;
    END IF;
    EXECUTE format('DROP TRIGGER IF EXISTS deletion_20_soft_delete ON %s', target);
    EXECUTE format('DROP TRIGGER IF EXISTS deletion_20_soft_delete_update ON %s', target);
    EXECUTE format('DROP TRIGGER IF EXISTS deletion_20_soft_delete_flush ON %s', target);
    IF EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = target
                  AND (polname = 'deletion_20_soft_delete_allow' OR (polname = 'deletion_20_soft_delete_hide' AND polpermissive))) THEN
      -- RLS was turned on for soft delete alone (the table has no policy of its own): turn it off.
      EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', target);
    END IF;
    EXECUTE format('DROP TRIGGER IF EXISTS deletion_20_restore_update ON %s', target);
    EXECUTE format('DROP POLICY IF EXISTS deletion_20_soft_delete_allow ON %s', target);
    EXECUTE format('DROP POLICY IF EXISTS deletion_20_soft_delete_hide ON %s', target);
    EXECUTE format('DROP POLICY IF EXISTS deletion_20_soft_delete_restorer ON %s', target);
    EXECUTE format('DROP POLICY IF EXISTS deletion_20_soft_delete_restore ON %s', target);
    RETURN;
  END IF;

  IF cardinality(key_columns) = 0 THEN
    RAISE EXCEPTION 'table % has no primary key, so its soft-deleted rows could not be named or restored', target
      USING ERRCODE = '42P10', HINT = 'add a primary key, then enable soft delete';
  END IF;

  -- Columns: added when missing; an existing column of that name must already have the right type
  -- (deleted_by may have any type: it holds the product's own user ids, cast from the actor).
  SELECT string_agg(format('%s is %s, not %s', a.attname, format_type(a.atttypid, a.atttypmod), want.type_name), '; ')
    INTO wrong
    FROM (VALUES ('deleted_at', 'timestamp with time zone'),
                 ('deletion_reason', 'text'), ('deletion_op', 'uuid')) AS want(column_name, type_name)
    JOIN pg_attribute a ON a.attrelid = target AND a.attname = want.column_name AND NOT a.attisdropped
   WHERE format_type(a.atttypid, a.atttypmod) <> want.type_name;
  IF wrong IS NOT NULL THEN
    RAISE EXCEPTION 'table % already has soft-delete columns of another type: %', target, wrong
      USING ERRCODE = '42804', HINT = 'rename or convert those columns, then enable soft delete';
  END IF;
  -- (Only when one is missing: ADD COLUMN IF NOT EXISTS takes ACCESS EXCLUSIVE even when all exist.)
  IF (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = target AND NOT a.attisdropped
         AND a.attname IN ('deleted_at', 'deleted_by', 'deletion_reason', 'deletion_op')) < 4 THEN
    EXECUTE format('ALTER TABLE %s ADD COLUMN IF NOT EXISTS deleted_at timestamptz, '
                   'ADD COLUMN IF NOT EXISTS deleted_by text, ADD COLUMN IF NOT EXISTS deletion_reason text, '
                   'ADD COLUMN IF NOT EXISTS deletion_op uuid', target);
    EXECUTE format('COMMENT ON COLUMN %s.deleted_at IS %L', target, 'When the row was soft-deleted (NULL: active). Set by deletion.soft_delete or a plain DELETE; cleared by deletion.restore.');
    EXECUTE format('COMMENT ON COLUMN %s.deleted_by IS %L', target, 'Who soft-deleted the row: the actor (SET LOCAL deletion.actor), cast to this column''s type.');
    EXECUTE format('COMMENT ON COLUMN %s.deletion_reason IS %L', target, 'Why the row was soft-deleted (the reason argument or SET LOCAL deletion.reason).');
    EXECUTE format('COMMENT ON COLUMN %s.deletion_op IS %L', target, 'The soft-delete operation that marked the row (deletion.soft_delete_operations.op); restore brings back exactly its rows.');
  END IF;

  -- Indexes (on a large table, built CONCURRENTLY after the migrating transaction: deletion.create_index).
  PERFORM deletion.create_index(target, deletion.soft_delete_index_name(target, 'active_idx'),
                                format('(%s) WHERE deleted_at IS NULL', deletion.column_list(NULL, key_columns)));
  PERFORM deletion.create_index(target, deletion.soft_delete_index_name(target, 'deleted_at_idx'), '(deleted_at) WHERE deleted_at IS NOT NULL');
  PERFORM deletion.create_index(target, deletion.soft_delete_index_name(target, 'deletion_op_idx'), '(deletion_op) WHERE deletion_op IS NOT NULL');

  -- Unique keys among active rows only.
  PERFORM deletion.soft_delete_convert_uniques(target);

  -- Row-level security. A table with no permissive policy of its own gets one permissive policy for
  -- everyone that admits active rows only, so the application's queries carry the plain predicate
  -- deleted_at IS NULL and the partial indexes serve them. A table with policies of its own gets a
  -- restrictive policy instead, which narrows whatever the product's policies allow. Either way the
  -- engine's role passes through its own permissive policy (deletion_00_engine, wire_engine_access):
  -- in the restrictive form, by the role test in the policy (a scalar subquery, evaluated once per
  -- statement, not per row).
  IF NOT (SELECT relrowsecurity FROM pg_class WHERE oid = target) THEN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', target);
  END IF;
  SELECT EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = target AND polpermissive AND polname NOT LIKE 'deletion\_%')
    INTO has_own_permissive;
  PERFORM deletion.ensure_policy(target, 'deletion_20_soft_delete_allow', NULL, NULL);  -- made by earlier versions
  -- Besides active rows, every role sees the rows its own statement soft-deleted (own_ops): the
  -- UPDATE that soft-deletes a row must still see the new row (PostgreSQL checks it against the
  -- SELECT policies) and RETURNING returns it. Such a row's operation id begins with the
  -- statement's identity (deletion.soft_delete_statement_op); the test (sql/04_caller_predicates.sql)
  -- runs only for deleted rows (deleted_at IS NULL is tested first).
  own_ops := 'deletion.soft_deleted_by_this_statement(deletion_op)';
  restorer := CASE WHEN to_regrole('deletion_restorer') IS NOT NULL
                   THEN '(SELECT current_user = ''deletion_restorer''::name)' ELSE 'false' END;
  PERFORM deletion.ensure_policy(target, 'deletion_20_soft_delete_hide',
    CASE WHEN has_own_permissive
         THEN format('CREATE POLICY deletion_20_soft_delete_hide ON %1$s AS RESTRICTIVE FOR ALL TO PUBLIC '
                     'USING (deleted_at IS NULL OR %2$s OR (SELECT pg_has_role(current_user, ''deletion_owner'', ''USAGE'')) OR %3$s) '
                     'WITH CHECK ((deleted_at IS NULL AND deletion_op IS NULL) OR %2$s OR (SELECT pg_has_role(current_user, ''deletion_owner'', ''USAGE'')))',
                     target, own_ops, restorer)
         ELSE format('CREATE POLICY deletion_20_soft_delete_hide ON %1$s AS PERMISSIVE FOR ALL TO PUBLIC '
                     'USING (deleted_at IS NULL OR %2$s) WITH CHECK ((deleted_at IS NULL AND deletion_op IS NULL) OR %2$s)',
                     target, own_ops) END,
    'Soft-deleted rows are invisible (SELECT, UPDATE, DELETE, joins, RETURNING) to every role but the engine''s own, deletion_restorer and those that bypass RLS, except to the statement that deleted them; new rows cannot carry a deletion.');
  -- The role an application switches to (SET LOCAL ROLE deletion_restorer) sees deleted rows and may
  -- clear their deleted_at; the new row must be active (the restore trigger clears the rest). Only
  -- while acting as that role: a login that inherits it sees nothing more.
  PERFORM deletion.ensure_policy(target, 'deletion_20_soft_delete_restorer',
    CASE WHEN NOT has_own_permissive AND to_regrole('deletion_restorer') IS NOT NULL
         THEN format('CREATE POLICY deletion_20_soft_delete_restorer ON %s AS PERMISSIVE FOR SELECT TO deletion_restorer USING (%s)',
                     target, restorer) END,
    'Acting as deletion_restorer (SET LOCAL ROLE), deleted rows are visible.');
  PERFORM deletion.ensure_policy(target, 'deletion_20_soft_delete_restore',
    CASE WHEN NOT has_own_permissive AND to_regrole('deletion_restorer') IS NOT NULL
         THEN format('CREATE POLICY deletion_20_soft_delete_restore ON %s AS PERMISSIVE FOR UPDATE TO deletion_restorer '
                     'USING (deleted_at IS NOT NULL AND %s) WITH CHECK (deleted_at IS NULL AND deletion_op IS NULL)', target, restorer) END,
    'Acting as deletion_restorer, a deleted row may be restored (UPDATE ... SET deleted_at = NULL), not otherwise changed.');
  PERFORM deletion.wire_engine_access(target);

  -- Triggers. The DELETE trigger fires unless a privileged role (deletion_admin, superuser or the
  -- table's owner, baked in by oid at wiring time) has set deletion.mode = 'hard'
  -- (deletion.delete_stays_soft, sql/04_caller_predicates.sql): the hard path costs one call of that
  -- short test per row and no call of the trigger function. Inside a foreign-key cascade the
  -- session's own login must be privileged too: an application role that sets deletion.mode and
  -- deletes a hard-delete parent gets PD103, not a hard delete of the soft-delete rows below it.
  key_args := (SELECT string_agg(quote_literal(k), ', ') FROM unnest(key_columns) k);
  PERFORM deletion.ensure_trigger(target, 'deletion_20_soft_delete', CASE WHEN policy.delete_becomes_soft THEN
           format($t$CREATE TRIGGER deletion_20_soft_delete BEFORE DELETE ON %1$s FOR EACH ROW
                      WHEN (deletion.delete_stays_soft(%2$s::oid))
                      EXECUTE FUNCTION deletion.%4$s(%3$s)$t$, target, owner_oid, key_args,
                  CASE WHEN plain_delete_refused THEN 'refuse_plain_delete' ELSE 'soft_delete_on_delete' END) END);
  PERFORM deletion.ensure_trigger(target, 'deletion_20_soft_delete_update',
           format($t$CREATE TRIGGER deletion_20_soft_delete_update BEFORE UPDATE OF deleted_at ON %s FOR EACH ROW
                    WHEN (OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL
                          AND (NEW.deletion_op IS NULL OR current_user <> 'deletion_owner'::name))
                    EXECUTE FUNCTION deletion.soft_delete_on_update(%s)$t$, target, key_args));
  PERFORM deletion.ensure_trigger(target, 'deletion_20_restore_update',
           CASE WHEN to_regclass('deletion.soft_delete_restore_requests') IS NOT NULL THEN  -- migration 0090
           format($t$CREATE TRIGGER deletion_20_restore_update BEFORE UPDATE OF deleted_at ON %s FOR EACH ROW
                    WHEN (OLD.deleted_at IS NOT NULL AND NEW.deleted_at IS NULL AND current_user <> 'deletion_owner'::name)
                    EXECUTE FUNCTION deletion.restore_on_update()$t$, target) END);
  -- The statement trigger fires only on the statements whose row triggers can leave work for it: an
  -- UPDATE that sets deleted_at, and a DELETE where a plain DELETE becomes a soft delete. A
  -- foreign-key cascade runs one statement for every parent row it deletes or sets to NULL, and every
  -- statement on the table pays for each statement trigger that fires on it (its WHEN clause is
  -- prepared and run anew each time); a hard delete of a workspace ran 42,000 such statements.
  PERFORM deletion.ensure_trigger(target, 'deletion_20_soft_delete_flush',
           format($t$CREATE TRIGGER deletion_20_soft_delete_flush AFTER %s ON %s FOR EACH STATEMENT
                    WHEN (deletion.soft_delete_pending())
                    EXECUTE FUNCTION deletion.soft_delete_flush()$t$,
                  CASE WHEN policy.delete_becomes_soft AND NOT plain_delete_refused
                       THEN 'DELETE OR UPDATE OF deleted_at' ELSE 'UPDATE OF deleted_at' END, target));
END
$$;
COMMENT ON FUNCTION deletion.wire_soft_delete(regclass) IS 'Makes one table''s soft-delete columns, indexes, unique keys, policies and triggers match its registry row (idempotent; called by deletion.rewire()).';

-- Turns soft delete on for a table (registering it when needed) and wires it. delete_becomes_soft
-- decides whether a plain DELETE becomes a soft delete (true) or stays a hard delete (false).
CREATE OR REPLACE FUNCTION deletion.enable_soft_delete(target regclass, delete_becomes_soft boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
BEGIN
  PERFORM deletion.register_table(target);
  UPDATE deletion.table_policies tp
     SET soft_delete = true, delete_becomes_soft = enable_soft_delete.delete_becomes_soft
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.oid = target AND tp.table_schema = n.nspname AND tp.table_name = c.relname;
  PERFORM deletion.wire_soft_delete(target);
  PERFORM deletion.wire_partitions(target);
  PERFORM deletion.wire_live_parents(t) FROM deletion.referencing_tables(target) t;
  PERFORM deletion.regenerate_soft_delete_walks(ARRAY[target]);  -- its walk, and the walks that reach it
END
$$;
COMMENT ON FUNCTION deletion.enable_soft_delete(regclass, boolean) IS 'Turns soft delete on for a table (idempotent): registry row, columns, indexes, partial unique keys, row-level security, triggers.';

-- Turns soft delete off: plain DELETE deletes again and deleted rows become visible; the columns and
-- their data stay (enable again to hide them again).
CREATE OR REPLACE FUNCTION deletion.disable_soft_delete(target regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
BEGIN
  UPDATE deletion.table_policies tp
     SET soft_delete = false, delete_becomes_soft = false
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.oid = target AND tp.table_schema = n.nspname AND tp.table_name = c.relname;
  PERFORM deletion.wire_soft_delete(target);
  PERFORM deletion.wire_partitions(target);
  PERFORM deletion.wire_live_parents(t) FROM deletion.referencing_tables(target) t;
  PERFORM deletion.regenerate_soft_delete_walks(ARRAY[target]);  -- its walk, and the walks that reach it
END
$$;
COMMENT ON FUNCTION deletion.disable_soft_delete(regclass) IS 'Turns soft delete off for a table: triggers and policies go, columns and data stay.';

REVOKE EXECUTE ON FUNCTION deletion.wire_soft_delete(regclass), deletion.enable_soft_delete(regclass, boolean),
                           deletion.disable_soft_delete(regclass), deletion.soft_delete_convert_uniques(regclass),
                           deletion.step_aside_column(regclass)
  FROM PUBLIC;

-- The blast-radius preview: deletion.plan(target, pk) says, before a delete, every table it reaches,
-- how deep, by what action, how many rows, and through which foreign keys. It is computed from the
-- live catalog and data, level by level, with one set-based statement per foreign key and level:
-- the rows a cascade removes are collected (by their physical row id, so a row reached through two
-- paths counts once), and the SET NULL, RESTRICT and protection outcomes are counted against that
-- collected set. docs/plan.md describes the output; test/pgtap/31x_* hold it equal to what the
-- delete then does.

-- The foreign keys of the database, one row per constraint (partitions' copies left out), with their
-- columns as SQL lists ready for format(): the referencing side as `child.col`, the referenced side
-- as `parent.col`, in key order.
CREATE OR REPLACE VIEW deletion.foreign_keys AS
SELECT con.oid                      AS constraint_oid,
       con.conname                  AS constraint_name,
       con.conrelid::regclass       AS child,
       con.confrelid::regclass      AS parent,
       CASE con.confdeltype WHEN 'c' THEN 'cascade' WHEN 'n' THEN 'set null' WHEN 'd' THEN 'set default'
                            WHEN 'r' THEN 'restrict' ELSE 'no action' END AS on_delete,
       (SELECT string_agg(format('child.%I', a.attname), ', ' ORDER BY k.n)
          FROM unnest(con.conkey) WITH ORDINALITY k(attnum, n)
          JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum) AS child_columns,
       (SELECT string_agg(format('parent.%I', a.attname), ', ' ORDER BY k.n)
          FROM unnest(con.confkey) WITH ORDINALITY k(attnum, n)
          JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum) AS parent_columns
  FROM pg_catalog.pg_constraint con
 WHERE con.contype = 'f' AND con.conparentid = 0;
COMMENT ON VIEW deletion.foreign_keys IS 'Every foreign key with its ON DELETE action and its columns as SQL lists (child.col / parent.col), for the plan and the linter.';

-- The columns of a table that other tables' foreign keys reference (usually its primary key): what
-- the plan must remember about a reached row so the next level can join on it.
CREATE OR REPLACE FUNCTION deletion.referenced_columns(rel regclass)
RETURNS name[]
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT coalesce(array_agg(DISTINCT a.attname ORDER BY a.attname), '{}')
    FROM pg_constraint con
    JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = ANY (con.confkey)
   WHERE con.contype = 'f' AND con.confrelid = rel
$$;
COMMENT ON FUNCTION deletion.referenced_columns(regclass) IS 'The columns of a table that foreign keys reference, sorted by name.';

-- The scratch table that holds the rows the planned delete reaches in one table: the row id
-- (ctid; a row reached twice is counted once), the depth it was first reached at, and the
-- referenced columns. Created on first use, dropped at the end of the plan (and at commit).
CREATE OR REPLACE FUNCTION deletion.plan_rows_table(rel regclass)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  scratch text := format('pg_temp.%I', 'deletion_plan_' || rel::oid);
BEGIN
  IF to_regclass(scratch) IS NULL THEN
    EXECUTE format('CREATE TEMP TABLE %s ON COMMIT DROP AS SELECT %s FROM %s rel WITH NO DATA',
                   scratch, deletion.plan_select_list(rel, 'rel', '0'), rel);
  END IF;
  RETURN scratch;
END
$$;
COMMENT ON FUNCTION deletion.plan_rows_table(regclass) IS 'The plan''s scratch table for one reached table (row id, depth, referenced columns), created when missing.';

-- The select list that fills a scratch table from `alias`: its row id, the depth, the referenced columns.
CREATE OR REPLACE FUNCTION deletion.plan_select_list(rel regclass, alias text, depth_sql text)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT format('%1$I.ctid AS plan_tid, (%2$s)::integer AS plan_depth', alias, depth_sql)
      || coalesce((SELECT string_agg(format(', %I.%I', alias, c), '' ORDER BY o)
                     FROM unnest(deletion.referenced_columns(rel)) WITH ORDINALITY u(c, o)), '')
$$;
COMMENT ON FUNCTION deletion.plan_select_list(regclass, text, text) IS 'The select list that fills a plan scratch table: row id, depth, referenced columns.';

-- A boolean column of a table's registry row, false when the row or the column is missing. The plan
-- reads the soft-delete concern's columns (soft_delete, delete_becomes_soft) this way, so it works
-- with or without that concern's migration.
CREATE OR REPLACE FUNCTION deletion.policy_flag(target regclass, flag text)
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT coalesce((SELECT (to_jsonb(tp) ->> flag)::boolean FROM deletion.policy_of(target) tp), false)
$$;
COMMENT ON FUNCTION deletion.policy_flag(regclass, text) IS 'A boolean registry column of a table (false when absent): soft_delete, delete_becomes_soft, ...';

-- One row per (table, action): what `DELETE FROM target WHERE <pk>` would do, run by the current role.
--   depth       shortest foreign-key distance from the target (0 for the target itself)
--   table_name  the table reached
--   action      delete | soft delete | set null | set default
--               | blocked by restrict | blocked by protection | blocked by soft delete
--   rows        rows deleted or soft-deleted, set to NULL / default, blocking, or refused by a rule
--   via         the foreign keys (child table's constraint names) it is reached through
--   detail      for blocked rows: why, and what to do
-- A plan with any "blocked" row means the delete would fail as a whole and change nothing.
--
-- Soft-delete tables (docs/soft_delete.md): when the target's plain DELETE becomes a soft delete
-- (registry delete_becomes_soft, unless an admin SET LOCAL deletion.mode = 'hard'), the delete marks
-- the row and the active rows reached through ON DELETE CASCADE foreign keys into soft-delete tables,
-- and nothing else: the plan follows only those. On the hard path, a cascade into a table whose DELETE
-- becomes soft is refused (PD103) unless deletion.mode is 'hard'.
CREATE OR REPLACE FUNCTION deletion.plan(target regclass, pk text)
RETURNS TABLE (depth integer, table_name regclass, action text, rows bigint, via text[], detail text)
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  level integer := 0;
  edge record;
  reached record;
  rule record;
  found_rows bigint;
  grew boolean;
  hard_mode boolean := coalesce(current_setting('deletion.mode', true), '') = 'hard';
  soft_path boolean := deletion.policy_flag(target, 'delete_becomes_soft')
                       AND NOT (coalesce(current_setting('deletion.mode', true), '') = 'hard' AND deletion.is_admin(target));
  reached_action text := CASE WHEN soft_path THEN 'soft delete' ELSE 'delete' END;
BEGIN
  DROP TABLE IF EXISTS pg_temp.deletion_plan_reach;
  DROP TABLE IF EXISTS pg_temp.deletion_plan_refused;
  -- What each foreign key added at each level, and the cascades a soft-delete table refuses: the
  -- plan's own bookkeeping.
  CREATE TEMP TABLE deletion_plan_reach (rel oid, depth integer, via text, rows bigint) ON COMMIT DROP;
  CREATE TEMP TABLE deletion_plan_refused (rel oid, depth integer, via text, rows bigint) ON COMMIT DROP;

  EXECUTE format('INSERT INTO %1$s SELECT %2$s FROM %3$s parent WHERE %4$s',
                 deletion.plan_rows_table(target), deletion.plan_select_list(target, 'parent', '0'), target,
                 deletion.key_predicate(target, pk, 'parent'));
  GET DIAGNOSTICS found_rows = ROW_COUNT;
  IF found_rows = 0 THEN
    RAISE EXCEPTION 'no row % in %', pk, target USING ERRCODE = 'P0002', HINT = 'check the key; deletion.plan names rows by primary key';
  END IF;
  INSERT INTO deletion_plan_reach VALUES (target, 0, NULL, found_rows);

  -- Level by level: the rows each ON DELETE CASCADE foreign key removes because of the rows reached
  -- at the level before, leaving out rows already reached (through another path or a cycle).
  LOOP
    grew := false;
    FOR edge IN
      SELECT fk.*, deletion.policy_flag(fk.child, 'delete_becomes_soft') AS child_becomes_soft
        FROM deletion.foreign_keys fk
       WHERE fk.on_delete = 'cascade'
         AND fk.parent IN (SELECT r.rel FROM deletion_plan_reach r WHERE r.depth = level)
         AND (NOT soft_path OR deletion.policy_flag(fk.child, 'soft_delete'))
       ORDER BY fk.child::text, fk.constraint_name
    LOOP
      IF NOT soft_path AND edge.child_becomes_soft AND NOT hard_mode THEN
        -- A hard delete cascading into a table whose DELETE becomes soft: refused, not deleted.
        EXECUTE format('SELECT count(*) FROM %s child JOIN %s parent ON (%s) = (%s) WHERE parent.plan_depth = %s',
                       edge.child, deletion.plan_rows_table(edge.parent), edge.child_columns, edge.parent_columns, level)
           INTO found_rows;
        IF found_rows > 0 THEN
          INSERT INTO deletion_plan_refused VALUES (edge.child, level + 1, edge.constraint_name, found_rows);
        END IF;
        CONTINUE;
      END IF;
      EXECUTE format('INSERT INTO %1$s SELECT %2$s FROM %3$s child JOIN %4$s parent ON (%5$s) = (%6$s)
                       WHERE parent.plan_depth = %7$s AND NOT EXISTS (SELECT 1 FROM %1$s seen WHERE seen.plan_tid = child.ctid) %8$s',
                     deletion.plan_rows_table(edge.child), deletion.plan_select_list(edge.child, 'child', (level + 1)::text),
                     edge.child, deletion.plan_rows_table(edge.parent), edge.child_columns, edge.parent_columns, level,
                     CASE WHEN soft_path THEN 'AND child.deleted_at IS NULL' ELSE '' END);
      GET DIAGNOSTICS found_rows = ROW_COUNT;
      IF found_rows > 0 THEN
        INSERT INTO deletion_plan_reach VALUES (edge.child, level + 1, edge.constraint_name, found_rows);
        EXECUTE format('ANALYZE %s', deletion.plan_rows_table(edge.child));
        grew := true;
      END IF;
    END LOOP;
    EXIT WHEN NOT grew;
    level := level + 1;
  END LOOP;

  -- Deleted (or soft-deleted) rows, per table; then the cascades a soft-delete table would refuse.
  RETURN QUERY
    SELECT min(r.depth), r.rel::regclass, reached_action, sum(r.rows)::bigint,
           coalesce(array_agg(DISTINCT r.via ORDER BY r.via) FILTER (WHERE r.via IS NOT NULL), '{}'), NULL::text
      FROM deletion_plan_reach r
     GROUP BY r.rel;
  -- A table whose plain DELETE is refused (registry plain_delete = 'refuse', PD104): the DELETE
  -- fails; the rows above are what its soft delete (UPDATE ... SET deleted_at, deletion.soft_delete)
  -- marks.
  IF soft_path AND (SELECT to_jsonb(tp) ->> 'plain_delete' FROM deletion.policy_of(target) tp) = 'refuse' THEN
    RETURN QUERY
      SELECT 0, target, 'blocked by soft delete'::text, r.rows, '{}'::text[],
             format('a plain DELETE on %s is refused (PD104): it would soft-delete and report DELETE 0; soft-delete with UPDATE %s SET deleted_at = now() or deletion.soft_delete(%L, %L), which mark the rows above',
                    target, target, target::text, pk)
        FROM deletion_plan_reach r WHERE r.depth = 0;
  END IF;
  RETURN QUERY
    SELECT min(r.depth), r.rel::regclass, 'blocked by soft delete'::text, sum(r.rows)::bigint,
           array_agg(DISTINCT r.via ORDER BY r.via),
           format('%s is a soft-delete table: a hard delete may not cascade into it (PD103); soft-delete the parent instead, or hard-delete as an admin with SET LOCAL deletion.mode = ''hard''',
                  r.rel::regclass)
      FROM deletion_plan_refused r
     GROUP BY r.rel;

  -- What the other foreign keys into reached tables do to rows that are not deleted themselves:
  -- SET NULL / SET DEFAULT update them; RESTRICT / NO ACTION make the whole delete fail.
  FOR edge IN
    SELECT fk.*, min(r.depth) AS parent_depth
      FROM deletion.foreign_keys fk
      JOIN deletion_plan_reach r ON r.rel = fk.parent
     WHERE fk.on_delete <> 'cascade'
       AND NOT soft_path  -- a soft delete removes nothing: no foreign key acts
     GROUP BY fk.constraint_oid, fk.constraint_name, fk.child, fk.parent, fk.on_delete, fk.child_columns, fk.parent_columns
     ORDER BY fk.child::text, fk.constraint_name
  LOOP
    EXECUTE format('SELECT count(*) FROM %1$s child WHERE EXISTS (SELECT 1 FROM %2$s parent WHERE (%3$s) = (%4$s)) %5$s',
                   edge.child, deletion.plan_rows_table(edge.parent), edge.child_columns, edge.parent_columns,
                   CASE WHEN EXISTS (SELECT 1 FROM deletion_plan_reach r WHERE r.rel = edge.child)
                        THEN format('AND NOT EXISTS (SELECT 1 FROM %s seen WHERE seen.plan_tid = child.ctid)', deletion.plan_rows_table(edge.child))
                        ELSE '' END)
       INTO found_rows;
    CONTINUE WHEN found_rows = 0;
    depth := edge.parent_depth + 1;
    table_name := edge.child;
    via := ARRAY[edge.constraint_name::text];
    rows := found_rows;
    IF edge.on_delete IN ('set null', 'set default') THEN
      action := edge.on_delete;
      detail := NULL;
    ELSE
      action := 'blocked by restrict';
      detail := format('%s rows of %s still reference %s through %s (ON DELETE %s): delete or re-point them first, or change the foreign key',
                       found_rows, edge.child, edge.parent, edge.constraint_name, upper(edge.on_delete));
    END IF;
    RETURN NEXT;
  END LOOP;

  -- Protection rules on the reached tables, judged for the role each delete runs as: the caller for
  -- the target row, the table's owner for rows a cascade removes (deletion.role_passes_protection).
  FOR reached IN
    SELECT r.rel::regclass AS rel, min(r.depth) AS first_depth, sum(r.rows) AS total, c.relowner
      FROM deletion_plan_reach r JOIN pg_class c ON c.oid = r.rel
     WHERE EXISTS (SELECT 1 FROM deletion.protection_rules pr
                    WHERE format('%I.%I', pr.table_schema, pr.table_name)::regclass = r.rel)
     GROUP BY r.rel, c.relowner
  LOOP
    -- Row rules: every reached row of the table, through the same function the trigger uses.
    FOR rule IN
      EXECUTE format($q$
        SELECT f.rule_id, count(*) AS failing, min(f.message) AS message, min(f.hint) AS hint
          FROM %1$s seen
          JOIN %2$s t ON t.ctid = seen.plan_tid
          CROSS JOIN LATERAL deletion.row_protection_failures(%3$L, to_jsonb(t), %5$L AND seen.plan_depth > 0, false) f
          JOIN deletion.protection_rules pr ON pr.id = f.rule_id
         WHERE NOT deletion.role_passes_protection(
                 CASE WHEN seen.plan_depth = 0 THEN current_user::regrole::oid ELSE %4$s END,
                 pr.admin_must_force, %3$L, deletion.key_text(%3$L, to_jsonb(t)))
         GROUP BY f.rule_id ORDER BY f.rule_id$q$,
        deletion.plan_rows_table(reached.rel), reached.rel, reached.rel, reached.relowner, soft_path)
    LOOP
      depth := reached.first_depth;
      table_name := reached.rel;
      action := 'blocked by protection';
      rows := rule.failing;
      via := '{}';
      detail := rule.message || ': ' || rule.hint;
      RETURN NEXT;
    END LOOP;
    -- The bulk-delete guard: the rows the statement removes from the table, counted once.
    FOR rule IN
      SELECT pr.* FROM deletion.protection_rules pr
       WHERE pr.kind = 'bulk_delete' AND NOT soft_path
         AND format('%I.%I', pr.table_schema, pr.table_name)::regclass = reached.rel
         AND reached.total > pr.threshold
         AND NOT deletion.role_passes_protection(
               CASE WHEN reached.first_depth = 0 THEN current_user::regrole::oid ELSE reached.relowner END,
               pr.admin_must_force, reached.rel, NULL)
    LOOP
      depth := reached.first_depth;
      table_name := reached.rel;
      action := 'blocked by protection';
      rows := reached.total;
      via := '{}';
      detail := format('one statement may delete at most %s rows of %s, this one would delete %s: %s',
                       rule.threshold, reached.rel, reached.total, deletion.rule_message(rule.message, reached.rel, '*'));
      RETURN NEXT;
    END LOOP;
  END LOOP;

  -- Leave nothing behind: the scratch tables go now, not only at commit.
  -- (Every table's, the reached, the refused and those a foreign key was only looked at through: a
  -- later plan in this transaction may run as another role, which could not use them.)
  FOR reached IN
    SELECT c.relname FROM pg_class c
     WHERE c.relnamespace = pg_my_temp_schema() AND c.relname ~ '^deletion_plan_[0-9]+$'
  LOOP
    EXECUTE format('DROP TABLE IF EXISTS pg_temp.%I', reached.relname);
  END LOOP;
  DROP TABLE deletion_plan_reach;
  DROP TABLE deletion_plan_refused;
END
$$;
COMMENT ON FUNCTION deletion.plan(regclass, text) IS 'The blast radius of deleting one row: per table reached, the depth, action (delete, soft delete, set null, set default, blocked by restrict, blocked by protection, blocked by soft delete), row count and the foreign keys it goes through.';

GRANT SELECT ON deletion.foreign_keys TO deletion_app, deletion_admin;
GRANT EXECUTE ON FUNCTION deletion.policy_flag(regclass, text), deletion.referenced_columns(regclass), deletion.plan_rows_table(regclass),
                          deletion.plan_select_list(regclass, text, text), deletion.plan(regclass, text)
  TO deletion_app, deletion_admin;

-- The deletion-policy linter: deletion.lint() reads the catalog and the policy registry and returns
-- the deletion hazards it finds, each with what to do about it. `deletion-kit lint` prints them and
-- exits non-zero when any has severity 'error'; CI runs it on our own schema, which must be clean.
-- docs/lint.md lists the rules.
--
-- What is linted: every schema except PostgreSQL's own, the runner's bookkeeping (deletion_kit) and
-- pgTAP (tap). The engine's schemas (deletion, audit) are linted like any other, except that their
-- tables need no row in the policy registry: they are the engine's own state, deleted by the engine;
-- their views (and deletion_work's scratch tables) are left out of the rules on views that show
-- deleted rows, and their functions, for now, out of the rule on SECURITY DEFINER functions
-- executable by PUBLIC.

-- The schemas the linter reads.
CREATE OR REPLACE FUNCTION deletion.linted_schemas()
RETURNS SETOF regnamespace
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT n.oid::regnamespace
    FROM pg_namespace n
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'deletion_kit', 'tap')
     AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp\_%'
$$;
COMMENT ON FUNCTION deletion.linted_schemas() IS 'The schemas deletion.lint() reads: all but PostgreSQL''s own, deletion_kit and tap.';

-- Schemas whose tables are the engine's own state and need no deletion policy.
CREATE OR REPLACE FUNCTION deletion.engine_schemas()
RETURNS SETOF name
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
  VALUES ('deletion'::name), ('audit'::name), ('deletion_kit'::name)
$$;
COMMENT ON FUNCTION deletion.engine_schemas() IS 'The engine''s schemas; their tables are exempt from the "no deletion policy" rule.';

-- True when the registry says the table is a soft-delete table (column soft_delete).
CREATE OR REPLACE FUNCTION deletion.is_soft_delete_table(target regclass)
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT deletion.policy_flag(target, 'soft_delete')
$$;
COMMENT ON FUNCTION deletion.is_soft_delete_table(regclass) IS 'True for tables the registry marks soft_delete.';

-- Where a registered table's wiring differs from what its registry row asks for: the engine's access,
-- the audit, soft-delete, live-parent, file and protection triggers and policies. Registering and
-- every enable_* wire at once, and every migrate rewires, so a difference means someone changed the
-- table by hand (or a schema tool undid the engine's work). PL/pgSQL, reading the registry row as
-- JSON, because the columns it reads come with migrations that may have been reverted.
CREATE OR REPLACE FUNCTION deletion.wiring_differences()
RETURNS TABLE (target regclass, problem text)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
  reg record;
  triggers text[];
  policies text[];
  wants_soft boolean;
  protected boolean;
BEGIN
  FOR reg IN
    SELECT c.oid::regclass AS rel, to_jsonb(tp) AS policy
      FROM deletion.table_policies tp
      JOIN pg_namespace n ON n.nspname = tp.table_schema
      JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = tp.table_name
     ORDER BY 1::text
  LOOP
    target := reg.rel;
    triggers := ARRAY(SELECT t.tgname::text FROM pg_trigger t WHERE t.tgrelid = reg.rel AND NOT t.tgisinternal AND t.tgname LIKE 'deletion\_%');
    policies := ARRAY(SELECT p.polname::text FROM pg_policy p WHERE p.polrelid = reg.rel);
    wants_soft := coalesce((reg.policy ->> 'soft_delete')::boolean, false);
    IF to_regrole('deletion_owner') IS NOT NULL
       AND (NOT has_table_privilege('deletion_owner', reg.rel, 'SELECT') OR NOT has_table_privilege('deletion_owner', reg.rel, 'INSERT')
            OR NOT has_table_privilege('deletion_owner', reg.rel, 'UPDATE') OR NOT has_table_privilege('deletion_owner', reg.rel, 'DELETE')
            OR NOT 'deletion_00_engine' = ANY (policies)) THEN
      problem := 'the engine''s role (deletion_owner) lacks its grants or its policy deletion_00_engine';
      RETURN NEXT;
    END IF;
    IF reg.policy ? 'audit' AND (reg.policy ->> 'audit')::boolean <> ('deletion_50_audit_delete' = ANY (triggers)) THEN
      problem := CASE WHEN (reg.policy ->> 'audit')::boolean THEN 'audit is on, but its triggers deletion_50_audit_* are missing'
                      ELSE 'audit is off, but its triggers deletion_50_audit_* are installed' END;
      RETURN NEXT;
    END IF;
    IF wants_soft AND NOT ('deletion_20_soft_delete_hide' = ANY (policies) AND 'deletion_20_soft_delete_update' = ANY (triggers)
                           AND 'deletion_20_soft_delete_flush' = ANY (triggers)
                           AND (SELECT c.relrowsecurity FROM pg_class c WHERE c.oid = reg.rel)) THEN
      problem := 'soft delete is on, but row-level security, its policy deletion_20_soft_delete_hide or its triggers are missing';
      RETURN NEXT;
    ELSIF wants_soft AND coalesce((reg.policy ->> 'delete_becomes_soft')::boolean, false) <> ('deletion_20_soft_delete' = ANY (triggers)) THEN
      problem := CASE WHEN (reg.policy ->> 'delete_becomes_soft')::boolean THEN 'a DELETE should become a soft delete, but the trigger deletion_20_soft_delete is missing'
                      ELSE 'a DELETE should stay hard, but the trigger deletion_20_soft_delete is installed' END;
      RETURN NEXT;
    ELSIF NOT wants_soft AND EXISTS (SELECT FROM unnest(triggers) g WHERE g LIKE 'deletion\_20\_soft\_delete%') THEN
      problem := 'soft delete is off, but its triggers deletion_20_soft_delete* are installed';
      RETURN NEXT;
    END IF;
    -- Its generated walk (sql/12_soft_delete_walk.sql): written for the foreign keys as they are now.
    IF wants_soft AND to_regprocedure('deletion.soft_delete_walk_is_current(regclass)') IS NOT NULL
       AND NOT deletion.soft_delete_walk_is_current(reg.rel) THEN
      problem := 'soft delete is on, but its generated walk is missing (a soft delete from it takes the slower generic walk) or was written for other foreign keys than its cascade follows now (a soft delete from it follows the old ones)';
      RETURN NEXT;
    END IF;
    IF wants_soft AND NOT EXISTS (SELECT FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                                   WHERE i.indrelid = reg.rel AND ic.relname = deletion.soft_delete_index_name(reg.rel, 'active_idx')) THEN
      problem := format('soft delete is on, but its index %s is missing', deletion.soft_delete_index_name(reg.rel, 'active_idx'));
      RETURN NEXT;
    END IF;
    IF reg.policy ->> 'storage' = 'archive' AND NOT 'deletion_70_archive' = ANY (triggers) THEN
      problem := 'it is in archive storage, but its trigger deletion_70_archive is missing, so a DELETE on it is no operation in the trash';
      RETURN NEXT;
    END IF;
    IF (reg.policy ->> 'file_key_column' IS NOT NULL) <> ('deletion_60_files' = ANY (triggers)) THEN
      problem := CASE WHEN reg.policy ->> 'file_key_column' IS NOT NULL THEN 'its files are tracked, but the triggers deletion_60_files* are missing'
                      ELSE 'its files are not tracked, but the triggers deletion_60_files* are installed' END;
      RETURN NEXT;
    END IF;
    IF EXISTS (SELECT FROM deletion.live_parent_keys(reg.rel)) AND NOT 'deletion_05_live_parent' = ANY (triggers) THEN
      problem := 'it references soft-delete tables, but the triggers that refuse new rows under deleted parents (deletion_05_live_parent*) are missing';
      RETURN NEXT;
    END IF;
    IF to_regclass('deletion.protection_rules') IS NOT NULL THEN
      EXECUTE 'SELECT EXISTS (SELECT FROM deletion.protection_rules r WHERE (r.table_schema, r.table_name) = ($1, $2))'
         INTO protected USING reg.policy ->> 'table_schema', reg.policy ->> 'table_name';
      IF protected AND NOT EXISTS (SELECT FROM unnest(triggers) g WHERE g LIKE 'deletion\_10\_protect%') THEN
        problem := 'it has protection rules, but the triggers deletion_10_protect* are missing';
        RETURN NEXT;
      END IF;
    END IF;
    -- A partition created or attached after its parent was wired (sql/03_partitions.sql).
    FOR target IN SELECT DISTINCT s.partition FROM deletion.partition_wiring_statements(reg.rel) s ORDER BY 1 LOOP
      problem := format('it is a partition of %s and lacks the engine wiring its parent has (statement triggers, row-level security, policies or grants), so a statement on it directly bypasses soft delete, audit or file tracking', reg.rel);
      RETURN NEXT;
    END LOOP;
    target := reg.rel;
  END LOOP;
END
$$;
COMMENT ON FUNCTION deletion.wiring_differences() IS 'Registered tables whose triggers, policies, grants or indexes differ from what their registry row asks for (lint rule wiring_differs).';

-- Whether a table has a valid, non-partial index of its own whose leading columns are exactly the
-- given columns (in any order): what a foreign key's deletes need on the referencing side.
CREATE OR REPLACE FUNCTION deletion.has_own_leading_index(rel regclass, column_names name[])
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT EXISTS (
    SELECT 1 FROM pg_index i
     CROSS JOIN LATERAL (SELECT ARRAY(SELECT a.attname
                                        FROM unnest((string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(column_names)]) k(attnum)
                                        JOIN pg_attribute a ON a.attrelid = rel AND a.attnum = k.attnum) AS leading) l
     WHERE i.indrelid = rel AND i.indpred IS NULL AND i.indisvalid
       AND l.leading @> column_names AND l.leading <@ column_names)
$$;
COMMENT ON FUNCTION deletion.has_own_leading_index(regclass, name[]) IS 'True when the table has a valid, non-partial index of its own led by exactly these columns.';

-- The same, for any table: a partitioned table has it when it has such an index itself, or when
-- every leaf partition has one (by column names, since a partition's columns may be numbered
-- otherwise than its parent's).
CREATE OR REPLACE FUNCTION deletion.has_leading_index(rel regclass, column_names name[])
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT deletion.has_own_leading_index(rel, column_names)
      OR ((SELECT c.relkind FROM pg_class c WHERE c.oid = rel) = 'p'
          AND EXISTS (SELECT 1 FROM pg_partition_tree(rel) t WHERE t.isleaf)
          AND NOT EXISTS (SELECT 1 FROM pg_partition_tree(rel) t
                           WHERE t.isleaf AND NOT deletion.has_own_leading_index(t.relid, column_names)))
$$;
COMMENT ON FUNCTION deletion.has_leading_index(regclass, name[]) IS 'True when the table (or, partitioned, every leaf partition) has a valid, non-partial index led by exactly these columns.';

-- Whether a unique index of a soft-delete table is one whose deleted values step aside (recorded by
-- the wiring in deletion.soft_delete_step_aside): it stays plain UNIQUE on purpose.
CREATE OR REPLACE FUNCTION deletion.steps_aside(unique_index oid)
RETURNS boolean
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
BEGIN
  IF to_regclass('deletion.soft_delete_step_aside') IS NULL THEN
    RETURN false;
  END IF;
  RETURN EXISTS (SELECT FROM deletion.soft_delete_step_aside sa
                   JOIN pg_class ic ON ic.relname = sa.index_name
                   JOIN pg_namespace n ON n.oid = ic.relnamespace AND n.nspname = sa.table_schema
                  WHERE ic.oid = unique_index);
END
$$;
COMMENT ON FUNCTION deletion.steps_aside(oid) IS 'True for a unique index of a soft-delete table that stays plain UNIQUE because deleted rows step aside.';

-- Every finding, one row each:
--   severity  error (lint fails) or warning
--   rule      the rule's name (docs/lint.md)
--   object    the table, constraint, index, view or function concerned
--   problem   what is wrong, in a sentence
--   fix       what to do, often the SQL
CREATE OR REPLACE FUNCTION deletion.lint(max_cascade_depth integer DEFAULT 6)
RETURNS TABLE (severity text, rule text, object text, problem text, fix text)
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  WITH RECURSIVE linted_tables AS (
    SELECT c.oid::regclass AS rel, n.nspname AS schema_name
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
       AND c.relnamespace IN (SELECT deletion.linted_schemas())
  ), linted_keys AS (
    SELECT fk.*, con.conkey, con.confdeltype
      FROM deletion.foreign_keys fk
      JOIN pg_constraint con ON con.oid = fk.constraint_oid
     WHERE fk.child IN (SELECT rel FROM linted_tables)
        -- a key declared on a partition itself (not inherited from its parent)
        OR (SELECT c.relispartition FROM pg_class c WHERE c.oid = fk.child)
           AND pg_partition_root(fk.child) IN (SELECT rel FROM linted_tables)
  ), soft_tables AS (
    SELECT rel FROM linted_tables WHERE deletion.is_soft_delete_table(rel)
  ), cascade_paths AS (
    -- Every cascade chain from a table no cascade reaches, as far as it goes (cycles stop it).
    SELECT fk.parent AS root, fk.child AS tip, 1 AS depth, ARRAY[fk.parent::oid, fk.child::oid] AS path
      FROM deletion.foreign_keys fk
     WHERE fk.on_delete = 'cascade' AND fk.parent <> fk.child
       AND NOT EXISTS (SELECT 1 FROM deletion.foreign_keys up
                        WHERE up.child = fk.parent AND up.on_delete = 'cascade' AND up.parent <> up.child)
    UNION ALL
    SELECT p.root, fk.child, p.depth + 1, p.path || fk.child::oid
      FROM cascade_paths p
      JOIN deletion.foreign_keys fk ON fk.parent = p.tip AND fk.on_delete = 'cascade'
     WHERE fk.child::oid <> ALL (p.path)
  ), views AS (
    -- Views and materialized views; invoker: a view with security_invoker (a materialized view never
    -- is: its snapshot is taken with its owner's rights).
    SELECT c.oid, c.relkind, c.relowner, c.relnamespace, c.relacl,
           c.relkind = 'v' AND coalesce((SELECT o.option_value::boolean FROM pg_options_to_table(c.reloptions) o
                                          WHERE o.option_name = 'security_invoker'), false) AS invoker
      FROM pg_class c
     WHERE c.relkind IN ('v', 'm')
  ), view_reads AS (
    -- Every view and materialized view with each relation it reads, directly (the relations its
    -- rewrite rule depends on) or through plain views however deep, and the role whose rights that
    -- relation is read with: the owner of the innermost view on the way that is not security_invoker,
    -- 0 when there is none (the reader's own rights).
    SELECT v.oid AS view_oid, d.refobjid AS read_oid, CASE WHEN v.invoker THEN 0::oid ELSE v.relowner END AS rights
      FROM views v
      JOIN pg_rewrite r ON r.ev_class = v.oid
      JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                      AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> r.ev_class
    UNION
    SELECT vr.view_oid, d.refobjid, CASE WHEN w.invoker THEN vr.rights ELSE w.relowner END
      FROM view_reads vr
      JOIN views w ON w.oid = vr.read_oid AND w.relkind = 'v'
      JOIN pg_rewrite r ON r.ev_class = w.oid
      JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                      AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> r.ev_class
  ), soft_readers AS (
    -- Views and materialized views outside the engine that read a soft-delete table and that a role
    -- other than their owner, superusers and deletion_admin members may SELECT from (PUBLIC, or a
    -- role granted SELECT on the view or one of its columns that is no member of deletion_admin).
    -- bypassed: the soft-delete tables read with the rights of a role that row-level security does
    -- not bind there (rights_of: those roles): a superuser, a BYPASSRLS role, the table's owner or a
    -- member of it when the table does not FORCE ROW LEVEL SECURITY, any role when it is off.
    SELECT v.oid AS view_oid, v.relkind, v.relowner, v.invoker,
           pg_get_viewdef(v.oid) ~* '\mdeleted_at IS NULL\M' AS filters_deleted,
           string_agg(DISTINCT s.rel::text, ', ' ORDER BY s.rel::text) AS soft_tables,
           string_agg(DISTINCT s.rel::text, ', ' ORDER BY s.rel::text) FILTER (WHERE bp.bypasses) AS bypassed,
           string_agg(DISTINCT vr.rights::regrole::text, ', ' ORDER BY vr.rights::regrole::text) FILTER (WHERE bp.bypasses) AS rights_of,
           rd.readers
      FROM views v
      JOIN pg_namespace n ON n.oid = v.relnamespace
      JOIN view_reads vr ON vr.view_oid = v.oid
      JOIN soft_tables s ON s.rel = vr.read_oid
      JOIN pg_class t ON t.oid = vr.read_oid
      LEFT JOIN pg_roles rr ON rr.oid = vr.rights
      CROSS JOIN LATERAL (
        SELECT CASE WHEN vr.rights = 0 THEN false
                    ELSE rr.rolsuper OR rr.rolbypassrls OR NOT t.relrowsecurity
                         OR (NOT t.relforcerowsecurity AND pg_has_role(vr.rights, t.relowner, 'USAGE')) END AS bypasses
      ) bp
      CROSS JOIN LATERAL (
        SELECT string_agg(DISTINCT CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE g.grantee::regrole::text END, ', '
                          ORDER BY CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE g.grantee::regrole::text END) AS readers
          FROM (SELECT a.grantee, a.privilege_type FROM aclexplode(coalesce(v.relacl, acldefault('r', v.relowner))) a
                UNION ALL
                SELECT a.grantee, a.privilege_type
                  FROM pg_attribute col, aclexplode(col.attacl) a
                 WHERE col.attrelid = v.oid AND col.attnum > 0 AND NOT col.attisdropped AND col.attacl IS NOT NULL) g
         WHERE g.privilege_type = 'SELECT' AND g.grantee <> v.relowner
           AND CASE WHEN g.grantee = 0 THEN true ELSE NOT pg_has_role(g.grantee, 'deletion_admin', 'MEMBER') END
      ) rd
     WHERE v.relnamespace IN (SELECT deletion.linted_schemas())
       AND n.nspname NOT IN (SELECT deletion.engine_schemas()) AND n.nspname <> 'deletion_work'
       AND rd.readers IS NOT NULL
     GROUP BY v.oid, v.relkind, v.relowner, v.invoker, rd.readers
  ), definers AS (
    -- SECURITY DEFINER functions, with the roles other than their owner, superusers and
    -- deletion_admin members that may call them (public_executes: PUBLIC is one of them). For a
    -- trigger function, EXECUTE is what lets a role attach it to a table of its own (a temporary
    -- table), where it runs with its owner's rights: is_trigger marks them.
    SELECT p.oid, p.proowner, n.nspname AS schema_name, p.prosrc, rx.callers, rx.public_executes,
           p.prorettype IN ('trigger'::regtype, 'event_trigger'::regtype) AS is_trigger
      FROM pg_proc p
      JOIN pg_namespace n ON n.oid = p.pronamespace
      CROSS JOIN LATERAL (
        SELECT string_agg(DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END, ', '
                          ORDER BY CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END) AS callers,
               coalesce(bool_or(a.grantee = 0), false) AS public_executes
          FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
         WHERE a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner
           AND CASE WHEN a.grantee = 0 THEN true ELSE NOT pg_has_role(a.grantee, 'deletion_admin', 'MEMBER') END
      ) rx
     WHERE p.prosecdef
       AND p.pronamespace IN (SELECT deletion.linted_schemas())
  ), definer_reads AS (
    -- The soft-delete tables a SECURITY DEFINER function reads as an owner that bypasses row-level
    -- security on them. "Reads" is a heuristic: the table's name appears in the function's body as a
    -- word (qualified or not, in a query or a comment), or the body depends on it (a BEGIN ATOMIC
    -- body); a body that says deleted_at IS NULL somewhere is taken to filter deleted rows itself.
    SELECT f.oid, string_agg(s.rel::text, ', ' ORDER BY s.rel::text) AS soft_tables
      FROM definers f
      JOIN pg_roles own ON own.oid = f.proowner
      JOIN soft_tables s ON NOT f.is_trigger
      JOIN pg_class t ON t.oid = s.rel
     WHERE coalesce(f.prosrc, '') !~* '\mdeleted_at IS NULL\M'
       AND (coalesce(f.prosrc, '') ~* ('\m' || regexp_replace(t.relname, '([^[:alnum:]_])', '\\\1', 'g') || '\M')
            OR EXISTS (SELECT 1 FROM pg_depend d
                        WHERE d.classid = 'pg_proc'::regclass AND d.objid = f.oid
                          AND d.refclassid = 'pg_class'::regclass AND d.refobjid = s.rel))
       AND (own.rolsuper OR own.rolbypassrls OR NOT t.relrowsecurity
            OR (NOT t.relforcerowsecurity AND pg_has_role(f.proowner, t.relowner, 'USAGE')))
     GROUP BY f.oid
  )
  -- A foreign key with no index on its referencing columns: every delete of a parent row scans the child.
  SELECT 'error', 'unindexed_foreign_key', format('%s.%I', k.child, k.constraint_name),
         format('foreign key %I on %s (%s) has no index on its referencing columns: every delete from %s scans %s',
                k.constraint_name, k.child, replace(k.child_columns, 'child.', ''), k.parent, k.child),
         format('CREATE INDEX ON %s (%s);', k.child, replace(k.child_columns, 'child.', ''))
    FROM linted_keys k
   WHERE NOT deletion.has_leading_index(k.child, ARRAY(SELECT a.attname FROM unnest(k.conkey) u(attnum)
                                                          JOIN pg_attribute a ON a.attrelid = k.child AND a.attnum = u.attnum))
  UNION ALL
  -- A foreign key whose ON DELETE was left at the default: nobody decided what a delete does.
  SELECT 'error', 'default_on_delete', format('%s.%I', k.child, k.constraint_name),
         format('foreign key %I on %s was left at ON DELETE NO ACTION (the default): nobody decided what deleting a row of %s does to %s',
                k.constraint_name, k.child, k.parent, k.child),
         format('recreate it with ON DELETE CASCADE, SET NULL or RESTRICT: ALTER TABLE %s DROP CONSTRAINT %I, ADD CONSTRAINT %I FOREIGN KEY (%s) REFERENCES %s (%s) ON DELETE ...;',
                k.child, k.constraint_name, k.constraint_name, replace(k.child_columns, 'child.', ''), k.parent,
                replace(k.parent_columns, 'parent.', ''))
    FROM linted_keys k
   WHERE k.confdeltype = 'a'
  UNION ALL
  -- A unique constraint or index on a soft-delete table that still counts deleted rows: a new row
  -- collides with one in the trash.
  SELECT 'error', 'unique_includes_deleted', format('%s', i.indexrelid::regclass),
         format('unique index %s on soft-delete table %s does not exclude deleted rows: a new row collides with a deleted one',
                i.indexrelid::regclass, i.indrelid::regclass),
         format('replace it with a partial unique index: CREATE UNIQUE INDEX ... ON %s (...) WHERE deleted_at IS NULL;', i.indrelid::regclass)
    FROM pg_index i
   WHERE i.indrelid IN (SELECT rel FROM soft_tables)
     AND i.indisunique AND NOT i.indisprimary
     AND coalesce(pg_get_expr(i.indpred, i.indrelid), '') NOT LIKE '%deleted_at%'
     AND NOT deletion.steps_aside(i.indexrelid)
  UNION ALL
  -- A soft-delete table's partial unique key (... WHERE deleted_at IS NULL): INSERT ... ON CONFLICT
  -- (its columns) fails with 42P10 unless it repeats the predicate, and ON CONFLICT ON CONSTRAINT
  -- cannot name it (it is no constraint); most ORMs' upserts can say neither.
  SELECT 'warning', 'upsert_needs_predicate', format('%s', i.indexrelid::regclass),
         format('unique key %s on soft-delete table %s is a partial index (WHERE deleted_at IS NULL): a plain upsert (INSERT ... ON CONFLICT (%s)) fails with 42P10 and ON CONFLICT ON CONSTRAINT cannot name it',
                i.indexrelid::regclass, i.indrelid::regclass,
                (SELECT string_agg(a.attname, ', ' ORDER BY k.ord) FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
                   JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum WHERE k.ord <= i.indnkeyatts)),
         CASE WHEN (SELECT sc.column_name FROM deletion.step_aside_column(i.indexrelid) sc) IS NOT NULL
              THEN format('let deleted rows step aside so the key stays a plain UNIQUE: UPDATE deletion.table_policies SET unique_keys = ''step_aside'' WHERE table_schema = %L AND table_name = %L; SELECT deletion.rewire();',
                          (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = i.indrelid),
                          (SELECT c.relname FROM pg_class c WHERE c.oid = i.indrelid))
              ELSE 'no column of this key can step aside (no text column outside foreign keys): upserts must repeat the predicate, ON CONFLICT (...) WHERE deleted_at IS NULL (docs/clients.md has each ORM''s way), or add a text column to the key' END
    FROM pg_index i
   WHERE i.indrelid IN (SELECT rel FROM soft_tables)
     AND i.indisunique AND NOT i.indisprimary
     AND pg_get_expr(i.indpred, i.indrelid) ~ '\mdeleted_at IS NULL\M'
  UNION ALL
  -- A soft-delete table whose plain DELETE becomes a soft delete: the client is told DELETE 0 and
  -- RETURNING is empty, so an ORM that checks the count fails after the soft delete happened.
  SELECT 'warning', 'delete_reports_zero_rows', format('%s', s.rel),
         format('a plain DELETE on soft-delete table %s soft-deletes but reports DELETE 0 (RETURNING is empty): ORMs that check the count (Prisma delete, SQLAlchemy, TypeORM, Sequelize) fail or report nothing after the soft delete happened', s.rel),
         format('refuse it with a hint to soft-delete by UPDATE ... SET deleted_at = now() instead: UPDATE deletion.table_policies SET plain_delete = ''refuse'' WHERE table_schema = %L AND table_name = %L; SELECT deletion.rewire();',
                (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = s.rel),
                (SELECT c.relname FROM pg_class c WHERE c.oid = s.rel))
    FROM soft_tables s
   WHERE deletion.policy_flag(s.rel, 'delete_becomes_soft')
     AND coalesce((SELECT to_jsonb(tp) ->> 'plain_delete' FROM deletion.policy_of(s.rel) tp), 'soft') = 'soft'
  UNION ALL
  -- An archived table that can no longer leave rows (a RESTRICT key added since, an unaudited table
  -- its cascade reaches, ...): the next rewire refuses it (PD105), and what a DELETE does may be lost.
  SELECT 'error', 'archive_not_possible', format('%s', t.rel),
         format('%s is in archive storage, but: %s', t.rel, b.blocker),
         'remove what blocks it, or keep the table in place: SELECT deletion.disable_archive(' || quote_literal(t.rel::text) || '); then deletion.enable_soft_delete'
    FROM linted_tables t
    CROSS JOIN LATERAL deletion.archive_blockers(t.rel) AS b(blocker)
   WHERE to_regprocedure('deletion.archive_blockers(regclass)') IS NOT NULL
     AND (SELECT to_jsonb(tp) ->> 'storage' FROM deletion.policy_of(t.rel) tp) = 'archive'
  UNION ALL
  -- A table outside the engine with no row in the policy registry: nobody decided how it is deleted.
  SELECT 'error', 'no_deletion_policy', format('%s', t.rel),
         format('table %s has no deletion policy in deletion.table_policies', t.rel),
         format('register it in the migration that creates it: SELECT deletion.register_table(%L, ''why it is deleted the way it is'');', t.rel::text)
    FROM linted_tables t
   WHERE t.schema_name NOT IN (SELECT deletion.engine_schemas())
     AND deletion.policy_of(t.rel) IS NULL
  UNION ALL
  -- A cascade chain deeper than the limit: one delete reaches far more than its author sees.
  SELECT 'warning', 'deep_cascade', format('%s', p.root),
         format('deleting a row of %s cascades %s levels deep (limit %s): %s', p.root, p.depth, max_cascade_depth,
                (SELECT string_agg(o::regclass::text, ' -> ' ORDER BY n) FROM unnest(p.path) WITH ORDINALITY u(o, n))),
         'break the chain with SET NULL or RESTRICT where a child should outlive its parent, or delete through a scheduled deletion job'
    FROM (SELECT DISTINCT ON (cp.root) cp.*
            FROM cascade_paths cp
           WHERE cp.depth > max_cascade_depth AND cp.root IN (SELECT rel FROM linted_tables)
           ORDER BY cp.root, cp.depth DESC) p
  UNION ALL
  -- A SECURITY DEFINER function that does not pin search_path: a caller can put their own objects first.
  SELECT 'error', 'definer_without_search_path', format('%s', p.oid::regprocedure),
         format('SECURITY DEFINER function %s does not pin search_path: a caller can shadow the objects it uses', p.oid::regprocedure),
         format('ALTER FUNCTION %s SET search_path = pg_catalog; (and schema-qualify what it uses)', p.oid::regprocedure)
    FROM pg_proc p
   WHERE p.prosecdef
     AND p.pronamespace IN (SELECT deletion.linted_schemas())
     AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) setting WHERE setting LIKE 'search\_path=%')
  UNION ALL
  -- A soft-delete table that row-level security does not filter: every client sees the trash.
  SELECT 'error', 'soft_delete_without_policy', format('%s', s.rel),
         format('soft-delete table %s has no row-level security policy: every client sees its deleted rows', s.rel),
         format('wire it: SELECT deletion.rewire(); or enable row-level security with a policy USING (deleted_at IS NULL) on %s', s.rel)
    FROM soft_tables s JOIN pg_class c ON c.oid = s.rel
   WHERE NOT c.relrowsecurity OR NOT EXISTS (SELECT 1 FROM pg_policy pol WHERE pol.polrelid = s.rel)
  UNION ALL
  -- A view over a soft-delete table that reads it with the rights of a role row-level security does
  -- not bind (its owner, or the owner of a view it reads through: views run as their owner unless
  -- security_invoker), readable by roles that must not see the trash.
  SELECT 'error', 'view_shows_deleted_rows', format('%s', v.view_oid::regclass),
         format('view %s reads soft-delete %s %s with the rights of %s, which row-level security does not bind there (a view runs as its owner unless it is security_invoker), so it shows deleted rows to the roles that may read it: %s',
                v.view_oid::regclass, CASE WHEN v.bypassed LIKE '%,%' THEN 'tables' ELSE 'table' END, v.bypassed,
                v.rights_of, v.readers),
         format('ALTER VIEW %s SET (security_invoker = true); (likewise for the views it reads the table through, if any; its readers then need SELECT on %s themselves, and row-level security hides deleted rows from them), or add WHERE deleted_at IS NULL to its definition',
                v.view_oid::regclass, v.bypassed)
    FROM soft_readers v
   WHERE v.relkind = 'v' AND NOT v.invoker AND NOT v.filters_deleted AND v.bypassed IS NOT NULL
  UNION ALL
  -- A materialized view over a soft-delete table: a snapshot, taken with its owner's rights, that
  -- keeps every row deleted since it was taken, readable by roles that must not see the trash.
  SELECT 'error', 'matview_shows_deleted_rows', format('%s', v.view_oid::regclass),
         format('materialized view %s is a snapshot of soft-delete %s %s and its definition does not filter deleted_at IS NULL, so it shows deleted rows to the roles that may read it: %s',
                v.view_oid::regclass, CASE WHEN v.soft_tables LIKE '%,%' THEN 'tables' ELSE 'table' END, v.soft_tables, v.readers),
         format('add WHERE deleted_at IS NULL to its definition and REFRESH MATERIALIZED VIEW %s after soft deletes (rows deleted since the last refresh still show), or REVOKE SELECT ON %s FROM %s;',
                v.view_oid::regclass, v.view_oid::regclass, v.readers)
    FROM soft_readers v
   WHERE v.relkind = 'm' AND NOT v.filters_deleted
  UNION ALL
  -- A SECURITY DEFINER function that reads a soft-delete table as an owner who bypasses row-level
  -- security, callable by roles that must not see the trash (found by the table's name in its body).
  SELECT 'warning', 'definer_sees_deleted_rows', format('%s', f.oid::regprocedure),
         format('SECURITY DEFINER function %s reads soft-delete %s %s (its body names %s) as its owner %s, who bypasses row-level security, so it sees deleted rows; the roles that may call it: %s',
                f.oid::regprocedure, CASE WHEN r.soft_tables LIKE '%,%' THEN 'tables' ELSE 'table' END, r.soft_tables,
                CASE WHEN r.soft_tables LIKE '%,%' THEN 'them' ELSE 'it' END, f.proowner::regrole, f.callers),
         format('make it SECURITY INVOKER (ALTER FUNCTION %s SECURITY INVOKER;), or filter deleted_at IS NULL in its queries, or REVOKE EXECUTE ON FUNCTION %s FROM %s; and grant it to deletion_admin only',
                f.oid::regprocedure, f.oid::regprocedure, f.callers)
    FROM definers f JOIN definer_reads r ON r.oid = f.oid
   WHERE f.callers IS NOT NULL
  UNION ALL
  -- A SECURITY DEFINER function every role may call (PUBLIC has EXECUTE, the default for a new
  -- function): anyone runs it with its owner's rights. The engine's own functions are checked too.
  SELECT 'error', 'definer_executable_by_public', format('%s', f.oid::regprocedure),
         format('SECURITY DEFINER function %s runs with the rights of its owner %s and every role may call it: EXECUTE is granted to PUBLIC (the default for a new function)',
                f.oid::regprocedure, f.proowner::regrole),
         format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC; then GRANT EXECUTE ON FUNCTION %s TO the roles that need it (in the migration that creates it)',
                f.oid::regprocedure, f.oid::regprocedure)
    FROM definers f
   WHERE f.public_executes
  UNION ALL
  -- A registered table whose wiring is not what its registry row asks for.
  SELECT 'error', 'wiring_differs', format('%s', w.target),
         format('%s %s does not match its registry row: %s',
                CASE WHEN deletion.registered_table_of(w.target) = w.target THEN 'registered table' ELSE 'partition' END, w.target, w.problem),
         format('SELECT deletion.wire(%L); (re-derives its wiring from the registry; deletion-kit migrate does it for every table)',
                coalesce(deletion.registered_table_of(w.target), w.target)::text)
    FROM deletion.wiring_differences() w
  UNION ALL
  -- Erasure: personal-looking columns not declared, foreign keys to a subject without a rule
  -- (sql/31_personal_data.sql).
  SELECT * FROM deletion.personal_data_lint()
  ORDER BY 1, 2, 3
$$;
COMMENT ON FUNCTION deletion.lint(integer) IS 'Deletion hazards in the schema (severity, rule, object, problem, fix): unindexed or default foreign keys, unique keys that collide with deleted rows, soft-delete keys plain upserts cannot name, plain DELETEs that report 0 rows, tables without a policy, deep cascades, unpinned SECURITY DEFINER functions, soft-delete tables without row-level security, views, materialized views and SECURITY DEFINER functions that show deleted rows to non-admin roles, SECURITY DEFINER functions executable by PUBLIC, archived tables that can no longer leave rows.';

GRANT EXECUTE ON FUNCTION deletion.linted_schemas(), deletion.engine_schemas(), deletion.is_soft_delete_table(regclass),
                          deletion.wiring_differences(), deletion.soft_delete_index_name(regclass, text), deletion.live_parent_keys(regclass), deletion.soft_delete_tables(),
                          deletion.has_own_leading_index(regclass, name[]), deletion.has_leading_index(regclass, name[]),
                          deletion.lint(integer), deletion.steps_aside(oid), deletion.step_aside_column(regclass)
  TO deletion_app, deletion_admin;

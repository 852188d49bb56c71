-- The deletion-policy linter: deletion.lint() reads the catalog and the policy registry and returns
-- the deletion hazards it finds, each with what to do about it. `deletion-kit lint` prints them and
-- exits non-zero when any has severity 'error'; CI runs it on our own schema, which must be clean.
-- docs/lint.md lists the rules.
--
-- What is linted: every schema except PostgreSQL's own, the runner's bookkeeping (deletion_kit) and
-- pgTAP (tap). The engine's schemas (deletion, audit) are linted like any other, except that their
-- tables need no row in the policy registry: they are the engine's own state, deleted by the engine.

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

-- True when the registry says the table is a soft-delete table (column soft_delete, issue 3).
CREATE OR REPLACE FUNCTION deletion.is_soft_delete_table(target regclass)
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT deletion.policy_flag(target, 'soft_delete')
$$;
COMMENT ON FUNCTION deletion.is_soft_delete_table(regclass) IS 'True for tables the registry marks soft_delete.';

-- Every finding, one row each:
--   severity  error (lint fails) or warning
--   rule      the rule's name (docs/lint.md)
--   object    the table, constraint, index or function concerned
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
  )
  -- A foreign key with no index on its referencing columns: every delete of a parent row scans the child.
  SELECT 'error', 'unindexed_foreign_key', format('%s.%I', k.child, k.constraint_name),
         format('foreign key %I on %s (%s) has no index on its referencing columns: every delete from %s scans %s',
                k.constraint_name, k.child, replace(k.child_columns, 'child.', ''), k.parent, k.child),
         format('CREATE INDEX ON %s (%s);', k.child, replace(k.child_columns, 'child.', ''))
    FROM linted_keys k
   WHERE NOT EXISTS (
           SELECT 1 FROM pg_index i
            WHERE i.indrelid = k.child AND i.indpred IS NULL AND i.indisvalid
              AND (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(k.conkey)] @> k.conkey
              AND (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(k.conkey)] <@ k.conkey)
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
  ORDER BY 1, 2, 3
$$;
COMMENT ON FUNCTION deletion.lint(integer) IS 'Deletion hazards in the schema (severity, rule, object, problem, fix): unindexed or default foreign keys, unique keys that collide with deleted rows, tables without a policy, deep cascades, unpinned SECURITY DEFINER functions, soft-delete tables without row-level security.';

GRANT EXECUTE ON FUNCTION deletion.linted_schemas(), deletion.engine_schemas(), deletion.is_soft_delete_table(regclass),
                          deletion.lint(integer)
  TO deletion_app, deletion_admin;

-- deletion.lint: our own schema (and the lab schema) are clean, and a fixture built with every
-- hazard gets exactly one finding per hazard, each with a fix.
BEGIN;
SELECT plan(14);

SELECT is_empty($$ SELECT * FROM deletion.lint() $$, 'our own schema is clean: no error and no warning');

\i test/fixtures/lab_schema.sql
SELECT is_empty($$ SELECT * FROM deletion.lint() $$, 'so is the lab schema (composite, self-referencing and uuid keys, all indexed and deliberate)');

CREATE SCHEMA hazards;
CREATE TABLE hazards.parents (id bigint PRIMARY KEY);
-- An unindexed foreign key.
CREATE TABLE hazards.children (id bigint PRIMARY KEY, parent_id bigint REFERENCES hazards.parents ON DELETE CASCADE);
-- A foreign key left at NO ACTION (indexed, so only that rule fires).
CREATE TABLE hazards.loose (id bigint PRIMARY KEY, parent_id bigint REFERENCES hazards.parents);
CREATE INDEX ON hazards.loose (parent_id);
-- A soft-delete table whose unique key counts deleted rows and that row-level security does not filter.
CREATE TABLE hazards.trash (id bigint PRIMARY KEY, email text UNIQUE, deleted_at timestamptz);
-- The same, done right: a partial unique index and a policy (right, but a plain upsert cannot name
-- a partial index: a warning).
CREATE TABLE hazards.trash_ok (id bigint PRIMARY KEY, email text, deleted_at timestamptz);
CREATE UNIQUE INDEX trash_ok_email_live ON hazards.trash_ok (email) WHERE deleted_at IS NULL;
ALTER TABLE hazards.trash_ok ENABLE ROW LEVEL SECURITY;
CREATE POLICY live_rows ON hazards.trash_ok USING (deleted_at IS NULL);
-- A chain of eight cascades.
CREATE TABLE hazards.level0 (id bigint PRIMARY KEY);
DO $$
BEGIN
  FOR i IN 1 .. 8 LOOP
    EXECUTE format('CREATE TABLE hazards.level%s (id bigint PRIMARY KEY, up bigint REFERENCES hazards.level%s ON DELETE CASCADE)', i, i - 1);
    EXECUTE format('CREATE INDEX ON hazards.level%s (up)', i);
  END LOOP;
END $$;
SELECT deletion.register_table(c.oid::regclass, 'hazard fixture')
  FROM pg_class c WHERE c.relnamespace = 'hazards'::regnamespace AND c.relkind = 'r';
-- The registry calls both trash tables soft-delete tables; only trash_ok was prepared for it.
UPDATE deletion.table_policies SET soft_delete = true WHERE table_schema = 'hazards' AND table_name IN ('trash', 'trash_ok');
-- A table nobody registered.
CREATE TABLE hazards.unregistered (id bigint PRIMARY KEY);
-- SECURITY DEFINER functions with and without a pinned search_path.
CREATE FUNCTION hazards.definer() RETURNS int LANGUAGE sql SECURITY DEFINER AS $$ SELECT 1 $$;
CREATE FUNCTION hazards.definer_ok() RETURNS int LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS $$ SELECT 1 $$;
-- (Not executable by PUBLIC, which would be a hazard of its own: 321_lint_security.sql.)
REVOKE EXECUTE ON FUNCTION hazards.definer(), hazards.definer_ok() FROM PUBLIC;

-- The registry is edited by hand above, so wiring_differs reports the trash tables too; that rule has
-- its own file (322_lint_wiring.sql), and is left out here.
CREATE TEMP TABLE findings AS SELECT * FROM deletion.lint() WHERE rule <> 'wiring_differs';

SELECT results_eq($$ SELECT rule, object FROM findings ORDER BY rule, object $$,
  $$ VALUES ('deep_cascade', 'hazards.level0'),
            ('default_on_delete', 'hazards.loose.loose_parent_id_fkey'),
            ('definer_without_search_path', 'hazards.definer()'),
            ('no_deletion_policy', 'hazards.unregistered'),
            ('soft_delete_without_policy', 'hazards.trash'),
            ('unindexed_foreign_key', 'hazards.children.children_parent_id_fkey'),
            ('unique_includes_deleted', 'hazards.trash_email_key'),
            ('upsert_needs_predicate', 'hazards.trash_ok_email_live') $$,
  'one finding per hazard, none for the tables done right but the upsert warning');
SELECT is((SELECT fix FROM findings WHERE rule = 'unindexed_foreign_key'), 'CREATE INDEX ON hazards.children (parent_id);',
          'an unindexed foreign key comes with the index to create');
SELECT matches((SELECT problem FROM findings WHERE rule = 'default_on_delete'), 'left at ON DELETE NO ACTION',
               'a foreign key left at the default NO ACTION is named as such');
SELECT matches((SELECT fix FROM findings WHERE rule = 'unique_includes_deleted'), 'WHERE deleted_at IS NULL',
               'a unique key that collides with deleted rows: the fix is a partial unique index');
SELECT matches((SELECT fix FROM findings WHERE rule = 'no_deletion_policy'), $$deletion.register_table\('hazards.unregistered'$$,
               'a table without a policy: the fix registers it');
SELECT matches((SELECT problem FROM findings WHERE rule = 'deep_cascade'), '8 levels deep \(limit 6\): hazards.level0 -> hazards.level1 .* -> hazards.level8$',
               'a deep cascade shows the chain');
SELECT is((SELECT severity FROM findings WHERE rule = 'deep_cascade'), 'warning', 'a deep cascade is a warning');
SELECT is((SELECT count(*) FROM findings WHERE severity = 'error'), 6::bigint, 'every other hazard is an error');
SELECT is_empty($$ SELECT * FROM deletion.lint(8) WHERE rule = 'deep_cascade' $$, 'the cascade limit is a parameter');
SELECT matches((SELECT fix FROM findings WHERE rule = 'definer_without_search_path'), 'SET search_path = pg_catalog',
               'an unpinned SECURITY DEFINER function: the fix pins search_path');

-- Fixing the hazards clears the findings.
CREATE INDEX ON hazards.children (parent_id);
DROP FUNCTION hazards.definer();
SELECT deletion.register_table('hazards.unregistered');
SELECT is_empty($$ SELECT * FROM deletion.lint() WHERE rule IN ('unindexed_foreign_key', 'definer_without_search_path', 'no_deletion_policy') $$,
                'fixed hazards are no longer reported');

-- Engine tables need no policy; but the engine's functions are linted like any other.
CREATE TABLE deletion.engine_scratch (id int PRIMARY KEY);
SELECT is_empty($$ SELECT * FROM deletion.lint() WHERE object = 'deletion.engine_scratch' $$, 'engine tables need no deletion policy');

SELECT * FROM finish();
ROLLBACK;

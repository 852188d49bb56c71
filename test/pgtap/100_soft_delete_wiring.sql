-- deletion.enable_soft_delete / wire_soft_delete on the lab schema: columns, indexes, unique keys among
-- active rows only, row-level security, triggers; idempotent; refusals; turning it off keeps the data.
BEGIN;
SELECT plan(34);

\i test/fixtures/lab_schema.sql

SELECT lives_ok($$ SELECT deletion.enable_soft_delete('lab.orgs') $$, 'enable_soft_delete on a uuid-keyed table');
SELECT lives_ok($$ SELECT deletion.enable_soft_delete('lab.folders') $$, 'on a self-referencing table with a composite key');
SELECT lives_ok($$ SELECT deletion.enable_soft_delete('lab.documents') $$, 'on a table with a composite unique key');
SELECT lives_ok($$ SELECT deletion.enable_soft_delete('lab.people', delete_becomes_soft => false) $$, 'on a table where DELETE stays a hard delete');

SELECT ok((deletion.policy_of('lab.orgs')).soft_delete AND (deletion.policy_of('lab.orgs')).delete_becomes_soft,
          'the registry row says soft_delete and delete_becomes_soft');
SELECT ok((deletion.policy_of('lab.people')).soft_delete AND NOT (deletion.policy_of('lab.people')).delete_becomes_soft,
          'delete_becomes_soft is a per-table option');

SELECT has_column('lab', 'documents', 'deleted_at', 'deleted_at added');
SELECT col_type_is('lab', 'documents', 'deleted_at', 'timestamp with time zone', 'deleted_at is a timestamptz');
SELECT col_type_is('lab', 'documents', 'deleted_by', 'text', 'deleted_by holds the actor (text when the table has no deleted_by of its own)');
SELECT col_type_is('lab', 'documents', 'deletion_reason', 'text', 'deletion_reason is text');
SELECT col_type_is('lab', 'documents', 'deletion_op', 'uuid', 'deletion_op is the operation id');

SELECT has_index('lab', 'documents', 'documents_active_idx', ARRAY['id'], 'an index serves active-row queries');
SELECT is(pg_get_expr(i.indpred, i.indrelid), '(deleted_at IS NULL)', 'the active-row index is partial on deleted_at IS NULL')
  FROM pg_index i WHERE i.indexrelid = 'lab.documents_active_idx'::regclass;
SELECT has_index('lab', 'documents', 'documents_deletion_op_idx', ARRAY['deletion_op'], 'an index finds an operation''s rows');

-- Unique keys hold among active rows only.
SELECT is((SELECT pg_get_indexdef('lab.people_email_key'::regclass)),
          'CREATE UNIQUE INDEX people_email_key ON lab.people USING btree (email) WHERE (deleted_at IS NULL)',
          'the unique constraint on people.email became a partial unique index of the same name');
SELECT is((SELECT count(*)::int FROM pg_constraint WHERE conrelid = 'lab.people'::regclass AND contype = 'u'), 0,
          'and the full unique constraint is gone');
SELECT is((SELECT original FROM deletion.soft_delete_unique_conversions WHERE table_name = 'documents'),
          'ALTER TABLE lab.documents ADD CONSTRAINT documents_org_slug_key UNIQUE (org_id, slug)',
          'the original definition is kept, to put back');

-- Row-level security and its policies.
SELECT ok((SELECT relrowsecurity FROM pg_class WHERE oid = 'lab.documents'::regclass), 'row-level security is on');
SELECT policies_are('lab', 'documents', ARRAY['deletion_00_engine', 'deletion_20_soft_delete_hide',
                                              'deletion_20_soft_delete_restore', 'deletion_20_soft_delete_restorer'],
                    'the engine''s access, a hide-deleted policy and the restorer''s two');
SELECT is((SELECT polpermissive FROM pg_policy WHERE polrelid = 'lab.documents'::regclass AND polname = 'deletion_20_soft_delete_hide'),
          true, 'with no policy of its own, the hiding policy is the one permissive policy (queries carry deleted_at IS NULL)');

-- Triggers.
SELECT is(ARRAY(SELECT tgname::text FROM pg_trigger WHERE tgrelid = 'lab.orgs'::regclass AND tgname LIKE 'deletion\_20%' ORDER BY tgname),
          ARRAY['deletion_20_restore_update', 'deletion_20_soft_delete', 'deletion_20_soft_delete_flush', 'deletion_20_soft_delete_update'],
          'a soft-delete table with delete_becomes_soft has the four triggers');
SELECT is(ARRAY(SELECT tgname::text FROM pg_trigger WHERE tgrelid = 'lab.people'::regclass AND tgname LIKE 'deletion\_20%' ORDER BY tgname),
          ARRAY['deletion_20_restore_update', 'deletion_20_soft_delete_flush', 'deletion_20_soft_delete_update'],
          'without delete_becomes_soft there is no DELETE trigger');
-- The statement trigger fires only where a row trigger can leave it work: an UPDATE of deleted_at,
-- and a DELETE only where a plain DELETE becomes a soft delete (not on the statement of every parent
-- row that a foreign-key cascade runs through a table whose DELETE stays hard or is refused).
SELECT matches(pg_get_triggerdef(t.oid), 'AFTER DELETE OR UPDATE OF deleted_at ON lab\.orgs FOR EACH STATEMENT',
               'where a DELETE becomes a soft delete, the statement trigger fires on UPDATE OF deleted_at and on DELETE')
  FROM pg_trigger t WHERE t.tgrelid = 'lab.orgs'::regclass AND t.tgname = 'deletion_20_soft_delete_flush';
SELECT matches(pg_get_triggerdef(t.oid), 'AFTER UPDATE OF deleted_at ON lab\.people FOR EACH STATEMENT',
               'where a DELETE stays hard, on UPDATE OF deleted_at alone')
  FROM pg_trigger t WHERE t.tgrelid = 'lab.people'::regclass AND t.tgname = 'deletion_20_soft_delete_flush';
UPDATE deletion.table_policies SET plain_delete = 'refuse' WHERE table_schema = 'lab' AND table_name = 'orgs';
DO $$ BEGIN PERFORM deletion.wire('lab.orgs'); END $$;
SELECT matches(pg_get_triggerdef(t.oid), 'AFTER UPDATE OF deleted_at ON lab\.orgs FOR EACH STATEMENT',
               'and where a plain DELETE is refused, on UPDATE OF deleted_at alone too')
  FROM pg_trigger t WHERE t.tgrelid = 'lab.orgs'::regclass AND t.tgname = 'deletion_20_soft_delete_flush';
UPDATE deletion.table_policies SET plain_delete = 'soft' WHERE table_schema = 'lab' AND table_name = 'orgs';
DO $$ BEGIN PERFORM deletion.wire('lab.orgs'); END $$;

-- Idempotent, and rewire re-derives the same wiring.
SELECT lives_ok($$ SELECT deletion.enable_soft_delete('lab.documents'); SELECT deletion.rewire() $$, 'enabling again and rewiring are harmless');
SELECT is((SELECT count(*)::int FROM pg_indexes WHERE schemaname = 'lab' AND tablename = 'documents'), 7,
          'still one set of indexes: pkey, two foreign-key, the slug key (converted in place), active, deleted_at, deletion_op');

-- Refusals, naming what is wrong.
SELECT throws_ok($$ SELECT deletion.enable_soft_delete('lab.no_key') $$, '42P10', NULL, 'a table without a primary key is refused');
CREATE TABLE lab.codes (id int PRIMARY KEY, code text CONSTRAINT codes_code_key UNIQUE);
CREATE TABLE lab.code_uses (id int PRIMARY KEY, code text REFERENCES lab.codes (code));
SELECT throws_like($$ SELECT deletion.enable_soft_delete('lab.codes') $$,
                   '%codes_code_key is referenced by foreign key lab.code_uses.code_uses_code_fkey%',
                   'a unique key a foreign key depends on cannot be made partial: refused by name');
SELECT ok(NOT coalesce((deletion.policy_of('lab.codes')).soft_delete, false)
          AND NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'lab.codes'::regclass AND attname = 'deleted_at'),
          'and nothing changed');
CREATE TABLE lab.odd (id int PRIMARY KEY, deleted_at date);
SELECT throws_ok($$ SELECT deletion.enable_soft_delete('lab.odd') $$, '42804', NULL, 'an existing deleted_at of another type is refused');

-- Off again: behaviour goes, data stays.
SELECT lives_ok($$ SELECT deletion.disable_soft_delete('lab.orgs') $$, 'disable_soft_delete');
SELECT ok(NOT (SELECT relrowsecurity FROM pg_class WHERE oid = 'lab.orgs'::regclass)
          AND NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'lab.orgs'::regclass AND tgname LIKE 'deletion\_20%'),
          'row-level security and the triggers are gone');
SELECT has_column('lab', 'orgs', 'deleted_at', 'the columns (and what they record) stay');

SELECT * FROM finish();
ROLLBACK;

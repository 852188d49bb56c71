-- The live-parent update trigger (sql/16_soft_delete_live_parents.sql) runs a function generated for
-- its table, with the table's key columns and foreign keys written in. It refuses a row moved under
-- a soft-deleted parent (for the key that moved), lets through an update that keeps its keys as
-- they were (an ORM's full-row UPDATE of a row whose parent was deleted after it), one that moves
-- another key of such a row, or one that sets a key to NULL, and the engine's own
-- writes; the trigger carries no column test and no arguments (PostgreSQL copies both at the start
-- of every statement on the table, a cascade's included); the function follows the table's keys
-- when a parent's soft delete is turned off, goes when none is left, and no other role can attach it.
BEGIN;
SELECT plan(21);

\i test/fixtures/lab_schema.sql
SELECT deletion.enable_soft_delete(t) FROM unnest(ARRAY['lab.orgs', 'lab.folders', 'lab.documents', 'lab.people']::regclass[]) t;

CREATE ROLE lpu_app LOGIN IN ROLE deletion_app;
CREATE ROLE lpu_admin LOGIN IN ROLE deletion_admin;
CREATE ROLE lpu_nobody LOGIN;
GRANT USAGE ON SCHEMA lab TO deletion_app, deletion_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA lab TO deletion_app, deletion_admin;
GRANT USAGE ON SCHEMA deletion TO lpu_nobody;

INSERT INTO lab.orgs (id, name) VALUES ('a0000000-0000-4000-8000-000000000000', 'A');
INSERT INTO lab.people (id, email) VALUES ('c0000000-0000-4000-8000-000000000001', 'p1@example.com'),
                                          ('c0000000-0000-4000-8000-000000000002', 'p2@example.com');
INSERT INTO lab.folders (org_id, id, name) VALUES ('a0000000-0000-4000-8000-000000000000', 1, 'kept'),
                                                  ('a0000000-0000-4000-8000-000000000000', 2, 'deleted');
INSERT INTO lab.documents (id, org_id, folder_id, owner_id, slug) VALUES
  ('d0000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-000000000000', 1, 'c0000000-0000-4000-8000-000000000001', 'one');
-- The owner is deleted after the document (a SET NULL edge: the document keeps naming them); the
-- second folder, with nothing in it, too.
SELECT deletion.soft_delete('lab.people', 'c0000000-0000-4000-8000-000000000001') IS NOT NULL AS person_deleted \gset
SELECT deletion.soft_delete('lab.folders', '["a0000000-0000-4000-8000-000000000000", 2]') IS NOT NULL AS folder_deleted \gset

-- 1. The trigger and its function.
SELECT is((SELECT tgnargs FROM pg_trigger WHERE tgrelid = 'lab.documents'::regclass AND tgname = 'deletion_05_live_parent_update'),
          0::smallint, 'the update trigger passes no arguments');
SELECT matches((SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 'lab.documents'::regclass AND tgname = 'deletion_05_live_parent_update'),
               'BEFORE UPDATE OF folder_id, org_id, owner_id ON lab\.documents FOR EACH ROW WHEN \(\(NOT deletion\.acts_with_engine_rights\(\)\)\) '
               'EXECUTE FUNCTION deletion\.live_parent_update_documents_[0-9a-f]{8}\(\)$',
               'it fires on updates of the key columns; its WHEN clause is the engine-rights test alone; its function is the table''s own');
SELECT tgfoid::regprocedure::text AS fn FROM pg_trigger WHERE tgrelid = 'lab.documents'::regclass AND tgname = 'deletion_05_live_parent_update' \gset
SELECT is((SELECT proowner::regrole::text || ' ' || prosecdef::text FROM pg_proc WHERE oid = :'fn'::regprocedure), 'deletion_owner true',
          'the function belongs to deletion_owner and runs as its owner');
SELECT ok(NOT has_function_privilege('lpu_app', :'fn'::regprocedure, 'EXECUTE') AND NOT has_function_privilege('lpu_nobody', :'fn'::regprocedure, 'EXECUTE'),
          'no other role may execute it');

-- 2. What it lets through and what it refuses, as the application.
SET LOCAL ROLE lpu_app;
SELECT lives_ok($$ UPDATE lab.documents SET org_id = org_id, folder_id = folder_id, owner_id = owner_id, slug = 'one, renamed' WHERE slug = 'one' $$,
                'an update that sets every key to the value it had passes, though the owner it names was deleted after it');
SELECT throws_ok($$ UPDATE lab.documents SET folder_id = 2 WHERE slug = 'one, renamed' $$,
                 '23503', 'insert or update on table "documents" violates foreign key constraint "documents_folder_fkey"',
                 'a row moved under a soft-deleted folder is refused in the words of a missing parent, for the key that moved');
SELECT lives_ok($$ UPDATE lab.documents SET folder_id = 1, owner_id = owner_id WHERE slug = 'one, renamed' $$,
                'a row moved to an active folder passes, though another of its keys names the deleted owner');
SELECT lives_ok($$ UPDATE lab.documents SET owner_id = NULL WHERE slug = 'one, renamed' $$, 'a key set to NULL passes');
SELECT throws_ok($$ UPDATE lab.documents SET owner_id = 'c0000000-0000-4000-8000-000000000001' WHERE slug = 'one, renamed' $$,
                 '23503', NULL, 'a key set back to the soft-deleted owner is refused');
SELECT lives_ok($$ UPDATE lab.documents SET owner_id = 'c0000000-0000-4000-8000-000000000002' WHERE slug = 'one, renamed' $$,
                'a key moved to an active parent passes');
RESET ROLE;
SELECT is((SELECT owner_id::text || ' ' || folder_id FROM lab.documents WHERE slug = 'one, renamed'), 'c0000000-0000-4000-8000-000000000002 1',
          'the row holds what the updates that passed set');
SET LOCAL ROLE lpu_admin;
SELECT throws_like($$ UPDATE lab.documents SET folder_id = 2 WHERE slug = 'one, renamed' $$, '%violates foreign key constraint "documents_folder_fkey"%',
                   'an admin is refused too');
RESET ROLE;
SET LOCAL ROLE deletion_owner;
SELECT lives_ok($$ UPDATE lab.documents SET folder_id = 2 WHERE slug = 'one, renamed' $$, 'the engine''s own writes are not checked');
RESET ROLE;
UPDATE lab.documents SET folder_id = 1 WHERE slug = 'one, renamed';

-- 2b. A trigger an older version wired (deletion.live_parent_check with the keys as its arguments)
-- keeps checking until the table is wired again: deletion-kit migrate runs a product's migrations
-- after it replaces the engine's code and before it rewires.
DROP TRIGGER deletion_05_live_parent_update ON lab.documents;
CREATE TRIGGER deletion_05_live_parent_update BEFORE UPDATE OF folder_id ON lab.documents FOR EACH ROW
  WHEN (NOT deletion.acts_with_engine_rights()) EXECUTE FUNCTION deletion.live_parent_check('documents_folder_fkey');
SET LOCAL ROLE lpu_app;
SELECT throws_ok($$ UPDATE lab.documents SET folder_id = 2 WHERE slug = 'one, renamed' $$,
                 '23503', 'insert or update on table "documents" violates foreign key constraint "documents_folder_fkey"',
                 'the trigger an older version wired refuses a row moved under a soft-deleted folder');
SELECT lives_ok($$ UPDATE lab.documents SET folder_id = 1 WHERE slug = 'one, renamed' $$, 'and lets one that stays in an active folder through');
RESET ROLE;
SELECT deletion.wire('lab.documents');
SELECT is((SELECT tgfoid::regprocedure::text FROM pg_trigger WHERE tgrelid = 'lab.documents'::regclass AND tgname = 'deletion_05_live_parent_update'),
          :'fn', 'wired again, the trigger runs the table''s generated function');

-- 3. Another role cannot attach the function to a table of its own.
SET LOCAL ROLE lpu_nobody;
CREATE TEMP TABLE lpu_own (id int PRIMARY KEY, folder_id int, org_id uuid, owner_id uuid);
SELECT throws_ok(format('CREATE TRIGGER own BEFORE UPDATE ON lpu_own FOR EACH ROW EXECUTE FUNCTION %s', :'fn'), '42501', NULL,
                 'a role of its own cannot attach the generated function to a table');
RESET ROLE;

-- 4. It follows the table's keys into soft-delete tables.
SELECT deletion.disable_soft_delete('lab.people');
SELECT ok((SELECT prosrc FROM pg_proc WHERE oid = (SELECT tgfoid FROM pg_trigger WHERE tgrelid = 'lab.documents'::regclass AND tgname = 'deletion_05_live_parent_update'))
            !~ 'owner_id',
          'with the owner''s table no longer a soft-delete table, the function no longer tests the owner');
SELECT matches((SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 'lab.documents'::regclass AND tgname = 'deletion_05_live_parent_update'),
               'BEFORE UPDATE OF folder_id, org_id ON lab\.documents', 'nor does the trigger fire on it');
SELECT deletion.disable_soft_delete('lab.folders');
SELECT is((SELECT count(*) FROM pg_trigger WHERE tgrelid = 'lab.documents'::regclass AND tgname LIKE 'deletion\_05\_live\_parent%'), 0::bigint,
          'with no key into a soft-delete table left, the triggers go');
SELECT is((SELECT count(*) FROM pg_proc WHERE pronamespace = 'deletion'::regnamespace AND proname LIKE 'live\_parent\_update\_documents\_%'), 0::bigint,
          'and the generated function with them');

SELECT * FROM finish();
ROLLBACK;

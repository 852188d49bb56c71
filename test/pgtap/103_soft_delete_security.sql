-- Row-level security and roles, tested with SET ROLE to non-superuser login roles: the application
-- role never sees a deleted row and can soft-delete what it can see (UPDATE ... RETURNING included,
-- without the 42501 trap); only deletion_admin lists the trash, restores, purges and hard-deletes.
BEGIN;
SELECT plan(27);

\i test/fixtures/lab_schema.sql
SELECT deletion.enable_soft_delete(t) FROM unnest(ARRAY['lab.orgs', 'lab.folders', 'lab.documents', 'lab.approvals', 'lab.people']::regclass[]) t;

CREATE ROLE sd103_app LOGIN IN ROLE deletion_app;
CREATE ROLE sd103_admin LOGIN IN ROLE deletion_admin;
GRANT USAGE ON SCHEMA lab TO deletion_app, deletion_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA lab TO deletion_app, deletion_admin;

INSERT INTO lab.orgs (id, name) VALUES ('a0000000-0000-4000-8000-000000000000', 'A');
INSERT INTO lab.folders (org_id, id, name) VALUES ('a0000000-0000-4000-8000-000000000000', 1, 'one'), ('a0000000-0000-4000-8000-000000000000', 2, 'two');
INSERT INTO lab.documents (id, org_id, folder_id, slug) VALUES
  ('d0000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-000000000000', 1, 'gone'),
  ('d0000000-0000-4000-8000-000000000002', 'a0000000-0000-4000-8000-000000000000', 2, 'here'),
  ('d0000000-0000-4000-8000-000000000003', 'a0000000-0000-4000-8000-000000000000', 2, 'returning'),
  ('d0000000-0000-4000-8000-000000000004', 'a0000000-0000-4000-8000-000000000000', 2, 'hard-mode');
CREATE TEMP TABLE ops (name text PRIMARY KEY, op uuid);
GRANT ALL ON ops TO PUBLIC;
INSERT INTO ops SELECT 'folder one', deletion.soft_delete('lab.folders', '["a0000000-0000-4000-8000-000000000000", 1]');

SET LOCAL ROLE sd103_app;
SELECT is((SELECT array_agg(slug ORDER BY slug) FROM lab.documents), ARRAY['hard-mode', 'here', 'returning'],
          'the application role''s SELECT sees no deleted row');
SELECT is((SELECT count(*)::int FROM lab.folders f JOIN lab.documents d USING (org_id) WHERE f.id = d.folder_id), 3,
          'nor does a join');
SELECT is((SELECT count(*)::int FROM lab.documents WHERE id = 'd0000000-0000-4000-8000-000000000001'), 0,
          'nor a lookup of the deleted row by key');

-- The known trap: UPDATE ... SET deleted_at ... RETURNING under a deleted_at IS NULL policy fails with 42501.
SELECT lives_ok($$
  DO $do$
  DECLARE returned integer;
  BEGIN
    WITH u AS (UPDATE lab.documents SET deleted_at = now() WHERE slug = 'returning' RETURNING id)
    SELECT count(*) INTO returned FROM u;
    PERFORM set_config('sd103.returned', returned::text, true);
  END
  $do$ $$, 'soft delete through UPDATE ... RETURNING as the application role does not fail with 42501');
SELECT is(current_setting('sd103.returned'), '1', 'and RETURNING returns the row it soft-deleted');
SELECT is((SELECT count(*)::int FROM lab.documents WHERE slug = 'returning'), 0, 'the row is gone from the application''s view');

SELECT lives_ok($$ INSERT INTO ops SELECT 'by app', deletion.soft_delete('lab.documents', 'd0000000-0000-4000-8000-000000000002', 'app says so') $$,
                'the application role can soft-delete a row it sees with deletion.soft_delete');
SELECT throws_ok($$ SELECT deletion.soft_delete('lab.documents', 'd0000000-0000-4000-8000-000000000001') $$, 'P0002', NULL,
                 'a row it cannot see is not found (its deletion is not revealed)');

SET LOCAL deletion.mode = 'hard';
SELECT lives_ok($$ DELETE FROM lab.documents WHERE slug = 'hard-mode' $$, 'a DELETE with deletion.mode = hard by the application role');
RESET deletion.mode;

SELECT lives_ok($$ UPDATE lab.documents SET deleted_at = NULL, deletion_op = NULL $$, 'an UPDATE that tries to undelete everything');
SELECT throws_ok($$ INSERT INTO lab.documents (org_id, folder_id, slug, deleted_at) VALUES ('a0000000-0000-4000-8000-000000000000', 2, 'x', now()) $$,
                 '42501', NULL, 'inserting a row that claims to be deleted is refused');

SELECT throws_ok(format('SELECT deletion.restore(%L::uuid)', (SELECT op FROM ops WHERE name = 'folder one')), '42501', NULL,
                 'the application role cannot restore');
SELECT throws_ok($$ SELECT deletion.restore('lab.folders', '["a0000000-0000-4000-8000-000000000000", 1]') $$, '42501', NULL,
                 'not by key either');
SELECT throws_ok($$ SELECT * FROM deletion.purge_soft_deleted('0 days') $$, '42501', NULL, 'cannot purge');
SELECT throws_ok($$ SELECT deletion.hard_delete('lab.folders', '["a0000000-0000-4000-8000-000000000000", 2]') $$, '42501', NULL, 'cannot hard-delete');
SELECT throws_ok($$ SELECT * FROM deletion.vw_trash $$, '42501', NULL, 'cannot list the trash');
SELECT throws_ok($$ SELECT * FROM deletion.soft_delete_operations $$, '42501', NULL, 'cannot read the operation log');
RESET ROLE;

SELECT isnt((SELECT deleted_at FROM lab.documents WHERE slug = 'hard-mode'), NULL,
            'the application''s DELETE in "hard" mode was a soft delete: a setting grants nothing');
SELECT ok((SELECT deletion_op IS NOT NULL AND deletion_reason = 'app says so' FROM lab.documents WHERE slug = 'here'),
          'its soft_delete marked the row with an operation and its reason');
SELECT is((SELECT count(*)::int FROM lab.documents WHERE deleted_at IS NULL), 0,
          'its undelete-everything UPDATE changed no deleted row (every document is still deleted)');
SELECT is((SELECT count(*)::int FROM lab.folders WHERE deleted_at IS NULL), 1, 'and the application''s actions restored nothing');

-- deletion_admin (not a superuser, not the owner) lists the trash, restores and hard-deletes.
SET LOCAL ROLE sd103_admin;
SELECT is((SELECT count(*)::int FROM deletion.vw_trash), 4, 'deletion_admin lists the trash: one row per operation');
SELECT is((SELECT total_rows FROM deletion.vw_trash WHERE op = (SELECT op FROM ops WHERE name = 'folder one')), 2::numeric,
          'with the rows of each operation');
SELECT is(deletion.restore((SELECT op FROM ops WHERE name = 'folder one')), 2::bigint, 'deletion_admin restores');
SELECT is(deletion.hard_delete('lab.documents', 'd0000000-0000-4000-8000-000000000004'), 1::bigint, 'and hard-deletes');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM lab.documents WHERE slug = 'hard-mode'), 0, 'the hard delete removed the row for good');
SELECT is((SELECT count(*)::int FROM lab.documents WHERE deleted_at IS NULL), 1, 'the restore brought back the folder''s document');

SELECT * FROM finish();
ROLLBACK;

-- deletion.plan on soft-delete tables (issue 3's registry columns): a DELETE that becomes a soft
-- delete marks the row and its active soft-delete descendants, and nothing else; a hard delete that
-- would cascade into such a table is refused (PD103) unless an admin asks for the hard path.
BEGIN;
SELECT plan(9);

\i test/fixtures/lab_schema.sql
\i test/fixtures/plan_matches_delete.sql

SELECT deletion.enable_soft_delete('lab.folders');
SELECT deletion.enable_soft_delete('lab.documents');

INSERT INTO lab.orgs (id, name) VALUES ('00000000-0000-4000-8000-00000000000a', 'acme');
INSERT INTO lab.folders (org_id, id, parent_id, name) VALUES
  ('00000000-0000-4000-8000-00000000000a', 1, NULL, 'root'), ('00000000-0000-4000-8000-00000000000a', 2, 1, 'child'),
  ('00000000-0000-4000-8000-00000000000a', 3, 2, 'grandchild');
INSERT INTO lab.people (id, email) VALUES ('00000000-0000-4000-8000-000000000001', 'approver@lab');
INSERT INTO lab.documents (org_id, folder_id, owner_id, slug)
SELECT '00000000-0000-4000-8000-00000000000a', 1 + n % 3, '00000000-0000-4000-8000-000000000001', 'doc-' || n FROM generate_series(1, 6) n;
INSERT INTO lab.approvals (document_id, approver_id) SELECT id, '00000000-0000-4000-8000-000000000001' FROM lab.documents;
INSERT INTO lab.tags (document_id, label) SELECT id, 'tag' FROM lab.documents;
-- One document is already in the trash: the soft cascade neither counts nor re-marks it.
SELECT deletion.soft_delete('lab.documents', (SELECT id::text FROM lab.documents WHERE slug = 'doc-3'));

SELECT results_eq(
  $$ SELECT depth, table_name::text, action, rows FROM deletion.plan('lab.folders', '["00000000-0000-4000-8000-00000000000a", 1]')
     ORDER BY depth, table_name::text $$,
  $$ VALUES (0, 'lab.folders', 'soft delete', 3::bigint), (1, 'lab.documents', 'soft delete', 5::bigint) $$,
  'a folder''s DELETE becomes a soft delete of its subtree and active documents; approvals and tags stay as they are');
SELECT is_empty($$ SELECT * FROM pg_temp.plan_vs_delete('lab.folders', '["00000000-0000-4000-8000-00000000000a", 1]') WHERE planned <> actual $$,
                'and the delete does exactly that');
SELECT is_empty($$ SELECT * FROM pg_temp.plan_vs_delete('lab.documents', (SELECT id::text FROM lab.documents WHERE slug = 'doc-1')) WHERE planned <> actual $$,
                'so does soft-deleting one document');

SELECT results_eq(
  $$ SELECT table_name::text, action, via FROM deletion.plan('lab.orgs', '00000000-0000-4000-8000-00000000000a') WHERE action LIKE 'blocked%' $$,
  $$ VALUES ('lab.folders', 'blocked by soft delete', '{folders_org_id_fkey}'::text[]) $$,
  'a hard delete of the org would cascade into the soft-delete folders: refused');
SELECT matches((SELECT detail FROM deletion.plan('lab.orgs', '00000000-0000-4000-8000-00000000000a') WHERE action LIKE 'blocked%'),
               'PD103.*deletion.mode', 'and the plan says why and what to do');
SELECT is_empty($$ SELECT * FROM pg_temp.plan_vs_delete('lab.orgs', '00000000-0000-4000-8000-00000000000a') WHERE planned <> actual $$,
                'the delete is indeed refused');

SET LOCAL deletion.mode = 'hard';
SELECT results_eq(
  $$ SELECT table_name::text, action, rows FROM deletion.plan('lab.orgs', '00000000-0000-4000-8000-00000000000a') ORDER BY depth, 1, 2 $$,
  $$ VALUES ('lab.orgs', 'delete', 1::bigint), ('lab.folders', 'delete', 3::bigint), ('lab.documents', 'delete', 6::bigint),
            ('lab.approvals', 'delete', 6::bigint), ('lab.tags', 'set null', 6::bigint) $$,
  'with the hard path an admin''s delete removes everything, trashed rows included');
SELECT is_empty($$ SELECT * FROM pg_temp.plan_vs_delete('lab.orgs', '00000000-0000-4000-8000-00000000000a') WHERE planned <> actual $$,
                'and the delete does exactly that');
SELECT is_empty($$ SELECT * FROM pg_temp.plan_vs_delete('lab.folders', '["00000000-0000-4000-8000-00000000000a", 2]') WHERE planned <> actual $$,
                'so does a hard delete of a folder');
RESET deletion.mode;

SELECT * FROM finish();
ROLLBACK;

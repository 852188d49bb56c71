-- deletion.plan on the lab schema (uuid keys, a composite key, a self-referencing tree, SET NULL and
-- a RESTRICT that blocks): what it says, and that it equals what the delete then does.
BEGIN;
SELECT plan(17);

\i test/fixtures/lab_schema.sql
\i test/fixtures/plan_matches_delete.sql

INSERT INTO lab.orgs (id, name) VALUES
  ('00000000-0000-4000-8000-00000000000a', 'acme'), ('00000000-0000-4000-8000-00000000000b', 'other');
-- acme: folder 1 > 2 > 3 (a chain through the self-reference), folder 4 on its own.
INSERT INTO lab.folders (org_id, id, parent_id, name) VALUES
  ('00000000-0000-4000-8000-00000000000a', 1, NULL, 'root'), ('00000000-0000-4000-8000-00000000000a', 2, 1, 'child'),
  ('00000000-0000-4000-8000-00000000000a', 3, 2, 'grandchild'), ('00000000-0000-4000-8000-00000000000a', 4, NULL, 'other root'),
  ('00000000-0000-4000-8000-00000000000b', 1, NULL, 'root');
INSERT INTO lab.people (id, email) VALUES
  ('00000000-0000-4000-8000-000000000001', 'approver@lab'), ('00000000-0000-4000-8000-000000000002', 'owner@lab'),
  ('00000000-0000-4000-8000-000000000003', 'nobody@lab');
INSERT INTO lab.documents (id, org_id, folder_id, owner_id, slug)
SELECT ('00000000-0000-4000-8000-0000000001' || lpad(n::text, 2, '0'))::uuid, '00000000-0000-4000-8000-00000000000a',
       1 + n % 4, '00000000-0000-4000-8000-000000000002', 'doc-' || n
  FROM generate_series(1, 8) n;
INSERT INTO lab.documents (id, org_id, folder_id, owner_id, slug) VALUES
  ('00000000-0000-4000-8000-000000000201', '00000000-0000-4000-8000-00000000000b', 1, '00000000-0000-4000-8000-000000000002', 'b-doc');
-- Approvals on acme's documents by the approver (RESTRICT from people), one on the other org's.
INSERT INTO lab.approvals (document_id, approver_id)
SELECT id, '00000000-0000-4000-8000-000000000001' FROM lab.documents WHERE slug IN ('doc-1', 'doc-2', 'b-doc');
INSERT INTO lab.tags (document_id, label) SELECT id, 'tag' FROM lab.documents;

SELECT results_eq(
  $$ SELECT depth, table_name::text, action, rows, via FROM deletion.plan('lab.orgs', '00000000-0000-4000-8000-00000000000a')
     ORDER BY depth, table_name::text, action $$,
  $$ VALUES (0, 'lab.orgs', 'delete', 1::bigint, '{}'::text[]),
            (1, 'lab.folders', 'delete', 4::bigint, '{folders_org_id_fkey}'::text[]),
            (2, 'lab.documents', 'delete', 8::bigint, '{documents_folder_fkey}'::text[]),
            (3, 'lab.approvals', 'delete', 2::bigint, '{approvals_document_id_fkey}'::text[]),
            (3, 'lab.tags', 'set null', 8::bigint, '{tags_document_id_fkey}'::text[]) $$,
  'an org''s plan: its folders counted once although the tree reaches some twice, their documents, approvals and tags');

SELECT is_empty($$ SELECT * FROM pg_temp.plan_vs_delete('lab.orgs', '00000000-0000-4000-8000-00000000000a') WHERE planned <> actual $$,
                'deleting the org does exactly what its plan says');
SELECT is((SELECT count(*) FROM lab.orgs), 2::bigint, 'planning (and the measured, undone delete) changed nothing');

SELECT results_eq(
  $$ SELECT depth, table_name::text, action, rows FROM deletion.plan('lab.folders', '["00000000-0000-4000-8000-00000000000a", 1]')
     WHERE action = 'delete' ORDER BY depth, table_name::text $$,
  $$ VALUES (0, 'lab.folders', 'delete', 3::bigint), (1, 'lab.documents', 'delete', 6::bigint), (3, 'lab.approvals', 'delete', 2::bigint) $$,
  'a folder by its composite key: the subtree through the self-reference (folders at depth 0 and deeper count as one table)');
SELECT is_empty($$ SELECT * FROM pg_temp.plan_vs_delete('lab.folders', '["00000000-0000-4000-8000-00000000000a", 1]') WHERE planned <> actual $$,
                'deleting the folder does exactly what its plan says');
SELECT is_empty($$ SELECT * FROM pg_temp.plan_vs_delete('lab.folders', '["00000000-0000-4000-8000-00000000000a", 3]') WHERE planned <> actual $$,
                'so does deleting a leaf folder');

SELECT results_eq(
  $$ SELECT table_name::text, action, rows, via FROM deletion.plan('lab.people', '00000000-0000-4000-8000-000000000001') ORDER BY 1, 2 $$,
  $$ VALUES ('lab.approvals', 'blocked by restrict', 3::bigint, '{approvals_approver_id_fkey}'::text[]),
            ('lab.people', 'delete', 1::bigint, '{}'::text[]) $$,
  'an approver cannot be deleted: the RESTRICT blocks, with the rows that block');
SELECT matches((SELECT detail FROM deletion.plan('lab.people', '00000000-0000-4000-8000-000000000001') WHERE action LIKE 'blocked%'),
               'approvals_approver_id_fkey \(ON DELETE RESTRICT\)', 'and the detail names the foreign key and its action');
SELECT is_empty($$ SELECT * FROM pg_temp.plan_vs_delete('lab.people', '00000000-0000-4000-8000-000000000001') WHERE planned <> actual $$,
                'and the delete is indeed refused');
SELECT is_empty($$ SELECT * FROM pg_temp.plan_vs_delete('lab.people', '00000000-0000-4000-8000-000000000002') WHERE planned <> actual $$,
                'deleting an owner sets their documents'' owner to NULL, as planned');
SELECT is_empty($$ SELECT * FROM pg_temp.plan_vs_delete('lab.people', '00000000-0000-4000-8000-000000000003') WHERE planned <> actual $$,
                'deleting someone nothing references deletes one row, as planned');

-- Protection appears in the plan for the role that would run the delete.
SELECT deletion.protect_child_count('lab.orgs', 'lab.folders', 2, 'schedule a deletion job for {table} {pk}');
CREATE ROLE plan_test_app LOGIN IN ROLE deletion_app;
GRANT USAGE ON SCHEMA lab TO plan_test_app;
GRANT SELECT, DELETE, UPDATE ON ALL TABLES IN SCHEMA lab TO plan_test_app;
SET LOCAL ROLE plan_test_app;
SELECT results_eq(
  $$ SELECT depth, table_name::text, rows FROM deletion.plan('lab.orgs', '00000000-0000-4000-8000-00000000000a') WHERE action = 'blocked by protection' $$,
  $$ VALUES (0, 'lab.orgs', 1::bigint) $$,
  'for an application role the plan shows the org blocked by its protection rule');
SELECT matches((SELECT detail FROM deletion.plan('lab.orgs', '00000000-0000-4000-8000-00000000000a') WHERE action = 'blocked by protection'),
               'holds 4 rows in lab.folders.*schedule a deletion job for lab.orgs 00000000-0000-4000-8000-00000000000a',
               'with the rule''s message');
SELECT is_empty($$ SELECT * FROM pg_temp.plan_vs_delete('lab.orgs', '00000000-0000-4000-8000-00000000000a') WHERE planned <> actual $$,
                'and the delete is indeed refused for that role');
RESET ROLE;
SELECT is_empty($$ SELECT * FROM deletion.plan('lab.orgs', '00000000-0000-4000-8000-00000000000a') WHERE action LIKE 'blocked%' $$,
                'an admin''s plan is not blocked');

SELECT throws_ok($$ SELECT * FROM deletion.plan('lab.people', '00000000-0000-4000-8000-0000000000ff') $$, 'P0002', NULL,
                 'planning a row that does not exist is refused');
SELECT is((SELECT count(*) FROM pg_class WHERE relname LIKE 'deletion\_plan\_%' AND relpersistence = 't'), 0::bigint,
          'the plan leaves no scratch tables behind');

SELECT * FROM finish();
ROLLBACK;

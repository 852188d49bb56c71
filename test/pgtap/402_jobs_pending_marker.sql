-- Pending deletion, hidden at once (docs/jobs.md): scheduling a job on a soft-delete table hides its
-- root row from the application at once with a marker operation of its own; cancelling shows it
-- again exactly; a soft job continues the marker into the soft delete of the whole tree; a hard job
-- deletes the row and marks the marker purged; restoring the marker before the job runs cancels the
-- job; a failed job keeps it; tables without soft delete are unaffected. On the product, then on
-- the lab schema (uuid and composite keys).
BEGIN;
SELECT plan(84);

INSERT INTO users (id, email, name) OVERRIDING SYSTEM VALUE VALUES (1, 'ann@example.com', 'Ann'), (2, 'ben@example.com', 'Ben');
INSERT INTO workspaces (id, name, slug) OVERRIDING SYSTEM VALUE VALUES
  (1, 'Acme', 'acme'), (2, 'Globex', 'globex'), (3, 'Initech', 'initech'), (4, 'Umbrella', 'umbrella');
INSERT INTO teams (id, workspace_id, name, key) OVERRIDING SYSTEM VALUE VALUES (1, 1, 'Eng', 'ENG');
INSERT INTO projects (id, workspace_id, team_id, name) OVERRIDING SYSTEM VALUE VALUES (1, 1, 1, 'Launch');
INSERT INTO issues (id, workspace_id, project_id, creator_id, title, status) OVERRIDING SYSTEM VALUE VALUES
  (1, 1, 1, 1, 'first', 'todo'), (2, 1, NULL, 1, 'second', 'todo'), (3, 1, NULL, 2, 'third', 'todo'),
  (4, 2, NULL, 1, 'globex one', 'todo'), (5, 2, NULL, 1, 'globex two', 'todo'),
  (6, 3, NULL, 1, 'initech', 'todo'), (7, 4, NULL, 1, 'umbrella one', 'todo'), (8, 4, NULL, 2, 'umbrella two', 'todo');
INSERT INTO comments (id, issue_id, author_id, parent_comment_id, body) OVERRIDING SYSTEM VALUE VALUES
  (1, 1, 2, NULL, 'question'), (2, 1, 1, 1, 'answer'), (3, 2, 2, NULL, 'on second'), (4, 4, 2, NULL, 'on globex'),
  (5, 8, 1, NULL, 'on umbrella two');
UPDATE comments SET created_at = now() - interval '60 days';
SELECT setval(pg_get_serial_sequence('public.workspaces', 'id'), 100);

CREATE TEMP TABLE before_rows AS SELECT 'workspace 1' AS what, to_jsonb(w) AS image FROM workspaces w WHERE id = 1;
SET LOCAL deletion.actor = '1';

-- Scheduling hides the root at once, from the application, and nothing else.
SET LOCAL ROLE deletion_app;
SELECT deletion.schedule('public.workspaces', '1', now() + interval '1 day', reason => 'customer left') AS ws1_job \gset
SELECT is((SELECT count(*)::int FROM workspaces WHERE id = 1), 0, 'scheduling hides the workspace from the application at once');
SELECT is((SELECT count(*)::int FROM issues WHERE workspace_id = 1), 3, 'its issues stay: the tree is the job''s work');
SELECT is(deletion.schedule('public.workspaces', '1'), :'ws1_job'::bigint, 'scheduling it again, although the caller cannot see the row, returns the live job');
RESET ROLE;
SELECT pending_op AS ws1_marker FROM deletion.deletion_jobs WHERE id = :ws1_job \gset
SELECT isnt(:'ws1_marker'::uuid, NULL, 'the job records its marker operation (pending_op)');
SELECT is((SELECT deletion_op FROM workspaces WHERE id = 1), :'ws1_marker'::uuid, 'which the row carries');
SELECT is((SELECT jsonb_build_object('root_table', root_table, 'root_key', root_key, 'deleted_by', deleted_by,
                                     'reason', deletion_reason, 'rows', rows_per_table)
             FROM deletion.soft_delete_operations WHERE op = :'ws1_marker'),
          jsonb_build_object('root_table', 'public.workspaces', 'root_key', '[{"id": 1}]'::jsonb, 'deleted_by', '1',
                             'reason', format('pending deletion job %s: customer left', :ws1_job), 'rows', '{"public.workspaces": 1}'::jsonb),
          'the marker is logged like any soft delete: root, key, actor, reason, one row');
SELECT is((SELECT count(*)::int FROM issues WHERE deleted_at IS NOT NULL) + (SELECT count(*)::int FROM projects WHERE deleted_at IS NOT NULL)
          + (SELECT count(*)::int FROM comments WHERE deleted_at IS NOT NULL), 0, 'no row below it is marked (no cascade)');
SELECT ok(EXISTS (SELECT 1 FROM deletion.vw_trash WHERE op = :'ws1_marker'), 'the trash lists the pending deletion');
SELECT is((SELECT pending_op FROM deletion.vw_deletion_jobs WHERE id = :ws1_job), :'ws1_marker'::uuid, 'vw_deletion_jobs shows the marker');
SELECT is((SELECT pending_op FROM deletion.deletion_jobs WHERE id = :ws1_job), :'ws1_marker'::uuid, 'scheduling again left the job unchanged');

-- Cancelling shows the row again, exactly.
SET LOCAL ROLE deletion_app;
SELECT is(deletion.cancel(:ws1_job), 'cancelled', 'the application cancels the pending job');
SELECT is((SELECT count(*)::int FROM workspaces WHERE id = 1), 1, 'the workspace is shown again at once');
RESET ROLE;
SELECT is((SELECT to_jsonb(w) FROM workspaces w WHERE id = 1), (SELECT image FROM before_rows WHERE what = 'workspace 1'),
          'exactly as it was, every column');
SELECT isnt((SELECT restored_at FROM deletion.soft_delete_operations WHERE op = :'ws1_marker'), NULL, 'its marker operation is restored');
SELECT is((SELECT pending_op FROM deletion.deletion_jobs WHERE id = :ws1_job), NULL, 'and the job no longer names it');

-- Re-arming hides it again; the soft job then soft-deletes the whole tree under the marker operation.
SET LOCAL ROLE deletion_app;
SELECT is(deletion.schedule('public.workspaces', '1', reason => 'customer left, really'), :'ws1_job'::bigint, 're-arming the cancelled job returns it');
SELECT is((SELECT count(*)::int FROM workspaces WHERE id = 1), 0, 'and hides the row again');
RESET ROLE;
SELECT pending_op AS ws1_marker2 FROM deletion.deletion_jobs WHERE id = :ws1_job \gset
SELECT isnt(:'ws1_marker2'::uuid, :'ws1_marker'::uuid, 'with a new marker operation');
SELECT is((deletion.claim_job('test')).id, :'ws1_job'::bigint, 'the soft job is claimed');
SELECT is(deletion.run_chunk(:ws1_job) ->> 'status', 'done', 'and done in one chunk');
SELECT is((SELECT array_agg(DISTINCT deletion_op) FROM (
             SELECT deletion_op FROM workspaces WHERE id = 1
             UNION ALL SELECT deletion_op FROM projects WHERE workspace_id = 1
             UNION ALL SELECT deletion_op FROM issues WHERE workspace_id = 1
             UNION ALL SELECT c.deletion_op FROM comments c JOIN issues i ON i.id = c.issue_id WHERE i.workspace_id = 1) t),
          ARRAY[:'ws1_marker2'::uuid], 'the workspace, its project, issues and comments are soft-deleted under one operation: the marker, continued');
SELECT is((SELECT rows_per_table FROM deletion.soft_delete_operations WHERE op = :'ws1_marker2'),
          '{"public.workspaces": 1, "public.projects": 1, "public.issues": 3, "public.comments": 3}'::jsonb,
          'the operation counts the whole tree');
SELECT is((SELECT deletion_reason FROM deletion.soft_delete_operations WHERE op = :'ws1_marker2'), 'customer left, really',
          'with the job''s reason');
SELECT is((SELECT count(*)::int FROM deletion.vw_trash WHERE root_table = 'public.workspaces' AND root_key = '[{"id": 1}]'), 1,
          'the trash holds one operation for the workspace');
SELECT is((SELECT count(*)::int FROM deletion.soft_delete_operations
            WHERE deletion_reason LIKE 'pending deletion job%' AND restored_at IS NULL AND purged_at IS NULL), 0,
          'and no marker is left in it');
SELECT is((SELECT status || ' ' || rows_deleted || ' ' || coalesce(pending_op::text, 'no marker') FROM deletion.deletion_jobs WHERE id = :ws1_job),
          'done 8 no marker', 'the job is done, counted the 8 rows and no longer names a marker');
SELECT is((SELECT count(*)::int FROM teams WHERE id = 1 AND workspace_id = 1), 1, 'the team (a table without soft delete) is untouched');
SELECT is(deletion.restore(:'ws1_marker2'), 8::bigint, 'restoring that one operation brings the whole tree back');

-- A hard job hides its root too, deletes it, and marks the marker purged.
SELECT deletion.schedule('public.workspaces', '2', hard => true, reason => 'fraud') AS ws2_job \gset
SELECT pending_op AS ws2_marker FROM deletion.deletion_jobs WHERE id = :ws2_job \gset
SET LOCAL ROLE deletion_app;
SELECT is((SELECT count(*)::int FROM workspaces WHERE id = 2), 0, 'a hard job hides its root from the application at once as well');
RESET ROLE;
SELECT is((deletion.claim_job('test')).id, :'ws2_job'::bigint, 'the hard job is claimed');
SELECT is(deletion.run_chunk(:ws2_job, 1, 1000) ->> 'phase', 'delete', 'and planned');
SELECT is(deletion.run_chunk(:ws2_job, 100000, 100000) ->> 'status', 'done', 'and done');
SELECT is((SELECT count(*)::int FROM workspaces WHERE id = 2) + (SELECT count(*)::int FROM issues WHERE workspace_id = 2), 0,
          'the workspace and its issues are really gone');
SELECT isnt((SELECT purged_at FROM deletion.soft_delete_operations WHERE op = :'ws2_marker'), NULL, 'its marker operation is marked purged');
SELECT ok(NOT EXISTS (SELECT 1 FROM deletion.vw_trash WHERE op = :'ws2_marker'), 'so the trash does not list a row that is gone');

-- A running job that is cancelled stops at its chunk boundary and shows its root again.
SELECT deletion.schedule('public.workspaces', '4', hard => true) AS ws4_job \gset
SELECT pending_op AS ws4_marker FROM deletion.deletion_jobs WHERE id = :ws4_job \gset
SELECT is((deletion.claim_job('test')).id, :'ws4_job'::bigint, 'another hard job is claimed');
SELECT is(deletion.run_chunk(:ws4_job, 1, 1000) ->> 'phase', 'delete', 'and planned');
SELECT is(deletion.cancel(:ws4_job), 'running', 'a cancel asks the running job to stop');
SELECT is(deletion.run_chunk(:ws4_job) ->> 'status', 'cancelled', 'which it does at its next chunk');
SET LOCAL ROLE deletion_app;
SELECT is((SELECT count(*)::int FROM workspaces WHERE id = 4) + (SELECT count(*)::int FROM issues WHERE workspace_id = 4), 3,
          'the workspace is shown again, with its two issues');
RESET ROLE;
SELECT isnt((SELECT restored_at FROM deletion.soft_delete_operations WHERE op = :'ws4_marker'), NULL, 'its marker operation is restored');

-- A should_proceed hook that says no shows the root again.
CREATE FUNCTION public.never_proceed(target regclass, pk text) RETURNS boolean LANGUAGE sql AS 'SELECT false';
SELECT deletion.set_should_proceed('public.issues', 'public.never_proceed(regclass, text)');
SELECT deletion.schedule('public.issues', '7') AS issue7_job \gset
SELECT is((deletion.claim_job('test')).id, :'issue7_job'::bigint, 'a job on an issue is claimed');
SELECT is(deletion.run_chunk(:issue7_job) ->> 'status', 'cancelled', 'the hook says no: the job is cancelled');
SELECT is((SELECT deleted_at FROM issues WHERE id = 7), NULL, 'and the issue is shown again');
SELECT deletion.set_should_proceed('public.issues', NULL);

-- Restoring the marker before the job runs cancels the job.
SET LOCAL ROLE deletion_app;
SELECT deletion.schedule('public.workspaces', '3') AS ws3_job \gset
RESET ROLE;
SELECT pending_op AS ws3_marker FROM deletion.deletion_jobs WHERE id = :ws3_job \gset
SELECT is(deletion.restore(:'ws3_marker'), 1::bigint, 'an admin restores the pending deletion from the trash');
SELECT is((deletion.claim_job('test')).id, :'ws3_job'::bigint, 'the job is claimed');
SELECT is(deletion.run_chunk(:ws3_job) ->> 'status', 'cancelled', 'and cancels itself');
SELECT is((SELECT error FROM deletion.deletion_jobs WHERE id = :ws3_job),
          format('cancelled: row 3 of public.workspaces was restored before the job ran (its pending-deletion operation %s no longer hides it)', :'ws3_marker'),
          'saying the row was restored before it ran');
SELECT is((SELECT count(*)::int FROM workspaces WHERE id = 3 AND deleted_at IS NULL) + (SELECT count(*)::int FROM issues WHERE id = 6 AND deleted_at IS NULL), 2,
          'the workspace and its issue are untouched');

-- A cancel that cannot show the row again (its unique key was taken meanwhile) fails and changes nothing.
SET LOCAL ROLE deletion_app;
SELECT is(deletion.schedule('public.workspaces', '3'), :'ws3_job'::bigint, 'the job is re-armed');
INSERT INTO workspaces (name, slug) VALUES ('Initech again', 'initech');
SELECT throws_ok(format('SELECT deletion.cancel(%s)', :ws3_job), 'PD110', NULL, 'cancelling fails: the slug is taken by a new workspace');
SELECT is((SELECT count(*)::int FROM workspaces WHERE id = 3), 0, 'the row stays hidden');
SELECT is((SELECT status FROM deletion.deletion_jobs WHERE id = :ws3_job), 'pending', 'and the job pending');
UPDATE workspaces SET slug = 'initech-2' WHERE slug = 'initech';
SELECT is(deletion.cancel(:ws3_job), 'cancelled', 'once the slug is free, the cancel goes through');
SELECT is((SELECT count(*)::int FROM workspaces WHERE id = 3), 1, 'and the row is shown again');
RESET ROLE;

-- A failed job keeps its marker: the row stays hidden and in the trash, and the job can be re-armed.
SET LOCAL ROLE deletion_app;
SELECT deletion.schedule('public.issues', '8') AS issue8_job \gset
RESET ROLE;
SELECT pending_op AS issue8_marker FROM deletion.deletion_jobs WHERE id = :issue8_job \gset
UPDATE deletion.deletion_jobs SET max_attempts = 1 WHERE id = :issue8_job;
SELECT is((deletion.claim_job('test')).id, :'issue8_job'::bigint, 'the issue job is claimed');
SELECT is((deletion.fail_chunk(:issue8_job, 'storage on fire')).status, 'failed', 'and fails');
SELECT is((SELECT pending_op FROM deletion.deletion_jobs WHERE id = :issue8_job), :'issue8_marker'::uuid, 'the failed job keeps its marker');
SELECT is((SELECT deletion_op FROM issues WHERE id = 8), :'issue8_marker'::uuid, 'the issue stays hidden');
SELECT ok(EXISTS (SELECT 1 FROM deletion.vw_trash WHERE op = :'issue8_marker' AND restorable), 'in the trash, restorable');
-- The purge leaves a marked row alone however old: its tree is still active and belongs to the job.
UPDATE issues SET deleted_at = now() - interval '2 days' WHERE id = 8;
UPDATE deletion.soft_delete_operations SET performed_at = now() - interval '2 days' WHERE op = :'issue8_marker';
SELECT lives_ok($$ SELECT deletion.purge_soft_deleted('1 day') $$, 'purging rows soft-deleted more than a day ago');
SELECT is((SELECT count(*)::int FROM issues WHERE id = 8) + (SELECT count(*)::int FROM comments WHERE issue_id = 8), 2,
          'leaves the marked issue and its comment alone');
SELECT is((SELECT purged_at FROM deletion.soft_delete_operations WHERE op = :'issue8_marker'), NULL, 'and its marker operation');
SET LOCAL ROLE deletion_app;
SELECT is(deletion.schedule('public.issues', '8'), :'issue8_job'::bigint, 'the application re-arms the failed job, although it cannot see the row');
RESET ROLE;
SELECT is((SELECT status || ' ' || pending_op FROM deletion.deletion_jobs WHERE id = :issue8_job), 'pending ' || :'issue8_marker',
          'the re-armed job keeps the marker that still hides the row');
SELECT is((deletion.claim_job('test')).id, :'issue8_job'::bigint, 'it is claimed');
SELECT is(deletion.run_chunk(:issue8_job) ->> 'status', 'done', 'and done');
SELECT is((SELECT count(*)::int FROM comments WHERE issue_id = 8 AND deletion_op = :'issue8_marker'), 1, 'the issue''s comment joined its operation');

-- A table without soft delete: nothing changes.
SELECT count(*) AS ops_before FROM deletion.soft_delete_operations \gset
SELECT deletion.schedule('public.teams', '1', now() + interval '1 day', hard => true) AS team_job \gset
SELECT is((SELECT pending_op FROM deletion.deletion_jobs WHERE id = :team_job), NULL, 'a job on a table without soft delete has no marker');
SELECT is((SELECT count(*) FROM deletion.soft_delete_operations), :'ops_before'::bigint, 'and logs no operation');
SET LOCAL ROLE deletion_app;
SELECT is((SELECT count(*)::int FROM teams WHERE id = 1), 1, 'its row stays visible until the job runs');
RESET ROLE;
SELECT deletion.cancel(:team_job);

-- The lab schema: uuid and composite keys, a self-referencing tree.
\i test/fixtures/lab_schema.sql
SELECT deletion.enable_soft_delete(t) FROM unnest(ARRAY['lab.orgs', 'lab.folders', 'lab.documents', 'lab.approvals']::regclass[]) t;
GRANT USAGE ON SCHEMA lab TO deletion_app;
GRANT SELECT, UPDATE, DELETE ON ALL TABLES IN SCHEMA lab TO deletion_app;
INSERT INTO lab.orgs (id, name) VALUES ('a0000000-0000-4000-8000-000000000000', 'A'), ('b0000000-0000-4000-8000-000000000000', 'B');
INSERT INTO lab.people (id, email) VALUES ('c0000000-0000-4000-8000-000000000001', 'p1@example.com');
INSERT INTO lab.folders (org_id, id, parent_id, name) VALUES
  ('a0000000-0000-4000-8000-000000000000', 1, NULL, 'root'), ('a0000000-0000-4000-8000-000000000000', 2, 1, 'docs'),
  ('a0000000-0000-4000-8000-000000000000', 3, 2, 'deep'), ('a0000000-0000-4000-8000-000000000000', 4, 1, 'other'),
  ('b0000000-0000-4000-8000-000000000000', 1, NULL, 'b root');
INSERT INTO lab.documents (id, org_id, folder_id, owner_id, slug) VALUES
  ('d0000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-000000000000', 2, 'c0000000-0000-4000-8000-000000000001', 'd1'),
  ('d0000000-0000-4000-8000-000000000002', 'a0000000-0000-4000-8000-000000000000', 3, NULL, 'd2'),
  ('d0000000-0000-4000-8000-000000000003', 'a0000000-0000-4000-8000-000000000000', 4, NULL, 'd3');
INSERT INTO lab.approvals (document_id, approver_id) VALUES ('d0000000-0000-4000-8000-000000000002', 'c0000000-0000-4000-8000-000000000001');

SET LOCAL ROLE deletion_app;
SELECT deletion.schedule('lab.folders', '["a0000000-0000-4000-8000-000000000000", 2]') AS folder_job \gset
SELECT is(ARRAY(SELECT id FROM lab.folders WHERE org_id = 'a0000000-0000-4000-8000-000000000000' ORDER BY id), ARRAY[1, 3, 4],
          'a job on a composite key hides its folder at once, and only it');
RESET ROLE;
SELECT pending_op AS folder_marker FROM deletion.deletion_jobs WHERE id = :folder_job \gset
SELECT is((SELECT root_key FROM deletion.soft_delete_operations WHERE op = :'folder_marker'),
          '[{"org_id": "a0000000-0000-4000-8000-000000000000", "id": 2}]'::jsonb, 'the marker names the composite key like any soft delete');
SELECT is((deletion.claim_job('test')).id, :'folder_job'::bigint, 'the folder job is claimed');
SELECT is(deletion.run_chunk(:folder_job) ->> 'status', 'done', 'and done');
SELECT is((SELECT rows_per_table FROM deletion.soft_delete_operations WHERE op = :'folder_marker'),
          '{"lab.folders": 2, "lab.documents": 2, "lab.approvals": 1}'::jsonb,
          'the folder, the folder below it, their documents and the approval are soft-deleted under the marker operation');

SELECT deletion.schedule('lab.orgs', 'b0000000-0000-4000-8000-000000000000', hard => true) AS org_job \gset
SELECT pending_op AS org_marker FROM deletion.deletion_jobs WHERE id = :org_job \gset
SET LOCAL ROLE deletion_app;
SELECT is((SELECT count(*)::int FROM lab.orgs WHERE id = 'b0000000-0000-4000-8000-000000000000'), 0, 'a hard job on a uuid key hides its org at once');
RESET ROLE;
SELECT is((deletion.claim_job('test')).id, :'org_job'::bigint, 'the org job is claimed');
SELECT is(deletion.run_chunk(:org_job) ->> 'status', 'done', 'and done');
SELECT is((SELECT count(*)::int FROM lab.orgs WHERE id = 'b0000000-0000-4000-8000-000000000000')
          + (SELECT count(*)::int FROM lab.folders WHERE org_id = 'b0000000-0000-4000-8000-000000000000'), 0, 'the org and its folder are gone');
SELECT isnt((SELECT purged_at FROM deletion.soft_delete_operations WHERE op = :'org_marker'), NULL, 'and its marker is marked purged');

INSERT INTO before_rows SELECT 'document 3', to_jsonb(d) FROM lab.documents d WHERE id = 'd0000000-0000-4000-8000-000000000003';
SELECT deletion.schedule('lab.documents', 'd0000000-0000-4000-8000-000000000003') AS doc_job \gset
INSERT INTO lab.documents (org_id, folder_id, slug) VALUES ('a0000000-0000-4000-8000-000000000000', 4, 'd3');
SELECT throws_ok(format('SELECT deletion.cancel(%s)', :doc_job), 'PD110', NULL, 'a cancel whose row''s composite unique key was taken meanwhile fails');
DELETE FROM lab.documents WHERE slug = 'd3' AND deleted_at IS NULL;
SELECT is(deletion.cancel(:doc_job), 'cancelled', 'once it is free again, the cancel goes through');
SELECT is((SELECT to_jsonb(d) FROM lab.documents d WHERE id = 'd0000000-0000-4000-8000-000000000003'), (SELECT image FROM before_rows WHERE what = 'document 3'),
          'and the document is back exactly as it was');

SELECT * FROM finish();
ROLLBACK;

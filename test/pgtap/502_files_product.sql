-- Deferred file cleanup on the product schema: attachments are tracked by migration 0051, and every
-- way an attachment row goes (its issue, its workspace, a plain DELETE by the application role)
-- queues its file once, with the attachment it came from; a rolled-back delete queues nothing, and a
-- soft delete of the workspace (attachment rows stay) queues nothing.
BEGIN;
SELECT plan(13);

SELECT is((SELECT file_key_column FROM deletion.table_policies WHERE table_schema = 'public' AND table_name = 'attachments'),
          'storage_key'::name, 'migration 0051 tracks public.attachments.storage_key');
SELECT bag_eq($$ SELECT tgname::text FROM pg_trigger WHERE tgrelid = 'public.attachments'::regclass AND tgname LIKE 'deletion_60_files%' $$,
              ARRAY['deletion_60_files', 'deletion_60_files_update', 'deletion_60_files_truncate'],
              'and migrate wired its triggers');

-- Two workspaces: 30 issues in the first, 10 in the second; three files on each issue but every fifth.
INSERT INTO public.users (id, email, name) OVERRIDING SYSTEM VALUE VALUES (1, 'ann@example.com', 'Ann');
INSERT INTO public.workspaces (id, name, slug) OVERRIDING SYSTEM VALUE VALUES (1, 'One', 'one'), (2, 'Two', 'two');
INSERT INTO public.issues (id, workspace_id, title, creator_id) OVERRIDING SYSTEM VALUE
SELECT i, CASE WHEN i <= 30 THEN 1 ELSE 2 END, 'issue ' || i, 1 FROM generate_series(1, 40) i;
INSERT INTO public.attachments (issue_id, storage_key, file_name)
SELECT i, format('ws%s/issue%s/file%s.png', CASE WHEN i <= 30 THEN 1 ELSE 2 END, i, f), 'f.png'
  FROM generate_series(1, 40) i, generate_series(1, 3) f
 WHERE i % 5 <> 0;
-- Sub-issues: issue 2 is the parent of 3 and 4 (SET NULL, not a second cascade path).
UPDATE public.issues SET parent_issue_id = 2 WHERE id IN (3, 4);

-- Workspaces and issues are soft-delete tables: a soft delete keeps the attachment rows, so their
-- files stay (a restore brings the workspace back whole) and nothing is queued.
SAVEPOINT soft;
UPDATE public.workspaces SET deleted_at = now() WHERE id = 2;
SELECT is((SELECT count(*)::int FROM deletion.pending_file_deletions), 0, 'a soft delete of a workspace queues nothing');
SELECT is((SELECT count(*)::int FROM public.attachments WHERE storage_key LIKE 'ws2/%'), 24, 'and its attachments and files stay');
ROLLBACK TO SAVEPOINT soft;

-- The hard path (an admin, as the deletion-job worker and purge run): rows go, files are queued.
SET LOCAL deletion.mode = 'hard';
SAVEPOINT before;
DELETE FROM public.workspaces WHERE id = 1;
SELECT is((SELECT count(*)::int FROM deletion.pending_file_deletions), 72, 'inside the transaction, the workspace delete queued its 72 files');
ROLLBACK TO SAVEPOINT before;
SELECT is((SELECT count(*)::int FROM deletion.pending_file_deletions), 0, 'a rolled-back workspace delete queues nothing');

DELETE FROM public.issues WHERE id = 1;
SELECT bag_eq($$ SELECT q.storage_key, q.source_table::text, q.source_pk FROM deletion.pending_file_deletions q $$,
              $$ SELECT a.storage_key, 'attachments', a.id::text FROM (VALUES (1, 'ws1/issue1/file1.png'), (2, 'ws1/issue1/file2.png'), (3, 'ws1/issue1/file3.png')) a(id, storage_key) $$,
              'deleting an issue queues the files of its attachments, with the attachment ids');

DELETE FROM public.workspaces WHERE id = 1;
SELECT is((SELECT count(*)::int FROM deletion.pending_file_deletions), 72, 'deleting a workspace queues the file of every attachment under it');
SELECT is((SELECT count(DISTINCT storage_key)::int FROM deletion.pending_file_deletions WHERE storage_key LIKE 'ws1/%'), 72,
          'each once: 24 issues with files x 3');
SELECT is((SELECT count(*)::int FROM deletion.pending_file_deletions WHERE storage_key LIKE 'ws2/%'), 0, 'the other workspace''s files are not queued');
SELECT is((SELECT count(*)::int FROM public.attachments WHERE storage_key LIKE 'ws1/%'), 0, 'and the rows are gone at once');

-- The application role deletes an attachment by hand: its file is queued although it cannot see the queue.
CREATE ROLE files_test_app_502 LOGIN IN ROLE deletion_app;
SET LOCAL ROLE files_test_app_502;
DELETE FROM public.attachments WHERE storage_key = 'ws2/issue31/file1.png';
SELECT is((SELECT pending FROM deletion.vw_file_cleanup_stats), 73::bigint, 'a delete by the application role is queued too');
RESET ROLE;

-- Soft deletes are updates that keep the key (attachments are not a soft-delete table; this pins that
-- an update that keeps storage_key never queues anything).
UPDATE public.attachments SET file_name = 'renamed.png' WHERE issue_id = 32;
SELECT is((SELECT count(*)::int FROM deletion.pending_file_deletions), 73, 'an update that keeps the key queues nothing');

SELECT * FROM finish();
ROLLBACK;

-- Soft jobs in chunks: a soft job is planned and worked in chunks under the same budget as a hard
-- one, reports progress, takes rows added under its tree while it runs (under its root, and under a
-- planned row not marked yet: with the chunk that marks that row), and ends as one soft-delete
-- operation (the marker's) that restores the whole tree; cancelled half-way, every row it marked is
-- shown again.
BEGIN;
SELECT plan(17);

INSERT INTO users (id, email, name) OVERRIDING SYSTEM VALUE VALUES (1, 'ann@example.com', 'Ann');
INSERT INTO workspaces (id, name, slug) OVERRIDING SYSTEM VALUE VALUES (1, 'Acme', 'acme'), (2, 'Globex', 'globex');
INSERT INTO issues (id, workspace_id, creator_id, title, status) OVERRIDING SYSTEM VALUE
SELECT g, 1 + g % 2, 1, 'issue ' || g, 'todo' FROM generate_series(1, 400) g;
INSERT INTO comments (issue_id, author_id, body) SELECT i.id, 1, 'c' || n FROM issues i, generate_series(1, 2) n;
-- One issue of workspace 1 was soft-deleted on its own before: the job leaves it (and its comments) to its operation.
SELECT deletion.soft_delete('public.issues', '2', 'earlier') AS earlier_op \gset

SELECT deletion.schedule('public.workspaces', '1', reason => 'closing') AS job \gset
SELECT pending_op AS marker FROM deletion.deletion_jobs WHERE id = :job \gset
SELECT set_config('test.job', :'job', true);
SELECT is((deletion.claim_job('test')).id, :'job'::bigint, 'the soft job is claimed');
CREATE TEMP TABLE chunk_results AS SELECT 0 AS n, deletion.run_chunk(:job, 50, 10000) AS r;
SELECT is((SELECT r ->> 'phase' FROM chunk_results), 'delete', 'the first chunk plans the tree');
SELECT is((SELECT rows_planned FROM deletion.deletion_jobs WHERE id = :job), 199::bigint + 398, '199 active issues and their 398 comments are planned');
INSERT INTO chunk_results SELECT 1, deletion.run_chunk(:job, 50, 10000);
INSERT INTO chunk_results SELECT 2, deletion.run_chunk(:job, 50, 10000);
SELECT ok((SELECT (r ->> 'deleted')::int BETWEEN 1 AND 50 AND r ->> 'status' = 'running' FROM chunk_results WHERE n = 2),
          'a chunk marks at most its 50 rows, and the job goes on');
SELECT ok((SELECT (r ->> 'remaining')::int < (SELECT (r ->> 'remaining')::int FROM chunk_results WHERE n = 1) FROM chunk_results WHERE n = 2),
          'with progress: fewer rows remain after each chunk');
SELECT ok((SELECT rows_per_table ->> 'public.comments' FROM deletion.soft_delete_operations WHERE op = :'marker')::int > 0,
          'the marker operation lists what the chunks marked so far');
-- A writer adds an issue with a comment under the workspace while the job runs (as the owner: the application is refused a hidden parent).
INSERT INTO issues (id, workspace_id, creator_id, title, status) OVERRIDING SYSTEM VALUE VALUES (1001, 1, 1, 'late', 'todo');
INSERT INTO comments (issue_id, author_id, body) VALUES (1001, 1, 'late comment');
-- Once the chunks have marked every planned comment, another comment is added (as the owner) under an
-- issue they have not marked yet: the chunk that marks that issue takes it.
DO $$ BEGIN
  FOR i IN 1 .. 100 LOOP
    EXIT WHEN NOT EXISTS (SELECT 1 FROM comments c JOIN issues i ON i.id = c.issue_id
                           WHERE i.workspace_id = 1 AND i.id <> 1001 AND c.deleted_at IS NULL);
    PERFORM deletion.run_chunk(current_setting('test.job')::bigint, 50, 10000);
  END LOOP;
END $$;
SELECT id AS unmarked_issue FROM issues WHERE workspace_id = 1 AND deleted_at IS NULL AND id <> 1001 ORDER BY id DESC LIMIT 1 \gset
INSERT INTO comments (issue_id, author_id, body) VALUES (:unmarked_issue, 1, 'late comment on a planned issue');
SELECT set_config('test.unmarked_issue', :'unmarked_issue', true);
DO $$ BEGIN
  FOR i IN 1 .. 100 LOOP
    EXIT WHEN (SELECT deleted_at IS NOT NULL FROM issues WHERE id = current_setting('test.unmarked_issue')::bigint);
    PERFORM deletion.run_chunk(current_setting('test.job')::bigint, 50, 10000);
  END LOOP;
END $$;
SELECT is((SELECT c.deletion_op = i.deletion_op FROM comments c JOIN issues i ON i.id = c.issue_id WHERE c.body = 'late comment on a planned issue')
          AND (SELECT phase FROM deletion.deletion_jobs WHERE id = :job) = 'delete', true,
          'the chunk that marks that issue marks the comment with it, while the job still marks the tree');
DO $$ BEGIN
  FOR i IN 1 .. 100 LOOP
    EXIT WHEN deletion.run_chunk(current_setting('test.job')::bigint, 50, 10000) ->> 'status' <> 'running';
  END LOOP;
END $$;
SELECT is((SELECT status FROM deletion.deletion_jobs WHERE id = :job), 'done', 'the job ends done');
SELECT ok((SELECT chunks FROM deletion.deletion_jobs WHERE id = :job) >= 12, 'after many chunks (597 rows, 50 a chunk)');
SELECT is((SELECT count(*)::int FROM issues WHERE workspace_id = 1 AND deleted_at IS NULL)
          + (SELECT count(*)::int FROM comments c JOIN issues i ON i.id = c.issue_id WHERE i.workspace_id = 1 AND c.deleted_at IS NULL), 0,
          'nothing of the tree is left active, the late issue and comment included');
SELECT is((SELECT rows_per_table FROM deletion.soft_delete_operations WHERE op = :'marker'),
          '{"public.workspaces": 1, "public.issues": 200, "public.comments": 400}'::jsonb,
          'one operation, the marker''s, counts the whole tree');
SELECT is((SELECT deletion_op FROM comments WHERE body = 'late comment on a planned issue'), :'marker'::uuid,
          'the comment added under a planned issue after the comments were marked is taken with its issue, under the job''s operation');
SELECT is((SELECT rows_deleted FROM deletion.deletion_jobs WHERE id = :job), 601::bigint, 'the job counts every row it marked');
SELECT is(deletion.restore(:'marker'), 601::bigint, 'restoring that one operation brings back every row of every chunk');
SELECT is((SELECT count(*)::int FROM issues WHERE deletion_op = :'earlier_op'), 1, 'the issue deleted earlier stays under its own operation');

-- Cancelled half-way: everything it marked is shown again.
SELECT deletion.schedule('public.workspaces', '2') AS job2 \gset
SELECT is((deletion.claim_job('test')).id, :'job2'::bigint, 'a second soft job is claimed');
SELECT count(deletion.run_chunk(:job2, 50, 10000)) FROM generate_series(1, 4);
SELECT deletion.cancel(:job2);
SELECT deletion.run_chunk(:job2, 50, 10000);
SELECT is((SELECT count(*)::int FROM issues WHERE workspace_id = 2 AND deleted_at IS NULL)
          + (SELECT count(*)::int FROM comments c JOIN issues i ON i.id = c.issue_id WHERE i.workspace_id = 2 AND c.deleted_at IS NULL)
          + (SELECT count(*)::int FROM workspaces WHERE id = 2 AND deleted_at IS NULL), 601,
          'cancelled half-way, the workspace and every row the chunks marked are active again');

SELECT * FROM finish();
ROLLBACK;

-- A soft job's one operation counts every row the job marked, whatever its chunks' budget and even
-- when its plan is made again half-way (a plan begun before the server restarted is gone with its
-- unlogged tables): the trash, the restore and the job's own count agree.
BEGIN;
SELECT plan(8);

INSERT INTO users (id, email, name) OVERRIDING SYSTEM VALUE VALUES (1, 'ann@example.com', 'Ann');
INSERT INTO workspaces (id, name, slug) OVERRIDING SYSTEM VALUE VALUES (1, 'Acme', 'acme'), (2, 'Globex', 'globex');
INSERT INTO issues (id, workspace_id, creator_id, title, status) OVERRIDING SYSTEM VALUE
SELECT g, 1 + g % 2, 1, 'issue ' || g, 'todo' FROM generate_series(1, 40) g;
INSERT INTO comments (issue_id, author_id, body) SELECT i.id, 1, 'c' || n FROM issues i, generate_series(1, 2) n;

-- A budget that ends each chunk after its first statement: the root gets a chunk of its own.
SELECT deletion.schedule('public.workspaces', '1', reason => 'small budget') AS job \gset
SELECT pending_op AS marker FROM deletion.deletion_jobs WHERE id = :job \gset
SELECT set_config('test.job', :'job', true);
SELECT is((deletion.claim_job('test')).id, :'job'::bigint, 'the soft job is claimed');
DO $$ BEGIN
  FOR i IN 1 .. 200 LOOP
    EXIT WHEN deletion.run_chunk(current_setting('test.job')::bigint, 5, 0) ->> 'status' <> 'running';
  END LOOP;
END $$;
SELECT is((SELECT status FROM deletion.deletion_jobs WHERE id = :job), 'done', 'the job ends done');
SELECT is((SELECT sum(value::bigint)::bigint FROM deletion.soft_delete_operations, jsonb_each_text(rows_per_table) WHERE op = :'marker'),
          (SELECT rows_deleted FROM deletion.deletion_jobs WHERE id = :job),
          'its operation counts what the job counts');
SELECT is(deletion.restore(:'marker'), 61::bigint, 'and the restore brings back the workspace, its 20 issues and 40 comments');

-- The plan made again half-way: the rows marked under the first plan still count.
SELECT deletion.schedule('public.workspaces', '2', reason => 'replanned') AS job2 \gset
SELECT pending_op AS marker2 FROM deletion.deletion_jobs WHERE id = :job2 \gset
SELECT set_config('test.job', :'job2', true);
SELECT is((deletion.claim_job('test')).id, :'job2'::bigint, 'a second soft job is claimed');
SELECT count(deletion.run_chunk(:job2, 10, 10000)) FROM generate_series(1, 3);
UPDATE deletion.deletion_jobs SET plan_server_start = '-infinity' WHERE id = :job2;
DO $$ BEGIN
  FOR i IN 1 .. 200 LOOP
    EXIT WHEN deletion.run_chunk(current_setting('test.job')::bigint, 10, 10000) ->> 'status' <> 'running';
  END LOOP;
END $$;
SELECT is((SELECT status FROM deletion.deletion_jobs WHERE id = :job2), 'done', 'the replanned job ends done');
SELECT is((SELECT rows_per_table FROM deletion.soft_delete_operations WHERE op = :'marker2'),
          '{"public.workspaces": 1, "public.issues": 20, "public.comments": 40}'::jsonb,
          'its operation counts the rows of both plans');
SELECT is(deletion.restore(:'marker2'), 61::bigint, 'and restores them all');

SELECT * FROM finish();
ROLLBACK;

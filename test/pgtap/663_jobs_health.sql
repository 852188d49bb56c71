-- Backlog health: deletion.vw_deletion_jobs_status counts pending, running, retrying, blocked, failed
-- and stuck jobs, the oldest pending age and the rows still to delete per table, and calls the
-- backlog unhealthy when any job is overdue, stuck or failed.
BEGIN;
SELECT plan(9);

INSERT INTO users (id, email, name) OVERRIDING SYSTEM VALUE VALUES (1, 'ann@example.com', 'Ann');
INSERT INTO workspaces (id, name, slug) OVERRIDING SYSTEM VALUE SELECT g, 'w' || g, 'w' || g FROM generate_series(1, 5) g;
INSERT INTO issues (workspace_id, creator_id, title) SELECT 1 + g % 5, 1, 'i' FROM generate_series(1, 50) g;

SELECT is((SELECT healthy FROM deletion.vw_deletion_jobs_status), true, 'no job: healthy');
SELECT deletion.schedule('public.workspaces', g::text, hard => true) FROM generate_series(1, 4) g;
SELECT deletion.schedule('public.issues', (SELECT min(id)::text FROM issues WHERE workspace_id = 5));
-- Job states, as the worker would leave them.
UPDATE deletion.deletion_jobs SET created_at = now() - interval '2 minutes' WHERE entity_table = 'public.workspaces' AND entity_pk = '1';
UPDATE deletion.deletion_jobs SET status = 'running', heartbeat_at = now() - interval '10 minutes', lease_pid = 0 WHERE entity_table = 'public.workspaces' AND entity_pk = '2';
UPDATE deletion.deletion_jobs SET attempts = 1, error = 'deadlock', next_attempt_at = now() + interval '1 minute' WHERE entity_table = 'public.workspaces' AND entity_pk = '3';
UPDATE deletion.deletion_jobs SET status = 'failed', error = 'blocked: ... blockers: public.x: 1 rows blocked by restrict' WHERE entity_table = 'public.workspaces' AND entity_pk = '4';

SELECT is((SELECT jsonb_build_object('pending', pending, 'running', running, 'retrying', retrying, 'failed', failed, 'blocked', blocked, 'stuck', stuck)
             FROM deletion.vw_deletion_jobs_status),
          '{"pending": 3, "running": 1, "retrying": 1, "failed": 1, "blocked": 1, "stuck": 1}'::jsonb,
          'pending, running, retrying, failed, blocked and stuck jobs are counted');
SELECT ok((SELECT oldest_pending_seconds BETWEEN 119 AND 180 FROM deletion.vw_deletion_jobs_status), 'the oldest pending age, in seconds');
SELECT ok((SELECT oldest_pending_age >= interval '119 seconds' FROM deletion.vw_deletion_jobs_status), 'and as an interval');
SELECT is((SELECT rows_remaining_by_table FROM deletion.vw_deletion_jobs_status), '{"public.issues": 1, "public.workspaces": 3}'::jsonb,
          'rows still to delete per table (a job not yet planned counts its root)');
SELECT is((SELECT healthy FROM deletion.vw_deletion_jobs_status), false, 'a failed or stuck job makes the backlog unhealthy');
UPDATE deletion.deletion_jobs SET status = 'done', heartbeat_at = now() WHERE entity_table = 'public.workspaces' AND entity_pk IN ('2', '4');
SELECT is((SELECT healthy FROM deletion.vw_deletion_jobs_status), true, 'retrying and young pending jobs alone are healthy');
UPDATE deletion.deletion_jobs SET scheduled_at = now() - interval '10 minutes' WHERE entity_table = 'public.workspaces' AND entity_pk = '1';
SELECT is((SELECT overdue FROM deletion.vw_deletion_jobs_status), 1::bigint, 'a job due for more than 5 minutes is overdue');
SELECT is((SELECT healthy FROM deletion.vw_deletion_jobs_status), false, 'which is unhealthy');

SELECT * FROM finish();
ROLLBACK;

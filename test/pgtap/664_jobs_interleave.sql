-- A worker yields between chunks. With jobs for several tenants due, a job is handed back after a
-- chunk when another is due (deletion.yield_job), and the next claim takes the job worked least
-- recently: the chunks of the due jobs alternate, and none starves. A paused job (its chunks wait on
-- locks, or a replica is behind: deletion.pause_job) is shown paused, not failing, and resumes.
BEGIN;
SELECT plan(13);

INSERT INTO users (id, email, name) OVERRIDING SYSTEM VALUE VALUES (1, 'ann@example.com', 'Ann');
INSERT INTO workspaces (id, name, slug) OVERRIDING SYSTEM VALUE VALUES (1, 'Acme', 'acme'), (2, 'Globex', 'globex'), (3, 'Initech', 'initech');
INSERT INTO issues (workspace_id, creator_id, title, status)
SELECT w, 1, 'issue ' || g, 'todo' FROM generate_series(1, 3) w, generate_series(1, 40) g;

SELECT deletion.schedule('public.workspaces', '1', hard => true) AS j1 \gset
SELECT deletion.schedule('public.workspaces', '2', hard => true) AS j2 \gset
SELECT deletion.schedule('public.workspaces', '3', hard => true) AS j3 \gset

-- A worker's loop, as `deletion-kit worker` runs it: claim, one chunk of 10 rows, yield; the claims
-- in order.
CREATE TEMPORARY TABLE claims (n serial, job bigint, yielded boolean);
DO $$
DECLARE
  job bigint;
  r jsonb;
BEGIN
  FOR i IN 1..200 LOOP
    job := (deletion.claim_job('test')).id;
    EXIT WHEN job IS NULL;
    r := deletion.run_chunk(job, 10, 10000);
    INSERT INTO claims (job, yielded)
    VALUES (job, CASE WHEN r ->> 'status' = 'running' THEN deletion.yield_job(job) END);
    IF r ->> 'status' = 'running' AND NOT (SELECT c.yielded FROM claims c ORDER BY c.n DESC LIMIT 1) THEN
      -- Nothing else due: the same worker goes on with it (as the worker does), up to its end.
      LOOP
        r := deletion.run_chunk(job, 10, 10000);
        INSERT INTO claims (job, yielded) VALUES (job, NULL);
        EXIT WHEN r ->> 'status' <> 'running';
      END LOOP;
    END IF;
  END LOOP;
END
$$;

SELECT results_eq($$ SELECT job FROM claims WHERE n <= 6 ORDER BY n $$,
  format($$ VALUES (%s::bigint), (%s), (%s), (%s), (%s), (%s) $$, :j1, :j2, :j3, :j1, :j2, :j3),
  'the three due jobs take turns: each chunk is followed by a chunk of the job worked least recently');
SELECT ok((SELECT bool_and(yielded) FROM claims WHERE n <= 6), 'after each of those chunks the job was handed back (another was due)');
SELECT is((SELECT count(*)::int FROM (SELECT job, yielded, lead(job) OVER (ORDER BY n) AS next FROM claims) c
            WHERE c.yielded AND c.next = c.job), 0,
  'a job handed back is never the next one claimed while another is due');
SELECT is((SELECT array_agg(status ORDER BY id) FROM deletion.deletion_jobs WHERE id IN (:j1, :j2, :j3)), ARRAY['done', 'done', 'done'],
  'all three jobs end done');
SELECT is((SELECT count(*)::int FROM issues WHERE workspace_id IN (1, 2, 3)), 0, 'nothing of the three workspaces is left');

-- The last one alone: nothing else due, so yield_job keeps it.
INSERT INTO workspaces (id, name, slug) OVERRIDING SYSTEM VALUE VALUES (4, 'Hooli', 'hooli');
INSERT INTO issues (workspace_id, creator_id, title, status) SELECT 4, 1, 'issue ' || g, 'todo' FROM generate_series(1, 40) g;
SELECT deletion.schedule('public.workspaces', '4', hard => true) AS j4 \gset
SELECT is((deletion.claim_job('test')).id, :'j4'::bigint, 'a lone job is claimed');
SELECT is(deletion.run_chunk(:j4, 10, 10000) ->> 'status', 'running', 'one chunk');
SELECT is(deletion.yield_job(:j4), false, 'with no other job due, the worker keeps it');

-- Pauses: shown in the views, not a failure; resumed by the same call without a reason.
SELECT lives_ok(format('SELECT deletion.pause_job(%s, %L)', :j4, 'locks'), 'the worker pauses the job (its chunks wait on locks)');
SELECT is((SELECT paused_reason || ' ' || status FROM deletion.vw_deletion_jobs WHERE id = :j4), 'locks running',
  'the job view shows it paused for locks, still running');
SELECT is((SELECT paused::int || ' ' || healthy FROM deletion.vw_deletion_jobs_status), '1 true',
  'the health view counts one paused job and stays healthy');
SELECT deletion.pause_job(:j4, NULL);
SELECT is((SELECT paused::int FROM deletion.vw_deletion_jobs_status), 0, 'resumed: no paused job');
SELECT throws_ok(format('SELECT deletion.pause_job(%s, %L)', :j4, 'lunch'), '22023', NULL, 'a pause has a known reason');

SELECT * FROM finish();
ROLLBACK;

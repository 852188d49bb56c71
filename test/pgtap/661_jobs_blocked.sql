-- Blocked trees: deletion.schedule refuses a tree that something outside it blocks (a RESTRICT
-- foreign key), naming the blockers; an admin may force it; a job whose tree becomes blocked while
-- it runs ends failed with the blockers named, keeps what it deleted, and shows its root again.
BEGIN;
SELECT plan(15);

INSERT INTO users (id, email, name) OVERRIDING SYSTEM VALUE VALUES (1, 'ann@example.com', 'Ann');
INSERT INTO workspaces (id, name, slug) OVERRIDING SYSTEM VALUE VALUES (1, 'Acme', 'acme'), (2, 'Globex', 'globex');
INSERT INTO issues (id, workspace_id, creator_id, title, status) OVERRIDING SYSTEM VALUE
SELECT g, 1 + g % 2, 1, 'issue ' || g, 'todo' FROM generate_series(1, 40) g;

-- A table outside the tree that holds issues with a RESTRICT key (a legal hold, say).
CREATE TABLE public.legal_holds (id bigint PRIMARY KEY, issue_id bigint NOT NULL REFERENCES public.issues (id) ON DELETE RESTRICT);
SELECT deletion.register_table('public.legal_holds', 'test: holds block deletion');
INSERT INTO public.legal_holds VALUES (1, 2), (2, 4);

SELECT throws_like($$ SELECT deletion.schedule('public.workspaces', '1', hard => true) $$,
                   '%blocked: public.legal_holds: 2 rows blocked by restrict (legal_holds_issue_id_fkey)%',
                   'a hard job on a blocked tree is refused, naming the blocking table, rows and key');
SELECT throws_ok($$ SELECT deletion.schedule('public.workspaces', '1', hard => true) $$, 'PD406', NULL, 'with SQLSTATE PD406');
SELECT is((SELECT count(*)::int FROM deletion.deletion_jobs), 0, 'and nothing is scheduled');
SET LOCAL ROLE deletion_app;
SELECT is((SELECT count(*)::int FROM workspaces WHERE id = 1), 1, 'nor hidden');
RESET ROLE;
SELECT lives_ok($$ SELECT deletion.schedule('public.workspaces', '1') $$, 'a soft job is not blocked by a RESTRICT key: a soft delete removes nothing');
SELECT deletion.cancel((SELECT id FROM deletion.deletion_jobs));

-- An admin may force it.
SET LOCAL deletion.force_blocked = 'on';
SELECT lives_ok($$ SELECT deletion.schedule('public.workspaces', '1', hard => true) $$, 'an admin schedules it anyway with deletion.force_blocked');
RESET deletion.force_blocked;
SELECT id AS forced_job FROM deletion.deletion_jobs WHERE entity_pk = '1' \gset

-- A job that becomes blocked while it runs: hold removed, job scheduled and planned, then a new hold.
DELETE FROM public.legal_holds;
SELECT deletion.cancel(:forced_job);
SELECT is(deletion.schedule('public.workspaces', '1', hard => true), :'forced_job'::bigint, 'with the holds gone the job is accepted');
SELECT is((deletion.claim_job('test')).id, :'forced_job'::bigint, 'and claimed');
SELECT is(deletion.run_chunk(:forced_job, 10, 1000) ->> 'phase', 'delete', 'and planned (20 issues, 10 a chunk)');
SELECT is(deletion.run_chunk(:forced_job, 10, 1000) ->> 'status', 'running', 'a first chunk deletes 10 issues');
INSERT INTO public.legal_holds SELECT 9, min(id) FROM issues WHERE workspace_id = 1;
SELECT is(deletion.run_chunk(:forced_job, 10, 1000) ->> 'status', 'failed', 'the next chunk meets the new hold: the job fails at once, no retries');
SELECT matches((SELECT error FROM deletion.deletion_jobs WHERE id = :forced_job),
               'blocked: .*legal_holds_issue_id_fkey.*SQLSTATE 23(001|503).*blockers: public.legal_holds: 1 rows blocked by restrict', 'its error names the blocker');
SELECT is((SELECT count(*)::int FROM issues WHERE workspace_id = 1), 10, 'what the first chunk deleted stays deleted, the failed chunk''s deletes are undone');
SET LOCAL ROLE deletion_app;
SELECT is((SELECT count(*)::int FROM workspaces WHERE id = 1), 1, 'the root is visible again');
RESET ROLE;
SELECT is((SELECT pending_op FROM deletion.deletion_jobs WHERE id = :forced_job), NULL, 'and the job no longer names its marker');

SELECT * FROM finish();
ROLLBACK;

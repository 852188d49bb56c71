-- Deletion jobs on the product schema: a hard job through soft delete, protection and audit triggers,
-- a soft job, upkeep, and what the application role may do.
BEGIN;
SELECT plan(15);

INSERT INTO public.users (email, name) VALUES ('ann@example.com', 'Ann'), ('bob@example.com', 'Bob');
SELECT id AS ann FROM public.users WHERE email = 'ann@example.com' \gset
INSERT INTO public.workspaces (name, slug) VALUES ('Acme', 'acme'), ('Other', 'other');
INSERT INTO public.issues (workspace_id, title, creator_id)
SELECT w.id, 'issue ' || g, (SELECT min(id) FROM public.users) FROM public.workspaces w, generate_series(1, 40) g;
INSERT INTO public.comments (issue_id, author_id, body)
SELECT i.id, (SELECT min(id) FROM public.users), 'c' || n FROM public.issues i, generate_series(1, 3) n;

-- A hard job on a soft-delete table really deletes, leaves first, in chunks.
SELECT deletion.schedule('public.workspaces', (SELECT id::text FROM public.workspaces WHERE slug = 'acme'), hard => true,
                         reason => 'closing', created_by => (SELECT min(id)::text FROM public.users)) AS job \gset
SELECT is((SELECT created_by FROM deletion.vw_deletion_jobs WHERE id = :job), :'ann', 'the view shows the job''s actor label');
SELECT is((deletion.claim_job('test')).id, :'job'::bigint, 'the workspace job is claimed');
SELECT is(deletion.run_chunk(:job, 50, 1000) ->> 'phase', 'delete', 'it is planned');
SELECT is((SELECT rows_planned FROM deletion.deletion_jobs WHERE id = :job), 160::bigint, '40 issues and 120 comments are planned');
SELECT is((SELECT rows_remaining FROM deletion.vw_deletion_jobs_status), 161::bigint, 'the backlog counts the rows still to delete');
SELECT is(deletion.run_chunk(:job, 100000, 100000) ->> 'status', 'done', 'and deleted');
SELECT is((SELECT count(*)::int FROM public.issues), 40, 'the other workspace keeps its 40 issues');
SELECT is((SELECT count(*)::int FROM public.workspaces WHERE slug = 'acme'), 0, 'the workspace row is really gone, not soft-deleted');

-- The actor is a label: no foreign key ties a job to the example's users, so deleting the user
-- leaves the job as it was.
UPDATE public.issues SET creator_id = (SELECT max(id) FROM public.users);
UPDATE public.comments SET author_id = (SELECT max(id) FROM public.users);
SET LOCAL deletion.mode = 'hard';
DELETE FROM public.users WHERE email = 'ann@example.com';
RESET deletion.mode;
SELECT is((SELECT created_by FROM deletion.deletion_jobs WHERE id = :job), :'ann', 'deleting the user keeps the job and its label');

-- A soft job soft-deletes the root through the soft-delete engine.
SELECT deletion.schedule('public.issues', (SELECT min(id)::text FROM public.issues)) AS soft_job \gset
SELECT is((deletion.claim_job('test')).id, :'soft_job'::bigint, 'the soft job is claimed');
SELECT is(deletion.run_chunk(:soft_job) ->> 'status', 'done', 'and done in one chunk');
SELECT isnt((SELECT deleted_at FROM public.issues WHERE id = (SELECT entity_pk::bigint FROM deletion.deletion_jobs WHERE id = :soft_job)), NULL,
            'the issue is soft-deleted, still there for restore');

-- Upkeep calls what is installed.
SELECT ok(deletion.run_upkeep() ? 'purged' AND deletion.run_upkeep() ? 'audit_partitions_created', 'upkeep purges soft-deleted rows and keeps audit partitions ahead');

-- The application role: may schedule soft jobs, not hard ones, and may not work jobs.
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'jobs_test_app') THEN CREATE ROLE jobs_test_app LOGIN IN ROLE deletion_app; END IF;
END $$;
GRANT SELECT, UPDATE, DELETE ON public.issues TO jobs_test_app;
SET LOCAL ROLE jobs_test_app;
SELECT throws_ok($$ SELECT deletion.schedule('public.issues', (SELECT max(id)::text FROM public.issues), hard => true) $$, '42501', NULL,
                 'the application role may not schedule a hard delete');
SELECT throws_ok($$ SELECT deletion.claim_job('app') $$, '42501', NULL, 'nor claim jobs (the worker''s functions are deletion_admin''s)');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;

-- Every run of a job plans afresh: a job that is done, whose rows come back (the trash for a soft
-- job, the audit log for a hard one), and that is scheduled again, deletes them again, and reports
-- this run's figures, not the last one's. A row a hard job deleted comes back from the audit log
-- shown, not hidden by the ended job's pending-deletion marker.
BEGIN;
SELECT plan(18);

INSERT INTO users (id, email, name) OVERRIDING SYSTEM VALUE VALUES (1, 'ann@example.com', 'Ann');
INSERT INTO workspaces (id, name, slug) OVERRIDING SYSTEM VALUE VALUES (1, 'Acme', 'acme'), (2, 'Globex', 'globex');
INSERT INTO issues (id, workspace_id, creator_id, title, status) OVERRIDING SYSTEM VALUE
SELECT g, 1 + g % 2, 1, 'issue ' || g, 'todo' FROM generate_series(1, 20) g;
INSERT INTO comments (issue_id, author_id, body) SELECT i.id, 1, 'c' || n FROM issues i, generate_series(1, 2) n;

-- A soft job, twice.
SELECT deletion.schedule('public.workspaces', '1') AS soft_job \gset
SELECT is((deletion.claim_job('test')).id, :'soft_job'::bigint, 'the soft job is claimed');
SELECT is(deletion.run_chunk(:soft_job, 10000, 10000) ->> 'status', 'done', 'and done');
SELECT is((SELECT count(*)::int FROM issues WHERE workspace_id = 1 AND deleted_at IS NOT NULL), 10, 'its 10 issues are soft-deleted');
SELECT is(deletion.restore((SELECT deletion_op FROM workspaces WHERE id = 1)), 31::bigint, 'the trash brings the tree back');
SELECT is(deletion.schedule('public.workspaces', '1'), :'soft_job'::bigint, 'scheduled again: the same job, re-armed');
SELECT is((SELECT phase || ' ' || rows_deleted || ' ' || chunks FROM deletion.deletion_jobs WHERE id = :soft_job), 'plan 0 0',
          'as a new run: phase plan, nothing deleted, no chunk');
SELECT is((deletion.claim_job('test')).id, :'soft_job'::bigint, 'claimed again');
SELECT is(deletion.run_chunk(:soft_job, 10000, 10000) ->> 'deleted', '31', 'the second run soft-deletes the 31 rows again');
SELECT is((SELECT count(*)::int FROM issues WHERE workspace_id = 1 AND deleted_at IS NULL)
          + (SELECT count(*)::int FROM comments c JOIN issues i ON i.id = c.issue_id WHERE i.workspace_id = 1 AND c.deleted_at IS NULL), 0,
          'nothing of the tree is left active');
SELECT is((SELECT status || ' ' || rows_deleted FROM deletion.deletion_jobs WHERE id = :soft_job), 'done 31', 'the job reports this run''s figure');

-- A hard job, twice, the rows brought back from the audit log in between.
SELECT deletion.schedule('public.workspaces', '2', hard => true) AS hard_job \gset
SELECT is((deletion.claim_job('test')).id, :'hard_job'::bigint, 'the hard job is claimed');
SELECT is(deletion.run_chunk(:hard_job, 10000, 10000) ->> 'status', 'done', 'and done');
-- (Everything here is one transaction: its restore undoes every chunk of the job.)
SELECT ok((SELECT sum(rows) FROM audit.restore_transaction(pg_current_xact_id()::text::bigint) WHERE kind = 'insert') = 31,
          'the audit log restores the workspace and its tree');
SET LOCAL ROLE deletion_app;
SELECT is((SELECT count(*)::int FROM workspaces WHERE id = 2) + (SELECT count(*)::int FROM issues WHERE workspace_id = 2), 11,
          'shown to the application: the job''s pending-deletion marker does not come back with it');
RESET ROLE;
SELECT is(deletion.schedule('public.workspaces', '2', hard => true), :'hard_job'::bigint, 'scheduled again: the same job, re-armed');
SELECT is((deletion.claim_job('test')).id, :'hard_job'::bigint, 'claimed again');
SELECT is(deletion.run_chunk(:hard_job, 10000, 10000) ->> 'status', 'done', 'done again');
SELECT is((SELECT count(*)::int FROM workspaces WHERE id = 2) + (SELECT count(*)::int FROM issues WHERE workspace_id = 2)
          + (SELECT rows_deleted FROM deletion.deletion_jobs WHERE id = :hard_job)::int, 0 + 0 + 31,
          'the rows are gone the second time too, and the job counts this run''s 31');

SELECT * FROM finish();
ROLLBACK;

-- Deletion jobs in SQL: the table (seed 001), schedule, cancel, the plan, chunks on the lab schema,
-- the should_proceed hook, privileges, and the backlog views.
BEGIN;
SELECT plan(58);

-- Seed 001's table, columns, constraint and index names.
SELECT has_table('deletion', 'deletion_jobs', 'deletion.deletion_jobs exists');
SELECT col_is_pk('deletion', 'deletion_jobs', 'id', 'id is the primary key');
SELECT col_type_is('deletion', 'deletion_jobs', 'entity_table', 'character varying(64)', 'entity_table is VARCHAR(64)');
SELECT col_type_is('deletion', 'deletion_jobs', 'entity_pk', 'character varying(64)', 'entity_pk is VARCHAR(64)');
SELECT col_default_is('deletion', 'deletion_jobs', 'hard_delete', 'false', 'hard_delete defaults to FALSE');
SELECT col_default_is('deletion', 'deletion_jobs', 'status', 'pending', 'status defaults to pending');
SELECT col_type_is('deletion', 'deletion_jobs', 'created_at', 'timestamp(6) with time zone', 'created_at is TIMESTAMPTZ(6)');
SELECT col_type_is('deletion', 'deletion_jobs', 'scheduled_at', 'timestamp(6) with time zone', 'scheduled_at is TIMESTAMPTZ(6)');
SELECT col_is_unique('deletion', 'deletion_jobs', ARRAY['entity_table', 'entity_pk'], 'one job per entity (uq_deletion_jobs)');
SELECT has_index('deletion', 'deletion_jobs', 'idx_dj_status_sched', ARRAY['status', 'scheduled_at'], 'idx_dj_status_sched on (status, scheduled_at)');
SELECT is((SELECT count(*)::int FROM pg_constraint WHERE conrelid = 'deletion.deletion_jobs'::regclass AND contype = 'f'), 0,
          'no foreign key ties a job to a product table: created_by is the actor''s label');
SELECT is((SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'deletion.deletion_jobs'::regclass AND attname = 'scheduled_by_role'),
          'name', 'the scheduling role is recorded as a role name');
SELECT throws_ok($$ INSERT INTO deletion.deletion_jobs (entity_table, entity_pk, status) VALUES ('public.users', '1', 'sleeping') $$,
                 '23514', NULL, 'status is checked against the five states');

\i test/fixtures/lab_schema.sql

-- Lab data: two orgs, each with a folder tree (1 <- 2 <- 4 ...), 3 documents a folder, a tag on each
-- document, and approvals by one person.
INSERT INTO lab.orgs (id, name) VALUES ('00000000-0000-0000-0000-0000000000a1', 'one'), ('00000000-0000-0000-0000-0000000000a2', 'two');
INSERT INTO lab.people (id, email) VALUES ('00000000-0000-0000-0000-0000000000b1', 'p@example.com');
INSERT INTO lab.folders (org_id, id, parent_id, name)
SELECT o.id, g, CASE WHEN g > 1 THEN g / 2 END, 'f' || g FROM lab.orgs o, generate_series(1, 30) g;
INSERT INTO lab.documents (org_id, folder_id, owner_id, slug)
SELECT f.org_id, f.id, '00000000-0000-0000-0000-0000000000b1', 'd' || f.id || '-' || n FROM lab.folders f, generate_series(1, 3) n;
INSERT INTO lab.tags (document_id, label) SELECT id, 'tag' FROM lab.documents;

-- Bad input changes nothing.
SELECT throws_ok($$ SELECT deletion.schedule('lab.nowhere', '1', hard => true) $$, '42P01', NULL, 'an unknown table is refused');
SELECT throws_ok($$ SELECT deletion.schedule('lab.orgs; DROP TABLE lab.people', '1', hard => true) $$, '42602', NULL, 'an injection attempt in the table name is refused as an invalid name');
SELECT throws_ok($$ SELECT deletion.schedule('lab.orgs', 'not-a-uuid', hard => true) $$, '22P02', NULL, 'a key that does not cast is refused');
SELECT throws_ok($$ SELECT deletion.schedule('lab.orgs', '00000000-0000-0000-0000-00000000ffff', hard => true) $$, 'P0002', NULL, 'a key that does not exist is refused');
SELECT throws_ok($$ SELECT deletion.schedule('lab.folders', '7', hard => true) $$, '22023', NULL, 'a composite key not given as a JSON array is refused');
SELECT throws_ok($$ SELECT deletion.schedule('lab.orgs', '00000000-0000-0000-0000-0000000000a1') $$, 'PD402', NULL, 'a soft job on a table without soft delete is refused');
CREATE TABLE public.unregistered (id bigint PRIMARY KEY);
INSERT INTO public.unregistered VALUES (1);
SELECT throws_ok($$ SELECT deletion.schedule('public.unregistered', '1', hard => true) $$, 'PD401', NULL, 'an unregistered table is refused');
SELECT is((SELECT count(*)::int FROM deletion.deletion_jobs), 0, 'no bad input left a job behind');

-- Scheduling.
SELECT deletion.schedule('lab.orgs', '00000000-0000-0000-0000-0000000000A1', now() + interval '1 hour', hard => true, reason => 'org closed') AS org_job \gset
SELECT is((SELECT entity_table || ' ' || entity_pk FROM deletion.deletion_jobs WHERE id = :org_job),
          'lab.orgs 00000000-0000-0000-0000-0000000000a1', 'the job names the table schema-qualified and the key in its canonical text');
SELECT is(deletion.schedule('lab.orgs', '00000000-0000-0000-0000-0000000000a1', hard => true), :'org_job'::bigint, 'scheduling the same entity again returns the live job');
SELECT is((SELECT count(*)::int FROM deletion.deletion_jobs), 1, 'and makes no second job');
SELECT is((deletion.claim_job('test')).id, NULL, 'a job scheduled for later is not claimed yet');
UPDATE deletion.deletion_jobs SET scheduled_at = now() - interval '1 second' WHERE id = :org_job;

-- The plan: the tree's tables in order, parents before children.
SELECT is(array(SELECT relid::text FROM deletion.cascade_tables('lab.orgs') ORDER BY level, relid::text),
          ARRAY['lab.orgs', 'lab.folders', 'lab.documents', 'lab.approvals'], 'the cascade tree of lab.orgs, parents first (tags are SET NULL, not in it)');

-- Chunks: claim, plan, delete leaves first, root last.
SELECT is((deletion.claim_job('test')).id, :'org_job'::bigint, 'a due job is claimed');
SELECT is((SELECT status FROM deletion.deletion_jobs WHERE id = :org_job), 'running', 'the claimed job is running');
SELECT is(deletion.run_chunk(:org_job, 20, 1000) ->> 'phase', 'delete', 'the first chunk plans a tree bigger than a chunk');
SELECT is((SELECT rows_planned FROM deletion.deletion_jobs WHERE id = :org_job), 120::bigint, 'the plan holds the 30 folders and 90 documents of org one');
SELECT is((SELECT count(*)::int FROM lab.documents), 180, 'planning deletes nothing');
SELECT is(deletion.run_chunk(:org_job, 20, 1000) ->> 'status', 'running', 'a chunk deletes part of the tree');
SELECT ok((SELECT count(*) FROM lab.documents WHERE org_id = '00000000-0000-0000-0000-0000000000a1') < 90
          AND (SELECT count(*) FROM lab.folders WHERE org_id = '00000000-0000-0000-0000-0000000000a1') = 30,
          'documents (the leaves) go before any folder');
SELECT is(deletion.run_chunk(:org_job, 1000, 1000) ->> 'status', 'done', 'the last chunk deletes the rest and the root');
SELECT is((SELECT count(*)::int FROM lab.orgs WHERE name = 'one'), 0, 'the root is gone');
SELECT is((SELECT count(*)::int FROM lab.folders WHERE org_id = '00000000-0000-0000-0000-0000000000a1'), 0, 'and its folders');
SELECT is((SELECT count(*)::int FROM lab.documents), 90, 'and its documents; org two keeps its 90');
SELECT is((SELECT count(*)::int FROM lab.tags WHERE document_id IS NULL), 90, 'tags of deleted documents are kept with a NULL link (SET NULL)');
SELECT is((SELECT status || ' ' || phase || ' ' || rows_deleted FROM deletion.deletion_jobs WHERE id = :org_job), 'done finished 121', 'the job is done and counted 121 rows');
SELECT is((SELECT count(*)::int FROM pg_class WHERE relnamespace = 'deletion_work'::regnamespace), 0, 'its plan tables are dropped');
SELECT throws_ok(format('SELECT deletion.cancel(%s)', :org_job), '55000', NULL, 'cancelling a finished job is refused');

-- A self-referencing root with a composite key: folder 2 of org two and its subtree, deepest first.
SELECT deletion.schedule('lab.folders', '["00000000-0000-0000-0000-0000000000a2", 2]', hard => true) AS folder_job \gset
SELECT is((deletion.claim_job('test')).id, :'folder_job'::bigint, 'a job on a composite key is claimed');
SELECT is(deletion.run_chunk(:folder_job, 1000, 1000) ->> 'status', 'done', 'a small tree goes in one chunk');
SELECT is(array(SELECT id FROM lab.folders ORDER BY id), ARRAY[1, 3, 6, 7, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30],
          'folder 2 and every folder below it are gone, the rest of the tree stays');

-- A RESTRICT from outside the tree: scheduling refuses the tree; forced by an admin, the job ends
-- failed at its first deleting chunk, the blocker named, without retries.
INSERT INTO lab.approvals (document_id, approver_id) SELECT id, '00000000-0000-0000-0000-0000000000b1' FROM lab.documents LIMIT 1;
SELECT throws_like($$ SELECT deletion.schedule('lab.people', '00000000-0000-0000-0000-0000000000b1', hard => true) $$,
                   '%blocked: lab.approvals: 1 rows blocked by restrict (approvals_approver_id_fkey)%', 'scheduling a blocked tree is refused, naming the blocker');
SET LOCAL deletion.force_blocked = 'on';
SELECT deletion.schedule('lab.people', '00000000-0000-0000-0000-0000000000b1', hard => true) AS person_job \gset
RESET deletion.force_blocked;
SELECT is((deletion.claim_job('test')).id, :'person_job'::bigint, 'the forced person job is claimed');
SELECT is(deletion.run_chunk(:person_job) ->> 'status', 'failed', 'the approval''s RESTRICT ends the job failed (23001 on 16+, 23503 on 15)');
SELECT ok((SELECT status = 'failed' AND attempts = 0 AND error LIKE 'blocked: %approvals_approver_id_fkey%blockers: lab.approvals: 1 rows%'
             FROM deletion.deletion_jobs WHERE id = :person_job), 'at once, with the blocker named');
-- Other chunk failures are retried with a backoff, and fail after max_attempts.
SET LOCAL deletion.force_blocked = 'on';
SELECT is(deletion.schedule('lab.people', '00000000-0000-0000-0000-0000000000b1', hard => true), :'person_job'::bigint, 'the failed job is re-armed');
RESET deletion.force_blocked;
SELECT is((deletion.claim_job('test')).id, :'person_job'::bigint, 'and claimed');
SELECT is((deletion.fail_chunk(:person_job, 'restricted', 1000)).status, 'pending', 'a failed chunk is retried later');
SELECT ok((SELECT next_attempt_at > now() FROM deletion.deletion_jobs WHERE id = :person_job), 'after a backoff');
UPDATE deletion.deletion_jobs SET max_attempts = 2, next_attempt_at = now() - interval '1 second' WHERE id = :person_job;
SELECT is((deletion.claim_job('test')).id, :'person_job'::bigint, 'the job is claimed again when its retry is due');
SELECT is((deletion.fail_chunk(:person_job, 'restricted again', 1000)).status, 'failed', 'and marked failed after max_attempts, with the error');

-- should_proceed: a hook that says no cancels the job with the reason.
CREATE FUNCTION public.never_proceed(target regclass, pk text) RETURNS boolean LANGUAGE sql AS 'SELECT false';
CREATE FUNCTION public.wrong_hook(target regclass) RETURNS boolean LANGUAGE sql AS 'SELECT false';
SELECT throws_ok($$ SELECT deletion.set_should_proceed('lab.orgs', 'public.wrong_hook(regclass)') $$, 'PD404', NULL, 'a hook with the wrong signature is refused');
SELECT deletion.set_should_proceed('lab.orgs', 'public.never_proceed(regclass, text)');
SELECT deletion.schedule('lab.orgs', '00000000-0000-0000-0000-0000000000a2', hard => true) AS hook_job \gset
SELECT is((deletion.claim_job('test')).id, :'hook_job'::bigint, 'the hooked job is claimed');
SELECT is(deletion.run_chunk(:hook_job) ->> 'status', 'cancelled', 'the hook said no: the job is cancelled');
SELECT is((SELECT error FROM deletion.deletion_jobs WHERE id = :hook_job), 'cancelled: should_proceed hook public.never_proceed(regclass,text) said no', 'with the reason');

SELECT * FROM finish();
ROLLBACK;

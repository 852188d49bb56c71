-- Erasure as a scheduled job (sql/62_erasure_jobs.sql), worked here chunk by chunk in one session
-- (claim_job, run_chunk) on the lab schema: what schedule_erasure refuses, the grace period and
-- cancelling (while waiting, and before the first chunk; not once rows changed), the signing key
-- the worker must hold, the job's personal state cleared at the end, who may do what. The
-- killed-and-resumed run with a real worker and the full scan is test/erasure_job.test.ts.
BEGIN;
SET client_min_messages = warning;
\i test/fixtures/lab_schema.sql
SELECT plan(23);
SELECT deletion.declare_erasure_subject('lab.people');
SELECT deletion.declare_personal_data('lab.people', 'email', 'contact');
SELECT deletion.declare_erasure_rule('lab.documents', '{owner_id}', 'delete');
INSERT INTO lab.orgs VALUES ('00000000-0000-0000-0000-0000000000a1', 'acme');
INSERT INTO lab.folders VALUES ('00000000-0000-0000-0000-0000000000a1', 1, NULL, 'root');
INSERT INTO lab.people VALUES ('00000000-0000-0000-0000-0000000000b1', 'rae.job-4kk@erase-test.example'),
                              ('00000000-0000-0000-0000-0000000000b2', 'sam.job-7pp@erase-test.example');
INSERT INTO lab.documents SELECT gen_random_uuid(), '00000000-0000-0000-0000-0000000000a1', 1, '00000000-0000-0000-0000-0000000000b1', 'rae-doc-' || g
  FROM generate_series(1, 9) g;
SET LOCAL deletion.erasure_key = 'lab-erasure-key-0123456789abcdef';

-- refusals
SELECT throws_ok($$ SELECT deletion.schedule_erasure('lab.people', '"00000000-0000-0000-0000-0000000000b1"', 'r') $$, 'PD603', NULL,
                 'a foreign key to the subject without a rule refuses the job up front');
SELECT deletion.declare_erasure_rule('lab.approvals', '{approver_id}', 'delete');
SELECT throws_ok($$ SELECT deletion.schedule_erasure('lab.people', '"00000000-0000-0000-0000-00000000ffff"', 'r') $$, 'P0002', NULL, 'an unknown row');
SELECT throws_ok($$ SELECT deletion.schedule_erasure('lab.orgs', '"00000000-0000-0000-0000-0000000000a1"', 'r') $$, 'PD601', NULL, 'a table that is no subject');
SELECT throws_ok($$ SELECT deletion.schedule_erasure('lab.people', '"00000000-0000-0000-0000-0000000000b1"', ' ') $$, '22023', NULL, 'an empty reason');
SELECT throws_ok($$ SELECT deletion.schedule_erasure('lab.people', '"00000000-0000-0000-0000-0000000000b1"', 'r', '-1 day') $$, '22023', NULL, 'a negative grace period');
SELECT throws_ok($$ SELECT deletion.schedule_erasure('lab.people', '"00000000-0000-0000-0000-0000000000b1"', 'r', '0', 'short') $$, '22023', NULL, 'a short key');

-- a job with a grace period, cancelled while it waits: its key is cleared
SELECT deletion.schedule_erasure('lab.people', '"00000000-0000-0000-0000-0000000000b2"', 'ticket S-1', '30 days') AS waiting \gset
SELECT is((SELECT scheduled_at > now() + interval '29 days' FROM deletion.deletion_jobs WHERE id = :waiting), true, 'the job is due after its grace period');
SELECT is((SELECT (j).id FROM deletion.claim_job('test', 60) j), NULL, 'no worker takes it before');
SELECT throws_ok($$ SELECT deletion.schedule_erasure('lab.people', '"00000000-0000-0000-0000-0000000000b2"', 'again') $$, '55000', NULL,
                 'one erasure job per subject at a time');
SELECT is(deletion.cancel(:waiting), 'cancelled', 'deletion.cancel withdraws it');
SELECT is((SELECT (step, subject_key)::text FROM deletion.erasure_jobs WHERE job_id = :waiting), '(cancelled,)', 'cancelled, its key cleared');
SELECT is((SELECT count(*)::int FROM lab.people WHERE id = '00000000-0000-0000-0000-0000000000b2'), 1, 'and the person is still there');

-- a job worked chunk by chunk
SELECT deletion.schedule_erasure('lab.people', '"00000000-0000-0000-0000-0000000000b1"', 'ticket R-1 for rae.job-4kk@erase-test.example') AS job \gset
SELECT is((SELECT entity_pk::text FROM deletion.deletion_jobs WHERE id = :job), (SELECT format('erasure %s', erasure_id) FROM deletion.erasure_jobs WHERE job_id = :job),
          'the job row names the erasure, not the person');
SELECT is((SELECT (j).id FROM deletion.claim_job('test', 60) j), :job::bigint, 'the worker claims it');
SET LOCAL deletion.erasure_key = 'another-key-0123456789abcdef-xyz';
SELECT throws_ok(format('SELECT deletion.run_chunk(%s, 2, 1000)', :job), '22023', NULL, 'a worker holding another signing key is refused');
SET LOCAL deletion.erasure_key = 'lab-erasure-key-0123456789abcdef';
SELECT is((deletion.run_chunk(:job, 2, 1000)) ->> 'phase', 'rules', 'the first chunk prepares and begins the rules');
SELECT is(deletion.cancel(:job), 'running', 'a cancel once rows changed is taken as a request');
SELECT set_config('test.job', :'job', true) AS ignored \gset
CREATE TEMPORARY TABLE chunks AS SELECT 1 AS n, deletion.run_chunk(:job, 2, 1000) AS r;
DO $$ BEGIN
  FOR i IN 2 .. 400 LOOP
    EXIT WHEN (SELECT r ->> 'status' FROM chunks ORDER BY n DESC LIMIT 1) <> 'running';
    INSERT INTO chunks SELECT i, deletion.run_chunk(current_setting('test.job')::bigint, 2, 1000);
  END LOOP;
END $$ ;
SELECT is((SELECT r ->> 'status' FROM chunks ORDER BY n DESC LIMIT 1), 'done', 'but the erasure goes on to its end');
SELECT ok((SELECT bool_and((r ->> 'deleted')::int <= 2 OR r ->> 'phase' IN ('audit', 'engine', 'report', 'done')) FROM chunks),
          'no rules chunk takes more than 2 rows');
SELECT is((SELECT count(*)::int FROM lab.people), 1, 'the person is gone');
SELECT is((SELECT (report -> 'rules' -> 1 ->> 'rows')::int FROM deletion.erasures e JOIN deletion.erasure_jobs j ON j.erasure_id = e.id WHERE j.job_id = :job), 9,
          'the report counts her 9 documents across the chunks');
SELECT is((SELECT (subject_key, subject_image, secrets)::text FROM deletion.erasure_jobs WHERE job_id = :job), '(,,)', 'the job keeps no personal state');
SELECT ok(NOT has_function_privilege('deletion_app', 'deletion.schedule_erasure(regclass,jsonb,text,interval,text)', 'EXECUTE')
          AND has_function_privilege('deletion_admin', 'deletion.schedule_erasure(regclass,jsonb,text,interval,text)', 'EXECUTE')
          AND NOT has_function_privilege('deletion_admin', 'deletion.run_erasure_chunk(bigint,integer,integer)', 'EXECUTE'),
          'only deletion_admin schedules an erasure job; nobody calls its chunk function but run_chunk');

SELECT * FROM finish();
ROLLBACK;

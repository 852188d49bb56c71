-- Erasure requests with a grace period (sql/61_erasure_requests.sql) on the lab schema: a request
-- waits until its grace period is over, can be cancelled until then (its key cleared), is carried
-- out by run_due_erasures (done, with its erasure, its key cleared, its reason scrubbed), and a
-- request that cannot be carried out fails alone with its error while the others run.
BEGIN;
SET client_min_messages = warning;
SELECT plan(16);

\i test/fixtures/lab_schema.sql
SELECT deletion.declare_erasure_subject('lab.people');
SELECT deletion.declare_personal_data('lab.people', 'email', 'contact');
SELECT deletion.declare_erasure_rule('lab.documents', '{owner_id}', 'set_null');
SELECT deletion.declare_erasure_rule('lab.approvals', '{approver_id}', 'delete');
INSERT INTO lab.people VALUES ('00000000-0000-0000-0000-0000000000b1', 'sam.wait-3hv@erase-test.example'),
                              ('00000000-0000-0000-0000-0000000000b2', 'kim.now-8pd@erase-test.example'),
                              ('00000000-0000-0000-0000-0000000000b3', 'lee.gone-2mx@erase-test.example');

SELECT deletion.request_erasure('lab.people', '"00000000-0000-0000-0000-0000000000b1"', 'request 1', '1 hour') AS later \gset
SELECT deletion.request_erasure('lab.people', '{"id": "00000000-0000-0000-0000-0000000000b2"}', 'request 2 from kim.now-8pd@erase-test.example', '0') AS now_req \gset
SELECT deletion.request_erasure('lab.people', '"00000000-0000-0000-0000-0000000000b3"', 'request 3', '0') AS doomed \gset
SELECT ok(:later < :now_req, 'requests get ids');
SELECT throws_ok($$ SELECT deletion.request_erasure('lab.people', '"00000000-0000-0000-0000-0000000000b1"', 'again', '0') $$, '55000', NULL,
                 'one pending request per person');
SELECT throws_ok($$ SELECT deletion.request_erasure('lab.people', '"00000000-0000-0000-0000-00000000ffff"', 'request', '0') $$, 'P0002', NULL,
                 'a request for a row that does not exist is refused');
SELECT throws_ok($$ SELECT deletion.request_erasure('lab.people', '"00000000-0000-0000-0000-0000000000b1"', 'request', '-1 day') $$, '22023', NULL,
                 'a negative grace period is refused');
SELECT throws_ok($$ SELECT * FROM deletion.run_due_erasures(NULL) $$, '22023', NULL, 'running due requests needs the signing key');

-- the third person goes another way before their request is due (an admin's hard delete)
DELETE FROM lab.people WHERE id = '00000000-0000-0000-0000-0000000000b3';

SELECT results_eq(
  $$ SELECT request_id, status, erasure_id IS NOT NULL FROM deletion.run_due_erasures('requests-key-0123456789abcdef') ORDER BY 1 $$,
  format($$ VALUES (%s::bigint, 'done', true), (%s::bigint, 'failed', false) $$, :now_req, :doomed),
  'run_due_erasures carries out the due requests, the one in its grace period waits, and a failure stays alone');
SELECT is((SELECT count(*)::int FROM lab.people WHERE id = '00000000-0000-0000-0000-0000000000b2'), 0, 'the due person is erased');
SELECT is((SELECT (status, subject_key IS NULL)::text FROM deletion.erasure_requests WHERE id = :now_req), '(done,t)',
          'the done request keeps no key: nothing links the erasure log back to the person');
SELECT is((SELECT reason FROM deletion.erasure_requests WHERE id = :now_req), 'request 2 from [erased]', 'and its reason is scrubbed');
SELECT ok((SELECT erasure_id FROM deletion.erasure_requests WHERE id = :now_req) IN (SELECT id FROM deletion.erasures), 'it names its erasure');
SELECT matches((SELECT error FROM deletion.erasure_requests WHERE id = :doomed), 'P0002', 'the failed request says why');
SELECT is((SELECT status FROM deletion.erasure_requests WHERE id = :later), 'pending', 'the request in its grace period waits');
SELECT is(deletion.cancel_erasure_request(:later), 'cancelled', 'and can be withdrawn');
SELECT is((SELECT (status, subject_key IS NULL)::text FROM deletion.erasure_requests WHERE id = :later), '(cancelled,t)', 'its key cleared');
SELECT throws_ok(format('SELECT deletion.cancel_erasure_request(%s)', :now_req), '55000', NULL, 'a done request cannot be cancelled');
SELECT is((SELECT count(*)::int FROM lab.people WHERE id = '00000000-0000-0000-0000-0000000000b1'), 1, 'the withdrawn person stays');

SELECT * FROM finish();
ROLLBACK;

-- Erasure by role, on the lab schema with soft delete: a non-superuser deletion_admin erases a person
-- who is in the trash (the engine's owner does the work, past row-level security and soft delete);
-- the application role can neither erase nor read the erasure log; the person's soft delete cannot
-- be restored afterwards, by operation or by key.
BEGIN;
SET client_min_messages = warning;
SELECT plan(10);

\i test/fixtures/lab_schema.sql
SELECT deletion.enable_soft_delete(t) FROM unnest(ARRAY['lab.people', 'lab.documents']::regclass[]) t;
SELECT deletion.declare_erasure_subject('lab.people');
SELECT deletion.declare_personal_data('lab.people', 'email', 'contact');
SELECT deletion.declare_erasure_rule('lab.documents', '{owner_id}', 'delete');
SELECT deletion.declare_erasure_rule('lab.approvals', '{approver_id}', 'delete');

CREATE ROLE e692_app LOGIN IN ROLE deletion_app;
CREATE ROLE e692_admin LOGIN IN ROLE deletion_admin;
GRANT USAGE ON SCHEMA lab TO deletion_app, deletion_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA lab TO deletion_app, deletion_admin;

INSERT INTO lab.orgs VALUES ('00000000-0000-0000-0000-0000000000a1', 'acme');
INSERT INTO lab.folders VALUES ('00000000-0000-0000-0000-0000000000a1', 1, NULL, 'root');
INSERT INTO lab.people VALUES ('00000000-0000-0000-0000-0000000000b1', 'robin.role-5tq@erase-test.example');
INSERT INTO lab.documents (id, org_id, folder_id, owner_id, slug)
VALUES ('00000000-0000-0000-0000-0000000000d1', '00000000-0000-0000-0000-0000000000a1', 1, '00000000-0000-0000-0000-0000000000b1', 'robins');
SELECT deletion.soft_delete('lab.documents', '00000000-0000-0000-0000-0000000000d1', 'tidy') AS doc_op \gset
SELECT deletion.soft_delete('lab.people', '00000000-0000-0000-0000-0000000000b1', 'account closed') AS person_op \gset
CREATE TEMPORARY TABLE result (report jsonb);
GRANT ALL ON result TO PUBLIC;

SET LOCAL ROLE e692_app;
SELECT throws_ok($$ SELECT deletion.erase('lab.people', '"00000000-0000-0000-0000-0000000000b1"', 'request', 'role-test-key-0123456789') $$,
                 '42501', NULL, 'the application role cannot erase');
SELECT throws_ok($$ SELECT count(*) FROM deletion.erasures $$, '42501', NULL, 'nor read the erasure log');
SELECT is((SELECT count(*)::int FROM lab.people), 0, 'the person in the trash is hidden from it');

SET LOCAL ROLE e692_admin;
INSERT INTO result SELECT deletion.erase('lab.people', '"00000000-0000-0000-0000-0000000000b1"', 'request', 'role-test-key-0123456789');
SELECT is((SELECT (report -> 'tables' -> 'lab.people' ->> 'deleted')::int FROM result), 1,
          'a deletion_admin (no superuser) erases a person who is in the trash');
SELECT is((SELECT (report -> 'tables' -> 'lab.documents' ->> 'deleted')::int FROM result), 1, 'with their document, soft-deleted too');
SELECT is((SELECT (report ->> 'soft_delete_operations_erased')::int FROM result), 2, 'both soft-delete operations are erased');
SELECT ok(deletion.verify_erasure_report((SELECT report FROM result), 'role-test-key-0123456789'), 'and verifies the signed report');
SELECT throws_ok(format('SELECT deletion.restore(%L::uuid)', :'person_op'), 'PD605', NULL, 'restoring the person''s soft delete is refused');
SELECT throws_ok($$ SELECT deletion.restore('lab.people', '00000000-0000-0000-0000-0000000000b1') $$, 'PD605', NULL,
                 'restoring the person by key is refused');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM lab.people) + (SELECT count(*)::int FROM lab.documents), 0, 'the rows are gone for good, soft-deleted ones included');

SELECT * FROM finish();
ROLLBACK;

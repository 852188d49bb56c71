-- Audit capture on the lab schema: statement-level triggers log every deleted row once, the UPDATEs
-- of ON DELETE SET NULL, per-transaction metadata, statement numbers and cascade flags; audit.enable
-- and audit.disable; the log is append-only and closed to the application role; seed 004's query.
BEGIN;
SELECT plan(42);

\i test/fixtures/lab_schema.sql
SELECT deletion.rewire();

-- the tables
SELECT is((SELECT relkind::text FROM pg_class WHERE oid = 'audit.log'::regclass), 'p', 'audit.log is partitioned (by month)');
SELECT is((SELECT relkind::text FROM pg_class WHERE oid = 'audit.transactions'::regclass), 'p', 'audit.transactions is partitioned like the log');
SELECT ok((SELECT audit FROM deletion.table_policies WHERE table_schema = 'lab' AND table_name = 'orgs'), 'a registered table is audited by default');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'lab.folders'::regclass AND tgname LIKE 'deletion\_50\_audit\_%'), 3,
          'rewire wires the three deletion_50_audit_* triggers');
SELECT is((SELECT count(*)::int FROM pg_trigger t WHERE t.tgrelid = 'lab.folders'::regclass AND t.tgname = 'deletion_50_audit_delete'
             AND t.tgoldtable = 'old_rows' AND (t.tgtype & 1) = 0), 1,
          'the delete trigger is a statement-level trigger with a transition table');

-- data: an org with a three-level folder tree, a document (composite FK), an approval, a tag (SET NULL)
INSERT INTO lab.orgs VALUES ('00000000-0000-0000-0000-0000000000a1', 'acme');
INSERT INTO lab.people VALUES ('00000000-0000-0000-0000-0000000000b1', 'ann@x'), ('00000000-0000-0000-0000-0000000000b2', 'bob@x');
INSERT INTO lab.folders VALUES ('00000000-0000-0000-0000-0000000000a1', 1, NULL, 'root'),
                               ('00000000-0000-0000-0000-0000000000a1', 2, 1, 'child'),
                               ('00000000-0000-0000-0000-0000000000a1', 3, 2, 'grandchild');
INSERT INTO lab.documents VALUES ('00000000-0000-0000-0000-0000000000d1', '00000000-0000-0000-0000-0000000000a1', 3,
                                  '00000000-0000-0000-0000-0000000000b1', 'plan');
INSERT INTO lab.approvals VALUES ('00000000-0000-0000-0000-0000000000d1', '00000000-0000-0000-0000-0000000000b2', '2024-01-01');
INSERT INTO lab.tags (document_id, label) VALUES ('00000000-0000-0000-0000-0000000000d1', 'q3');

SET LOCAL deletion.actor = '7';
SET LOCAL deletion.reason = 'cleanup';
SET LOCAL application_name = 'audit-test';
DELETE FROM lab.folders WHERE org_id = '00000000-0000-0000-0000-0000000000a1' AND id = 1;

SELECT is((SELECT count(*)::int FROM audit.log WHERE action = 'DELETE'), 5, 'every row the cascade removed is logged: 3 folders, 1 document, 1 approval');
SELECT is((SELECT count(*)::int FROM (SELECT table_name, record_id FROM audit.log WHERE action = 'DELETE' GROUP BY 1, 2 HAVING count(*) > 1) d), 0,
          'each deleted row is logged exactly once');
SELECT is((SELECT count(DISTINCT (txid, statement_seq))::int FROM audit.log), 1, 'a statement and its cascade share (txid, statement_seq)');
SELECT is((SELECT txid FROM audit.log LIMIT 1), pg_current_xact_id()::text::bigint, 'txid is the deleting transaction');
SELECT is((SELECT array_agg(DISTINCT table_name ORDER BY table_name) FROM audit.log),
          ARRAY['lab.approvals', 'lab.documents', 'lab.folders', 'lab.tags'], 'tables are named by schema-qualified text, never an OID');
SELECT is((SELECT record_id FROM audit.log WHERE table_name = 'lab.folders' AND old_data ->> 'name' = 'grandchild'),
          '["00000000-0000-0000-0000-0000000000a1", 3]', 'a composite key is recorded as a JSON array in key order');
SELECT is((SELECT primary_key FROM audit.log WHERE table_name = 'lab.documents'),
          '{"id": "00000000-0000-0000-0000-0000000000d1"}'::jsonb, 'the key is also kept as a JSONB object');
SELECT is((SELECT old_data FROM audit.log WHERE table_name = 'lab.approvals'),
          (SELECT to_jsonb(a) FROM (SELECT '00000000-0000-0000-0000-0000000000d1'::uuid AS document_id, '00000000-0000-0000-0000-0000000000b2'::uuid AS approver_id,
                                           '2024-01-01'::timestamptz AS approved_at) a),
          'old_data is the whole row as JSONB');
SELECT is((SELECT array_agg(via_cascade ORDER BY id) FROM audit.log WHERE table_name = 'lab.folders'), ARRAY[false, false, false],
          'rows of the table the statement named (its self-referencing descendants included) are not flagged as cascade');
SELECT ok((SELECT bool_and(via_cascade) FROM audit.log WHERE table_name IN ('lab.documents', 'lab.approvals', 'lab.tags')),
          'rows of other tables reached by foreign-key actions are flagged via_cascade');
SELECT is((SELECT action || ' ' || changed::text FROM audit.log WHERE table_name = 'lab.tags'), 'UPDATE {"document_id": null}',
          'ON DELETE SET NULL is captured as an UPDATE with the columns it changed');
SELECT is((SELECT old_data ->> 'document_id' FROM audit.log WHERE table_name = 'lab.tags'), '00000000-0000-0000-0000-0000000000d1',
          'and the old row keeps the value restore must put back');

-- per-transaction metadata, once
SELECT is((SELECT count(*)::int FROM audit.transactions WHERE txid = pg_current_xact_id()::text::bigint), 1, 'the transaction''s metadata is stored once');
SELECT is((SELECT (actor, reason, application_name, session_role, acting_role)::text FROM audit.transactions),
          (SELECT (7, 'cleanup', 'audit-test', session_user, session_user)::text),
          'metadata: actor, reason, application_name, login role and acting role');

-- statement numbers: separate statements, also inside one function
DO $$ BEGIN
  DELETE FROM lab.people WHERE email = 'ann@x';
  UPDATE lab.people SET email = 'robert@x' WHERE email = 'bob@x';
END $$;
SELECT is((SELECT array_agg(statement_seq ORDER BY id) FROM audit.log WHERE table_name = 'lab.people'), ARRAY[2, 3],
          'each statement of a function gets its own number');
SELECT is((SELECT changed FROM audit.log WHERE table_name = 'lab.people' AND action = 'UPDATE'), '{"email": "robert@x"}'::jsonb,
          'an UPDATE records only the columns that changed');
UPDATE lab.people SET email = email;
SELECT is((SELECT count(*)::int FROM audit.log WHERE table_name = 'lab.people'), 2, 'an UPDATE that changes nothing is not logged');
DELETE FROM lab.people WHERE false;
SELECT is((SELECT count(*)::int FROM audit.log), 8, 'a statement that deletes nothing logs nothing');

-- audit.enable / audit.disable
SELECT lives_ok($$ SELECT audit.enable('lab.people', ARRAY['email']) $$, 'audit.enable sets excluded columns');
SELECT lives_ok($$ SELECT audit.enable('lab.people', ARRAY['email']) $$, 'audit.enable is idempotent');
SELECT is((SELECT audit_exclude_columns FROM deletion.table_policies WHERE table_schema = 'lab' AND table_name = 'people'), ARRAY['email'],
          'the registry row holds the excluded columns');
DELETE FROM lab.people WHERE email = 'robert@x';
SELECT ok((SELECT NOT old_data ? 'email' AND old_data ? 'id' FROM audit.log WHERE table_name = 'lab.people' ORDER BY id DESC LIMIT 1),
          'an excluded column is never stored');
SELECT throws_ok($$ SELECT audit.enable('lab.people', ARRAY['no_such_column']) $$, '42703', NULL, 'an unknown column is refused');
SELECT throws_ok($$ SELECT audit.enable('lab.people', ARRAY['id']) $$, '22023', NULL, 'a key column cannot be excluded');
SELECT is((SELECT audit_exclude_columns FROM deletion.table_policies WHERE table_schema = 'lab' AND table_name = 'people'), ARRAY['email'],
          'and a refused call changed nothing');
SELECT lives_ok($$ SELECT audit.disable('lab.no_key') $$, 'audit.disable turns a table off');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'lab.no_key'::regclass AND tgname LIKE 'deletion\_50%'), 0, 'and removes its triggers');
SELECT ok(deletion.rewire() > 0, 'rewire runs again');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'lab.no_key'::regclass AND tgname LIKE 'deletion\_50%'), 0, 'and keeps them off');

-- append-only, and closed to the application role
SELECT throws_ok($$ UPDATE audit.log SET action = 'INSERT' $$, 'PD201', NULL, 'UPDATE of the log is refused, even for its owner');
SELECT throws_ok($$ DELETE FROM audit.log $$, 'PD201', NULL, 'DELETE from the log is refused');
SELECT throws_ok($$ TRUNCATE audit.log $$, 'PD201', NULL, 'TRUNCATE of the log is refused');
SELECT throws_ok($$ DELETE FROM audit.transactions $$, 'PD201', NULL, 'the transaction metadata is append-only too');

CREATE ROLE audit_test_app LOGIN IN ROLE deletion_app;
GRANT USAGE ON SCHEMA lab TO audit_test_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA lab TO audit_test_app;
SET LOCAL ROLE audit_test_app;
SELECT throws_ok($$ SELECT count(*) FROM audit.log $$, '42501', NULL, 'the application role cannot read the log');
SELECT throws_ok($$ INSERT INTO audit.log (txid, statement_seq, table_name, action) VALUES (1, 1, 'x', 'DELETE') $$, '42501', NULL,
                 'nor write to it');
DELETE FROM lab.orgs WHERE id = '00000000-0000-0000-0000-0000000000a1';
RESET ROLE;
SELECT is((SELECT count(*)::int FROM audit.log WHERE table_name = 'lab.orgs'), 1, 'its deletes are logged all the same (the capture is SECURITY DEFINER)');

-- seed 004's recovery query, as written, with the audit schema on the search path
SET LOCAL search_path = public, audit, tap;
WITH deleted_document AS (
    SELECT old_data
    FROM audit_log
    WHERE table_name = 'documents'
    AND action = 'DELETE'
    AND record_id = '00000000-0000-0000-0000-0000000000d1'
    ORDER BY created_at DESC
    LIMIT 1
)
INSERT INTO lab.documents
SELECT * FROM jsonb_populate_record(null::lab.documents, (SELECT old_data FROM deleted_document))
 WHERE false;  -- its folder is gone; the query is checked to run, the row by the next assertion
SELECT is((SELECT (jsonb_populate_record(null::lab.documents, old_data)).slug FROM audit_log
            WHERE table_name = 'documents' AND action = 'DELETE' AND record_id = '00000000-0000-0000-0000-0000000000d1'),
          'plan', 'seed 004''s query finds the deleted row in audit_log and rebuilds it with jsonb_populate_record');

SELECT * FROM finish();
ROLLBACK;

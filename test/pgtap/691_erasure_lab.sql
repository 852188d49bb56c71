-- Erasure on the lab schema (uuid keys, a composite foreign key, RESTRICT and SET NULL to the
-- subject, a file-tracked table): declarations and their refusals, the lint rules, erase refusing
-- what it must (no rule, a short key, a bad key, the same person twice), and an erasure whose scan,
-- report and audit images are checked. One transaction; the audit log here is not sealed (test 690
-- checks verify).
BEGIN;
SET client_min_messages = warning;
\i test/fixtures/lab_schema.sql
SELECT deletion.track_files('lab.documents', 'slug');
SET LOCAL deletion.erasure_key = 'lab-erasure-key-0123456789abcdef';
SELECT plan(37);

INSERT INTO lab.orgs VALUES ('00000000-0000-0000-0000-0000000000a1', 'acme');
INSERT INTO lab.folders VALUES ('00000000-0000-0000-0000-0000000000a1', 1, NULL, 'root');
INSERT INTO lab.people VALUES ('00000000-0000-0000-0000-0000000000b1', 'pat.old-7qz@erase-test.example'),
                              ('00000000-0000-0000-0000-0000000000b2', 'quinn.keep@keep.example');
UPDATE lab.people SET email = 'pat.lab-9x2@erase-test.example' WHERE id = '00000000-0000-0000-0000-0000000000b1';
INSERT INTO lab.documents VALUES ('00000000-0000-0000-0000-0000000000d1', '00000000-0000-0000-0000-0000000000a1', 1, '00000000-0000-0000-0000-0000000000b1', 'pat-plan'),
                                 ('00000000-0000-0000-0000-0000000000d2', '00000000-0000-0000-0000-0000000000a1', 1, '00000000-0000-0000-0000-0000000000b2', 'quinn-doc');
INSERT INTO lab.approvals (document_id, approver_id) VALUES ('00000000-0000-0000-0000-0000000000d2', '00000000-0000-0000-0000-0000000000b1'),
                                                            ('00000000-0000-0000-0000-0000000000d1', '00000000-0000-0000-0000-0000000000b2');
INSERT INTO lab.tags (document_id, label) VALUES ('00000000-0000-0000-0000-0000000000d1', 'on-pats-doc');
INSERT INTO deletion.deletion_jobs (entity_table, entity_pk, status, error)
VALUES ('lab.documents', '00000000-0000-0000-0000-0000000000d2', 'failed', 'approval by pat.lab-9x2@erase-test.example was in the way');

-- before a subject is declared, lint asks nothing about personal data
SELECT is_empty($$ SELECT * FROM deletion.lint() $$, 'without an erasure subject, the lab schema lints clean');
SELECT lives_ok($$ SELECT deletion.declare_erasure_subject('lab.people') $$, 'lab.people is declared an erasure subject (no tombstone)');
SELECT results_eq($$ SELECT severity, rule, object FROM deletion.lint() ORDER BY 3 $$,
  $$ VALUES ('warning', 'erasure_rule_missing', 'lab.approvals.approvals_approver_id_fkey'),
            ('warning', 'erasure_rule_missing', 'lab.documents.documents_owner_id_fkey'),
            ('warning', 'personal_data_undeclared', 'lab.people.email') $$,
  'then lint names the personal-looking column left undeclared and each foreign key to the subject without a rule');
SELECT ok((SELECT bool_and(fix LIKE 'SELECT deletion.declare_%') FROM deletion.lint()), 'each with the declaration that fixes it');
SELECT throws_ok($$ SELECT deletion.erase('lab.people', '"00000000-0000-0000-0000-0000000000b1"', 'request 1') $$, 'PD603', NULL,
                 'erase refuses to run while a foreign key to the subject has no rule');

-- declarations refuse what cannot work
SELECT throws_ok($$ SELECT deletion.declare_personal_data('lab.people', 'id', 'identity') $$, '22023', NULL, 'a key column cannot be personal data');
SELECT throws_ok($$ SELECT deletion.declare_personal_data('lab.people', 'email', 'gossip') $$, '22023', NULL, 'an unknown category is refused');
SELECT throws_ok($$ SELECT deletion.declare_personal_data('lab.people', 'mail', 'contact') $$, '42703', NULL, 'an unknown column is refused');
SELECT throws_ok($$ SELECT deletion.declare_personal_data('lab.approvals', 'approved_at', 'other', 'not a date') $$, '22P02', NULL,
                 'a replacement that is not a value of the column''s type is refused');
SELECT throws_ok($$ SELECT deletion.declare_erasure_rule('lab.approvals', '{approver_id}', 'set_null') $$, '22023', NULL,
                 'set_null is refused on a NOT NULL key');
SELECT throws_ok($$ SELECT deletion.declare_erasure_rule('lab.approvals', '{approver_id}', 'tombstone') $$, '22023', NULL,
                 'tombstone is refused when the subject has no tombstone');
SELECT throws_ok($$ SELECT deletion.declare_erasure_rule('lab.approvals', '{document_id}', 'delete') $$, 'PD601', NULL,
                 'a rule on a foreign key to a table that is not a subject is refused');
SELECT throws_ok($$ SELECT deletion.declare_erasure_rule('lab.approvals', '{approved_at}', 'delete') $$, '42704', NULL,
                 'a rule on columns that are no foreign key is refused');

SELECT deletion.declare_personal_data('lab.people', 'email', 'contact');
SELECT deletion.declare_erasure_rule('lab.documents', '{owner_id}', 'delete', note => 'a person''s documents are theirs');
SELECT deletion.declare_erasure_rule('lab.approvals', '{approver_id}', 'delete');
SELECT is_empty($$ SELECT * FROM deletion.lint() $$, 'with the column declared and a rule for each key, lint is clean again');
SELECT deletion.erasure_rules_version('lab', 'people') AS version_one \gset

-- erase refuses bad input
SELECT throws_ok($$ SELECT deletion.erase('lab.people', '"00000000-0000-0000-0000-0000000000b1"', 'request 1', 'short') $$, '22023', NULL,
                 'a signing key shorter than 16 bytes is refused');
SELECT throws_ok($$ SELECT deletion.erase('lab.people', '{"nope": 1}', 'request 1') $$, '22023', NULL, 'a key object without the key columns is refused');
SELECT throws_ok($$ SELECT deletion.erase('lab.people', '"00000000-0000-0000-0000-00000000ffff"', 'request 1') $$, 'P0002', NULL, 'an unknown row is P0002');
SELECT throws_ok($$ SELECT deletion.erase('lab.people', '"00000000-0000-0000-0000-0000000000b1"', ' ') $$, '22023', NULL, 'an erasure needs a reason');
SELECT throws_ok($$ SELECT deletion.erase('lab.orgs', '"00000000-0000-0000-0000-0000000000a1"', 'request 1') $$, 'PD601', NULL,
                 'a table that is no erasure subject is refused');
SELECT ok(NOT has_function_privilege('deletion_app', 'deletion.erase(regclass,jsonb,text,text)', 'EXECUTE')
          AND has_function_privilege('deletion_admin', 'deletion.erase(regclass,jsonb,text,text)', 'EXECUTE'),
          'only deletion_admin may execute deletion.erase');

-- the erasure (the key as its JSON text, a uuid)
SELECT deletion.erase('lab.people', '"00000000-0000-0000-0000-0000000000b1"', 'request 1 from pat.lab-9x2@erase-test.example') AS report \gset
CREATE TEMPORARY TABLE rep AS SELECT :'report'::jsonb AS r;

CREATE FUNCTION pg_temp.hits(val text) RETURNS TABLE (table_name text, hits bigint) LANGUAGE plpgsql AS $$
DECLARE
  rel regclass;
  n bigint;
BEGIN
  FOR rel IN
    SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'm') AND ns.nspname NOT IN ('pg_catalog', 'information_schema', 'tap')
       AND ns.nspname NOT LIKE 'pg\_toast%' AND ns.nspname NOT LIKE 'pg\_temp%'
  LOOP
    EXECUTE format('SELECT count(*) FROM %s t WHERE strpos(t::text, $1) > 0', rel) INTO n USING val;
    IF n > 0 THEN
      table_name := rel::text; hits := n;
      RETURN NEXT;
    END IF;
  END LOOP;
END
$$;
SELECT is_empty($$ SELECT * FROM pg_temp.hits('pat.lab-9x2@erase-test.example') UNION ALL SELECT * FROM pg_temp.hits('pat.old-7qz@erase-test.example') $$,
                'no table visible to SQL holds the person''s emails, old or new (audit images, job errors and the erasure log included)');
SELECT isnt_empty($$ SELECT * FROM pg_temp.hits('quinn.keep@keep.example') $$, 'the other person''s email is still there');
SELECT is((SELECT count(*)::int FROM lab.people), 1, 'the person is gone, the other one stays');
SELECT is((SELECT count(*)::int FROM lab.documents), 1, 'their document is deleted (rule delete), the other one''s stays');
SELECT is((SELECT count(*)::int FROM lab.approvals), 0, 'their approval of the other document is deleted, and the approval of theirs went with it');
SELECT is((SELECT document_id FROM lab.tags), NULL, 'the tag on their document stays with its key set NULL (the foreign key''s SET NULL)');
SELECT results_eq(
  $$ SELECT t.key, (t.value ->> 'deleted')::int, (t.value ->> 'updated')::int FROM jsonb_each((SELECT r FROM pg_temp.rep) -> 'tables') t ORDER BY 1 $$,
  $$ VALUES ('lab.approvals', 2, 0), ('lab.documents', 1, 0), ('lab.people', 1, 0), ('lab.tags', 0, 1) $$,
  'the report''s rows per table: cascades and SET NULLs included, nothing else');
SELECT is((:'report'::jsonb ->> 'files_queued')::int, 1, 'the document''s file is queued');
SELECT is((SELECT count(*)::int FROM deletion.pending_file_deletions WHERE storage_key = 'pat-plan'), 1, 'under its storage key');
SELECT is((:'report'::jsonb -> 'engine_values_scrubbed' ->> 'deletion.deletion_jobs.error')::int, 1, 'the job error naming them is scrubbed');
SELECT is((SELECT error FROM deletion.deletion_jobs WHERE entity_pk = '00000000-0000-0000-0000-0000000000d2'), 'approval by [erased] was in the way',
          'to [erased]');
SELECT ok((SELECT bool_and(old_data -> 'email' = 'null'::jsonb AND primary_key ->> 'id' = '00000000-0000-0000-0000-0000000000b1')
             FROM audit.log WHERE table_name = 'lab.people' AND record_id = '00000000-0000-0000-0000-0000000000b1' AND old_data IS NOT NULL),
          'every audit image of the person keeps its key and has its email redacted');
SELECT is((SELECT count(*)::int FROM audit.log WHERE table_name = 'lab.people' AND old_data ->> 'email' = 'quinn.keep@keep.example'), 0,
          'the other person has no audit image to redact (never changed)');
SELECT throws_ok($$ SELECT * FROM audit.restore_deleted('lab.people', '00000000-0000-0000-0000-0000000000b1') $$, 'PD605', NULL,
                 'an audit restore of the erased person is refused');
SELECT throws_ok($$ SELECT deletion.erase('lab.people', '"00000000-0000-0000-0000-0000000000b1"', 'request 2') $$, 'PD604', NULL,
                 'a second request for the same person says it was erased already (found by the keyed hash)');
SELECT is(current_setting('deletion.mode', true), '', 'erase puts the session''s deletion.mode back');
SELECT deletion.declare_erasure_rule('lab.documents', '{owner_id}', 'set_null');
SELECT isnt(deletion.erasure_rules_version('lab', 'people'), :'version_one', 'changing a rule changes the rules'' version');

SELECT * FROM finish();
ROLLBACK;

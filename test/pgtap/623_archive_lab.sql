-- Archive storage on the lab schema: uuid keys, a composite foreign key, CASCADE and SET NULL from the
-- archived table (lab.documents: approvals cascade, tags are unlinked), and RESTRICT elsewhere in the
-- graph (lab.people, which approvals reference with RESTRICT, cannot be archived). As a login granted
-- deletion_app and one that restores as deletion_restorer.
BEGIN;
SELECT plan(19);

\i test/fixtures/lab_schema.sql
GRANT USAGE ON SCHEMA lab TO deletion_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA lab TO deletion_app;
CREATE ROLE c623_app LOGIN IN ROLE deletion_app;
CREATE ROLE c623_support LOGIN IN ROLE deletion_app;
GRANT deletion_restorer TO c623_support;

CREATE FUNCTION pg_temp.returned(statement text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE r jsonb;
BEGIN
  EXECUTE format('WITH u AS (%s) SELECT coalesce(jsonb_agg(to_jsonb(u) ORDER BY to_jsonb(u)::text), ''[]'') FROM u', statement) INTO r;
  RETURN r;
END $$;
CREATE FUNCTION pg_temp.lab() RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object(
    'documents', (SELECT coalesce(jsonb_agg(to_jsonb(d) ORDER BY d.id), '[]') FROM lab.documents d),
    'approvals', (SELECT coalesce(jsonb_agg(to_jsonb(a) ORDER BY a.document_id, a.approver_id), '[]') FROM lab.approvals a),
    'tags', (SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY t.id), '[]') FROM lab.tags t))
$$;
GRANT EXECUTE ON FUNCTION pg_temp.returned(text), pg_temp.lab() TO PUBLIC;

INSERT INTO lab.orgs VALUES ('00000000-0000-0000-0000-0000000000a1', 'acme');
INSERT INTO lab.people VALUES ('00000000-0000-0000-0000-0000000000b1', 'ann@x'), ('00000000-0000-0000-0000-0000000000b2', 'bob@x');
INSERT INTO lab.folders VALUES ('00000000-0000-0000-0000-0000000000a1', 1, NULL, 'root');
INSERT INTO lab.documents VALUES
  ('00000000-0000-0000-0000-0000000000d1', '00000000-0000-0000-0000-0000000000a1', 1, '00000000-0000-0000-0000-0000000000b1', 'plan'),
  ('00000000-0000-0000-0000-0000000000d2', '00000000-0000-0000-0000-0000000000a1', 1, NULL, 'notes');
INSERT INTO lab.approvals VALUES ('00000000-0000-0000-0000-0000000000d1', '00000000-0000-0000-0000-0000000000b2', '2024-01-01'),
                                 ('00000000-0000-0000-0000-0000000000d1', '00000000-0000-0000-0000-0000000000b1', '2024-01-02');
INSERT INTO lab.tags (id, document_id, label) OVERRIDING SYSTEM VALUE VALUES
  (1, '00000000-0000-0000-0000-0000000000d1', 'q3'), (2, '00000000-0000-0000-0000-0000000000d1', 'draft'), (3, NULL, 'loose');

SELECT throws_like($$ SELECT deletion.enable_archive('lab.people') $$,
                   '%lab.approvals.approvals_approver_id_fkey ON DELETE RESTRICT%',
                   'lab.people cannot be archived: the error names the RESTRICT key that keeps it in place');
SELECT throws_ok($$ SELECT deletion.enable_archive('lab.no_key') $$, 'PD105', NULL, 'nor a table with no primary key');
SELECT lives_ok($$ SELECT deletion.enable_archive('lab.documents') $$, 'lab.documents can (approvals cascade, tags are set null)');
SELECT is((SELECT array_agg(tgname::text || ' ' || tgrelid::regclass::text ORDER BY tgrelid::regclass::text) FROM pg_trigger WHERE tgname = 'deletion_70_archive'
             AND tgrelid::regclass::text LIKE 'lab.%'),
          ARRAY['deletion_70_archive lab.approvals', 'deletion_70_archive lab.documents'],
          'the archived table and the table its cascade reaches are wired');
SELECT is((SELECT storage FROM deletion.table_policies WHERE table_schema = 'lab' AND table_name = 'people'), 'in_place',
          'and the refused enable changed nothing');
CREATE TEMP TABLE before AS SELECT pg_temp.lab() AS image;

SET LOCAL SESSION AUTHORIZATION c623_app;
SELECT is(pg_temp.returned($$ DELETE FROM lab.documents WHERE id = '00000000-0000-0000-0000-0000000000d1' RETURNING id, slug $$),
          '[{"id": "00000000-0000-0000-0000-0000000000d1", "slug": "plan"}]'::jsonb,
          'the application''s DELETE ... RETURNING returns the uuid-keyed row');
SELECT is((SELECT count(*)::int FROM lab.approvals), 0, 'its approvals went (CASCADE through the composite graph)');
SELECT is((SELECT count(*)::int FROM lab.tags WHERE document_id IS NULL), 3, 'its tags were unlinked (SET NULL)');
SELECT current_setting('deletion.soft_delete_op') AS op \gset
SELECT is(pg_temp.returned($$ DELETE FROM lab.approvals RETURNING 1 $$), '[]'::jsonb, 'nothing left to delete');
RESET SESSION AUTHORIZATION;

SELECT is((SELECT rows_per_table FROM deletion.soft_delete_operations WHERE op = :'op'),
          '{"lab.documents": 1, "lab.approvals": 2}'::jsonb, 'one operation counts the document and its approvals');
SELECT is((SELECT count(*)::int FROM deletion.soft_delete_operations WHERE archive_txid IS NOT NULL AND restored_at IS NULL AND purged_at IS NULL
             AND root_table = 'lab.approvals'), 0, 'the empty DELETE of approvals logged no operation (a plain delete of a cascade table is not archived)');

SET LOCAL SESSION AUTHORIZATION c623_support;
SET LOCAL ROLE deletion_restorer;
SELECT is(deletion.restore(:'op'::uuid), 5::bigint, 'the restorer brings back the document, its two approvals and the two tag links');
RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT is(pg_temp.lab(), (SELECT image FROM before), 'every row and every link is back exactly (images compared)');

-- A DELETE of a cascade table on its own is a plain delete: no operation.
SET LOCAL SESSION AUTHORIZATION c623_app;
DELETE FROM lab.approvals WHERE approver_id = '00000000-0000-0000-0000-0000000000b1';
RESET SESSION AUTHORIZATION;
SELECT is((SELECT count(*)::int FROM deletion.soft_delete_operations WHERE root_table = 'lab.approvals'), 0,
          'a DELETE of the cascade table on its own is not an archived operation');
-- A RESTRICT key added later: lint reports the archived table, the next wiring refuses it.
SELECT is((SELECT count(*)::int FROM deletion.lint() WHERE rule = 'archive_not_possible'), 0, 'lint has nothing to say about the archive while it can work');
CREATE TABLE lab.pins (id bigint PRIMARY KEY, document_id uuid REFERENCES lab.documents (id) ON DELETE RESTRICT);
SELECT is((SELECT array_agg(object) FROM deletion.lint() WHERE rule = 'archive_not_possible'), ARRAY['lab.documents'],
          'a RESTRICT key added since: lint reports archive_not_possible on lab.documents');
SELECT throws_ok($$ SELECT deletion.wire_archive('lab.documents') $$, 'PD105', NULL, 'and its wiring refuses it');
DROP TABLE lab.pins;
-- Turning archive storage off leaves both tables plain and audited.
SELECT lives_ok($$ SELECT deletion.disable_archive('lab.documents') $$, 'archive storage can be turned off');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgname = 'deletion_70_archive' AND tgrelid::regclass::text LIKE 'lab.%'), 0,
          'and the archive triggers are gone from both tables');

SELECT * FROM finish();
ROLLBACK;

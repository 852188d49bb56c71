-- Restore on the lab schema: a composite-key self-referencing tree comes back exactly with what its
-- delete cascaded to and the foreign keys it set to NULL; dry run; idempotence; every kind of
-- conflict refuses the whole restore and changes nothing; cycles through nullable foreign keys;
-- who may restore; bad input.
BEGIN;
SELECT plan(43);

\i test/fixtures/lab_schema.sql
SELECT deletion.rewire();

INSERT INTO lab.orgs VALUES ('00000000-0000-0000-0000-0000000000a1', 'acme');
INSERT INTO lab.people VALUES ('00000000-0000-0000-0000-0000000000b1', 'ann@x'), ('00000000-0000-0000-0000-0000000000b2', 'bob@x');
-- a tree inserted children-first order would fail; ids chosen so a restore by id order would fail too
INSERT INTO lab.folders VALUES ('00000000-0000-0000-0000-0000000000a1', 9, NULL, 'root'),
                               ('00000000-0000-0000-0000-0000000000a1', 5, 9, 'child'),
                               ('00000000-0000-0000-0000-0000000000a1', 1, 5, 'grandchild'),
                               ('00000000-0000-0000-0000-0000000000a1', 7, 9, 'second child');
INSERT INTO lab.documents VALUES ('00000000-0000-0000-0000-0000000000d1', '00000000-0000-0000-0000-0000000000a1', 1, '00000000-0000-0000-0000-0000000000b1', 'plan'),
                                 ('00000000-0000-0000-0000-0000000000d2', '00000000-0000-0000-0000-0000000000a1', 7, NULL, 'memo');
INSERT INTO lab.approvals VALUES ('00000000-0000-0000-0000-0000000000d1', '00000000-0000-0000-0000-0000000000b2', '2024-01-01');
INSERT INTO lab.tags (id, document_id, label) OVERRIDING SYSTEM VALUE VALUES (1, '00000000-0000-0000-0000-0000000000d1', 'q3'), (2, NULL, 'loose');

-- A checksum of every lab table, in key order.
CREATE FUNCTION pg_temp.lab_checksum() RETURNS text LANGUAGE sql AS $$
  SELECT md5(string_agg(t, '|' ORDER BY t)) FROM (
    SELECT 'o' || string_agg(x::text, ',' ORDER BY x.id) AS t FROM lab.orgs x UNION ALL
    SELECT 'p' || string_agg(x::text, ',' ORDER BY x.id) FROM lab.people x UNION ALL
    SELECT 'f' || string_agg(x::text, ',' ORDER BY x.org_id, x.id) FROM lab.folders x UNION ALL
    SELECT 'd' || string_agg(x::text, ',' ORDER BY x.id) FROM lab.documents x UNION ALL
    SELECT 'a' || string_agg(x::text, ',' ORDER BY x.document_id, x.approver_id) FROM lab.approvals x UNION ALL
    SELECT 't' || string_agg(x::text, ',' ORDER BY x.id) FROM lab.tags x) s
$$;
CREATE TEMP TABLE before AS SELECT pg_temp.lab_checksum() AS checksum;

DELETE FROM lab.folders WHERE org_id = '00000000-0000-0000-0000-0000000000a1' AND id = 9;
SELECT is((SELECT count(*)::int FROM lab.folders), 0, 'the delete removed the whole tree');

-- dry run
SELECT results_eq($$ SELECT kind, table_name, rows FROM audit.restore_deleted('lab.folders', '["00000000-0000-0000-0000-0000000000a1", 9]', true) $$,
                  $$ VALUES ('relink', 'lab.tags', 1::bigint), ('insert', 'lab.approvals', 1::bigint), ('insert', 'lab.documents', 2::bigint),
                            ('insert', 'lab.folders', 4::bigint) $$,
                  'a dry run returns the plan: rows per table to insert and to re-link');
SELECT is((SELECT count(*)::int FROM lab.folders), 0, 'and changes nothing');

-- the restore, from any row of the delete
SELECT results_eq($$ SELECT kind, table_name, rows FROM audit.restore_deleted('lab.folders', '["00000000-0000-0000-0000-0000000000a1", 1]') $$,
                  $$ VALUES ('insert', 'lab.approvals', 1::bigint), ('insert', 'lab.documents', 2::bigint), ('insert', 'lab.folders', 4::bigint),
                            ('relink', 'lab.tags', 1::bigint) $$,
                  'restore_deleted puts back the row and everything its statement''s cascade removed');
SELECT is(pg_temp.lab_checksum(), (SELECT checksum FROM before), 'every lab table is exactly as before the delete');
SELECT results_eq($$ SELECT target::text, rank, cycle_tables::text[] FROM pg_temp.audit_restore_tables ORDER BY rank $$,
                  $$ VALUES ('lab.folders', 0, ARRAY['lab.folders']), ('lab.documents', 1, '{}'), ('lab.approvals', 2, '{}') $$,
                  'the restore ranks its tables parents first; only the self-referencing folders form a cycle');
SELECT is((SELECT count(*)::int FROM pg_temp.audit_restore_edges e JOIN pg_temp.audit_restore_rows c ON c.row_id = e.child
            WHERE c.target <> 'lab.folders'::regclass), 0,
          'rows are ordered one by one only inside the cycle: the other foreign keys are left to the ranks');
SELECT is((SELECT document_id FROM lab.tags WHERE id = 1), '00000000-0000-0000-0000-0000000000d1'::uuid, 'the foreign key SET NULL cleared is put back');
SELECT is((SELECT count(*)::int FROM audit.log WHERE action = 'INSERT'), 7, 'restored rows are logged as INSERTs');
SELECT is((SELECT count(*)::int FROM audit.restorations), 1, 'the statement is recorded as restored');

-- idempotent
SELECT results_eq($$ SELECT kind, rows FROM audit.restore_deleted('lab.folders', '["00000000-0000-0000-0000-0000000000a1", 9]') $$,
                  $$ VALUES ('already restored', 0::bigint) $$, 'a second restore restores nothing and says so');
SELECT is(pg_temp.lab_checksum(), (SELECT checksum FROM before), 'and changes nothing');

-- conflict: a unique value taken meanwhile (documents (org_id, slug))
DELETE FROM lab.documents WHERE id = '00000000-0000-0000-0000-0000000000d2';
INSERT INTO lab.documents VALUES ('00000000-0000-0000-0000-0000000000d9', '00000000-0000-0000-0000-0000000000a1', 7, NULL, 'memo');
CREATE TEMP TABLE taken AS SELECT pg_temp.lab_checksum() AS checksum;
SELECT throws_ok($$ SELECT * FROM audit.restore_deleted('lab.documents', '00000000-0000-0000-0000-0000000000d2') $$, 'PD202', NULL,
                 'a restore whose unique key is taken is refused');
SELECT is(pg_temp.lab_checksum(), (SELECT checksum FROM taken), 'and changes nothing');
SELECT matches((SELECT detail FROM audit.restore_deleted('lab.documents', '00000000-0000-0000-0000-0000000000d2', true) WHERE kind = 'conflict'),
               'unique index lab.documents_org_slug_key: \(org_id, slug\) is taken', 'the dry run names the conflict');

-- conflict: the primary key taken meanwhile
DELETE FROM lab.people WHERE id = '00000000-0000-0000-0000-0000000000b1';
INSERT INTO lab.people VALUES ('00000000-0000-0000-0000-0000000000b1', 'someone-else@x');
SELECT matches((SELECT detail FROM audit.restore_deleted('lab.people', '00000000-0000-0000-0000-0000000000b1', true) WHERE kind = 'conflict' LIMIT 1),
               'primary key is taken', 'a primary key taken meanwhile is a conflict');
SELECT throws_ok($$ SELECT * FROM audit.restore_deleted('lab.people', '00000000-0000-0000-0000-0000000000b1') $$, 'PD202', NULL, 'and refuses the restore');
SELECT is((SELECT owner_id FROM lab.documents WHERE id = '00000000-0000-0000-0000-0000000000d1'), NULL::uuid,
          'nothing was re-linked by the refused restore');

-- conflict: a parent that no longer exists (the approver was deleted after the document)
DELETE FROM lab.documents WHERE id = '00000000-0000-0000-0000-0000000000d1';
DELETE FROM lab.people WHERE id = '00000000-0000-0000-0000-0000000000b2';
SELECT matches((SELECT string_agg(detail, '; ') FROM audit.restore_deleted('lab.documents', '00000000-0000-0000-0000-0000000000d1', true) WHERE kind = 'conflict'),
               'its parent in lab.people \(approver_id\) no longer exists', 'a parent deleted meanwhile is a conflict');
SELECT throws_ok($$ SELECT * FROM audit.restore_deleted('lab.documents', '00000000-0000-0000-0000-0000000000d1') $$, 'PD202', NULL, 'and refuses the restore');
SELECT throws_like($$ SELECT * FROM audit.restore_deleted('lab.documents', '00000000-0000-0000-0000-0000000000d1') $$,
                   '%its parent in lab.people (approver_id) no longer exists%',
                   'the refusal names the conflict (the INSERT found it; the checks, run then, say which)');
SELECT is((SELECT count(*)::int FROM lab.documents WHERE id = '00000000-0000-0000-0000-0000000000d1'), 0, 'the document stays deleted');
-- the parent restored first, the restore goes through
SELECT lives_ok($$ SELECT * FROM audit.restore_deleted('lab.people', '00000000-0000-0000-0000-0000000000b2') $$, 'restoring the parent first');
SELECT lives_ok($$ SELECT * FROM audit.restore_deleted('lab.documents', '00000000-0000-0000-0000-0000000000d1') $$, 'lets the child restore');
SELECT is((SELECT count(*)::int FROM lab.approvals), 1, 'with its approval');

-- conflict: a column dropped, and a NOT NULL column added since the delete
DELETE FROM lab.tags WHERE id = 2;
ALTER TABLE lab.tags ADD COLUMN color text NOT NULL DEFAULT 'red';
ALTER TABLE lab.tags ALTER COLUMN color DROP DEFAULT;
SELECT matches((SELECT detail FROM audit.restore_deleted('lab.tags', '2', true) WHERE kind = 'conflict'),
               'column color of lab.tags is NOT NULL without a default', 'a NOT NULL column added since is a conflict');
SELECT throws_ok($$ SELECT * FROM audit.restore_deleted('lab.tags', '2') $$, 'PD202', NULL, 'and refuses the restore');
ALTER TABLE lab.tags DROP COLUMN color, DROP COLUMN label;
SELECT matches((SELECT detail FROM audit.restore_deleted('lab.tags', '2', true) WHERE kind = 'conflict'),
               'column label of lab.tags was dropped', 'a dropped column is a conflict');

-- a cycle of rows through a nullable foreign key: inserted with NULL first, linked afterwards
CREATE TABLE lab.boxes (id integer PRIMARY KEY, lid_id integer);
CREATE TABLE lab.lids (id integer PRIMARY KEY, box_id integer NOT NULL REFERENCES lab.boxes ON DELETE CASCADE);
ALTER TABLE lab.boxes ADD FOREIGN KEY (lid_id) REFERENCES lab.lids ON DELETE SET NULL;
SELECT audit.enable('lab.boxes');
SELECT audit.enable('lab.lids');
INSERT INTO lab.boxes VALUES (1, NULL);
INSERT INTO lab.lids VALUES (10, 1);
UPDATE lab.boxes SET lid_id = 10;
DELETE FROM lab.boxes WHERE id = 1;
SELECT lives_ok($$ SELECT * FROM audit.restore_deleted('lab.boxes', '1') $$, 'rows that reference each other are restored');
SELECT is((SELECT lid_id FROM lab.boxes WHERE id = 1), 10, 'with the cycle closed again');

-- an error no check foresees (a CHECK constraint added since the delete) comes as it was raised
ALTER TABLE lab.boxes ADD CONSTRAINT boxes_after_the_first CHECK (id > 1) NOT VALID;
DELETE FROM lab.boxes WHERE id = 1;
SELECT throws_ok($$ SELECT * FROM audit.restore_deleted('lab.boxes', '1') $$, '23514', NULL, 'a restore a CHECK constraint refuses raises its error');
SELECT is((SELECT count(*)::int FROM lab.lids), 0, 'and puts nothing back');

-- a parent missing through a DEFERRABLE foreign key, which an INSERT would only refuse at commit
CREATE TABLE lab.shelves (id integer PRIMARY KEY);
CREATE TABLE lab.books (id integer PRIMARY KEY, shelf_id integer NOT NULL REFERENCES lab.shelves ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED);
SELECT audit.enable('lab.shelves');
SELECT audit.enable('lab.books');
INSERT INTO lab.shelves VALUES (1);
INSERT INTO lab.books VALUES (1, 1);
DELETE FROM lab.books WHERE id = 1;
DELETE FROM lab.shelves WHERE id = 1;
SELECT throws_like($$ SELECT * FROM audit.restore_deleted('lab.books', '1') $$, '%its parent in lab.shelves (shelf_id) no longer exists%',
                   'a parent missing through a DEFERRABLE foreign key refuses the restore at once');

-- restore_transaction: every delete and SET NULL of a transaction (here: the test's own)
SELECT ok((SELECT count(*) FROM audit.restore_transaction(pg_current_xact_id()::text::bigint, true)) > 0, 'restore_transaction plans the rest of the transaction');

-- bad input
SELECT throws_ok($$ SELECT * FROM audit.restore_deleted('lab.folders', '["00000000-0000-0000-0000-0000000000a1", 404]') $$, 'P0002', NULL,
                 'a key never deleted is reported');
SELECT throws_ok($$ SELECT * FROM audit.restore_deleted('lab.folders', '42') $$, '22023', NULL, 'a composite key given as one value is refused');
SELECT throws_ok($$ SELECT * FROM audit.restore_deleted('lab.people', 'not-a-uuid') $$, '22P02', NULL, 'a key that does not cast is refused');
SELECT throws_ok($$ SELECT * FROM audit.restore_transaction(1) $$, 'P0002', NULL, 'a transaction without deletes is reported');

-- who may restore
CREATE ROLE audit_test_app LOGIN IN ROLE deletion_app;
CREATE ROLE audit_test_admin LOGIN IN ROLE deletion_admin;
GRANT USAGE ON SCHEMA lab TO audit_test_admin;
SET LOCAL ROLE audit_test_app;
SELECT throws_ok($$ SELECT * FROM audit.restore_deleted('lab.tags', '2', true) $$, '42501', NULL, 'the application role may not restore');
SELECT throws_ok($$ SELECT * FROM audit.restore_transaction(1, true) $$, '42501', NULL, 'nor restore a transaction');
SET LOCAL ROLE audit_test_admin;
SELECT lives_ok($$ SELECT * FROM audit.restore_deleted('lab.people', '00000000-0000-0000-0000-0000000000b1', true) $$, 'a deletion_admin member may');
RESET ROLE;
SELECT is((SELECT prosecdef FROM pg_proc WHERE oid = 'audit.restore_deleted(regclass, text, boolean)'::regprocedure), true,
          'restore runs as SECURITY DEFINER');
SELECT is((SELECT proconfig FROM pg_proc WHERE oid = 'audit.restore_deleted(regclass, text, boolean)'::regprocedure), ARRAY['search_path=pg_catalog'],
          'with a pinned search_path');

SELECT * FROM finish();
ROLLBACK;

-- Deferred file cleanup: the triggers queue the file of every deleted row, in the delete's own
-- transaction, whoever deletes it and however (cascade, function, TRUNCATE), on the lab schema
-- (uuid keys, a composite key, a self-referencing tree).
BEGIN;
SELECT plan(34);

\i test/fixtures/lab_schema.sql

ALTER TABLE lab.documents ADD COLUMN file_key text;
ALTER TABLE lab.folders ADD COLUMN icon_key text;
CREATE INDEX ON lab.documents (file_key);

-- Tracking ------------------------------------------------------------------------------------------

SELECT lives_ok($$ SELECT deletion.track_files('lab.documents', 'file_key') $$, 'track_files registers the key column of a uuid-keyed table');
SELECT lives_ok($$ SELECT deletion.track_files('lab.folders', 'icon_key') $$, 'and of a composite-keyed, self-referencing table');
SELECT is((SELECT file_key_column FROM deletion.table_policies WHERE table_schema = 'lab' AND table_name = 'documents'),
          'file_key'::name, 'the registry holds the key column');
SELECT bag_eq($$ SELECT tgname::text FROM pg_trigger WHERE tgrelid = 'lab.documents'::regclass AND NOT tgisinternal AND tgname LIKE 'deletion\_60%' $$,
              ARRAY['deletion_60_files', 'deletion_60_files_update', 'deletion_60_files_truncate'],
              'the delete, update and truncate triggers are installed');
SELECT lives_ok($$ SELECT deletion.wire_files('lab.documents'); SELECT deletion.rewire() $$, 'wiring again is harmless');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'lab.documents'::regclass AND tgname LIKE 'deletion_60_files%'),
          3, 'and installs nothing twice');

SELECT throws_ok($$ SELECT deletion.track_files('lab.documents', 'no_such_column') $$, '42703', NULL, 'an unknown column is refused');
SELECT throws_ok($$ SELECT deletion.track_files('lab.approvals', 'approved_at') $$, '42804', NULL, 'a column that cannot hold a key is refused');
SELECT is((SELECT file_key_column FROM deletion.table_policies WHERE table_schema = 'lab' AND table_name = 'approvals'),
          NULL, 'and the registry is unchanged');

-- Data: one org, a folder tree three levels deep, documents at every level, one document without a file.
INSERT INTO lab.orgs (id, name) VALUES ('00000000-0000-4000-8000-00000000000a', 'acme'), ('00000000-0000-4000-8000-00000000000b', 'other');
INSERT INTO lab.folders (org_id, id, parent_id, name, icon_key) VALUES
  ('00000000-0000-4000-8000-00000000000a', 1, NULL, 'root', 'icons/root.png'),
  ('00000000-0000-4000-8000-00000000000a', 2, 1, 'child', NULL),
  ('00000000-0000-4000-8000-00000000000a', 3, 2, 'grandchild', 'icons/grandchild.png'),
  ('00000000-0000-4000-8000-00000000000b', 1, NULL, 'other root', 'icons/other.png');
INSERT INTO lab.documents (id, org_id, folder_id, slug, file_key) VALUES
  ('00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-00000000000a', 1, 'd1', 'docs/1.pdf'),
  ('00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-00000000000a', 2, 'd2', 'docs/2.pdf'),
  ('00000000-0000-4000-8000-000000000003', '00000000-0000-4000-8000-00000000000a', 3, 'd3', 'docs/3.pdf'),
  ('00000000-0000-4000-8000-000000000004', '00000000-0000-4000-8000-00000000000a', 3, 'd4', NULL),
  ('00000000-0000-4000-8000-000000000005', '00000000-0000-4000-8000-00000000000b', 1, 'd5', 'docs/5.pdf');

-- Rolled back: nothing queued ------------------------------------------------------------------------

SAVEPOINT before_delete;
DELETE FROM lab.orgs WHERE name = 'acme';
SELECT is((SELECT count(*)::int FROM deletion.pending_file_deletions), 5, 'inside the transaction, the cascade queued its files');
ROLLBACK TO SAVEPOINT before_delete;
SELECT is((SELECT count(*)::int FROM deletion.pending_file_deletions), 0, 'a rolled-back delete leaves nothing queued');

-- A cascade through a self-referencing tree -------------------------------------------------------------

DELETE FROM lab.orgs WHERE name = 'acme';
SELECT bag_eq($$ SELECT storage_key, source_schema::text, source_table::text, source_pk FROM deletion.pending_file_deletions $$,
              $$ VALUES ('docs/1.pdf', 'lab', 'documents', '00000000-0000-4000-8000-000000000001'),
                        ('docs/2.pdf', 'lab', 'documents', '00000000-0000-4000-8000-000000000002'),
                        ('docs/3.pdf', 'lab', 'documents', '00000000-0000-4000-8000-000000000003'),
                        ('icons/root.png', 'lab', 'folders', '["00000000-0000-4000-8000-00000000000a", 1]'),
                        ('icons/grandchild.png', 'lab', 'folders', '["00000000-0000-4000-8000-00000000000a", 3]') $$,
              'deleting an org queues every file its cascade removed, once each, with the row it came from');
SELECT is((SELECT count(*)::int FROM deletion.pending_file_deletions WHERE storage_key = 'docs/5.pdf'), 0,
          'files of rows the cascade did not reach are not queued');
SELECT ok((SELECT bool_and(attempts = 0 AND failed_at IS NULL AND lease_owner IS NULL AND next_attempt_at <= now())
             FROM deletion.pending_file_deletions), 'queued files are due at once, unattempted and unleased');
SELECT is(deletion.key_predicate('lab.folders', (SELECT source_pk FROM deletion.pending_file_deletions WHERE storage_key = 'icons/root.png')),
          $q$org_id = '00000000-0000-4000-8000-00000000000a'::uuid AND id = '1'::integer$q$,
          'a composite source key follows the engine''s key convention');

-- One statement deleting a parent and (by hand) its children: the children's trigger fires once, each row once.
DELETE FROM deletion.pending_file_deletions;
INSERT INTO lab.folders (org_id, id, parent_id, name, icon_key) VALUES
  ('00000000-0000-4000-8000-00000000000b', 2, 1, 'cte parent', 'icons/cte-parent.png'),
  ('00000000-0000-4000-8000-00000000000b', 3, 2, 'cte child', 'icons/cte-child.png');
WITH children AS (DELETE FROM lab.folders WHERE org_id = '00000000-0000-4000-8000-00000000000b' AND id = 3 RETURNING id)
DELETE FROM lab.folders WHERE org_id = '00000000-0000-4000-8000-00000000000b' AND id = 2;
SELECT bag_eq($$ SELECT storage_key FROM deletion.pending_file_deletions $$, ARRAY['icons/cte-parent.png', 'icons/cte-child.png'],
              'a data-modifying CTE and its outer DELETE queue both rows, once each');
DELETE FROM deletion.pending_file_deletions;
INSERT INTO deletion.pending_file_deletions (storage_key, source_schema, source_table)
SELECT storage_key, 'lab', 'documents' FROM unnest(ARRAY['docs/1.pdf', 'docs/2.pdf', 'docs/3.pdf']) AS storage_key;

-- The same key twice in one statement; a key already queued ----------------------------------------------

INSERT INTO lab.documents (id, org_id, folder_id, slug, file_key) VALUES
  ('00000000-0000-4000-8000-000000000006', '00000000-0000-4000-8000-00000000000b', 1, 'd6', 'shared/logo.png'),
  ('00000000-0000-4000-8000-000000000007', '00000000-0000-4000-8000-00000000000b', 1, 'd7', 'shared/logo.png'),
  ('00000000-0000-4000-8000-000000000008', '00000000-0000-4000-8000-00000000000b', 1, 'd8', 'docs/1.pdf');
DELETE FROM lab.documents WHERE slug IN ('d6', 'd7');
SELECT is((SELECT count(*)::int FROM deletion.pending_file_deletions WHERE storage_key = 'shared/logo.png'), 1,
          'two deleted rows naming one file queue it once');
DELETE FROM lab.documents WHERE slug = 'd8';
SELECT is((SELECT count(*)::int FROM deletion.pending_file_deletions WHERE storage_key = 'docs/1.pdf'), 1,
          'a key already queued is not queued twice');
UPDATE deletion.pending_file_deletions SET failed_at = now(), attempts = 3 WHERE storage_key = 'docs/1.pdf';
INSERT INTO lab.documents (id, org_id, folder_id, slug, file_key) VALUES
  ('00000000-0000-4000-8000-000000000009', '00000000-0000-4000-8000-00000000000b', 1, 'd9', 'docs/1.pdf');
DELETE FROM lab.documents WHERE slug = 'd9';
SELECT ok((SELECT failed_at IS NULL AND attempts = 0 FROM deletion.pending_file_deletions WHERE storage_key = 'docs/1.pdf'),
          'a new delete of a key that had failed for good makes it pending again');

-- Replaced keys, TRUNCATE ------------------------------------------------------------------------------

DELETE FROM deletion.pending_file_deletions;
UPDATE lab.documents SET slug = 'd5-renamed' WHERE slug = 'd5';
SELECT is((SELECT count(*)::int FROM deletion.pending_file_deletions), 0, 'an update that keeps the key queues nothing');
UPDATE lab.documents SET file_key = 'docs/5-v2.pdf' WHERE slug = 'd5-renamed';
SELECT results_eq($$ SELECT storage_key FROM deletion.pending_file_deletions $$, ARRAY['docs/5.pdf'],
                  'an update that replaces the key queues the old file');

DELETE FROM deletion.pending_file_deletions;
TRUNCATE lab.approvals, lab.tags, lab.documents;
SELECT results_eq($$ SELECT storage_key FROM deletion.pending_file_deletions $$, ARRAY['docs/5-v2.pdf'],
                  'TRUNCATE queues the files of every row it empties');

-- Deletes inside a SECURITY DEFINER function, in chunks (how the deletion-job worker deletes) -------------

DELETE FROM deletion.pending_file_deletions;
INSERT INTO lab.documents (org_id, folder_id, slug, file_key)
SELECT '00000000-0000-4000-8000-00000000000b', 1, 'bulk-' || i, 'bulk/' || i || '.bin' FROM generate_series(1, 250) i;
CREATE FUNCTION lab.delete_documents_in_chunks(chunk integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE n integer; total integer := 0;
BEGIN
  LOOP
    DELETE FROM lab.documents WHERE id IN (SELECT id FROM lab.documents WHERE slug LIKE 'bulk-%' ORDER BY id LIMIT chunk);
    GET DIAGNOSTICS n = ROW_COUNT;
    EXIT WHEN n = 0;
    total := total + n;
  END LOOP;
  RETURN total;
END $$;
SELECT is(lab.delete_documents_in_chunks(40), 250, 'a definer function deletes 250 rows in chunks of 40');
SELECT is((SELECT count(DISTINCT storage_key)::int FROM deletion.pending_file_deletions WHERE storage_key LIKE 'bulk/%'), 250,
          'every chunk queued its files: none missed');
SELECT is((SELECT count(*)::int FROM deletion.pending_file_deletions), 250, 'and none doubled');

-- The application role ------------------------------------------------------------------------------------

DELETE FROM deletion.pending_file_deletions;
INSERT INTO lab.documents (org_id, folder_id, slug, file_key) VALUES ('00000000-0000-4000-8000-00000000000b', 1, 'd10', 'docs/10.pdf');
CREATE ROLE files_test_app_500 LOGIN IN ROLE deletion_app;
GRANT USAGE ON SCHEMA lab TO files_test_app_500;
GRANT SELECT, DELETE ON lab.documents TO files_test_app_500;
SET LOCAL ROLE files_test_app_500;
DELETE FROM lab.documents WHERE slug = 'd10';
SELECT throws_ok($$ SELECT count(*) FROM deletion.pending_file_deletions $$, '42501', NULL,
                 'the application role cannot read the queue of file names');
SELECT throws_ok($$ INSERT INTO deletion.pending_file_deletions (storage_key, source_schema, source_table) VALUES ('x', 'lab', 'documents') $$,
                 '42501', NULL, 'nor write to it');
SELECT is((SELECT pending FROM deletion.vw_file_cleanup_stats), 1::bigint, 'but it sees the counts, with its own delete queued');
SELECT throws_ok($$ SELECT deletion.claim_file_deletions('app', 10) $$, '42501', NULL, 'and cannot act as a cleaner');
SELECT throws_ok($$ SELECT deletion.track_files('lab.tags', 'label') $$, '42501', NULL, 'nor change which files a table tracks');
RESET ROLE;
SELECT is((SELECT file_key_column FROM deletion.table_policies WHERE table_schema = 'lab' AND table_name = 'tags'), NULL,
          'the refused track_files changed nothing');

-- A key column dropped behind the registry's back is reported, not silently untracked.
ALTER TABLE lab.tags ADD COLUMN sticker_key text;
SELECT deletion.track_files('lab.tags', 'sticker_key');
ALTER TABLE lab.tags DROP COLUMN sticker_key;
SELECT throws_ok($$ SELECT deletion.wire_files('lab.tags') $$, '42703', NULL, 'wiring a table whose key column is gone fails with a hint');

-- Untracking --------------------------------------------------------------------------------------------

SELECT lives_ok($$ SELECT deletion.track_files('lab.folders', NULL) $$, 'track_files with NULL stops tracking');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'lab.folders'::regclass AND tgname LIKE 'deletion_60_files%'),
          0, 'and removes the triggers');

SELECT * FROM finish();
ROLLBACK;

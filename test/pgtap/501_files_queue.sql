-- Deferred file cleanup: what a cleaner is given and what happens to what it reports. Claims lease
-- due files once, keep files still named by a live row, remove only what storage confirmed, back off
-- and finally fail what storage refuses, and show all of it in the stats views.
BEGIN;
SELECT plan(32);

\i test/fixtures/lab_schema.sql

ALTER TABLE lab.documents ADD COLUMN file_key text;
ALTER TABLE lab.people ADD COLUMN avatar_key text;
SELECT deletion.track_files('lab.documents', 'file_key');
SELECT deletion.track_files('lab.people', 'avatar_key');

INSERT INTO lab.orgs (id, name) VALUES ('00000000-0000-4000-8000-00000000000a', 'acme');
INSERT INTO lab.folders (org_id, id, name) VALUES ('00000000-0000-4000-8000-00000000000a', 1, 'root');
INSERT INTO lab.documents (org_id, folder_id, slug, file_key)
SELECT '00000000-0000-4000-8000-00000000000a', 1, 'doc-' || i, format('docs/%s.pdf', i) FROM generate_series(1, 10) i;
-- Two documents name the same file; a person's avatar names another document's file.
INSERT INTO lab.documents (org_id, folder_id, slug, file_key) VALUES
  ('00000000-0000-4000-8000-00000000000a', 1, 'copy-a', 'shared/copied.pdf'),
  ('00000000-0000-4000-8000-00000000000a', 1, 'copy-b', 'shared/copied.pdf');
INSERT INTO lab.people (email, avatar_key) VALUES ('ann@example.com', 'docs/1.pdf');

DELETE FROM lab.documents WHERE slug = 'copy-a' OR slug LIKE 'doc-%';

-- Bad input ------------------------------------------------------------------------------------------

SELECT throws_ok($$ SELECT * FROM deletion.claim_file_deletions('c1', 1001) $$, '22023', NULL, 'a batch above 1000 files is refused');
SELECT throws_ok($$ SELECT * FROM deletion.claim_file_deletions('c1', 0) $$, '22023', NULL, 'an empty batch is refused');
SELECT throws_ok($$ SELECT * FROM deletion.claim_file_deletions('', 10) $$, '22023', NULL, 'a nameless cleaner is refused');
SELECT throws_ok($$ SELECT * FROM deletion.claim_file_deletions('c1', 10, '0 seconds') $$, '22023', NULL, 'a lease that is not positive is refused');
SELECT throws_ok($$ SELECT * FROM deletion.claim_file_deletions('c1', 10, '1 minute', '-1 second') $$, '22023', NULL, 'a negative grace period is refused');
SELECT is((SELECT count(*)::int FROM deletion.claim_file_deletions('c0', 1000, '1 minute', '1 hour')), 0,
          'files queued less than the grace period are not taken (a restore may still want them)');
SELECT is((SELECT count(*)::int FROM deletion.pending_file_deletions WHERE lease_owner IS NOT NULL OR attempts > 0), 0,
          'refused claims took nothing');

-- Claims ------------------------------------------------------------------------------------------------

SELECT is((SELECT pending FROM deletion.vw_file_cleanup_stats), 11::bigint, 'eleven files wait: ten documents and the copied file');

CREATE TEMP TABLE first_claim AS SELECT * FROM deletion.claim_file_deletions('c1', 4);
SELECT is((SELECT count(*)::int FROM first_claim), 4, 'a claim takes at most batch_size files');
SELECT ok((SELECT bool_and(attempts = 1) FROM first_claim WHERE NOT still_referenced), 'and counts an attempt for each');
SELECT is((SELECT in_progress FROM deletion.vw_file_cleanup_stats), (SELECT count(*) FROM first_claim WHERE NOT still_referenced),
          'the stats show the leased ones in progress');

CREATE TEMP TABLE second_claim AS SELECT * FROM deletion.claim_file_deletions('c2', 1000);
SELECT is((SELECT count(*)::int FROM second_claim s JOIN first_claim f USING (id)), 0,
          'a second cleaner never gets a file the first one holds');
SELECT bag_eq($$ SELECT storage_key FROM first_claim WHERE still_referenced UNION ALL SELECT storage_key FROM second_claim WHERE still_referenced $$,
              $$ VALUES ('docs/1.pdf'), ('shared/copied.pdf') $$,
              'files still named by a live row (the same table, or another tracked table) come back as still referenced');
SELECT is((SELECT count(*)::int FROM deletion.pending_file_deletions WHERE storage_key IN ('docs/1.pdf', 'shared/copied.pdf')), 0,
          'and leave the queue, so they are never deleted from storage');
SELECT is((SELECT count(*)::int FROM deletion.pending_file_deletions), 9, 'the other nine stay queued until storage confirms');
SELECT is((SELECT count(*)::int FROM deletion.claim_file_deletions('c3', 1000)), 0, 'a third cleaner finds nothing due');

-- Completion ---------------------------------------------------------------------------------------------

SELECT is((SELECT count(*)::int FROM deletion.complete_file_deletions('c2', ARRAY(SELECT id FROM first_claim))), 0,
          'a cleaner cannot complete files another cleaner holds');
SELECT is((SELECT count(*) FROM deletion.complete_file_deletions('c1', ARRAY(SELECT id FROM first_claim))),
          (SELECT count(*) FROM first_claim WHERE NOT still_referenced), 'the holder completes its files');
SELECT is((SELECT count(*)::int FROM deletion.pending_file_deletions q JOIN first_claim f USING (id)), 0, 'and they leave the queue');

-- Lease expiry (a crashed cleaner) -------------------------------------------------------------------------

CREATE TEMP TABLE crashed AS SELECT id, storage_key FROM second_claim WHERE NOT still_referenced ORDER BY id LIMIT 2;
UPDATE deletion.pending_file_deletions SET lease_expires_at = clock_timestamp() - interval '1 second'
 WHERE id IN (SELECT id FROM crashed);
CREATE TEMP TABLE retaken AS SELECT * FROM deletion.claim_file_deletions('c4', 1000);
SELECT bag_eq($$ SELECT storage_key, attempts FROM retaken $$, $$ SELECT storage_key, 2 FROM crashed $$,
              'files whose lease lapsed are taken again, and the lost attempt counts');
SELECT is((SELECT count(*)::int FROM deletion.complete_file_deletions('c2', ARRAY(SELECT id FROM retaken))), 0,
          'the cleaner that lost the lease can no longer complete them');

-- Failures, back-off, failed -------------------------------------------------------------------------------

CREATE TEMP TABLE failure AS
  SELECT * FROM deletion.fail_file_deletions('c4', ARRAY(SELECT id FROM retaken WHERE id = (SELECT min(id) FROM crashed)), ARRAY['503 Slow Down'], 3, '10 minutes');
SELECT ok((SELECT NOT failed FROM failure), 'a failure below max attempts is not final');
SELECT ok((SELECT last_error = '503 Slow Down' AND lease_owner IS NULL AND next_attempt_at > clock_timestamp() + interval '19 minutes'
             FROM deletion.pending_file_deletions WHERE id = (SELECT min(id) FROM crashed)),
          'the error is kept, the lease released, and the next attempt backs off (10 minutes doubled for the second attempt)');
SELECT is((SELECT count(*)::int FROM deletion.claim_file_deletions('c5', 1000) WHERE id = (SELECT min(id) FROM crashed)), 0,
          'a backed-off file is not due');
SELECT is(deletion.retry_file_deletions(), 1, 'files retry makes it due now');
SELECT is((SELECT attempts FROM deletion.claim_file_deletions('c5', 1000) WHERE id = (SELECT min(id) FROM crashed)), 3,
          'and the next claim takes it (third attempt)');
SELECT ok((SELECT failed FROM deletion.fail_file_deletions('c5', ARRAY(SELECT id FROM retaken WHERE id = (SELECT min(id) FROM crashed)), ARRAY['403 Forbidden'], 3, '0 seconds')),
          'the failure of the last allowed attempt is final');
SELECT results_eq($$ SELECT failed, retrying FROM deletion.vw_file_cleanup_stats $$, $$ VALUES (1::bigint, 0::bigint) $$,
                  'the stats count it as failed');
SELECT results_eq($$ SELECT storage_key, last_error, attempts FROM deletion.vw_failed_file_deletions $$,
                  $$ SELECT storage_key, '403 Forbidden', 3 FROM crashed ORDER BY id LIMIT 1 $$, 'and the failed list names it with the last error');
SELECT is((SELECT count(*)::int FROM deletion.claim_file_deletions('c6', 1000) WHERE id = (SELECT min(id) FROM crashed)), 0,
          'a failed file is not taken again');
SELECT is(deletion.retry_file_deletions(true), 1, 'files retry --failed brings it back');
SELECT ok((SELECT failed_at IS NULL AND attempts = 0 AND last_error = '403 Forbidden' FROM deletion.pending_file_deletions WHERE id = (SELECT min(id) FROM crashed)),
          'as pending, attempts reset, the last error kept for the record');

SELECT * FROM finish();
ROLLBACK;

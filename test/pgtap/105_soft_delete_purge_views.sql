-- Purge (seed 003's periodic cleanup), the hard path, and the monitoring views.
BEGIN;
SELECT plan(16);

\i test/fixtures/lab_schema.sql
SELECT deletion.enable_soft_delete(t) FROM unnest(ARRAY['lab.orgs', 'lab.folders', 'lab.documents', 'lab.approvals']::regclass[]) t;
INSERT INTO lab.orgs (id, name) VALUES ('a0000000-0000-4000-8000-000000000000', 'A');
INSERT INTO lab.people (id, email) VALUES ('c0000000-0000-4000-8000-000000000001', 'p1@example.com');
INSERT INTO lab.folders (org_id, id, parent_id, name) VALUES
  ('a0000000-0000-4000-8000-000000000000', 1, NULL, 'old'), ('a0000000-0000-4000-8000-000000000000', 2, 1, 'old-sub'),
  ('a0000000-0000-4000-8000-000000000000', 3, NULL, 'recent'), ('a0000000-0000-4000-8000-000000000000', 4, NULL, 'active');
INSERT INTO lab.documents (id, org_id, folder_id, slug) VALUES
  ('d0000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-000000000000', 2, 'old-doc'),
  ('d0000000-0000-4000-8000-000000000002', 'a0000000-0000-4000-8000-000000000000', 3, 'recent-doc'),
  ('d0000000-0000-4000-8000-000000000003', 'a0000000-0000-4000-8000-000000000000', 4, 'active-doc');
INSERT INTO lab.approvals (document_id, approver_id) VALUES ('d0000000-0000-4000-8000-000000000001', 'c0000000-0000-4000-8000-000000000001');
INSERT INTO lab.tags (document_id, label) VALUES ('d0000000-0000-4000-8000-000000000001', 'points at an old document');

CREATE TEMP TABLE ops (name text PRIMARY KEY, op uuid);
INSERT INTO ops SELECT 'old', deletion.soft_delete('lab.folders', '["a0000000-0000-4000-8000-000000000000", 1]');
INSERT INTO ops SELECT 'recent', deletion.soft_delete('lab.folders', '["a0000000-0000-4000-8000-000000000000", 3]');
-- Make the first operation 100 days old.
UPDATE lab.folders SET deleted_at = deleted_at - interval '100 days' WHERE deletion_op = (SELECT op FROM ops WHERE name = 'old');
UPDATE lab.documents SET deleted_at = deleted_at - interval '100 days' WHERE deletion_op = (SELECT op FROM ops WHERE name = 'old');
UPDATE lab.approvals SET deleted_at = deleted_at - interval '100 days' WHERE deletion_op = (SELECT op FROM ops WHERE name = 'old');
UPDATE deletion.soft_delete_operations SET performed_at = performed_at - interval '100 days' WHERE op = (SELECT op FROM ops WHERE name = 'old');

-- Monitoring views.
SELECT results_eq($$ SELECT table_name, active_rows, deleted_rows, total_rows FROM deletion.vw_soft_delete_counts WHERE table_name LIKE 'lab.%' ORDER BY 1 $$,
                  $$ VALUES ('lab.approvals', 0::bigint, 1::bigint, 1::bigint), ('lab.documents', 1, 2, 3),
                            ('lab.folders', 1, 3, 4), ('lab.orgs', 1, 0, 1) $$,
                  'vw_soft_delete_counts: active versus deleted rows per soft-delete table');
SELECT results_eq($$ SELECT table_name, operations, rows_deleted FROM deletion.vw_soft_deletions_last_24h ORDER BY 1 $$,
                  $$ VALUES ('lab.documents', 1::bigint, 1::numeric), ('lab.folders', 1, 1) $$,
                  'vw_soft_deletions_last_24h counts only the recent operation');
SELECT is((SELECT sum(rows_deleted)::int FROM deletion.vw_soft_deletions_by_month), 6,
          'vw_soft_deletions_by_month counts every row of both operations');
SELECT is((SELECT count(DISTINCT month)::int FROM deletion.vw_soft_deletions_by_month), 2,
          'in the months they happened');
SELECT is((SELECT count(*)::int FROM deletion.vw_trash), 2, 'both operations are in the trash');

-- Purge with the default age (90 days).
SELECT results_eq($$ SELECT table_name, rows_purged FROM deletion.purge_soft_deleted() ORDER BY 1 $$,
                  $$ VALUES ('lab.approvals', 1::bigint), ('lab.documents', 1), ('lab.folders', 2) $$,
                  'purge_soft_deleted() removes rows deleted over 90 days ago and says how many per table');
SELECT is((SELECT count(*)::int FROM lab.folders), 2, 'the old folders are gone for good');
SELECT is((SELECT count(*)::int FROM lab.documents WHERE slug = 'old-doc'), 0, 'with their documents');
SELECT is((SELECT document_id FROM lab.tags), NULL, 'the SET NULL child of a purged row is unlinked, as its foreign key says');
SELECT isnt((SELECT deleted_at FROM lab.folders WHERE id = 3), NULL, 'a recent deletion stays in the trash');
SELECT is((SELECT deleted_at FROM lab.folders WHERE id = 4), NULL, 'an active row is untouched');
SELECT isnt((SELECT purged_at FROM deletion.soft_delete_operations WHERE op = (SELECT op FROM ops WHERE name = 'old')), NULL,
            'the old operation is marked purged');
SELECT is(ARRAY(SELECT op FROM deletion.vw_trash), ARRAY(SELECT op FROM ops WHERE name = 'recent'), 'and leaves the trash');
SELECT isnt(coalesce(current_setting('deletion.mode', true), ''), 'hard', 'purge''s hard mode does not leak into the session');
SELECT throws_ok(format('SELECT deletion.restore(%L::uuid)', (SELECT op FROM ops WHERE name = 'old')), '55000', NULL,
                 'a purged operation cannot be restored');
UPDATE lab.folders SET deleted_at = deleted_at - interval '1 hour' WHERE deleted_at IS NOT NULL;
UPDATE lab.documents SET deleted_at = deleted_at - interval '1 hour' WHERE deleted_at IS NOT NULL;
SELECT results_eq($$ SELECT table_name, rows_purged FROM deletion.purge_soft_deleted('30 minutes') ORDER BY 1 $$,
                  $$ VALUES ('lab.documents', 1::bigint), ('lab.folders', 1) $$,
                  'purge with a shorter age takes the recent ones too');

SELECT * FROM finish();
ROLLBACK;

-- Monitoring views over the audit log: one application-role delete of a lab org (a cascade three
-- foreign keys deep, a bulk deletion, SET NULL orphans) shows up in each view it should, thresholds
-- move what is reported, and only admins may read the views.
BEGIN;
SELECT plan(16);

\i test/fixtures/lab_schema.sql
SELECT deletion.rewire() > 0;  -- audits the lab tables registered by the fixture

INSERT INTO lab.orgs (id, name) VALUES ('00000000-0000-4000-8000-00000000000a', 'acme');
INSERT INTO lab.folders (org_id, id, name) SELECT '00000000-0000-4000-8000-00000000000a', f, 'f' FROM generate_series(1, 3) f;
INSERT INTO lab.people (id, email) VALUES ('00000000-0000-4000-8000-000000000001', 'approver@lab');
INSERT INTO lab.documents (org_id, folder_id, slug)
SELECT '00000000-0000-4000-8000-00000000000a', 1 + n % 3, 'doc-' || n FROM generate_series(1, 12) n;
INSERT INTO lab.approvals (document_id, approver_id) SELECT id, '00000000-0000-4000-8000-000000000001' FROM lab.documents;
INSERT INTO lab.tags (document_id, label) SELECT id, 'tag' FROM lab.documents;

CREATE ROLE monitor_test_app LOGIN IN ROLE deletion_app;
GRANT USAGE ON SCHEMA lab TO monitor_test_app;
GRANT SELECT, DELETE, UPDATE ON ALL TABLES IN SCHEMA lab TO monitor_test_app;

SET LOCAL ROLE monitor_test_app;
DELETE FROM lab.orgs WHERE id = '00000000-0000-4000-8000-00000000000a';
SELECT throws_ok($$ SELECT * FROM deletion.vw_bulk_deletions $$, '42501', NULL, 'an application role cannot read the monitoring views');
RESET ROLE;

SELECT results_eq($$ SELECT root_table, rows_deleted, acting_role, by_admin FROM deletion.vw_deletion_statements $$,
                  $$ VALUES ('lab.orgs', 28::bigint, 'monitor_test_app'::text, false) $$,
                  'the delete is one statement: the org, 3 folders, 12 documents and 12 approvals, by a role that is not an admin');
SELECT results_eq($$ SELECT root_table, rows_deleted, threshold FROM deletion.vw_bulk_deletions $$,
                  $$ VALUES ('lab.orgs', 28::bigint, 10::numeric) $$, 'more than 10 rows in one statement is a bulk deletion');
SELECT results_eq($$ SELECT root_table FROM deletion.vw_non_admin_deletions $$, $$ VALUES ('lab.orgs') $$,
                  'it is listed among deletions by non-admins');
SELECT is_empty($$ SELECT * FROM deletion.vw_cascade_chains $$, 'three foreign keys deep is not more than the default threshold of 3');
SET LOCAL deletion.monitor_cascade_depth = 2;
SELECT results_eq($$ SELECT root_table, depth, threshold FROM deletion.vw_cascade_chains $$,
                  $$ VALUES ('lab.orgs', 3, 2::numeric) $$, 'with a threshold of 2 the chain (orgs, folders, documents, approvals and tags) is reported');
SELECT results_eq($$ SELECT kind, subject FROM deletion.vw_deletion_alerts ORDER BY 1 $$,
                  $$ VALUES ('bulk deletion', 'lab.orgs'), ('cascade chain', 'lab.orgs') $$,
                  'and both show among the alerts of the last 24 hours');
RESET deletion.monitor_cascade_depth;

SELECT results_eq($$ SELECT table_name, count(*), min(nulled_columns::text), min(deleted_from) FROM deletion.vw_set_null_orphans GROUP BY 1 $$,
                  $$ VALUES ('lab.tags', 12::bigint, '{document_id}', 'lab.orgs') $$,
                  'the 12 tags whose document went are orphans of SET NULL, with the column cleared and where the delete started');
SELECT is_empty($$ SELECT * FROM deletion.vw_set_null_orphans WHERE created_at > now() $$, 'they can be filtered by time');

SELECT results_eq($$ SELECT table_name, deleted_24h, alert FROM deletion.vw_deletion_rate ORDER BY 1 $$,
                  $$ VALUES ('lab.approvals', 12::bigint, false), ('lab.documents', 12::bigint, false),
                            ('lab.folders', 3::bigint, false), ('lab.orgs', 1::bigint, false) $$,
                  'the deletion rate per table over 24 hours, below seed 003''s 100');
SET LOCAL deletion.monitor_daily_deletions = 10;
SELECT results_eq($$ SELECT table_name FROM deletion.vw_deletion_rate WHERE alert ORDER BY 1 $$,
                  $$ VALUES ('lab.approvals'), ('lab.documents') $$, 'with a threshold of 10 the two big tables raise the alert');
RESET deletion.monitor_daily_deletions;

SELECT is(deletion.monitoring_threshold('bulk_rows'), 10::numeric, 'bulk_rows defaults to 10 (seed 004)');
SELECT is(deletion.monitoring_threshold('daily_deletions'), 100::numeric, 'daily_deletions defaults to 100 (seed 003)');
SELECT throws_ok($$ SELECT deletion.monitoring_threshold('nope') $$, '22023', NULL, 'an unknown threshold is refused');
SET LOCAL deletion.monitor_bulk_rows = 'many';
SELECT throws_ok($$ SELECT deletion.monitoring_threshold('bulk_rows') $$, '22023', NULL, 'a threshold that is not a number is refused');
RESET deletion.monitor_bulk_rows;
SELECT is((SELECT max(distance) FROM deletion.cascade_distances('lab.orgs')), 3, 'cascade_distances: tags and approvals are 3 foreign keys from orgs');

SELECT * FROM finish();
ROLLBACK;

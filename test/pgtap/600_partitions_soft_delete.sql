-- Partitioned tables, first-class: a range-partitioned table in the lab schema, with a foreign key on
-- the parent (its rows go with their org) and one declared on a single partition (February's rows go
-- with their person). A row reached through the parent or through a partition directly behaves the
-- same: soft-deleted as one operation, hidden by row-level security on every partition, audited,
-- restorable, counted by plan; a partition attached later is wired, and lint names one that is not.
BEGIN;
SELECT plan(29);

\i test/fixtures/lab_schema.sql
CREATE TABLE lab.events (
  org_id    uuid    NOT NULL REFERENCES lab.orgs (id) ON DELETE CASCADE,
  id        integer NOT NULL,
  at        date    NOT NULL,
  person_id uuid,
  note      text,
  PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
CREATE TABLE lab.events_2024_01 PARTITION OF lab.events FOR VALUES FROM ('2024-01-01') TO ('2024-02-01');
CREATE TABLE lab.events_2024_02 PARTITION OF lab.events FOR VALUES FROM ('2024-02-01') TO ('2024-03-01');
CREATE INDEX ON lab.events (org_id);
ALTER TABLE lab.events_2024_02 ADD CONSTRAINT events_2024_02_person_fkey FOREIGN KEY (person_id) REFERENCES lab.people (id) ON DELETE CASCADE;
CREATE INDEX ON lab.events_2024_02 (person_id);
SELECT deletion.register_table('lab.events', 'lab fixture: partitioned by month');
SELECT deletion.enable_soft_delete(t) FROM unnest(ARRAY['lab.orgs', 'lab.people', 'lab.events']::regclass[]) t;

CREATE ROLE p600_app LOGIN IN ROLE deletion_app;
GRANT USAGE ON SCHEMA lab TO deletion_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA lab TO deletion_app;

INSERT INTO lab.orgs VALUES ('00000000-0000-0000-0000-0000000000a1', 'acme'), ('00000000-0000-0000-0000-0000000000a2', 'other');
INSERT INTO lab.people VALUES ('00000000-0000-0000-0000-0000000000b1', 'ann@x');
INSERT INTO lab.events VALUES
  ('00000000-0000-0000-0000-0000000000a1', 1, '2024-01-10', NULL, 'jan'),
  ('00000000-0000-0000-0000-0000000000a1', 2, '2024-02-10', '00000000-0000-0000-0000-0000000000b1', 'feb'),
  ('00000000-0000-0000-0000-0000000000a2', 3, '2024-01-20', NULL, 'other jan'),
  ('00000000-0000-0000-0000-0000000000a2', 4, '2024-02-20', '00000000-0000-0000-0000-0000000000b1', 'other feb'),
  ('00000000-0000-0000-0000-0000000000a2', 5, '2024-02-21', NULL, 'other feb, nobody');

-- Wiring: each partition carries the parent's statement triggers, RLS and engine policies.
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'lab.events_2024_01'::regclass AND tgname = 'deletion_20_soft_delete_flush'), 1,
          'a partition has the soft-delete statement trigger');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'lab.events_2024_02'::regclass AND tgname = 'deletion_50_audit_delete'), 1,
          'and the audit capture');
SELECT ok((SELECT bool_and(relrowsecurity) FROM pg_class WHERE oid IN ('lab.events_2024_01'::regclass, 'lab.events_2024_02'::regclass)),
          'row-level security is on for every partition');
SELECT is((SELECT count(*)::int FROM pg_policy WHERE polrelid = 'lab.events_2024_02'::regclass AND polname IN ('deletion_00_engine', 'deletion_20_soft_delete_hide')), 2,
          'with the engine''s policy and the hide policy');
SELECT is_empty($$ SELECT * FROM deletion.partition_wiring_statements('lab.events') $$, 'nothing is left to wire');
SELECT is_empty($$ SELECT * FROM deletion.lint() WHERE rule = 'wiring_differs' AND object LIKE 'lab.events%' $$, 'lint finds nothing to report');

-- A DELETE through the parent, as the application.
SET LOCAL ROLE p600_app;
DELETE FROM lab.events WHERE id = 1;
RESET ROLE;
SELECT ok((SELECT deleted_at IS NOT NULL AND deletion_op IS NOT NULL FROM lab.events WHERE id = 1), 'a DELETE through the parent soft-deletes the row');
SELECT is((SELECT count(*)::int FROM deletion.soft_delete_requests), 0, 'no request is left behind');
SELECT is((SELECT rows_per_table FROM deletion.soft_delete_operations WHERE op = (SELECT deletion_op FROM lab.events WHERE id = 1)),
          '{"lab.events": 1}'::jsonb, 'one operation, logged under the registered table');

-- A DELETE on a partition directly, as the application.
SET LOCAL ROLE p600_app;
DELETE FROM lab.events_2024_02 WHERE id = 2;
SELECT is((SELECT count(*)::int FROM lab.events_2024_01), 1, 'the application does not see the deleted row through its partition');
SELECT is((SELECT count(*)::int FROM lab.events_2024_02), 2, 'nor the one deleted on the partition');
SELECT is((SELECT count(*)::int FROM lab.events), 3, 'nor through the parent');
RESET ROLE;
SELECT ok((SELECT deleted_at IS NOT NULL FROM lab.events WHERE id = 2), 'a DELETE on a partition soft-deletes the row too');
SELECT is((SELECT count(*)::int FROM deletion.soft_delete_requests), 0, 'and leaves no request behind');

-- The API on the parent, and restore.
SELECT lives_ok($$ SELECT deletion.restore((SELECT deletion_op FROM lab.events WHERE id = 2)) $$, 'restore brings back a row deleted on its partition');
SELECT ok((SELECT deleted_at IS NULL AND deletion_op IS NULL FROM lab.events WHERE id = 2), 'the row is active again');
CREATE TEMP TABLE api_op AS SELECT deletion.soft_delete('lab.events', '[2, "2024-02-10"]', 'api') AS op;
SELECT is((SELECT deletion_op FROM lab.events WHERE id = 2), (SELECT op FROM api_op), 'deletion.soft_delete on the parent marks a row of a partition');

-- The cascades: an org's events in both partitions (key on the parent), a person's February events
-- (key declared on that partition).
SELECT lives_ok($$ SELECT deletion.restore((SELECT op FROM api_op)) $$, 'and restore brings it back');
CREATE TEMP TABLE org_op AS SELECT deletion.soft_delete('lab.orgs', '00000000-0000-0000-0000-0000000000a2', 'org goes') AS op;
SELECT results_eq($$ SELECT id FROM lab.events WHERE deletion_op = (SELECT op FROM org_op) ORDER BY id $$, ARRAY[3, 4, 5],
                  'soft-deleting an org marks its events in every partition');
SELECT lives_ok($$ SELECT deletion.restore((SELECT op FROM org_op)) $$, 'restoring the org');
SELECT is((SELECT count(*)::int FROM lab.events WHERE deleted_at IS NULL), 4, 'brings its events back (the one deleted earlier stays deleted)');
CREATE TEMP TABLE person_op AS SELECT deletion.soft_delete('lab.people', '00000000-0000-0000-0000-0000000000b1', 'person goes') AS op;
SELECT results_eq($$ SELECT id FROM lab.events WHERE deletion_op = (SELECT op FROM person_op) ORDER BY id $$, ARRAY[2, 4],
                  'a key declared on one partition cascades into that partition');
SELECT lives_ok($$ SELECT deletion.restore((SELECT op FROM person_op)) $$, 'and that operation is restored too');

-- Audit of a hard DELETE on a partition directly.
SET LOCAL deletion.mode = 'hard';
DELETE FROM lab.events_2024_01 WHERE id = 3;
RESET deletion.mode;
SELECT results_eq($$ SELECT table_name, action, old_data ->> 'note' FROM audit.log WHERE action = 'DELETE' AND table_name LIKE 'lab.events%' $$,
                  $$ VALUES ('lab.events'::text, 'DELETE'::text, 'other jan'::text) $$,
                  'a DELETE on a partition is audited, under the registered table');
SELECT lives_ok($$ SELECT audit.restore_deleted('lab.events', '[3, "2024-01-20"]') $$, 'and the audit log restores it');
SELECT is((SELECT note FROM lab.events WHERE id = 3), 'other jan', 'into its partition');

-- A partition attached later: lint names it until it is wired; attach_partition wires it at once.
CREATE TABLE lab.events_2024_03 (LIKE lab.events INCLUDING DEFAULTS);
ALTER TABLE lab.events ATTACH PARTITION lab.events_2024_03 FOR VALUES FROM ('2024-03-01') TO ('2024-04-01');
SELECT results_eq($$ SELECT object FROM deletion.lint() WHERE rule = 'wiring_differs' AND object LIKE 'lab.events%' $$,
                  ARRAY['lab.events_2024_03'], 'lint reports the partition attached without the engine');
SELECT deletion.wire('lab.events');
SELECT is_empty($$ SELECT * FROM deletion.partition_wiring_statements('lab.events') $$, 'deletion.wire(parent) wires it');
CREATE TABLE lab.events_2024_04 (LIKE lab.events INCLUDING DEFAULTS);
SELECT deletion.attach_partition('lab.events', 'lab.events_2024_04', $$FOR VALUES FROM ('2024-04-01') TO ('2024-05-01')$$);
INSERT INTO lab.events VALUES ('00000000-0000-0000-0000-0000000000a1', 9, '2024-04-02', NULL, 'april');
GRANT SELECT, DELETE ON lab.events_2024_04 TO deletion_app;
SET LOCAL ROLE p600_app;
DELETE FROM lab.events_2024_04 WHERE id = 9;
SELECT is((SELECT count(*)::int FROM lab.events_2024_04), 0, 'a partition attached by deletion.attach_partition soft-deletes and hides at once');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;

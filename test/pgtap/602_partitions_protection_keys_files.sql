-- Partitioned tables, first-class beyond soft delete: protection rules, live-parent checks, unique
-- keys and file tracking behave the same whether a row is reached through the parent or through one
-- of its partitions. lab.ledger (range-partitioned, hard delete) carries protection rules and tracked
-- files; lab.events (range-partitioned, soft delete) has a foreign key on the parent (to its org) and
-- one declared on a single partition (to its person), a unique key on the parent and one declared on
-- a single partition.
BEGIN;
SELECT plan(27);

\i test/fixtures/lab_schema.sql

CREATE TABLE lab.ledger (
  id          integer NOT NULL,
  at          date    NOT NULL,
  org_id      uuid    NOT NULL REFERENCES lab.orgs (id) ON DELETE CASCADE,
  receipt_key text,
  PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
CREATE TABLE lab.ledger_2024_01 PARTITION OF lab.ledger FOR VALUES FROM ('2024-01-01') TO ('2024-02-01');
CREATE TABLE lab.ledger_2024_02 PARTITION OF lab.ledger FOR VALUES FROM ('2024-02-01') TO ('2024-03-01');
CREATE INDEX ON lab.ledger (org_id);
CREATE TABLE lab.ledger_lines (
  ledger_id integer NOT NULL,
  ledger_at date    NOT NULL,
  n         integer NOT NULL,
  PRIMARY KEY (ledger_id, ledger_at, n),
  FOREIGN KEY (ledger_id, ledger_at) REFERENCES lab.ledger (id, at) ON DELETE CASCADE
);
SELECT deletion.register_table('lab.ledger', 'lab fixture: partitioned, hard delete, protected');
SELECT deletion.register_table('lab.ledger_lines', 'lab fixture: lines of a ledger entry');

INSERT INTO lab.orgs VALUES ('00000000-0000-0000-0000-0000000000a1', 'acme'), ('00000000-0000-0000-0000-0000000000a2', 'other');
INSERT INTO lab.ledger VALUES
  (1, '2024-01-05', '00000000-0000-0000-0000-0000000000a1', 'receipts/1.pdf'),
  (2, '2024-02-05', '00000000-0000-0000-0000-0000000000a1', 'receipts/2.pdf'),
  (3, '2024-02-06', '00000000-0000-0000-0000-0000000000a2', 'receipts/3.pdf'),
  (4, '2024-02-07', '00000000-0000-0000-0000-0000000000a2', NULL),
  (5, '2024-02-08', '00000000-0000-0000-0000-0000000000a2', 'receipts/5.pdf');
INSERT INTO lab.ledger_lines VALUES (1, '2024-01-05', 1), (1, '2024-01-05', 2), (2, '2024-02-05', 1);

-- The application's role: the rules bind it (an admin passes them), the live-parent checks apply to it.
CREATE ROLE p602_app LOGIN IN ROLE deletion_app;
GRANT USAGE ON SCHEMA lab TO deletion_app;

-- Protection --------------------------------------------------------------------------------------

SELECT deletion.protect_child_count('lab.ledger', 'lab.ledger_lines', 1, 'archive the lines of {pk} first');
SELECT deletion.protect_bulk_delete('lab.ledger', 2, 'delete ledger entries a few at a time');
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA lab TO deletion_app;
SET LOCAL ROLE p602_app;
SELECT throws_ok($$ DELETE FROM lab.ledger_2024_01 WHERE id = 1 $$, 'PD301', NULL,
                 'a row rule on the partitioned parent refuses a DELETE run on the partition directly');
SELECT throws_ok($$ DELETE FROM lab.ledger WHERE id = 1 $$, 'PD301', NULL, 'and one through the parent');
SELECT lives_ok($$ DELETE FROM lab.ledger_2024_02 WHERE id = 2 $$, 'a row within the rule is deleted through its partition');
SELECT throws_ok($$ DELETE FROM lab.ledger_2024_02 WHERE org_id = '00000000-0000-0000-0000-0000000000a2' $$, 'PD302', NULL,
                 'the bulk rule on the parent counts a statement on a partition');
SELECT throws_ok($$ DELETE FROM lab.ledger WHERE org_id = '00000000-0000-0000-0000-0000000000a2' $$, 'PD302', NULL,
                 'and one through the parent, once');
SELECT is((SELECT count(*)::int FROM lab.ledger), 4, 'nothing else was deleted');
RESET ROLE;

-- File tracking -----------------------------------------------------------------------------------

SELECT lives_ok($$ SELECT deletion.track_files('lab.ledger', 'receipt_key') $$, 'files are tracked on a partitioned table');
SELECT is_empty($$ SELECT * FROM deletion.partition_wiring_statements('lab.ledger') $$, 'its partitions carry the file triggers');
CREATE TEMP TABLE trigger_oids AS SELECT oid, tgrelid FROM pg_trigger WHERE tgname LIKE 'deletion\_60\_files%';
SELECT lives_ok($$ SELECT deletion.rewire() $$, 'rewiring');
SELECT is((SELECT count(*)::int FROM pg_trigger t JOIN trigger_oids o USING (oid)), (SELECT count(*)::int FROM trigger_oids),
          'keeps the file triggers as they were (no DDL, so no lock on the tables)');
SELECT lives_ok($$ DELETE FROM lab.ledger_2024_02 WHERE id = 3 $$, 'a DELETE on a partition');
SELECT lives_ok($$ DELETE FROM lab.ledger WHERE id = 5 $$, 'and one through the parent');
SELECT is((SELECT string_agg(format('%s %s.%s %s', storage_key, source_schema, source_table, source_pk), '; ' ORDER BY storage_key COLLATE "C")
             FROM deletion.pending_file_deletions),
          'receipts/3.pdf lab.ledger [3, "2024-02-06"]; receipts/5.pdf lab.ledger [5, "2024-02-08"]',
          'queue the files of the deleted rows under the registered table (the one deleted before tracking began is not there)');

-- Live parents and unique keys on a soft-delete partitioned table --------------------------------

CREATE TABLE lab.events (
  org_id    uuid    NOT NULL REFERENCES lab.orgs (id) ON DELETE CASCADE,
  id        integer NOT NULL,
  at        date    NOT NULL,
  person_id uuid,
  code      text    NOT NULL,
  ref       text,
  PRIMARY KEY (id, at),
  CONSTRAINT events_code_key UNIQUE (code, at)
) PARTITION BY RANGE (at);
CREATE TABLE lab.events_2024_01 PARTITION OF lab.events FOR VALUES FROM ('2024-01-01') TO ('2024-02-01');
CREATE TABLE lab.events_2024_02 PARTITION OF lab.events FOR VALUES FROM ('2024-02-01') TO ('2024-03-01');
CREATE INDEX ON lab.events (org_id);
ALTER TABLE lab.events_2024_02 ADD CONSTRAINT events_2024_02_person_fkey FOREIGN KEY (person_id) REFERENCES lab.people (id);
CREATE INDEX ON lab.events_2024_02 (person_id);
CREATE UNIQUE INDEX events_2024_01_ref_key ON lab.events_2024_01 (ref);
CREATE TABLE lab.badges (id integer PRIMARY KEY, person_id uuid REFERENCES lab.people (id));
SELECT deletion.register_table('lab.badges', 'lab fixture: not partitioned');
SELECT deletion.register_table('lab.events', 'lab fixture: partitioned by month, soft delete');
SELECT deletion.enable_soft_delete(t) FROM unnest(ARRAY['lab.people', 'lab.events']::regclass[]) t;
INSERT INTO lab.people VALUES ('00000000-0000-0000-0000-0000000000b1', 'ann@x'), ('00000000-0000-0000-0000-0000000000b2', 'bob@x');
INSERT INTO lab.events VALUES
  ('00000000-0000-0000-0000-0000000000a1', 1, '2024-01-10', NULL, 'E1', 'R1'),
  ('00000000-0000-0000-0000-0000000000a1', 2, '2024-02-10', '00000000-0000-0000-0000-0000000000b1', 'E2', NULL);
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA lab TO deletion_app;
SET LOCAL ROLE p602_app;

SELECT isnt_empty($$ SELECT FROM pg_trigger WHERE tgrelid = 'lab.events'::regclass AND tgname = 'deletion_05_live_parent' $$,
                  'the partitioned table checks its rows against live parents');
SELECT lives_ok($$ SELECT deletion.soft_delete('lab.people', '00000000-0000-0000-0000-0000000000b2') $$, 'a person is soft-deleted');
SELECT throws_ok($$ INSERT INTO lab.events_2024_02 VALUES ('00000000-0000-0000-0000-0000000000a1', 3, '2024-02-11', '00000000-0000-0000-0000-0000000000b2', 'E3', NULL) $$,
                 '23503', NULL, 'a new row on the partition that declares the key cannot name the deleted person');
SELECT throws_ok($$ INSERT INTO lab.events VALUES ('00000000-0000-0000-0000-0000000000a1', 8, '2024-02-12', '00000000-0000-0000-0000-0000000000b2', 'E3', NULL) $$,
                 '23503', NULL, 'nor one through the parent that lands there');
SELECT throws_ok($$ UPDATE lab.events_2024_02 SET person_id = '00000000-0000-0000-0000-0000000000b2' WHERE id = 2 $$,
                 '23503', NULL, 'nor may an existing row be moved under it');
SELECT lives_ok($$ INSERT INTO lab.events VALUES ('00000000-0000-0000-0000-0000000000a1', 4, '2024-01-11', '00000000-0000-0000-0000-0000000000b2', 'E4', NULL) $$,
                'a January row is free to (only February declares that key)');
SELECT throws_ok($$ INSERT INTO lab.badges VALUES (1, '00000000-0000-0000-0000-0000000000b2') $$, '23503', NULL,
                 'and an ordinary table keeps its check (the key on the table itself)');

SELECT lives_ok($$ DELETE FROM lab.events_2024_01 WHERE id = 1 $$, 'a January event is soft-deleted on its partition');
SELECT lives_ok($$ INSERT INTO lab.events VALUES ('00000000-0000-0000-0000-0000000000a1', 5, '2024-01-10', NULL, 'E1', NULL) $$,
                'its code (a unique key of the parent) is free for a new row');
SELECT lives_ok($$ INSERT INTO lab.events VALUES ('00000000-0000-0000-0000-0000000000a1', 6, '2024-01-12', NULL, 'E6', 'R1') $$,
                'and so is its ref (a unique key declared on the partition alone)');
SELECT throws_ok($$ INSERT INTO lab.events VALUES ('00000000-0000-0000-0000-0000000000a1', 7, '2024-01-13', NULL, 'E7', 'R1') $$,
                 '23505', NULL, 'which still holds among active rows');
SELECT lives_ok($$ DELETE FROM lab.events WHERE id = 6 $$, 'the new holder goes too');
RESET ROLE;
SELECT lives_ok($$ SELECT deletion.restore((SELECT deletion_op FROM lab.events WHERE id = 1)) $$, 'restore brings the first back');
SELECT results_eq($$ SELECT code, ref FROM lab.events WHERE id = 1 $$, $$ VALUES ('E1', 'R1') $$,
                  'with its own code and ref');

SELECT * FROM finish();
ROLLBACK;

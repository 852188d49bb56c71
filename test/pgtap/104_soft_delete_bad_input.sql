-- Bad input to soft_delete, restore and hard_delete: each a clear error with a SQLSTATE, and nothing changed.
BEGIN;
SELECT plan(16);

\i test/fixtures/lab_schema.sql
SELECT deletion.enable_soft_delete(t) FROM unnest(ARRAY['lab.orgs', 'lab.folders', 'lab.documents', 'lab.approvals']::regclass[]) t;
INSERT INTO lab.orgs (id, name) VALUES ('a0000000-0000-4000-8000-000000000000', 'A');
INSERT INTO lab.folders (org_id, id, name) VALUES ('a0000000-0000-4000-8000-000000000000', 1, 'one');
INSERT INTO lab.people (id, email) VALUES ('c0000000-0000-4000-8000-000000000001', 'p1@example.com');
CREATE TEMP TABLE ops AS SELECT deletion.soft_delete('lab.folders', '["a0000000-0000-4000-8000-000000000000", 1]') AS op;
CREATE TEMP TABLE before AS
SELECT (SELECT count(*) FROM deletion.soft_delete_operations) AS operations,
       (SELECT count(*) FROM lab.orgs WHERE deleted_at IS NULL) AS active_orgs,
       (SELECT count(*) FROM lab.people) AS people;

SELECT throws_ok($$ SELECT deletion.soft_delete('lab.nope', '1') $$, '42P01', NULL, 'an unknown table');
SELECT throws_like($$ SELECT deletion.soft_delete('lab.people', 'c0000000-0000-4000-8000-000000000001') $$,
                   'table lab.people does not use soft delete', 'a table without soft delete is named');
SELECT throws_ok($$ SELECT deletion.soft_delete('lab.people', 'c0000000-0000-4000-8000-000000000001') $$, 'PD101', NULL,
                 'with SQLSTATE PD101');
SELECT throws_ok($$ SELECT deletion.soft_delete('lab.orgs', 'a0000000-0000-4000-8000-00000000ffff') $$, 'P0002', NULL, 'a key that does not exist');
SELECT throws_ok($$ SELECT deletion.soft_delete('lab.orgs', 'not-a-uuid') $$, '22P02', NULL, 'a key that does not cast to the key''s type');
SELECT throws_ok($$ SELECT deletion.soft_delete('lab.folders', '1') $$, '22023', NULL, 'a composite key given as one value');
SELECT throws_ok($$ SELECT deletion.soft_delete('lab.orgs', 'x''; DELETE FROM lab.orgs; --') $$, '22P02', NULL,
                 'an injection attempt is a value that does not cast');
SELECT throws_like($$ SELECT deletion.soft_delete('lab.folders', '["a0000000-0000-4000-8000-000000000000", 1]') $$,
                   '%is already soft-deleted (operation %', 'an already deleted row names its operation');
SELECT throws_ok($$ SELECT deletion.soft_delete('lab.folders', '["a0000000-0000-4000-8000-000000000000", 1]') $$, '55000', NULL,
                 'with SQLSTATE 55000');
SELECT throws_ok($$ SELECT deletion.restore('6f1c2a9e-0000-4000-8000-000000000000'::uuid) $$, 'P0002', NULL, 'an unknown operation id');
SELECT throws_ok($$ SELECT deletion.restore('lab.orgs', 'a0000000-0000-4000-8000-00000000ffff') $$, 'P0002', NULL, 'restore of a key that does not exist');
SELECT throws_ok($$ SELECT deletion.restore('lab.people', 'c0000000-0000-4000-8000-000000000001') $$, 'PD101', NULL, 'restore on a table without soft delete');
SELECT throws_ok($$ SELECT deletion.hard_delete('lab.orgs', 'a0000000-0000-4000-8000-00000000ffff') $$, 'P0002', NULL, 'hard_delete of a key that does not exist');
SELECT throws_ok($$ SELECT * FROM deletion.purge_soft_deleted('-1 day') $$, '22023', NULL, 'purge with a negative age');
SELECT throws_ok($$ SELECT deletion.enable_soft_delete('lab.nope') $$, '42P01', NULL, 'enable on an unknown table');

SELECT is(ARRAY[(SELECT count(*) FROM deletion.soft_delete_operations), (SELECT count(*) FROM lab.orgs WHERE deleted_at IS NULL),
                (SELECT count(*) FROM lab.people)],
          (SELECT ARRAY[operations, active_orgs, people] FROM before),
          'nothing changed: no operation logged, no org deleted, no person removed');
SELECT * FROM finish();
ROLLBACK;

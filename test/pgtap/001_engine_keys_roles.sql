-- Keys as text, and who counts as an admin.
BEGIN;
SELECT plan(10);

\i test/fixtures/lab_schema.sql

SELECT is(deletion.key_predicate('lab.people', '6f1c2a9e-0000-4000-8000-000000000001'),
          $q$id = '6f1c2a9e-0000-4000-8000-000000000001'::uuid$q$, 'a uuid key becomes a typed literal');
SELECT is(deletion.key_predicate('lab.folders', '["6f1c2a9e-0000-4000-8000-000000000001", 7]', 'f'),
          $q$f.org_id = '6f1c2a9e-0000-4000-8000-000000000001'::uuid AND f.id = '7'::integer$q$,
          'a composite key is a JSON array in key order');
SELECT throws_ok($$ SELECT deletion.key_predicate('lab.people', 'x''; DROP TABLE lab.people; --') $$, '22P02',
                 NULL, 'an injection attempt in a key is a value that does not cast, not SQL');
SELECT throws_ok($$ SELECT deletion.key_predicate('lab.folders', '7') $$, '22023', NULL,
                 'a composite key given as one value is refused with a hint');
SELECT throws_ok($$ SELECT deletion.key_predicate('lab.folders', '[1,2,3]') $$, '22023', NULL,
                 'a composite key with the wrong number of values is refused');
SELECT throws_ok($$ SELECT deletion.key_predicate('lab.no_key', '1') $$, '42P10', NULL, 'a table without a primary key is refused');
SELECT throws_ok($$ SELECT deletion.key_predicate('lab."no such"', '1') $$, '42P01', NULL, 'an unknown table is refused');
SELECT is(deletion.key_of('lab.folders', '{"org_id": "a", "id": 7, "name": "x"}'), '{"org_id": "a", "id": 7}', 'key_of keeps the key columns');

SELECT ok(deletion.is_admin(), 'the superuser running the tests is an admin');
SET LOCAL ROLE deletion_app;
SELECT ok(NOT deletion.is_admin(), 'deletion_app is not an admin');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;

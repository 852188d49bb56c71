-- Protection rules on the lab schema: a child_count rule, a bulk-delete guard and a pre-delete check,
-- who they bind (an application role) and who passes (admins; forced for a check), and bad rules.
BEGIN;
SELECT plan(31);

\i test/fixtures/lab_schema.sql

-- The soft-delete marker, so the check can guard soft deletes of people too.
ALTER TABLE lab.people ADD COLUMN deleted_at timestamptz;

-- A pre-delete check in the seed's shape: a person who still owns documents is not safe to delete.
CREATE FUNCTION lab.check_person(person_id uuid, OUT safe boolean, OUT reasons text[])
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
  SELECT count(*) = 0,
         CASE WHEN count(*) > 0 THEN ARRAY[format('owns %s documents', count(*))] ELSE '{}' END
    FROM lab.documents WHERE owner_id = person_id
$$;

INSERT INTO lab.orgs (id, name) VALUES
  ('00000000-0000-4000-8000-00000000000a', 'big'), ('00000000-0000-4000-8000-00000000000b', 'small'),
  ('00000000-0000-4000-8000-00000000000c', 'big too');
INSERT INTO lab.folders (org_id, id, name)
SELECT o, f, 'folder' FROM unnest(ARRAY['00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-00000000000c']::uuid[]) o,
                           generate_series(1, 3) f;
INSERT INTO lab.folders (org_id, id, name) VALUES ('00000000-0000-4000-8000-00000000000b', 1, 'b1');
INSERT INTO lab.people (id, email) VALUES
  ('00000000-0000-4000-8000-000000000001', 'owner@lab'), ('00000000-0000-4000-8000-000000000002', 'idle@lab'),
  ('00000000-0000-4000-8000-000000000003', 'idle2@lab');
INSERT INTO lab.documents (org_id, folder_id, owner_id, slug)
SELECT '00000000-0000-4000-8000-00000000000b', 1, '00000000-0000-4000-8000-000000000001', 'doc-' || n FROM generate_series(1, 5) n;

SELECT lives_ok($$ SELECT deletion.protect_child_count('lab.orgs', 'lab.folders', 2,
                      'schedule a deletion job instead: SELECT deletion.schedule(''{table}'', ''{pk}'')') $$,
                'a child_count rule is added to a registered table');
SELECT lives_ok($$ SELECT deletion.protect_bulk_delete('lab.documents', 3, 'delete documents a few at a time, or ask an admin') $$,
                'a bulk_delete rule is added');
SELECT lives_ok($$ SELECT deletion.protect_with_check('lab.people', 'lab.check_person(uuid)', 'hand over their documents first') $$,
                'a pre_delete_check rule is added');

SELECT trigger_is('lab', 'orgs', 'deletion_10_protect', 'deletion', 'protect_row', 'the row rule wires deletion_10_protect');
SELECT trigger_is('lab', 'documents', 'deletion_10_protect_bulk', 'deletion', 'protect_bulk', 'the bulk rule wires deletion_10_protect_bulk');
SELECT trigger_is('lab', 'people', 'deletion_10_protect_soft', 'deletion', 'protect_row', 'a check that guards soft deletes wires deletion_10_protect_soft');
SELECT hasnt_trigger('lab', 'orgs', 'deletion_10_protect_soft', 'a child_count rule does not guard soft deletes by default');
SELECT is(deletion.rewire() > 0, true, 'rewire re-derives the same triggers');
SELECT trigger_is('lab', 'orgs', 'deletion_10_protect', 'deletion', 'protect_row', 'and the trigger is still there after rewire');

-- An application role: a login role in deletion_app, with plain table privileges.
CREATE ROLE protect_test_app LOGIN IN ROLE deletion_app;
GRANT USAGE ON SCHEMA lab TO protect_test_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA lab TO protect_test_app;

SET LOCAL ROLE protect_test_app;
SELECT throws_like($$ DELETE FROM lab.orgs WHERE id = '00000000-0000-4000-8000-00000000000a' $$,
                   '%holds 3 rows in lab.folders, more than the 2%',
                   'an org holding more folders than the threshold cannot be deleted directly, and the error says how many');
SELECT throws_ok($$ DELETE FROM lab.orgs WHERE id = '00000000-0000-4000-8000-00000000000a' $$, 'PD301', NULL,
                 'with its own SQLSTATE');
SELECT is((SELECT count(*) FROM lab.folders WHERE org_id = '00000000-0000-4000-8000-00000000000a'), 3::bigint,
          'and nothing was deleted');
SELECT lives_ok($$ DELETE FROM lab.orgs WHERE id = '00000000-0000-4000-8000-00000000000b' AND false $$, 'a delete that reaches no row is fine');
SELECT throws_ok($$ DELETE FROM lab.documents $$, 'PD302', NULL,
                 'an unqualified DELETE of more rows than the bulk threshold is refused');
SELECT is((SELECT count(*) FROM lab.documents), 5::bigint, 'and every document is still there');
SELECT lives_ok($$ DELETE FROM lab.documents WHERE slug IN ('doc-1', 'doc-2') $$, 'deleting fewer rows than the threshold is fine');
SELECT throws_like($$ DELETE FROM lab.people WHERE email = 'owner@lab' $$, '%not safe to delete: owns 3 documents%',
                   'a person the check calls unsafe cannot be deleted, and the reasons are given');
SELECT throws_ok($$ UPDATE lab.people SET deleted_at = now() WHERE email = 'owner@lab' $$, 'PD303', NULL,
                 'nor soft-deleted');
SELECT lives_ok($$ DELETE FROM lab.people WHERE email = 'idle@lab' $$, 'a person the check calls safe can be deleted');
SELECT throws_ok($$ SELECT deletion.force_delete('lab.people', '00000000-0000-4000-8000-000000000001') $$, '42501', NULL,
                 'an application role cannot force a delete');
SELECT throws_ok($$ INSERT INTO deletion.forced_deletes (table_schema, table_name, pk) VALUES ('lab', 'people', '00000000-0000-4000-8000-000000000001') $$,
                 '42501', NULL, 'nor write the record of forced rows itself');
RESET ROLE;

SELECT lives_ok($$ DELETE FROM lab.orgs WHERE id = '00000000-0000-4000-8000-00000000000c' $$,
                'an admin passes the child_count rule (the sanctioned path, as the job worker runs)');
SELECT throws_ok($$ DELETE FROM lab.people WHERE email = 'owner@lab' $$, 'PD303', NULL,
                 'but an admin must force a delete the check refuses');
SELECT is(deletion.force_delete('lab.people', '00000000-0000-4000-8000-000000000001', 'left the company'), 1::bigint,
          'force_delete deletes it for an admin');
SELECT is((SELECT forced_by || ': ' || reason FROM deletion.forced_deletes), 'postgres: left the company',
          'and the force is on record with who and why');
UPDATE lab.documents SET owner_id = '00000000-0000-4000-8000-000000000003';
SELECT throws_ok($$ UPDATE lab.people SET deleted_at = now() WHERE email = 'idle2@lab' $$, 'PD303', NULL,
                 'a force holds for its row only');

SELECT throws_ok($$ SELECT deletion.protect_child_count('lab.orgs', 'lab.tags', 1, 'x') $$, 'PD304', NULL,
                 'a child_count rule through a foreign key that does not exist is refused');
SELECT throws_ok($$ SELECT deletion.protect_with_check('lab.folders', 'lab.check_person(uuid)', 'x') $$, 'PD304', NULL,
                 'a pre-delete check on a composite key is refused');
CREATE TABLE lab.unregistered (id int PRIMARY KEY);
SELECT throws_ok($$ SELECT deletion.protect_bulk_delete('lab.unregistered', 1, 'x') $$, 'PD305', NULL,
                 'a rule on a table without a deletion policy is refused');
SELECT lives_ok($$ SELECT deletion.unprotect(id) FROM deletion.protection_rules WHERE table_name = 'orgs' $$, 'a rule is removed');
SELECT hasnt_trigger('lab', 'orgs', 'deletion_10_protect', 'and its trigger with it');

SELECT * FROM finish();
ROLLBACK;

-- The hard path that deletion jobs (issue 6) use: a SECURITY DEFINER function owned by a privileged
-- role sets deletion.mode = 'hard' and deletes many rows by key in one statement; the soft-delete
-- trigger does not even fire (its WHEN test is false), and an application role gains nothing by
-- setting the same variable itself.
BEGIN;
SELECT plan(9);

\i test/fixtures/lab_schema.sql
SELECT deletion.enable_soft_delete(t) FROM unnest(ARRAY['lab.orgs', 'lab.folders', 'lab.documents', 'lab.approvals']::regclass[]) t;
CREATE ROLE sd106_app LOGIN IN ROLE deletion_app;
GRANT USAGE ON SCHEMA lab TO deletion_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA lab TO deletion_app;

INSERT INTO lab.orgs (id, name) VALUES ('a0000000-0000-4000-8000-000000000000', 'A');
INSERT INTO lab.folders (org_id, id, name) SELECT 'a0000000-0000-4000-8000-000000000000', g, 'f' || g FROM generate_series(1, 10) g;
INSERT INTO lab.documents (org_id, folder_id, slug) SELECT 'a0000000-0000-4000-8000-000000000000', g % 10 + 1, 'doc' || g FROM generate_series(1, 200) g;

-- A chunk as a deletion job runs it.
CREATE FUNCTION lab.hard_delete_chunk(ids uuid[]) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE n bigint;
BEGIN
  SET LOCAL deletion.mode = 'hard';
  DELETE FROM lab.documents WHERE id = ANY (ids);
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;
GRANT EXECUTE ON FUNCTION lab.hard_delete_chunk(uuid[]) TO deletion_app;

SELECT alike(split_part(pg_get_triggerdef(t.oid), 'EXECUTE FUNCTION', 1),
             '%WHEN (((current_setting(''deletion.mode''::text, true) IS DISTINCT FROM ''hard''::text) OR (NOT (pg_has_role(%''deletion_admin''::name%OR pg_has_role(%',
             'the DELETE trigger''s WHEN test is the whole hard-path check: built-in functions only, no engine function call per row')
  FROM pg_trigger t WHERE t.tgrelid = 'lab.documents'::regclass AND t.tgname = 'deletion_20_soft_delete';

SET LOCAL ROLE sd106_app;
SELECT is(lab.hard_delete_chunk(ARRAY(SELECT id FROM lab.documents ORDER BY slug LIMIT 150)), 150::bigint,
          'a definer chunk in hard mode deletes 150 rows with one DELETE ... WHERE id = ANY(...)');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM lab.documents), 50, 'they are really gone');
SELECT is((SELECT count(*)::int FROM deletion.soft_delete_operations), 0, 'no soft-delete operation was logged');
SELECT is((SELECT count(*)::int FROM deletion.soft_delete_requests), 0, 'and nothing was handed to the soft-delete trigger');

SET LOCAL ROLE sd106_app;
SET LOCAL deletion.mode = 'hard';
SELECT lives_ok($$ DELETE FROM lab.documents WHERE id = ANY (ARRAY(SELECT id FROM lab.documents ORDER BY slug LIMIT 20)) $$,
                'the same multi-row DELETE by the application role in "hard" mode');
RESET deletion.mode;
RESET ROLE;
SELECT is((SELECT count(*)::int FROM lab.documents), 50, 'removes nothing');
SELECT is((SELECT count(*)::int FROM lab.documents WHERE deleted_at IS NOT NULL), 20, 'it soft-deleted the 20 rows');
SELECT is((SELECT count(*)::int FROM deletion.soft_delete_operations), 1, 'as one operation');

SELECT * FROM finish();
ROLLBACK;

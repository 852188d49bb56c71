-- The hard path that deletion jobs (issue 6) use: a SECURITY DEFINER function owned by a privileged
-- role sets deletion.mode = 'hard' and deletes many rows by key in one statement; the soft-delete
-- trigger does not even fire (its WHEN test, deletion.delete_stays_soft, is false), and an
-- application role gains nothing by setting the same variable itself.
BEGIN;
SELECT plan(11);

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

SELECT is(split_part(pg_get_triggerdef(t.oid), 'EXECUTE FUNCTION', 1),
          format('CREATE TRIGGER deletion_20_soft_delete BEFORE DELETE ON lab.documents FOR EACH ROW WHEN (deletion.delete_stays_soft((%s)::oid)) ',
                 (SELECT relowner FROM pg_class WHERE oid = 'lab.documents'::regclass)),
          'the DELETE trigger''s WHEN test is the whole hard-path check: one call of the caller predicate, with the table''s owner')
  FROM pg_trigger t WHERE t.tgrelid = 'lab.documents'::regclass AND t.tgname = 'deletion_20_soft_delete';

SET LOCAL track_functions = 'pl';
SET LOCAL ROLE sd106_app;
SELECT is(lab.hard_delete_chunk(ARRAY(SELECT id FROM lab.documents ORDER BY slug LIMIT 150)), 150::bigint,
          'a definer chunk in hard mode deletes 150 rows with one DELETE ... WHERE id = ANY(...)');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM lab.documents), 50, 'they are really gone');
SELECT is((SELECT calls FROM pg_stat_xact_user_functions WHERE funcid = 'deletion.delete_stays_soft(oid)'::regprocedure), 150::bigint,
          'the WHEN test ran once a row');
SELECT is((SELECT count(*)::int FROM pg_stat_xact_user_functions
            WHERE funcid IN ('deletion.refuse_plain_delete()'::regprocedure, 'deletion.soft_delete_on_delete()'::regprocedure)), 0,
          'and the trigger function not once');
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

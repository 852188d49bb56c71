-- How statement-level triggers fire for the DELETEs and UPDATEs of foreign-key actions, pinned on
-- every supported major (docs/audit.md): once per table and event for the whole cascade, AFTER
-- STATEMENT at trigger depth 1, BEFORE STATEMENT at depth 2 for tables reached by a cascade. The
-- capture's statement numbers and via_cascade flags rely on it.
BEGIN;
SELECT plan(6);

\i test/fixtures/lab_schema.sql

CREATE TABLE pg_temp.firings (n serial, table_name text, event text, timing text, depth integer, row_count integer);
CREATE FUNCTION pg_temp.count_after() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO pg_temp.firings (table_name, event, timing, depth, row_count)
  SELECT TG_TABLE_NAME, TG_OP, 'after', pg_trigger_depth(), count(*) FROM old_rows;
  RETURN NULL;
END $$;
CREATE FUNCTION pg_temp.count_before() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO pg_temp.firings (table_name, event, timing, depth) VALUES (TG_TABLE_NAME, TG_OP, 'before', pg_trigger_depth());
  RETURN NULL;
END $$;
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['orgs', 'folders', 'documents', 'approvals', 'tags'] LOOP
    EXECUTE format('CREATE TRIGGER count_before BEFORE DELETE OR UPDATE ON lab.%I FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.count_before()', t);
    EXECUTE format('CREATE TRIGGER count_after_delete AFTER DELETE ON lab.%I REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.count_after()', t);
    EXECUTE format('CREATE TRIGGER count_after_update AFTER UPDATE ON lab.%I REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.count_after()', t);
  END LOOP;
END $$;

-- one org, 20 folders in a tree (each the child of the one before), 2 documents per folder, a tag each
INSERT INTO lab.orgs VALUES ('00000000-0000-0000-0000-0000000000a1', 'acme');
INSERT INTO lab.folders SELECT '00000000-0000-0000-0000-0000000000a1', g, nullif(g - 1, 0), 'f' || g FROM generate_series(1, 20) g;
INSERT INTO lab.documents (org_id, folder_id, slug) SELECT '00000000-0000-0000-0000-0000000000a1', g % 20 + 1, 'd' || g FROM generate_series(1, 40) g;
INSERT INTO lab.tags (document_id, label) SELECT id, 't' FROM lab.documents;
TRUNCATE pg_temp.firings;

DELETE FROM lab.orgs;

SELECT results_eq($$ SELECT table_name, event, count(*)::int, sum(row_count)::int FROM pg_temp.firings WHERE timing = 'after' GROUP BY 1, 2 ORDER BY 1, 2 $$,
                  $$ VALUES ('approvals', 'DELETE', 1, 0), ('documents', 'DELETE', 1, 40), ('folders', 'DELETE', 1, 20), ('orgs', 'DELETE', 1, 1), ('tags', 'UPDATE', 1, 40) $$,
                  'each table''s AFTER STATEMENT trigger fires once for the whole cascade, with every row in its transition table (and with none when the cascade found nothing)');
SELECT is((SELECT array_agg(DISTINCT depth) FROM pg_temp.firings WHERE timing = 'after'), ARRAY[1],
          'AFTER STATEMENT triggers of the statement and of its cascades all fire at trigger depth 1');
SELECT is((SELECT depth FROM pg_temp.firings WHERE timing = 'before' AND table_name = 'orgs'), 1,
          'the BEFORE STATEMENT trigger of the table the statement names fires at depth 1');
SELECT is((SELECT array_agg(DISTINCT depth) FROM pg_temp.firings WHERE timing = 'before' AND table_name <> 'orgs'), ARRAY[2],
          'those of the tables a cascade reaches fire deeper');
SELECT is((SELECT count(*)::int FROM pg_temp.firings WHERE timing = 'before'), 5, 'once per table and event');
SELECT ok((SELECT min(n) FROM pg_temp.firings WHERE timing = 'after' AND table_name = 'orgs')
        < (SELECT min(n) FROM pg_temp.firings WHERE timing = 'after' AND table_name <> 'orgs'),
          'the named table''s AFTER STATEMENT trigger fires before those of its cascades');

SELECT * FROM finish();
ROLLBACK;

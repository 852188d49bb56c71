-- The capture functions the wiring generates for each audited table write what the generic capture
-- functions (audit.capture_delete / capture_update, the reference) write, row for row: the same
-- statements run on two copies of the same tables, one wired by the engine (generated functions),
-- one whose triggers run the generic functions, and their log rows are compared. Columns of every
-- kind the generated functions compare differently (typed or by JSONB image), composite, uuid and
-- timestamptz keys, a table without a key, excluded columns, key updates, no-op updates, cascades.
-- Then: names, owner and grants of the generated functions, their guard, and their removal.
BEGIN;
SELECT plan(22);

CREATE DOMAIN public.short_text AS text CHECK (length(VALUE) < 100);
CREATE DOMAIN public.nested_text AS public.short_text;
CREATE FUNCTION pg_temp.make_tables(s name) RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
  EXECUTE format('CREATE SCHEMA %I', s);
  EXECUTE format($t$
    CREATE TABLE %1$I.parents (id bigint PRIMARY KEY, name text NOT NULL);
    CREATE TABLE %1$I.items (
      id bigint PRIMARY KEY,
      parent_id bigint REFERENCES %1$I.parents ON DELETE CASCADE,
      owner_id bigint REFERENCES %1$I.parents ON DELETE SET NULL,
      title text, amount numeric, ratio float8, flag boolean, born date, seen timestamptz, bytes bytea,
      doc jsonb, plain_json json, tags int[], code char(3), short public.short_text, nested public.nested_text,
      span int4range, secret text, dropped_later text);
    ALTER TABLE %1$I.items DROP COLUMN dropped_later;
    CREATE TABLE %1$I.pairs (a int, b text, note text, PRIMARY KEY (b, a));
    CREATE TABLE %1$I.moments (at timestamptz PRIMARY KEY, note text);
    CREATE TABLE %1$I.nokey (k int, y text);
    CREATE TABLE %1$I."Odd name; --" ("Key col" uuid PRIMARY KEY, "Value" text);
  $t$, s);
  -- PostgreSQL 18's virtual generated columns (and stored ones, on every major)
  EXECUTE format('CREATE TABLE %I.computed (id int PRIMARY KEY, x int, stored int GENERATED ALWAYS AS (x * 3) STORED%s)', s,
                 CASE WHEN current_setting('server_version_num')::int >= 180000 THEN ', virt int GENERATED ALWAYS AS (x * 2) VIRTUAL' ELSE '' END);
END $f$;
SELECT pg_temp.make_tables('cap_generated');
SELECT pg_temp.make_tables('cap_reference');
SELECT audit.enable(format('%I.%I', s, t)::regclass, CASE WHEN t = 'items' THEN ARRAY['secret'] ELSE '{}' END)
  FROM unnest(ARRAY['cap_generated', 'cap_reference']) s, unnest(ARRAY['parents', 'items', 'pairs', 'moments', 'nokey', 'Odd name; --', 'computed']) t;

-- The reference copy runs the generic functions, as the wiring installed them before.
DO $ref$
DECLARE
  t regclass;
  keys text;
BEGIN
  FOR t IN SELECT c.oid::regclass FROM pg_class c WHERE c.relnamespace = 'cap_reference'::regnamespace AND c.relkind = 'r' LOOP
    keys := (SELECT coalesce(array_agg(column_name), '{}')::text FROM deletion.primary_key_columns(t));
    EXECUTE format('DROP TRIGGER deletion_50_audit_delete ON %s; DROP TRIGGER deletion_50_audit_update ON %s', t, t);
    EXECUTE format('CREATE TRIGGER deletion_50_audit_delete AFTER DELETE ON %s REFERENCING OLD TABLE AS old_rows '
                   'FOR EACH STATEMENT EXECUTE FUNCTION audit.capture_delete(%L, %L, %L)',
                   t, CASE WHEN t::text LIKE '%items' THEN '{secret}' ELSE '{}' END, keys, t::text);
    EXECUTE format('CREATE TRIGGER deletion_50_audit_update AFTER UPDATE ON %s REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows '
                   'FOR EACH STATEMENT EXECUTE FUNCTION audit.capture_update(%L, %L, %L)',
                   t, CASE WHEN t::text LIKE '%items' THEN '{secret}' ELSE '{}' END, keys, t::text);
  END LOOP;
END
$ref$;

CREATE FUNCTION pg_temp.exercise(s name) RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
  EXECUTE format($t$
    INSERT INTO %1$I.parents SELECT g, 'p' || g FROM generate_series(1, 4) g;
    INSERT INTO %1$I.items (id, parent_id, owner_id, title, amount, ratio, flag, born, seen, bytes, doc, plain_json, tags, code, short, nested, span, secret)
    SELECT g, 1 + g %% 3, 1 + (g + 1) %% 4, 'title ' || g, g * 1.50, g / 3.0, g %% 2 = 0, date '2024-01-01' + g,
           timestamptz '2024-01-01 00:00+00' + g * interval '1 hour', decode(md5(g::text), 'hex'),
           jsonb_build_object('n', g), json_build_object('n', g, 'n', g), ARRAY[g, g + 1], 'c' || (g %% 10), 's' || g, 'n' || g,
           int4range(g, g + 10), 'secret ' || g
      FROM generate_series(1, 40) g;
    INSERT INTO %1$I.pairs SELECT g, 'b' || (g %% 3), 'note' FROM generate_series(1, 12) g;
    INSERT INTO %1$I.moments SELECT timestamptz '2024-03-01 12:00+00' + g * interval '1 minute', 'm' FROM generate_series(1, 5) g;
    INSERT INTO %1$I.nokey (k, y) SELECT g, 'y' FROM generate_series(1, 5) g;
    INSERT INTO %1$I."Odd name; --" SELECT ('00000000-0000-4000-8000-00000000000' || g)::uuid, 'v' FROM generate_series(1, 5) g;

    UPDATE %1$I.items SET title = 'retitled ' || id WHERE id <= 10;                      -- one text column
    UPDATE %1$I.items SET title = title, amount = amount WHERE id BETWEEN 11 AND 15;     -- nothing changes: not logged
    UPDATE %1$I.items SET amount = amount * 1.00 WHERE id BETWEEN 16 AND 18;          -- 1.5 = 1.500
    UPDATE %1$I.items SET plain_json = '{"n": 1}', tags = ARRAY[1, 2], span = int4range(1, 2), code = 'zz',
                          short = 'other', nested = 'other' WHERE id BETWEEN 19 AND 22; -- compared by JSONB image
    UPDATE %1$I.items SET secret = 'changed secret' WHERE id = 23;                      -- only an excluded column
    UPDATE %1$I.items SET doc = NULL, seen = NULL, bytes = '\x00', flag = NOT flag, born = 'infinity' WHERE id BETWEEN 24 AND 26;
    UPDATE %1$I.items SET id = id + 1000 WHERE id = 27;                                  -- the key changes
    DELETE FROM %1$I.items WHERE id = 28;
    DELETE FROM %1$I.parents WHERE id = 2;                                               -- cascade and SET NULL
    UPDATE %1$I.pairs SET note = 'renoted' WHERE a %% 2 = 0;
    UPDATE %1$I.pairs SET a = a + 100 WHERE a = 1;
    DELETE FROM %1$I.pairs WHERE b = 'b2';
    UPDATE %1$I.moments SET note = 'moved' WHERE note = 'm';
    DELETE FROM %1$I.moments WHERE at < timestamptz '2024-03-01 12:03+00';
    UPDATE %1$I.nokey SET y = 'z' WHERE k <= 2;
    UPDATE %1$I.nokey SET y = y WHERE k = 3;
    DELETE FROM %1$I.nokey WHERE k = 5;
    UPDATE %1$I."Odd name; --" SET "Value" = 'w';
    DELETE FROM %1$I."Odd name; --" WHERE "Value" = 'w' AND "Key col" = '00000000-0000-4000-8000-000000000001';
    INSERT INTO %1$I.computed (id, x) SELECT g, g FROM generate_series(1, 4) g;
    UPDATE %1$I.computed SET x = x + 1 WHERE id <= 2;
    DELETE FROM %1$I.computed WHERE id = 4;
  $t$, s);
END $f$;

SET LOCAL TimeZone = 'Europe/Paris';
SELECT pg_temp.exercise('cap_generated');
SELECT pg_temp.exercise('cap_reference');

CREATE TEMP TABLE logged AS
SELECT split_part(table_name, '.', 1) AS side, substr(table_name, strpos(table_name, '.') + 1) AS tbl,
       action, record_id, primary_key, old_data, changed, via_cascade
  FROM audit.log WHERE table_name LIKE 'cap\_%';

SELECT cmp_ok((SELECT count(*)::int FROM logged WHERE side = 'cap_generated'), '>', 60, 'the generated functions logged the statements');
SELECT bag_eq($$ SELECT tbl, action, record_id, primary_key, old_data, changed, via_cascade FROM logged WHERE side = 'cap_generated' $$,
              $$ SELECT tbl, action, record_id, primary_key, old_data, changed, via_cascade FROM logged WHERE side = 'cap_reference' $$,
              'the generated capture functions write exactly the rows the generic ones write');
SELECT is((SELECT count(*)::int FROM logged WHERE side = 'cap_generated' AND tbl = 'items' AND action = 'UPDATE' AND NOT via_cascade AND record_id::int BETWEEN 11 AND 18), 0,
          'an UPDATE that changes no value (1.5 to 1.500 included) logs nothing');
SELECT is((SELECT changed FROM logged WHERE side = 'cap_generated' AND tbl = 'items' AND action = 'UPDATE' AND record_id = '19'),
          '{"code": "zz ", "span": "[1,2)", "tags": [1, 2], "short": "other", "nested": "other", "plain_json": {"n": 1}}'::jsonb,
          'columns compared by their JSONB image log their new values');
SELECT is((SELECT count(*)::int FROM logged WHERE side = 'cap_generated' AND tbl = 'items' AND record_id = '23'), 0,
          'a change of an excluded column alone is not logged');
SELECT ok((SELECT bool_and(NOT old_data ? 'secret') FROM logged WHERE side = 'cap_generated' AND tbl = 'items'), 'excluded columns are in no image');
SELECT is((SELECT changed FROM logged WHERE side = 'cap_generated' AND tbl = 'items' AND record_id = '27'), NULL,
          'an UPDATE of the key logs the old row with changed NULL');
SELECT is((SELECT record_id FROM logged WHERE side = 'cap_generated' AND tbl = 'moments' AND action = 'DELETE' ORDER BY record_id LIMIT 1),
          '2024-03-01T13:01:00+01:00', 'a timestamptz key''s record_id is its JSON text');
SELECT is((SELECT record_id FROM logged WHERE side = 'cap_generated' AND tbl = 'pairs' AND action = 'DELETE' ORDER BY record_id LIMIT 1),
          '["b2", 11]', 'a composite key''s record_id is the JSON array in key order');
SELECT is((SELECT array_agg(DISTINCT action ORDER BY action) FROM logged WHERE side = 'cap_generated' AND tbl = 'items' AND via_cascade),
          ARRAY['DELETE', 'UPDATE'], 'the cascade''s deletes and SET NULL updates are marked via_cascade');

-- Columns named like the generated functions' aliases do not confuse them.
CREATE TABLE cap_generated.letters (o int PRIMARY KEY, n text, x text);
SELECT audit.enable('cap_generated.letters');
INSERT INTO cap_generated.letters VALUES (1, 'a', 'b'), (2, 'c', 'd');
UPDATE cap_generated.letters SET n = 'z' WHERE o = 1;
DELETE FROM cap_generated.letters WHERE o = 2;
SELECT bag_eq($$ SELECT action, record_id, primary_key, old_data, changed FROM audit.log WHERE table_name = 'cap_generated.letters' $$,
              $$ VALUES ('UPDATE', '1', '{"o": 1}'::jsonb, '{"o": 1, "n": "a", "x": "b"}'::jsonb, '{"n": "z"}'::jsonb),
                        ('DELETE', '2', '{"o": 2}'::jsonb, '{"o": 2, "n": "c", "x": "d"}'::jsonb, NULL) $$,
              'a table whose columns are named o, n and x is logged as any other');

-- Names, owner, grants.
SELECT is(audit.capture_function_name('cap_generated."Odd name; --"', 'delete'),
          ('capture_delete_odd_name_' || left(md5('cap_generated."Odd name; --"'), 8))::name,
          'a generated function''s name: the action, the table name in letters and digits, a digest of the qualified name');
SELECT isnt(audit.capture_function_name('cap_generated.items', 'update'), audit.capture_function_name('cap_reference.items', 'update'),
            'tables of the same name in two schemas get two functions');
SELECT is((SELECT tgfoid::regproc::text FROM pg_trigger WHERE tgrelid = 'cap_generated.items'::regclass AND tgname = 'deletion_50_audit_update'),
          'audit.' || audit.capture_function_name('cap_generated.items', 'update'), 'the wired trigger runs the table''s generated function');
SELECT is((SELECT array_agg(DISTINCT pg_get_userbyid(p.proowner)::text || '/' || p.prosecdef::text || '/' ||
                            coalesce((SELECT string_agg(a.grantee::regrole::text, ',') FROM aclexplode(p.proacl) a
                                       WHERE a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner), ''))
             FROM pg_proc p WHERE p.pronamespace = 'audit'::regnamespace AND p.proname LIKE 'capture\_%\_%\_%'),
          ARRAY['deletion_owner/true/'], 'every generated function belongs to deletion_owner, runs as it, and nobody else may execute it');
SELECT ok((SELECT bool_and(p.proconfig = ARRAY['search_path=pg_catalog']) FROM pg_proc p
            WHERE p.pronamespace = 'audit'::regnamespace AND p.proname LIKE 'capture\_%\_%\_%'), 'and pins search_path');

-- The guard: attached elsewhere (here by a superuser, on a temp table), a generated function refuses to run.
CREATE TEMP TABLE cap_intruder (id bigint PRIMARY KEY, name text NOT NULL);
INSERT INTO cap_intruder VALUES (1, 'x');
SELECT format('CREATE TRIGGER deletion_50_audit_delete AFTER DELETE ON cap_intruder REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION audit.%I()',
              audit.capture_function_name('cap_generated.parents', 'delete')) AS attach \gset
:attach;
SELECT throws_ok($$ DELETE FROM cap_intruder $$, '42501', NULL, 'a generated capture function refuses to run on another table than its own');
SELECT is((SELECT count(*)::int FROM audit.log WHERE table_name LIKE '%cap_intruder%' OR (table_name = 'cap_generated.parents' AND record_id = '1')), 0,
          'and logs nothing');
DROP TABLE cap_intruder;

-- A rewire that changes nothing runs no DDL: the functions keep their catalog rows (the reference
-- copy's, which no trigger runs any more, are swept first).
SELECT audit.drop_unused_capture_functions();
SELECT array_agg(p.xmin::text ORDER BY p.oid) AS before_rewire FROM pg_proc p WHERE p.pronamespace = 'audit'::regnamespace AND p.proname LIKE 'capture\_%\_%\_%' \gset
SELECT deletion.wire('cap_generated.items');
SELECT is((SELECT array_agg(p.xmin::text ORDER BY p.oid) FROM pg_proc p WHERE p.pronamespace = 'audit'::regnamespace AND p.proname LIKE 'capture\_%\_%\_%'),
          :'before_rewire'::text[], 'rewiring an unchanged table replaces no generated function');

-- Changing what is excluded regenerates them; disabling audit drops them; a renamed table gets new ones.
SELECT audit.enable('cap_generated.items', ARRAY['secret', 'title']);
SELECT ok(position('title' IN (SELECT prosrc FROM pg_proc WHERE oid = to_regprocedure(format('audit.%I()', audit.capture_function_name('cap_generated.items', 'delete'))))) > 0,
          'excluding another column regenerates the functions');
SELECT audit.disable('cap_generated.pairs');
SELECT is((SELECT count(*)::int FROM pg_proc WHERE proname IN (audit.capture_function_name('cap_generated.pairs', 'delete'),
                                                              audit.capture_function_name('cap_generated.pairs', 'update'))), 0,
          'audit.disable drops the table''s generated functions');
SELECT audit.capture_function_name('cap_generated.moments', 'delete') AS old_name \gset
ALTER TABLE cap_generated.moments RENAME TO instants;
UPDATE deletion.table_policies SET table_name = 'instants' WHERE table_schema = 'cap_generated' AND table_name = 'moments';
SELECT deletion.wire('cap_generated.instants');
SELECT is((SELECT array_agg(proname::text ORDER BY proname) FROM pg_proc WHERE proname IN (:'old_name', audit.capture_function_name('cap_generated.instants', 'delete'))),
          ARRAY[audit.capture_function_name('cap_generated.instants', 'delete')::text],
          'a renamed table is wired to functions of its new name, and the old ones are dropped');

SELECT * FROM finish();
ROLLBACK;

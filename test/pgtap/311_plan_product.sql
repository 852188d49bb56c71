-- deletion.plan on every product table: for a row of each, the plan equals what the delete then does
-- (rows removed per table, foreign keys set to NULL, or the refusal and its kind), as an admin and as
-- an application role; and the workspace's protection rule shows in the plan.
BEGIN;

\i bench/sql/generate_product_data.sql
\i test/fixtures/plan_matches_delete.sql

-- A small product: two workspaces of 110 issues (more than the workspace rule's 100).
SELECT count(*) FROM bench.generate_product_data(110, 2);

-- For every registered product table, the row with the smallest key (a workspace, its first user,
-- team, project, issue, comment, ...).
CREATE TEMP TABLE sample_rows (target regclass, pk text);
GRANT SELECT ON sample_rows TO PUBLIC;
DO $$
DECLARE
  t regclass;
  key_column name;
  first_key text;
BEGIN
  FOR t IN SELECT format('%I.%I', table_schema, table_name)::regclass FROM deletion.table_policies
            WHERE table_schema = 'public' ORDER BY table_name LOOP
    SELECT column_name INTO key_column FROM deletion.primary_key_columns(t) LIMIT 1;
    IF (SELECT count(*) FROM deletion.primary_key_columns(t)) = 1 THEN
      EXECUTE format('SELECT min(%I)::text FROM %s', key_column, t) INTO first_key;
    ELSE
      EXECUTE format('SELECT deletion.key_text(%L, to_jsonb(r)) FROM %s r LIMIT 1', t, t) INTO first_key;
    END IF;
    IF first_key IS NOT NULL THEN
      INSERT INTO sample_rows VALUES (t, first_key);
    END IF;
  END LOOP;
END $$;

SELECT plan(4 + 2 * (SELECT count(*)::int FROM sample_rows));

SELECT ok((SELECT count(*) FROM sample_rows) >= 15, 'every product table has a sample row');

SELECT is_empty(format($$ SELECT * FROM pg_temp.plan_vs_delete(%L, %L) WHERE planned <> actual $$, target, pk),
                format('as an admin, deleting %s %s does exactly what its plan says', target, pk))
  FROM sample_rows ORDER BY target::text;

-- The same as an application role (it sees what the policies allow; protection binds it).
CREATE ROLE plan_product_app LOGIN IN ROLE deletion_app;
GRANT USAGE ON SCHEMA public TO plan_product_app;
GRANT SELECT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO plan_product_app;
SET LOCAL ROLE plan_product_app;
SELECT is_empty(format($$ SELECT * FROM pg_temp.plan_vs_delete(%L, %L) WHERE planned <> actual $$, target, pk),
                format('as an application role, deleting %s %s does exactly what its plan says', target, pk))
  FROM sample_rows ORDER BY target::text;
SELECT results_eq(
  $$ SELECT table_name::text, action, rows FROM deletion.plan('public.workspaces', (SELECT min(id)::text FROM public.workspaces))
      WHERE action LIKE 'blocked%' ORDER BY action $$,
  $$ VALUES ('workspaces', 'blocked by protection', 1::bigint), ('workspaces', 'blocked by soft delete', 1::bigint) $$,
  'for an application role a workspace of 110 issues is blocked by the protection rule (and a plain DELETE by the refusal)');
SELECT matches((SELECT detail FROM deletion.plan('public.workspaces', (SELECT min(id)::text FROM public.workspaces)) WHERE action = 'blocked by protection'),
               'holds 110 rows in public.issues.*deletion.schedule',
               'and the plan tells the user to schedule a deletion job');
RESET ROLE;
SELECT is_empty($$ SELECT * FROM deletion.plan('public.workspaces', (SELECT min(id)::text FROM public.workspaces)) WHERE action = 'blocked by protection' $$,
                'an admin (as the deletion-job worker runs) may delete it');

SELECT * FROM finish();
ROLLBACK;

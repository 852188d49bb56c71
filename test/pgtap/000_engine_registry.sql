-- The policy registry and deletion.rewire(): the spine every concern hangs off.
BEGIN;
SELECT plan(6);

SELECT has_table('deletion', 'table_policies', 'the policy registry exists');
SELECT col_is_pk('deletion', 'table_policies', ARRAY['table_schema', 'table_name'], 'a table is registered once, by schema and name');

CREATE TABLE public.registry_probe (id bigint PRIMARY KEY);
SELECT lives_ok($$ SELECT deletion.register_table('public.registry_probe', 'probe rows are hard-deleted') $$, 'register_table adds a table');
SELECT lives_ok($$ SELECT deletion.register_table('public.registry_probe') $$, 'register_table is idempotent');
SELECT is((deletion.policy_of('public.registry_probe')).description, 'probe rows are hard-deleted',
          'policy_of reads the row, and registering again without a description keeps it');
SELECT throws_ok($$ SELECT deletion.register_table('public.no_such_table') $$, '42P01', NULL, 'an unknown table is refused by its regclass cast');

SELECT * FROM finish();
ROLLBACK;

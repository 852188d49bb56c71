-- deletion.adoption_plan / adoption_indexes (deletion-kit init, sql/35_init.sql): on the lab schema,
-- as if it had never been adopted, and on a small schema with one of each case (a RESTRICT child, an
-- email column, a password column, an unindexed foreign key, a unique key referenced by a foreign
-- key, a cascade into a soft-delete table, a partitioned table, long and taken index names), the
-- plan proposes what docs/adopting.md describes, with reasons; run in order, it adopts every table
-- and leaves lint without unregistered tables or unindexed foreign keys; its undo calls, in reverse,
-- leave the tables as they were.
BEGIN;
SELECT plan(47);

SELECT is_empty($$ SELECT * FROM deletion.adoption_plan() $$, 'a database whose tables are all registered (the example product): nothing to adopt');
SELECT is_empty($$ SELECT * FROM deletion.adoption_indexes() $$, 'and no foreign key without an index');

\i test/fixtures/lab_schema.sql
-- As if the lab schema had never been adopted (its wiring stays; the plan reads the registry).
DELETE FROM deletion.table_policies WHERE table_schema = 'lab';

CREATE SCHEMA adopt;
-- A RESTRICT child (invoices, unindexed), an email and a password column.
CREATE TABLE adopt.customers (id bigint PRIMARY KEY, email text NOT NULL UNIQUE, password_hash text,
                              email_verified_at timestamptz, address_id bigint);
CREATE TABLE adopt.invoices (id bigint PRIMARY KEY, customer_id bigint NOT NULL REFERENCES adopt.customers ON DELETE RESTRICT,
                             file_path text, total numeric);
-- A unique key referenced by a foreign key: soft delete would be refused (PD102).
CREATE TABLE adopt.countries (id int PRIMARY KEY, iso_code text NOT NULL CONSTRAINT countries_iso_code_key UNIQUE);
CREATE TABLE adopt.shipments (id bigint PRIMARY KEY, invoice_id bigint NOT NULL REFERENCES adopt.invoices ON DELETE CASCADE,
                              country_code text REFERENCES adopt.countries (iso_code) ON DELETE RESTRICT);
CREATE INDEX ON adopt.shipments (invoice_id);
CREATE INDEX ON adopt.shipments (country_code);
-- Two more children: invoices is referenced by three foreign keys.
CREATE TABLE adopt.invoice_lines (id bigint PRIMARY KEY, invoice_id bigint NOT NULL REFERENCES adopt.invoices ON DELETE CASCADE);
CREATE INDEX ON adopt.invoice_lines (invoice_id);
CREATE TABLE adopt.payments (id bigint PRIMARY KEY, invoice_id bigint NOT NULL REFERENCES adopt.invoices ON DELETE CASCADE);
CREATE INDEX ON adopt.payments (invoice_id);
-- A secret in the primary key (kept), another not (excluded); an ip address.
CREATE TABLE adopt.sessions (token text PRIMARY KEY, customer_id bigint NOT NULL REFERENCES adopt.customers ON DELETE CASCADE,
                             ip inet, refresh_token text);
CREATE INDEX ON adopt.sessions (customer_id);
-- Personal data in a child (members), none in its parent (teams), which cascades into it.
CREATE TABLE adopt.teams (id bigint PRIMARY KEY, title text);
CREATE TABLE adopt.members (id bigint PRIMARY KEY, team_id bigint REFERENCES adopt.teams ON DELETE CASCADE, "mobilePhone" text);
-- The natural name of members' index is taken.
CREATE INDEX members_team_id_idx ON adopt.teams (title);
-- A partitioned table with an unindexed foreign key: its index cannot be built concurrently.
CREATE TABLE adopt.events (id bigint, at date, customer_id bigint REFERENCES adopt.customers ON DELETE CASCADE,
                           PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE adopt.events_2024 PARTITION OF adopt.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
-- Names too long for <table>_<column>_idx, in more than one byte a character.
CREATE TABLE adopt."überweisungen_mit_einem_sehr_langen_namen_der_fast_nicht_passt" (
  id bigint PRIMARY KEY,
  "kunde_mit_einem_ebenfalls_sehr_langen_spaltennamen_für_test" bigint REFERENCES adopt.customers ON DELETE SET NULL);

CREATE TEMP TABLE p AS SELECT * FROM deletion.adoption_plan();
CREATE TEMP TABLE ix AS SELECT * FROM deletion.adoption_indexes();

-- Which tables, which policy.
SELECT set_eq($$ SELECT table_name::text FROM p WHERE step = 'register' $$,
  $$ SELECT c.oid::regclass::text FROM pg_class c WHERE c.relnamespace IN ('lab'::regnamespace, 'adopt'::regnamespace)
       AND c.relkind IN ('r', 'p') AND NOT c.relispartition $$,
  'every unregistered table is registered, once (partitions through their table), and no registered one');
SELECT is((SELECT count(*)::int FROM p WHERE step = 'register' AND NOT proposed), 0, 'registering is never left commented out');
SELECT set_eq($$ SELECT table_name::text FROM p WHERE step = 'soft_delete' AND proposed $$,
  ARRAY['lab.people', 'adopt.customers', 'adopt.sessions', 'adopt.members', 'adopt.teams'],
  'soft delete where RESTRICT children or personal data ask for it, and above a soft-delete table reached by CASCADE');
SELECT matches((SELECT reason FROM p WHERE table_name = 'lab.people'::regclass AND step = 'soft_delete'),
  'rows of lab.approvals \(approvals_approver_id_fkey, ON DELETE RESTRICT\) reference it, and must not lose their parent.*email looks like personal data',
  'lab.people: its RESTRICT child and its email are the reasons');
SELECT matches((SELECT reason FROM p WHERE table_name = 'adopt.customers'::regclass AND step = 'soft_delete'),
  'adopt.invoices \(invoices_customer_id_fkey, ON DELETE RESTRICT\).*email looks like personal data',
  'adopt.customers: likewise (email_verified_at and address_id are not taken for personal data)');
SELECT matches((SELECT reason FROM p WHERE table_name = 'adopt.members'::regclass AND step = 'soft_delete'),
  '"mobilePhone" looks like personal data', 'a camelCase column is read word by word');
SELECT matches((SELECT reason FROM p WHERE table_name = 'adopt.sessions'::regclass AND step = 'soft_delete'),
  'ip looks like personal data', 'an ip address is personal data');
SELECT matches((SELECT reason FROM p WHERE table_name = 'adopt.teams'::regclass AND step = 'soft_delete'),
  'ON DELETE CASCADE reaches soft-delete adopt.members \(members_team_id_fkey\).*refused \(PD103\)',
  'a parent whose CASCADE reaches a soft-delete table soft-deletes too, and says why');
SELECT matches((SELECT reason FROM p WHERE table_name = 'lab.orgs'::regclass AND step = 'register'),
  '^hard delete: no RESTRICT or NO ACTION foreign key references it and no column looks like personal data',
  'hard delete otherwise (a bare "name" is not taken for a person''s), with the reason');
SELECT is((SELECT statement FROM p WHERE table_name = 'lab.no_key'::regclass AND step = 'register'),
  $$SELECT deletion.register_table('lab.no_key', 'hard delete (deletion-kit init): no RESTRICT or NO ACTION child, no personal data');$$,
  'a hard-delete table is registered only, with a description');

-- What soft delete would refuse is proposed commented out, with the refusal.
SELECT is((SELECT proposed FROM p WHERE table_name = 'adopt.countries'::regclass AND step = 'soft_delete'), false,
  'a table whose unique key a foreign key references: soft delete is left commented out');
SELECT matches((SELECT reason FROM p WHERE table_name = 'adopt.countries'::regclass AND step = 'soft_delete'),
  'adopt.shipments \(shipments_country_code_fkey, ON DELETE RESTRICT\).*Commented out: enable_soft_delete would refuse the table: unique key countries_iso_code_key is referenced by foreign key adopt.shipments.shipments_country_code_fkey.*\(PD102\)',
  'with the reason it was wanted and the reason it would be refused');
SELECT throws_ok($$ SELECT deletion.enable_soft_delete('adopt.countries') $$, 'PD102', NULL, 'and the engine does refuse it');
SELECT matches((SELECT reason FROM p WHERE table_name = 'adopt.countries'::regclass AND step = 'register'), '^register, hard delete for now',
  'it is registered with hard delete meanwhile');

-- Audit: on with registration; secrets excluded, but never a key column.
SELECT is((SELECT statement FROM p WHERE table_name = 'adopt.customers'::regclass AND step = 'audit'),
  $$SELECT audit.enable('adopt.customers', ARRAY['password_hash']);$$, 'a password column is excluded from the audit log');
SELECT matches((SELECT reason FROM p WHERE table_name = 'adopt.customers'::regclass AND step = 'audit'),
  '^audit: on by default with registration; password_hash looks like a secret, so it is never written to the audit log',
  'and the reason says so');
SELECT is((SELECT statement FROM p WHERE table_name = 'adopt.sessions'::regclass AND step = 'audit'),
  $$SELECT audit.enable('adopt.sessions', ARRAY['refresh_token']);$$, 'a token outside the primary key is excluded');
SELECT matches((SELECT reason FROM p WHERE table_name = 'adopt.sessions'::regclass AND step = 'audit'),
  'token looks like a secret too but belongs to the primary key, which the log must keep', 'a token in the primary key is kept, and why');
SELECT is_empty($$ SELECT * FROM p WHERE step = 'audit' AND table_name::text LIKE 'lab.%' $$, 'no audit call where there is no secret: audit is on by default');

-- Protection.
SELECT set_eq($$ SELECT table_name::text FROM p WHERE step = 'bulk_delete' AND proposed $$,
  ARRAY['lab.people', 'adopt.customers', 'adopt.sessions', 'adopt.members', 'adopt.teams', 'adopt.invoices'],
  'bulk_delete on every soft-delete table and on a table three foreign keys reference');
SELECT matches((SELECT reason FROM p WHERE table_name = 'adopt.invoices'::regclass AND step = 'bulk_delete'),
  '^protection: 3 foreign keys reference it: one statement may delete at most 100 of its rows', 'with the reason');
SELECT is((SELECT count(*)::int FROM p WHERE step = 'child_count' AND proposed), 0, 'child_count without statistics: never proposed outright');
SELECT matches((SELECT reason FROM p WHERE table_name = 'adopt.invoices'::regclass AND step = 'child_count'
                  AND statement LIKE '%adopt.payments%'),
  '^protection, unsure: no statistics yet', 'but offered commented out, saying why');

-- Files: a column that looks like a storage key, always left to the reader.
SELECT results_eq($$ SELECT statement, proposed FROM p WHERE step = 'track_files' $$,
  $$ VALUES ($s$SELECT deletion.track_files('adopt.invoices', 'file_path');$s$, false) $$,
  'a column that looks like a storage key is offered for file tracking, commented out');

-- With statistics: 20,000 payments on one invoice make child_count a proposal.
INSERT INTO adopt.customers (id, email) VALUES (1, 'ann@example.com');
INSERT INTO adopt.invoices (id, customer_id) VALUES (1, 1);
INSERT INTO adopt.payments SELECT g, 1 FROM generate_series(1, 20000) g;
ANALYZE adopt.invoices, adopt.payments;
SELECT results_eq($$ SELECT proposed, statement FROM deletion.adoption_plan(ARRAY['adopt'])
                      WHERE step = 'child_count' AND statement LIKE '%adopt.payments%' $$,
  $$ VALUES (true, $s$SELECT deletion.protect_child_count('adopt.invoices', 'adopt.payments', 1000, 'a row of adopt.invoices with more than 1000 rows in adopt.payments is deleted by a deletion job, in small chunks: SELECT deletion.schedule(''{table}'', ''{pk}'')', via_constraint => 'payments_invoice_id_fkey');$s$) $$,
  'many rows per parent by the statistics: child_count is proposed');
SELECT matches((SELECT reason FROM deletion.adoption_plan(ARRAY['adopt']) WHERE step = 'child_count' AND statement LIKE '%adopt.payments%'),
  '^protection: about 20000 rows of adopt.payments reference each row \(foreign key payments_invoice_id_fkey, ON DELETE CASCADE; from the statistics\)',
  'with the estimate as its reason');

-- Indexes: one per unindexed foreign key, named validly, concurrent unless partitioned.
SELECT set_eq($$ SELECT table_name::text, constraint_name::text, concurrent FROM ix $$,
  $$ VALUES ('adopt.invoices', 'invoices_customer_id_fkey', true), ('adopt.members', 'members_team_id_fkey', true),
            ('adopt.events', 'events_customer_id_fkey', false),
            ('adopt."überweisungen_mit_einem_sehr_langen_namen_der_fast_nicht_passt"',
             'überweisungen_mit_einem_sehr_kunde_mit_einem_ebenfalls_se_fkey', true) $$,
  'every unindexed foreign key and only those (lab''s are all indexed)');
SELECT is((SELECT statement FROM ix WHERE table_name = 'adopt.invoices'::regclass),
  'CREATE INDEX CONCURRENTLY IF NOT EXISTS invoices_customer_id_idx ON adopt.invoices (customer_id);', 'CREATE INDEX CONCURRENTLY IF NOT EXISTS');
SELECT matches((SELECT reason FROM ix WHERE table_name = 'adopt.invoices'::regclass),
  'foreign key invoices_customer_id_fkey on adopt.invoices \(customer_id\) has no index on its referencing columns, so every delete from adopt.customers scans adopt.invoices',
  'with lint''s reason');
SELECT ok((SELECT bool_and(octet_length(index_name) <= 63 AND index_name::text = index_name::name::text) FROM ix), 'every name fits in 63 bytes');
SELECT is((SELECT octet_length(index_name) FROM ix WHERE table_name::text LIKE 'adopt."über%'), 63, 'a long name is cut to 63 bytes, whole characters');
SELECT matches((SELECT index_name::text FROM ix WHERE table_name = 'adopt.members'::regclass), '^members_team_id_[0-9a-f]{8}_idx$',
  'a name that is taken gets a digest instead');
SELECT is((SELECT statement FROM p WHERE step = 'index'), 'CREATE INDEX IF NOT EXISTS events_customer_id_idx ON adopt.events (customer_id);',
  'a partitioned table''s index is built in the migration, without CONCURRENTLY');

-- Every row has its reason; the plan is in order.
SELECT is((SELECT count(*)::int FROM p WHERE coalesce(reason, '') = '' OR coalesce(statement, '') = ''), 0, 'every call has a reason');
SELECT is((SELECT array_agg(ordinal ORDER BY ordinal) FROM p), (SELECT array_agg(g) FROM generate_series(1, (SELECT count(*)::int FROM p)) g),
  'ordinals run 1, 2, ...');

-- The schemas to read.
SELECT is((SELECT count(*)::int FROM deletion.adoption_plan(ARRAY['lab']) WHERE table_name::text NOT LIKE 'lab.%'), 0, '--schema lab: lab only');
SELECT throws_ok($$ SELECT * FROM deletion.adoption_plan(ARRAY['nowhere']) $$, '3F000', 'schema "nowhere" does not exist', 'an unknown schema');
SELECT throws_ok($$ SELECT * FROM deletion.adoption_plan(ARRAY['deletion']) $$, '22023', NULL, 'the engine''s own schema is refused');

-- Run as the two files would be: the indexes (here inside the test's transaction, so not
-- concurrently), then every proposed call in order.
DO $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT * FROM ix WHERE concurrent LOOP
    EXECUTE replace(r.statement, 'CREATE INDEX CONCURRENTLY', 'CREATE INDEX');
  END LOOP;
  FOR r IN SELECT * FROM p WHERE proposed ORDER BY ordinal LOOP
    EXECUTE r.statement;
  END LOOP;
END
$$;
SELECT is_empty($$ SELECT * FROM deletion.lint() WHERE rule IN ('no_deletion_policy', 'unindexed_foreign_key') $$,
  'applied, the plan leaves lint no unregistered table and no unindexed foreign key');
SELECT set_eq($$ SELECT format('%I.%I', table_schema, table_name) FROM deletion.table_policies WHERE soft_delete AND table_schema IN ('lab', 'adopt') $$,
  ARRAY['lab.people', 'adopt.customers', 'adopt.sessions', 'adopt.members', 'adopt.teams'], 'the soft-delete tables are wired');
SELECT is((SELECT audit_exclude_columns FROM deletion.table_policies WHERE table_schema = 'adopt' AND table_name = 'customers'),
  ARRAY['password_hash'], 'password_hash stays out of the audit log');
SELECT is_empty($$ SELECT * FROM deletion.adoption_plan(ARRAY['lab', 'adopt']) $$, 'and a second plan has nothing left to propose');

-- The undo calls, last first (the migration's Down section), leave the tables unregistered and unwired.
DO $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT * FROM p WHERE proposed AND undo IS NOT NULL ORDER BY ordinal DESC LOOP
    EXECUTE r.undo;
  END LOOP;
END
$$;
SELECT is_empty($$ SELECT * FROM deletion.table_policies WHERE table_schema IN ('lab', 'adopt') $$, 'undone: no registry row');
SELECT is_empty($$ SELECT * FROM deletion.protection_rules WHERE table_schema IN ('lab', 'adopt') $$, 'no protection rule');
SELECT is_empty($$ SELECT t.tgrelid::regclass::text, t.tgname::text FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                    WHERE c.relnamespace IN ('lab'::regnamespace, 'adopt'::regnamespace) AND t.tgname LIKE 'deletion\_%'
                   UNION ALL
                   SELECT pol.polrelid::regclass::text, pol.polname::text FROM pg_policy pol JOIN pg_class c ON c.oid = pol.polrelid
                    WHERE c.relnamespace IN ('lab'::regnamespace, 'adopt'::regnamespace) AND pol.polname LIKE 'deletion\_%' $$,
  'no engine trigger on the tables, nor an engine policy');

SELECT * FROM finish();
ROLLBACK;

-- Partitioned tables in plan and deletion jobs: the range-partitioned lab.events (key to its org on
-- the parent, key to its person declared on one partition). deletion.plan counts what the delete does,
-- through the parent and through a partition; a hard job on an org deletes its events in every
-- partition in chunks, and its audit rows name the registered table.
BEGIN;
SELECT plan(10);

\i test/fixtures/lab_schema.sql
\i test/fixtures/plan_matches_delete.sql
CREATE TABLE lab.events (
  org_id    uuid    NOT NULL REFERENCES lab.orgs (id) ON DELETE CASCADE,
  id        integer NOT NULL,
  at        date    NOT NULL,
  person_id uuid,
  PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
CREATE TABLE lab.events_2024_01 PARTITION OF lab.events FOR VALUES FROM ('2024-01-01') TO ('2024-02-01');
CREATE TABLE lab.events_2024_02 PARTITION OF lab.events FOR VALUES FROM ('2024-02-01') TO ('2024-03-01');
CREATE TABLE lab.events_2024_03 PARTITION OF lab.events FOR VALUES FROM ('2024-03-01') TO ('2024-04-01');
CREATE INDEX ON lab.events (org_id);
ALTER TABLE lab.events_2024_02 ADD CONSTRAINT events_2024_02_person_fkey FOREIGN KEY (person_id) REFERENCES lab.people (id) ON DELETE CASCADE;
CREATE INDEX ON lab.events_2024_02 (person_id);
SELECT deletion.register_table('lab.events', 'lab fixture: partitioned by month');

INSERT INTO lab.orgs VALUES ('00000000-0000-0000-0000-0000000000a1', 'acme'), ('00000000-0000-0000-0000-0000000000a2', 'other');
INSERT INTO lab.people VALUES ('00000000-0000-0000-0000-0000000000b1', 'ann@x');
INSERT INTO lab.events
SELECT CASE WHEN n % 2 = 0 THEN '00000000-0000-0000-0000-0000000000a1'::uuid ELSE '00000000-0000-0000-0000-0000000000a2'::uuid END,
       n, date '2024-01-01' + (n % 90), CASE WHEN n % 5 = 0 THEN '00000000-0000-0000-0000-0000000000b1'::uuid END
  FROM generate_series(1, 120) n;

-- Hard deletes (the table is not a soft-delete table yet).
SELECT is_empty($$ SELECT * FROM pg_temp.plan_vs_delete('lab.orgs', '00000000-0000-0000-0000-0000000000a1') WHERE planned <> actual $$,
                'plan equals delete: an org and its events in every partition');
SELECT results_eq($$ SELECT table_name::text, rows FROM deletion.plan('lab.people', '00000000-0000-0000-0000-0000000000b1') WHERE depth = 1 $$,
                  $$ SELECT 'lab.events_2024_02', count(*) FROM lab.events_2024_02 WHERE person_id IS NOT NULL $$,
                  'a key declared on one partition is planned into that partition');
SELECT is_empty($$ SELECT * FROM pg_temp.plan_vs_delete('lab.people', '00000000-0000-0000-0000-0000000000b1') WHERE planned <> actual $$,
                'and the plan equals the delete');

-- Soft deletes.
SELECT deletion.enable_soft_delete(t) FROM unnest(ARRAY['lab.orgs', 'lab.people', 'lab.events']::regclass[]) t;
SELECT is_empty($$ SELECT * FROM pg_temp.plan_vs_delete('lab.orgs', '00000000-0000-0000-0000-0000000000a2') WHERE planned <> actual $$,
                'plan equals a soft delete of an org with events in every partition');
SELECT is_empty($$ SELECT * FROM pg_temp.plan_vs_delete('lab.events', '[3, "2024-01-04"]') WHERE planned <> actual $$,
                'and of one event, through the parent');

-- A hard job on an org: chunks delete its events across the three partitions, then the org.
SELECT deletion.disable_soft_delete(t) FROM unnest(ARRAY['lab.orgs', 'lab.people', 'lab.events']::regclass[]) t;
SELECT deletion.schedule('lab.orgs', '00000000-0000-0000-0000-0000000000a1', hard => true, reason => 'org closed') AS org_job \gset
UPDATE deletion.deletion_jobs SET scheduled_at = now() - interval '1 second' WHERE id = :org_job;
SELECT is((deletion.claim_job('test')).id, :'org_job'::bigint, 'the job is claimed');
SELECT is(deletion.run_chunk(:org_job, 20, 1000) ->> 'phase', 'delete', 'the first chunk plans the tree');
CREATE TEMP TABLE the_job AS SELECT :org_job::bigint AS id;
DO $$
BEGIN
  FOR n IN 1..20 LOOP
    EXIT WHEN (SELECT status FROM deletion.deletion_jobs WHERE id = (SELECT id FROM the_job)) = 'done';
    PERFORM deletion.run_chunk((SELECT id FROM the_job), 20, 1000);
  END LOOP;
END
$$;
SELECT is((SELECT status FROM deletion.deletion_jobs WHERE id = :org_job), 'done', 'chunks of 20 rows finish the job');
SELECT is((SELECT count(*)::int FROM lab.events WHERE org_id = '00000000-0000-0000-0000-0000000000a1'), 0,
          'the org''s events are gone from every partition');
SELECT results_eq($$ SELECT DISTINCT table_name FROM audit.log WHERE action = 'DELETE' AND table_name LIKE 'lab.events%' $$,
                  ARRAY['lab.events'], 'and the audit log names the registered table for each of them');

SELECT * FROM finish();
ROLLBACK;

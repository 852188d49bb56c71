-- Deletion jobs: the plan made a table per chunk (deletion.plan_step), resumed after a release and
-- begun again after a server restart, and the order in which each plan table stores its rows
-- (deletion.plan_order): rows that point at their own table through a non-cascade key last (so they
-- are deleted first), then grouped by their parents in the plan; the plan's page count is the pages
-- that hold rows.
BEGIN;
SELECT plan(28);

\i test/fixtures/lab_schema.sql

-- A table the lab lacks: tasks of an org, some blocked by another task (ON DELETE SET NULL: a
-- self-reference that is not a cascade).
CREATE TABLE lab.tasks (
  id         integer PRIMARY KEY,
  org_id     uuid NOT NULL REFERENCES lab.orgs (id) ON DELETE CASCADE,
  folder_org uuid,
  folder_id  integer,
  blocked_by integer REFERENCES lab.tasks (id) ON DELETE SET NULL,
  CONSTRAINT tasks_folder_fkey FOREIGN KEY (folder_org, folder_id) REFERENCES lab.folders (org_id, id) ON DELETE SET NULL
);
CREATE INDEX tasks_org_idx ON lab.tasks (org_id);
CREATE INDEX tasks_blocked_by_idx ON lab.tasks (blocked_by);
CREATE INDEX tasks_folder_idx ON lab.tasks (folder_org, folder_id);
SELECT deletion.register_table('lab.tasks', 'lab fixture');

INSERT INTO lab.orgs (id, name) VALUES ('00000000-0000-0000-0000-0000000000a1', 'one'), ('00000000-0000-0000-0000-0000000000a2', 'two');
INSERT INTO lab.folders (org_id, id, parent_id, name)
SELECT o.id, g, CASE WHEN g > 1 THEN g / 2 END, 'f' || g FROM lab.orgs o, generate_series(1, 30) g;
-- Documents inserted folder by folder in a scattered order, so that key order is not folder order.
INSERT INTO lab.documents (org_id, folder_id, slug)
SELECT f.org_id, f.id, 'd' || f.id || '-' || n FROM lab.folders f, generate_series(1, 3) n ORDER BY n, (f.id * 7) % 31;
-- Tasks 1-40 of org one, every third blocked by the one before it, each in a folder.
INSERT INTO lab.tasks (id, org_id, folder_org, folder_id, blocked_by)
SELECT g, '00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000a1', 1 + g % 30, CASE WHEN g % 3 = 0 THEN g - 1 END
  FROM generate_series(1, 40) g;

-- plan_order, as SQL text.
SELECT is(deletion.plan_order('lab.documents', jsonb_build_object('lab.folders'::regclass::oid::text, 60)),
          'c.org_id, c.folder_id, c.id', 'documents are grouped by their folder in the plan, then by key');
SELECT is(deletion.plan_order('lab.documents', '{}'), 'c.id', 'with no parent in the plan, by key alone');
SELECT is(deletion.plan_order('lab.tasks', jsonb_build_object('lab.folders'::regclass::oid::text, 60)),
          '(c.blocked_by IS NOT NULL), c.folder_org, c.folder_id, c.id',
          'tasks: those blocked by another task last, then by folder (a SET NULL key into the plan counts too), then by key');

-- Planning a pass over a table per chunk: a time budget of 0 ms still plans one each time.
SELECT deletion.schedule('lab.orgs', '00000000-0000-0000-0000-0000000000a1', hard => true) AS job \gset
SELECT is((SELECT count(*)::int FROM deletion.cascade_tables('lab.orgs')), 5, 'the tree of lab.orgs has five tables (orgs, folders, tasks, documents, approvals)');
SELECT is((deletion.claim_job('test')).id, :'job'::bigint, 'the job is claimed');
SELECT is(deletion.run_chunk(:job, 10, 0) ->> 'phase', 'plan', 'the first chunk plans one table and stays in the plan phase');
SELECT is((SELECT plan_step FROM deletion.deletion_jobs WHERE id = :job), 1,
          'plan_step is the next table to plan: the root''s own table has no rows to plan (no self-reference below the root)');
SELECT is(deletion.run_chunk(:job, 10, 0) ->> 'phase', 'plan', 'the second chunk plans the next table''s first pass');
SELECT is((SELECT plan_step || ' ' || (plan_slice ->> 'pass') || ' ' || (plan_slice ->> 'rows') FROM deletion.deletion_jobs WHERE id = :job), '1 1 30',
          'the folders are stored (pass 0: the 30 folders of the org), and the walk of their own tree (pass 1) is next');

-- Released (SIGTERM between chunks) and claimed again: planning goes on where it stopped.
SELECT is((deletion.release_job(:job)).status, 'pending', 'a released job is pending');
SELECT is((deletion.claim_job('test')).id, :'job'::bigint, 'and claimed again');
SELECT is(deletion.run_chunk(:job, 10, 0) ->> 'phase', 'plan', 'the next chunk walks the folder tree');
SELECT is((SELECT plan_step || ' ' || (plan_slice IS NULL) || ' ' || jsonb_array_length(plan) FROM deletion.deletion_jobs WHERE id = :job), '2 true 1',
          'planning resumed at the folders'' walk, not from the start: it found no folder below the 30, and the folders are planned');

-- A plan begun before the server last started (its unlogged tables may be gone) is begun again.
UPDATE deletion.deletion_jobs SET plan_server_start = '-infinity' WHERE id = :job;
SELECT is(deletion.run_chunk(:job, 10, 0) ->> 'phase', 'plan', 'after a restart the plan is begun again');
SELECT is((SELECT plan_step FROM deletion.deletion_jobs WHERE id = :job), 1, 'from its first table');
SELECT is((SELECT count(*)::int FROM lab.documents), 180, 'planning deletes nothing');

SELECT count(deletion.run_chunk(:job, 10, 0)) AS planning_chunks FROM generate_series(1, 5) \gset
SELECT is((SELECT phase || ' ' || rows_planned FROM deletion.deletion_jobs WHERE id = :job), 'delete 160',
          'every table planned (30 folders, 90 documents, 40 tasks; no approvals): the job deletes next');
SELECT format('deletion_work.job_%s_2', :job) AS documents_plan, format('deletion_work.job_%s_3', :job) AS tasks_plan \gset

-- The stored order of the plan tables.
SELECT is((SELECT count(*)::int FROM (
             SELECT d.org_id, d.folder_id, lag(d.folder_id) OVER (ORDER BY w.ctid) AS previous
               FROM :documents_plan w JOIN lab.documents d USING (id)) x
            WHERE x.folder_id < x.previous), 0,
          'the documents'' plan runs folder by folder (it was inserted in scattered order)');
SELECT is((SELECT string_agg(DISTINCT (t.blocked_by IS NOT NULL)::text, ',' ORDER BY (t.blocked_by IS NOT NULL)::text)
             FROM (SELECT id FROM :tasks_plan w ORDER BY w.ctid DESC LIMIT 13) last_rows JOIN lab.tasks t USING (id)),
          'true', 'the 13 blocked tasks are stored last, so they are deleted before the tasks that block them');
SELECT is((SELECT (s ->> 'pages')::int FROM deletion.deletion_jobs j, jsonb_array_elements(j.plan) s WHERE j.id = :job AND s ->> 'table' = 'lab.documents'),
          (SELECT count(DISTINCT (ctid::text::point)[0])::int FROM :documents_plan),
          'a step''s page count is the pages that hold its rows');

-- Rows are numbered by place, so a statement can take part of a page: the 40 tasks share one page,
-- and a chunk of at most 10 rows deletes 10 of them (blocked ones first).
SELECT is((deletion.run_chunk(:job, 10, 1000) ->> 'deleted')::int, 10, 'a chunk of 10 rows deletes 10 of the 40 tasks on one plan page');
SELECT is((SELECT count(*)::int FROM lab.tasks WHERE blocked_by IS NOT NULL), 3, 'the 10 were blocked tasks: 3 of the 13 are left');

-- A chunk with no time at all still deletes: its first statement always runs.
SELECT is((deletion.run_chunk(:job, 10, 0) ->> 'deleted')::int, 10, 'a chunk of 0 ms still makes progress (its first statement)');

-- The chunks finish the job.
DO $$
BEGIN
  WHILE (SELECT status FROM deletion.deletion_jobs WHERE entity_table = 'lab.orgs') = 'running' LOOP
    PERFORM deletion.run_chunk(j.id, 10, 1000) FROM deletion.deletion_jobs j WHERE j.entity_table = 'lab.orgs';
  END LOOP;
END
$$;
SELECT is((SELECT status FROM deletion.deletion_jobs WHERE id = :job), 'done', 'the job is done');
SELECT is((SELECT count(*)::int FROM lab.tasks), 0, 'every task of org one is gone');

-- A cycle in the data (folder 100 of org two is the parent of 101, which is the parent of 100): the
-- plan's walk of the folder tree ends (at its depth limit) and keeps each folder once.
INSERT INTO lab.folders (org_id, id, parent_id, name) VALUES ('00000000-0000-0000-0000-0000000000a2', 100, NULL, 'loop-a'),
                                                             ('00000000-0000-0000-0000-0000000000a2', 101, 100, 'loop-b');
UPDATE lab.folders SET parent_id = 101 WHERE org_id = '00000000-0000-0000-0000-0000000000a2' AND id = 100;
SELECT deletion.schedule('lab.orgs', '00000000-0000-0000-0000-0000000000a2', hard => true) AS cycle_job \gset
SELECT is((SELECT sum((s ->> 'rows')::int)::int FROM jsonb_array_elements(deletion.make_plan(:cycle_job, 'lab.orgs', '00000000-0000-0000-0000-0000000000a2')) s
            WHERE s ->> 'table' = 'lab.folders'), 32, 'a cycle of folders is planned once each: 30 folders and the two of the loop');
SELECT deletion.drop_plan(:cycle_job);
SELECT is((deletion.claim_job('test')).id, :'cycle_job'::bigint, 'the job over the cycle is claimed');
DO $$
BEGIN
  WHILE (SELECT status FROM deletion.deletion_jobs WHERE entity_table = 'lab.orgs' AND entity_pk = '00000000-0000-0000-0000-0000000000a2') = 'running' LOOP
    PERFORM deletion.run_chunk(j.id, 10, 1000) FROM deletion.deletion_jobs j WHERE j.entity_table = 'lab.orgs' AND j.entity_pk = '00000000-0000-0000-0000-0000000000a2';
  END LOOP;
END
$$;
SELECT is((SELECT count(*)::int FROM lab.folders), 0, 'and deletes every folder, the loop included');

SELECT * FROM finish();
ROLLBACK;

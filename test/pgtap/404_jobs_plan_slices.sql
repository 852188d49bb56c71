-- Deletion jobs: a big table is planned in ranges of its pages, a chunk at a time
-- (deletion.plan_slices), so that no planning transaction reads it whole. The plan is still exact:
-- every row of the tree once, a self-referencing table's rows below the tree's own (a reply on
-- another topic's post) found by the walk of its tree, and a soft job's plan made the same way.
-- A chunk with no time at all plans one range of pages, so the test knows what each chunk does.
BEGIN;
SELECT plan(15);

-- Topics and their posts, each post a reply to the one 2,000 before it (chains ten deep), about 600
-- pages of posts: more than one range of pages (128 to begin, then 32 at a time at 0 ms).
CREATE SCHEMA slices;
CREATE TABLE slices.topics (id integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE slices.posts (
  id        integer PRIMARY KEY,
  topic_id  integer NOT NULL REFERENCES slices.topics (id) ON DELETE CASCADE,
  parent_id integer REFERENCES slices.posts (id) ON DELETE CASCADE,
  body      text NOT NULL
);
CREATE INDEX posts_topic_idx ON slices.posts (topic_id);
CREATE INDEX posts_parent_idx ON slices.posts (parent_id);
SELECT deletion.register_table('slices.topics', 'plan slices fixture');
SELECT deletion.register_table('slices.posts', 'plan slices fixture');
INSERT INTO slices.topics VALUES (1, 'one'), (2, 'two');
INSERT INTO slices.posts
SELECT g, 1 + g % 2, CASE WHEN g > 2000 THEN g - 2000 END, repeat('x', 200) FROM generate_series(1, 20000) g;
-- Two posts of topic two below topic one's post 2 (a reply, and a reply to it): in topic one's tree
-- by the posts' own foreign key alone (post 2 is topic one's).
INSERT INTO slices.posts VALUES (20001, 2, 2, 'across'), (20002, 2, 20001, 'across, deeper');
-- Ten posts edited after their replies were written: their new versions are on the last pages.
UPDATE slices.posts SET body = body || ' (edited)' WHERE id <= 20;

SELECT cmp_ok(pg_relation_size('slices.posts') / current_setting('block_size')::bigint, '>', 256::bigint,
              'the posts fill more pages than two ranges');
SELECT deletion.schedule('slices.topics', '1', hard => true) AS job \gset
SELECT is((deletion.claim_job('test')).id, :'job'::bigint, 'the job is claimed');

-- Chunks of 0 ms until a job is planned, noting where each one left the step being planned.
CREATE TEMP TABLE planning (job_id bigint, n integer, step integer, slice jsonb);
CREATE FUNCTION pg_temp.plan_at_0_ms(job_id bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  n integer := 0;
BEGIN
  WHILE (SELECT phase FROM deletion.deletion_jobs WHERE id = job_id) = 'plan' AND n < 500 LOOP
    PERFORM deletion.run_chunk(job_id, 1000, 0);
    n := n + 1;
    INSERT INTO planning SELECT job_id, n, j.plan_step, j.plan_slice FROM deletion.deletion_jobs j WHERE j.id = job_id;
  END LOOP;
END
$$;
SELECT pg_temp.plan_at_0_ms(:job);
SELECT cmp_ok((SELECT count(*)::int FROM planning WHERE job_id = :job AND slice ->> 'pass' = '0' AND (slice ->> 'page')::int > 0), '>=', 2,
              'the posts'' first pass took several chunks, each ending part-way through the table');
SELECT is((SELECT (slice ->> 'page')::int FROM planning WHERE job_id = :job AND slice IS NOT NULL ORDER BY n LIMIT 1), 128,
          'the first range is 128 pages');
SELECT ok((SELECT bool_and(slice ?& ARRAY['slice_ms', 'least_ms', 'most_pages']) FROM planning
             WHERE job_id = :job AND slice ->> 'pass' = '0' AND (slice ->> 'page')::int > 0),
          'a pass part-way keeps what sizes its next range: the last range''s time, the cheapest statement, the biggest range');
SELECT is((SELECT max((slice ->> 'pass')::int) FROM planning WHERE job_id = :job), 3,
          'the walk went three passes deep: the reply across topics, the reply to it, and a pass that found nothing');
SELECT is((SELECT phase || ' ' || rows_planned FROM deletion.deletion_jobs WHERE id = :job), 'delete 10002',
          'the plan holds each of the 10,000 posts of topic one and the 2 below them once');
SELECT format('deletion_work.job_%s_1', :job) AS posts_plan \gset
SELECT is((SELECT count(DISTINCT id)::int FROM :posts_plan), 10002, 'and no post twice');
SELECT is((SELECT reloptions FROM pg_class WHERE oid = :'posts_plan'::regclass), ARRAY['autovacuum_enabled=false'],
          'a plan table is left alone by autovacuum (its steps analyze it; the last chunk drops it without waiting)');
SELECT is((SELECT array_agg(id ORDER BY ctid DESC) FROM (SELECT id, ctid FROM :posts_plan ORDER BY ctid DESC LIMIT 2) last_rows),
          ARRAY[20002, 20001], 'the walk''s rows are stored last, the deeper first: they are deleted first');

-- The job deletes the tree, the edited posts' replies included (taken by their cascade when a
-- post stored after them goes first).
DO $$
BEGIN
  WHILE (SELECT status FROM deletion.deletion_jobs WHERE entity_table = 'slices.topics') = 'running' LOOP
    PERFORM deletion.run_chunk(j.id, 5000, 1000) FROM deletion.deletion_jobs j WHERE j.entity_table = 'slices.topics';
  END LOOP;
END
$$;
SELECT is((SELECT status FROM deletion.deletion_jobs WHERE id = :job), 'done', 'the job is done');
SELECT is((SELECT count(*)::int FROM slices.posts WHERE topic_id = 1 OR id > 20000), 0, 'every post of the tree is gone');
SELECT is((SELECT count(*)::int FROM slices.posts), 10000, 'topic two keeps its 10,000 posts outside the tree');

-- A soft job on the product is planned in ranges too: 2 workspaces of 3,000 issues with 3 comments
-- each (a few hundred pages of each table), worked at 0 ms a chunk until planned.
INSERT INTO users (id, email, name) OVERRIDING SYSTEM VALUE VALUES (1, 'ann@example.com', 'Ann');
INSERT INTO workspaces (id, name, slug) OVERRIDING SYSTEM VALUE VALUES (1, 'Acme', 'acme'), (2, 'Globex', 'globex');
INSERT INTO issues (id, workspace_id, creator_id, title, status) OVERRIDING SYSTEM VALUE
SELECT g, 1 + g % 2, 1, 'issue number ' || g || repeat('.', 100), 'todo' FROM generate_series(1, 6000) g;
INSERT INTO comments (issue_id, author_id, body) SELECT i.id, 1, 'comment ' || n || repeat('.', 100) FROM issues i, generate_series(1, 3) n;
SELECT deletion.schedule('public.workspaces', '1', reason => 'closing') AS soft_job \gset
SELECT is((deletion.claim_job('test')).id, :'soft_job'::bigint, 'the soft job is claimed');
SELECT pg_temp.plan_at_0_ms(:soft_job);
SELECT is((SELECT (count(*) FILTER (WHERE p.slice ->> 'pass' = '0' AND (p.slice ->> 'page')::int > 0) > 1)::text || ' ' || j.rows_planned
             FROM deletion.deletion_jobs j JOIN planning p ON p.job_id = j.id WHERE j.id = :soft_job GROUP BY j.rows_planned), 'true 12000',
          'planned in ranges of pages: the workspace''s 3,000 issues and their 9,000 comments');

SELECT * FROM finish();
ROLLBACK;

-- Milestone and label statistics (open_issue_count / total_issue_count): kept right by
-- statement-level triggers with transition tables through every insert, update, delete, CASCADE and
-- SET NULL, including the cascades that delete the very milestone or label being recounted.
BEGIN;
SELECT plan(41);
-- These scenarios test the foreign keys' own actions, that is hard deletes. Migration 0011 makes a
-- plain DELETE on users, workspaces, projects, issues and comments a soft delete; as the superuser
-- running the tests, deletion.mode = 'hard' lets the real DELETE through (docs/soft_delete.md).
SET LOCAL deletion.mode = 'hard';

-- Milestones and labels whose stored statistics differ from a recount (empty when all are right).
CREATE FUNCTION public.test_product_wrong_statistics() RETURNS TABLE (kind text, id bigint, stored text, actual text)
LANGUAGE sql AS $$
  SELECT 'milestone', m.id, m.open_issue_count || '/' || m.total_issue_count, c.o || '/' || c.t
    FROM milestones m
   CROSS JOIN LATERAL (SELECT count(*) FILTER (WHERE i.status NOT IN ('done', 'canceled')) AS o, count(*) AS t
                         FROM issues i WHERE i.milestone_id = m.id) c
   WHERE (m.open_issue_count, m.total_issue_count) <> (c.o, c.t)
  UNION ALL
  SELECT 'label', l.id, l.open_issue_count || '/' || l.total_issue_count, c.o || '/' || c.t
    FROM labels l
   CROSS JOIN LATERAL (SELECT count(*) FILTER (WHERE i.status NOT IN ('done', 'canceled')) AS o, count(*) AS t
                         FROM issue_label_relations r JOIN issues i ON i.id = r.issue_id WHERE r.label_id = l.id) c
   WHERE (l.open_issue_count, l.total_issue_count) <> (c.o, c.t)
$$;

-- The stored counts of this test's milestones and labels, as 'name open/total'.
CREATE FUNCTION public.test_counts() RETURNS TABLE (name text, counts text)
LANGUAGE sql AS $$
  SELECT name, open_issue_count || '/' || total_issue_count FROM milestones WHERE name LIKE 'st-%'
  UNION ALL
  SELECT name, open_issue_count || '/' || total_issue_count FROM labels WHERE name LIKE 'st-%'
  ORDER BY 1
$$;

-- ---------------------------------------------------------------------------------------------
-- The wiring: statement-level AFTER triggers with transition tables, functions with a pinned path.
-- ---------------------------------------------------------------------------------------------
SELECT results_eq(
  $$ SELECT c.relname::text COLLATE "default", t.tgname::text COLLATE "default",
            (t.tgtype & 1) = 0 AS statement_level, (t.tgtype & 2) = 0 AS after,
            t.tgoldtable IS NOT NULL AS old_table, t.tgnewtable IS NOT NULL AS new_table
       FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
      WHERE c.relname IN ('issues', 'issue_label_relations') AND c.relnamespace = 'public'::regnamespace
        AND NOT t.tgisinternal AND t.tgname LIKE '%statistics%'
      ORDER BY 1, 2 $$,
  $$ VALUES ('issue_label_relations', 'issue_label_relations_label_statistics_delete', true, true, true,  false),
            ('issue_label_relations', 'issue_label_relations_label_statistics_insert', true, true, false, true),
            ('issue_label_relations', 'issue_label_relations_label_statistics_update', true, true, true,  true),
            ('issues',                'issues_label_statistics_delete',                true, true, true,  false),
            ('issues',                'issues_label_statistics_update',                true, true, true,  true),
            ('issues',                'issues_milestone_statistics_delete',            true, true, true,  false),
            ('issues',                'issues_milestone_statistics_insert',            true, true, false, true),
            ('issues',                'issues_milestone_statistics_update',            true, true, true,  true) $$,
  'statistics are kept by statement-level AFTER triggers reading transition tables'
);
SELECT is_empty(
  $$ SELECT p.proname FROM pg_proc p
      WHERE p.pronamespace = 'public'::regnamespace AND p.proname LIKE 'product\_%'
        AND p.proconfig IS DISTINCT FROM ARRAY['search_path=pg_catalog, public'] $$,
  'the statistics functions pin search_path = pg_catalog, public'
);
SELECT is(
  (SELECT count(*)::integer FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND proname LIKE 'product\_%'), 6,
  'six statistics functions: two counting by difference, one starting new rows at zero (the triggers), one making the table of deleted issues'' statuses, and two recounts (repair)'
);

-- ---------------------------------------------------------------------------------------------
-- A small workspace: project st-P with milestones st-M1, st-M2; project st-Q with st-M3;
-- labels st-L1, st-L2.
-- ---------------------------------------------------------------------------------------------
INSERT INTO workspaces (name, slug) VALUES ('st', 'st');
INSERT INTO users (email, name) VALUES ('st@example.com', 'st-user');
INSERT INTO projects (workspace_id, name) SELECT id, 'st-P' FROM workspaces WHERE slug = 'st';
INSERT INTO projects (workspace_id, name) SELECT id, 'st-Q' FROM workspaces WHERE slug = 'st';
INSERT INTO milestones (project_id, name) SELECT id, 'st-M1' FROM projects WHERE name = 'st-P';
INSERT INTO milestones (project_id, name) SELECT id, 'st-M2' FROM projects WHERE name = 'st-P';
INSERT INTO milestones (project_id, name) SELECT id, 'st-M3' FROM projects WHERE name = 'st-Q';
INSERT INTO labels (workspace_id, name) SELECT id, 'st-L1' FROM workspaces WHERE slug = 'st';
INSERT INTO labels (workspace_id, name) SELECT id, 'st-L2' FROM workspaces WHERE slug = 'st';

SELECT results_eq($$ SELECT * FROM test_counts() $$,
  $$ VALUES ('st-L1', '0/0'), ('st-L2', '0/0'), ('st-M1', '0/0'), ('st-M2', '0/0'), ('st-M3', '0/0') $$,
  'new milestones and labels start at 0/0');
INSERT INTO labels (workspace_id, name, open_issue_count, total_issue_count) SELECT id, 'st-L0', 7, 9 FROM workspaces WHERE slug = 'st';
SELECT results_eq($$ SELECT counts FROM test_counts() WHERE name = 'st-L0' $$, $$ VALUES ('0/0') $$,
  'a label inserted with counts (as an audit restore does) starts at 0/0 all the same');
DELETE FROM labels WHERE name = 'st-L0';

-- Inserting issues: one statement, several milestones, open and closed.
INSERT INTO issues (workspace_id, project_id, milestone_id, creator_id, title, status)
SELECT w.id, m.project_id, m.id, u.id, v.title, v.status
  FROM (VALUES ('st-a', 'st-M1', 'todo'), ('st-b', 'st-M1', 'in_progress'), ('st-c', 'st-M1', 'done'),
               ('st-d', 'st-M2', 'canceled'), ('st-e', 'st-M3', 'backlog'), ('st-f', 'st-M3', 'done'),
               ('st-g', NULL, 'todo')) AS v(title, milestone, status)
  JOIN workspaces w ON w.slug = 'st' JOIN users u ON u.name = 'st-user'
  LEFT JOIN milestones m ON m.name = v.milestone;

SELECT results_eq($$ SELECT * FROM test_counts() WHERE name LIKE 'st-M%' $$,
  $$ VALUES ('st-M1', '2/3'), ('st-M2', '0/1'), ('st-M3', '1/2') $$,
  'inserting issues counts them in their milestones, done and canceled ones as closed');

-- Labelling issues.
INSERT INTO issue_label_relations (issue_id, label_id)
SELECT i.id, l.id FROM issues i JOIN labels l ON l.name = 'st-L1' WHERE i.title IN ('st-a', 'st-b', 'st-c', 'st-d')
UNION ALL
SELECT i.id, l.id FROM issues i JOIN labels l ON l.name = 'st-L2' WHERE i.title IN ('st-a', 'st-e', 'st-f', 'st-g');

SELECT results_eq($$ SELECT * FROM test_counts() WHERE name LIKE 'st-L%' $$,
  $$ VALUES ('st-L1', '2/4'), ('st-L2', '3/4') $$,
  'labelling issues counts them in their labels');

-- Status changes.
UPDATE issues SET status = 'done' WHERE title = 'st-a';
SELECT results_eq($$ SELECT * FROM test_counts() $$,
  $$ VALUES ('st-L1', '1/4'), ('st-L2', '2/4'), ('st-M1', '1/3'), ('st-M2', '0/1'), ('st-M3', '1/2') $$,
  'closing an issue moves it from open to closed in its milestone and in every label it carries');

UPDATE issues SET status = 'todo' WHERE title IN ('st-d', 'st-f');
SELECT results_eq($$ SELECT * FROM test_counts() $$,
  $$ VALUES ('st-L1', '2/4'), ('st-L2', '3/4'), ('st-M1', '1/3'), ('st-M2', '1/1'), ('st-M3', '2/2') $$,
  'reopening issues in two milestones at once counts both');

UPDATE issues SET status = 'canceled' WHERE title = 'st-c';
SELECT results_eq($$ SELECT * FROM test_counts() $$,
  $$ VALUES ('st-L1', '2/4'), ('st-L2', '3/4'), ('st-M1', '1/3'), ('st-M2', '1/1'), ('st-M3', '2/2') $$,
  'a change between two closed statuses changes no count');

UPDATE issues SET title = title || ' (renamed)', description = 'x' WHERE title LIKE 'st-%';
UPDATE issues SET title = replace(title, ' (renamed)', '') WHERE title LIKE 'st-%';
SELECT results_eq($$ SELECT * FROM test_counts() $$,
  $$ VALUES ('st-L1', '2/4'), ('st-L2', '3/4'), ('st-M1', '1/3'), ('st-M2', '1/1'), ('st-M3', '2/2') $$,
  'updating other columns changes no count');

-- Moving issues between milestones.
UPDATE issues SET milestone_id = (SELECT id FROM milestones WHERE name = 'st-M2') WHERE title = 'st-b';
SELECT results_eq($$ SELECT * FROM test_counts() WHERE name LIKE 'st-M%' $$,
  $$ VALUES ('st-M1', '0/2'), ('st-M2', '2/2'), ('st-M3', '2/2') $$,
  'moving an issue to another milestone counts it there and no longer in the old one');

UPDATE issues SET milestone_id = (SELECT id FROM milestones WHERE name = 'st-M1') WHERE title = 'st-g';
UPDATE issues SET milestone_id = NULL WHERE title = 'st-e';
SELECT results_eq($$ SELECT * FROM test_counts() WHERE name LIKE 'st-M%' $$,
  $$ VALUES ('st-M1', '1/3'), ('st-M2', '2/2'), ('st-M3', '1/1') $$,
  'putting an issue into a milestone and taking one out of a milestone count both ways');

-- Changing and removing labels.
UPDATE issue_label_relations SET label_id = (SELECT id FROM labels WHERE name = 'st-L2')
 WHERE issue_id = (SELECT id FROM issues WHERE title = 'st-b')
   AND label_id = (SELECT id FROM labels WHERE name = 'st-L1');
SELECT results_eq($$ SELECT * FROM test_counts() WHERE name LIKE 'st-L%' $$,
  $$ VALUES ('st-L1', '1/3'), ('st-L2', '4/5') $$,
  'moving a label relation to another label counts it there and no longer in the old one');

DELETE FROM issue_label_relations
 WHERE label_id = (SELECT id FROM labels WHERE name = 'st-L2')
   AND issue_id IN (SELECT id FROM issues WHERE title IN ('st-a', 'st-e'));
SELECT results_eq($$ SELECT * FROM test_counts() WHERE name LIKE 'st-L%' $$,
  $$ VALUES ('st-L1', '1/3'), ('st-L2', '3/3') $$,
  'removing labels from issues uncounts them');

SELECT is_empty($$ SELECT * FROM test_product_wrong_statistics() $$, 'statistics agree with a recount after inserts and updates');

-- ---------------------------------------------------------------------------------------------
-- Deletes, and the cascades that delete what is being recounted.
-- ---------------------------------------------------------------------------------------------
DELETE FROM issues WHERE title = 'st-g';   -- open, in st-M1, carries st-L2
SELECT results_eq($$ SELECT * FROM test_counts() $$,
  $$ VALUES ('st-L1', '1/3'), ('st-L2', '2/2'), ('st-M1', '0/2'), ('st-M2', '2/2'), ('st-M3', '1/1') $$,
  'deleting an issue uncounts it from its milestone and, through the cascade to its label relations, from its labels');

-- A closed issue carrying two labels: its relations leave with its delete's cascade, when the issue
-- is already gone; they are put aside and uncounted by the issues' own trigger, from the totals only.
INSERT INTO issues (workspace_id, project_id, milestone_id, creator_id, title, status)
SELECT w.id, m.project_id, m.id, u.id, 'st-z', 'done'
  FROM workspaces w, milestones m, users u WHERE w.slug = 'st' AND m.name = 'st-M1' AND u.name = 'st-user';
INSERT INTO issue_label_relations (issue_id, label_id)
SELECT i.id, l.id FROM issues i, labels l WHERE i.title = 'st-z' AND l.name IN ('st-L1', 'st-L2');
SELECT results_eq($$ SELECT * FROM test_counts() WHERE name IN ('st-L1', 'st-L2', 'st-M1') $$,
  $$ VALUES ('st-L1', '1/4'), ('st-L2', '2/3'), ('st-M1', '0/3') $$,
  'labelling a closed issue counts it in the totals only');
DELETE FROM issue_label_relations WHERE issue_id = (SELECT id FROM issues WHERE title = 'st-z') AND label_id = (SELECT id FROM labels WHERE name = 'st-L2');
SELECT results_eq($$ SELECT * FROM test_counts() WHERE name LIKE 'st-L%' $$,
  $$ VALUES ('st-L1', '1/4'), ('st-L2', '2/2') $$,
  'taking a label off a closed issue uncounts it from the total only');
DELETE FROM issues WHERE title = 'st-z';
SELECT results_eq($$ SELECT * FROM test_counts() WHERE name IN ('st-L1', 'st-L2', 'st-M1') $$,
  $$ VALUES ('st-L1', '1/3'), ('st-L2', '2/2'), ('st-M1', '0/2') $$,
  'deleting a closed issue uncounts it from the totals of its milestone and of its labels, not from the open counts');
SELECT results_eq($$ SELECT closed, count(*)::integer FROM pg_temp.product_deleted_issue_statuses GROUP BY 1 ORDER BY 1 $$,
  $$ VALUES (false, 1), (true, 1) $$,
  'each issue delete notes its issues'' status for the cascade to their relations (a temporary table emptied at commit)');
SELECT is((SELECT array_agg(a.attname::text) FROM pg_index x JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = ANY (x.indkey)
            WHERE x.indrelid = 'pg_temp.product_deleted_issue_statuses'::regclass AND x.indisprimary), ARRAY['id'],
  'the noted statuses are keyed by issue id (the cascade looks each relation''s issue up there, not by a scan)');
-- The same issue deleted twice in one transaction, open the first time and closed the second (an
-- audit restore re-inserts a deleted row with its id): its label loses it from the total only.
INSERT INTO issues (id, workspace_id, project_id, milestone_id, creator_id, title, status) OVERRIDING SYSTEM VALUE
SELECT 990001, w.id, m.project_id, m.id, u.id, 'st-twice', 'todo'
  FROM workspaces w, milestones m, users u WHERE w.slug = 'st' AND m.name = 'st-M1' AND u.name = 'st-user';
INSERT INTO issue_label_relations (issue_id, label_id) SELECT 990001, l.id FROM labels l WHERE l.name = 'st-L1';
DELETE FROM issues WHERE id = 990001;
INSERT INTO issues (id, workspace_id, project_id, milestone_id, creator_id, title, status) OVERRIDING SYSTEM VALUE
SELECT 990001, w.id, m.project_id, m.id, u.id, 'st-twice', 'done'
  FROM workspaces w, milestones m, users u WHERE w.slug = 'st' AND m.name = 'st-M1' AND u.name = 'st-user';
INSERT INTO issue_label_relations (issue_id, label_id) SELECT 990001, l.id FROM labels l WHERE l.name = 'st-L1';
DELETE FROM issues WHERE id = 990001;
SELECT results_eq($$ SELECT * FROM test_counts() WHERE name IN ('st-L1', 'st-M1') $$,
  $$ VALUES ('st-L1', '1/3'), ('st-M1', '0/2') $$,
  'an issue deleted open, re-inserted closed and deleted again in one transaction: its label keeps the right counts');

SELECT lives_ok($$ DELETE FROM milestones WHERE name = 'st-M2' $$,
                'deleting a milestone with issues works (SET NULL recounts a milestone that is gone)');
SELECT results_eq(
  $$ SELECT title, milestone_id IS NULL FROM issues WHERE title IN ('st-b', 'st-d') ORDER BY 1 $$,
  $$ VALUES ('st-b', true), ('st-d', true) $$,
  'deleting a milestone sets milestone_id NULL on its issues');
SELECT results_eq($$ SELECT * FROM test_counts() $$,
  $$ VALUES ('st-L1', '1/3'), ('st-L2', '2/2'), ('st-M1', '0/2'), ('st-M3', '1/1') $$,
  'deleting a milestone leaves the other statistics alone');

-- The case the triggers must survive: one DELETE of a project deletes its milestones (CASCADE) and,
-- in the same command, sets issues.milestone_id NULL, whose trigger recounts the deleted milestones.
-- st-c moves to st-Q but stays in st-P's milestone st-M1: the same cascade sets its project_id NULL,
-- and that update must leave st-M1's counts alone.
UPDATE issues SET project_id = (SELECT id FROM projects WHERE name = 'st-Q') WHERE title = 'st-c';
SELECT lives_ok($$ DELETE FROM projects WHERE name = 'st-Q' $$,
                'deleting a project whose milestone holds issues works (the milestone is gone when its issues are recounted)');
SELECT results_eq(
  $$ SELECT title, project_id IS NULL, milestone_id IS NULL FROM issues WHERE title IN ('st-c', 'st-f') ORDER BY 1 $$,
  $$ VALUES ('st-c', true, false), ('st-f', true, true) $$,
  'deleting a project sets project_id NULL on its issues, and milestone_id NULL only where the milestone was its own');
SELECT results_eq($$ SELECT * FROM test_counts() $$,
  $$ VALUES ('st-L1', '1/3'), ('st-L2', '2/2'), ('st-M1', '0/2') $$,
  'deleting a project removes its milestones and leaves the other statistics alone');

SELECT lives_ok($$ DELETE FROM labels WHERE name = 'st-L1' $$,
                'deleting a label with issues works (the cascade to its relations recounts a label that is gone)');
SELECT results_eq($$ SELECT * FROM test_counts() $$,
  $$ VALUES ('st-L2', '2/2'), ('st-M1', '0/2') $$,
  'deleting a label leaves the other statistics alone');

SELECT is_empty($$ SELECT * FROM test_product_wrong_statistics() $$, 'statistics agree with a recount after deletes and cascades');

-- Issues created from nothing but a milestone already done.
INSERT INTO issues (workspace_id, project_id, milestone_id, creator_id, title, status)
SELECT m.id, p.id, ms.id, u.id, 'st-h', 'done'
  FROM workspaces m, projects p, milestones ms, users u
 WHERE m.slug = 'st' AND p.name = 'st-P' AND ms.name = 'st-M1' AND u.name = 'st-user';
SELECT results_eq($$ SELECT * FROM test_counts() WHERE name = 'st-M1' $$, $$ VALUES ('st-M1', '0/3') $$,
  'an issue created as done counts only in the total');

-- A second workspace's statistics survive the first one's deletion.
INSERT INTO workspaces (name, slug) VALUES ('st2', 'st2');
INSERT INTO projects (workspace_id, name) SELECT id, 'st2-P' FROM workspaces WHERE slug = 'st2';
INSERT INTO milestones (project_id, name) SELECT id, 'st-M9' FROM projects WHERE name = 'st2-P';
INSERT INTO labels (workspace_id, name) SELECT id, 'st-L9' FROM workspaces WHERE slug = 'st2';
INSERT INTO issues (workspace_id, project_id, milestone_id, creator_id, title, status)
SELECT w.id, p.id, m.id, u.id, 'st2-' || s, CASE WHEN s % 2 = 0 THEN 'done' ELSE 'todo' END
  FROM workspaces w, projects p, milestones m, users u, generate_series(1, 5) s
 WHERE w.slug = 'st2' AND p.name = 'st2-P' AND m.name = 'st-M9' AND u.name = 'st-user';
INSERT INTO issue_label_relations (issue_id, label_id)
SELECT i.id, l.id FROM issues i, labels l WHERE i.title LIKE 'st2-%' AND l.name = 'st-L9';

SELECT lives_ok($$ DELETE FROM workspaces WHERE slug = 'st' $$, 'deleting a workspace with statistics works');
SELECT results_eq($$ SELECT * FROM test_counts() $$,
  $$ VALUES ('st-L9', '3/5'), ('st-M9', '3/5') $$,
  'deleting a workspace removes its milestones and labels and leaves another workspace''s statistics');

SELECT lives_ok($$ UPDATE issues SET status = status WHERE false $$, 'an issue update that touches no row fires the triggers harmlessly');
SELECT lives_ok($$ DELETE FROM issues WHERE false $$, 'an issue delete that touches no row fires the triggers harmlessly');

-- ---------------------------------------------------------------------------------------------
-- The recount functions: skip ids that are gone, and repair counts written by hand.
-- ---------------------------------------------------------------------------------------------
SELECT lives_ok($$ SELECT product_recount_milestones(ARRAY[-1, NULL]::bigint[]) $$, 'recounting a milestone that does not exist is a no-op');
SELECT lives_ok($$ SELECT product_recount_labels(ARRAY[]::bigint[]) $$, 'recounting no labels is a no-op');

UPDATE milestones SET open_issue_count = 0, total_issue_count = 0 WHERE name = 'st-M9';
UPDATE labels SET open_issue_count = 5, total_issue_count = 5 WHERE name = 'st-L9';
DO $$ BEGIN
  PERFORM product_recount_milestones(array_agg(id)) FROM milestones;
  PERFORM product_recount_labels(array_agg(id)) FROM labels;
END $$;
SELECT results_eq($$ SELECT * FROM test_counts() $$,
  $$ VALUES ('st-L9', '3/5'), ('st-M9', '3/5') $$,
  'the recount functions repair counts that were written by hand');

SELECT is_empty($$ SELECT * FROM test_product_wrong_statistics() $$, 'statistics agree with a recount at the end');

SELECT * FROM finish();
ROLLBACK;

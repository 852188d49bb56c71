-- Round trips on the product schema (seed 004): checksum every product table, delete, restore,
-- checksum again: identical, statistics (maintained by the product's triggers) included. A
-- workspace (everything cascades), a team (SET NULL on issues, comments, projects, labels), a
-- project (milestones cascade, issues lose project and milestone), an issue with a tree of
-- sub-issues and threaded comments; and a restore refused because a unique key was taken.
BEGIN;
SELECT plan(23);

-- Hard deletes: users, workspaces, projects, issues and comments are soft-delete tables (issue 3);
-- as a superuser the test takes the hard path, which is what the audit log restores.
SET LOCAL deletion.mode = 'hard';

\i bench/sql/generate_product_data.sql
SELECT count(*) FROM bench.generate_product_data(200, 2);

-- One checksum over every registered product table, each table's rows in text order.
CREATE FUNCTION pg_temp.product_checksum() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  t text;
  sums text := '';
  part text;
BEGIN
  FOR t IN SELECT format('%I.%I', table_schema, table_name) FROM deletion.table_policies WHERE table_schema = 'public' ORDER BY 1 LOOP
    EXECUTE format('SELECT md5(coalesce(string_agg(x::text, %L ORDER BY x::text), %L)) FROM %s x', '|', '', t) INTO part;
    sums := sums || t || ':' || part || ';';
  END LOOP;
  RETURN md5(sums);
END
$$;
CREATE TEMP TABLE original AS SELECT pg_temp.product_checksum() AS checksum;
SELECT is((SELECT array_agg(tp.table_name::text ORDER BY tp.table_name) FROM deletion.table_policies tp
            WHERE tp.table_schema = 'public'
              AND NOT EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = format('%I.%I', tp.table_schema, tp.table_name)::regclass
                                                         AND t.tgname = 'deletion_50_audit_delete')),
          NULL, 'every product table is audited');
SELECT ok((SELECT count(*) FROM public.issues WHERE parent_issue_id IS NOT NULL) > 0
      AND (SELECT count(*) FROM public.comments WHERE parent_comment_id IS NOT NULL) > 0
      AND (SELECT count(*) FROM public.issues WHERE parent_comment_id IS NOT NULL) > 0,
          'the data has sub-issues, threaded comments and issues created from comments (the issues <-> comments cycle)');

-- a workspace
CREATE TEMP TABLE workspace_rows AS
  SELECT (SELECT count(*) FROM public.issues WHERE workspace_id = 1) AS issues,
         (SELECT count(*) FROM public.comments c JOIN public.issues i ON i.id = c.issue_id WHERE i.workspace_id = 1) AS comments;
DELETE FROM public.workspaces WHERE id = 1;
SELECT is((SELECT count(*) FROM audit.log WHERE table_name = 'public.issues' AND action = 'DELETE'), (SELECT issues FROM workspace_rows),
          'the workspace delete logged every issue');
SELECT is((SELECT count(*) FROM audit.log WHERE table_name = 'public.comments' AND action = 'DELETE'), (SELECT comments FROM workspace_rows),
          'and every comment');
SELECT is((SELECT count(*)::int FROM (SELECT table_name, record_id FROM audit.log WHERE action = 'DELETE' GROUP BY 1, 2 HAVING count(*) > 1) d), 0,
          'each deleted row exactly once');
SELECT lives_ok($$ SELECT * FROM audit.restore_deleted('public.workspaces', '1') $$, 'restore_deleted of the workspace');
SELECT is(pg_temp.product_checksum(), (SELECT checksum FROM original), 'every product table is identical after the workspace round trip');
SELECT ok((SELECT bool_and(p.rank < c.rank)
             FROM (VALUES ('public.workspaces', 'public.teams'), ('public.teams', 'public.projects'), ('public.projects', 'public.issues'),
                          ('public.comments', 'public.comment_reactions'), ('public.issues', 'public.issue_label_relations'),
                          ('public.labels', 'public.issue_label_relations')) v(parent, child)
             JOIN pg_temp.audit_restore_tables p ON p.target = v.parent::regclass
             JOIN pg_temp.audit_restore_tables c ON c.target = v.child::regclass),
          'the restore ranks every parent table below its children');
SELECT results_eq($$ SELECT target, ARRAY(SELECT x FROM unnest(cycle_tables) x ORDER BY x::text) FROM pg_temp.audit_restore_tables
                      WHERE cardinality(cycle_tables) > 0 ORDER BY target::text $$,
                  $$ VALUES ('public.comments'::regclass, ARRAY['public.comments'::regclass, 'public.issues']),
                            ('public.issues'::regclass, ARRAY['public.comments'::regclass, 'public.issues']) $$,
                  'issues and comments form the one cycle of tables (each also references itself)');
SELECT is((SELECT count(*)::int FROM pg_temp.audit_restore_edges e JOIN pg_temp.audit_restore_rows c ON c.row_id = e.child
            WHERE c.target NOT IN ('public.issues'::regclass, 'public.comments'::regclass)), 0,
          'rows are ordered one by one only inside that cycle');

-- a team: its issues, comments, projects and labels lose team_id (SET NULL), its memberships go
SELECT ok((SELECT count(*) FROM public.issues i JOIN public.teams t ON t.id = i.team_id WHERE t.workspace_id = 2 AND t.id = (SELECT min(id) FROM public.teams WHERE workspace_id = 2)) > 0,
          'the team has issues');
SELECT id AS team_id FROM public.teams WHERE workspace_id = 2 ORDER BY id LIMIT 1 \gset
DELETE FROM public.teams WHERE id = :team_id;
SELECT is((SELECT count(*)::int FROM public.issues WHERE team_id = :team_id), 0, 'the team delete set team_id NULL on its issues');
SELECT ok((SELECT count(*) FROM audit.log WHERE table_name = 'public.issues' AND action = 'UPDATE' AND changed = '{"team_id": null}') > 0,
          'and those SET NULL updates are logged');
SELECT lives_ok(format('SELECT * FROM audit.restore_deleted(%L, %L)', 'public.teams', :team_id), 'restore_deleted of the team');
SELECT is(pg_temp.product_checksum(), (SELECT checksum FROM original), 'every product table is identical after the team round trip (team_id re-linked)');

-- a project: milestones cascade, issues lose project_id and milestone_id; milestone statistics
SELECT id AS project_id FROM public.projects WHERE workspace_id = 2 AND id IN (SELECT project_id FROM public.milestones WHERE total_issue_count > 0) ORDER BY id LIMIT 1 \gset
DELETE FROM public.projects WHERE id = :project_id;
SELECT lives_ok(format('SELECT * FROM audit.restore_deleted(%L, %L)', 'public.projects', :project_id), 'restore_deleted of a project');
SELECT is(pg_temp.product_checksum(), (SELECT checksum FROM original),
          'identical after the project round trip, milestone statistics included');

-- an issue with sub-issues (SET NULL) and a thread of comments (CASCADE)
SELECT i.id AS issue_id FROM public.issues i
 WHERE EXISTS (SELECT FROM public.issues s WHERE s.parent_issue_id = i.id)
   AND EXISTS (SELECT FROM public.comments c WHERE c.issue_id = i.id AND c.parent_comment_id IS NOT NULL)
 ORDER BY i.id LIMIT 1 \gset
DELETE FROM public.issues WHERE id = :issue_id;
SELECT lives_ok(format('SELECT * FROM audit.restore_deleted(%L, %L)', 'public.issues', :issue_id), 'restore_deleted of an issue with sub-issues and a thread');
SELECT is(pg_temp.product_checksum(), (SELECT checksum FROM original), 'identical after the issue round trip (sub-issues re-linked, thread back in order)');

-- several statements of one transaction, undone by restore_transaction (here the test's own
-- transaction: the statements restored above are skipped)
DELETE FROM public.issues WHERE id IN (SELECT id FROM public.issues WHERE workspace_id = 2 ORDER BY id LIMIT 3);
DELETE FROM public.labels WHERE id = (SELECT min(id) FROM public.labels WHERE workspace_id = 2);
SELECT lives_ok($$ SELECT * FROM audit.restore_transaction(pg_current_xact_id()::text::bigint) $$, 'restore_transaction of the rest');
SELECT is(pg_temp.product_checksum(), (SELECT checksum FROM original), 'identical after restore_transaction (label statistics included)');

-- refused: the workspace's unique slug was taken meanwhile
DELETE FROM public.workspaces WHERE id = 2;
INSERT INTO public.workspaces (name, slug) SELECT 'squatter', slug FROM (SELECT old_data ->> 'slug' AS slug FROM audit.log
                                                                          WHERE table_name = 'public.workspaces' AND record_id = '2' AND action = 'DELETE') s;
CREATE TEMP TABLE taken AS SELECT pg_temp.product_checksum() AS checksum;
SELECT throws_ok($$ SELECT * FROM audit.restore_deleted('public.workspaces', '2') $$, 'PD202', NULL,
                 'a restore whose unique key (workspaces.slug) was taken meanwhile is refused');
SELECT is(pg_temp.product_checksum(), (SELECT checksum FROM taken), 'and changes nothing at all');

SELECT * FROM finish();
ROLLBACK;

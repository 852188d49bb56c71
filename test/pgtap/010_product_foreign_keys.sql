-- The product schema's static shape (migration 0002): every foreign key, its ON DELETE action and
-- its index; the comments the docs are generated from; the policy registry rows; the grants.
BEGIN;
SELECT plan(45);

-- ---------------------------------------------------------------------------------------------
-- Every foreign key points where it should (fk_ok), one assertion each.
-- ---------------------------------------------------------------------------------------------
SELECT fk_ok('public', 'workspace_memberships', 'workspace_id',      'public', 'workspaces',  'id', 'workspace_memberships.workspace_id references workspaces');
SELECT fk_ok('public', 'workspace_memberships', 'user_id',           'public', 'users',       'id', 'workspace_memberships.user_id references users');
SELECT fk_ok('public', 'teams',                 'workspace_id',      'public', 'workspaces',  'id', 'teams.workspace_id references workspaces');
SELECT fk_ok('public', 'team_memberships',      'team_id',           'public', 'teams',       'id', 'team_memberships.team_id references teams');
SELECT fk_ok('public', 'team_memberships',      'user_id',           'public', 'users',       'id', 'team_memberships.user_id references users');
SELECT fk_ok('public', 'projects',              'workspace_id',      'public', 'workspaces',  'id', 'projects.workspace_id references workspaces');
SELECT fk_ok('public', 'projects',              'team_id',           'public', 'teams',       'id', 'projects.team_id references teams');
SELECT fk_ok('public', 'projects',              'lead_id',           'public', 'users',       'id', 'projects.lead_id references users');
SELECT fk_ok('public', 'milestones',            'project_id',        'public', 'projects',    'id', 'milestones.project_id references projects');
SELECT fk_ok('public', 'issues',                'workspace_id',      'public', 'workspaces',  'id', 'issues.workspace_id references workspaces');
SELECT fk_ok('public', 'issues',                'team_id',           'public', 'teams',       'id', 'issues.team_id references teams');
SELECT fk_ok('public', 'issues',                'project_id',        'public', 'projects',    'id', 'issues.project_id references projects');
SELECT fk_ok('public', 'issues',                'milestone_id',      'public', 'milestones',  'id', 'issues.milestone_id references milestones');
SELECT fk_ok('public', 'issues',                'assignee_id',       'public', 'users',       'id', 'issues.assignee_id references users');
SELECT fk_ok('public', 'issues',                'creator_id',        'public', 'users',       'id', 'issues.creator_id references users');
SELECT fk_ok('public', 'issues',                'parent_issue_id',   'public', 'issues',      'id', 'issues.parent_issue_id references issues (sub-issues)');
SELECT fk_ok('public', 'issues',                'parent_comment_id', 'public', 'comments',    'id', 'issues.parent_comment_id references comments (issue created from a comment)');
SELECT fk_ok('public', 'comments',              'issue_id',          'public', 'issues',      'id', 'comments.issue_id references issues');
SELECT fk_ok('public', 'comments',              'team_id',           'public', 'teams',       'id', 'comments.team_id references teams');
SELECT fk_ok('public', 'comments',              'author_id',         'public', 'users',       'id', 'comments.author_id references users');
SELECT fk_ok('public', 'comments',              'parent_comment_id', 'public', 'comments',    'id', 'comments.parent_comment_id references comments (threads)');
SELECT fk_ok('public', 'comment_reactions',     'comment_id',        'public', 'comments',    'id', 'comment_reactions.comment_id references comments');
SELECT fk_ok('public', 'comment_reactions',     'user_id',           'public', 'users',       'id', 'comment_reactions.user_id references users');
SELECT fk_ok('public', 'issue_subscriptions',   'issue_id',          'public', 'issues',      'id', 'issue_subscriptions.issue_id references issues');
SELECT fk_ok('public', 'issue_subscriptions',   'user_id',           'public', 'users',       'id', 'issue_subscriptions.user_id references users');
SELECT fk_ok('public', 'favorites',             'issue_id',          'public', 'issues',      'id', 'favorites.issue_id references issues');
SELECT fk_ok('public', 'favorites',             'user_id',           'public', 'users',       'id', 'favorites.user_id references users');
SELECT fk_ok('public', 'issue_links',           'issue_id',          'public', 'issues',      'id', 'issue_links.issue_id references issues');
SELECT fk_ok('public', 'issue_relations',       'issue_id',          'public', 'issues',      'id', 'issue_relations.issue_id references issues');
SELECT fk_ok('public', 'issue_relations',       'related_issue_id',  'public', 'issues',      'id', 'issue_relations.related_issue_id references issues');
SELECT fk_ok('public', 'labels',                'workspace_id',      'public', 'workspaces',  'id', 'labels.workspace_id references workspaces');
SELECT fk_ok('public', 'labels',                'team_id',           'public', 'teams',       'id', 'labels.team_id references teams');
SELECT fk_ok('public', 'issue_label_relations', 'issue_id',          'public', 'issues',      'id', 'issue_label_relations.issue_id references issues');
SELECT fk_ok('public', 'issue_label_relations', 'label_id',          'public', 'labels',      'id', 'issue_label_relations.label_id references labels');
SELECT fk_ok('public', 'attachments',           'issue_id',          'public', 'issues',      'id', 'attachments.issue_id references issues');

-- ---------------------------------------------------------------------------------------------
-- The whole list of foreign keys with their names and ON DELETE actions, and nothing more: a new
-- foreign key, a changed action or a renamed constraint fails here until this list is updated.
-- ---------------------------------------------------------------------------------------------
SELECT results_eq(
  $$ SELECT (SELECT relname FROM pg_class WHERE oid = c.conrelid)::text COLLATE "default"  AS table_name,
            a.attname::text COLLATE "default"                 AS column_name,
            (SELECT relname FROM pg_class WHERE oid = c.confrelid)::text COLLATE "default" AS references_table,
            c.conname::text COLLATE "default"                 AS constraint_name,
            CASE c.confdeltype WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL' WHEN 'r' THEN 'RESTRICT'
                               WHEN 'a' THEN 'NO ACTION' WHEN 'd' THEN 'SET DEFAULT' END AS on_delete
       FROM pg_constraint c
       JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
      WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
      ORDER BY 1, 2 $$,
  $$ VALUES
       ('attachments',           'issue_id',          'issues',     'fk_attachments_issue_id',                 'CASCADE'),
       ('comment_reactions',     'comment_id',        'comments',   'fk_comment_reactions_comment_id',         'CASCADE'),
       ('comment_reactions',     'user_id',           'users',      'fk_comment_reactions_user_id',            'CASCADE'),
       ('comments',              'author_id',         'users',      'fk_comments_author_id',                   'RESTRICT'),
       ('comments',              'issue_id',          'issues',     'fk_comments_issue_id',                    'CASCADE'),
       ('comments',              'parent_comment_id', 'comments',   'fk_comments_parent_comment_id',           'CASCADE'),
       ('comments',              'team_id',           'teams',      'fk_comments_team_id',                     'SET NULL'),
       ('favorites',             'issue_id',          'issues',     'fk_favorites_issue_id',                   'CASCADE'),
       ('favorites',             'user_id',           'users',      'fk_favorites_user_id',                    'CASCADE'),
       ('issue_label_relations', 'issue_id',          'issues',     'fk_issue_label_relations_issue_id',       'CASCADE'),
       ('issue_label_relations', 'label_id',          'labels',     'fk_issue_label_relations_label_id',       'CASCADE'),
       ('issue_links',           'issue_id',          'issues',     'fk_issue_links_issue_id',                 'CASCADE'),
       ('issue_relations',       'issue_id',          'issues',     'fk_issue_relations_issue_id',             'CASCADE'),
       ('issue_relations',       'related_issue_id',  'issues',     'fk_issue_relations_related_issue_id',     'CASCADE'),
       ('issue_subscriptions',   'issue_id',          'issues',     'fk_issue_subscriptions_issue_id',         'CASCADE'),
       ('issue_subscriptions',   'user_id',           'users',      'fk_issue_subscriptions_user_id',          'CASCADE'),
       ('issues',                'assignee_id',       'users',      'fk_issues_assignee_id',                   'SET NULL'),
       ('issues',                'creator_id',        'users',      'fk_issues_creator_id',                    'RESTRICT'),
       ('issues',                'milestone_id',      'milestones', 'fk_issues_milestone_id',                  'SET NULL'),
       ('issues',                'parent_comment_id', 'comments',   'fk_issues_parent_comment_id',             'SET NULL'),
       ('issues',                'parent_issue_id',   'issues',     'fk_issues_parent_issue_id',               'SET NULL'),
       ('issues',                'project_id',        'projects',   'fk_issues_project_id',                    'SET NULL'),
       ('issues',                'team_id',           'teams',      'fk_issues_team_id',                       'SET NULL'),
       ('issues',                'workspace_id',      'workspaces', 'fk_issues_workspace_id',                  'CASCADE'),
       ('labels',                'team_id',           'teams',      'fk_labels_team_id',                       'SET NULL'),
       ('labels',                'workspace_id',      'workspaces', 'fk_labels_workspace_id',                  'CASCADE'),
       ('milestones',            'project_id',        'projects',   'fk_milestones_project_id',                'CASCADE'),
       ('projects',              'lead_id',           'users',      'fk_projects_lead_id',                     'SET NULL'),
       ('projects',              'team_id',           'teams',      'fk_projects_team_id',                     'SET NULL'),
       ('projects',              'workspace_id',      'workspaces', 'fk_projects_workspace_id',                'CASCADE'),
       ('team_memberships',      'team_id',           'teams',      'fk_team_memberships_team_id',             'CASCADE'),
       ('team_memberships',      'user_id',           'users',      'fk_team_memberships_user_id',             'CASCADE'),
       ('teams',                 'workspace_id',      'workspaces', 'fk_teams_workspace_id',                   'CASCADE'),
       ('wiki_page_revisions',   'page_id',           'wiki_pages', 'fk_wiki_page_revisions_page_id',          'CASCADE'),
       ('wiki_pages',            'parent_page_id',    'wiki_pages', 'fk_wiki_pages_parent_page_id',            'SET NULL'),
       ('wiki_pages',            'workspace_id',      'workspaces', 'fk_wiki_pages_workspace_id',              'CASCADE'),
       ('workspace_memberships', 'user_id',           'users',      'fk_workspace_memberships_user_id',        'CASCADE'),
       ('workspace_memberships', 'workspace_id',      'workspaces', 'fk_workspace_memberships_workspace_id',   'CASCADE') $$,
  'the product has exactly these 38 foreign keys, each with its name and ON DELETE action'
);

SELECT is_empty(
  $$ SELECT conrelid::regclass, conname FROM pg_constraint
      WHERE contype = 'f' AND connamespace = 'public'::regnamespace AND confdeltype = 'a' $$,
  'no product foreign key is left at the default NO ACTION'
);

SELECT is_empty(
  $$ SELECT conrelid::regclass, conname FROM pg_constraint
      WHERE contype = 'f' AND connamespace = 'public'::regnamespace AND cardinality(conkey) <> 1 $$,
  'every product foreign key is on a single column'
);

-- An index "covers" a foreign key when its leading columns are exactly the key's columns (in any
-- order); without one, every cascaded delete or SET NULL scans the child table once per parent row.
SELECT is_empty(
  $$ SELECT c.conrelid::regclass, c.conname
       FROM pg_constraint c
      WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
        AND NOT EXISTS (
              SELECT 1 FROM pg_index i
               WHERE i.indrelid = c.conrelid AND i.indisvalid AND i.indpred IS NULL
                 AND (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(c.conkey)] @> c.conkey
                 AND (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(c.conkey)] <@ c.conkey) $$,
  'every foreign-key column has an index whose leading columns are the key''s columns'
);

SELECT col_is_pk('public', 'issue_label_relations', ARRAY['issue_id', 'label_id'],
                 'issue_label_relations is keyed by (issue_id, label_id), which also indexes issue_id');

-- ---------------------------------------------------------------------------------------------
-- Comments (the generated docs read them), registry rows, grants.
-- ---------------------------------------------------------------------------------------------
SELECT is_empty(
  $$ SELECT c.relname FROM pg_class c
      WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
        AND coalesce(obj_description(c.oid, 'pg_class'), '') = '' $$,
  'every product table has a comment'
);

SELECT is_empty(
  $$ SELECT c.relname, a.attname FROM pg_class c
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
        AND coalesce(col_description(c.oid, a.attnum), '') = '' $$,
  'every product column has a comment'
);

SELECT set_eq(
  $$ SELECT table_name::text FROM deletion.table_policies WHERE table_schema = 'public' AND description <> '' $$,
  $$ SELECT relname::text FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p') $$,
  'every product table, and only those, has a deletion policy with a description'
);

SELECT is_empty(
  $$ SELECT c.relname FROM pg_class c
      WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
        AND NOT (has_table_privilege('deletion_app', c.oid, 'SELECT') AND has_table_privilege('deletion_app', c.oid, 'INSERT')
                 AND has_table_privilege('deletion_app', c.oid, 'UPDATE') AND has_table_privilege('deletion_app', c.oid, 'DELETE')) $$,
  'deletion_app may select, insert, update and delete on every product table'
);

SELECT ok(has_schema_privilege('deletion_app', 'public', 'USAGE'), 'deletion_app may use schema public');

SELECT * FROM finish();
ROLLBACK;

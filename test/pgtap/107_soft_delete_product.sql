-- Soft delete on the product (migration 0011): users, workspaces, projects, issues and comments,
-- as the application role and as an admin; exactness of restore; statistics; unique email.
BEGIN;
SELECT plan(28);

CREATE ROLE sd107_app LOGIN IN ROLE deletion_app;

SELECT is(ARRAY(SELECT n.nspname || '.' || c.relname FROM deletion.soft_delete_tables() t JOIN pg_class c ON c.oid = t
                  JOIN pg_namespace n ON n.oid = c.relnamespace ORDER BY 1),
          ARRAY['public.comments', 'public.issues', 'public.projects', 'public.users', 'public.workspaces'],
          'the five product tables are soft-delete tables');
SELECT ok(bool_and(delete_becomes_soft AND plain_delete = 'refuse'), 'and a plain DELETE on each is taken over by the engine: refused')
  FROM deletion.table_policies WHERE soft_delete;
SELECT is((SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'public.users'::regclass AND conname = 'users_email_key'),
          'UNIQUE (email)',
          'users.email keeps its plain UNIQUE constraint users_email_key (a deleted user''s email steps aside)');

-- A small workspace.
INSERT INTO users (id, email, name) OVERRIDING SYSTEM VALUE VALUES (1, 'ann@example.com', 'Ann'), (2, 'ben@example.com', 'Ben');
INSERT INTO workspaces (id, name, slug) OVERRIDING SYSTEM VALUE VALUES (1, 'Acme', 'acme'), (2, 'Other', 'other');
INSERT INTO teams (id, workspace_id, name, key) OVERRIDING SYSTEM VALUE VALUES (1, 1, 'Eng', 'ENG');
INSERT INTO projects (id, workspace_id, team_id, name) OVERRIDING SYSTEM VALUE VALUES (1, 1, 1, 'Launch');
INSERT INTO milestones (id, project_id, name) OVERRIDING SYSTEM VALUE VALUES (1, 1, 'Beta');
INSERT INTO labels (id, workspace_id, name) OVERRIDING SYSTEM VALUE VALUES (1, 1, 'bug');
INSERT INTO issues (id, workspace_id, project_id, milestone_id, creator_id, title, status) OVERRIDING SYSTEM VALUE VALUES
  (1, 1, 1, 1, 1, 'first', 'todo'), (2, 1, 1, 1, 1, 'second', 'todo'), (3, 2, NULL, NULL, 2, 'elsewhere', 'todo');
INSERT INTO issue_label_relations (issue_id, label_id) VALUES (1, 1), (2, 1);
INSERT INTO comments (id, issue_id, author_id, parent_comment_id, body) OVERRIDING SYSTEM VALUE VALUES
  (1, 1, 2, NULL, 'question'), (2, 1, 1, 1, 'answer'), (3, 1, 2, NULL, 'spam'), (4, 2, 2, NULL, 'on second');
INSERT INTO comment_reactions (comment_id, user_id, emoji) VALUES (1, 1, 'eyes');
-- Ben's comments are older than 30 days, so seed 004's pre-deletion check (migration 0031,
-- docs/protection.md) lets the application delete him below.
UPDATE comments SET created_at = now() - interval '60 days' WHERE author_id = 2;
SELECT setval(pg_get_serial_sequence('public.users', 'id'), 1000);
-- Old comments: seed 004's protection (issue 5) refuses deleting a user with comments in the last 30 days.
UPDATE comments SET created_at = now() - interval '60 days';

-- Exactness: soft-delete a comment, then its issue; restore the issue: the comment stays deleted.
CREATE TEMP TABLE ops (name text PRIMARY KEY, op uuid);
GRANT ALL ON ops TO PUBLIC;
INSERT INTO ops SELECT 'spam comment', deletion.soft_delete('public.comments', '3', 'spam');
INSERT INTO ops SELECT 'issue', deletion.soft_delete('public.issues', '1');
SELECT is(ARRAY(SELECT id FROM comments WHERE deletion_op = (SELECT op FROM ops WHERE name = 'issue') ORDER BY id), ARRAY[1::bigint, 2],
          'the issue''s soft delete took its comments and the reply, not the comment deleted before');
SELECT is((SELECT count(*)::int FROM comment_reactions), 1, 'a reaction (hard-delete table) stays: its comment still exists');
SELECT is((SELECT total_issue_count FROM milestones WHERE id = 1), 2,
          'a soft-deleted issue still counts in its milestone''s statistics (the row exists until purged)');
SELECT is((SELECT total_issue_count FROM labels WHERE id = 1), 2, 'and in its label''s');
SELECT is(deletion.restore((SELECT op FROM ops WHERE name = 'issue')), 3::bigint, 'restoring the issue brings back the issue and its two comments');
SELECT is((SELECT deletion_op FROM comments WHERE id = 3), (SELECT op FROM ops WHERE name = 'spam comment'),
          'the comment soft-deleted on its own before stays deleted');

-- The application role.
SET LOCAL ROLE sd107_app;
SELECT is(ARRAY(SELECT id FROM comments WHERE issue_id = 1 ORDER BY id), ARRAY[1::bigint, 2], 'the application does not see the deleted comment');
SELECT throws_ok($$ DELETE FROM issues WHERE id = 2 $$, 'PD104', NULL,
                 'the application''s plain DELETE of an issue is refused (it would report DELETE 0)');
SELECT is((SELECT count(*)::int FROM issues WHERE id = 2), 1, 'and nothing was deleted');
SELECT lives_ok($$ UPDATE issues SET deleted_at = now() WHERE id = 2 $$, 'the application soft-deletes an issue by UPDATE');
SELECT is((SELECT count(*)::int FROM issues i JOIN comments c ON c.issue_id = i.id WHERE i.id = 2), 0,
          'the issue and its comment are gone from its view, joins included');
SELECT lives_ok($$
  DO $do$
  DECLARE returned integer;
  BEGIN
    WITH u AS (UPDATE issues SET deleted_at = now() WHERE id = 1 RETURNING *) SELECT count(*) INTO returned FROM u;
    PERFORM set_config('sd107.returned', returned::text, true);
  END $do$ $$, 'UPDATE issues SET deleted_at = now() ... RETURNING * does not fail with 42501');
SELECT is(current_setting('sd107.returned'), '1', 'and returns the issue it soft-deleted');
SELECT lives_ok($$ UPDATE users SET deleted_at = now() WHERE id = 2 $$, 'soft-deleting a user who wrote comments (RESTRICT) is a soft delete, not a refusal');
SELECT is((SELECT count(*)::int FROM users), 1, 'the user is hidden');
SELECT lives_ok($$ INSERT INTO users (email, name) VALUES ('ben@example.com', 'New Ben') $$, 'a new user may take the deleted user''s email');
SELECT throws_ok($$ INSERT INTO users (email, name) VALUES ('ann@example.com', 'Ann again') $$, '23505', NULL, 'but not an active user''s');
SELECT lives_ok($$ SELECT deletion.soft_delete('public.workspaces', '1') $$, 'the application soft-deletes a workspace through deletion.soft_delete');
SELECT is((SELECT count(*)::int FROM projects), 0, 'its projects are gone from view');
RESET ROLE;

SELECT isnt((SELECT deleted_at FROM issues WHERE id = 1), NULL, 'the RETURNING soft delete marked the issue');
SELECT results_eq($$ SELECT table_name, active_rows, deleted_rows FROM deletion.vw_soft_delete_counts ORDER BY 1 $$,
                  $$ VALUES ('public.comments', 0::bigint, 4::bigint), ('public.issues', 1, 2), ('public.projects', 0, 1),
                            ('public.users', 2, 1), ('public.workspaces', 1, 1) $$,
                  'the workspace''s projects, issues and comments are soft-deleted; the other workspace is untouched');
SELECT is((SELECT count(*)::int FROM teams WHERE workspace_id = 1) + (SELECT count(*)::int FROM labels WHERE workspace_id = 1), 2,
          'teams and labels (hard-delete tables) stay under the soft-deleted workspace');
SELECT throws_ok(format('SELECT deletion.restore(%L::uuid)', (SELECT op FROM ops WHERE name = 'spam comment')), 'PD110', NULL,
                 'the spam comment cannot come back while its issue is deleted');

-- The hard path: an admin with deletion.mode = 'hard' removes the workspace for good, cascades included.
SET LOCAL deletion.mode = 'hard';
SELECT is(deletion.hard_delete('public.workspaces', '1'), 1::bigint, 'hard_delete of the workspace');
RESET deletion.mode;
SELECT is((SELECT count(*)::int FROM issues) + (SELECT count(*)::int FROM comments) + (SELECT count(*)::int FROM teams), 1,
          'everything under it is gone, soft-deleted rows included; the other workspace''s issue stays');

SELECT * FROM finish();
ROLLBACK;

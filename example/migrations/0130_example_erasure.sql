-- Up Migration

-- Erasure of a person (docs/erasure.md). A user is the subject; erasing one removes the user and
-- everything that is only theirs, and keeps the team's work with its authorship handed to a
-- tombstone user ("Deleted user", inserted by the first erasure that needs it), as Discourse and
-- Mastodon anonymise instead of deleting threads:
--   memberships, reactions, subscriptions, favorites   delete: they mean nothing without the person
--   issues they created                                 tombstone: the issue is the team's work
--   comments they wrote                                 tombstone, body redacted: the thread keeps
--                                                       its shape, their words go
--   issues assigned to them, projects they lead         set_null: as a plain user delete does
-- Personal data: the user's email (contact) and name (identity), comment bodies and attachment file
-- names (content). A project's name looks personal to lint and is not.

SELECT deletion.declare_personal_data('public.users', 'email', 'contact');
SELECT deletion.declare_personal_data('public.users', 'name', 'identity');
SELECT deletion.declare_personal_data('public.comments', 'body', 'content', '[erased]');
SELECT deletion.declare_personal_data('public.attachments', 'file_name', 'content', '[erased]');
SELECT deletion.declare_personal_data('public.projects', 'name', 'not_personal');

SELECT deletion.declare_erasure_subject('public.users',
         tombstone_row => '{"email": "deleted-user@invalid", "name": "Deleted user"}');

SELECT deletion.declare_erasure_rule('public.workspace_memberships', '{user_id}', 'delete', note => 'a membership is only the person''s');
SELECT deletion.declare_erasure_rule('public.team_memberships', '{user_id}', 'delete', note => 'a membership is only the person''s');
SELECT deletion.declare_erasure_rule('public.comment_reactions', '{user_id}', 'delete', note => 'a reaction is only the person''s');
SELECT deletion.declare_erasure_rule('public.issue_subscriptions', '{user_id}', 'delete', note => 'a subscription is only the person''s');
SELECT deletion.declare_erasure_rule('public.favorites', '{user_id}', 'delete', note => 'a favorite is only the person''s');
SELECT deletion.declare_erasure_rule('public.issues', '{creator_id}', 'tombstone', note => 'the issue is the team''s work; its author becomes the tombstone');
SELECT deletion.declare_erasure_rule('public.issues', '{assignee_id}', 'set_null', note => 'unassigned, as when the user is deleted');
SELECT deletion.declare_erasure_rule('public.projects', '{lead_id}', 'set_null', note => 'no lead, as when the user is deleted');
SELECT deletion.declare_erasure_rule('public.comments', '{author_id}', 'tombstone', true, 'the thread keeps its shape; the words are the person''s and go');

-- Down Migration

DELETE FROM deletion.erasure_subjects WHERE table_schema = 'public' AND table_name = 'users';
DELETE FROM deletion.personal_columns
 WHERE table_schema = 'public' AND (table_name, column_name) IN (('users', 'email'), ('users', 'name'), ('comments', 'body'),
                                                                 ('attachments', 'file_name'), ('projects', 'name'));

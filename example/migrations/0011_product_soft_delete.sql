-- Up Migration

-- Soft delete for the product tables that hold what people make and may want back (seed 003's
-- "user-created content", seed 004's "recommended: soft delete" for users): users, workspaces,
-- projects, issues and comments. A plain DELETE on them becomes a soft delete with its cascade; only
-- deletion_admin with deletion.mode = 'hard' (deletion jobs, purge) removes rows.
-- This is data: the wiring (columns, indexes, policies, triggers) is derived from it by
-- deletion.rewire() when the migrate command rebuilds the engine (sql/11_soft_delete_wiring.sql).
-- In particular users.email becomes unique among active users only: users_email_key turns into the
-- partial unique index seed 004 asks for (... WHERE deleted_at IS NULL), and workspaces.slug likewise.
--
-- The cascade a soft delete follows is the product's ON DELETE CASCADE foreign keys between these
-- tables: workspace -> projects, workspace -> issues -> comments -> replies. Everything else keeps
-- pointing at the soft-deleted row, which still exists: teams, milestones and labels of a deleted
-- workspace, reactions, label relations, subscriptions of a deleted issue, memberships of a deleted
-- user. Soft-deleted issues therefore still count in milestones.*_issue_count and
-- labels.*_issue_count (the statistics triggers count rows, and the rows are there); they leave the
-- counts when they are purged or hard-deleted.
--
-- The example's user ids are bigints, so its deleted_by columns are bigint: the engine casts the
-- actor (SET LOCAL deletion.actor = '42', text) to the column's type. Without such a column the engine
-- adds a text one.
ALTER TABLE public.users      ADD COLUMN IF NOT EXISTS deleted_by bigint;
ALTER TABLE public.workspaces ADD COLUMN IF NOT EXISTS deleted_by bigint;
ALTER TABLE public.projects   ADD COLUMN IF NOT EXISTS deleted_by bigint;
ALTER TABLE public.issues     ADD COLUMN IF NOT EXISTS deleted_by bigint;
ALTER TABLE public.comments   ADD COLUMN IF NOT EXISTS deleted_by bigint;
UPDATE deletion.table_policies
   SET soft_delete = true, delete_becomes_soft = true
 WHERE table_schema = 'public' AND table_name IN ('users', 'workspaces', 'projects', 'issues', 'comments');

-- Down Migration

UPDATE deletion.table_policies
   SET soft_delete = false, delete_becomes_soft = false
 WHERE table_schema = 'public' AND table_name IN ('users', 'workspaces', 'projects', 'issues', 'comments');

-- Up Migration

-- Seed 004's protection for the product, as data (docs/protection.md).

-- Seed 004's pre-deletion check, as product logic: a user is safe to delete when no open issue is
-- assigned to them and they wrote no comment in the last 30 days. It returns the reasons with the
-- verdict, so the refusal can say why. SECURITY DEFINER (owned by the migrating role, search_path
-- pinned) so the verdict counts every row, whatever the deleting role may see under row-level security.
CREATE FUNCTION public.check_safe_to_delete_user(user_id bigint, OUT safe boolean, OUT reasons text[])
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
  WITH open_assigned AS (
    SELECT count(*) AS n FROM public.issues i
     WHERE i.assignee_id = check_safe_to_delete_user.user_id AND i.status NOT IN ('done', 'canceled')
  ), recent_comments AS (
    SELECT count(*) AS n FROM public.comments c
     WHERE c.author_id = check_safe_to_delete_user.user_id AND c.created_at > now() - interval '30 days'
  ), found AS (
    SELECT array_remove(ARRAY[
             CASE WHEN open_assigned.n > 0 THEN format('%s open issues assigned', open_assigned.n) END,
             CASE WHEN recent_comments.n > 0 THEN format('%s comments in the last 30 days', recent_comments.n) END
           ], NULL) AS reasons
      FROM open_assigned, recent_comments
  )
  SELECT cardinality(found.reasons) = 0, found.reasons FROM found
$$;
COMMENT ON FUNCTION public.check_safe_to_delete_user(bigint) IS 'Seed 004''s pre-deletion check: safe when the user has no open assigned issue and no comment in the last 30 days; returns the reasons with the verdict.';
GRANT EXECUTE ON FUNCTION public.check_safe_to_delete_user(bigint) TO deletion_app, deletion_admin;

-- A workspace with more than 100 issues cannot be deleted directly: schedule a deletion job.
-- Soft deletes (archiving) stay allowed: they remove nothing and can be undone.
INSERT INTO deletion.protection_rules (table_schema, table_name, kind, child_schema, child_table, threshold, message)
VALUES ('public', 'workspaces', 'child_count', 'public', 'issues', 100,
        'a workspace this big is deleted by an asynchronous deletion job, in small chunks: SELECT deletion.schedule(''{table}'', ''{pk}'')');

-- A user the check calls unsafe can be neither deleted nor soft-deleted, unless a deletion_admin forces it.
INSERT INTO deletion.protection_rules (table_schema, table_name, kind, check_function, guards_soft_delete, admin_must_force, message)
VALUES ('public', 'users', 'pre_delete_check', 'public.check_safe_to_delete_user', true, true,
        'reassign their open issues first; a deletion_admin can force it: SELECT deletion.force_delete(''{table}'', ''{pk}'', ''why'')');

-- The unqualified DELETE accident: one statement may remove at most 10 workspaces or 10 users (seed
-- 004's "bulk deletion" is more than 10 rows at once). Admins and the deletion-job worker pass.
INSERT INTO deletion.protection_rules (table_schema, table_name, kind, threshold, message)
VALUES ('public', 'workspaces', 'bulk_delete', 10, 'delete workspaces one at a time, or schedule deletion jobs'),
       ('public', 'users', 'bulk_delete', 10, 'delete users a few at a time, or ask a deletion_admin');

-- Down Migration

DELETE FROM deletion.protection_rules
 WHERE (table_schema, table_name, kind) IN (('public', 'workspaces', 'child_count'), ('public', 'users', 'pre_delete_check'),
                                            ('public', 'workspaces', 'bulk_delete'), ('public', 'users', 'bulk_delete'));
DROP FUNCTION public.check_safe_to_delete_user(bigint);

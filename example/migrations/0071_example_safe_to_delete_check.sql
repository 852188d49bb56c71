-- Up Migration

-- The example's pre-deletion check of users, hardened. It stays SECURITY DEFINER, so that its verdict
-- does not depend on what the deleting role may see, but it now counts active rows only (a
-- soft-deleted issue or comment is no reason to keep a user, and its existence is not told to
-- anyone), and only the engine's roles may call it: PUBLIC could call it before and learn how many
-- hidden rows any user id had. PL/pgSQL, because the soft-delete columns it reads are added by the
-- engine's wiring after the migrations have run.
CREATE OR REPLACE FUNCTION public.check_safe_to_delete_user(user_id bigint, OUT safe boolean, OUT reasons text[])
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  open_assigned bigint;
  recent_comments bigint;
BEGIN
  SELECT count(*) INTO open_assigned FROM public.issues i
   WHERE i.assignee_id = check_safe_to_delete_user.user_id AND i.status NOT IN ('done', 'canceled') AND i.deleted_at IS NULL;
  SELECT count(*) INTO recent_comments FROM public.comments c
   WHERE c.author_id = check_safe_to_delete_user.user_id AND c.created_at > now() - interval '30 days' AND c.deleted_at IS NULL;
  reasons := array_remove(ARRAY[
               CASE WHEN open_assigned > 0 THEN format('%s open issues assigned', open_assigned) END,
               CASE WHEN recent_comments > 0 THEN format('%s comments in the last 30 days', recent_comments) END
             ], NULL);
  safe := cardinality(reasons) = 0;
END
$$;
REVOKE EXECUTE ON FUNCTION public.check_safe_to_delete_user(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.check_safe_to_delete_user(bigint) TO deletion_app, deletion_admin;

-- Down Migration

CREATE OR REPLACE FUNCTION public.check_safe_to_delete_user(user_id bigint, OUT safe boolean, OUT reasons text[])
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
GRANT EXECUTE ON FUNCTION public.check_safe_to_delete_user(bigint) TO PUBLIC;

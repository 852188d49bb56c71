-- Up Migration

-- The statuses an issue delete notes for the cascade to its label relations (see 0150) are kept in a
-- temporary table keyed by issue id. Without a key, the relations' trigger looked each relation's
-- issue up by scanning that table: one cascading DELETE of a workspace with 100,000 issues and their
-- relations read it once a relation, and took 19 minutes instead of under 2.
-- The table has a new name, so that a session that made the old one, unkeyed, before this
-- migration makes the new one when it next needs it.

-- Makes this session's temporary table of deleted issues' statuses if it does not exist yet. The
-- cascade's triggers run as the referencing table's owner, not as the role that created it: every
-- role of this session may use it (a temporary table is this session's alone).
CREATE FUNCTION public.product_prepare_deleted_issue_statuses()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
BEGIN
  IF to_regclass('pg_temp.product_deleted_issue_statuses') IS NULL THEN
    CREATE TEMPORARY TABLE product_deleted_issue_statuses (id bigint PRIMARY KEY, closed boolean NOT NULL) ON COMMIT DELETE ROWS;
    GRANT SELECT, INSERT, UPDATE ON pg_temp.product_deleted_issue_statuses TO PUBLIC;
  END IF;
END
$$;
COMMENT ON FUNCTION public.product_prepare_deleted_issue_statuses() IS 'Makes this session''s temporary table pg_temp.product_deleted_issue_statuses (issue id, closed), emptied at commit, where an issue delete notes its issues'' status for the cascade to their label relations.';

-- The label statistics trigger of 0150, with the keyed table: an issue deleted twice in one
-- transaction (restored in between) keeps its last status.
CREATE OR REPLACE FUNCTION public.product_count_label_statistics()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
DECLARE
  touched bigint[];  -- labels this statement may change
  ids     bigint[];  -- labels whose counts change
  opens   integer[]; -- what their open_issue_count changes by
  totals  integer[]; -- what their total_issue_count changes by
  unknown bigint[];  -- labels of relations whose issue's status is not known: recounted
BEGIN
  -- 0. An issue delete notes its issues' status for the cascade to their relations, whose trigger
  -- fires after this one (see the top of this file). That is all it does.
  IF TG_TABLE_NAME = 'issues' AND TG_OP = 'DELETE' THEN
    PERFORM public.product_prepare_deleted_issue_statuses();
    INSERT INTO pg_temp.product_deleted_issue_statuses AS g (id, closed)
    SELECT o.id, o.status IN ('done', 'canceled') FROM old_rows o
        ON CONFLICT (id) DO UPDATE SET closed = excluded.closed;
    RETURN NULL;
  END IF;

  -- 1. The labels touched.
  IF TG_TABLE_NAME = 'issues' THEN
    -- UPDATE: the labels of issues whose first and last state in this firing differ in closed-ness.
    SELECT array_agg(DISTINCT r.label_id) INTO touched
      FROM public.issue_label_relations r
     WHERE r.issue_id IN (SELECT c.id
                            FROM (SELECT o.id, o.status IN ('done', 'canceled') FROM old_rows o
                                  EXCEPT ALL
                                  SELECT n.id, n.status IN ('done', 'canceled') FROM new_rows n) AS c(id, closed));
  ELSIF TG_OP = 'INSERT' THEN
    PERFORM 1 FROM public.issues i WHERE i.id IN (SELECT n.issue_id FROM new_rows n) ORDER BY i.id FOR SHARE OF i;
    SELECT array_agg(DISTINCT n.label_id) INTO touched FROM new_rows n;
  ELSIF TG_OP = 'DELETE' THEN
    -- A relation whose issue is gone was removed by the cascade of its issue's delete in this
    -- transaction (another session's delete of the issue would have waited for this row), and its
    -- issue's status is in product_deleted_issue_statuses. Should one not be there (the issues' triggers
    -- disabled), its label is recounted instead.
    SELECT array_agg(DISTINCT o.label_id) INTO touched FROM old_rows o;
    PERFORM public.product_prepare_deleted_issue_statuses();
    SELECT array_agg(DISTINCT o.label_id) INTO unknown
      FROM old_rows o
     WHERE NOT EXISTS (SELECT 1 FROM public.issues i WHERE i.id = o.issue_id)
       AND NOT EXISTS (SELECT 1 FROM pg_temp.product_deleted_issue_statuses g WHERE g.id = o.issue_id);
  ELSE
    PERFORM 1 FROM public.issues i
      WHERE i.id IN (SELECT n.issue_id FROM new_rows n UNION SELECT o.issue_id FROM old_rows o) ORDER BY i.id FOR SHARE OF i;
    SELECT array_agg(DISTINCT x.label_id) INTO touched
      FROM (SELECT o.label_id FROM old_rows o UNION SELECT n.label_id FROM new_rows n) x;
  END IF;
  IF touched IS NULL THEN
    RETURN NULL;
  END IF;

  -- 2. The labels locked, in id order.
  PERFORM 1
     FROM public.labels l
    WHERE l.id = ANY (touched)
      AND EXISTS (SELECT 1 FROM public.workspaces w WHERE w.id = l.workspace_id)
      AND (l.team_id IS NULL OR EXISTS (SELECT 1 FROM public.teams t WHERE t.id = l.team_id))
    ORDER BY l.id
      FOR NO KEY UPDATE OF l;

  -- 3. The change per label, read after the locks: a relation counts +1 (-1 when it leaves), in the
  -- open count too while its issue is open.
  IF TG_TABLE_NAME = 'issues' THEN
    SELECT array_agg(d.label_id), array_agg(d.open_change), array_agg(0)
      INTO ids, opens, totals
      FROM (SELECT r.label_id, sum(CASE WHEN c.was_closed THEN 1 ELSE -1 END)::integer AS open_change
              FROM (SELECT o.id, o.status IN ('done', 'canceled') FROM old_rows o
                    EXCEPT ALL
                    SELECT n.id, n.status IN ('done', 'canceled') FROM new_rows n) AS c(id, was_closed)
              JOIN public.issue_label_relations r ON r.issue_id = c.id
             GROUP BY r.label_id) d
     WHERE d.open_change <> 0;
  ELSIF TG_OP = 'INSERT' THEN
    SELECT array_agg(d.label_id), array_agg(d.open_change), array_agg(d.total_change)
      INTO ids, opens, totals
      FROM (SELECT n.label_id, count(*) FILTER (WHERE i.status NOT IN ('done', 'canceled'))::integer AS open_change, count(*)::integer AS total_change
              FROM new_rows n JOIN public.issues i ON i.id = n.issue_id
             GROUP BY n.label_id) d;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(d.label_id), array_agg(d.open_change), array_agg(d.total_change)
      INTO ids, opens, totals
      FROM (SELECT o.label_id, -count(*) FILTER (WHERE NOT s.closed)::integer AS open_change, -count(*)::integer AS total_change
              FROM old_rows o
              CROSS JOIN LATERAL (SELECT i.status IN ('done', 'canceled') FROM public.issues i WHERE i.id = o.issue_id
                                  UNION ALL
                                  SELECT g.closed FROM pg_temp.product_deleted_issue_statuses g WHERE g.id = o.issue_id
                                  LIMIT 1) AS s(closed)
             WHERE o.label_id <> ALL (coalesce(unknown, '{}'))
             GROUP BY o.label_id) d;
  ELSE
    SELECT array_agg(d.label_id), array_agg(d.open_change), array_agg(d.total_change)
      INTO ids, opens, totals
      FROM (SELECT c.label_id, sum(c.sign * (i.status NOT IN ('done', 'canceled'))::integer)::integer AS open_change, sum(c.sign)::integer AS total_change
              FROM (SELECT -1, o.issue_id, o.label_id FROM old_rows o
                    UNION ALL
                    SELECT 1, n.issue_id, n.label_id FROM new_rows n) AS c(sign, issue_id, label_id)
              JOIN public.issues i ON i.id = c.issue_id
             GROUP BY c.label_id) d
     WHERE d.open_change <> 0 OR d.total_change <> 0;
  END IF;
  IF ids IS NOT NULL THEN
    UPDATE public.labels l
       SET open_issue_count  = l.open_issue_count + d.open_change,
           total_issue_count = l.total_issue_count + d.total_change
      FROM unnest(ids, opens, totals) AS d(id, open_change, total_change)
     WHERE l.id = d.id
       AND EXISTS (SELECT 1 FROM public.workspaces w WHERE w.id = l.workspace_id)
       AND (l.team_id IS NULL OR EXISTS (SELECT 1 FROM public.teams t WHERE t.id = l.team_id));
  END IF;
  PERFORM public.product_recount_labels(unknown);
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION public.product_count_label_statistics() IS 'Statement-level AFTER trigger on issue_label_relations (insert, update, delete) and on issues (update, delete): adds to or subtracts from each label''s counts what the statement changed, by difference, labels locked in id order before the statuses are read.';

-- Down Migration

CREATE OR REPLACE FUNCTION public.product_count_label_statistics()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
DECLARE
  touched bigint[];  -- labels this statement may change
  ids     bigint[];  -- labels whose counts change
  opens   integer[]; -- what their open_issue_count changes by
  totals  integer[]; -- what their total_issue_count changes by
  unknown bigint[];  -- labels of relations whose issue's status is not known: recounted
BEGIN
  -- 0. An issue delete notes its issues' status for the cascade to their relations, whose trigger
  -- fires after this one (see the top of this file). That is all it does.
  IF TG_TABLE_NAME = 'issues' AND TG_OP = 'DELETE' THEN
    IF to_regclass('pg_temp.product_deleted_issues') IS NULL THEN
      CREATE TEMPORARY TABLE product_deleted_issues (id bigint NOT NULL, closed boolean NOT NULL) ON COMMIT DELETE ROWS;
      -- The cascade's triggers run as the referencing table's owner, not as the role that created
      -- it: every role of this session may use it (a temporary table is this session's alone).
      GRANT SELECT, INSERT ON pg_temp.product_deleted_issues TO PUBLIC;
    END IF;
    INSERT INTO pg_temp.product_deleted_issues (id, closed)
    SELECT o.id, o.status IN ('done', 'canceled') FROM old_rows o;
    RETURN NULL;
  END IF;

  -- 1. The labels touched.
  IF TG_TABLE_NAME = 'issues' THEN
    -- UPDATE: the labels of issues whose first and last state in this firing differ in closed-ness.
    SELECT array_agg(DISTINCT r.label_id) INTO touched
      FROM public.issue_label_relations r
     WHERE r.issue_id IN (SELECT c.id
                            FROM (SELECT o.id, o.status IN ('done', 'canceled') FROM old_rows o
                                  EXCEPT ALL
                                  SELECT n.id, n.status IN ('done', 'canceled') FROM new_rows n) AS c(id, closed));
  ELSIF TG_OP = 'INSERT' THEN
    PERFORM 1 FROM public.issues i WHERE i.id IN (SELECT n.issue_id FROM new_rows n) ORDER BY i.id FOR SHARE OF i;
    SELECT array_agg(DISTINCT n.label_id) INTO touched FROM new_rows n;
  ELSIF TG_OP = 'DELETE' THEN
    -- A relation whose issue is gone was removed by the cascade of its issue's delete in this
    -- transaction (another session's delete of the issue would have waited for this row), and its
    -- issue's status is in product_deleted_issues. Should one not be there (the issues' triggers
    -- disabled), its label is recounted instead.
    SELECT array_agg(DISTINCT o.label_id) INTO touched FROM old_rows o;
    IF to_regclass('pg_temp.product_deleted_issues') IS NULL THEN
      CREATE TEMPORARY TABLE product_deleted_issues (id bigint NOT NULL, closed boolean NOT NULL) ON COMMIT DELETE ROWS;
      -- The cascade's triggers run as the referencing table's owner, not as the role that created
      -- it: every role of this session may use it (a temporary table is this session's alone).
      GRANT SELECT, INSERT ON pg_temp.product_deleted_issues TO PUBLIC;
    END IF;
    SELECT array_agg(DISTINCT o.label_id) INTO unknown
      FROM old_rows o
     WHERE NOT EXISTS (SELECT 1 FROM public.issues i WHERE i.id = o.issue_id)
       AND NOT EXISTS (SELECT 1 FROM pg_temp.product_deleted_issues g WHERE g.id = o.issue_id);
  ELSE
    PERFORM 1 FROM public.issues i
      WHERE i.id IN (SELECT n.issue_id FROM new_rows n UNION SELECT o.issue_id FROM old_rows o) ORDER BY i.id FOR SHARE OF i;
    SELECT array_agg(DISTINCT x.label_id) INTO touched
      FROM (SELECT o.label_id FROM old_rows o UNION SELECT n.label_id FROM new_rows n) x;
  END IF;
  IF touched IS NULL THEN
    RETURN NULL;
  END IF;

  -- 2. The labels locked, in id order.
  PERFORM 1
     FROM public.labels l
    WHERE l.id = ANY (touched)
      AND EXISTS (SELECT 1 FROM public.workspaces w WHERE w.id = l.workspace_id)
      AND (l.team_id IS NULL OR EXISTS (SELECT 1 FROM public.teams t WHERE t.id = l.team_id))
    ORDER BY l.id
      FOR NO KEY UPDATE OF l;

  -- 3. The change per label, read after the locks: a relation counts +1 (-1 when it leaves), in the
  -- open count too while its issue is open.
  IF TG_TABLE_NAME = 'issues' THEN
    SELECT array_agg(d.label_id), array_agg(d.open_change), array_agg(0)
      INTO ids, opens, totals
      FROM (SELECT r.label_id, sum(CASE WHEN c.was_closed THEN 1 ELSE -1 END)::integer AS open_change
              FROM (SELECT o.id, o.status IN ('done', 'canceled') FROM old_rows o
                    EXCEPT ALL
                    SELECT n.id, n.status IN ('done', 'canceled') FROM new_rows n) AS c(id, was_closed)
              JOIN public.issue_label_relations r ON r.issue_id = c.id
             GROUP BY r.label_id) d
     WHERE d.open_change <> 0;
  ELSIF TG_OP = 'INSERT' THEN
    SELECT array_agg(d.label_id), array_agg(d.open_change), array_agg(d.total_change)
      INTO ids, opens, totals
      FROM (SELECT n.label_id, count(*) FILTER (WHERE i.status NOT IN ('done', 'canceled'))::integer AS open_change, count(*)::integer AS total_change
              FROM new_rows n JOIN public.issues i ON i.id = n.issue_id
             GROUP BY n.label_id) d;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(d.label_id), array_agg(d.open_change), array_agg(d.total_change)
      INTO ids, opens, totals
      FROM (SELECT o.label_id, -count(*) FILTER (WHERE NOT s.closed)::integer AS open_change, -count(*)::integer AS total_change
              FROM old_rows o
              CROSS JOIN LATERAL (SELECT i.status IN ('done', 'canceled') FROM public.issues i WHERE i.id = o.issue_id
                                  UNION ALL
                                  SELECT g.closed FROM pg_temp.product_deleted_issues g WHERE g.id = o.issue_id
                                  LIMIT 1) AS s(closed)
             WHERE o.label_id <> ALL (coalesce(unknown, '{}'))
             GROUP BY o.label_id) d;
  ELSE
    SELECT array_agg(d.label_id), array_agg(d.open_change), array_agg(d.total_change)
      INTO ids, opens, totals
      FROM (SELECT c.label_id, sum(c.sign * (i.status NOT IN ('done', 'canceled'))::integer)::integer AS open_change, sum(c.sign)::integer AS total_change
              FROM (SELECT -1, o.issue_id, o.label_id FROM old_rows o
                    UNION ALL
                    SELECT 1, n.issue_id, n.label_id FROM new_rows n) AS c(sign, issue_id, label_id)
              JOIN public.issues i ON i.id = c.issue_id
             GROUP BY c.label_id) d
     WHERE d.open_change <> 0 OR d.total_change <> 0;
  END IF;
  IF ids IS NOT NULL THEN
    UPDATE public.labels l
       SET open_issue_count  = l.open_issue_count + d.open_change,
           total_issue_count = l.total_issue_count + d.total_change
      FROM unnest(ids, opens, totals) AS d(id, open_change, total_change)
     WHERE l.id = d.id
       AND EXISTS (SELECT 1 FROM public.workspaces w WHERE w.id = l.workspace_id)
       AND (l.team_id IS NULL OR EXISTS (SELECT 1 FROM public.teams t WHERE t.id = l.team_id));
  END IF;
  PERFORM public.product_recount_labels(unknown);
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION public.product_count_label_statistics() IS 'Statement-level AFTER trigger on issue_label_relations (insert, update, delete) and on issues (update, delete): adds to or subtracts from each label''s counts what the statement changed, by difference, labels locked in id order before the statuses are read.';
DROP FUNCTION public.product_prepare_deleted_issue_statuses();

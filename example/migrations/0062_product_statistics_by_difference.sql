-- Up Migration

-- Deletes leave the milestone and label statistics by difference instead of by recount. A recount
-- reads every issue of the milestone or label, so a statement deleting a few rows of a big label paid
-- for the whole label: at a million rows, a deletion job's chunks spent seconds recounting labels a
-- hundred relations at a time (docs/benchmarks.md). A deleted row says everything its counts need:
-- an issue its milestone and status, a relation its label and (while the issue exists) the issue's
-- status. Inserts and updates keep the recount (product_refresh_*_statistics), which also repairs.

-- AFTER DELETE ON issues, per statement: each milestone loses the deleted issues it held, the open
-- ones from its open count. Milestones are locked in id order first, as the recount does, so that two
-- statements touching the same milestones cannot deadlock; a milestone whose project is gone is being
-- deleted by the same cascade and is left alone.
CREATE FUNCTION public.product_subtract_milestone_statistics()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
BEGIN
  PERFORM 1
     FROM public.milestones m
    WHERE m.id IN (SELECT o.milestone_id FROM old_rows o)
      AND EXISTS (SELECT 1 FROM public.projects p WHERE p.id = m.project_id)
    ORDER BY m.id
      FOR NO KEY UPDATE OF m;
  UPDATE public.milestones m
     SET open_issue_count  = m.open_issue_count - d.open_count,
         total_issue_count = m.total_issue_count - d.total_count
    FROM (SELECT o.milestone_id,
                 count(*) FILTER (WHERE o.status NOT IN ('done', 'canceled'))::integer AS open_count,
                 count(*)::integer AS total_count
            FROM old_rows o
           WHERE o.milestone_id IS NOT NULL
           GROUP BY o.milestone_id) d
   WHERE m.id = d.milestone_id
     AND EXISTS (SELECT 1 FROM public.projects p WHERE p.id = m.project_id);
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION public.product_subtract_milestone_statistics() IS 'Statement-level AFTER DELETE trigger on issues: subtracts the deleted issues from their milestones'' counts (by difference, not by recount).';

-- AFTER DELETE ON issue_label_relations, per statement: each label loses its deleted relations, the
-- ones of open issues from its open count. A relation removed by the cascade of its issue's delete
-- no longer has an issue to say whether it was open: its label is recounted instead (a label with
-- both kinds is recounted, which covers both). Locks as above.
CREATE FUNCTION public.product_subtract_label_statistics()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
DECLARE
  orphaned bigint[];  -- labels of relations whose issue is gone: recounted
BEGIN
  SELECT array_agg(DISTINCT o.label_id) INTO orphaned
    FROM old_rows o
   WHERE NOT EXISTS (SELECT 1 FROM public.issues i WHERE i.id = o.issue_id);
  orphaned := coalesce(orphaned, '{}');
  PERFORM 1
     FROM public.labels l
    WHERE l.id IN (SELECT o.label_id FROM old_rows o)
      AND l.id <> ALL (orphaned)
      AND EXISTS (SELECT 1 FROM public.workspaces w WHERE w.id = l.workspace_id)
      AND (l.team_id IS NULL OR EXISTS (SELECT 1 FROM public.teams t WHERE t.id = l.team_id))
    ORDER BY l.id
      FOR NO KEY UPDATE OF l;
  UPDATE public.labels l
     SET open_issue_count  = l.open_issue_count - d.open_count,
         total_issue_count = l.total_issue_count - d.total_count
    FROM (SELECT o.label_id,
                 count(*) FILTER (WHERE i.status NOT IN ('done', 'canceled'))::integer AS open_count,
                 count(*)::integer AS total_count
            FROM old_rows o
            JOIN public.issues i ON i.id = o.issue_id
           GROUP BY o.label_id) d
   WHERE l.id = d.label_id
     AND l.id <> ALL (orphaned)
     AND EXISTS (SELECT 1 FROM public.workspaces w WHERE w.id = l.workspace_id)
     AND (l.team_id IS NULL OR EXISTS (SELECT 1 FROM public.teams t WHERE t.id = l.team_id));
  PERFORM public.product_recount_labels(orphaned);
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION public.product_subtract_label_statistics() IS 'Statement-level AFTER DELETE trigger on issue_label_relations: subtracts the deleted relations from their labels'' counts; labels of relations whose issue is gone too are recounted.';

CREATE OR REPLACE TRIGGER issues_milestone_statistics_delete
  AFTER DELETE ON public.issues REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION public.product_subtract_milestone_statistics();
CREATE OR REPLACE TRIGGER issue_label_relations_label_statistics_delete
  AFTER DELETE ON public.issue_label_relations REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION public.product_subtract_label_statistics();

-- Down Migration

CREATE OR REPLACE TRIGGER issues_milestone_statistics_delete
  AFTER DELETE ON public.issues REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION public.product_refresh_milestone_statistics();
CREATE OR REPLACE TRIGGER issue_label_relations_label_statistics_delete
  AFTER DELETE ON public.issue_label_relations REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION public.product_refresh_label_statistics();
DROP FUNCTION public.product_subtract_label_statistics();
DROP FUNCTION public.product_subtract_milestone_statistics();

-- Up Migration

-- The milestone and label statistics kept purely by difference: every insert, update and delete of
-- an issue or a label relation adds or subtracts exactly what its rows change (+1/-1 a row, grouped
-- per milestone or label, set-based from the statement's transition tables), and nothing recounts.
--
-- Why: inserts and updates used to recount a label from a snapshot while deletes subtracted (0062),
-- and under READ COMMITTED the two lost each other's changes: a relation inserted on an issue while
-- another session closed that issue was counted open by the one and missed by the other, so a label
-- ended one off its real counts (and a recount of a big label read every relation it has: 777 ms of
-- 2.5 s for 500 single-issue deletes).
--
-- What makes a difference exact under concurrent sessions:
--   * a milestone's counts depend only on issue rows, whose own row locks order every change of an
--     issue; each statement adds what its issues' first and last states differ by;
--   * a label's open count also depends on its issues' status, which another session may be
--     changing. The label rows are the mutex: every writer locks the labels it will change (in id
--     order, FOR NO KEY UPDATE, so that two writers never deadlock on each other) and only then, in a
--     new statement (a new snapshot under READ COMMITTED), reads the statuses or relations its delta
--     depends on. Inserting a relation also locks its issue FOR SHARE, which a status update waits
--     for: otherwise the update could not see the uncommitted relation, nor the insert the update;
--   * a relation removed by the cascade of its issue's delete has no issue left to say whether it was
--     open. The cascade's triggers fire after the issues' own statement triggers (PostgreSQL queues
--     a foreign key action's trigger events behind the statement's), so the issues' AFTER DELETE
--     trigger notes each deleted issue's status in a temporary table of the session, emptied at
--     commit, and the relations' trigger reads it there.
-- Milestones whose project is gone and labels whose workspace or team is gone are being deleted by
-- the same statement, and are left alone (see the recount functions in 0002 for why).
-- product_recount_milestones / product_recount_labels stay, to repair counts written by hand.

-- AFTER INSERT / UPDATE / DELETE ON issues, per statement: each milestone gains or loses what its
-- issues changed. The changes are the rows' states as multisets: an update's first state leaves, its
-- last state arrives (EXCEPT ALL between old and new rows; see 0002 for why, with no join between
-- the transition tables).
CREATE FUNCTION public.product_count_milestone_statistics()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
DECLARE
  ids    bigint[];   -- milestones whose counts change, in id order
  opens  integer[];  -- what their open_issue_count changes by
  totals integer[];  -- what their total_issue_count changes by
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(d.milestone_id ORDER BY d.milestone_id), array_agg(d.open_change ORDER BY d.milestone_id), array_agg(d.total_change ORDER BY d.milestone_id)
      INTO ids, opens, totals
      FROM (SELECT n.milestone_id, count(*) FILTER (WHERE n.status NOT IN ('done', 'canceled'))::integer AS open_change, count(*)::integer AS total_change
              FROM new_rows n WHERE n.milestone_id IS NOT NULL GROUP BY n.milestone_id) d;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(d.milestone_id ORDER BY d.milestone_id), array_agg(d.open_change ORDER BY d.milestone_id), array_agg(d.total_change ORDER BY d.milestone_id)
      INTO ids, opens, totals
      FROM (SELECT o.milestone_id, -count(*) FILTER (WHERE o.status NOT IN ('done', 'canceled'))::integer AS open_change, -count(*)::integer AS total_change
              FROM old_rows o WHERE o.milestone_id IS NOT NULL GROUP BY o.milestone_id) d;
  ELSE
    SELECT array_agg(d.milestone_id ORDER BY d.milestone_id), array_agg(d.open_change ORDER BY d.milestone_id), array_agg(d.total_change ORDER BY d.milestone_id)
      INTO ids, opens, totals
      FROM (SELECT c.milestone_id, sum(c.sign * (NOT c.closed)::integer)::integer AS open_change, sum(c.sign)::integer AS total_change
              FROM ((SELECT -1 AS sign, s.* FROM (SELECT o.id, o.milestone_id, o.status IN ('done', 'canceled') FROM old_rows o
                                                  EXCEPT ALL
                                                  SELECT n.id, n.milestone_id, n.status IN ('done', 'canceled') FROM new_rows n) s)
                    UNION ALL
                    (SELECT 1, s.* FROM (SELECT n.id, n.milestone_id, n.status IN ('done', 'canceled') FROM new_rows n
                                         EXCEPT ALL
                                         SELECT o.id, o.milestone_id, o.status IN ('done', 'canceled') FROM old_rows o) s)) AS c(sign, id, milestone_id, closed)
             WHERE c.milestone_id IS NOT NULL
             GROUP BY c.milestone_id
            HAVING sum(c.sign * (NOT c.closed)::integer) <> 0 OR sum(c.sign) <> 0) d;
  END IF;
  IF ids IS NULL THEN
    RETURN NULL;
  END IF;
  PERFORM 1
     FROM public.milestones m
    WHERE m.id = ANY (ids)
      AND EXISTS (SELECT 1 FROM public.projects p WHERE p.id = m.project_id)
    ORDER BY m.id
      FOR NO KEY UPDATE OF m;
  UPDATE public.milestones m
     SET open_issue_count  = m.open_issue_count + d.open_change,
         total_issue_count = m.total_issue_count + d.total_change
    FROM unnest(ids, opens, totals) AS d(id, open_change, total_change)
   WHERE m.id = d.id
     AND EXISTS (SELECT 1 FROM public.projects p WHERE p.id = m.project_id);
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION public.product_count_milestone_statistics() IS 'Statement-level AFTER trigger on issues (insert, update, delete): adds to or subtracts from each milestone''s counts what the statement''s issues changed, by difference, milestones locked in id order.';

-- AFTER INSERT / UPDATE / DELETE ON issue_label_relations and AFTER UPDATE / DELETE ON issues, per
-- statement: each label gains or loses what the statement changed. In three steps: the labels
-- touched (and, for new relations, their issues locked FOR SHARE), the labels locked in id order,
-- then the change per label, read in a new statement after the locks.
CREATE FUNCTION public.product_count_label_statistics()
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

-- A trigger with transition tables handles one event, so each event has its own trigger. Their names
-- order them: on issues the label triggers fire before the milestone ones, so that an update locks
-- labels before milestones, as a deletion job's chunk does (label relations before issues).
CREATE OR REPLACE TRIGGER issues_milestone_statistics_insert
  AFTER INSERT ON public.issues REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION public.product_count_milestone_statistics();
CREATE OR REPLACE TRIGGER issues_milestone_statistics_update
  AFTER UPDATE ON public.issues REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION public.product_count_milestone_statistics();
CREATE OR REPLACE TRIGGER issues_milestone_statistics_delete
  AFTER DELETE ON public.issues REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION public.product_count_milestone_statistics();
CREATE OR REPLACE TRIGGER issues_label_statistics_update
  AFTER UPDATE ON public.issues REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION public.product_count_label_statistics();
CREATE TRIGGER issues_label_statistics_delete
  AFTER DELETE ON public.issues REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION public.product_count_label_statistics();
CREATE OR REPLACE TRIGGER issue_label_relations_label_statistics_insert
  AFTER INSERT ON public.issue_label_relations REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION public.product_count_label_statistics();
CREATE OR REPLACE TRIGGER issue_label_relations_label_statistics_update
  AFTER UPDATE ON public.issue_label_relations REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION public.product_count_label_statistics();
CREATE OR REPLACE TRIGGER issue_label_relations_label_statistics_delete
  AFTER DELETE ON public.issue_label_relations REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION public.product_count_label_statistics();

-- A new milestone or label has no issue yet (the foreign keys see to that), so its counts start at
-- zero whatever the INSERT says: counting by difference builds on them. An audit restore re-inserts
-- a deleted milestone or label with the counts its image had, and then its issues and relations,
-- which add themselves again; a recount used to hide that, a difference would count them twice.
CREATE FUNCTION public.product_statistics_start_at_zero()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
BEGIN
  NEW.open_issue_count := 0;
  NEW.total_issue_count := 0;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION public.product_statistics_start_at_zero() IS 'BEFORE INSERT row trigger on milestones and labels: a new row''s issue counts start at 0 (its issues add themselves), also when an audit restore re-inserts an image with counts.';
CREATE TRIGGER milestones_statistics_start_at_zero
  BEFORE INSERT ON public.milestones
  FOR EACH ROW EXECUTE FUNCTION public.product_statistics_start_at_zero();
CREATE TRIGGER labels_statistics_start_at_zero
  BEFORE INSERT ON public.labels
  FOR EACH ROW EXECUTE FUNCTION public.product_statistics_start_at_zero();

DROP FUNCTION public.product_subtract_label_statistics();
DROP FUNCTION public.product_subtract_milestone_statistics();
DROP FUNCTION public.product_refresh_label_statistics();
DROP FUNCTION public.product_refresh_milestone_statistics();

COMMENT ON COLUMN public.milestones.open_issue_count IS 'Issues in the milestone whose status is not done or canceled; kept by difference by product_count_milestone_statistics(), never written by hand.';
COMMENT ON COLUMN public.milestones.total_issue_count IS 'All issues in the milestone; kept by difference by product_count_milestone_statistics(), never written by hand.';
COMMENT ON COLUMN public.labels.open_issue_count IS 'Labelled issues whose status is not done or canceled; kept by difference by product_count_label_statistics(), never written by hand.';
COMMENT ON COLUMN public.labels.total_issue_count IS 'All labelled issues; kept by difference by product_count_label_statistics(), never written by hand.';
COMMENT ON FUNCTION public.product_recount_milestones(bigint[]) IS 'Recounts milestones.open_issue_count and total_issue_count for the given milestones (ids that no longer exist are skipped), to repair counts written by hand; the triggers keep them by difference.';
COMMENT ON FUNCTION public.product_recount_labels(bigint[]) IS 'Recounts labels.open_issue_count and total_issue_count for the given labels (ids that no longer exist are skipped), to repair counts written by hand; the triggers keep them by difference.';

-- Down Migration

CREATE FUNCTION public.product_refresh_milestone_statistics()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
DECLARE
  touched bigint[];
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(DISTINCT n.milestone_id) INTO touched
      FROM new_rows n WHERE n.milestone_id IS NOT NULL;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(DISTINCT o.milestone_id) INTO touched
      FROM old_rows o WHERE o.milestone_id IS NOT NULL;
  ELSE
    -- The (issue, milestone, closed) states the statement removed and the ones it added. One firing
    -- can cover several updates of the same issue (the SET NULLs of one cascade are collected into
    -- one firing), so an issue may appear more than once: as multisets, old rows are its states
    -- s0..s(k-1) and new rows s1..sk, and EXCEPT ALL leaves exactly its first and last state, or
    -- nothing when they are equal. No join between the transition tables: the planner knows their
    -- sizes but not that ids are (nearly) unique, and guesses a join's size as the product of the
    -- two, which on a cascade over 40k issues turned a 10 ms step into a 1 s JIT-compiled one.
    SELECT array_agg(DISTINCT d.milestone_id) INTO touched
      FROM ((SELECT o.id, o.milestone_id, o.status IN ('done', 'canceled') FROM old_rows o
             EXCEPT ALL
             SELECT n.id, n.milestone_id, n.status IN ('done', 'canceled') FROM new_rows n)
            UNION ALL
            (SELECT n.id, n.milestone_id, n.status IN ('done', 'canceled') FROM new_rows n
             EXCEPT ALL
             SELECT o.id, o.milestone_id, o.status IN ('done', 'canceled') FROM old_rows o)) AS d(id, milestone_id, closed)
     WHERE d.milestone_id IS NOT NULL;
  END IF;
  PERFORM public.product_recount_milestones(touched);
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION public.product_refresh_milestone_statistics() IS 'Statement-level AFTER trigger on issues (insert, update, delete): recounts the milestones the statement touched, read from its transition tables.';

-- On issue_label_relations: the labels of inserted, deleted or changed rows. On issues: the labels
-- of issues whose status changed (open/closed moves between the two counts). Deleting an issue
-- needs no work here: its label relations are removed by cascade, which fires the relation trigger.
CREATE FUNCTION public.product_refresh_label_statistics()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
DECLARE
  touched bigint[];
BEGIN
  IF TG_TABLE_NAME = 'issues' THEN
    -- Issues whose first and last state in this firing differ in closed-ness (see the milestone
    -- trigger for why EXCEPT ALL finds them), then the labels they carry.
    SELECT array_agg(DISTINCT r.label_id) INTO touched
      FROM public.issue_label_relations r
     WHERE r.issue_id IN (SELECT c.id
                            FROM (SELECT o.id, o.status IN ('done', 'canceled') FROM old_rows o
                                  EXCEPT ALL
                                  SELECT n.id, n.status IN ('done', 'canceled') FROM new_rows n) AS c(id, closed));
  ELSIF TG_OP = 'INSERT' THEN
    SELECT array_agg(DISTINCT n.label_id) INTO touched FROM new_rows n;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(DISTINCT o.label_id) INTO touched FROM old_rows o;
  ELSE
    SELECT array_agg(DISTINCT x.label_id) INTO touched
      FROM (SELECT label_id FROM old_rows UNION SELECT label_id FROM new_rows) x;
  END IF;
  PERFORM public.product_recount_labels(touched);
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION public.product_refresh_label_statistics() IS 'Statement-level AFTER trigger on issue_label_relations (insert, update, delete) and on issues (update of status): recounts the labels the statement touched, read from its transition tables.';

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

DROP TRIGGER labels_statistics_start_at_zero ON public.labels;
DROP TRIGGER milestones_statistics_start_at_zero ON public.milestones;
DROP FUNCTION public.product_statistics_start_at_zero();
DROP TRIGGER issues_label_statistics_delete ON public.issues;
CREATE OR REPLACE TRIGGER issues_milestone_statistics_insert
  AFTER INSERT ON public.issues REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION public.product_refresh_milestone_statistics();
CREATE OR REPLACE TRIGGER issues_milestone_statistics_update
  AFTER UPDATE ON public.issues REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION public.product_refresh_milestone_statistics();
CREATE OR REPLACE TRIGGER issues_milestone_statistics_delete
  AFTER DELETE ON public.issues REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION public.product_subtract_milestone_statistics();
CREATE OR REPLACE TRIGGER issues_label_statistics_update
  AFTER UPDATE ON public.issues REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION public.product_refresh_label_statistics();
CREATE OR REPLACE TRIGGER issue_label_relations_label_statistics_insert
  AFTER INSERT ON public.issue_label_relations REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION public.product_refresh_label_statistics();
CREATE OR REPLACE TRIGGER issue_label_relations_label_statistics_update
  AFTER UPDATE ON public.issue_label_relations REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION public.product_refresh_label_statistics();
CREATE OR REPLACE TRIGGER issue_label_relations_label_statistics_delete
  AFTER DELETE ON public.issue_label_relations REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION public.product_subtract_label_statistics();
DROP FUNCTION public.product_count_label_statistics();
DROP FUNCTION public.product_count_milestone_statistics();
COMMENT ON COLUMN public.milestones.open_issue_count IS 'Issues in the milestone whose status is not done or canceled; maintained by product_refresh_milestone_statistics(), never written by hand.';
COMMENT ON COLUMN public.milestones.total_issue_count IS 'All issues in the milestone; maintained by product_refresh_milestone_statistics(), never written by hand.';
COMMENT ON COLUMN public.labels.open_issue_count IS 'Labelled issues whose status is not done or canceled; maintained by product_refresh_label_statistics(), never written by hand.';
COMMENT ON COLUMN public.labels.total_issue_count IS 'All labelled issues; maintained by product_refresh_label_statistics(), never written by hand.';
COMMENT ON FUNCTION public.product_recount_milestones(bigint[]) IS 'Recounts milestones.open_issue_count and total_issue_count for the given milestones (ids that no longer exist are skipped); called by the issue triggers, and usable to repair counts.';
COMMENT ON FUNCTION public.product_recount_labels(bigint[]) IS 'Recounts labels.open_issue_count and total_issue_count for the given labels (ids that no longer exist are skipped); called by the issue and issue_label_relations triggers, and usable to repair counts.';

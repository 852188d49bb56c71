-- A set-based generator of realistic product data (the schema of migration 0002), for benchmarks.
--
--   SELECT * FROM bench.generate_product_data(200000);      -- one workspace, ~1.47M rows
--   SELECT * FROM bench.generate_product_data(2000, 2);     -- two workspaces of 2,000 issues each
--
-- Every table is filled by one INSERT ... SELECT over generate_series (or over the issues just made):
-- no row loops. Ids are computed, not generated: each table's new ids start after its current
-- max(id), rows are inserted with OVERRIDING SYSTEM VALUE, and every foreign key is an arithmetic
-- function of the row number, so no insert has to look another table up. The identity sequences
-- are moved past the new ids at the end. The data is deterministic: the same arguments on the same
-- starting database give the same rows.
--
-- Per workspace of N issues:
--   users         max(10, N/200), each a member of the workspace (1 owner, 4 admins) and of 1-2 teams
--   teams         max(2, round(N/2000))
--   projects      max(2, N/500), 9 in 10 owned by a team, 4 in 5 with a lead; 3 milestones each
--   labels        20 workspace labels + 2 per team
--   issues        N: 9 in 10 in a project (the project's team), 4 in 5 of those in a milestone,
--                 3 in 4 assigned; 1 in 10 a sub-issue; 1 in 50 created from a comment;
--                 statuses 20% backlog, 20% todo, 10% in progress, 40% done, 10% canceled
--   comments      3 per issue; the third replies to the first on every other issue
--   reactions     2 per issue (one each on an issue's first two comments: 2/3 a comment), the
--                 proportion of the 1M-row tree measured in GUIDE.md (150k issues, 450k comments,
--                 300k reactions, 150k label relations)
--   label rels    0, 1 or 2 per issue (1 on average)
--   subscriptions 1 per 10 issues; favorites 1 per 50; links 1 per 20; relations 1 per 20;
--   attachments   1 per 10 issues
-- So N = 200,000 gives about 1.47M rows, 1.4M of them in issues, comments, reactions and labels.

CREATE SCHEMA IF NOT EXISTS bench;
COMMENT ON SCHEMA bench IS 'Benchmark helpers (data generators); not part of the product or the engine.';

CREATE OR REPLACE FUNCTION bench.generate_product_data(issues integer, workspaces integer DEFAULT 1)
RETURNS TABLE (table_name text, rows bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
#variable_conflict use_column
DECLARE
  n   bigint := $1;                                 -- issues per workspace
  nw  bigint := $2;                                 -- workspaces
  nu  bigint := greatest(10, $1 / 200);             -- users per workspace
  nt  bigint := greatest(2, round($1 / 2000.0));    -- teams per workspace
  np  bigint := greatest(2, $1 / 500);              -- projects per workspace
  nm  bigint := 3;                                  -- milestones per project
  nl  bigint := 20 + 2 * greatest(2, round($1 / 2000.0));  -- labels per workspace
  -- Each table's ids start after these.
  wb bigint; ub bigint; wmb bigint; tb bigint; tmb bigint; pb bigint; mb bigint; lb bigint;
  ib bigint; cb bigint; rb bigint; sb bigint; fb bigint; kb bigint; xb bigint; ab bigint;
  emoji constant text[] := ARRAY['+1', 'heart', 'tada', 'eyes', 'rocket', 'laugh'];
  k bigint;
  t text;
  fast boolean;
  old_role text := current_setting('session_replication_role');
  fk record;
  broken boolean;
BEGIN
  IF n IS NULL OR n < 1 OR nw IS NULL OR nw < 1 THEN
    RAISE EXCEPTION 'generate_product_data: issues and workspaces must be at least 1 (got %, %)', $1, $2;
  END IF;

  -- Fast path (superuser only): skip the per-row foreign-key triggers while inserting, then check
  -- every foreign key once, set-based, and recount the statistics the skipped triggers would have
  -- kept. Per-row foreign-key checks are about three quarters of the insert time. Without superuser
  -- the triggers run as usual (same result, about four times slower).
  fast := (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user);
  IF fast THEN
    PERFORM set_config('session_replication_role', 'replica', true);
  END IF;

  SELECT coalesce(max(id), 0) INTO wb  FROM public.workspaces;
  SELECT coalesce(max(id), 0) INTO ub  FROM public.users;
  SELECT coalesce(max(id), 0) INTO wmb FROM public.workspace_memberships;
  SELECT coalesce(max(id), 0) INTO tb  FROM public.teams;
  SELECT coalesce(max(id), 0) INTO tmb FROM public.team_memberships;
  SELECT coalesce(max(id), 0) INTO pb  FROM public.projects;
  SELECT coalesce(max(id), 0) INTO mb  FROM public.milestones;
  SELECT coalesce(max(id), 0) INTO lb  FROM public.labels;
  SELECT coalesce(max(id), 0) INTO ib  FROM public.issues;
  SELECT coalesce(max(id), 0) INTO cb  FROM public.comments;
  SELECT coalesce(max(id), 0) INTO rb  FROM public.comment_reactions;
  SELECT coalesce(max(id), 0) INTO sb  FROM public.issue_subscriptions;
  SELECT coalesce(max(id), 0) INTO fb  FROM public.favorites;
  SELECT coalesce(max(id), 0) INTO kb  FROM public.issue_links;
  SELECT coalesce(max(id), 0) INTO xb  FROM public.issue_relations;
  SELECT coalesce(max(id), 0) INTO ab  FROM public.attachments;

  -- Workspaces: w = 0 .. nw-1.
  INSERT INTO public.workspaces (id, name, slug, created_at) OVERRIDING SYSTEM VALUE
  SELECT wb + w + 1, 'Bench workspace ' || (wb + w + 1), 'bench-' || (wb + w + 1), now() - interval '2 years'
    FROM generate_series(0, nw - 1) AS w;
  GET DIAGNOSTICS k = ROW_COUNT; table_name := 'workspaces'; rows := k; RETURN NEXT;

  -- Users: g = 0 .. nw*nu-1, workspace g / nu.
  INSERT INTO public.users (id, email, name, created_at) OVERRIDING SYSTEM VALUE
  SELECT ub + g + 1, 'user' || (ub + g + 1) || '@bench.example', 'User ' || (ub + g + 1),
         now() - interval '2 years' + (g % 1000) * interval '1 hour'
    FROM generate_series(0, nw * nu - 1) AS g;
  GET DIAGNOSTICS k = ROW_COUNT; table_name := 'users'; rows := k; RETURN NEXT;

  INSERT INTO public.workspace_memberships (id, workspace_id, user_id, role, created_at) OVERRIDING SYSTEM VALUE
  SELECT wmb + g + 1, wb + g / nu + 1, ub + g + 1,
         CASE WHEN g % nu = 0 THEN 'owner' WHEN g % nu < 5 THEN 'admin' ELSE 'member' END,
         now() - interval '2 years'
    FROM generate_series(0, nw * nu - 1) AS g;
  GET DIAGNOSTICS k = ROW_COUNT; table_name := 'workspace_memberships'; rows := k; RETURN NEXT;

  -- Teams: g = 0 .. nw*nt-1, workspace g / nt, key T<local>.
  INSERT INTO public.teams (id, workspace_id, name, key, created_at) OVERRIDING SYSTEM VALUE
  SELECT tb + g + 1, wb + g / nt + 1, 'Team ' || (g % nt), 'T' || (g % nt), now() - interval '2 years'
    FROM generate_series(0, nw * nt - 1) AS g;
  GET DIAGNOSTICS k = ROW_COUNT; table_name := 'teams'; rows := k; RETURN NEXT;

  -- Every user is in team (u mod nt); every third user also in the next team.
  INSERT INTO public.team_memberships (id, team_id, user_id, created_at) OVERRIDING SYSTEM VALUE
  SELECT tmb + row_number() OVER (ORDER BY g, s),
         tb + (g / nu) * nt + ((g % nu + s) % nt) + 1, ub + g + 1, now() - interval '2 years'
    FROM generate_series(0, nw * nu - 1) AS g
   CROSS JOIN generate_series(0, 1) AS s
   WHERE s = 0 OR (g % nu) % 3 = 0;
  GET DIAGNOSTICS k = ROW_COUNT; table_name := 'team_memberships'; rows := k; RETURN NEXT;

  -- Projects: g = 0 .. nw*np-1, local p = g % np; team p mod nt (none when p mod 10 = 9).
  INSERT INTO public.projects (id, workspace_id, team_id, lead_id, name, created_at) OVERRIDING SYSTEM VALUE
  SELECT pb + g + 1, wb + g / np + 1,
         CASE WHEN g % np % 10 = 9 THEN NULL ELSE tb + (g / np) * nt + (g % np) % nt + 1 END,
         CASE WHEN g % np % 5 = 4 THEN NULL ELSE ub + (g / np) * nu + (g % np * 7) % nu + 1 END,
         'Project ' || (g % np), now() - interval '1 year'
    FROM generate_series(0, nw * np - 1) AS g;
  GET DIAGNOSTICS k = ROW_COUNT; table_name := 'projects'; rows := k; RETURN NEXT;

  -- Milestones: nm per project, g = 0 .. nw*np*nm-1, project g / nm.
  INSERT INTO public.milestones (id, project_id, name, target_date, created_at) OVERRIDING SYSTEM VALUE
  SELECT mb + g + 1, pb + g / nm + 1, 'Milestone ' || (g % nm + 1),
         current_date + ((g % nm) * 30)::integer, now() - interval '1 year'
    FROM generate_series(0, nw * np * nm - 1) AS g;
  GET DIAGNOSTICS k = ROW_COUNT; table_name := 'milestones'; rows := k; RETURN NEXT;

  -- Labels: 20 workspace labels, then 2 per team.
  INSERT INTO public.labels (id, workspace_id, team_id, name, color, created_at) OVERRIDING SYSTEM VALUE
  SELECT lb + g + 1, wb + g / nl + 1,
         CASE WHEN g % nl < 20 THEN NULL ELSE tb + (g / nl) * nt + (g % nl - 20) / 2 + 1 END,
         'label-' || (g % nl), '#' || lpad(to_hex((g * 2654435761) % 16777216), 6, '0'), now() - interval '1 year'
    FROM generate_series(0, nw * nl - 1) AS g;
  GET DIAGNOSTICS k = ROW_COUNT; table_name := 'labels'; rows := k; RETURN NEXT;

  -- Issues: g = 0 .. nw*n-1, workspace w = g / n, local i = g % n, project p = i mod np.
  INSERT INTO public.issues (id, workspace_id, team_id, project_id, milestone_id, assignee_id, creator_id,
                             parent_issue_id, title, description, status, created_at) OVERRIDING SYSTEM VALUE
  SELECT ib + g + 1,
         wb + w + 1,
         CASE WHEN no_project THEN tb + w * nt + i % nt + 1
              WHEN p % 10 = 9 THEN NULL
              ELSE tb + w * nt + p % nt + 1 END,
         CASE WHEN no_project THEN NULL ELSE pb + w * np + p + 1 END,
         CASE WHEN no_project OR no_milestone THEN NULL ELSE mb + (w * np + p) * nm + (i / np) % nm + 1 END,
         CASE WHEN i % 4 = 0 THEN NULL ELSE ub + w * nu + (i * 7) % nu + 1 END,
         ub + w * nu + i % nu + 1,
         CASE WHEN i % 10 = 3 AND i >= 10 THEN ib + g - 3 + 1 END,   -- sub-issue of a top-level issue
         'Issue ' || i,
         'Generated issue ' || i || ' of workspace ' || (wb + w + 1) || '.',
         (ARRAY['backlog', 'backlog', 'todo', 'todo', 'in_progress', 'done', 'done', 'done', 'done', 'canceled'])[status_index + 1],
         now() - (n - i) * interval '1 minute'
    FROM (SELECT g, g / n AS w, g % n AS i, (g % n) % np AS p,
                 -- Two scramblings of i, so that project, milestone and status are not all decided
                 -- by i's last digit (np is a multiple of 10 at most sizes).
                 (g % n) * 7919 % 10007 % 10 = 7 AS no_project,
                 (g % n) * 7919 % 10007 / 10 % 5 = 0 AS no_milestone,
                 (g % n) * 6007 % 10009 % 10 AS status_index
            FROM generate_series(0, nw * n - 1) AS g) AS s;
  GET DIAGNOSTICS k = ROW_COUNT; table_name := 'issues'; rows := k; RETURN NEXT;

  -- Comments: 3 per issue, ids cb + 3*g + c + 1; the third replies to the first on even issues.
  INSERT INTO public.comments (id, issue_id, team_id, author_id, parent_comment_id, body, created_at) OVERRIDING SYSTEM VALUE
  SELECT cb + (i.id - ib - 1) * 3 + c + 1,
         i.id,
         i.team_id,
         ub + (i.workspace_id - wb - 1) * nu + ((i.id - ib - 1) * 3 + c) * 13 % nu + 1,
         CASE WHEN c = 2 AND (i.id - ib - 1) % 2 = 0 THEN cb + (i.id - ib - 1) * 3 + 1 END,
         'Comment ' || c || ' on issue ' || i.id || '.',
         i.created_at + (c + 1) * interval '1 hour'
    FROM public.issues i
   CROSS JOIN generate_series(0, 2) AS c
   WHERE i.id > ib;
  GET DIAGNOSTICS k = ROW_COUNT; table_name := 'comments'; rows := k; RETURN NEXT;

  -- 1 issue in 50 was created from the first comment of an issue 25 before it.
  UPDATE public.issues i
     SET parent_comment_id = cb + (i.id - ib - 1 - 25) * 3 + 1
   WHERE i.id > ib AND (i.id - ib - 1) % n % 50 = 25 AND (i.id - ib - 1) % n >= 50;

  -- Reactions: one on each of an issue's first two comments (2 per issue).
  INSERT INTO public.comment_reactions (id, comment_id, user_id, emoji, created_at) OVERRIDING SYSTEM VALUE
  SELECT rb + r + 1,
         cb + (r / 2) * 3 + r % 2 + 1,
         ub + (r / 2 / n) * nu + (r * 17 + 5) % nu + 1,
         emoji[r % 6 + 1],
         now() - interval '1 day'
    FROM generate_series(0, nw * n * 2 - 1) AS r;
  GET DIAGNOSTICS k = ROW_COUNT; table_name := 'comment_reactions'; rows := k; RETURN NEXT;

  -- Label relations: 0, 1 or 2 per issue; the first a workspace label, the second a label of the
  -- issue's team (another workspace label when it has none).
  INSERT INTO public.issue_label_relations (issue_id, label_id, created_at)
  SELECT i.id,
         CASE WHEN s = 0 THEN lb + (i.workspace_id - wb - 1) * nl + (i.id * 7) % 20 + 1
              WHEN i.team_id IS NULL THEN lb + (i.workspace_id - wb - 1) * nl + ((i.id * 7) % 20 + 1) % 20 + 1
              ELSE lb + (i.workspace_id - wb - 1) * nl + 20 + ((i.team_id - tb - 1) % nt) * 2 + (i.id / 7) % 2 + 1 END,
         i.created_at
    FROM public.issues i
   CROSS JOIN generate_series(0, 1) AS s
   WHERE i.id > ib AND s < (i.id - ib - 1) % 3;
  GET DIAGNOSTICS k = ROW_COUNT; table_name := 'issue_label_relations'; rows := k; RETURN NEXT;

  -- Subscriptions (1 per 10 issues), favorites (1 per 50), links (1 per 20), relations (1 per 20),
  -- attachments (1 per 10): g runs over the picked issues only, so ids stay dense.
  INSERT INTO public.issue_subscriptions (id, issue_id, user_id, created_at) OVERRIDING SYSTEM VALUE
  SELECT sb + j + 1, ib + (j * 10 + 1) + 1, ub + ((j * 10 + 1) / n) * nu + (j * 11) % nu + 1, now()
    FROM generate_series(0, (nw * n - 2) / 10) AS j;
  GET DIAGNOSTICS k = ROW_COUNT; table_name := 'issue_subscriptions'; rows := k; RETURN NEXT;

  INSERT INTO public.favorites (id, user_id, issue_id, created_at) OVERRIDING SYSTEM VALUE
  SELECT fb + j + 1, ub + ((j * 50 + 2) / n) * nu + (j * 3) % nu + 1, ib + (j * 50 + 2) + 1, now()
    FROM generate_series(0, (nw * n - 3) / 50) AS j;
  GET DIAGNOSTICS k = ROW_COUNT; table_name := 'favorites'; rows := k; RETURN NEXT;

  INSERT INTO public.issue_links (id, issue_id, url, title, created_at) OVERRIDING SYSTEM VALUE
  SELECT kb + j + 1, ib + (j * 20 + 4) + 1, 'https://git.example.com/bench/pull/' || (kb + j + 1),
         'Pull request ' || (kb + j + 1), now()
    FROM generate_series(0, (nw * n - 5) / 20) AS j;
  GET DIAGNOSTICS k = ROW_COUNT; table_name := 'issue_links'; rows := k; RETURN NEXT;

  -- Issue g (g mod 20 = 6) relates to issue g + 1, within the same workspace.
  INSERT INTO public.issue_relations (id, issue_id, related_issue_id, relation_type, created_at) OVERRIDING SYSTEM VALUE
  SELECT xb + row_number() OVER (ORDER BY j), ib + (j * 20 + 6) + 1, ib + (j * 20 + 6) + 2,
         (ARRAY['blocks', 'duplicates', 'relates'])[j % 3 + 1], now()
    FROM generate_series(0, (nw * n - 7) / 20) AS j
   WHERE (j * 20 + 6) % n + 1 < n;
  GET DIAGNOSTICS k = ROW_COUNT; table_name := 'issue_relations'; rows := k; RETURN NEXT;

  INSERT INTO public.attachments (id, issue_id, storage_key, file_name, content_type, byte_size, created_at) OVERRIDING SYSTEM VALUE
  SELECT ab + j + 1, ib + (j * 10 + 8) + 1, 'bench/attachments/' || (ab + j + 1) || '.png',
         'screenshot-' || j || '.png', 'image/png', (j * 7919) % 5000000, now()
    FROM generate_series(0, (nw * n - 9) / 10) AS j;
  GET DIAGNOSTICS k = ROW_COUNT; table_name := 'attachments'; rows := k; RETURN NEXT;

  IF fast THEN
    PERFORM set_config('session_replication_role', old_role, true);
    -- Every foreign key of the product holds (one anti-join per key, over the whole table).
    FOR fk IN
      SELECT c.conname, c.conrelid::regclass AS child, a.attname AS col, c.confrelid::regclass AS parent, pa.attname AS pcol
        FROM pg_catalog.pg_constraint c
        JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        JOIN pg_catalog.pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = c.confkey[1]
       WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace AND cardinality(c.conkey) = 1
       ORDER BY 1
    LOOP
      EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s c WHERE c.%I IS NOT NULL AND NOT EXISTS (SELECT 1 FROM %s p WHERE p.%I = c.%I))',
                     fk.child, fk.col, fk.parent, fk.pcol, fk.col) INTO broken;
      IF broken THEN
        RAISE EXCEPTION 'generate_product_data: foreign key % does not hold on the generated data', fk.conname;
      END IF;
    END LOOP;
    -- The statistics the skipped triggers would have kept.
    PERFORM public.product_recount_milestones(ARRAY(SELECT id FROM public.milestones WHERE id > mb));
    PERFORM public.product_recount_labels(ARRAY(SELECT id FROM public.labels WHERE id > lb));
  END IF;

  -- Move every identity sequence past the ids just used.
  FOREACH t IN ARRAY ARRAY['workspaces', 'users', 'workspace_memberships', 'teams', 'team_memberships',
                           'projects', 'milestones', 'labels', 'issues', 'comments', 'comment_reactions',
                           'issue_subscriptions', 'favorites', 'issue_links', 'issue_relations', 'attachments']
  LOOP
    EXECUTE format('SELECT setval(pg_get_serial_sequence(%L, ''id''), greatest(max(id), 1), max(id) IS NOT NULL) FROM public.%I',
                   'public.' || t, t);
  END LOOP;
  RETURN;
END
$$;
COMMENT ON FUNCTION bench.generate_product_data(integer, integer) IS 'Fills the product schema with a realistic, deterministic dataset by set-based inserts: per workspace the given number of issues and everything around them (~7.3 rows an issue); returns the rows inserted per table.';

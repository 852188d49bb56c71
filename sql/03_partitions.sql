-- Partitioned tables. A product registers the partitioned table (the parent), never its partitions,
-- and every concern wires the parent. PostgreSQL carries part of that wiring down by itself: columns,
-- indexes and row-level triggers created on a parent are cloned onto every partition, present and
-- future. The rest it does not carry:
--   statement-level triggers  fire only for the table a statement names: a DELETE on a partition
--                             runs none of its parent's (no audit, no soft-delete flush, no files);
--   row-level security        applies only to the table a query names: a partition queried directly
--                             shows what the parent's policies hide;
--   grants                    a partition has its own (the engine updates a partition directly when
--                             a foreign key declared on that partition cascades into it).
-- deletion.wire_partitions(parent) copies those three from the parent onto every partition, so a
-- row reached through the parent or through a partition behaves the same. It runs last among the
-- wire_* functions (deletion.wire_functions), after the concerns have wired the parent, so it copies
-- what they installed without knowing any of them. A partition created or attached later is wired by
-- deletion.wire(parent) (deletion.attach_partition does both), by the next migrate, and until then
-- lint reports it (rule wiring_differs). An event trigger could wire it at once, but creating one
-- needs a superuser, which managed PostgreSQL does not give.
--
-- Engine trigger functions that fire on a partition find the registered table with
-- deletion.registered_table_of(TG_RELID), so what they record names the table the product registered.

-- The registered table a relation belongs to: itself when registered, else its nearest registered
-- partitioned ancestor; NULL when neither is registered.
CREATE OR REPLACE FUNCTION deletion.registered_table_of(relid oid)
RETURNS regclass
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT a.rel::regclass
    FROM (SELECT registered_table_of.relid AS rel, 0::bigint AS ord
          UNION ALL
          SELECT p.ancestor, p.ord FROM pg_partition_ancestors(registered_table_of.relid) WITH ORDINALITY AS p(ancestor, ord)
           WHERE p.ancestor <> registered_table_of.relid) a
    JOIN pg_class c ON c.oid = a.rel
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN deletion.table_policies tp ON tp.table_schema = n.nspname AND tp.table_name = c.relname
   ORDER BY a.ord
   LIMIT 1
$$;
COMMENT ON FUNCTION deletion.registered_table_of(oid) IS 'The registered table a relation belongs to: itself, or for a partition its nearest registered ancestor (NULL when none is registered).';

-- Every partition of a table, at every level (intermediate partitioned partitions included), and
-- nothing for a table that is not partitioned.
CREATE OR REPLACE FUNCTION deletion.partitions_of(target regclass)
RETURNS SETOF regclass
LANGUAGE sql
STABLE
ROWS 10
SET search_path = pg_catalog
AS $$
  SELECT t.relid::regclass FROM pg_partition_tree(target) t WHERE t.relid <> target::oid ORDER BY t.level, t.relid::regclass::text
$$;
COMMENT ON FUNCTION deletion.partitions_of(regclass) IS 'The partitions of a partitioned table, every level, parents before their partitions.';

-- The statements that would make every partition of `target` carry the parent's engine wiring, one
-- row each (none when all is in place): its statement-level deletion_* triggers (same events, same
-- transition tables, same function and arguments), its row-level security switch, its deletion_*
-- policies, and the engine role's grants. Engine objects on a partition that the parent no longer has
-- are dropped. Read by wire_partitions (which runs them) and by lint (which reports them), so the two
-- cannot disagree; a partition that already matches costs no DDL and no lock.
CREATE OR REPLACE FUNCTION deletion.partition_wiring_statements(target regclass)
RETURNS TABLE (partition regclass, statement text)
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  WITH parts AS (
    SELECT p AS part FROM deletion.partitions_of(target) p
  ), parent_triggers AS (
    SELECT t.tgname, pg_get_triggerdef(t.oid) AS def
      FROM pg_trigger t
     WHERE t.tgrelid = target AND NOT t.tgisinternal AND t.tgname LIKE 'deletion\_%' AND (t.tgtype & 1) = 0
  ), wanted_triggers AS (
    -- The parent's definition with the partition's name in place of the parent's.
    SELECT p.part, pt.tgname,
           overlay(pt.def PLACING format(' ON %s ', p.part) FROM position(format(' ON %s ', target) IN pt.def)
                   FOR length(format(' ON %s ', target))) AS def
      FROM parts p CROSS JOIN parent_triggers pt
  ), existing_triggers AS (
    SELECT p.part, t.tgname, pg_get_triggerdef(t.oid) AS def
      FROM parts p JOIN pg_trigger t ON t.tgrelid = p.part
     WHERE NOT t.tgisinternal AND t.tgparentid = 0 AND t.tgname LIKE 'deletion\_%' AND (t.tgtype & 1) = 0
  ), parent_policies AS (
    SELECT pol.policyname, pol.permissive, pol.roles, pol.cmd, pol.qual, pol.with_check
      FROM pg_policies pol JOIN pg_class c ON c.relname = pol.tablename
      JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = pol.schemaname
     WHERE c.oid = target AND pol.policyname LIKE 'deletion\_%'
  ), existing_policies AS (
    SELECT p.part, pol.policyname, pol.permissive, pol.roles, pol.cmd, pol.qual, pol.with_check
      FROM parts p JOIN pg_class c ON c.oid = p.part
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_policies pol ON pol.schemaname = n.nspname AND pol.tablename = c.relname
     WHERE pol.policyname LIKE 'deletion\_%'
  ), statements AS (
    -- Grants first: the engine's role needs its rights on a partition before anything runs there.
    SELECT p.part, 1 AS step, format('GRANT %s ON %s TO deletion_owner', priv, p.part) AS statement
      FROM parts p CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) priv
     WHERE to_regrole('deletion_owner') IS NOT NULL
       AND has_table_privilege('deletion_owner', target, priv) AND NOT has_table_privilege('deletion_owner', p.part, priv)
    UNION ALL
    SELECT p.part, 1, format('REVOKE %s ON %s FROM deletion_owner', priv, p.part)
      FROM parts p CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) priv
     WHERE to_regrole('deletion_owner') IS NOT NULL
       AND NOT has_table_privilege('deletion_owner', target, priv) AND has_table_privilege('deletion_owner', p.part, priv)
    UNION ALL
    SELECT p.part, 2, format('ALTER TABLE %s %s ROW LEVEL SECURITY', p.part, CASE WHEN parent.relrowsecurity THEN 'ENABLE' ELSE 'DISABLE' END)
      FROM parts p JOIN pg_class c ON c.oid = p.part CROSS JOIN (SELECT relrowsecurity FROM pg_class WHERE oid = target) parent
     WHERE c.relrowsecurity <> parent.relrowsecurity
       -- RLS is turned off on a partition only when the engine's policies were its only ones.
       AND (parent.relrowsecurity OR NOT EXISTS (SELECT FROM pg_policy x WHERE x.polrelid = p.part AND x.polname NOT LIKE 'deletion\_%'))
    UNION ALL
    SELECT e.part, 3, format('DROP POLICY %I ON %s', e.policyname, e.part)
      FROM existing_policies e
     WHERE NOT EXISTS (SELECT FROM parent_policies w
                        WHERE (w.policyname, w.permissive, w.roles, w.cmd) = (e.policyname, e.permissive, e.roles, e.cmd)
                          AND w.qual IS NOT DISTINCT FROM e.qual AND w.with_check IS NOT DISTINCT FROM e.with_check)
    UNION ALL
    SELECT p.part, 4, concat(format('CREATE POLICY %I ON %s AS %s FOR %s TO %s', w.policyname, p.part, w.permissive, w.cmd,
                                    (SELECT string_agg(CASE WHEN r = 'public' THEN 'PUBLIC' ELSE quote_ident(r) END, ', ') FROM unnest(w.roles) r)),
                             ' USING (' || w.qual || ')', ' WITH CHECK (' || w.with_check || ')')
      FROM parts p CROSS JOIN parent_policies w
     WHERE NOT EXISTS (SELECT FROM existing_policies e
                        WHERE e.part = p.part
                          AND (w.policyname, w.permissive, w.roles, w.cmd) = (e.policyname, e.permissive, e.roles, e.cmd)
                          AND w.qual IS NOT DISTINCT FROM e.qual AND w.with_check IS NOT DISTINCT FROM e.with_check)
    UNION ALL
    SELECT e.part, 5, format('DROP TRIGGER %I ON %s', e.tgname, e.part)
      FROM existing_triggers e
     WHERE NOT EXISTS (SELECT FROM wanted_triggers w WHERE w.part = e.part AND w.tgname = e.tgname)
    UNION ALL
    SELECT w.part, 6, regexp_replace(w.def, '^CREATE TRIGGER', 'CREATE OR REPLACE TRIGGER')
      FROM wanted_triggers w
     WHERE NOT EXISTS (SELECT FROM existing_triggers e WHERE e.part = w.part AND e.tgname = w.tgname AND e.def = w.def)
  )
  SELECT s.part, s.statement FROM statements s ORDER BY s.part::text, s.step, s.statement
$$;
COMMENT ON FUNCTION deletion.partition_wiring_statements(regclass) IS 'The DDL that would give every partition of a registered partitioned table its parent''s statement triggers, row-level security, policies and engine grants (none when all match).';

-- Copies the parent's engine wiring onto its partitions (see the top of this file). A wire_*
-- function, so rewire() and wire() run it for every registered table (and wire() for one being
-- unregistered); it does nothing for a table that is not partitioned, and nothing for partitions
-- that already match.
CREATE OR REPLACE FUNCTION deletion.wire_partitions(target regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  ddl text;
BEGIN
  -- An unregistered parent is wired too: its partitions lose the copies of what unregistering removed.
  IF (SELECT relkind FROM pg_class WHERE oid = target) <> 'p' THEN
    RETURN;
  END IF;
  FOR ddl IN SELECT s.statement FROM deletion.partition_wiring_statements(target) s LOOP
    EXECUTE ddl;
  END LOOP;
END
$$;
COMMENT ON FUNCTION deletion.wire_partitions(regclass) IS 'Gives every partition of a registered partitioned table its parent''s statement triggers, row-level security, engine policies and engine grants (idempotent; run last by deletion.wire and deletion.rewire).';

-- Attaches a partition and wires it in the same transaction, so no statement ever reaches it
-- unwired. bound is the partition bound as ALTER TABLE ... ATTACH PARTITION takes it
-- ('FOR VALUES FROM (...) TO (...)', 'FOR VALUES IN (...)', 'FOR VALUES WITH (...)' or 'DEFAULT').
-- Runs as the caller, who must own both tables as for ATTACH PARTITION itself.
CREATE OR REPLACE FUNCTION deletion.attach_partition(parent regclass, partition regclass, bound text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
BEGIN
  IF bound !~* '^\s*(FOR\s+VALUES\s|DEFAULT\s*$)' OR position(';' IN bound) > 0 THEN
    RAISE EXCEPTION 'partition bound % is not one ATTACH PARTITION takes', bound
      USING ERRCODE = '22023', HINT = 'pass the bound alone, e.g. ''FOR VALUES FROM (''''2024-01-01'''') TO (''''2024-02-01'''')'' or ''DEFAULT''';
  END IF;
  EXECUTE format('ALTER TABLE %s ATTACH PARTITION %s %s', parent, partition, bound);
  PERFORM deletion.wire(parent);
END
$$;
COMMENT ON FUNCTION deletion.attach_partition(regclass, regclass, text) IS 'ALTER TABLE parent ATTACH PARTITION partition <bound>, then wires the parent''s engine triggers, policies and grants onto it, in one transaction.';

-- registered_table_of is read inside trigger functions that run as the engine's owner, and by lint;
-- partitions_of by lint. The wiring is for the roles that own tables and run migrations.
-- deletion_admin runs wire_partitions through the enable_* functions granted to it (track_files, the
-- protection rules); the DDL runs as the caller, so it wires only tables the caller owns.
REVOKE EXECUTE ON FUNCTION deletion.attach_partition(regclass, regclass, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION deletion.wire_partitions(regclass) TO deletion_admin;
GRANT EXECUTE ON FUNCTION deletion.registered_table_of(oid), deletion.partitions_of(regclass),
                          deletion.partition_wiring_statements(regclass) TO deletion_app, deletion_admin;

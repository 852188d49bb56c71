-- Monitoring: seed 004's list ("cascade deletion chains exceeding threshold, bulk deletions (>10
-- records at once), deletions by non-admin users, orphaned records after SET NULL operations") and
-- seed 003's alert (more than 100 deletions from a table in 24 hours), as views over the audit log
-- (docs/audit.md, issue 4). docs/monitoring.md describes each view.
--
-- Thresholds are read by deletion.monitoring_threshold(name): the defaults below, or a value set for
-- the database or role (ALTER DATABASE app SET deletion.monitor_bulk_rows = 50). A threshold only
-- changes what the views report; it grants nothing.

-- A monitoring threshold: the setting deletion.monitor_<name> when set, else the default.
CREATE OR REPLACE FUNCTION deletion.monitoring_threshold(name text)
RETURNS numeric
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
  configured text := nullif(current_setting('deletion.monitor_' || name, true), '');
  fallback numeric := CASE name
                        WHEN 'cascade_depth' THEN 3      -- foreign keys deep
                        WHEN 'bulk_rows' THEN 10         -- rows one statement deletes (seed 004)
                        WHEN 'daily_deletions' THEN 100  -- rows deleted from one table in 24 hours (seed 003)
                      END;
BEGIN
  IF fallback IS NULL THEN
    RAISE EXCEPTION 'no monitoring threshold named "%"', name
      USING ERRCODE = '22023', HINT = 'cascade_depth, bulk_rows or daily_deletions';
  END IF;
  RETURN coalesce(configured::numeric, fallback);
EXCEPTION WHEN invalid_text_representation THEN
  RAISE EXCEPTION 'deletion.monitor_% must be a number, not "%"', name, configured USING ERRCODE = '22023';
END
$$;
COMMENT ON FUNCTION deletion.monitoring_threshold(text) IS 'A monitoring threshold (cascade_depth 3, bulk_rows 10, daily_deletions 100), or the deletion.monitor_<name> setting when set.';

-- How far each table is from `root` through foreign keys whose ON DELETE acts (CASCADE, SET NULL,
-- SET DEFAULT): the shortest chain a delete of `root` follows to reach it. Names are
-- schema-qualified text, as the audit log writes them.
CREATE OR REPLACE FUNCTION deletion.cascade_distances(root text)
RETURNS TABLE (table_name text, distance integer)
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  WITH RECURSIVE walk (rel, distance, path) AS (
    SELECT c.oid, 0, ARRAY[c.oid]
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE format('%I.%I', n.nspname, c.relname) = root
    UNION ALL
    SELECT fk.child::oid, w.distance + 1, w.path || fk.child::oid
      FROM walk w
      JOIN deletion.foreign_keys fk ON fk.parent = w.rel AND fk.on_delete IN ('cascade', 'set null', 'set default')
     WHERE fk.child::oid <> ALL (w.path)
  )
  SELECT format('%I.%I', n.nspname, c.relname), min(w.distance)
    FROM walk w JOIN pg_class c ON c.oid = w.rel JOIN pg_namespace n ON n.oid = c.relnamespace
   GROUP BY 1
$$;
COMMENT ON FUNCTION deletion.cascade_distances(text) IS 'Shortest foreign-key distance (through CASCADE / SET NULL / SET DEFAULT) from a table to every table its deletes reach.';

GRANT EXECUTE ON FUNCTION deletion.monitoring_threshold(text), deletion.cascade_distances(text) TO deletion_app, deletion_admin;

-- The views exist only while the audit log does (the runner rebuilds this module even after the
-- audit migration was reverted). Like the log, they are for deletion_admin only.
DO $views$
BEGIN
  IF to_regclass('audit.log') IS NULL OR to_regclass('audit.statements') IS NULL THEN
    RETURN;
  END IF;

  -- Every statement that deleted rows, with who ran it: the base of the views below.
  EXECUTE $v$
    CREATE OR REPLACE VIEW deletion.vw_deletion_statements AS
    SELECT s.txid,
           s.statement_seq,
           s.created_at,
           s.root_table,
           s.rows_deleted,
           s.rows_via_cascade,
           s.tables,
           s.table_names,
           t.actor,
           t.reason,
           t.acting_role,
           t.session_role,
           t.application_name,
           EXISTS (SELECT 1 FROM pg_roles r
                    WHERE r.rolname = t.acting_role AND pg_has_role(r.oid, 'deletion_admin', 'MEMBER')) AS by_admin
      FROM audit.statements s
      LEFT JOIN audit.transactions t ON t.txid = s.txid AND t.started_at = s.created_at
     WHERE s.rows_deleted > 0
  $v$;
  COMMENT ON VIEW deletion.vw_deletion_statements IS 'Every logged statement that deleted rows, with its root table, counts, tables, actor, role and whether that role is an admin.';

  -- Cascade chains longer than the threshold: statements whose delete reached a table more than
  -- cascade_depth foreign keys away from the table the statement named.
  EXECUTE $v$
    CREATE OR REPLACE VIEW deletion.vw_cascade_chains AS
    SELECT d.txid, d.statement_seq, d.created_at, d.root_table, chain.depth, d.rows_deleted, d.rows_via_cascade,
           d.table_names, d.acting_role, d.actor, deletion.monitoring_threshold('cascade_depth') AS threshold
      FROM deletion.vw_deletion_statements d
      CROSS JOIN LATERAL (SELECT max(cd.distance) AS depth
                            FROM deletion.cascade_distances(d.root_table) cd
                           WHERE cd.table_name = ANY (d.table_names)) chain
     WHERE chain.depth > deletion.monitoring_threshold('cascade_depth')
  $v$;
  COMMENT ON VIEW deletion.vw_cascade_chains IS 'Deleting statements whose cascade went deeper than the cascade_depth threshold (default 3 foreign keys).';

  -- Bulk deletions: one statement deleting more rows than the threshold (seed 004: more than 10).
  EXECUTE $v$
    CREATE OR REPLACE VIEW deletion.vw_bulk_deletions AS
    SELECT d.*, deletion.monitoring_threshold('bulk_rows') AS threshold
      FROM deletion.vw_deletion_statements d
     WHERE d.rows_deleted > deletion.monitoring_threshold('bulk_rows')
  $v$;
  COMMENT ON VIEW deletion.vw_bulk_deletions IS 'Statements that deleted more rows than the bulk_rows threshold (default 10, seed 004).';

  -- Deletions by roles that are not admins (not superusers, not deletion_admin members).
  EXECUTE $v$
    CREATE OR REPLACE VIEW deletion.vw_non_admin_deletions AS
    SELECT d.* FROM deletion.vw_deletion_statements d WHERE NOT d.by_admin
  $v$;
  COMMENT ON VIEW deletion.vw_non_admin_deletions IS 'Deleting statements run by a role that is neither a superuser nor a deletion_admin member.';

  -- Rows orphaned by SET NULL: rows a foreign key's ON DELETE SET NULL changed (a cascaded UPDATE whose
  -- changed columns all became NULL). Filter on created_at for "since a given time".
  EXECUTE $v$
    CREATE OR REPLACE VIEW deletion.vw_set_null_orphans AS
    SELECT l.created_at, l.txid, l.statement_seq, l.table_name, l.record_id,
           ARRAY(SELECT k FROM jsonb_object_keys(l.changed) k ORDER BY k) AS nulled_columns,
           s.root_table AS deleted_from
      FROM audit.log l
      JOIN audit.statements s ON s.txid = l.txid AND s.statement_seq = l.statement_seq
     WHERE l.action = 'UPDATE' AND l.via_cascade
       AND l.changed IS NOT NULL AND l.changed <> '{}'::jsonb
       AND NOT EXISTS (SELECT 1 FROM jsonb_each(l.changed) c WHERE c.value <> 'null'::jsonb)
  $v$;
  COMMENT ON VIEW deletion.vw_set_null_orphans IS 'Rows whose foreign key a delete set to NULL (ON DELETE SET NULL), with the columns cleared and the table the delete started from; filter on created_at.';

  -- Seed 003's alert: rows deleted or soft-deleted per table in the last 24 hours, against the threshold.
  EXECUTE $v$
    CREATE OR REPLACE VIEW deletion.vw_deletion_rate AS
    SELECT l.table_name,
           count(*) FILTER (WHERE l.action = 'DELETE') AS deleted_24h,
           count(*) FILTER (WHERE l.action = 'UPDATE') AS soft_deleted_24h,
           count(*) AS total_24h,
           deletion.monitoring_threshold('daily_deletions') AS threshold,
           count(*) > deletion.monitoring_threshold('daily_deletions') AS alert
      FROM audit.log l
     WHERE l.created_at > now() - interval '24 hours'
       AND (l.action = 'DELETE'
            OR (l.action = 'UPDATE' AND l.changed ? 'deleted_at' AND l.changed ->> 'deleted_at' IS NOT NULL
                AND l.old_data ->> 'deleted_at' IS NULL))
     GROUP BY l.table_name
  $v$;
  COMMENT ON VIEW deletion.vw_deletion_rate IS 'Rows deleted and soft-deleted per table in the last 24 hours, with seed 003''s alert when above the daily_deletions threshold (default 100).';

  -- Everything worth a look in the last 24 hours, one line each.
  EXECUTE $v$
    CREATE OR REPLACE VIEW deletion.vw_deletion_alerts AS
    SELECT 'deletion rate'::text AS kind, r.table_name AS subject,
           format('%s rows deleted or soft-deleted in 24 hours (threshold %s)', r.total_24h, r.threshold) AS detail,
           now() AS seen_at
      FROM deletion.vw_deletion_rate r WHERE r.alert
    UNION ALL
    SELECT 'bulk deletion', b.root_table,
           format('%s rows in one statement by %s (transaction %s)', b.rows_deleted, coalesce(b.acting_role, 'unknown'), b.txid),
           b.created_at
      FROM deletion.vw_bulk_deletions b WHERE b.created_at > now() - interval '24 hours'
    UNION ALL
    SELECT 'cascade chain', c.root_table,
           format('a delete cascaded %s foreign keys deep (threshold %s), %s rows (transaction %s)', c.depth, c.threshold, c.rows_deleted, c.txid),
           c.created_at
      FROM deletion.vw_cascade_chains c WHERE c.created_at > now() - interval '24 hours'
  $v$;
  COMMENT ON VIEW deletion.vw_deletion_alerts IS 'Alerts of the last 24 hours: deletion rate above threshold, bulk deletions, deep cascade chains.';

  GRANT SELECT ON deletion.vw_deletion_statements, deletion.vw_cascade_chains, deletion.vw_bulk_deletions,
                  deletion.vw_non_admin_deletions, deletion.vw_set_null_orphans, deletion.vw_deletion_rate,
                  deletion.vw_deletion_alerts
    TO deletion_admin;
END
$views$;

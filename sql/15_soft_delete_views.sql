-- Soft delete, part 6: what an admin looks at. The trash (one row per operation still deleted) and the
-- monitoring views of seed 003: active versus deleted rows per table, deletions per month, deletions
-- in the last 24 hours. All are for deletion_admin: they show what row-level security hides.

-- The views read the operation log through PL/pgSQL functions, resolved when called, so that this
-- module still loads after `migrate down` past 0010 (the engine is rebuilt on what is left).

-- The trash: every soft-delete operation neither restored nor purged, newest first, with whether it
-- can be restored right now and, when not, why (the same checks deletion.restore makes).
CREATE OR REPLACE FUNCTION deletion.trash()
RETURNS TABLE (op uuid, root_table text, root_key jsonb, deleted_by text, deleted_at timestamptz,
               deletion_reason text, rows_per_table jsonb, total_rows numeric, restorable boolean,
               not_restorable_because text[])
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
BEGIN
  RETURN QUERY
  SELECT o.op, o.root_table, o.root_key, o.deleted_by, o.performed_at, o.deletion_reason, o.rows_per_table,
         (SELECT sum(v::bigint) FROM jsonb_each_text(o.rows_per_table) AS r(k, v)),
         c.conflicts IS NULL,
         c.conflicts
    FROM deletion.soft_delete_operations o
    CROSS JOIN LATERAL (SELECT array_agg(x ORDER BY x) AS conflicts FROM deletion.restore_conflicts(o.op) AS x) c
   WHERE o.restored_at IS NULL AND o.purged_at IS NULL
   ORDER BY o.performed_at DESC, o.op;
END
$$;
COMMENT ON FUNCTION deletion.trash() IS 'The rows of deletion.vw_trash.';

CREATE OR REPLACE VIEW deletion.vw_trash AS SELECT * FROM deletion.trash();
COMMENT ON VIEW deletion.vw_trash IS 'Soft-delete operations still in the trash: root, who, when, why, rows per table, and whether deletion.restore(op) would succeed now (and why not).';

-- Active and deleted rows per soft-delete table (exact counts: each table is scanned).
CREATE OR REPLACE FUNCTION deletion.soft_delete_counts()
RETURNS TABLE (table_name text, active_rows bigint, deleted_rows bigint, total_rows bigint)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  target regclass;
BEGIN
  FOR target IN SELECT deletion.soft_delete_tables() LOOP
    RETURN QUERY EXECUTE format(
      'SELECT %L::text, count(*) FILTER (WHERE deleted_at IS NULL), count(*) FILTER (WHERE deleted_at IS NOT NULL), count(*) FROM %s',
      target::text, target);
  END LOOP;
END
$$;
COMMENT ON FUNCTION deletion.soft_delete_counts() IS 'Active, deleted and total rows of every soft-delete table.';

CREATE OR REPLACE VIEW deletion.vw_soft_delete_counts AS
SELECT table_name, active_rows, deleted_rows, total_rows,
       round(100.0 * deleted_rows / nullif(total_rows, 0), 1) AS deleted_percent
  FROM deletion.soft_delete_counts();
COMMENT ON VIEW deletion.vw_soft_delete_counts IS 'Active versus soft-deleted rows per soft-delete table, and the share deleted (seed 003''s table-size watch).';

-- Rows soft-deleted per table and month, from the operation log (restored and purged ones included:
-- it is the history of deletions, not of what is deleted now).
CREATE OR REPLACE FUNCTION deletion.soft_deletions_by_month()
RETURNS TABLE (month timestamptz, table_name text, operations bigint, rows_deleted numeric,
               rows_restored_since numeric, rows_purged_since numeric)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
BEGIN
  RETURN QUERY
  SELECT date_trunc('month', o.performed_at), r.table_name, count(*), sum(r.rows::bigint),
         sum(r.rows::bigint) FILTER (WHERE o.restored_at IS NOT NULL),
         sum(r.rows::bigint) FILTER (WHERE o.purged_at IS NOT NULL)
    FROM deletion.soft_delete_operations o
    CROSS JOIN LATERAL jsonb_each_text(o.rows_per_table) AS r(table_name, rows)
   GROUP BY 1, 2
   ORDER BY 1 DESC, 2;
END
$$;
COMMENT ON FUNCTION deletion.soft_deletions_by_month() IS 'The rows of deletion.vw_soft_deletions_by_month.';

CREATE OR REPLACE VIEW deletion.vw_soft_deletions_by_month AS SELECT * FROM deletion.soft_deletions_by_month();
COMMENT ON VIEW deletion.vw_soft_deletions_by_month IS 'Soft deletions per month and table, with how many of those rows were restored or purged since.';

-- Rows soft-deleted per table in the last 24 hours: the figure to alert on (seed 003).
CREATE OR REPLACE FUNCTION deletion.soft_deletions_last_24h()
RETURNS TABLE (table_name text, operations bigint, rows_deleted numeric, last_deleted_at timestamptz)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
BEGIN
  RETURN QUERY
  SELECT r.table_name, count(*), sum(r.rows::bigint), max(o.performed_at)
    FROM deletion.soft_delete_operations o
    CROSS JOIN LATERAL jsonb_each_text(o.rows_per_table) AS r(table_name, rows)
   WHERE o.performed_at > now() - interval '24 hours'
   GROUP BY 1
   ORDER BY 3 DESC, 1;
END
$$;
COMMENT ON FUNCTION deletion.soft_deletions_last_24h() IS 'The rows of deletion.vw_soft_deletions_last_24h.';

CREATE OR REPLACE VIEW deletion.vw_soft_deletions_last_24h AS SELECT * FROM deletion.soft_deletions_last_24h();
COMMENT ON VIEW deletion.vw_soft_deletions_last_24h IS 'Soft deletions per table in the last 24 hours (operations, rows, latest), for alerting on unusual deletion rates.';

REVOKE EXECUTE ON FUNCTION deletion.trash(), deletion.soft_deletions_by_month(), deletion.soft_deletions_last_24h() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION deletion.trash(), deletion.soft_deletions_by_month(), deletion.soft_deletions_last_24h() TO deletion_admin;
REVOKE EXECUTE ON FUNCTION deletion.soft_delete_counts() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION deletion.soft_delete_counts() TO deletion_admin;
GRANT SELECT ON deletion.vw_trash, deletion.vw_soft_delete_counts, deletion.vw_soft_deletions_by_month,
                deletion.vw_soft_deletions_last_24h
  TO deletion_admin;

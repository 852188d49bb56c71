-- Views over the audit log. Created only when the log's tables exist (the runner rebuilds this module
-- even after migration 0020 was reverted).

DO $views$
BEGIN
  IF to_regclass('audit.log') IS NULL THEN
    RETURN;
  END IF;

  -- Seed 004's name and columns: table_name is the bare table name ('issues'), so the seed's recovery
  -- query runs as written with the audit schema on the search path (docs/audit.md). The transaction's
  -- metadata is joined in: who (actor, roles), why (reason), from where (application_name).
  EXECUTE $v$
    CREATE OR REPLACE VIEW audit.audit_log AS
    SELECT l.id,
           l.created_at,
           l.txid,
           l.statement_seq,
           (parse_ident(l.table_name))[2] AS table_name,
           (parse_ident(l.table_name))[1] AS table_schema,
           l.table_name AS qualified_name,
           l.action,
           l.record_id,
           l.primary_key,
           l.old_data,
           l.changed,
           l.via_cascade,
           t.actor,
           t.reason,
           t.application_name,
           t.session_role,
           t.acting_role
      FROM audit.log l
      LEFT JOIN audit.transactions t ON t.txid = l.txid AND t.started_at = l.created_at
  $v$;
  COMMENT ON VIEW audit.audit_log IS 'audit.log with seed 004''s column names (table_name unqualified, qualified_name schema-qualified) and the transaction''s metadata.';
  GRANT SELECT ON audit.audit_log TO deletion_admin;

  -- One row per logged statement: what it touched, how many rows, whether it cascaded.
  EXECUTE $v$
    CREATE OR REPLACE VIEW audit.statements AS
    SELECT l.txid,
           l.statement_seq,
           min(l.created_at) AS created_at,
           min(l.table_name) FILTER (WHERE NOT l.via_cascade) AS root_table,
           count(*) FILTER (WHERE l.action = 'DELETE') AS rows_deleted,
           count(*) FILTER (WHERE l.action = 'UPDATE') AS rows_updated,
           count(*) FILTER (WHERE l.action = 'INSERT') AS rows_inserted,
           count(*) FILTER (WHERE l.via_cascade) AS rows_via_cascade,
           count(DISTINCT l.table_name) AS tables,
           array_agg(DISTINCT l.table_name) AS table_names,
           EXISTS (SELECT FROM audit.restorations r WHERE r.txid = l.txid AND r.statement_seq = l.statement_seq) AS restored
      FROM audit.log l
     GROUP BY l.txid, l.statement_seq
  $v$;
  COMMENT ON VIEW audit.statements IS 'One row per logged statement: its root table, rows deleted, updated and inserted, rows reached by cascades, and whether it was restored.';
  GRANT SELECT ON audit.statements TO deletion_admin;
END
$views$;

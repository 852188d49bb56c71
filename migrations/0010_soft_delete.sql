-- Up Migration

-- Soft delete: the registry's two options, the log of soft-delete operations (one row per operation,
-- the trash reads it), the unique constraints converted to partial unique indexes (so they can be put
-- back), and the hand-off table between a plain DELETE/UPDATE and the statement-level cascade.
-- The per-table wiring (columns, indexes, policies, triggers) is code: sql/11_soft_delete_wiring.sql.

ALTER TABLE deletion.table_policies
  ADD COLUMN soft_delete boolean NOT NULL DEFAULT false,
  ADD COLUMN delete_becomes_soft boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN deletion.table_policies.soft_delete IS 'Rows are soft-deleted (deleted_at, deleted_by, deletion_reason, deletion_op), hidden from the application role by row-level security, restorable by operation.';
COMMENT ON COLUMN deletion.table_policies.delete_becomes_soft IS 'A plain DELETE from any client becomes a soft delete with its cascade; only an admin with deletion.mode = ''hard'' removes rows.';

-- One row per soft-delete operation: what was deleted (root table and key), by whom, why, when, how
-- many rows per table, and whether it was restored or purged since. Table names are text (schema
-- qualified), never OIDs, so the log survives dump and restore.
CREATE TABLE deletion.soft_delete_operations (
  op             uuid        PRIMARY KEY,
  root_table     text        NOT NULL,
  root_key       jsonb       NOT NULL,
  deleted_by     bigint,
  deletion_reason text,
  performed_at   timestamptz NOT NULL,
  rows_per_table jsonb       NOT NULL DEFAULT '{}',
  restored_at    timestamptz,
  restored_by    bigint,
  purged_at      timestamptz
);
CREATE INDEX soft_delete_operations_performed_at_idx ON deletion.soft_delete_operations (performed_at);
COMMENT ON TABLE deletion.soft_delete_operations IS 'The soft-delete operations: one row per soft delete (its root and its cascade share the operation id); the trash and restore read it.';
COMMENT ON COLUMN deletion.soft_delete_operations.op IS 'The operation id stamped in deletion_op on every row the soft delete marked.';
COMMENT ON COLUMN deletion.soft_delete_operations.root_table IS 'The table the soft delete started from (schema-qualified name).';
COMMENT ON COLUMN deletion.soft_delete_operations.root_key IS 'The primary key(s) of the root row(s), as a JSON array of key objects.';
COMMENT ON COLUMN deletion.soft_delete_operations.performed_at IS 'When the operation soft-deleted its rows (their deleted_at). Not named deleted_at: the log itself is never soft-deleted.';
COMMENT ON COLUMN deletion.soft_delete_operations.rows_per_table IS 'Rows marked, per table: {"public.issues": 12, "public.comments": 40}.';
COMMENT ON COLUMN deletion.soft_delete_operations.restored_at IS 'When deletion.restore brought the operation back (NULL while in the trash).';
COMMENT ON COLUMN deletion.soft_delete_operations.purged_at IS 'When deletion.purge_soft_deleted removed the operation''s rows for good.';

-- Unique constraints and indexes converted to partial unique indexes (... WHERE deleted_at IS NULL),
-- with their original definition, so that turning soft delete off (or migrating down) can put them back.
CREATE TABLE deletion.soft_delete_unique_conversions (
  table_schema name NOT NULL,
  table_name   name NOT NULL,
  index_name   name NOT NULL,
  original     text NOT NULL,
  converted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (table_schema, table_name, index_name)
);
COMMENT ON TABLE deletion.soft_delete_unique_conversions IS 'Unique constraints/indexes of soft-delete tables made partial (unique among active rows only), with the SQL that recreates the original.';

-- Rows a plain DELETE (or UPDATE ... SET deleted_at) asked to soft-delete, handed from the row trigger
-- to the statement trigger that cascades them set-based. Rows live only inside the statement that
-- wrote them; unlogged because nothing here must survive a crash.
CREATE UNLOGGED TABLE deletion.soft_delete_requests (
  xact_id    xid8   NOT NULL,
  table_oid  oid    NOT NULL,
  row_key    jsonb  NOT NULL,
  deleted_by bigint,
  reason     text
);
CREATE INDEX soft_delete_requests_xact_idx ON deletion.soft_delete_requests (xact_id, table_oid);
COMMENT ON TABLE deletion.soft_delete_requests IS 'Transient hand-off from the soft-delete row triggers to their statement trigger (emptied by the end of each statement).';

GRANT SELECT ON deletion.soft_delete_operations TO deletion_admin;

-- Down Migration

-- Unwire every soft-delete table: our policies go, row-level security goes off where we turned it on,
-- converted unique constraints come back, and the four columns are dropped (with their indexes).
DO $unwire$
DECLARE
  t record;
  conv record;
BEGIN
  FOR t IN
    SELECT c.oid::regclass AS target, n.nspname, c.relname
      FROM deletion.table_policies tp
      JOIN pg_namespace n ON n.nspname = tp.table_schema
      JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = tp.table_name
     WHERE EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'deletion_op' AND NOT a.attisdropped)
  LOOP
    IF EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = t.target AND polname = 'deletion_20_soft_delete_allow') THEN
      EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', t.target);
    END IF;
    EXECUTE format('DROP POLICY IF EXISTS deletion_20_soft_delete_allow ON %s', t.target);
    EXECUTE format('DROP POLICY IF EXISTS deletion_20_soft_delete_hide ON %s', t.target);
    FOR conv IN
      SELECT * FROM deletion.soft_delete_unique_conversions
       WHERE table_schema = t.nspname AND table_name = t.relname
    LOOP
      EXECUTE format('DROP INDEX IF EXISTS %I.%I', conv.table_schema, conv.index_name);
      EXECUTE conv.original;
    END LOOP;
    EXECUTE format('ALTER TABLE %s DROP COLUMN IF EXISTS deleted_at, DROP COLUMN IF EXISTS deleted_by, '
                   'DROP COLUMN IF EXISTS deletion_reason, DROP COLUMN IF EXISTS deletion_op', t.target);
  END LOOP;
END
$unwire$;

DROP TABLE deletion.soft_delete_requests;
DROP TABLE deletion.soft_delete_unique_conversions;
DROP TABLE deletion.soft_delete_operations;
ALTER TABLE deletion.table_policies DROP COLUMN delete_becomes_soft, DROP COLUMN soft_delete;

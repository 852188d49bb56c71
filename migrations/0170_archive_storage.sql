-- Up Migration

-- Archive storage (docs/architecture.md, "Archive storage"): a table whose soft-deleted rows leave it.
-- A DELETE on such a table is a real DELETE, so the client is told the rows it deleted and RETURNING
-- returns them, and the foreign keys' CASCADE and SET NULL actions run as declared; the audit log keeps
-- every row the statement removed and every reference it set to NULL (per statement: txid,
-- statement_seq), and the engine logs the statement as one soft-delete operation, which the trash
-- lists and deletion.restore(op) brings back from the log, exactly.
--
--   in_place  (default) deleted rows stay, marked by deleted_at, hidden by row-level security
--   archive   deleted rows leave the table; the audit log holds them until restore, purge or retention
ALTER TABLE deletion.table_policies
  ADD COLUMN storage text NOT NULL DEFAULT 'in_place',
  ADD CONSTRAINT table_policies_storage_check CHECK (storage IN ('in_place', 'archive')),
  -- An archived table has none of the in-place machinery (columns aside): its rows leave it.
  ADD CONSTRAINT table_policies_archive_not_in_place_check CHECK (storage = 'in_place' OR NOT (soft_delete OR delete_becomes_soft));
COMMENT ON COLUMN deletion.table_policies.storage IS 'Where soft-deleted rows are kept: in_place (deleted_at, hidden by row-level security) or archive (a plain DELETE removes them; the audit log keeps them and deletion.restore(op) puts them back).';

-- The audit statement an archived operation is: restore hands (archive_txid, archive_statement_seq) to
-- audit.restore_statements. NULL for in-place operations. One operation per statement: a statement
-- whose cascade reaches several archived tables is one operation.
ALTER TABLE deletion.soft_delete_operations
  ADD COLUMN archive_txid bigint,
  ADD COLUMN archive_statement_seq integer;
CREATE UNIQUE INDEX soft_delete_operations_archive_idx ON deletion.soft_delete_operations (archive_txid, archive_statement_seq)
  WHERE archive_txid IS NOT NULL;
COMMENT ON COLUMN deletion.soft_delete_operations.archive_txid IS 'Archived operation: the transaction (audit.log.txid) of the DELETE whose rows the audit log keeps; NULL for an in-place operation.';
COMMENT ON COLUMN deletion.soft_delete_operations.archive_statement_seq IS 'Archived operation: the statement (audit.log.statement_seq) of that DELETE and its cascade.';

-- Down Migration

-- Archived rows exist only in the audit log: their operations stay in the log (restorable with
-- audit.restore_statements by an admin), but the engine no longer knows them as operations.
DO $archived$
BEGIN
  IF EXISTS (SELECT FROM deletion.soft_delete_operations
              WHERE archive_txid IS NOT NULL AND restored_at IS NULL AND purged_at IS NULL) THEN
    RAISE EXCEPTION 'archived soft-delete operations are still in the trash; their rows exist only in the audit log'
      USING ERRCODE = '55000', HINT = 'restore (deletion.restore) or purge (deletion.purge_soft_deleted) them, then migrate down';
  END IF;
END
$archived$;
DELETE FROM deletion.soft_delete_operations WHERE archive_txid IS NOT NULL;
DROP INDEX IF EXISTS deletion.soft_delete_operations_archive_idx;
ALTER TABLE deletion.soft_delete_operations DROP COLUMN IF EXISTS archive_statement_seq, DROP COLUMN IF EXISTS archive_txid;
ALTER TABLE deletion.table_policies
  DROP CONSTRAINT IF EXISTS table_policies_archive_not_in_place_check,
  DROP COLUMN IF EXISTS storage;

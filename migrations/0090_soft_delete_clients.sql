-- Up Migration

-- Soft delete that clients accept (docs/soft_delete.md, "What clients see"):
--
-- deletion_restorer: the role an application switches to, for one transaction, to list deleted rows
-- and restore them (SET LOCAL ROLE deletion_restorer after GRANT deletion_restorer TO <login>). It
-- holds the application's table privileges (it is a member of deletion_app); the row-level security
-- of soft-delete tables shows it deleted rows and lets it clear deleted_at, nothing else. Cluster-wide,
-- so created when missing and never dropped by a down migration, like the engine's other roles.
DO $roles$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'deletion_restorer') THEN
    CREATE ROLE deletion_restorer NOLOGIN;
  END IF;
END
$roles$;
GRANT deletion_app TO deletion_restorer;
GRANT USAGE ON SCHEMA deletion, audit TO deletion_restorer;

-- The operation a pending soft-delete request belongs to: a soft delete by UPDATE stamps its rows in
-- the row trigger (so the UPDATE counts them), and the statement trigger cascades that operation.
ALTER TABLE deletion.soft_delete_requests ADD COLUMN op uuid;
COMMENT ON COLUMN deletion.soft_delete_requests.op IS 'The operation the row was stamped with by its UPDATE (NULL for a DELETE: the statement trigger picks one).';

-- Restores asked for by UPDATE t SET deleted_at = NULL (deletion_restorer): the row trigger checks
-- and restores the row, the statement trigger then restores the rest of its operation. Transient
-- like the soft-delete requests.
CREATE UNLOGGED TABLE deletion.soft_delete_restore_requests (
  xact_id xid8 NOT NULL,
  op      uuid NOT NULL,
  CONSTRAINT soft_delete_restore_requests_pkey PRIMARY KEY (xact_id, op)
);
COMMENT ON TABLE deletion.soft_delete_restore_requests IS 'Transient hand-off from the restore row trigger to its statement trigger (emptied by the end of each statement).';

-- Down Migration

DROP TABLE IF EXISTS deletion.soft_delete_restore_requests;

ALTER TABLE deletion.soft_delete_requests DROP COLUMN IF EXISTS op;
REVOKE USAGE ON SCHEMA deletion, audit FROM deletion_restorer;

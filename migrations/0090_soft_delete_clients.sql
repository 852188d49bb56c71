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
  IF NOT pg_has_role('deletion_restorer', 'deletion_app', 'MEMBER') THEN
    GRANT deletion_app TO deletion_restorer;
  END IF;
END
$roles$;
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

-- What a plain DELETE does on a table whose DELETE the engine takes over (delete_becomes_soft):
--   soft    it becomes a soft delete, as it always did, but the client is told DELETE 0 and RETURNING
--           is empty (PostgreSQL counts a row a BEFORE trigger skipped as not deleted): ORMs that
--           check the count fail after the soft delete happened (lint reports it);
--   refuse  it is refused (PD104) with a hint naming the routes that report their rows: UPDATE ...
--           SET deleted_at = now(), deletion.soft_delete(). Nothing is deleted.
ALTER TABLE deletion.table_policies
  ADD COLUMN plain_delete text NOT NULL DEFAULT 'soft',
  ADD CONSTRAINT table_policies_plain_delete_check CHECK (plain_delete IN ('soft', 'refuse'));
COMMENT ON COLUMN deletion.table_policies.plain_delete IS 'With delete_becomes_soft: soft (a plain DELETE soft-deletes and reports 0 rows) or refuse (PD104, naming UPDATE ... SET deleted_at and deletion.soft_delete).';

-- Down Migration

ALTER TABLE deletion.table_policies DROP COLUMN IF EXISTS plain_delete;

DROP TABLE IF EXISTS deletion.soft_delete_restore_requests;

ALTER TABLE deletion.soft_delete_requests DROP COLUMN IF EXISTS op;
REVOKE USAGE ON SCHEMA deletion, audit FROM deletion_restorer;

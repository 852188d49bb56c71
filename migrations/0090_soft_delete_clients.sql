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

-- The last 4 bytes of a soft delete's operation id (after the statement's identity, sql/12): distinct
-- for every operation, also for the many statements one function or DO block runs at one statement
-- start time.
CREATE SEQUENCE deletion.soft_delete_op_seq;
COMMENT ON SEQUENCE deletion.soft_delete_op_seq IS 'Makes the operation ids of soft deletes by UPDATE distinct within one statement identity.';

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

-- How a soft-delete table's unique keys ignore deleted rows:
--   partial     each becomes a partial unique index (... WHERE deleted_at IS NULL), the name kept: an
--               upsert must repeat the predicate (ON CONFLICT (email) WHERE deleted_at IS NULL), which
--               most ORMs cannot say (lint reports such tables);
--   step_aside  a key with a text column stays a plain UNIQUE constraint: a deleted row's value steps
--               aside (below), so plain upserts and ON CONFLICT ON CONSTRAINT <name> work. Keys with no
--               text column that may change are made partial all the same.
ALTER TABLE deletion.table_policies
  ADD COLUMN unique_keys text NOT NULL DEFAULT 'partial',
  ADD CONSTRAINT table_policies_unique_keys_check CHECK (unique_keys IN ('partial', 'step_aside'));
COMMENT ON COLUMN deletion.table_policies.unique_keys IS 'How unique keys ignore soft-deleted rows: partial (partial unique indexes) or step_aside (plain UNIQUE; a deleted row''s text value gets a suffix, restore puts it back).';

-- Unique keys that stay plain UNIQUE constraints (their names too) on a soft-delete table, because a
-- deleted row's value steps aside: on soft delete the engine appends a suffix to one text column of
-- the key (column_name), keeps the original (soft_delete_kept_values) and puts it back on restore,
-- after its conflict check. So INSERT ... ON CONFLICT (email) and ON CONFLICT ON CONSTRAINT
-- users_email_key work, and a key held only by a deleted row behaves as absent. Filled by the wiring
-- (sql/11_soft_delete_wiring.sql) from the catalog, once, not per statement.
CREATE TABLE deletion.soft_delete_step_aside (
  table_schema name    NOT NULL,
  table_name   name    NOT NULL,
  index_name   name    NOT NULL,
  column_name  name    NOT NULL,
  max_length   integer,
  CONSTRAINT soft_delete_step_aside_pkey PRIMARY KEY (table_schema, table_name, index_name)
);
COMMENT ON TABLE deletion.soft_delete_step_aside IS 'Unique keys of soft-delete tables kept as plain UNIQUE: the text column whose value a deleted row steps aside (suffix), and its length limit.';
-- Wiring facts like the registry's: lint and plan read them as the caller.
GRANT SELECT ON deletion.soft_delete_step_aside TO deletion_app, deletion_admin;

-- The original values of stepped-aside columns of soft-deleted rows, per operation and row, which
-- restore puts back. Removed when the operation is restored or purged.
CREATE TABLE deletion.soft_delete_kept_values (
  op         uuid  NOT NULL,
  table_name text  NOT NULL,
  row_key    jsonb NOT NULL,
  kept       jsonb NOT NULL,
  CONSTRAINT soft_delete_kept_values_pkey PRIMARY KEY (op, table_name, row_key)
);
COMMENT ON TABLE deletion.soft_delete_kept_values IS 'The original unique values of soft-deleted rows whose values stepped aside; restore puts them back.';

-- Down Migration

-- The original unique values of deleted rows would be lost with their table: refuse until their
-- operations are restored or purged.
DO $kept$
BEGIN
  IF EXISTS (SELECT FROM deletion.soft_delete_kept_values) THEN
    RAISE EXCEPTION 'soft-deleted rows hold stepped-aside unique values whose originals only deletion.soft_delete_kept_values keeps'
      USING ERRCODE = '55000', HINT = 'restore (deletion.restore) or purge (deletion.purge_soft_deleted) those operations, then migrate down';
  END IF;
END
$kept$;
DROP TABLE IF EXISTS deletion.soft_delete_kept_values;
DROP TABLE IF EXISTS deletion.soft_delete_step_aside;

ALTER TABLE deletion.table_policies DROP COLUMN IF EXISTS plain_delete, DROP COLUMN IF EXISTS unique_keys;

DROP TABLE IF EXISTS deletion.soft_delete_restore_requests;
DROP SEQUENCE IF EXISTS deletion.soft_delete_op_seq;

ALTER TABLE deletion.soft_delete_requests DROP COLUMN IF EXISTS op;
REVOKE USAGE ON SCHEMA deletion, audit FROM deletion_restorer;

-- Up Migration

-- Protection rules, as data: one row per rule, read by the protection triggers that
-- deletion.wire_protection() installs on the rule's table (sql/30_protection.sql). Three kinds:
--
--   child_count       a row that holds more than `threshold` rows in `child_table` (through the foreign
--                     key `via_constraint`, or the only one from child to table) cannot be deleted
--                     directly; seed 004's "a workspace with more than 100 issues".
--   bulk_delete       one statement that removes more than `threshold` rows of the table is refused
--                     (the unqualified DELETE accident), counted by a statement-level trigger.
--   pre_delete_check  `check_function(key)` returns (safe boolean, reasons text[]); a row it calls
--                     unsafe cannot be deleted; seed 004's check_safe_to_delete_user.
--
-- Who may pass: deletion.is_admin() (superusers, deletion_admin members, and the engine's own
-- SECURITY DEFINER paths such as the deletion-job worker's chunks) passes every rule, except a rule
-- with admin_must_force, which an admin passes only for a row forced in the same transaction
-- (deletion.force_delete or deletion.allow_forced_delete write deletion.forced_deletes, which only
-- deletion_admin may insert into: forcing is a privilege of the role, never a setting).
CREATE TABLE deletion.protection_rules (
  id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  table_schema       name    NOT NULL,
  table_name         name    NOT NULL,
  kind               text    NOT NULL,
  child_schema       name,
  child_table        name,
  via_constraint     name,
  threshold          bigint,
  check_function     text,
  guards_soft_delete boolean NOT NULL DEFAULT false,
  admin_must_force   boolean NOT NULL DEFAULT false,
  message            text    NOT NULL,
  CONSTRAINT protection_rules_table_fkey FOREIGN KEY (table_schema, table_name)
    REFERENCES deletion.table_policies (table_schema, table_name) ON DELETE CASCADE ON UPDATE CASCADE,
  CONSTRAINT protection_rules_kind_check CHECK (kind IN ('child_count', 'bulk_delete', 'pre_delete_check')),
  CONSTRAINT protection_rules_child_count_check CHECK (
    kind <> 'child_count' OR (child_table IS NOT NULL AND child_schema IS NOT NULL AND threshold >= 0)),
  CONSTRAINT protection_rules_bulk_delete_check CHECK (
    kind <> 'bulk_delete' OR (threshold >= 1 AND NOT guards_soft_delete)),
  CONSTRAINT protection_rules_pre_delete_check_check CHECK (
    kind <> 'pre_delete_check' OR check_function IS NOT NULL),
  CONSTRAINT protection_rules_unique_rule UNIQUE NULLS NOT DISTINCT (table_schema, table_name, kind, child_schema, child_table, check_function)
);
CREATE INDEX protection_rules_table_idx ON deletion.protection_rules (table_schema, table_name);
COMMENT ON TABLE deletion.protection_rules IS 'Protection rules as data (child_count, bulk_delete, pre_delete_check); deletion.wire_protection() installs the deletion_10_protect* triggers that enforce them.';
COMMENT ON COLUMN deletion.protection_rules.id IS 'Surrogate key.';
COMMENT ON COLUMN deletion.protection_rules.table_schema IS 'Schema of the protected table.';
COMMENT ON COLUMN deletion.protection_rules.table_name IS 'The protected table (registered in deletion.table_policies).';
COMMENT ON COLUMN deletion.protection_rules.kind IS 'child_count, bulk_delete or pre_delete_check.';
COMMENT ON COLUMN deletion.protection_rules.child_schema IS 'child_count: schema of the counted child table.';
COMMENT ON COLUMN deletion.protection_rules.child_table IS 'child_count: the counted child table.';
COMMENT ON COLUMN deletion.protection_rules.via_constraint IS 'child_count: the child''s foreign key to the protected table (NULL: the only one).';
COMMENT ON COLUMN deletion.protection_rules.threshold IS 'child_count: most child rows a directly deleted row may hold; bulk_delete: most rows one statement may remove.';
COMMENT ON COLUMN deletion.protection_rules.check_function IS 'pre_delete_check: schema-qualified function taking the primary key and returning (safe boolean, reasons text[]).';
COMMENT ON COLUMN deletion.protection_rules.guards_soft_delete IS 'Also guard the soft delete of the row (the UPDATE that sets deleted_at), not only DELETE statements.';
COMMENT ON COLUMN deletion.protection_rules.admin_must_force IS 'Admins pass only for a row they forced in the same transaction (deletion.force_delete), not by role alone.';
COMMENT ON COLUMN deletion.protection_rules.message IS 'What the user should do instead; {table} and {pk} are replaced by the table and the row''s key.';

GRANT SELECT ON deletion.protection_rules TO deletion_app, deletion_admin;

-- The rows an admin forced past the rules that require forcing, one row per forced row and
-- transaction. The protection trigger honours a row here only within the transaction that wrote it;
-- the rows stay as the record of who forced what. Only deletion_admin may insert.
CREATE TABLE deletion.forced_deletes (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  transaction_id xid8        NOT NULL DEFAULT pg_current_xact_id(),
  table_schema   name        NOT NULL,
  table_name     name        NOT NULL,
  pk             text        NOT NULL,
  forced_by      name        NOT NULL DEFAULT current_user,
  reason         text,
  forced_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX forced_deletes_lookup_idx ON deletion.forced_deletes (transaction_id, table_schema, table_name, pk);
COMMENT ON TABLE deletion.forced_deletes IS 'Rows an admin forced past protection rules that require forcing (honoured only in the forcing transaction; kept as the record).';
COMMENT ON COLUMN deletion.forced_deletes.id IS 'Surrogate key.';
COMMENT ON COLUMN deletion.forced_deletes.transaction_id IS 'The transaction the force holds for.';
COMMENT ON COLUMN deletion.forced_deletes.table_schema IS 'Schema of the forced row''s table.';
COMMENT ON COLUMN deletion.forced_deletes.table_name IS 'Table of the forced row.';
COMMENT ON COLUMN deletion.forced_deletes.pk IS 'Key of the forced row (the engine''s key text).';
COMMENT ON COLUMN deletion.forced_deletes.forced_by IS 'The admin role that forced it.';
COMMENT ON COLUMN deletion.forced_deletes.reason IS 'Why it was forced.';
COMMENT ON COLUMN deletion.forced_deletes.forced_at IS 'When.';

GRANT SELECT, INSERT ON deletion.forced_deletes TO deletion_admin;

-- Down Migration

DROP TABLE deletion.forced_deletes;
DROP TABLE deletion.protection_rules;

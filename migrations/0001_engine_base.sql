-- Up Migration

-- The engine's two schemas. `deletion` holds the policy registry and everything that decides what a
-- delete does; `audit` holds the log of what deletes removed. Tables here are versioned by migrations;
-- functions and views are (re)created from sql/ by the runner after every migration run.
CREATE SCHEMA deletion;
COMMENT ON SCHEMA deletion IS 'pg-deletion-kit: deletion policies, soft delete, protection, plans, lint and scheduled deletion jobs.';
CREATE SCHEMA audit;
COMMENT ON SCHEMA audit IS 'pg-deletion-kit: append-only log of deleted and changed rows, and the functions that restore them.';

-- Two cluster-wide roles. Roles outlive any one database (test databases cloned from one template
-- share them), so they are created when missing and never dropped by a down migration.
--   deletion_admin: may hard-delete, see the trash, restore, purge and force protected deletes.
--   deletion_app:   the group an application's login role joins; sees only what policies allow.
DO $roles$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'deletion_admin') THEN
    CREATE ROLE deletion_admin NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'deletion_app') THEN
    CREATE ROLE deletion_app NOLOGIN;
  END IF;
END
$roles$;

GRANT USAGE ON SCHEMA deletion, audit TO deletion_app, deletion_admin;

-- The policy registry: one row per table, read by every engine function (seed 000's "default
-- manager mapping", as data). Later migrations add the columns their concern needs (soft delete,
-- audit, should_proceed hook, file tracking, ...). `deletion.lint()` reports tables without a row.
CREATE TABLE deletion.table_policies (
  table_schema name        NOT NULL,
  table_name   name        NOT NULL,
  description  text        NOT NULL DEFAULT '',
  created_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT table_policies_pkey PRIMARY KEY (table_schema, table_name)
);
COMMENT ON TABLE deletion.table_policies IS 'The deletion policy registry: one row per table, read by every engine function; a table without a row fails deletion.lint().';
COMMENT ON COLUMN deletion.table_policies.table_schema IS 'Schema of the governed table (a name, never an OID, so the registry survives dump and restore).';
COMMENT ON COLUMN deletion.table_policies.table_name IS 'Name of the governed table.';
COMMENT ON COLUMN deletion.table_policies.description IS 'Why the table is deleted the way it is, in a sentence (shown in the generated docs).';
COMMENT ON COLUMN deletion.table_policies.created_at IS 'When the policy was registered.';

GRANT SELECT ON deletion.table_policies TO deletion_app, deletion_admin;

-- Down Migration

DROP TABLE deletion.table_policies;
DROP SCHEMA audit;
DROP SCHEMA deletion;

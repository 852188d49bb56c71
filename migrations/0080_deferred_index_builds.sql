-- Up Migration

-- Index builds the wiring leaves for after the transaction. Enabling soft delete on a large table
-- needs three indexes; built inside the migrating transaction, they would hold the locks that
-- transaction already took (ACCESS EXCLUSIVE, from adding the columns) for as long as the builds
-- scan the table, blocking every read and write of it. So the wiring records the statement here
-- instead (CREATE INDEX CONCURRENTLY, which cannot run in a transaction), and deletion-kit migrate
-- runs it after its transaction commits, then removes the row. A row that stays (an interrupted
-- migrate) is built by the next migrate: the builds are idempotent.
CREATE TABLE deletion.deferred_index_builds (
  table_schema name        NOT NULL,
  table_name   name        NOT NULL,
  index_name   name        NOT NULL,
  statement    text        NOT NULL,
  requested_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (table_schema, index_name)
);
COMMENT ON TABLE deletion.deferred_index_builds IS 'CREATE INDEX CONCURRENTLY statements the wiring of a large table left for deletion-kit migrate to run after its transaction; a row is removed once its index is built.';
COMMENT ON COLUMN deletion.deferred_index_builds.statement IS 'The CREATE INDEX CONCURRENTLY IF NOT EXISTS statement, identifiers quoted.';

-- Down Migration

DROP TABLE deletion.deferred_index_builds;

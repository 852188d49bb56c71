-- Up Migration

-- Deferred file cleanup (seed 002): a row that names a file in object storage is deleted at once, and
-- its file leaves storage later. The registry says which column of a table holds the storage key;
-- deletion.track_files() sets it and deletion.wire_files() installs the trigger that queues the keys
-- of deleted rows in the same transaction as the delete.
ALTER TABLE deletion.table_policies
  ADD COLUMN file_key_column name;
COMMENT ON COLUMN deletion.table_policies.file_key_column IS
  'The column holding a storage key (a file in object storage); deleting the row queues the file for deletion.pending_file_deletions. NULL: the table names no files.';

-- The queue of files whose rows are gone. A key is in the queue at most once (deleting a file twice
-- is pointless), from the moment its row's delete commits until storage confirms the file is gone.
-- State is derived from the columns, not stored twice:
--   pending      failed_at IS NULL, no live lease (lease_expires_at NULL or past)
--   in progress  failed_at IS NULL, lease_expires_at in the future (a cleaner holds it)
--   failed       failed_at IS NOT NULL (terminal until `deletion.retry_file_deletions(true)`)
CREATE TABLE deletion.pending_file_deletions (
  id               bigint      GENERATED ALWAYS AS IDENTITY,
  storage_key      text        NOT NULL,
  source_schema    name        NOT NULL,
  source_table     name        NOT NULL,
  source_pk        text,
  queued_at        timestamptz NOT NULL DEFAULT now(),
  attempts         integer     NOT NULL DEFAULT 0,
  last_error       text,
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  lease_owner      text,
  lease_expires_at timestamptz,
  failed_at        timestamptz,
  CONSTRAINT pending_file_deletions_pkey PRIMARY KEY (id),
  CONSTRAINT pending_file_deletions_storage_key_key UNIQUE (storage_key),
  CONSTRAINT pending_file_deletions_attempts_check CHECK (attempts >= 0),
  CONSTRAINT pending_file_deletions_lease_check CHECK ((lease_owner IS NULL) = (lease_expires_at IS NULL))
);
COMMENT ON TABLE deletion.pending_file_deletions IS 'Files whose rows are deleted and that storage has not yet confirmed gone; filled by the deletion_60_files triggers, emptied by `deletion-kit files cleanup`.';
COMMENT ON COLUMN deletion.pending_file_deletions.storage_key IS 'The key (path) of the file in storage; unique, a file is queued once.';
COMMENT ON COLUMN deletion.pending_file_deletions.source_schema IS 'Schema of the table whose row named the file.';
COMMENT ON COLUMN deletion.pending_file_deletions.source_table IS 'Table whose row named the file.';
COMMENT ON COLUMN deletion.pending_file_deletions.source_pk IS 'Primary key of that row (its text, or a JSON array for a composite key); NULL for a table without one.';
COMMENT ON COLUMN deletion.pending_file_deletions.queued_at IS 'When the delete that queued the file ran.';
COMMENT ON COLUMN deletion.pending_file_deletions.attempts IS 'How many times a cleaner has taken the file (counted when claimed, so a crashed attempt counts too).';
COMMENT ON COLUMN deletion.pending_file_deletions.last_error IS 'What storage answered on the last failed attempt.';
COMMENT ON COLUMN deletion.pending_file_deletions.next_attempt_at IS 'Not taken before this time (back-off after a failure).';
COMMENT ON COLUMN deletion.pending_file_deletions.lease_owner IS 'The cleaner that holds the file now.';
COMMENT ON COLUMN deletion.pending_file_deletions.lease_expires_at IS 'When the lease lapses and another cleaner may take the file (a crashed cleaner''s files come back this way).';
COMMENT ON COLUMN deletion.pending_file_deletions.failed_at IS 'Set when the maximum number of attempts failed: terminal until retried by hand.';

-- The claim query's path: due, not failed, oldest first.
CREATE INDEX pending_file_deletions_due_idx
  ON deletion.pending_file_deletions (next_attempt_at, id)
  WHERE failed_at IS NULL;

-- Only the engine's own (SECURITY DEFINER) functions write the queue; admins may read it.
GRANT SELECT ON deletion.pending_file_deletions TO deletion_admin;

-- Down Migration

DROP TABLE deletion.pending_file_deletions;
ALTER TABLE deletion.table_policies DROP COLUMN file_key_column;

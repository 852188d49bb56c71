-- Up Migration

-- Tamper evidence for the audit log (docs/audit.md, "Tamper evidence"). The code that fills and
-- checks these tables is sql/24_audit_seal.sql. A seal covers every audit.log and audit.transactions
-- row of the transactions with from_txid <= txid < to_txid, all of which had finished when it was
-- made; seals chain by a keyed hash (HMAC-SHA256) whose key never enters the database.

-- One row per seal, in order. chain_digest = HMAC(key, previous chain_digest || batch_digest), and
-- batch_digest covers this row's own fields and its parts (audit.seal_parts).
CREATE TABLE audit.seals (
  seal_no           bigint      NOT NULL,
  sealed_at         timestamptz NOT NULL,
  scheme            integer     NOT NULL,
  from_txid         bigint      NOT NULL,
  to_txid           bigint      NOT NULL,
  row_count         bigint      NOT NULL,
  transaction_count bigint      NOT NULL,
  first_id          bigint,
  last_id           bigint,
  key_id            bytea       NOT NULL,
  batch_digest      bytea       NOT NULL,
  chain_digest      bytea       NOT NULL,
  CONSTRAINT seals_pkey PRIMARY KEY (seal_no),
  CONSTRAINT seals_txid_range_check CHECK (to_txid > from_txid)
);
COMMENT ON TABLE audit.seals IS 'The audit log''s hash chain: one row per audit.seal() call that sealed something (docs/audit.md).';
COMMENT ON COLUMN audit.seals.seal_no IS '1, 2, 3, ...: the chain''s order.';
COMMENT ON COLUMN audit.seals.scheme IS 'Version of the digest scheme (sql/24_audit_seal.sql); 1.';
COMMENT ON COLUMN audit.seals.from_txid IS 'The seal covers the transactions with from_txid <= txid < to_txid; from_txid is the previous seal''s to_txid.';
COMMENT ON COLUMN audit.seals.to_txid IS 'Every transaction below it had finished when the seal was made (pg_snapshot_xmin).';
COMMENT ON COLUMN audit.seals.row_count IS 'audit.log rows sealed.';
COMMENT ON COLUMN audit.seals.transaction_count IS 'audit.transactions rows sealed.';
COMMENT ON COLUMN audit.seals.key_id IS 'First 8 bytes of HMAC(key, ''deletion-kit audit key id''): tells a wrong key from an edited chain.';
COMMENT ON COLUMN audit.seals.batch_digest IS 'SHA-256 of this row''s fields and its parts'' digests.';
COMMENT ON COLUMN audit.seals.chain_digest IS 'HMAC-SHA256(key, previous chain_digest || batch_digest); 32 zero bytes before seal 1.';

-- A seal's rows by month (the audit.log partition they are in). Retention drops whole months; a
-- dropped month's part keeps its digest here, so the chain still verifies without its rows. No
-- foreign key to audit.seals: a seal's parts are written before its row (the row's digest covers
-- them), and the chain, not a constraint, is what proves they belong together.
CREATE TABLE audit.seal_parts (
  seal_no           bigint NOT NULL,
  month             date   NOT NULL,
  row_count         bigint NOT NULL,
  transaction_count bigint NOT NULL,
  first_id          bigint,
  last_id           bigint,
  digest            bytea  NOT NULL,
  CONSTRAINT seal_parts_pkey PRIMARY KEY (seal_no, month)
);
COMMENT ON TABLE audit.seal_parts IS 'One row per seal and month: how many rows of that month the seal holds and the SHA-256 of their digests in (txid, id) order.';

-- Every sealed row's digest, partitioned like audit.log so that retention drops a month of both.
-- verify finds an altered, removed or inserted row by comparing audit.log with this table; the
-- table itself is proved by its parts' digests, which the chain covers.
CREATE TABLE audit.seal_rows (
  seal_no    bigint      NOT NULL,
  month      date        NOT NULL,
  txid       bigint      NOT NULL,
  log_id     bigint,
  created_at timestamptz NOT NULL,
  digest     bytea       NOT NULL,
  columns    bytea       NOT NULL
) PARTITION BY RANGE (created_at);
CREATE INDEX seal_rows_seal_idx ON audit.seal_rows (seal_no);
COMMENT ON TABLE audit.seal_rows IS 'The digest of every sealed audit.log row (log_id) and audit.transactions row (log_id NULL), partitioned by month like audit.log.';
COMMENT ON COLUMN audit.seal_rows.log_id IS 'audit.log.id; NULL for the transaction''s audit.transactions row.';
COMMENT ON COLUMN audit.seal_rows.created_at IS 'audit.log.created_at (audit.transactions.started_at); the partition key.';
COMMENT ON COLUMN audit.seal_rows.digest IS 'SHA-256 over the row''s column digests.';
COMMENT ON COLUMN audit.seal_rows.columns IS 'The first 2 bytes of each column''s digest, in a fixed order: names the columns that differ.';

CREATE TABLE audit.seal_rows_default PARTITION OF audit.seal_rows DEFAULT;

-- The same monthly partitions as audit.log (same bounds); audit.ensure_partitions adds later ones.
DO $partitions$
DECLARE
  part record;
BEGIN
  FOR part IN
    SELECT right(c.relname, 7) AS month, pg_get_expr(c.relpartbound, c.oid) AS bound
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'audit.log'::regclass AND c.relname ~ '^log_\d{4}_\d{2}$'
  LOOP
    EXECUTE format('CREATE TABLE audit.%I PARTITION OF audit.seal_rows %s', 'seal_rows_' || part.month, part.bound);
  END LOOP;
END
$partitions$;

-- Values an erasure removed from audit.log rows (audit.redact): the column's digest from before, so
-- that the row's digest, and with it every seal, stays the same.
CREATE TABLE audit.redactions (
  log_id          bigint      NOT NULL,
  created_at      timestamptz NOT NULL,
  field           text        NOT NULL,
  column_name     text        NOT NULL,
  original_digest bytea       NOT NULL,
  redacted_at     timestamptz NOT NULL DEFAULT now(),
  redacted_by     text        NOT NULL,
  reason          text,
  CONSTRAINT redactions_pkey PRIMARY KEY (log_id, created_at, field, column_name),
  CONSTRAINT redactions_field_check CHECK (field IN ('old_data', 'changed'))
);
COMMENT ON TABLE audit.redactions IS 'Columns of old_data / changed that audit.redact replaced by null, with the digest of the value they held.';
COMMENT ON COLUMN audit.redactions.field IS 'old_data or changed.';
COMMENT ON COLUMN audit.redactions.column_name IS 'The product column (a key of old_data / changed).';
COMMENT ON COLUMN audit.redactions.original_digest IS 'SHA-256 of (log id, field, column, value) before the redaction.';
COMMENT ON COLUMN audit.redactions.redacted_by IS 'The role that called audit.redact.';

GRANT SELECT ON audit.seals, audit.seal_parts, audit.seal_rows, audit.redactions TO deletion_admin;

-- Down Migration

DROP TABLE audit.redactions;
DROP TABLE audit.seal_rows;
DROP TABLE audit.seal_parts;
DROP TABLE audit.seals;

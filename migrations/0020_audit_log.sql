-- Up Migration

-- The audit log's tables (issue 4). What they hold is described in docs/audit.md; the code that writes
-- and reads them lives in sql/20_audit_capture.sql, sql/21_audit_restore.sql and sql/22_audit_views.sql.
-- Tables are named by schema and name (text), never by OID, so the log survives dump and restore.

-- Which tables are audited, and which of their columns are never stored (secrets, large blobs).
-- Every registered table is audited unless its registry row says otherwise.
ALTER TABLE deletion.table_policies
  ADD COLUMN audit boolean NOT NULL DEFAULT true,
  ADD COLUMN audit_exclude_columns text[] NOT NULL DEFAULT '{}';
COMMENT ON COLUMN deletion.table_policies.audit IS 'Whether deletes and updates of the table are written to audit.log (wired by deletion.wire_audit).';
COMMENT ON COLUMN deletion.table_policies.audit_exclude_columns IS 'Columns of the table never stored in audit.log (set by audit.enable).';

-- Numbers the log's rows in the order they were captured. A sequence of its own (not an identity
-- column) because identity columns on partitioned tables need PostgreSQL 17.
CREATE SEQUENCE audit.log_id_seq AS bigint CACHE 64;

-- One row per changed row. Partitioned by month on created_at so that retention drops whole months
-- (audit.drop_partitions_before) instead of deleting rows, which keeps the log append-only.
CREATE TABLE audit.log (
  id            bigint      NOT NULL DEFAULT nextval('audit.log_id_seq'),
  created_at    timestamptz NOT NULL DEFAULT now(),
  txid          bigint      NOT NULL,
  statement_seq integer     NOT NULL,
  table_name    text        NOT NULL,
  action        text        NOT NULL,
  record_id     text,
  primary_key   jsonb,
  old_data      jsonb,
  changed       jsonb,
  via_cascade   boolean     NOT NULL DEFAULT false,
  CONSTRAINT log_pkey PRIMARY KEY (id, created_at),
  CONSTRAINT log_action_check CHECK (action IN ('DELETE', 'UPDATE', 'INSERT'))
) PARTITION BY RANGE (created_at);
ALTER SEQUENCE audit.log_id_seq OWNED BY audit.log.id;
CREATE INDEX log_txid_statement_idx ON audit.log (txid, statement_seq);
CREATE INDEX log_table_record_idx ON audit.log (table_name, record_id);
COMMENT ON TABLE audit.log IS 'Append-only log of deleted, updated and restored rows, one row per row, written by statement-level triggers (docs/audit.md).';
COMMENT ON COLUMN audit.log.id IS 'Capture order.';
COMMENT ON COLUMN audit.log.created_at IS 'now() of the writing transaction; the partition key; equals audit.transactions.started_at.';
COMMENT ON COLUMN audit.log.txid IS 'pg_current_xact_id() of the writing transaction.';
COMMENT ON COLUMN audit.log.statement_seq IS 'Number of the top-level statement within the transaction; a statement and its cascades share it.';
COMMENT ON COLUMN audit.log.table_name IS 'Schema-qualified table name, format(''%I.%I''), never an OID.';
COMMENT ON COLUMN audit.log.action IS 'DELETE, UPDATE, or INSERT (rows put back by restore).';
COMMENT ON COLUMN audit.log.record_id IS 'The row''s key as text: the value for a one-column key, a JSON array for a composite key.';
COMMENT ON COLUMN audit.log.primary_key IS 'The row''s key as a JSON object.';
COMMENT ON COLUMN audit.log.old_data IS 'The row before the change, excluded columns removed (NULL for INSERT).';
COMMENT ON COLUMN audit.log.changed IS 'UPDATE: new values of the changed columns; INSERT: the inserted row.';
COMMENT ON COLUMN audit.log.via_cascade IS 'True for rows of a table other than the one the statement named (foreign-key actions, triggers).';

-- Per-transaction metadata, stored once per transaction, partitioned like the log so that retention
-- drops both together.
CREATE TABLE audit.transactions (
  txid             bigint      NOT NULL,
  started_at       timestamptz NOT NULL,
  actor            bigint,
  reason           text,
  application_name text,
  session_role     text        NOT NULL,
  acting_role      text        NOT NULL,
  backend_pid      integer     NOT NULL,
  client_addr      inet,
  CONSTRAINT transactions_pkey PRIMARY KEY (txid, started_at)
) PARTITION BY RANGE (started_at);
COMMENT ON TABLE audit.transactions IS 'Who, why and from where, once per transaction that wrote audit.log rows.';
COMMENT ON COLUMN audit.transactions.actor IS 'deletion.current_actor() (SET LOCAL deletion.actor).';
COMMENT ON COLUMN audit.transactions.reason IS 'deletion.current_reason() (SET LOCAL deletion.reason); restore writes "restore of <txid>".';
COMMENT ON COLUMN audit.transactions.session_role IS 'session_user: the login role.';
COMMENT ON COLUMN audit.transactions.acting_role IS 'The role the statement ran as (SET ROLE, else the login role).';

-- Which statements restore has put back, so that a second restore does nothing and says so.
CREATE TABLE audit.restorations (
  txid             bigint      NOT NULL,
  statement_seq    integer     NOT NULL,
  restored_in_txid bigint      NOT NULL,
  restored_at      timestamptz NOT NULL DEFAULT now(),
  rows_inserted    bigint      NOT NULL,
  rows_relinked    bigint      NOT NULL,
  CONSTRAINT restorations_pkey PRIMARY KEY (txid, statement_seq)
);
COMMENT ON TABLE audit.restorations IS 'Statements of the log that restore put back (one row each); restore skips them.';

-- The catch-all partitions: a row whose month has no partition yet lands here instead of failing the
-- delete that wrote it. audit.ensure_partitions() moves such rows into their month's partition.
CREATE TABLE audit.log_default PARTITION OF audit.log DEFAULT;
CREATE TABLE audit.transactions_default PARTITION OF audit.transactions DEFAULT;

-- Monthly partitions from this month to two months ahead; audit.ensure_partitions() adds later ones.
DO $partitions$
DECLARE
  month date;
BEGIN
  FOR month IN SELECT generate_series(date_trunc('month', now()), date_trunc('month', now()) + interval '2 months', interval '1 month')::date
  LOOP
    EXECUTE format('CREATE TABLE audit.%I PARTITION OF audit.log FOR VALUES FROM (%L) TO (%L)',
                   'log_' || to_char(month, 'YYYY_MM'), month, (month + interval '1 month')::date);
    EXECUTE format('CREATE TABLE audit.%I PARTITION OF audit.transactions FOR VALUES FROM (%L) TO (%L)',
                   'transactions_' || to_char(month, 'YYYY_MM'), month, (month + interval '1 month')::date);
  END LOOP;
END
$partitions$;

-- Administrators read the log; nobody but the engine's own functions writes it.
GRANT SELECT ON audit.log, audit.transactions, audit.restorations TO deletion_admin;

-- Down Migration

DROP TABLE audit.restorations;
DROP TABLE audit.transactions;
DROP TABLE audit.log;
ALTER TABLE deletion.table_policies DROP COLUMN audit_exclude_columns, DROP COLUMN audit;

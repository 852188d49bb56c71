-- Up Migration

-- Which transaction last wrote each registry row, as a full (epoch-qualified) transaction id, set by
-- the trigger deletion_00_registry_written_in (sql/00_registry.sql). migrate rewires the tables
-- whose row the current transaction wrote (deletion.touched_tables); a row's xmin cannot say so
-- reliably: it is 32 bits, it is a subtransaction's id when written inside one, and a snapshot's
-- xmax may lie below the current transaction's own id.
ALTER TABLE deletion.table_policies ADD COLUMN written_in xid8;
COMMENT ON COLUMN deletion.table_policies.written_in IS 'The top-level transaction that last inserted or updated the row (pg_current_xact_id(), set by a trigger): how migrate finds the tables a product migration registered or changed.';

-- Down Migration

ALTER TABLE deletion.table_policies DROP COLUMN written_in;

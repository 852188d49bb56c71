-- Partitions and retention of the audit log. The log and its transaction metadata are partitioned by
-- month; retention drops whole months, so no row is ever deleted from the log (it stays append-only).

-- Makes sure the months from this one to `months_ahead` ahead have partitions, for audit.log and
-- audit.transactions. Rows that landed in a default partition because their month had none are moved
-- into the new partition: the default partition is detached (which also removes the append-only
-- triggers cloned onto it), emptied of that month, and attached again. Returns the partitions created.
-- Run it monthly (cron, or the deletion-kit worker); rows never fail for want of a partition.
CREATE OR REPLACE FUNCTION audit.ensure_partitions(months_ahead integer DEFAULT 3)
RETURNS SETOF text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  parent text;
  key_column text;
  month date;
  partition_name text;
  default_name text;
  moved bigint;
BEGIN
  FOR parent, key_column IN VALUES ('log', 'created_at'), ('transactions', 'started_at'), ('seal_rows', 'created_at') LOOP
    CONTINUE WHEN to_regclass(format('audit.%I', parent)) IS NULL;  -- seal_rows: migration 0072
    default_name := parent || '_default';
    FOR month IN
      SELECT generate_series(date_trunc('month', now()), date_trunc('month', now()) + make_interval(months => months_ahead), interval '1 month')::date
    LOOP
      partition_name := parent || '_' || to_char(month, 'YYYY_MM');
      CONTINUE WHEN to_regclass(format('audit.%I', partition_name)) IS NOT NULL;
      EXECUTE format('SELECT count(*) FROM audit.%I WHERE %I >= %L AND %I < %L', default_name, key_column, month, key_column, (month + interval '1 month')::date)
        INTO moved;
      IF moved > 0 THEN
        EXECUTE format('ALTER TABLE audit.%I DETACH PARTITION audit.%I', parent, default_name);
        EXECUTE format('CREATE TABLE audit.%I PARTITION OF audit.%I FOR VALUES FROM (%L) TO (%L)', partition_name, parent, month, (month + interval '1 month')::date);
        EXECUTE format('INSERT INTO audit.%I SELECT * FROM audit.%I WHERE %I >= %L AND %I < %L',
                       partition_name, default_name, key_column, month, key_column, (month + interval '1 month')::date);
        EXECUTE format('DELETE FROM audit.%I WHERE %I >= %L AND %I < %L', default_name, key_column, month, key_column, (month + interval '1 month')::date);
        EXECUTE format('ALTER TABLE audit.%I ATTACH PARTITION audit.%I DEFAULT', parent, default_name);
      ELSE
        EXECUTE format('CREATE TABLE audit.%I PARTITION OF audit.%I FOR VALUES FROM (%L) TO (%L)', partition_name, parent, month, (month + interval '1 month')::date);
      END IF;
      RETURN NEXT format('audit.%I', partition_name);
    END LOOP;
  END LOOP;
END
$$;
COMMENT ON FUNCTION audit.ensure_partitions(integer) IS 'Creates the monthly partitions of audit.log and audit.transactions up to months_ahead, moving rows out of the default partitions.';

-- Retention: drops every monthly partition of audit.log and audit.transactions that ends on or
-- before the cutoff (whole months only; the current month is never dropped). Returns the partitions
-- dropped. The only way entries leave the log.
CREATE OR REPLACE FUNCTION audit.drop_partitions_before(cutoff timestamptz)
RETURNS SETOF text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  part record;
BEGIN
  IF cutoff > date_trunc('month', now()) THEN
    RAISE EXCEPTION 'the cutoff % is inside the current month; retention drops whole past months only', cutoff
      USING ERRCODE = '22023', HINT = 'use a cutoff at or before the start of this month';
  END IF;
  FOR part IN
    SELECT c.oid::regclass::text AS partition_name, parent.relname AS parent_name
      FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid
      JOIN pg_class parent ON parent.oid = i.inhparent
     WHERE i.inhparent IN ('audit.log'::regclass, 'audit.transactions'::regclass, to_regclass('audit.seal_rows'))
       AND c.relname ~ '_\d{4}_\d{2}$'
       AND (to_date(right(c.relname, 7), 'YYYY_MM') + interval '1 month') <= cutoff
     ORDER BY 1
  LOOP
    EXECUTE format('ALTER TABLE audit.%I DETACH PARTITION %s', part.parent_name, part.partition_name);
    EXECUTE format('DROP TABLE %s', part.partition_name);
    RETURN NEXT part.partition_name;
  END LOOP;
END
$$;
COMMENT ON FUNCTION audit.drop_partitions_before(timestamptz) IS 'Retention: drops the audit log''s monthly partitions that end on or before the cutoff.';

REVOKE EXECUTE ON FUNCTION audit.ensure_partitions(integer), audit.drop_partitions_before(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.ensure_partitions(integer), audit.drop_partitions_before(timestamptz) TO deletion_admin;

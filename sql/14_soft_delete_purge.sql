-- Soft delete, part 5: removing rows for good. On a table where a plain DELETE becomes a soft delete,
-- a row really goes only when a privileged role (deletion_admin, a superuser, the table's owner) asks
-- for it explicitly with SET LOCAL deletion.mode = 'hard'; the trigger's WHEN test lets that DELETE
-- through without calling any function, so bulk hard deletes (deletion jobs) pay almost nothing per row.
-- An application role that sets deletion.mode gains nothing: its DELETE is still a soft delete.

-- Hard-deletes one row (its ON DELETE CASCADE children go with it, as the foreign keys say).
-- For deletion_admin only; returns the number of rows deleted from the table itself (1).
CREATE OR REPLACE FUNCTION deletion.hard_delete(target regclass, pk text)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  removed bigint;
  caller_mode text := current_setting('deletion.mode', true);
BEGIN
  IF deletion.policy_of(target) IS NULL THEN
    RAISE EXCEPTION 'table % is not registered in the deletion policy registry', target
      USING ERRCODE = 'PD101', HINT = format('register it with SELECT deletion.register_table(%L)', target::text);
  END IF;
  PERFORM set_config('deletion.mode', 'hard', true);
  EXECUTE format('DELETE FROM %s WHERE %s', target, deletion.key_predicate(target, pk));
  GET DIAGNOSTICS removed = ROW_COUNT;
  PERFORM set_config('deletion.mode', coalesce(caller_mode, ''), true);
  IF removed = 0 THEN
    RAISE EXCEPTION 'no row of % has the key %', target, pk USING ERRCODE = 'P0002';
  END IF;
  RETURN removed;
END
$$;
COMMENT ON FUNCTION deletion.hard_delete(regclass, text) IS 'Removes one row for good (deletion_admin only), soft-delete table or not; its cascade follows the foreign keys.';

-- Hard-deletes every row soft-deleted before now() - older_than, in batches of 10,000 per statement,
-- children before parents (so a parent's cascade finds its soft-deleted children already gone), and
-- returns the rows removed per table. Operations whose rows are all gone are marked purged.
-- For deletion_admin only (issue 6's worker calls it for periodic upkeep; seed 003's cleanup).
-- A row hidden by a deletion job's pending-deletion marker (deletion_jobs.pending_op, see
-- sql/41_jobs_api.sql) is left alone however old it is: only its root is marked, its tree is still
-- active, and purging the root would hard-delete that tree through the cascades. It belongs to its
-- job (done, cancelled, or re-armed after a failure). The jobs table is read only when it is there.
CREATE OR REPLACE FUNCTION deletion.purge_soft_deleted(older_than interval DEFAULT '90 days')
RETURNS TABLE (table_name text, rows_purged bigint)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  caller_mode text := current_setting('deletion.mode', true);
  cutoff timestamptz := now() - older_than;
  target regclass;
  batch bigint;
  total bigint;
  batch_size CONSTANT integer := 10000;
  held_by_jobs uuid[] := '{}';
BEGIN
  IF older_than IS NULL OR older_than < interval '0' THEN
    RAISE EXCEPTION 'purge_soft_deleted needs a positive age, not %', older_than
      USING ERRCODE = '22023', HINT = 'for example SELECT * FROM deletion.purge_soft_deleted(''90 days'')';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_attribute a
              WHERE a.attrelid = to_regclass('deletion.deletion_jobs') AND a.attname = 'pending_op' AND NOT a.attisdropped) THEN
    EXECUTE 'SELECT coalesce(array_agg(j.pending_op), ''{}'') FROM deletion.deletion_jobs j WHERE j.pending_op IS NOT NULL'
       INTO held_by_jobs;
  END IF;
  PERFORM set_config('deletion.mode', 'hard', true);
  FOR target IN
    -- Leaves first: tables in descending depth of the cascade graph between soft-delete tables.
    WITH RECURSIVE edges AS (
      SELECT parent, child FROM deletion.soft_delete_cascade_edges() WHERE parent <> child
    ), depth (tbl, d, path) AS (
      SELECT t, 0, ARRAY[t::oid] FROM deletion.soft_delete_tables() t
      UNION ALL
      SELECT e.child, depth.d + 1, depth.path || e.child::oid
        FROM depth JOIN edges e ON e.parent = depth.tbl
       WHERE NOT e.child::oid = ANY (depth.path)
    )
    SELECT tbl FROM depth GROUP BY tbl ORDER BY max(d) DESC, tbl::text
  LOOP
    total := 0;
    LOOP
      EXECUTE format('DELETE FROM %1$s WHERE ctid = ANY (ARRAY(SELECT ctid FROM %1$s WHERE deleted_at < $1 '
                     'AND NOT coalesce(deletion_op = ANY ($2), false) LIMIT %2$s))',
                     target, batch_size)
        USING cutoff, held_by_jobs;
      GET DIAGNOSTICS batch = ROW_COUNT;
      total := total + batch;
      EXIT WHEN batch < batch_size;
    END LOOP;
    IF total > 0 THEN
      table_name := target::text;
      rows_purged := total;
      RETURN NEXT;
    END IF;
  END LOOP;
  UPDATE deletion.soft_delete_operations o
     SET purged_at = now()
   WHERE o.performed_at < cutoff AND o.restored_at IS NULL AND o.purged_at IS NULL AND NOT o.op = ANY (held_by_jobs);
  -- The kept unique values of purged operations: their rows are gone for good.
  IF to_regclass('deletion.soft_delete_kept_values') IS NOT NULL THEN
    DELETE FROM deletion.soft_delete_kept_values kv
     USING deletion.soft_delete_operations o
     WHERE o.op = kv.op AND o.purged_at IS NOT NULL;
  END IF;
  -- Hand-off rows of transactions that are over (a statement that failed between its row and
  -- statement triggers leaves none, but upkeep should not depend on it).
  DELETE FROM deletion.soft_delete_requests r WHERE r.xact_id < pg_snapshot_xmin(pg_current_snapshot());
  PERFORM set_config('deletion.mode', coalesce(caller_mode, ''), true);
END
$$;
COMMENT ON FUNCTION deletion.purge_soft_deleted(interval) IS 'Hard-deletes rows soft-deleted longer ago than the given age, in batches, leaves first; returns rows removed per table (deletion_admin only).';

REVOKE EXECUTE ON FUNCTION deletion.hard_delete(regclass, text), deletion.purge_soft_deleted(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION deletion.hard_delete(regclass, text), deletion.purge_soft_deleted(interval) TO deletion_admin;

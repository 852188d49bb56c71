-- Deferred file cleanup, part 2: the functions a cleaner calls. A cleaner (deletion-kit files cleanup,
-- or POST /cleanup/run) loops: claim a batch, delete each file through its storage adapter, report
-- the keys storage confirmed and the keys that failed. Every decision (what is due, what is still in
-- use, how long to back off, when to give up) is made here; the runner only talks to storage.
-- All are PL/pgSQL, whose bodies are checked when they run, so this module also loads when
-- `migrate down` has removed the queue table.

-- The keys, among `storage_keys`, that a row of any tracked table still names. A file can be named
-- by two rows (a copied attachment, the same key in two tables); deleting one row queues the key,
-- and the file must stay while another row names it. Soft-deleted rows still exist and still count:
-- they may be restored. One set-based probe per tracked table (the key column should be indexed).
CREATE OR REPLACE FUNCTION deletion.referenced_file_keys(storage_keys text[])
RETURNS text[]
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
  tracked record;
  found text[];
  referenced text[] := '{}';
BEGIN
  FOR tracked IN
    SELECT c.oid::regclass AS target, tp.file_key_column AS key_column, format_type(a.atttypid, a.atttypmod) AS key_type
      FROM deletion.table_policies tp
      JOIN pg_namespace n ON n.nspname = tp.table_schema
      JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = tp.table_name
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = tp.file_key_column AND NOT a.attisdropped
     WHERE tp.file_key_column IS NOT NULL
  LOOP
    -- Keys that do not cast to a uuid key column cannot be named by it; compare such columns as text.
    IF tracked.key_type = 'uuid' THEN
      EXECUTE format('SELECT array_agg(DISTINCT t.%1$I::text) FROM %2$s t WHERE t.%1$I::text = ANY ($1)', tracked.key_column, tracked.target)
         INTO found USING storage_keys;
    ELSE
      EXECUTE format('SELECT array_agg(DISTINCT t.%1$I::text) FROM %2$s t WHERE t.%1$I = ANY ($1::%3$s[])', tracked.key_column, tracked.target, tracked.key_type)
         INTO found USING storage_keys;
    END IF;
    referenced := referenced || coalesce(found, '{}');
  END LOOP;
  RETURN referenced;
END
$$;
COMMENT ON FUNCTION deletion.referenced_file_keys(text[]) IS 'The given storage keys that a live row of any tracked table still names (those files must not be deleted).';

-- Takes up to batch_size due files for one cleaner, under a lease. Rows are locked with
-- FOR UPDATE SKIP LOCKED, so two cleaners at once never take the same key, and a key whose row is
-- being deleted by an open transaction (which locks its queue row, see deletion.file_enqueue_sql)
-- is skipped until that transaction ends. Keys still named by a live row are removed from the queue
-- (their files stay in storage) and returned with still_referenced = true, for the report; the
-- others are leased and their attempt counted. A cleaner that dies leaves its keys leased until the
-- lease lapses; then any cleaner takes them again. `grace` keeps files queued less than that long:
-- a deleted row restored from the audit log within the grace period finds its file still there (the
-- restored row then names the key, and the claim keeps the file).
-- Errors: batch_size outside 1..1000, a lease that is not positive, a negative grace (22023).
CREATE OR REPLACE FUNCTION deletion.claim_file_deletions(
  cleaner text,
  batch_size integer DEFAULT 100,
  lease interval DEFAULT '5 minutes',
  grace interval DEFAULT '0 seconds')
RETURNS TABLE (id bigint, storage_key text, attempts integer, still_referenced boolean)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  claimed_ids bigint[];
  in_use text[];
BEGIN
  IF batch_size IS NULL OR batch_size NOT BETWEEN 1 AND 1000 THEN
    RAISE EXCEPTION 'batch size must be between 1 and 1000, not %', coalesce(batch_size::text, 'NULL')
      USING ERRCODE = '22023', HINT = 'seed 002 caps a cleanup batch at 1000 files; run more batches instead';
  END IF;
  IF lease IS NULL OR lease <= interval '0' THEN
    RAISE EXCEPTION 'the lease must be a positive interval, not %', coalesce(lease::text, 'NULL') USING ERRCODE = '22023';
  END IF;
  IF grace IS NULL OR grace < interval '0' THEN
    RAISE EXCEPTION 'the grace period must not be negative' USING ERRCODE = '22023';
  END IF;
  IF nullif(cleaner, '') IS NULL THEN
    RAISE EXCEPTION 'a cleaner must name itself' USING ERRCODE = '22023', HINT = 'pass a name such as host:pid';
  END IF;

  SELECT array_agg(due.id) INTO claimed_ids
    FROM (SELECT q.id
            FROM deletion.pending_file_deletions q
           WHERE q.failed_at IS NULL
             AND q.next_attempt_at <= clock_timestamp()
             AND q.queued_at <= clock_timestamp() - grace
             AND (q.lease_expires_at IS NULL OR q.lease_expires_at <= clock_timestamp())
           ORDER BY q.next_attempt_at, q.id
           LIMIT batch_size
             FOR UPDATE SKIP LOCKED) due;
  IF claimed_ids IS NULL THEN
    RETURN;
  END IF;

  in_use := deletion.referenced_file_keys(
    ARRAY(SELECT q.storage_key FROM deletion.pending_file_deletions q WHERE q.id = ANY (claimed_ids)));

  RETURN QUERY
    DELETE FROM deletion.pending_file_deletions q
     WHERE q.id = ANY (claimed_ids) AND q.storage_key = ANY (in_use)
    RETURNING q.id, q.storage_key, q.attempts, true;
  -- an erasure's files that stay because a live row names them (sql/62_erasure_jobs.sql)
  IF to_regclass('deletion.erasure_files') IS NOT NULL AND cardinality(in_use) > 0 THEN
    PERFORM deletion.confirm_erasure_files(
      ARRAY(SELECT f.queue_id FROM deletion.erasure_files f WHERE f.queue_id = ANY (claimed_ids) AND f.outcome = 'pending'
               AND NOT EXISTS (SELECT FROM deletion.pending_file_deletions q WHERE q.id = f.queue_id)), 'still_referenced');
  END IF;

  RETURN QUERY
    UPDATE deletion.pending_file_deletions q
       SET lease_owner = cleaner,
           lease_expires_at = clock_timestamp() + lease,
           attempts = q.attempts + 1
     WHERE q.id = ANY (claimed_ids) AND NOT q.storage_key = ANY (in_use)
    RETURNING q.id, q.storage_key, q.attempts, false;
END
$$;
COMMENT ON FUNCTION deletion.claim_file_deletions(text, integer, interval, interval) IS 'Leases up to batch_size (at most 1000) due files to a cleaner (FOR UPDATE SKIP LOCKED); keys still named by a live row leave the queue and come back with still_referenced.';

-- Storage confirmed these files are gone (a missing object counts): they leave the queue. Only the
-- cleaner that holds the lease may remove a key; a key whose lease lapsed and was taken by another
-- cleaner is left to that one (which will find the file already gone). Returns the ids removed.
CREATE OR REPLACE FUNCTION deletion.complete_file_deletions(cleaner text, ids bigint[])
RETURNS SETOF bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  removed bigint[];
BEGIN
  WITH gone AS (
    DELETE FROM deletion.pending_file_deletions q
     WHERE q.id = ANY (ids) AND q.lease_owner = cleaner
    RETURNING q.id)
  SELECT coalesce(array_agg(gone.id), '{}') INTO removed FROM gone;
  -- an erasure's files are confirmed gone (sql/62_erasure_jobs.sql)
  IF to_regclass('deletion.erasure_files') IS NOT NULL THEN
    PERFORM deletion.confirm_erasure_files(removed, 'removed');
  END IF;
  RETURN QUERY SELECT unnest(removed);
END
$$;
COMMENT ON FUNCTION deletion.complete_file_deletions(text, bigint[]) IS 'Removes from the queue the files storage confirmed deleted (only those the cleaner still holds).';

-- Storage refused these files: the error is recorded, the lease released, and the next attempt
-- waits an exponential back-off (backoff, 2 x backoff, 4 x backoff, ... capped at one hour). A key
-- that has been attempted max_attempts times is marked failed: it stays in the queue, visible in
-- vw_file_cleanup_stats, and is not taken again until retried. Returns each key and whether it failed.
-- Errors: max_attempts below 1 or a negative backoff (22023); ids and errors of different lengths (22023).
CREATE OR REPLACE FUNCTION deletion.fail_file_deletions(
  cleaner text,
  ids bigint[],
  errors text[],
  max_attempts integer DEFAULT 3,
  backoff interval DEFAULT '30 seconds')
RETURNS TABLE (id bigint, storage_key text, attempts integer, failed boolean)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
BEGIN
  IF max_attempts IS NULL OR max_attempts < 1 THEN
    RAISE EXCEPTION 'max attempts must be at least 1, not %', coalesce(max_attempts::text, 'NULL') USING ERRCODE = '22023';
  END IF;
  IF backoff IS NULL OR backoff < interval '0' THEN
    RAISE EXCEPTION 'the back-off must not be negative' USING ERRCODE = '22023';
  END IF;
  IF cardinality(ids) IS DISTINCT FROM cardinality(errors) THEN
    RAISE EXCEPTION 'give one error per id (% ids, % errors)', cardinality(ids), cardinality(errors) USING ERRCODE = '22023';
  END IF;
  RETURN QUERY
    UPDATE deletion.pending_file_deletions q
       SET last_error = coalesce(f.error, 'unknown error'),
           lease_owner = NULL,
           lease_expires_at = NULL,
           next_attempt_at = clock_timestamp() + least(backoff * power(2, greatest(q.attempts - 1, 0)), interval '1 hour'),
           failed_at = CASE WHEN q.attempts >= max_attempts THEN clock_timestamp() END
      FROM unnest(ids, errors) AS f(id, error)
     WHERE q.id = f.id AND q.lease_owner = cleaner
    RETURNING q.id, q.storage_key, q.attempts, q.failed_at IS NOT NULL;
END
$$;
COMMENT ON FUNCTION deletion.fail_file_deletions(text, bigint[], text[], integer, interval) IS 'Records storage errors for leased files: back-off, or failed after max_attempts attempts.';

-- `deletion-kit files retry [--failed]`: files waiting out a back-off become due now; with
-- include_failed, failed files come back as pending with their attempts reset (their last error
-- stays, for the record). Returns how many files were made due.
CREATE OR REPLACE FUNCTION deletion.retry_file_deletions(include_failed boolean DEFAULT false)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  made_due integer;
BEGIN
  UPDATE deletion.pending_file_deletions q
     SET next_attempt_at = clock_timestamp(),
         failed_at = NULL,
         attempts = CASE WHEN q.failed_at IS NOT NULL THEN 0 ELSE q.attempts END
   WHERE (q.failed_at IS NULL AND q.lease_owner IS NULL AND q.next_attempt_at > clock_timestamp())
      OR (include_failed AND q.failed_at IS NOT NULL);
  GET DIAGNOSTICS made_due = ROW_COUNT;
  RETURN made_due;
END
$$;
COMMENT ON FUNCTION deletion.retry_file_deletions(boolean) IS 'Makes backed-off files due now; with true, failed files are pending again with attempts reset.';

REVOKE ALL ON FUNCTION deletion.referenced_file_keys(text[]), deletion.claim_file_deletions(text, integer, interval, interval),
                       deletion.complete_file_deletions(text, bigint[]),
                       deletion.fail_file_deletions(text, bigint[], text[], integer, interval),
                       deletion.retry_file_deletions(boolean)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION deletion.referenced_file_keys(text[]), deletion.claim_file_deletions(text, integer, interval, interval),
                          deletion.complete_file_deletions(text, bigint[]),
                          deletion.fail_file_deletions(text, bigint[], text[], integer, interval),
                          deletion.retry_file_deletions(boolean)
  TO deletion_admin;

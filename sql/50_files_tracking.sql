-- Deferred file cleanup, part 1: which tables name files, and the triggers that queue a file the
-- moment its row goes. The enqueue lives in the database so that no client (ORM, psql, another
-- service, a cascade, the deletion-job worker) can delete a row and forget its file.
--
-- How the triggers see every deleted row exactly once: they are AFTER ... FOR EACH STATEMENT
-- triggers with a transition table. PostgreSQL fires one such trigger once per table and statement,
-- with every row that statement removed from the table, rows removed by ON DELETE CASCADE included
-- (the foreign-key actions run inside the outer statement; a row reached by two cascade paths is
-- deleted, and so listed, once). Each DELETE statement of a PL/pgSQL or SQL function (the job
-- worker's chunks) is a statement of its own and fires with its own rows. A rolled-back delete rolls
-- back its queue rows with it. The queue's unique storage key is the last guard: a key already
-- queued is not queued twice.

-- The INSERT that queues the keys found in `source` (a transition table, or the table itself for a
-- TRUNCATE), as SQL text. The trigger functions run it with EXECUTE, because a transition table is
-- only visible to the trigger function's own statements, not to a function it calls.
--   * one row per key, the first row's primary key recorded as where it came from;
--   * NULL and empty keys name no file and are skipped;
--   * ON CONFLICT DO UPDATE (not DO NOTHING) so that the existing queue row is locked until this
--     transaction ends: a cleaner cannot decide "still referenced" from a snapshot that still sees
--     the row this transaction is deleting. A key that had failed for good is revived: a new delete
--     means someone again expects the file gone.
CREATE OR REPLACE FUNCTION deletion.file_enqueue_sql(target regclass, key_column name, source text)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
  pk_columns name[];
  pk_text text;
  table_schema name;
  table_name name;
BEGIN
  SELECT n.nspname, c.relname INTO table_schema, table_name  -- a partition's rows are queued under its registered parent
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.oid = coalesce(deletion.registered_table_of(target), target);
  SELECT array_agg(k.column_name) INTO pk_columns FROM deletion.primary_key_columns(target) k;
  pk_text := CASE
    WHEN pk_columns IS NULL THEN 'NULL::text'
    WHEN cardinality(pk_columns) = 1 THEN format('r.%I::text', pk_columns[1])
    ELSE format('jsonb_build_array(%s)::text',
                (SELECT string_agg(format('r.%I', col), ', ' ORDER BY ord) FROM unnest(pk_columns) WITH ORDINALITY AS u(col, ord)))
  END;
  RETURN format($sql$
    INSERT INTO deletion.pending_file_deletions AS q (storage_key, source_schema, source_table, source_pk)
    SELECT DISTINCT ON (r.%1$I::text) r.%1$I::text, %2$L, %3$L, %4$s
      FROM %5$s AS r
     WHERE r.%1$I IS NOT NULL AND r.%1$I::text <> ''
     ORDER BY r.%1$I::text
    ON CONFLICT (storage_key) DO UPDATE
       SET failed_at = NULL, attempts = 0, next_attempt_at = now(), queued_at = now()
     WHERE q.failed_at IS NOT NULL$sql$,
    key_column, table_schema, table_name, pk_text, source);
END
$$;
COMMENT ON FUNCTION deletion.file_enqueue_sql(regclass, name, text) IS 'The INSERT that queues the storage keys found in a row source of a tracked table (used by the deletion_60_files triggers).';

-- AFTER DELETE, once per statement: queues the keys of every deleted row (cascaded ones included).
-- SECURITY DEFINER because the application role that deletes the row may not write the queue.
-- TG_ARGV[0] is the key column, fixed by deletion.wire_files() from the registry.
CREATE OR REPLACE FUNCTION deletion.queue_files_of_deleted_rows()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
BEGIN
  PERFORM deletion.require_engine_trigger(TG_RELID, TG_NAME, 'deletion.queue_files_of_deleted_rows'::regproc);
  EXECUTE deletion.file_enqueue_sql(TG_RELID, TG_ARGV[0], 'deleted_rows');
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION deletion.queue_files_of_deleted_rows() IS 'Trigger deletion_60_files: queues the storage keys of the rows a DELETE statement removed (cascades included).';

-- AFTER UPDATE, once per statement: a row whose key changed (a file replaced by a new upload) no
-- longer names its old file, so the old key is queued. Keys still named by another row survive the
-- cleaner's reference check. (A trigger with transition tables cannot be limited to UPDATE OF a
-- column, so the statement compares old and new keys by primary key itself.)
CREATE OR REPLACE FUNCTION deletion.queue_files_of_replaced_keys()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  key_column name := TG_ARGV[0];
BEGIN
  PERFORM deletion.require_engine_trigger(TG_RELID, TG_NAME, 'deletion.queue_files_of_replaced_keys'::regproc);
  EXECUTE deletion.file_enqueue_sql(TG_RELID, key_column, format(
    '(SELECT o.* FROM old_rows o WHERE o.%1$I IS NOT NULL AND NOT EXISTS (SELECT 1 FROM new_rows n WHERE n.%1$I::text = o.%1$I::text))',
    key_column));
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION deletion.queue_files_of_replaced_keys() IS 'Trigger deletion_60_files_update: queues storage keys an UPDATE statement replaced (keys no updated row names any more).';

-- BEFORE TRUNCATE: TRUNCATE fires no DELETE trigger and leaves no transition table, so the keys are
-- read from the table itself just before it is emptied.
CREATE OR REPLACE FUNCTION deletion.queue_files_of_truncated_table()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
BEGIN
  PERFORM deletion.require_engine_trigger(TG_RELID, TG_NAME, 'deletion.queue_files_of_truncated_table'::regproc);
  EXECUTE deletion.file_enqueue_sql(TG_RELID, TG_ARGV[0], TG_RELID::regclass::text);
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION deletion.queue_files_of_truncated_table() IS 'Trigger deletion_60_files_truncate: queues every storage key of a table about to be truncated.';

-- Makes one table's file triggers match its registry row (idempotent; deletion.rewire() calls it for
-- every registered table): three triggers when file_key_column is set, none otherwise.
-- Error: the registry names a column the table does not have (42703).
CREATE OR REPLACE FUNCTION deletion.wire_files(target regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  -- Through jsonb, so that the function also runs when migration 0050 (the column) is reverted.
  key_column name := to_jsonb(deletion.policy_of(target)) ->> 'file_key_column';
  existing name;
BEGIN
  -- Triggers of that family under other names (earlier versions) go.
  FOR existing IN
    SELECT t.tgname FROM pg_trigger t
     WHERE t.tgrelid = target AND NOT t.tgisinternal AND t.tgname LIKE 'deletion\_60\_files%'
       AND t.tgname NOT IN ('deletion_60_files', 'deletion_60_files_update', 'deletion_60_files_truncate')
  LOOP
    EXECUTE format('DROP TRIGGER %I ON %s', existing, target);
  END LOOP;
  -- A registry row naming a column the table no longer has would make every delete fail; say so now.
  IF key_column IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_attribute a
                  WHERE a.attrelid = target AND a.attname = key_column AND a.attnum > 0 AND NOT a.attisdropped) THEN
    RAISE EXCEPTION 'the registry tracks files of % in column "%", which the table does not have', target, key_column
      USING ERRCODE = '42703', HINT = format('point it at the key column: SELECT deletion.track_files(%L, ''<column>''), or stop tracking with NULL', target::text);
  END IF;
  -- (deletion.ensure_trigger: no DDL and no lock when a trigger is already as wanted, so rewiring a
  -- tracked table, and track_files on one that already tracks that column, take no lock on it.)
  PERFORM deletion.ensure_trigger(target, 'deletion_60_files', CASE WHEN key_column IS NOT NULL THEN format(
    'CREATE TRIGGER deletion_60_files AFTER DELETE ON %s REFERENCING OLD TABLE AS deleted_rows'
    ' FOR EACH STATEMENT EXECUTE FUNCTION deletion.queue_files_of_deleted_rows(%L)', target, key_column) END);
  PERFORM deletion.ensure_trigger(target, 'deletion_60_files_update', CASE WHEN key_column IS NOT NULL THEN format(
    'CREATE TRIGGER deletion_60_files_update AFTER UPDATE ON %s REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows'
    ' FOR EACH STATEMENT EXECUTE FUNCTION deletion.queue_files_of_replaced_keys(%L)', target, key_column) END);
  PERFORM deletion.ensure_trigger(target, 'deletion_60_files_truncate', CASE WHEN key_column IS NOT NULL THEN format(
    'CREATE TRIGGER deletion_60_files_truncate BEFORE TRUNCATE ON %s'
    ' FOR EACH STATEMENT EXECUTE FUNCTION deletion.queue_files_of_truncated_table(%L)', target, key_column) END);
END
$$;
COMMENT ON FUNCTION deletion.wire_files(regclass) IS 'Installs (or removes) the deletion_60_files triggers of one table to match its registry row; idempotent, called by deletion.rewire().';

-- Registers the column of a table that holds storage keys and wires its triggers; NULL stops
-- tracking. Errors: not an admin or the table's owner (42501); no such column (42703); a column
-- that cannot hold a key (42804).
CREATE OR REPLACE FUNCTION deletion.track_files(target regclass, key_column name)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  column_type regtype;
BEGIN
  IF NOT deletion.is_admin(target) THEN
    RAISE EXCEPTION 'only deletion_admin members or the owner of % may change which files it tracks', target
      USING ERRCODE = '42501';
  END IF;
  IF key_column IS NOT NULL THEN
    SELECT a.atttypid::regtype INTO column_type
      FROM pg_attribute a
     WHERE a.attrelid = target AND a.attname = key_column AND a.attnum > 0 AND NOT a.attisdropped;
    IF column_type IS NULL THEN
      RAISE EXCEPTION 'table % has no column "%"', target, key_column
        USING ERRCODE = '42703', HINT = 'name the column that holds the storage key, e.g. deletion.track_files(''public.attachments'', ''storage_key'')';
    END IF;
    IF column_type NOT IN ('text'::regtype, 'character varying'::regtype, 'uuid'::regtype) THEN
      RAISE EXCEPTION 'column %.% is of type %; a storage key column must be text, varchar or uuid', target, key_column, column_type
        USING ERRCODE = '42804';
    END IF;
  END IF;
  PERFORM deletion.register_table(target);
  UPDATE deletion.table_policies tp
     SET file_key_column = key_column
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.oid = target AND tp.table_schema = n.nspname AND tp.table_name = c.relname;
  PERFORM deletion.wire_files(target);
  PERFORM deletion.wire_partitions(target);
END
$$;
COMMENT ON FUNCTION deletion.track_files(regclass, name) IS 'Declares the column of a table that holds storage keys (NULL: none) and wires the triggers that queue the files of deleted rows.';

REVOKE ALL ON FUNCTION deletion.file_enqueue_sql(regclass, name, text), deletion.queue_files_of_deleted_rows(),
                       deletion.queue_files_of_replaced_keys(), deletion.queue_files_of_truncated_table(),
                       deletion.wire_files(regclass), deletion.track_files(regclass, name)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION deletion.track_files(regclass, name), deletion.wire_files(regclass) TO deletion_admin;

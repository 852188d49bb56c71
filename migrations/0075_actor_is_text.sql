-- Up Migration

-- The actor (SET LOCAL deletion.actor) belongs to the product: user ids are bigints, uuids or text,
-- so the engine keeps the actor as text everywhere it records one. Product tables keep the type of
-- their own deleted_by column (soft delete casts the actor to it); tables wired from now on get text.
-- The engine's views read these columns; they are dropped here and rebuilt by the sql/ modules that
-- every migrate applies after its migrations.
DO $drop_views$
DECLARE
  v record;
BEGIN
  FOR v IN
    SELECT format('%I.%I', n.nspname, c.relname) AS name, c.relkind
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname IN ('deletion', 'audit', 'deletion_work') AND c.relkind IN ('v', 'm')
  LOOP
    EXECUTE format('DROP %s IF EXISTS %s CASCADE', CASE v.relkind WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'VIEW' END, v.name);
  END LOOP;
END
$drop_views$;

ALTER TABLE deletion.soft_delete_operations
  ALTER COLUMN deleted_by TYPE text USING deleted_by::text,
  ALTER COLUMN restored_by TYPE text USING restored_by::text;
ALTER TABLE deletion.soft_delete_requests ALTER COLUMN deleted_by TYPE text USING deleted_by::text;
ALTER TABLE deletion.deletion_jobs ALTER COLUMN created_by TYPE text USING created_by::text;
ALTER TABLE audit.transactions ALTER COLUMN actor TYPE text USING actor::text;

COMMENT ON COLUMN deletion.soft_delete_operations.deleted_by IS 'The actor (SET LOCAL deletion.actor) of the soft delete: the product''s user id, as text.';
COMMENT ON COLUMN deletion.soft_delete_operations.restored_by IS 'The actor of the restore, as text.';
COMMENT ON COLUMN deletion.deletion_jobs.created_by IS 'The actor that scheduled the job (a label, never a right), as text.';
COMMENT ON COLUMN audit.transactions.actor IS 'deletion.current_actor() (SET LOCAL deletion.actor): the product''s user id, as text.';

-- Down Migration

-- Back to bigint, for the package's older versions whose code records actors as whole numbers: fails
-- (22P02) when an actor that is not a whole number was recorded since.
DO $drop_views$
DECLARE
  v record;
BEGIN
  FOR v IN
    SELECT format('%I.%I', n.nspname, c.relname) AS name, c.relkind
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname IN ('deletion', 'audit', 'deletion_work') AND c.relkind IN ('v', 'm')
  LOOP
    EXECUTE format('DROP %s IF EXISTS %s CASCADE', CASE v.relkind WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'VIEW' END, v.name);
  END LOOP;
END
$drop_views$;

ALTER TABLE audit.transactions ALTER COLUMN actor TYPE bigint USING actor::bigint;
ALTER TABLE deletion.deletion_jobs ALTER COLUMN created_by TYPE bigint USING created_by::bigint;
ALTER TABLE deletion.soft_delete_requests ALTER COLUMN deleted_by TYPE bigint USING deleted_by::bigint;
ALTER TABLE deletion.soft_delete_operations
  ALTER COLUMN deleted_by TYPE bigint USING deleted_by::bigint,
  ALTER COLUMN restored_by TYPE bigint USING restored_by::bigint;
COMMENT ON COLUMN deletion.soft_delete_operations.deleted_by IS NULL;
COMMENT ON COLUMN deletion.soft_delete_operations.restored_by IS NULL;
COMMENT ON COLUMN deletion.deletion_jobs.created_by IS 'User/admin that created the job.';
COMMENT ON COLUMN audit.transactions.actor IS 'deletion.current_actor() (SET LOCAL deletion.actor).';

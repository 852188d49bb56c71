-- Deletion jobs, part 5: the worker's periodic upkeep (deletion-kit worker --upkeep). Other concerns
-- own the work; this only calls what is installed: purging soft-deleted rows whose retention expired
-- (soft delete) and dropping audit partitions past retention (audit). Each is looked up by signature,
-- so the worker runs on a database that has only some concerns installed.
CREATE OR REPLACE FUNCTION deletion.run_upkeep()
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  task text;
  result jsonb := '{}';
  outcome text;
BEGIN
  FOREACH task IN ARRAY ARRAY['deletion.purge_soft_deleted()', 'audit.apply_retention()', 'audit.enforce_retention()', 'audit.drop_expired_partitions()'] LOOP
    IF to_regprocedure(task) IS NOT NULL THEN
      EXECUTE format('SELECT (%s)::text', task) INTO outcome;
      result := result || jsonb_build_object(task, outcome);
    END IF;
  END LOOP;
  RETURN result;
END
$$;
COMMENT ON FUNCTION deletion.run_upkeep() IS 'Periodic upkeep for the worker: calls the installed purge of expired soft-deleted rows and the audit retention function; returns what each returned.';

REVOKE EXECUTE ON FUNCTION deletion.run_upkeep() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION deletion.run_upkeep() TO deletion_admin;

-- Deletion jobs, part 5: the worker's periodic upkeep (deletion-kit worker --upkeep). Other concerns
-- own the work; this only calls what is installed, looked up by signature, so the worker runs on a
-- database that has only some concerns installed:
--   deletion.purge_soft_deleted(interval)   hard-deletes rows soft-deleted longer ago than purge_after;
--   audit.ensure_partitions(integer)         makes the coming months' audit partitions;
--   audit.drop_partitions_before(timestamptz) drops audit months older than audit_keep (when given);
--   audit.seal(text, bigint)                 seals the finished audit rows when audit_key is given (the
--                                            worker passes DELETION_KIT_AUDIT_KEY); a key that is not the
--                                            chain's is reported in the result, not raised, so the rest
--                                            of the upkeep still happens.
CREATE OR REPLACE FUNCTION deletion.run_upkeep(purge_after interval DEFAULT '90 days', audit_keep interval DEFAULT NULL,
                                               audit_key text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  result jsonb := '{}';
  outcome jsonb;
BEGIN
  IF purge_after IS NOT NULL AND to_regprocedure('deletion.purge_soft_deleted(interval)') IS NOT NULL THEN
    EXECUTE 'SELECT coalesce(jsonb_object_agg(p.table_name, p.rows_purged), ''{}'') FROM deletion.purge_soft_deleted($1) p'
       INTO outcome USING purge_after;
    result := result || jsonb_build_object('purged', outcome);
  END IF;
  IF to_regprocedure('audit.ensure_partitions(integer)') IS NOT NULL THEN
    EXECUTE 'SELECT coalesce(jsonb_agg(p), ''[]'') FROM audit.ensure_partitions() p' INTO outcome;
    result := result || jsonb_build_object('audit_partitions_created', outcome);
  END IF;
  IF audit_keep IS NOT NULL AND to_regprocedure('audit.drop_partitions_before(timestamptz)') IS NOT NULL THEN
    EXECUTE 'SELECT coalesce(jsonb_agg(p), ''[]'') FROM audit.drop_partitions_before(date_trunc(''month'', now() - $1)) p'
       INTO outcome USING audit_keep;
    result := result || jsonb_build_object('audit_partitions_dropped', outcome);
  END IF;
  IF audit_key IS NOT NULL AND to_regprocedure('audit.seal(text,bigint)') IS NOT NULL THEN
    BEGIN
      EXECUTE 'SELECT coalesce(jsonb_agg(jsonb_build_object(''seal_no'', s.seal_no, ''rows'', s.row_count, ''digest'', s.chain_digest)), ''[]'') '
              'FROM audit.seal($1, $2) s'
         INTO outcome USING audit_key, 1000000;
      result := result || jsonb_build_object('audit_sealed', outcome);
    EXCEPTION WHEN SQLSTATE 'PD210' OR invalid_parameter_value THEN
      result := result || jsonb_build_object('audit_seal_error', SQLERRM);
    END;
  END IF;
  RETURN result;
END
$$;
COMMENT ON FUNCTION deletion.run_upkeep(interval, interval, text) IS 'Periodic upkeep for the worker: purges soft-deleted rows older than purge_after, makes coming audit partitions, drops audit months older than audit_keep, seals the audit log with audit_key; returns what each did.';

REVOKE EXECUTE ON FUNCTION deletion.run_upkeep(interval, interval, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION deletion.run_upkeep(interval, interval, text) TO deletion_admin;

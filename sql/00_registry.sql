-- The policy registry's functions. The registry (deletion.table_policies) is data and is versioned by
-- migrations; what hangs off it (triggers, policies, indexes) is derived from it here, so the runner
-- can drop and recreate all engine code on every upgrade and end with the same wiring.

-- Each concern (soft delete, audit, protection, files, ...) defines deletion.wire_<concern>(regclass):
-- an idempotent function that makes one table's triggers and policies match its registry row.
-- rewire() calls every one of them for every registered table that exists: wire_soft_delete first,
-- because it adds the columns (deleted_at, ...) that other concerns' triggers name, then the rest in
-- name order. The runner calls it after (re)applying the sql/ modules; nothing else needs to.
CREATE OR REPLACE FUNCTION deletion.rewire()
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  wire regprocedure;
  target regclass;
  wired integer := 0;
BEGIN
  FOR wire IN
    SELECT p.oid::regprocedure
      FROM pg_proc p
     WHERE p.pronamespace = 'deletion'::regnamespace
       AND p.proname LIKE 'wire\_%'
       AND p.proargtypes = '2205'::oidvector  -- exactly one regclass argument
     ORDER BY p.proname <> 'wire_soft_delete', p.proname
  LOOP
    FOR target IN
      SELECT to_regclass(format('%I.%I', tp.table_schema, tp.table_name))
        FROM deletion.table_policies tp
       WHERE to_regclass(format('%I.%I', tp.table_schema, tp.table_name)) IS NOT NULL
       ORDER BY tp.table_schema, tp.table_name
    LOOP
      EXECUTE format('SELECT %s($1)', wire::oid::regproc) USING target;
      wired := wired + 1;
    END LOOP;
  END LOOP;
  RETURN wired;
END
$$;
COMMENT ON FUNCTION deletion.rewire() IS 'Re-derives every registered table''s triggers and policies from the registry by calling each deletion.wire_<concern>(regclass); run by the migrate command after the sql/ modules.';

-- The registry row of a table, or a clear error when the table is not registered.
CREATE OR REPLACE FUNCTION deletion.policy_of(target regclass)
RETURNS deletion.table_policies
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT tp.*
    FROM deletion.table_policies tp
    JOIN pg_class c ON c.relname = tp.table_name
    JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = tp.table_schema
   WHERE c.oid = target
$$;
COMMENT ON FUNCTION deletion.policy_of(regclass) IS 'The registry row of a table (NULL when it has none).';

-- Registers a table (idempotent). Concern-specific options are set by that concern's enable_* function.
CREATE OR REPLACE FUNCTION deletion.register_table(target regclass, description text DEFAULT '')
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog
AS $$
  INSERT INTO deletion.table_policies (table_schema, table_name, description)
  SELECT n.nspname, c.relname, coalesce(register_table.description, '')
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.oid = target
  ON CONFLICT (table_schema, table_name) DO UPDATE
     SET description = CASE WHEN excluded.description = '' THEN deletion.table_policies.description
                            ELSE excluded.description END
$$;
COMMENT ON FUNCTION deletion.register_table(regclass, text) IS 'Adds a table to the deletion policy registry (idempotent); the description says why it is deleted the way it is.';

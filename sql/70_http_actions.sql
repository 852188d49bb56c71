-- The HTTP API's action log (migration 0190): the one way rows get into deletion.http_actions.
-- `deletion-kit serve` calls it as its own login (after SET LOCAL ROLE NONE), in the change's
-- transaction when the change succeeded, in a transaction of its own when it failed. The login
-- must be a member of deletion_admin (it serves admin tokens anyway); the roles the requests run as
-- may read the log but not write it, so a viewer or an operator cannot forge or erase entries.
-- Loaded only when migration 0190 is applied (the engine is rebuilt on whatever migrations remain).
DO $http_actions$
BEGIN
IF to_regclass('deletion.http_actions') IS NULL THEN
  RETURN;
END IF;

-- Appends one action to the log and returns its id.
CREATE OR REPLACE FUNCTION deletion.record_action(actor text, role text, db_role name, method text, path text, action text,
                                                  target_table text, target_key text, request jsonb, status integer,
                                                  sqlstate text, result jsonb)
RETURNS bigint
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog
AS $fn$
  INSERT INTO deletion.http_actions (actor, role, db_role, method, path, action, target_table, target_key, request, status, sqlstate, result)
  VALUES (actor, role, db_role, method, path, action, target_table, target_key, coalesce(request, '{}'), status, sqlstate, result)
  RETURNING id
$fn$;
COMMENT ON FUNCTION deletion.record_action(text, text, name, text, text, text, text, text, jsonb, integer, text, jsonb) IS 'Appends a change made through the HTTP API or the console to deletion.http_actions (for the serving login, a member of deletion_admin).';

REVOKE ALL ON deletion.http_actions FROM PUBLIC;
GRANT SELECT ON deletion.http_actions TO deletion_app, deletion_admin;
GRANT EXECUTE ON FUNCTION deletion.record_action(text, text, name, text, text, text, text, text, jsonb, integer, text, jsonb) TO deletion_admin;
END
$http_actions$;

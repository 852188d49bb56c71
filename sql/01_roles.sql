-- Who may do what. Privilege is decided by the role the statement runs as, never by a setting a
-- session can change: an application role cannot make itself an admin with SET.

-- True for superusers and members of deletion_admin. Inside a SECURITY DEFINER engine function the
-- current user is the function's owner, which is how the engine's own sanctioned paths (the
-- deletion-job worker's chunks, restore) are recognised by triggers.
CREATE OR REPLACE FUNCTION deletion.is_admin()
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT pg_has_role(current_user, 'deletion_admin', 'MEMBER')
$$;
COMMENT ON FUNCTION deletion.is_admin() IS 'True when the current role is a superuser or a member of deletion_admin (never decided by a session setting).';

-- The same, or the owner of the given table (owners bypass row-level security anyway).
CREATE OR REPLACE FUNCTION deletion.is_admin(target regclass)
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT deletion.is_admin()
      OR pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = target), 'MEMBER')
$$;
COMMENT ON FUNCTION deletion.is_admin(regclass) IS 'True for deletion_admin members, superusers and the owner of the table.';

-- The acting user, from `SET LOCAL deletion.actor = '<user id>'`; NULL when not given.
CREATE OR REPLACE FUNCTION deletion.current_actor()
RETURNS bigint
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
  raw text := nullif(current_setting('deletion.actor', true), '');
BEGIN
  RETURN raw::bigint;
EXCEPTION WHEN invalid_text_representation OR numeric_value_out_of_range THEN
  RAISE EXCEPTION 'deletion.actor must be a user id (a whole number), not "%"', raw
    USING ERRCODE = '22023', HINT = 'SET LOCAL deletion.actor = ''42''';
END
$$;
COMMENT ON FUNCTION deletion.current_actor() IS 'The user id in the deletion.actor setting (SET LOCAL deletion.actor = ''42''), or NULL.';

-- The reason for the current transaction's deletes, from `SET LOCAL deletion.reason = '...'`.
CREATE OR REPLACE FUNCTION deletion.current_reason()
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT nullif(current_setting('deletion.reason', true), '')
$$;
COMMENT ON FUNCTION deletion.current_reason() IS 'The reason in the deletion.reason setting, or NULL.';

GRANT EXECUTE ON FUNCTION deletion.is_admin(), deletion.is_admin(regclass), deletion.current_actor(), deletion.current_reason()
  TO deletion_app, deletion_admin;

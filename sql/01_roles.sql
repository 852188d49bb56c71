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

-- The acting user, from `SET LOCAL deletion.actor = '<user id>'`; NULL when not given. The actor is the
-- product's own id (a bigint, a uuid, an email), so it is text here; soft delete casts it to the type
-- of a table's deleted_by column. It is a label for the record, never a right.
CREATE OR REPLACE FUNCTION deletion.current_actor()
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT nullif(current_setting('deletion.actor', true), '')
$$;
COMMENT ON FUNCTION deletion.current_actor() IS 'The actor in the deletion.actor setting (SET LOCAL deletion.actor = ''42''), as text, or NULL.';

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

-- The role a session acts as: the role it SET ROLE to, or its login. Inside the engine's SECURITY
-- DEFINER functions current_user is deletion_owner, so the functions that decide by role who may
-- change what (cancelling a job, for one) ask this instead. Like current_user it follows roles only:
-- SET ROLE needs membership, and nothing a session can SET without it changes the answer.
CREATE OR REPLACE FUNCTION deletion.calling_role()
RETURNS name
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT CASE WHEN current_setting('role') = 'none' THEN session_user ELSE current_setting('role')::name END
$$;
COMMENT ON FUNCTION deletion.calling_role() IS 'The role the session acts as (its SET ROLE, else its login): who called an engine SECURITY DEFINER function.';

-- True when the calling role (not the engine's own) is a superuser or a member of deletion_admin,
-- or, given a table, owns it: the checks of SECURITY DEFINER functions that act for their caller.
CREATE OR REPLACE FUNCTION deletion.caller_is_admin(target regclass DEFAULT NULL)
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT pg_has_role(deletion.calling_role(), 'deletion_admin', 'MEMBER')
      OR (target IS NOT NULL AND pg_has_role(deletion.calling_role(), (SELECT relowner FROM pg_class WHERE oid = target), 'MEMBER'))
$$;
COMMENT ON FUNCTION deletion.caller_is_admin(regclass) IS 'True when the calling role is a superuser, a member of deletion_admin, or (given a table) its owner.';

GRANT EXECUTE ON FUNCTION deletion.is_admin(), deletion.is_admin(regclass), deletion.current_actor(), deletion.current_reason()
  TO deletion_app, deletion_admin;

-- The tests that every role runs: the engine's trigger WHEN clauses and row-level policies are
-- evaluated with the privileges of whoever reads or writes the table, so the functions they call are
-- the engine's only functions that PUBLIC may execute (docs/security.md, "The caller predicates").
--
-- Why functions, and not the same expressions written into each clause: PostgreSQL copies the text
-- of every trigger's WHEN clause of a table each time a statement on it starts, and a foreign-key
-- cascade starts one statement for every parent row it deletes or sets to NULL. Written out, the
-- soft-delete trigger's test alone was 4 KB of node text a table, copied and parsed again for every
-- parent row of a cascading delete; a function call is a tenth of that. (Where a clause must name
-- the row's own columns, as the live-parent update trigger's does, the columns stay in the clause.)
-- A row-level policy is set up anew at every execution of every query on the table, one permission
-- check for each function in it, so one call is cheaper there too.
--
-- What makes them safe to grant to everyone:
--   * SECURITY INVOKER: they run as the caller and can do nothing the caller could not.
--   * They read no table and return one boolean about the caller's own session (its role, its
--     settings, its transaction), which the built-in functions they call already tell the caller.
--   * Every name in them is schema-qualified (functions, types), and they use no operator: a caller
--     whose search_path puts a schema of its own before pg_catalog (functions named pg_has_role, an
--     `=` operator) runs exactly the same test. PL/pgSQL resolves names when a session first runs
--     the function, with that session's search_path; qualified names leave nothing to resolve.
--     No SET search_path clause: it would cost a settings save and restore on every call, per row.
--   * They belong to deletion_owner, so nobody else can replace them.

-- The soft-delete DELETE trigger's test (and the archive trigger's): true when this DELETE must stay
-- soft, that is unless the session's deletion.mode is 'hard' and the session is privileged: a
-- member of deletion_admin or of the table's owner (superusers are members of every role). A
-- foreign-key cascade runs as the child table's owner, so inside a trigger (depth > 0) the session's
-- own login must be privileged too: an application role that sets deletion.mode and deletes a
-- hard-delete parent gets the soft delete, or the refusal, not a hard delete of the soft-delete rows
-- below it.
CREATE OR REPLACE FUNCTION deletion.delete_stays_soft(table_owner oid)
RETURNS boolean
LANGUAGE plpgsql
STABLE
PARALLEL RESTRICTED
AS $$
BEGIN
  RETURN pg_catalog.texteq(pg_catalog.current_setting('deletion.mode'::pg_catalog.text, true), 'hard'::pg_catalog.text) IS NOT TRUE
      OR NOT (pg_catalog.pg_has_role(current_user, 'deletion_admin'::pg_catalog.name, 'MEMBER'::pg_catalog.text)
              OR pg_catalog.pg_has_role(current_user, table_owner, 'MEMBER'::pg_catalog.text))
      OR (pg_catalog.int4gt(pg_catalog.pg_trigger_depth(), 0)
          AND NOT (pg_catalog.pg_has_role(session_user, 'deletion_admin'::pg_catalog.name, 'MEMBER'::pg_catalog.text)
                   OR pg_catalog.pg_has_role(session_user, table_owner, 'MEMBER'::pg_catalog.text)));
END
$$;
COMMENT ON FUNCTION deletion.delete_stays_soft(oid) IS 'WHEN clause of the soft-delete and archive DELETE triggers: true unless deletion.mode is ''hard'' in a privileged session (argument: the table''s owner). Executable by PUBLIC: it tells the caller only about its own session.';

-- The live-parent triggers' test (sql/16_soft_delete_live_parents.sql): true when the writing role
-- has the engine's rights (deletion_owner: the engine's own writes in a restore, an audit restore, a
-- job's chunks; superusers; the migrating role, a member of deletion_owner), whose rows are not
-- checked for deleted parents.
CREATE OR REPLACE FUNCTION deletion.acts_with_engine_rights()
RETURNS boolean
LANGUAGE plpgsql
STABLE
AS $$
BEGIN
  RETURN pg_catalog.pg_has_role(current_user, 'deletion_owner'::pg_catalog.name, 'USAGE'::pg_catalog.text);
END
$$;
COMMENT ON FUNCTION deletion.acts_with_engine_rights() IS 'WHEN clause of the live-parent triggers (negated): the current role has deletion_owner''s rights. Executable by PUBLIC: it tells the caller only about its own role.';

-- The soft-delete statement trigger's test (deletion_20_soft_delete_flush): rows of the current
-- statement wait for their cascade (the row triggers set deletion.soft_delete_pending).
CREATE OR REPLACE FUNCTION deletion.soft_delete_pending()
RETURNS boolean
LANGUAGE plpgsql
STABLE
AS $$
BEGIN
  RETURN pg_catalog.texteq(pg_catalog.current_setting('deletion.soft_delete_pending'::pg_catalog.text, true), 'on'::pg_catalog.text) IS TRUE;
END
$$;
COMMENT ON FUNCTION deletion.soft_delete_pending() IS 'WHEN clause of the soft-delete statement trigger: soft deletes of the current statement wait for their cascade. Executable by PUBLIC: it reads one of the caller''s own settings.';

-- The current statement's identity, 12 bytes: the low 4 bytes of the transaction id and the
-- statement's start time (its binary form: microseconds since 2000). NULL in a transaction that has
-- written nothing. The operation id of a statement's soft deletes begins with it
-- (deletion.soft_delete_statement_op). Internal.
CREATE OR REPLACE FUNCTION deletion.statement_identity()
RETURNS bytea
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT substring(xid8send(pg_current_xact_id_if_assigned()) FROM 5 FOR 4) || timestamptz_send(statement_timestamp())
$$;
COMMENT ON FUNCTION deletion.statement_identity() IS 'The current statement''s identity (transaction id and start time), the first 12 bytes of the operation id its soft deletes get.';

-- The soft-delete policy's second test: this row was soft-deleted by the current statement (its
-- operation id begins with the statement's identity, written out here as in
-- deletion.statement_identity, whose SET clause would cost a call per row). The policy admits such
-- rows besides the active ones, so that the UPDATE that soft-deletes a row still sees the new row and
-- its RETURNING returns it; rows a transaction soft-deleted in earlier statements are hidden from it
-- again, as from everyone. STRICT: an active row (no operation) costs no call; the policy tests
-- deleted_at IS NULL first anyway.
CREATE OR REPLACE FUNCTION deletion.soft_deleted_by_this_statement(op uuid)
RETURNS boolean
LANGUAGE plpgsql
STABLE
STRICT
AS $$
BEGIN
  RETURN pg_catalog.byteaeq(pg_catalog.substring(pg_catalog.uuid_send(op), 1, 12),
                            pg_catalog.byteacat(pg_catalog.substring(pg_catalog.xid8send(pg_catalog.pg_current_xact_id_if_assigned()), 5, 4),
                                                pg_catalog.timestamptz_send(pg_catalog.statement_timestamp())));
END
$$;
COMMENT ON FUNCTION deletion.soft_deleted_by_this_statement(uuid) IS 'Soft-delete policy test: the row''s operation id begins with the current statement''s identity (it was soft-deleted by this statement). Executable by PUBLIC: it tells the caller only about its own statement.';

-- The policy text of earlier versions is built from the function above now.
DROP FUNCTION IF EXISTS deletion.own_op_predicate();

REVOKE EXECUTE ON FUNCTION deletion.statement_identity() FROM PUBLIC;

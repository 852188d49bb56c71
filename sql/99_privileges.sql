-- Who owns the engine and who may run its functions: the last module, so it sees every object the
-- others made. docs/security.md has the privilege model; a test compares it with the catalog.
--
-- 1. Default deny. PostgreSQL lets PUBLIC execute every new function. Here PUBLIC loses EXECUTE on
--    every function of the engine's schemas, now and on every rebuild, and by default on any function
--    deletion_owner creates later, except the caller predicates that triggers and policies call
--    (granted back below). The modules' own GRANTs (to deletion_app, deletion_admin) are the
--    only way in; a trigger function is granted to nobody, because a trigger does not need EXECUTE
--    to fire, only to be created, and only the engine's wiring creates its triggers.
-- 2. One owner. Every schema, table, sequence, view and function of the engine is handed to
--    deletion_owner (migration 0070): no login, no superuser, no BYPASSRLS. The SECURITY DEFINER
--    functions therefore run with that role's rights, and whatever fires during their statements
--    (a product's own triggers, policies, defaults) runs with no more than those rights, whoever
--    ran `deletion-kit migrate`. Objects that already belong to it are left alone, so a migrate that
--    changes nothing here takes no lock on the engine's tables.

REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA deletion, audit FROM PUBLIC;

-- The one exception: the tests that trigger WHEN clauses and row-level policies call run as whoever
-- reads or writes a table, so every role needs them (sql/04_caller_predicates.sql says why they are
-- safe to share).
GRANT EXECUTE ON FUNCTION deletion.delete_stays_soft(oid), deletion.soft_deleted_by_this_statement(uuid),
                          deletion.acts_with_engine_rights(), deletion.soft_delete_pending() TO PUBLIC;

DO $owner$
DECLARE
  obj record;
  engine_schemas CONSTANT name[] := ARRAY['deletion', 'audit', 'deletion_work'];
BEGIN
  IF to_regrole('deletion_owner') IS NULL THEN
    RETURN;  -- migration 0070 never ran in this cluster (the engine is migrated down below it)
  END IF;
  ALTER DEFAULT PRIVILEGES FOR ROLE deletion_owner REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

  FOR obj IN
    SELECT format('%I', n.nspname) AS name FROM pg_namespace n
     WHERE n.nspname = ANY (engine_schemas) AND n.nspowner <> 'deletion_owner'::regrole
  LOOP
    EXECUTE format('ALTER SCHEMA %s OWNER TO deletion_owner', obj.name);
  END LOOP;

  -- Tables (partitions included), views, materialized views and free-standing sequences; a
  -- sequence owned by a column moves with its table.
  FOR obj IN
    SELECT c.oid::regclass AS name,
           CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS kind
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = ANY (engine_schemas) AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
       AND c.relowner <> 'deletion_owner'::regrole
       AND NOT (c.relkind = 'S' AND EXISTS (SELECT FROM pg_depend d
                                             WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                               AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO deletion_owner', obj.kind, obj.name);
  END LOOP;

  FOR obj IN
    SELECT p.oid::regprocedure AS name, CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END AS kind
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = ANY (engine_schemas) AND p.proowner <> 'deletion_owner'::regrole
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO deletion_owner', obj.kind, obj.name);
  END LOOP;
END
$owner$;

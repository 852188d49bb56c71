-- Every known attack on the engine, run as the attacker would: a login role with nothing but
-- CONNECT, USAGE and the right to make temporary tables; a member of deletion_app; the owner of a
-- product table. Each is refused with a clear error and changes nothing.
BEGIN;
SELECT plan(43);

\i test/fixtures/lab_schema.sql
SELECT deletion.enable_soft_delete(t) FROM unnest(ARRAY['lab.orgs', 'lab.folders', 'lab.documents']::regclass[]) t;

CREATE ROLE sec_nobody LOGIN;                      -- CONNECT and USAGE only (and TEMP, as PUBLIC has)
GRANT USAGE ON SCHEMA deletion, audit, lab TO sec_nobody;
CREATE ROLE sec_app LOGIN IN ROLE deletion_app;
CREATE ROLE sec_admin LOGIN IN ROLE deletion_admin;
GRANT USAGE ON SCHEMA lab TO deletion_app, deletion_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA lab TO deletion_app, deletion_admin;

INSERT INTO lab.orgs (id, name) VALUES ('a0000000-0000-4000-8000-000000000000', 'A');
INSERT INTO lab.folders (org_id, id, name) VALUES ('a0000000-0000-4000-8000-000000000000', 1, 'kept'),
                                                  ('a0000000-0000-4000-8000-000000000000', 2, 'deleted');
INSERT INTO lab.documents (id, org_id, folder_id, slug) VALUES
  ('d0000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-000000000000', 1, 'one');
SELECT deletion.soft_delete('lab.folders', '["a0000000-0000-4000-8000-000000000000", 2]') IS NOT NULL AS deleted_folder \gset

-- 1. A trigger of one's own that runs the engine's SECURITY DEFINER trigger function on a temp table,
--    to have the engine run the attacker's own UPDATE trigger with the engine's rights.
SET LOCAL ROLE sec_nobody;
CREATE TEMP TABLE t (id int PRIMARY KEY, deleted_at timestamptz, deleted_by bigint, deletion_reason text, deletion_op uuid);
CREATE FUNCTION pg_temp.evil() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN EXECUTE format('ALTER ROLE %I SUPERUSER', session_user); RETURN NEW; END $f$;
SELECT throws_ok($$ CREATE TRIGGER a BEFORE DELETE ON t FOR EACH ROW EXECUTE FUNCTION deletion.soft_delete_on_delete('id') $$,
                 '42501', NULL, 'a role with CONNECT only cannot attach the soft-delete trigger function to a table of its own');
SELECT throws_ok($$ CREATE TRIGGER b AFTER DELETE ON t FOR EACH STATEMENT EXECUTE FUNCTION deletion.soft_delete_flush() $$,
                 '42501', NULL, 'nor the statement trigger function');
-- 2. The same route into the append-only audit log.
SELECT throws_ok($$ CREATE TRIGGER c AFTER DELETE ON t REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
                    EXECUTE FUNCTION audit.capture_delete('{}', '{id}') $$,
                 '42501', NULL, 'nor the audit log''s capture function, so it cannot forge log rows');
SELECT throws_ok($$ CREATE TRIGGER d AFTER DELETE ON t REFERENCING OLD TABLE AS deleted_rows FOR EACH STATEMENT
                    EXECUTE FUNCTION deletion.queue_files_of_deleted_rows('id') $$,
                 '42501', NULL, 'nor the file queue''s');
SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                 WHERE n.nspname IN ('deletion', 'audit') AND has_function_privilege(p.oid, 'EXECUTE') ORDER BY p.oid::regprocedure::text COLLATE "C"),
          ARRAY['deletion.acts_with_engine_rights()', 'deletion.delete_stays_soft(oid)', 'deletion.soft_delete_pending()', 'deletion.soft_deleted_by_this_statement(uuid)'],
          'it may execute no engine function but the caller predicates that triggers and policies call');
RESET ROLE;
SELECT ok(NOT (SELECT rolsuper FROM pg_roles WHERE rolname = 'sec_nobody'), 'and it is no superuser');

-- Even a role that may execute them (here a superuser, who attaches them to a temp table) cannot
-- make them run anywhere but from the trigger the engine's wiring installed.
CREATE TEMP TABLE t_super (id int PRIMARY KEY, deleted_at timestamptz, deleted_by bigint, deletion_reason text, deletion_op uuid);
CREATE TRIGGER a BEFORE DELETE ON t_super FOR EACH ROW EXECUTE FUNCTION deletion.soft_delete_on_delete('id');
INSERT INTO t_super (id) VALUES (1);
SELECT throws_ok($$ DELETE FROM t_super $$, '42501', NULL,
                 'an engine trigger function fired by a trigger the engine did not install refuses to run');
DROP TRIGGER a ON t_super;
CREATE TRIGGER c AFTER DELETE ON t_super REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION audit.capture_delete('{}', '{id}');
SELECT throws_ok($$ DELETE FROM t_super $$, '42501', NULL, 'the audit capture function too');
SELECT is((SELECT count(*)::int FROM audit.log WHERE table_name LIKE '%t_super%'), 0, 'no audit row was written for it');

-- The engine's own code runs as deletion_owner: no superuser, no BYPASSRLS, no login.
SELECT is((SELECT ARRAY[rolsuper, rolbypassrls, rolcanlogin, rolcreaterole, rolcreatedb] FROM pg_roles WHERE rolname = 'deletion_owner'),
          ARRAY[false, false, false, false, false], 'deletion_owner is no superuser, bypasses no RLS, cannot log in or create roles');
SELECT is((SELECT count(*)::int FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname IN ('deletion', 'audit') AND p.proowner <> 'deletion_owner'::regrole), 0,
          'every engine function belongs to deletion_owner');
SELECT is((SELECT count(*)::int FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname IN ('deletion', 'audit', 'deletion_work') AND c.relkind IN ('r', 'p', 'v', 'm')
              AND c.relowner <> 'deletion_owner'::regrole), 0,
          'and every engine table and view');
SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                 WHERE n.nspname IN ('deletion', 'audit') AND has_function_privilege('public', p.oid, 'EXECUTE') ORDER BY p.oid::regprocedure::text COLLATE "C"),
          ARRAY['deletion.acts_with_engine_rights()', 'deletion.delete_stays_soft(oid)', 'deletion.soft_delete_pending()', 'deletion.soft_deleted_by_this_statement(uuid)'],
          'PUBLIC may execute no engine function but the caller predicates (default deny)');
SELECT is((SELECT count(*)::int FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname IN ('deletion', 'audit') AND has_function_privilege('public', p.oid, 'EXECUTE')
              AND (p.prosecdef OR p.proconfig IS NOT NULL)), 0,
          'and those run as their caller (SECURITY INVOKER), with no settings of their own');

-- The owner of a product table puts a trigger of its own on it, then lets the engine write the
-- table (a soft delete's cascade marks its rows): the trigger runs with deletion_owner's rights,
-- which cannot make anyone a superuser.
CREATE ROLE sec_owner LOGIN IN ROLE deletion_app;
GRANT USAGE, CREATE ON SCHEMA lab TO sec_owner;
CREATE TABLE lab.owned_parent (id int PRIMARY KEY);
CREATE TABLE lab.owned (id int PRIMARY KEY, name text, parent_id int REFERENCES lab.owned_parent ON DELETE CASCADE);
ALTER TABLE lab.owned_parent OWNER TO sec_owner;
ALTER TABLE lab.owned OWNER TO sec_owner;
SELECT deletion.enable_soft_delete('lab.owned_parent');
SELECT deletion.enable_soft_delete('lab.owned');
INSERT INTO lab.owned_parent VALUES (1);
INSERT INTO lab.owned VALUES (1, 'x', 1);
SET LOCAL ROLE sec_owner;
CREATE FUNCTION lab.owner_evil() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  BEGIN
    EXECUTE format('ALTER ROLE %I SUPERUSER', 'sec_owner');
  EXCEPTION WHEN insufficient_privilege THEN
    PERFORM set_config('sec.refused_as', current_user, true);
  END;
  RETURN NEW;
END $f$;
CREATE TRIGGER evil BEFORE UPDATE ON lab.owned FOR EACH ROW EXECUTE FUNCTION lab.owner_evil();
SELECT lives_ok($$ SELECT deletion.soft_delete('lab.owned_parent', '1') $$, 'the owner soft-deletes through the engine');
RESET ROLE;
SELECT is(current_setting('sec.refused_as', true), 'deletion_owner', 'its trigger ran as deletion_owner, and was refused');
SELECT ok(NOT (SELECT rolsuper FROM pg_roles WHERE rolname = 'sec_owner'), 'so the table owner is no superuser either');

-- 3. Jobs: no direct writes; cancel only by the role that scheduled or an admin.
SET LOCAL ROLE sec_admin;
SELECT deletion.schedule('lab.documents', 'd0000000-0000-4000-8000-000000000001', now() + interval '1 day', hard => true, reason => 'admin''s') AS admin_job \gset
RESET ROLE;
SET LOCAL ROLE sec_app;
SELECT throws_ok(format($$ UPDATE deletion.deletion_jobs SET hard_delete = false, scheduled_at = now(), created_by = 1 WHERE id = %s $$, :admin_job),
                 '42501', NULL, 'the application role cannot rewrite an admin''s job');
SELECT throws_ok($$ INSERT INTO deletion.deletion_jobs (entity_table, entity_pk, hard_delete) VALUES ('pg_catalog.pg_authid', '10', true) $$,
                 '42501', NULL, 'nor insert a job past deletion.schedule');
SELECT throws_ok($$ DELETE FROM deletion.deletion_jobs $$, '42501', NULL, 'nor delete jobs');
SELECT throws_ok($$ SELECT deletion.schedule('pg_catalog.pg_authid', '10') $$, 'PD401', NULL,
                 'deletion.schedule refuses a system catalog (not a registered table)');
SET LOCAL deletion.actor = '1';
SELECT throws_ok(format('SELECT deletion.cancel(%s)', :admin_job), '42501', NULL,
                 'nor may it cancel the admin''s job, whatever actor it claims');
RESET deletion.actor;
RESET ROLE;
SELECT is((SELECT status || '/' || hard_delete::text FROM deletion.deletion_jobs WHERE id = :admin_job), 'pending/true',
          'the admin''s job is unchanged');
SELECT is((SELECT deleted_at IS NOT NULL FROM lab.documents WHERE slug = 'one'), true, 'and its root stays hidden');
SELECT throws_ok($$ SELECT deletion.register_table('pg_catalog.pg_authid') $$, '42809', NULL, 'a system catalog cannot be registered');

SET LOCAL ROLE sec_app;
SELECT deletion.schedule('lab.folders', '["a0000000-0000-4000-8000-000000000000", 1]', now() + interval '1 day') AS app_job \gset
SELECT is(deletion.cancel(:app_job), 'cancelled', 'the role that scheduled a job may cancel it');
RESET ROLE;
SELECT is((SELECT scheduled_by_role::text FROM deletion.deletion_jobs WHERE id = :app_job), 'sec_app', 'the job records its scheduling role');
SET LOCAL ROLE sec_admin;
SELECT is(deletion.cancel(:admin_job), 'cancelled', 'an admin may cancel it');
RESET ROLE;

-- 6. No new row under a deleted one; deleted and missing parents look alike to the application.
SET LOCAL ROLE sec_app;
SELECT throws_ok($$ INSERT INTO lab.documents (org_id, folder_id, slug) VALUES ('a0000000-0000-4000-8000-000000000000', 2, 'under a deleted folder') $$,
                 '23503', 'insert or update on table "documents" violates foreign key constraint "documents_folder_fkey"',
                 'a row under a soft-deleted parent is refused as a foreign-key violation');
SELECT throws_ok($$ UPDATE lab.documents SET folder_id = 2 WHERE slug = 'one' $$, '23503', NULL,
                 'moving a row under a soft-deleted parent is refused too');
CREATE TEMP TABLE sec_errors (kind text, detail text, message text);
DO $do$
DECLARE d text; m text;
BEGIN
  BEGIN
    INSERT INTO lab.documents (org_id, folder_id, slug) VALUES ('a0000000-0000-4000-8000-000000000000', 2, 'x');
  EXCEPTION WHEN foreign_key_violation THEN
    GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL, m = MESSAGE_TEXT;
    INSERT INTO sec_errors VALUES ('deleted', d, m);
  END;
  BEGIN
    INSERT INTO lab.documents (org_id, folder_id, slug) VALUES ('a0000000-0000-4000-8000-000000000000', 99, 'x');
  EXCEPTION WHEN foreign_key_violation THEN
    GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL, m = MESSAGE_TEXT;
    INSERT INTO sec_errors VALUES ('missing', d, m);
  END;
END
$do$;
SELECT is((SELECT detail FROM sec_errors WHERE kind = 'deleted'), 'Key is not present in table "folders".',
          'the application is told the parent is not present');
SELECT is((SELECT message || ' / ' || detail FROM sec_errors WHERE kind = 'deleted'),
          (SELECT message || ' / ' || detail FROM sec_errors WHERE kind = 'missing'),
          'in the very words a missing parent gets (message and detail)');
SELECT lives_ok($$ INSERT INTO lab.documents (org_id, folder_id, slug) VALUES ('a0000000-0000-4000-8000-000000000000', 1, 'under an active folder') $$,
                'a row under an active parent is accepted');
RESET ROLE;
SET LOCAL ROLE sec_admin;
SELECT throws_like($$ INSERT INTO lab.documents (org_id, folder_id, slug) VALUES ('a0000000-0000-4000-8000-000000000000', 2, 'admin') $$,
                   '%violates foreign key constraint%', 'an admin is refused as well');
RESET ROLE;
DO $do$
DECLARE d text;
BEGIN
  SET LOCAL ROLE sec_admin;
  INSERT INTO lab.documents (org_id, folder_id, slug) VALUES ('a0000000-0000-4000-8000-000000000000', 2, 'admin');
EXCEPTION WHEN foreign_key_violation THEN
  GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
  INSERT INTO sec_errors VALUES ('admin', d);
END
$do$;
SELECT matches((SELECT detail FROM sec_errors WHERE kind = 'admin'), 'refers to a soft-deleted row of table "lab.folders" \(operation [0-9a-f-]{36}\)',
               'but told the parent is soft-deleted, and by which operation');
SELECT is((SELECT count(*)::int FROM lab.documents WHERE folder_id = 2), 0, 'nothing was inserted under the deleted folder');
SELECT is(deletion.restore((SELECT deletion_op FROM lab.folders WHERE id = 2)), 1::bigint, 'the deleted folder still restores');
SELECT lives_ok($$ INSERT INTO lab.documents (org_id, folder_id, slug) VALUES ('a0000000-0000-4000-8000-000000000000', 2, 'after restore') $$,
                'and once restored, rows may be added under it again');

-- 7. The caller predicates run with the caller's search_path: an application role with a schema of
--    its own puts look-alikes of every function and operator they could resolve before pg_catalog,
--    then sets deletion.mode = 'hard' and deletes, looks for a row it soft-deleted earlier, and
--    inserts under a soft-deleted parent.
INSERT INTO lab.folders (org_id, id, name) VALUES ('a0000000-0000-4000-8000-000000000000', 3, 'deleted again');
SELECT deletion.soft_delete('lab.folders', '["a0000000-0000-4000-8000-000000000000", 3]') IS NOT NULL AS deleted_folder_3 \gset
CREATE SCHEMA sec_evil AUTHORIZATION sec_app;
SET LOCAL ROLE sec_app;
CREATE FUNCTION sec_evil.pg_has_role(name, name, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION sec_evil.pg_has_role(name, oid, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION sec_evil.current_setting(text, boolean) RETURNS text LANGUAGE sql AS $$ SELECT 'hard' $$;
CREATE FUNCTION sec_evil.texteq(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION sec_evil.int4gt(integer, integer) RETURNS boolean LANGUAGE sql AS 'SELECT false';
CREATE FUNCTION sec_evil.pg_trigger_depth() RETURNS integer LANGUAGE sql AS 'SELECT 0';
CREATE FUNCTION sec_evil.byteaeq(bytea, bytea) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION sec_evil.always(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR sec_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = sec_evil.always);
CREATE OPERATOR sec_evil.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = sec_evil.always);
SET LOCAL search_path = sec_evil, pg_catalog, public, tap;
SET LOCAL deletion.mode = 'hard';
SELECT lives_ok($$ DELETE FROM lab.documents WHERE slug = 'under an active folder' $$,
                'the application role''s DELETE with look-alikes first on its search_path and deletion.mode = hard');
SELECT is((SELECT count(*)::int FROM lab.documents WHERE slug = 'under an active folder'), 0,
          'its next statement does not see the row (the policy''s statement test ignores the look-alikes)');
SELECT is((SELECT count(*)::int FROM lab.documents WHERE deleted_at IS NOT NULL), 0, 'nor any other deleted row');
SELECT throws_ok($$ INSERT INTO lab.documents (org_id, folder_id, slug) VALUES ('a0000000-0000-4000-8000-000000000000', 3, 'under a deleted folder, with look-alikes') $$,
                 '23503', NULL, 'and a row under a soft-deleted parent is still refused (the live-parent test ignores them too)');
RESET deletion.mode;
RESET search_path;
RESET ROLE;
SELECT is((SELECT deleted_at IS NOT NULL FROM lab.documents WHERE slug = 'under an active folder'), true,
          'the row was soft-deleted, not hard-deleted');

SELECT * FROM finish();
ROLLBACK;

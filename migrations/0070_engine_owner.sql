-- Up Migration

-- The engine's own role. Every object in the engine's schemas belongs to deletion_owner (the last
-- module, sql/99_privileges.sql, hands them over on every migrate), so the engine's SECURITY DEFINER
-- functions run as this role and never as the superuser or owner who ran `deletion-kit migrate`.
-- It can log in nowhere, is no superuser, creates no roles or databases and bypasses no row-level
-- security: what it may do to a product table is exactly what the wiring of that table grants it
-- (deletion.wire_engine_access). It is a member of deletion_admin, because the engine's sanctioned
-- paths (restore, purge, a job's chunks) are recognised by triggers as admin work.
DO $owner$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'deletion_owner') THEN
    CREATE ROLE deletion_owner NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
  END IF;
  -- The role that migrates must be able to act as the owner to alter and replace the engine's
  -- objects later (a superuser can anyway; on managed PostgreSQL the migrating role is not one).
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    EXECUTE format('GRANT deletion_owner TO %I', current_user);
  END IF;
END
$owner$;
GRANT deletion_admin TO deletion_owner;
COMMENT ON ROLE deletion_owner IS 'pg-deletion-kit: owns the engine''s schemas and objects; its SECURITY DEFINER functions run as this role (no login, no superuser, no BYPASSRLS).';

-- Jobs are written through the engine's functions only (deletion.schedule, deletion.cancel, the
-- worker's functions), never directly: a direct write could skip schedule's checks or change a job
-- another role scheduled. Reading stays open to both roles.
REVOKE INSERT, UPDATE, DELETE ON deletion.deletion_jobs FROM deletion_app, deletion_admin;

-- Who scheduled a job, as a database role (the actor in created_by is a label any session can set,
-- never a right). Cancelling or re-arming a job is for that role and for deletion_admin.
ALTER TABLE deletion.deletion_jobs ADD COLUMN scheduled_by_role name;
COMMENT ON COLUMN deletion.deletion_jobs.scheduled_by_role IS 'The database role that scheduled the job (the role the session acted as); it and deletion_admin may cancel or re-arm the job.';

-- Down Migration

ALTER TABLE deletion.deletion_jobs DROP COLUMN scheduled_by_role;
GRANT INSERT (entity_table, entity_pk, hard_delete, reason, created_by, scheduled_at) ON deletion.deletion_jobs TO deletion_app, deletion_admin;
GRANT UPDATE (status, hard_delete, reason, error, created_by, scheduled_at, finished_at, attempts, next_attempt_at, cancel_requested)
  ON deletion.deletion_jobs TO deletion_app, deletion_admin;

-- Up Migration

-- The product's soft-delete tables keep their rows in place (users must: issues and comments
-- reference them with ON DELETE RESTRICT, so a user's row cannot leave its table), and a plain DELETE
-- on them is refused (PD104) instead of soft-deleting while it tells the client "DELETE 0": an ORM's
-- delete() would otherwise fail after the fact (Prisma P2025, SQLAlchemy StaleDataError) or report
-- nothing. Clients soft-delete with UPDATE ... SET deleted_at = now() (which reports its rows) or
-- deletion.soft_delete(); docs/clients.md has each ORM's way. A deletion_admin still hard-deletes
-- with SET LOCAL deletion.mode = 'hard'. docs/architecture.md says why and what comes next (a table
-- whose rows may leave it can be archived, and then a plain DELETE reports its rows).
--
-- Their unique keys (users.email, workspaces.slug) stay plain UNIQUE constraints under their own names
-- (users_email_key, workspaces_slug_key): a deleted user's email steps aside (a suffix; restore puts it
-- back after checking that no active user took it), so every ORM's upsert works (ON CONFLICT (email),
-- ON CONFLICT ON CONSTRAINT users_email_key) and an email held only by a deleted user is free.
UPDATE deletion.table_policies
   SET plain_delete = 'refuse', unique_keys = 'step_aside'
 WHERE table_schema = 'public' AND table_name IN ('users', 'workspaces', 'projects', 'issues', 'comments');

-- Down Migration

UPDATE deletion.table_policies
   SET plain_delete = 'soft', unique_keys = 'partial'
 WHERE table_schema = 'public' AND table_name IN ('users', 'workspaces', 'projects', 'issues', 'comments');

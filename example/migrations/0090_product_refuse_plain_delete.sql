-- Up Migration

-- The product's soft-delete tables keep their rows in place (users must: issues and comments
-- reference them with ON DELETE RESTRICT, so a user's row cannot leave its table), and a plain DELETE
-- on them is refused (PD104) instead of soft-deleting while it tells the client "DELETE 0": an ORM's
-- delete() would otherwise fail after the fact (Prisma P2025, SQLAlchemy StaleDataError) or report
-- nothing. Clients soft-delete with UPDATE ... SET deleted_at = now() (which reports its rows) or
-- deletion.soft_delete(); docs/clients.md has each ORM's way. A deletion_admin still hard-deletes
-- with SET LOCAL deletion.mode = 'hard'. docs/architecture.md says why and what comes next (a table
-- whose rows may leave it can be archived, and then a plain DELETE reports its rows).
UPDATE deletion.table_policies
   SET plain_delete = 'refuse'
 WHERE table_schema = 'public' AND table_name IN ('users', 'workspaces', 'projects', 'issues', 'comments');

-- Down Migration

UPDATE deletion.table_policies
   SET plain_delete = 'soft'
 WHERE table_schema = 'public' AND table_name IN ('users', 'workspaces', 'projects', 'issues', 'comments');

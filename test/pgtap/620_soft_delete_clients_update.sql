-- What a client sees when it soft-deletes and restores by UPDATE (the pattern of an ORM's
-- soft-delete mixin): the row count of the rows it changed, RETURNING with those rows, the cascade as
-- one operation; and the role deletion_restorer, which an application switches to for one
-- transaction to list deleted rows and restore them. Tried as a login granted deletion_app, as one
-- granted deletion_restorer, and as an attacker granted nothing of it. On the example product and
-- on the lab schema.
BEGIN;
SELECT plan(39);

CREATE ROLE c620_app LOGIN IN ROLE deletion_app;
CREATE ROLE c620_support LOGIN IN ROLE deletion_app;
GRANT deletion_restorer TO c620_support;
CREATE ROLE c620_attacker LOGIN IN ROLE deletion_app;

-- Runs a statement as the current role; returns its row count (what a driver reports to the ORM).
CREATE FUNCTION pg_temp.row_count(statement text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  EXECUTE statement;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;
-- Runs an UPDATE ... RETURNING as the current role; returns what came back, as JSON.
CREATE FUNCTION pg_temp.returned(statement text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE r jsonb;
BEGIN
  EXECUTE format('WITH u AS (%s) SELECT coalesce(jsonb_agg(to_jsonb(u)), ''[]'') FROM u', statement) INTO r;
  RETURN r;
END $$;

INSERT INTO users (id, email, name) OVERRIDING SYSTEM VALUE VALUES (1, 'ann@example.com', 'Ann'), (2, 'ben@example.com', 'Ben');
INSERT INTO workspaces (id, name, slug) OVERRIDING SYSTEM VALUE VALUES (1, 'Acme', 'acme'), (2, 'Other', 'other');
INSERT INTO projects (id, workspace_id, name) OVERRIDING SYSTEM VALUE VALUES (1, 1, 'Launch'), (2, 1, 'Later'), (3, 2, 'Theirs');
INSERT INTO issues (id, workspace_id, project_id, creator_id, title, status) OVERRIDING SYSTEM VALUE VALUES
  (1, 1, 1, 1, 'first', 'todo'), (2, 1, 1, 1, 'second', 'todo'), (3, 2, 3, 2, 'elsewhere', 'todo');
INSERT INTO comments (id, issue_id, author_id, parent_comment_id, body) OVERRIDING SYSTEM VALUE VALUES
  (1, 1, 2, NULL, 'question'), (2, 1, 1, 1, 'answer'), (3, 2, 2, NULL, 'other'), (4, 2, 1, NULL, 'spam');
UPDATE comments SET created_at = now() - interval '60 days';

-- 1. Soft delete by UPDATE, as the application role. A trigger of the product's own on issues
-- counts the updates of each row: the client's UPDATE is the only one the root gets (the cascade
-- counts the row its UPDATE stamped and does not update it again).
CREATE FUNCTION public.c620_count_updates() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config('c620.updates', (coalesce(nullif(current_setting('c620.updates', true), ''), '0')::int + 1)::text, true);
  RETURN NEW;
END $$;
CREATE TRIGGER c620_count_updates BEFORE UPDATE ON issues FOR EACH ROW EXECUTE FUNCTION public.c620_count_updates();
SET LOCAL ROLE c620_app;
SELECT is(pg_temp.row_count($$ UPDATE issues SET deleted_at = now() WHERE id = 1 $$), 1::bigint,
          'UPDATE issues SET deleted_at = now() WHERE id = 1 reports UPDATE 1 (an ORM''s row-count check passes)');
RESET ROLE;
SELECT is(current_setting('c620.updates', true), '1', 'the soft-deleted row was updated once: by the client''s statement, not again by the cascade');
DROP TRIGGER c620_count_updates ON issues;
SET LOCAL ROLE c620_app;
SELECT is((SELECT count(*)::int FROM issues WHERE id = 1), 0, 'after the statement the row is hidden from the application role');
SELECT is((SELECT count(*)::int FROM comments WHERE issue_id = 1), 0, 'and its comments went with it (the cascade)');
RESET ROLE;
SELECT is((SELECT count(DISTINCT deletion_op)::int FROM (SELECT deletion_op FROM issues WHERE id = 1 UNION ALL
                                                         SELECT deletion_op FROM comments WHERE issue_id = 1) x), 1,
          'the issue and its two comments share one operation');
SELECT is((SELECT rows_per_table FROM deletion.soft_delete_operations WHERE op = (SELECT deletion_op FROM issues WHERE id = 1)),
          '{"public.issues": 1, "public.comments": 2}'::jsonb, 'the operation log counts the root and its cascade');

SET LOCAL ROLE c620_app;
SELECT is(pg_temp.row_count($$ UPDATE comments SET deleted_at = now() WHERE id = 4 $$), 1::bigint, 'a comment soft-deleted on its own');
SELECT is(jsonb_array_length(pg_temp.returned($$ UPDATE issues SET deleted_at = now() WHERE id = 2 RETURNING id, title, deleted_at, deletion_op $$)), 1,
          'UPDATE ... RETURNING returns the row it soft-deleted, to a role that may not see deleted rows');
RESET ROLE;
SELECT ok((SELECT deleted_at IS NOT NULL AND deletion_op IS NOT NULL FROM issues WHERE id = 2), 'and the row is soft-deleted');
SET LOCAL ROLE c620_app;
SELECT is(pg_temp.row_count($$ UPDATE issues SET deleted_at = now() WHERE id = 2 $$), 0::bigint,
          'a second soft delete of the same row reports 0: the row is deleted, as a plain table would say of a missing row');
SELECT is(pg_temp.row_count($$ UPDATE projects SET deleted_at = now(), deleted_by = 42 WHERE workspace_id = 1 $$), 2::bigint,
          'a multi-row soft delete reports each row');
RESET ROLE;
SELECT is((SELECT array_agg(DISTINCT deleted_by) FROM projects WHERE workspace_id = 1), ARRAY[42::bigint],
          'deleted_by given in the same UPDATE is kept');
SELECT is((SELECT count(DISTINCT deletion_op)::int FROM projects WHERE workspace_id = 1), 1, 'one statement, one operation');

-- Rows the application soft-deleted in an earlier statement of its transaction are hidden again.
SET LOCAL ROLE c620_app;
SELECT is((SELECT count(*)::int FROM projects WHERE workspace_id = 1), 0, 'the same transaction no longer sees them in a later statement');
-- A client that writes deletion_op itself gets the engine's operation anyway.
SELECT is(pg_temp.row_count($$ UPDATE projects SET deleted_at = now(), deletion_op = gen_random_uuid() WHERE id = 3 $$), 1::bigint,
          'an UPDATE that sets deletion_op itself still soft-deletes');
RESET ROLE;
SELECT ok((SELECT deletion_op IN (SELECT op FROM deletion.soft_delete_operations) FROM projects WHERE id = 3),
          'with the engine''s own, logged operation id (the client''s is overwritten)');

-- 2. The restorer: a support login granted deletion_restorer, for one transaction.
SET LOCAL ROLE c620_support;
SELECT is((SELECT count(*)::int FROM issues WHERE deleted_at IS NOT NULL), 0,
          'a login granted deletion_restorer sees no deleted row until it switches to the role');
SET LOCAL ROLE deletion_restorer;
SELECT is((SELECT count(*)::int FROM issues WHERE deleted_at IS NOT NULL), 2, 'acting as deletion_restorer it sees deleted rows');
SELECT is((SELECT array_agg(id ORDER BY id) FROM projects), ARRAY[1::bigint, 2, 3], 'all rows, deleted or not (include_deleted)');
SELECT is(pg_temp.row_count($$ UPDATE issues SET deleted_at = NULL WHERE id = 1 $$), 1::bigint,
          'UPDATE issues SET deleted_at = NULL WHERE id = 1 reports UPDATE 1');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM comments WHERE issue_id = 1 AND deleted_at IS NULL), 2, 'the restore brought back the issue''s cascade');
SELECT ok((SELECT deletion_op IS NULL AND deleted_by IS NULL FROM issues WHERE id = 1), 'and cleared the deletion columns');
SELECT ok((SELECT restored_at IS NOT NULL FROM deletion.soft_delete_operations
            WHERE rows_per_table = '{"public.issues": 1, "public.comments": 2}'::jsonb), 'the operation is marked restored');

SET LOCAL ROLE deletion_restorer;
SELECT throws_ok($$ UPDATE comments SET deleted_at = NULL WHERE id = 4 $$, 'PD110', NULL,
                 'restoring a comment whose issue is still deleted (by another operation) is refused with the conflict listed');
SELECT throws_ok($$ UPDATE projects SET name = 'edited' WHERE id = 1 $$, '42501', NULL,
                 'the restorer may not edit a deleted row without restoring it');
SELECT is(jsonb_array_length(pg_temp.returned($$ UPDATE projects SET deleted_at = NULL WHERE id = 1 RETURNING id, deleted_at $$)), 1,
          'restore by UPDATE ... RETURNING returns the restored row');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM projects WHERE workspace_id = 1 AND deleted_at IS NULL), 2,
          'a restore brings back the whole operation: both projects of that statement');
SET LOCAL ROLE deletion_restorer;
SELECT is(deletion.restore('public.issues', '2'), 2::bigint, 'the restorer may call deletion.restore (the issue and its comment)');
SELECT is((SELECT deleted_at IS NOT NULL FROM comments WHERE id = 4), true, 'the comment deleted on its own before stays deleted');
SELECT is(pg_temp.row_count($$ UPDATE issues SET deleted_at = now() WHERE id = 2 $$), 1::bigint,
          'and soft-delete by UPDATE like the application');
RESET ROLE;

-- 3. The attacker, in a session of its own login (SET ROLE checks the session's login): no role,
-- no setting widens what it sees.
SET LOCAL SESSION AUTHORIZATION c620_attacker;
SELECT throws_ok($$ SET LOCAL ROLE deletion_restorer $$, '42501', NULL, 'a login not granted deletion_restorer cannot switch to it');
SELECT lives_ok($$ SELECT set_config('deletion.mode', 'hard', true), set_config('deletion.soft_delete_pending', 'on', true) $$,
                'setting what it likes...');
SELECT is((SELECT count(*)::int FROM issues WHERE deleted_at IS NOT NULL), 0, '...it still sees no deleted row');
SELECT is(pg_temp.row_count($$ UPDATE issues SET deleted_at = NULL WHERE id = 2 $$), 0::bigint, 'and restores nothing (UPDATE 0)');
SELECT throws_ok($$ SELECT deletion.restore('public.issues', '2') $$, '42501', NULL, 'nor may it call deletion.restore');
RESET SESSION AUTHORIZATION;
SET LOCAL SESSION AUTHORIZATION c620_support;
SELECT lives_ok($$ SET LOCAL ROLE deletion_restorer $$, 'the support login granted deletion_restorer may switch to it in its own session');
RESET SESSION AUTHORIZATION;

-- 4. The lab schema: a composite key, a self-referencing cascade.
\i test/fixtures/lab_schema.sql
SELECT deletion.enable_soft_delete(t) FROM unnest(ARRAY['lab.orgs', 'lab.folders', 'lab.documents']::regclass[]) t;
GRANT USAGE ON SCHEMA lab TO deletion_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA lab TO deletion_app;
INSERT INTO lab.orgs (id, name) VALUES ('a0000000-0000-4000-8000-000000000000', 'A');
INSERT INTO lab.folders (org_id, id, parent_id, name) VALUES
  ('a0000000-0000-4000-8000-000000000000', 1, NULL, 'root'), ('a0000000-0000-4000-8000-000000000000', 2, 1, 'child');
INSERT INTO lab.documents (id, org_id, folder_id, slug) VALUES ('d0000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-000000000000', 2, 'deep');
SET LOCAL ROLE c620_app;
SELECT is(pg_temp.returned($$ UPDATE lab.folders SET deleted_at = now() WHERE org_id = 'a0000000-0000-4000-8000-000000000000' AND id = 1 RETURNING id $$),
          '[{"id": 1}]'::jsonb, 'a composite-key row soft-deleted by UPDATE comes back in RETURNING');
SET LOCAL ROLE deletion_restorer;
SELECT is(pg_temp.row_count($$ UPDATE lab.folders SET deleted_at = NULL WHERE id = 1 $$), 1::bigint, 'and is restored by UPDATE');
SELECT is((SELECT count(*)::int FROM lab.documents WHERE deleted_at IS NULL), 1, 'with its subtree, the document two levels down');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;

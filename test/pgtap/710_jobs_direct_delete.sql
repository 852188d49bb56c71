-- The direct chunked delete (deletion.delete_tree_chunk): bounded chunks, leaves first, each DELETE
-- cascading nothing, the root last; the caller's rights, RESTRICT keys and soft-delete tables decide.
BEGIN;
SELECT plan(14);

\i test/fixtures/lab_schema.sql

INSERT INTO lab.orgs (id, name) VALUES ('00000000-0000-0000-0000-0000000000a1', 'one'), ('00000000-0000-0000-0000-0000000000a2', 'two');
INSERT INTO lab.people (id, email) VALUES ('00000000-0000-0000-0000-0000000000b1', 'p@example.com');
INSERT INTO lab.folders (org_id, id, parent_id, name)
SELECT o.id, g, CASE WHEN g > 1 THEN g / 2 END, 'f' || g FROM lab.orgs o, generate_series(1, 30) g;
INSERT INTO lab.documents (org_id, folder_id, owner_id, slug)
SELECT f.org_id, f.id, '00000000-0000-0000-0000-0000000000b1', 'd' || f.id || '-' || n FROM lab.folders f, generate_series(1, 3) n;
INSERT INTO lab.tags (document_id, label) SELECT id, 'tag' FROM lab.documents;
INSERT INTO lab.approvals (document_id, approver_id) SELECT id, '00000000-0000-0000-0000-0000000000b1' FROM lab.documents;

SELECT throws_ok($$ SELECT deletion.delete_tree_chunk('lab.orgs', '00000000-0000-0000-0000-0000000000a1', 0) $$, '22023', NULL, 'max_rows below 1 is refused');
SELECT is(deletion.delete_tree_chunk('lab.orgs', '00000000-0000-0000-0000-00000000ffff'), '{"deleted": 0, "more": false, "table": "lab.orgs", "depth": 0}'::jsonb,
          'a root that does not exist: nothing deleted, nothing more');

-- The caller holds the loop: chunks of at most 10 rows until it says no more.
CREATE TEMP TABLE chunks (n serial, r jsonb);
DO $$
DECLARE r jsonb;
BEGIN
  LOOP
    r := deletion.delete_tree_chunk('lab.orgs', '00000000-0000-0000-0000-0000000000a1', 10);
    INSERT INTO chunks (r) VALUES (r);
    EXIT WHEN NOT (r ->> 'more')::boolean OR (SELECT count(*) FROM chunks) > 500;
  END LOOP;
END
$$;
SELECT ok((SELECT bool_and((r ->> 'deleted')::int BETWEEN 1 AND 10) FROM chunks), 'every chunk deleted between 1 and 10 rows');
SELECT is((SELECT sum((r ->> 'deleted')::int)::int FROM chunks), 1 + 30 + 90 + 90,
          'the chunks'' own DELETEs counted every row of the tree: no chunk cascaded to rows it did not count');
SELECT is((SELECT r FROM chunks ORDER BY n DESC LIMIT 1) - 'deleted', '{"more": false, "table": "lab.orgs", "depth": 0}'::jsonb, 'the last chunk deleted the root');
SELECT is((SELECT count(*)::int FROM chunks WHERE r ->> 'table' = 'lab.orgs'), 1, 'the root is deleted once, last');
SELECT ok((SELECT min(n) FILTER (WHERE r ->> 'table' = 'lab.approvals') < min(n) FILTER (WHERE r ->> 'table' = 'lab.documents') FROM chunks),
          'leaves first: approvals go before their documents');
SELECT is((SELECT count(*)::int FROM lab.folders WHERE org_id = '00000000-0000-0000-0000-0000000000a1')
        + (SELECT count(*)::int FROM lab.documents WHERE org_id = '00000000-0000-0000-0000-0000000000a1'), 0, 'the tree is gone');
SELECT is((SELECT count(*)::int FROM lab.tags WHERE document_id IS NULL), 90, 'SET NULL children outside the tree stay, set to NULL');
SELECT is((SELECT count(*)::int FROM lab.folders WHERE org_id = '00000000-0000-0000-0000-0000000000a2'), 30, 'the other org is untouched');

-- RESTRICT from outside the tree: the person's approvals hold it.
-- (SQLSTATE 23001 on PostgreSQL 18, 23503 before: the message names the key on every major.)
SELECT throws_matching($$ SELECT deletion.delete_tree_chunk('lab.people', '00000000-0000-0000-0000-0000000000b1') $$, 'approvals_approver_id_fkey',
                 'a RESTRICT key from outside the tree refuses the chunk that reaches it');

-- As the caller: a role without DELETE on the table is refused by PostgreSQL.
GRANT USAGE ON SCHEMA lab TO deletion_app;
GRANT SELECT ON ALL TABLES IN SCHEMA lab TO deletion_app;
SET LOCAL ROLE deletion_app;
SELECT throws_matching($$ SELECT deletion.delete_tree_chunk('lab.orgs', '00000000-0000-0000-0000-0000000000a2', 10) $$, 'permission denied for table approvals',
                 'the chunk runs with the caller''s privileges: no DELETE grant, no delete');
RESET ROLE;

-- A tree with soft-delete tables is for deletion_admin: anyone else soft-deletes it in one operation.
SELECT deletion.enable_soft_delete('lab.folders');
GRANT DELETE ON ALL TABLES IN SCHEMA lab TO deletion_app;
SET LOCAL ROLE deletion_app;
SELECT throws_ok($$ SELECT deletion.delete_tree_chunk('lab.orgs', '00000000-0000-0000-0000-0000000000a2', 10) $$, 'PD408', NULL,
                 'a non-admin direct delete of a tree with soft-delete tables is refused (PD408)');
RESET ROLE;
SELECT is((deletion.delete_tree_chunk('lab.orgs', '00000000-0000-0000-0000-0000000000a2', 1000) ->> 'deleted')::int > 0, true,
          'deletion_admin (here a superuser) deletes such a tree for good, chunk by chunk');

SELECT * FROM finish();
ROLLBACK;

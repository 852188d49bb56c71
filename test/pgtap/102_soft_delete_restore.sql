-- deletion.restore: exactly the rows of one operation, never rows another operation deleted; checks
-- first (deleted parents, taken unique keys) and refuses the whole restore with one error listing each.
BEGIN;
SELECT plan(24);

\i test/fixtures/lab_schema.sql
SELECT deletion.enable_soft_delete(t) FROM unnest(ARRAY['lab.orgs', 'lab.folders', 'lab.documents', 'lab.approvals', 'lab.people']::regclass[]) t;

INSERT INTO lab.orgs (id, name) VALUES ('a0000000-0000-4000-8000-000000000000', 'A');
INSERT INTO lab.people (id, email) VALUES ('c0000000-0000-4000-8000-000000000001', 'p1@example.com');
INSERT INTO lab.folders (org_id, id, parent_id, name) VALUES
  ('a0000000-0000-4000-8000-000000000000', 1, NULL, 'root'), ('a0000000-0000-4000-8000-000000000000', 2, 1, 'sub');
INSERT INTO lab.documents (id, org_id, folder_id, slug) VALUES
  ('d0000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-000000000000', 2, 'kept-deleted'),
  ('d0000000-0000-4000-8000-000000000002', 'a0000000-0000-4000-8000-000000000000', 2, 'comes-back');
INSERT INTO lab.approvals (document_id, approver_id) VALUES ('d0000000-0000-4000-8000-000000000002', 'c0000000-0000-4000-8000-000000000001');

-- Exactness: delete a document on its own, then its folder; restoring the folder leaves the document deleted.
CREATE TEMP TABLE ops (name text PRIMARY KEY, op uuid);
INSERT INTO ops SELECT 'document', deletion.soft_delete('lab.documents', 'd0000000-0000-4000-8000-000000000001');
INSERT INTO ops SELECT 'folder', deletion.soft_delete('lab.folders', '["a0000000-0000-4000-8000-000000000000", 1]');
SELECT is((SELECT count(*)::int FROM lab.documents WHERE deleted_at IS NULL), 0, 'both documents are deleted');

SELECT is(deletion.restore((SELECT op FROM ops WHERE name = 'folder')), 4::bigint,
          'restore(op) returns the rows it brought back: 2 folders, 1 document, 1 approval');
SELECT is((SELECT count(*)::int FROM lab.folders WHERE deleted_at IS NULL), 2, 'the folders are back');
SELECT is((SELECT deleted_at IS NULL AND deletion_op IS NULL AND deleted_by IS NULL AND deletion_reason IS NULL
             FROM lab.documents WHERE slug = 'comes-back'), true, 'the document deleted with them is back, its marks cleared');
SELECT is((SELECT deleted_at IS NULL FROM lab.approvals), true, 'and its approval');
SELECT is((SELECT deletion_op FROM lab.documents WHERE slug = 'kept-deleted'), (SELECT op FROM ops WHERE name = 'document'),
          'the document deleted separately before stays deleted, with its own operation');
SELECT isnt((SELECT restored_at FROM deletion.soft_delete_operations WHERE op = (SELECT op FROM ops WHERE name = 'folder')), NULL,
            'the operation is marked restored');
SELECT throws_ok(format('SELECT deletion.restore(%L::uuid)', (SELECT op FROM ops WHERE name = 'folder')), '55000', NULL,
                 'restoring it twice is refused');

-- restore(target, pk) restores the operation that deleted that row.
SELECT is(deletion.restore('lab.documents', 'd0000000-0000-4000-8000-000000000001'), 1::bigint, 'restore(target, pk) brings back that row''s operation');
SELECT throws_ok($$ SELECT deletion.restore('lab.documents', 'd0000000-0000-4000-8000-000000000001') $$, '55000', NULL,
                 'restore(target, pk) of an active row is refused');

-- A parent deleted by another operation blocks the restore of its children.
INSERT INTO ops SELECT 'child first', deletion.soft_delete('lab.folders', '["a0000000-0000-4000-8000-000000000000", 2]');
INSERT INTO ops SELECT 'parent later', deletion.soft_delete('lab.folders', '["a0000000-0000-4000-8000-000000000000", 1]');
SELECT throws_like(format('SELECT deletion.restore(%L::uuid)', (SELECT op FROM ops WHERE name = 'child first')),
                   '%lab.folders row {"id": 2, "org_id": "a0000000-0000-4000-8000-000000000000"}: its parent lab.folders row {"id": 1, %is still deleted%',
                   'a child whose parent is still deleted is refused, naming the row and the parent (self-reference)');
SELECT is((SELECT count(*)::int FROM lab.folders WHERE deleted_at IS NULL), 0, 'and nothing was restored');
SELECT throws_ok(format('SELECT deletion.restore(%L::uuid)', (SELECT op FROM ops WHERE name = 'child first')), 'PD110', NULL,
                 'the refusal has SQLSTATE PD110');
SELECT lives_ok(format('SELECT deletion.restore(%L::uuid)', (SELECT op FROM ops WHERE name = 'parent later')), 'the parent first');
SELECT lives_ok(format('SELECT deletion.restore(%L::uuid)', (SELECT op FROM ops WHERE name = 'child first')), 'then the child');

-- Unique keys: a deleted person's email can be reused; restoring the old person then conflicts.
INSERT INTO ops SELECT 'person', deletion.soft_delete('lab.people', 'c0000000-0000-4000-8000-000000000001');
SELECT lives_ok($$ INSERT INTO lab.people (id, email) VALUES ('c0000000-0000-4000-8000-000000000009', 'p1@example.com') $$,
                'a new active row may take the unique key of a deleted one');
SELECT throws_ok($$ INSERT INTO lab.people (id, email) VALUES ('c0000000-0000-4000-8000-000000000008', 'p1@example.com') $$, '23505', NULL,
                 'but not the key of an active one');
SELECT throws_like(format('SELECT deletion.restore(%L::uuid)', (SELECT op FROM ops WHERE name = 'person')),
                   '%lab.people row {"id": "c0000000-0000-4000-8000-000000000001"}: people_email_key (email) = (p1@example.com) is now held by active row {"id": "c0000000-0000-4000-8000-000000000009"}%',
                   'restoring it is refused, naming the row, the index, the key and the active row');
SELECT isnt((SELECT deleted_at FROM lab.people WHERE id = 'c0000000-0000-4000-8000-000000000001'), NULL, 'and nothing was restored');

-- Several conflicts in one operation: one error lists each (all or nothing).
INSERT INTO lab.documents (id, org_id, folder_id, slug) VALUES ('d0000000-0000-4000-8000-000000000003', 'a0000000-0000-4000-8000-000000000000', 1, 'third');
INSERT INTO ops SELECT 'org', deletion.soft_delete('lab.folders', '["a0000000-0000-4000-8000-000000000000", 1]');
INSERT INTO lab.documents (id, org_id, folder_id, slug) VALUES
  ('d0000000-0000-4000-8000-000000000011', 'a0000000-0000-4000-8000-000000000000', 1, 'comes-back'),
  ('d0000000-0000-4000-8000-000000000013', 'a0000000-0000-4000-8000-000000000000', 1, 'third');
SELECT throws_like(format('SELECT deletion.restore(%L::uuid)', (SELECT op FROM ops WHERE name = 'org')),
                   '%, comes-back) is now held%; %, third) is now held%', 'every taken key is listed in the one error');
SELECT is((SELECT count(*)::int FROM lab.documents WHERE deleted_at IS NULL), 2, 'and nothing was restored: all or nothing');
SELECT throws_ok($$ SELECT deletion.restore('00000000-0000-4000-8000-000000000000'::uuid) $$, 'P0002', NULL, 'an unknown operation id is refused');

-- More than 20 rows under deleted parents through one key: 20 are named and the rest counted, for
-- that key only (a key of the operation with no conflict adds no count of its own).
INSERT INTO lab.orgs (id, name) VALUES ('b0000000-0000-4000-8000-000000000000', 'B');
INSERT INTO lab.folders (org_id, id, parent_id, name) VALUES ('b0000000-0000-4000-8000-000000000000', 1, NULL, 'b-root');
INSERT INTO lab.documents (id, org_id, folder_id, slug)
SELECT format('e0000000-0000-4000-8000-%s', lpad(n::text, 12, '0'))::uuid, 'b0000000-0000-4000-8000-000000000000', 1, 'b' || n
  FROM generate_series(1, 25) n;
INSERT INTO lab.approvals (document_id, approver_id)
SELECT id, 'c0000000-0000-4000-8000-000000000009' FROM lab.documents WHERE org_id = 'b0000000-0000-4000-8000-000000000000';
CREATE TABLE lab.notes (id int PRIMARY KEY, document_id uuid NOT NULL REFERENCES lab.documents (id) ON DELETE CASCADE);
CREATE INDEX ON lab.notes (document_id);
SELECT deletion.enable_soft_delete('lab.notes');
INSERT INTO lab.notes SELECT row_number() OVER (ORDER BY id), id FROM lab.documents WHERE org_id = 'b0000000-0000-4000-8000-000000000000';
UPDATE lab.documents SET deleted_at = now() WHERE org_id = 'b0000000-0000-4000-8000-000000000000';
INSERT INTO ops SELECT 'b documents', deletion_op FROM lab.documents WHERE slug = 'b1';
INSERT INTO ops SELECT 'b folder', deletion.soft_delete('lab.folders', '["b0000000-0000-4000-8000-000000000000", 1]');
SELECT is((SELECT count(*)::int FROM deletion.restore_conflicts((SELECT op FROM ops WHERE name = 'b documents')) c
            WHERE c LIKE 'lab.documents row %: its parent lab.folders row %'), 20,
          'the 25 documents under their deleted folder: 20 named');
SELECT is(ARRAY(SELECT c FROM deletion.restore_conflicts((SELECT op FROM ops WHERE name = 'b documents')) c WHERE c LIKE '... and %'),
          ARRAY['... and 5 more rows of lab.documents under deleted parents in lab.folders'],
          'and the other 5 counted, once: the approvals and notes of the operation, whose documents come back with them, add no count');

SELECT * FROM finish();
ROLLBACK;

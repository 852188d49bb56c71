-- Soft delete and its cascade on the lab schema (uuid keys, composite keys, a self-referencing tree,
-- SET NULL): deletion.soft_delete, a plain DELETE, UPDATE ... SET deleted_at, the hard path.
BEGIN;
SELECT plan(32);

\i test/fixtures/lab_schema.sql
SELECT deletion.enable_soft_delete(t) FROM unnest(ARRAY['lab.orgs', 'lab.folders', 'lab.documents', 'lab.approvals']::regclass[]) t;
SELECT deletion.enable_soft_delete('lab.people', false);

INSERT INTO lab.orgs (id, name) VALUES ('a0000000-0000-4000-8000-000000000000', 'A'), ('b0000000-0000-4000-8000-000000000000', 'B');
INSERT INTO lab.people (id, email) VALUES ('c0000000-0000-4000-8000-000000000001', 'p1@example.com'),
                                          ('c0000000-0000-4000-8000-000000000002', 'p2@example.com');
INSERT INTO lab.folders (org_id, id, parent_id, name) VALUES
  ('a0000000-0000-4000-8000-000000000000', 1, NULL, 'a1'), ('a0000000-0000-4000-8000-000000000000', 2, 1, 'a2'),
  ('a0000000-0000-4000-8000-000000000000', 3, 2, 'a3'),    ('a0000000-0000-4000-8000-000000000000', 4, NULL, 'a4'),
  ('b0000000-0000-4000-8000-000000000000', 1, NULL, 'b1'), ('b0000000-0000-4000-8000-000000000000', 2, 1, 'b2'),
  ('b0000000-0000-4000-8000-000000000000', 3, 2, 'b3');
INSERT INTO lab.documents (id, org_id, folder_id, owner_id, slug) VALUES
  ('d0000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-000000000000', 1, 'c0000000-0000-4000-8000-000000000001', 'd1'),
  ('d0000000-0000-4000-8000-000000000002', 'a0000000-0000-4000-8000-000000000000', 3, NULL, 'd2'),
  ('d0000000-0000-4000-8000-000000000003', 'a0000000-0000-4000-8000-000000000000', 4, NULL, 'd3'),
  ('d0000000-0000-4000-8000-000000000004', 'b0000000-0000-4000-8000-000000000000', 1, NULL, 'd4'),
  ('d0000000-0000-4000-8000-000000000005', 'b0000000-0000-4000-8000-000000000000', 1, NULL, 'd5');
INSERT INTO lab.approvals (document_id, approver_id) VALUES
  ('d0000000-0000-4000-8000-000000000002', 'c0000000-0000-4000-8000-000000000001'),
  ('d0000000-0000-4000-8000-000000000005', 'c0000000-0000-4000-8000-000000000002');
INSERT INTO lab.tags (document_id, label) VALUES ('d0000000-0000-4000-8000-000000000002', 'keep-my-link');

-- deletion.soft_delete: a folder subtree (composite key, self-reference) and what hangs off it.
SET LOCAL deletion.actor = '42';
CREATE TEMP TABLE first_op AS
SELECT deletion.soft_delete('lab.folders', '["a0000000-0000-4000-8000-000000000000", 1]', 'cleanup') AS op;
RESET deletion.actor;

SELECT isnt((SELECT op FROM first_op), NULL, 'soft_delete returns the operation id');
SELECT is(ARRAY(SELECT id FROM lab.folders WHERE org_id = 'a0000000-0000-4000-8000-000000000000' AND deleted_at IS NOT NULL ORDER BY id),
          ARRAY[1, 2, 3], 'the folder and its whole subtree (self-reference, composite key) are marked');
SELECT is((SELECT deleted_at FROM lab.folders WHERE org_id = 'a0000000-0000-4000-8000-000000000000' AND id = 4), NULL,
          'a sibling folder is not');
SELECT is(ARRAY(SELECT slug FROM lab.documents WHERE deleted_at IS NOT NULL ORDER BY slug), ARRAY['d1', 'd2'],
          'documents in those folders are marked (composite foreign key)');
SELECT is((SELECT count(*)::int FROM lab.approvals WHERE deleted_at IS NOT NULL), 1, 'and their approvals (two levels down)');
SELECT is((SELECT count(DISTINCT deletion_op)::int FROM (
             SELECT deletion_op FROM lab.folders WHERE deleted_at IS NOT NULL
             UNION ALL SELECT deletion_op FROM lab.documents WHERE deleted_at IS NOT NULL
             UNION ALL SELECT deletion_op FROM lab.approvals WHERE deleted_at IS NOT NULL) x), 1,
          'every marked row carries the one operation id');
SELECT ok((SELECT bool_and(deletion_op = (SELECT op FROM first_op) AND deleted_by = '42' AND deletion_reason = 'cleanup')
             FROM lab.documents WHERE deleted_at IS NOT NULL),
          'with the actor from SET LOCAL deletion.actor and the reason');
SELECT is((SELECT document_id FROM lab.tags), 'd0000000-0000-4000-8000-000000000002'::uuid,
          'a SET NULL child keeps its link: nothing to repair on restore');
SELECT is((SELECT rows_per_table FROM deletion.soft_delete_operations WHERE op = (SELECT op FROM first_op)),
          '{"lab.folders": 3, "lab.documents": 2, "lab.approvals": 1}'::jsonb, 'the operation log counts rows per table');
SELECT is((SELECT root_key FROM deletion.soft_delete_operations WHERE op = (SELECT op FROM first_op)),
          '[{"id": 1, "org_id": "a0000000-0000-4000-8000-000000000000"}]'::jsonb, 'and names the root by key');

-- A plain DELETE of the org becomes a soft delete; rows deleted earlier keep their operation.
SELECT lives_ok($$ DELETE FROM lab.orgs WHERE id = 'a0000000-0000-4000-8000-000000000000' $$, 'a plain DELETE of a soft-delete row');
SELECT isnt((SELECT deleted_at FROM lab.orgs WHERE id = 'a0000000-0000-4000-8000-000000000000'), NULL,
            'became a soft delete: the row is still there, marked');
SELECT isnt((SELECT deletion_op FROM lab.orgs WHERE id = 'a0000000-0000-4000-8000-000000000000'), (SELECT op FROM first_op),
            'as a new operation');
SELECT is((SELECT deletion_op FROM lab.folders WHERE org_id = 'a0000000-0000-4000-8000-000000000000' AND id = 4),
          (SELECT deletion_op FROM lab.orgs WHERE id = 'a0000000-0000-4000-8000-000000000000'),
          'which marked the rest of the org');
SELECT is((SELECT count(*)::int FROM lab.folders WHERE deletion_op = (SELECT op FROM first_op)), 3,
          'and left the folders of the first operation with their own operation id');
SELECT is((SELECT current_setting('deletion.soft_delete_op')), (SELECT deletion_op::text FROM lab.orgs WHERE id = 'a0000000-0000-4000-8000-000000000000'),
          'the statement leaves its operation id in deletion.soft_delete_op');

-- A multi-row DELETE whose rows cascade into each other: one operation, no "already modified" error.
SELECT lives_ok($$ DELETE FROM lab.folders WHERE org_id = 'b0000000-0000-4000-8000-000000000000' $$,
                'DELETE of a parent folder and its descendants in one statement');
SELECT is((SELECT count(DISTINCT deletion_op)::int FROM lab.folders WHERE org_id = 'b0000000-0000-4000-8000-000000000000'), 1,
          'all three folders are one operation');
SELECT is((SELECT count(*)::int FROM lab.folders WHERE org_id = 'b0000000-0000-4000-8000-000000000000' AND deleted_at IS NULL), 0,
          'none left active');
SELECT is((SELECT count(*)::int FROM lab.documents WHERE org_id = 'b0000000-0000-4000-8000-000000000000' AND deleted_at IS NULL), 0,
          'their documents went with them');

-- UPDATE ... SET deleted_at from any client becomes the same soft delete, with cascade.
INSERT INTO lab.orgs (id, name) VALUES ('e0000000-0000-4000-8000-000000000000', 'E');
INSERT INTO lab.folders (org_id, id, name) VALUES ('e0000000-0000-4000-8000-000000000000', 1, 'e1');
INSERT INTO lab.documents (id, org_id, folder_id, slug) VALUES ('d0000000-0000-4000-8000-000000000006', 'e0000000-0000-4000-8000-000000000000', 1, 'd6');
INSERT INTO lab.approvals (document_id, approver_id) VALUES ('d0000000-0000-4000-8000-000000000006', 'c0000000-0000-4000-8000-000000000002');
SELECT lives_ok($$ UPDATE lab.documents SET deleted_at = now(), deletion_reason = 'spam' WHERE id = 'd0000000-0000-4000-8000-000000000006' $$,
                'UPDATE ... SET deleted_at = now(), deletion_reason = ...');
SELECT ok((SELECT deletion_op IS NOT NULL AND deletion_reason = 'spam' FROM lab.documents WHERE id = 'd0000000-0000-4000-8000-000000000006'),
          'became a soft delete with an operation id and the given reason');
SELECT isnt((SELECT deleted_at FROM lab.approvals WHERE document_id = 'd0000000-0000-4000-8000-000000000006'), NULL,
            'with its cascade');

-- Without delete_becomes_soft a DELETE is a DELETE.
SELECT deletion.hard_delete('lab.approvals', '["d0000000-0000-4000-8000-000000000005", "c0000000-0000-4000-8000-000000000002"]');
SELECT deletion.hard_delete('lab.approvals', '["d0000000-0000-4000-8000-000000000006", "c0000000-0000-4000-8000-000000000002"]');
SELECT lives_ok($$ DELETE FROM lab.people WHERE id = 'c0000000-0000-4000-8000-000000000002' $$, 'DELETE on a table without delete_becomes_soft');
SELECT is((SELECT count(*)::int FROM lab.people WHERE id = 'c0000000-0000-4000-8000-000000000002'), 0, 'removes the row');

-- A cascade from a hard-delete table must not half-delete a soft-delete table.
CREATE TABLE lab.bins (id int PRIMARY KEY);
CREATE TABLE lab.bin_items (id int PRIMARY KEY, bin_id int NOT NULL REFERENCES lab.bins ON DELETE CASCADE);
CREATE INDEX ON lab.bin_items (bin_id);
SELECT deletion.enable_soft_delete('lab.bin_items');
INSERT INTO lab.bins VALUES (1);
INSERT INTO lab.bin_items VALUES (1, 1);
SELECT throws_ok($$ DELETE FROM lab.bins WHERE id = 1 $$, 'PD103', NULL,
                 'a cascade from a hard-delete table into a soft-delete table is refused, not turned into a dangling soft delete');

-- Two tables that cascade into each other: the walk repeats until it marks nothing new.
CREATE TABLE lab.ring_a (id int PRIMARY KEY, b_id int);
CREATE TABLE lab.ring_b (id int PRIMARY KEY, a_id int REFERENCES lab.ring_a ON DELETE CASCADE);
ALTER TABLE lab.ring_a ADD FOREIGN KEY (b_id) REFERENCES lab.ring_b ON DELETE CASCADE;
CREATE INDEX ON lab.ring_a (b_id);
CREATE INDEX ON lab.ring_b (a_id);
SELECT deletion.enable_soft_delete('lab.ring_a');
SELECT deletion.enable_soft_delete('lab.ring_b');
INSERT INTO lab.ring_a VALUES (1, NULL);
INSERT INTO lab.ring_b VALUES (1, 1);
INSERT INTO lab.ring_a VALUES (2, 1);
INSERT INTO lab.ring_b VALUES (2, 2);
INSERT INTO lab.ring_a VALUES (3, NULL);
SELECT ok((SELECT bool_and(in_cycle) FROM deletion.soft_delete_cascade_plan('lab.ring_a')), 'the plan knows the two tables form a cycle');
SELECT lives_ok($$ SELECT deletion.soft_delete('lab.ring_a', '1') $$, 'soft delete into a cycle of tables');
SELECT is((SELECT array_agg(x ORDER BY x) FROM (SELECT 'a' || id AS x FROM lab.ring_a WHERE deleted_at IS NOT NULL
                                                UNION ALL SELECT 'b' || id FROM lab.ring_b WHERE deleted_at IS NOT NULL) s),
          ARRAY['a1', 'a2', 'b1', 'b2'], 'reaches a1 -> b1 -> a2 -> b2, and not the unrelated a3');

-- The hard path: a privileged role with deletion.mode = 'hard'.
SET LOCAL deletion.mode = 'hard';
SELECT lives_ok($$ DELETE FROM lab.bins WHERE id = 1 $$, 'in hard mode an admin''s cascade goes through');
SELECT lives_ok($$ DELETE FROM lab.documents WHERE id = 'd0000000-0000-4000-8000-000000000003' $$, 'and an admin''s DELETE');
SELECT is((SELECT count(*)::int FROM lab.documents WHERE id = 'd0000000-0000-4000-8000-000000000003'), 0, 'removes the row for good');
RESET deletion.mode;

SELECT * FROM finish();
ROLLBACK;

-- The soft-delete walk generated for each soft-delete table (sql/12_soft_delete_walk.sql): it marks
-- exactly what the generic walk marks (on the lab schema, a cycle between two tables, and the
-- product), the wiring writes it again when a table of its cascade changes, lint names a walk a
-- hand-made foreign key left behind, and a table that stops being a soft-delete table loses its walk
-- and leaves the walks that reached it.
BEGIN;
SELECT plan(17);

\i test/fixtures/lab_schema.sql
SELECT deletion.enable_soft_delete(t) FROM unnest(ARRAY['lab.orgs', 'lab.folders', 'lab.documents', 'lab.approvals']::regclass[]) t;
SELECT deletion.enable_soft_delete('lab.people', false);

INSERT INTO lab.orgs (id, name) VALUES ('a0000000-0000-4000-8000-000000000000', 'A'), ('b0000000-0000-4000-8000-000000000000', 'B');
INSERT INTO lab.people (id, email) VALUES ('c0000000-0000-4000-8000-000000000001', 'p1@example.com');
INSERT INTO lab.folders (org_id, id, parent_id, name) VALUES
  ('a0000000-0000-4000-8000-000000000000', 1, NULL, 'a1'), ('a0000000-0000-4000-8000-000000000000', 2, 1, 'a2'),
  ('a0000000-0000-4000-8000-000000000000', 3, 2, 'a3'),    ('a0000000-0000-4000-8000-000000000000', 4, NULL, 'a4'),
  ('b0000000-0000-4000-8000-000000000000', 1, NULL, 'b1');
INSERT INTO lab.documents (id, org_id, folder_id, owner_id, slug) VALUES
  ('d0000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-000000000000', 1, 'c0000000-0000-4000-8000-000000000001', 'd1'),
  ('d0000000-0000-4000-8000-000000000002', 'a0000000-0000-4000-8000-000000000000', 3, NULL, 'd2'),
  ('d0000000-0000-4000-8000-000000000003', 'b0000000-0000-4000-8000-000000000000', 1, NULL, 'd3');
INSERT INTO lab.approvals (document_id, approver_id) VALUES
  ('d0000000-0000-4000-8000-000000000002', 'c0000000-0000-4000-8000-000000000001');
-- One row already deleted by an earlier operation: neither walk passes through it.
UPDATE lab.folders SET deleted_at = now() WHERE org_id = 'a0000000-0000-4000-8000-000000000000' AND id = 4;

-- What a walk from `root` marks, run as deletion_owner and undone: the rows per table it returns and
-- the image of every row it stamped. generic: the generic walk (deletion.soft_delete_walk), else the
-- table's generated one.
CREATE FUNCTION pg_temp.walk_marks(root regclass, root_keys jsonb, generic boolean)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
  op uuid := 'f0000000-0000-4000-8000-000000000110';
  counts jsonb;
  images jsonb := '[]';
  t regclass;
  table_images jsonb;
BEGIN
  BEGIN
    SET LOCAL ROLE deletion_owner;  -- as deletion.soft_delete_rows runs them (the role change is undone with the walk)
    IF generic THEN
      counts := deletion.soft_delete_walk(root, now(), '7', 'compared', op, root_keys, NULL);
    ELSE
      EXECUTE format('SELECT deletion.%I($1, $2, $3, $4, $5, $6)', deletion.soft_delete_walk_name(root))
        INTO counts USING now(), '7', 'compared', op, root_keys, NULL::uuid;
    END IF;
    FOR t IN SELECT deletion.soft_delete_tables() LOOP
      EXECUTE format('SELECT coalesce(jsonb_agg(jsonb_build_object(%L, to_jsonb(x)) ORDER BY to_jsonb(x)::text), ''[]'') FROM %s x WHERE x.deletion_op = $1',
                     t::text, t)
        INTO table_images USING op;
      images := images || table_images;
    END LOOP;
    RAISE EXCEPTION USING ERRCODE = 'PT110';  -- undo the walk
  EXCEPTION WHEN SQLSTATE 'PT110' THEN
    NULL;
  END;
  RETURN jsonb_build_object('rows_per_table', counts, 'rows', images);
END
$$;

SELECT is((SELECT count(*)::int FROM deletion.soft_delete_tables() t
            WHERE deletion.soft_delete_walk_of(t) IS NULL),
          0, 'every soft-delete table has a generated walk');
SELECT is(pg_temp.walk_marks('lab.orgs', '[{"id": "a0000000-0000-4000-8000-000000000000"}]', false),
          pg_temp.walk_marks('lab.orgs', '[{"id": "a0000000-0000-4000-8000-000000000000"}]', true),
          'from an org (uuid key, a composite self-referencing tree below it, a folder deleted earlier): the generated walk marks what the generic one marks');
SELECT is((pg_temp.walk_marks('lab.orgs', '[{"id": "a0000000-0000-4000-8000-000000000000"}]', false)) -> 'rows_per_table',
          '{"lab.orgs": 1, "lab.folders": 3, "lab.documents": 2, "lab.approvals": 1}'::jsonb,
          'and that is the org, its three active folders, their two documents and the approval');
SELECT is(pg_temp.walk_marks('lab.folders', '[{"org_id": "a0000000-0000-4000-8000-000000000000", "id": 2}]', false),
          pg_temp.walk_marks('lab.folders', '[{"org_id": "a0000000-0000-4000-8000-000000000000", "id": 2}]', true),
          'from a folder (composite key, the walk down its own table first): the same rows');

-- The application may not run a walk itself (with a stamp, an actor or an operation of its choosing).
CREATE ROLE w110_app LOGIN IN ROLE deletion_app;
SELECT deletion.soft_delete_walk_name('lab.orgs') AS org_walk \gset
SET LOCAL ROLE w110_app;
SELECT throws_ok(format($$ SELECT deletion.%I(now(), '7', 'mine', gen_random_uuid(), '[{"id": "b0000000-0000-4000-8000-000000000000"}]', NULL) $$,
                        :'org_walk'),
                 '42501', format('permission denied for function %s', :'org_walk'), 'the application role may not execute a generated walk');
RESET ROLE;

-- A cycle between two tables: each walk repeats its edges until they mark nothing.
CREATE TABLE lab.cycle_a (id int PRIMARY KEY, b_id int);
CREATE TABLE lab.cycle_b (id int PRIMARY KEY, a_id int REFERENCES lab.cycle_a (id) ON DELETE CASCADE);
ALTER TABLE lab.cycle_a ADD FOREIGN KEY (b_id) REFERENCES lab.cycle_b (id) ON DELETE CASCADE;
CREATE INDEX ON lab.cycle_a (b_id);
CREATE INDEX ON lab.cycle_b (a_id);
SELECT deletion.enable_soft_delete(t) FROM unnest(ARRAY['lab.cycle_a', 'lab.cycle_b']::regclass[]) t;
INSERT INTO lab.cycle_a VALUES (1, NULL), (2, NULL), (3, NULL);
INSERT INTO lab.cycle_b VALUES (10, 1), (20, 2);
UPDATE lab.cycle_a SET b_id = 10 WHERE id = 2;
UPDATE lab.cycle_a SET b_id = 20 WHERE id = 3;
SELECT is(pg_temp.walk_marks('lab.cycle_a', '[{"id": 1}]', false) -> 'rows_per_table', '{"lab.cycle_a": 3, "lab.cycle_b": 2}'::jsonb,
          'a cycle between two tables: the generated walk goes round until nothing is left (a1, b10, a2, b20, a3)');
SELECT is(pg_temp.walk_marks('lab.cycle_a', '[{"id": 1}]', false), pg_temp.walk_marks('lab.cycle_a', '[{"id": 1}]', true),
          'as the generic one does');

-- The product: a workspace, its projects, issues and their comment threads.
INSERT INTO users (id, email, name) OVERRIDING SYSTEM VALUE VALUES (1, 'ann@example.com', 'Ann');
INSERT INTO workspaces (id, name, slug) OVERRIDING SYSTEM VALUE VALUES (1, 'Acme', 'acme');
INSERT INTO projects (id, workspace_id, name) OVERRIDING SYSTEM VALUE VALUES (1, 1, 'Launch');
INSERT INTO issues (id, workspace_id, project_id, creator_id, title, status) OVERRIDING SYSTEM VALUE VALUES
  (1, 1, 1, 1, 'first', 'todo'), (2, 1, NULL, 1, 'second', 'todo');
INSERT INTO comments (id, issue_id, author_id, parent_comment_id, body) OVERRIDING SYSTEM VALUE VALUES
  (1, 1, 1, NULL, 'question'), (2, 1, 1, 1, 'answer'), (3, 1, 1, 2, 'thanks'), (4, 2, 1, NULL, 'other');
SELECT is(pg_temp.walk_marks('public.workspaces', '[{"id": 1}]', false), pg_temp.walk_marks('public.workspaces', '[{"id": 1}]', true),
          'the product, from a workspace: the same rows');
SELECT is(pg_temp.walk_marks('public.issues', '[{"id": 1}]', false) -> 'rows_per_table', '{"public.issues": 1, "public.comments": 3}'::jsonb,
          'from an issue: the issue and its thread of three comments');

-- A new soft-delete table below documents: wiring it writes again the walks that reach it.
CREATE TABLE lab.notes (id int PRIMARY KEY, document_id uuid NOT NULL REFERENCES lab.documents (id) ON DELETE CASCADE);
CREATE INDEX ON lab.notes (document_id);
INSERT INTO lab.notes VALUES (1, 'd0000000-0000-4000-8000-000000000002');
SELECT deletion.enable_soft_delete('lab.notes');
SELECT is((pg_temp.walk_marks('lab.orgs', '[{"id": "a0000000-0000-4000-8000-000000000000"}]', false)) -> 'rows_per_table' -> 'lab.notes', '1'::jsonb,
          'enabling soft delete on a table rewrites the walk of every table whose cascade reaches it: the org''s walk marks the note');

-- A foreign key made by hand, without the wiring: lint names the walks it left behind; wiring fixes them.
CREATE TABLE lab.links (id int PRIMARY KEY, folder_org uuid, folder_id int);
CREATE INDEX ON lab.links (folder_org, folder_id);
SELECT deletion.enable_soft_delete('lab.links');
INSERT INTO lab.links VALUES (1, 'a0000000-0000-4000-8000-000000000000', 3);
ALTER TABLE lab.links ADD FOREIGN KEY (folder_org, folder_id) REFERENCES lab.folders (org_id, id) ON DELETE CASCADE;
SELECT is(ARRAY(SELECT w.target::text FROM deletion.wiring_differences() w WHERE w.problem LIKE '%generated walk%' ORDER BY 1),
          ARRAY['lab.folders', 'lab.orgs'],
          'a cascade key added by hand: lint (wiring_differs) names the tables whose walk it reaches');
SELECT deletion.wire('lab.links');
SELECT is(ARRAY(SELECT w.target::text FROM deletion.wiring_differences() w WHERE w.problem LIKE '%generated walk%'), '{}'::text[],
          'wiring the table writes those walks again');
SELECT is((pg_temp.walk_marks('lab.orgs', '[{"id": "a0000000-0000-4000-8000-000000000000"}]', false)) -> 'rows_per_table' -> 'lab.links', '1'::jsonb,
          'and the org''s walk follows the new key');

-- Soft delete turned off for documents: its walk goes, and the walks above it stop at folders.
SELECT deletion.disable_soft_delete('lab.documents');
SELECT ok(deletion.soft_delete_walk_of('lab.documents') IS NULL,
          'a table that is no soft-delete table any more has no generated walk');
SELECT is((pg_temp.walk_marks('lab.orgs', '[{"id": "a0000000-0000-4000-8000-000000000000"}]', false)) -> 'rows_per_table',
          '{"lab.orgs": 1, "lab.folders": 3, "lab.links": 1}'::jsonb,
          'and the org''s walk no longer marks documents, nor the approvals and notes below them');

-- A table whose schema and name need quoting: its walk is named from the quoted schema.table, and
-- the engine's trigger functions, whose guard finds the table in the registry by those names, run
-- on it (a DELETE becomes a soft delete).
CREATE SCHEMA "Lab Odd";
CREATE TABLE "Lab Odd"."Odd name; --" (id bigint PRIMARY KEY, note text);
SELECT deletion.register_table('"Lab Odd"."Odd name; --"');
SELECT deletion.enable_soft_delete('"Lab Odd"."Odd name; --"');
SELECT is(deletion.soft_delete_walk_of('"Lab Odd"."Odd name; --"')::regproc::text,
          'deletion.soft_delete_walk_odd_name_' || left(md5('"Lab Odd"."Odd name; --"'), 8),
          'a table whose names need quoting has its walk, named from the md5 of its quoted schema.table');
INSERT INTO "Lab Odd"."Odd name; --" (id) VALUES (1);
DELETE FROM "Lab Odd"."Odd name; --" WHERE id = 1;
SELECT is((SELECT deleted_at IS NOT NULL FROM "Lab Odd"."Odd name; --" WHERE id = 1), true,
          'and a DELETE of its row is a soft delete: the engine''s triggers run on it');

SELECT * FROM finish();
ROLLBACK;

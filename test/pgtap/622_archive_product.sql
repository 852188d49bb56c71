-- Archive storage on the example's wiki (public.wiki_pages, archived; public.wiki_page_revisions,
-- hard-delete, audited): a plain DELETE as the application role reports its rows and RETURNING
-- returns them; the revisions cascade and the sub-pages' links are set to NULL as declared; the
-- trash shows one operation; the restorer's deletion.restore(op) brings back every row and every
-- cleared link exactly (row images compared); purge, plan, a deletion job, the hard path, and the
-- tables that must stay in place.
BEGIN;
SELECT plan(45);

CREATE ROLE c622_app LOGIN IN ROLE deletion_app;
CREATE ROLE c622_support LOGIN IN ROLE deletion_app;
GRANT deletion_restorer TO c622_support;

CREATE FUNCTION pg_temp.row_count(statement text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  EXECUTE statement;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;
CREATE FUNCTION pg_temp.returned(statement text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE r jsonb;
BEGIN
  EXECUTE format('WITH u AS (%s) SELECT coalesce(jsonb_agg(to_jsonb(u)), ''[]'') FROM u', statement) INTO r;
  RETURN r;
END $$;
-- Every row of the wiki, in key order: the images a restore must give back exactly.
CREATE FUNCTION pg_temp.wiki() RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object(
    'pages', (SELECT coalesce(jsonb_agg(to_jsonb(p) ORDER BY p.id), '[]') FROM public.wiki_pages p),
    'revisions', (SELECT coalesce(jsonb_agg(to_jsonb(r) ORDER BY r.id), '[]') FROM public.wiki_page_revisions r))
$$;
GRANT EXECUTE ON FUNCTION pg_temp.row_count(text), pg_temp.returned(text), pg_temp.wiki() TO PUBLIC;

INSERT INTO users (id, email, name) OVERRIDING SYSTEM VALUE VALUES (1, 'ann@example.com', 'Ann');
INSERT INTO workspaces (id, name, slug) OVERRIDING SYSTEM VALUE VALUES (1, 'Acme', 'acme');
INSERT INTO wiki_pages (id, workspace_id, parent_page_id, slug, title) OVERRIDING SYSTEM VALUE VALUES
  (1, 1, NULL, 'handbook', 'Handbook'), (2, 1, 1, 'onboarding', 'Onboarding'), (3, 1, 2, 'laptops', 'Laptops'),
  (4, 1, 1, 'holidays', 'Holidays'), (5, 1, NULL, 'scratch', 'Scratch'), (6, 1, NULL, 'old', 'Old'), (7, 1, NULL, 'jobbed', 'Jobbed');
INSERT INTO wiki_page_revisions (id, page_id, body) OVERRIDING SYSTEM VALUE VALUES
  (1, 1, 'v1'), (2, 1, 'v2'), (3, 2, 'welcome'), (4, 3, 'ask IT'), (5, 5, 'draft');
DO $$ BEGIN PERFORM setval(pg_get_serial_sequence('public.wiki_pages', 'id'), 100); END $$;
CREATE TEMP TABLE before AS SELECT pg_temp.wiki() AS image;

SELECT is((SELECT storage FROM deletion.table_policies WHERE table_name = 'wiki_pages'), 'archive', 'the wiki is registered in archive storage');
SELECT is((SELECT array_agg(tgname::text ORDER BY tgname) FROM pg_trigger WHERE tgrelid = 'public.wiki_pages'::regclass AND tgname LIKE 'deletion\_70%'),
          ARRAY['deletion_70_archive'], 'and wired with the archive trigger');
SELECT ok(NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'public.wiki_pages'::regclass AND attname = 'deleted_at')
          AND NOT (SELECT relrowsecurity FROM pg_class WHERE oid = 'public.wiki_pages'::regclass),
          'with no deleted_at column and no row-level security (deleted rows are not in the table)');

-- 1. The application role's plain DELETE.
SET LOCAL ROLE c622_app;
SELECT is(pg_temp.row_count($$ DELETE FROM wiki_pages WHERE id = 1 $$), 1::bigint,
          'DELETE FROM wiki_pages WHERE id = 1 reports DELETE 1 (an ORM''s row-count check passes)');
SELECT is((SELECT count(*)::int FROM wiki_pages WHERE id = 1), 0, 'the page left the table');
SELECT is((SELECT count(*)::int FROM wiki_page_revisions WHERE page_id = 1), 0, 'its revisions went with it (CASCADE)');
SELECT is((SELECT array_agg(id ORDER BY id) FROM wiki_pages WHERE parent_page_id IS NULL), ARRAY[2::bigint, 4, 5, 6, 7],
          'its sub-pages were promoted to top level (SET NULL)');
SELECT is((SELECT parent_page_id FROM wiki_pages WHERE id = 3), 2::bigint, 'a grandchild keeps its own parent');
SELECT isnt(nullif(current_setting('deletion.soft_delete_op', true), ''), NULL, 'the DELETE sets deletion.soft_delete_op');
SELECT current_setting('deletion.soft_delete_op') AS op \gset
SELECT throws_ok(format('SELECT deletion.restore(%L::uuid)', :'op'), '42501', NULL, 'the application role may not restore');
RESET ROLE;

SELECT is((SELECT rows_per_table FROM deletion.soft_delete_operations WHERE op = :'op'),
          '{"public.wiki_pages": 1, "public.wiki_page_revisions": 2}'::jsonb, 'the operation counts the page and its cascade');
SELECT is((SELECT root_table || ' ' || root_key::text FROM deletion.soft_delete_operations WHERE op = :'op'),
          'public.wiki_pages [{"id": 1}]', 'its root is the page the DELETE named');
SELECT is((SELECT count(*)::int FROM deletion.vw_trash WHERE root_table = 'public.wiki_pages'), 1, 'the trash shows one operation');
SELECT is((SELECT restorable FROM deletion.vw_trash WHERE op = :'op'), true, 'and that it can be restored');
SELECT is((SELECT count(*)::int FROM audit.log l, deletion.soft_delete_operations o
            WHERE o.op = :'op' AND l.txid = o.archive_txid AND l.statement_seq = o.archive_statement_seq AND l.action = 'UPDATE'), 2,
          'the audit statement holds the two links the DELETE set to NULL');

-- 2. RETURNING.
SET LOCAL ROLE c622_app;
SELECT is(pg_temp.returned($$ DELETE FROM wiki_pages WHERE id = 6 RETURNING id, slug $$), '[{"id": 6, "slug": "old"}]'::jsonb,
          'DELETE ... RETURNING returns the row it deleted');
SELECT current_setting('deletion.soft_delete_op') AS op_old \gset
SELECT isnt(:'op_old'::text, :'op'::text, 'a second statement is a second operation');
-- deletion.soft_delete on an archived table deletes the row as the caller.
SELECT isnt(deletion.soft_delete('public.wiki_pages', '5', 'tidy up'), NULL, 'deletion.soft_delete on an archived table returns the operation');
SELECT current_setting('deletion.soft_delete_op') AS op_scratch \gset
SELECT is((SELECT count(*)::int FROM wiki_pages WHERE id = 5), 0, 'and the row left the table');
-- A new page may take a deleted page's slug (a plain UNIQUE: deleted rows are not there); upserts need no predicate.
SELECT is(pg_temp.row_count($$ INSERT INTO wiki_pages (workspace_id, slug, title) VALUES (1, 'old', 'Old again')
                                ON CONFLICT (workspace_id, slug) DO UPDATE SET title = EXCLUDED.title $$), 1::bigint,
          'an upsert on the plain unique key works and may take a deleted page''s slug');
RESET ROLE;
SELECT is((SELECT deletion_reason FROM deletion.soft_delete_operations WHERE op = :'op_scratch'), 'tidy up', 'with its reason logged');

-- 3. Restore, as the restorer, exactly.
SET LOCAL SESSION AUTHORIZATION c622_support;
SET LOCAL ROLE deletion_restorer;
SELECT is(deletion.restore(:'op'::uuid), 5::bigint, 'deletion.restore(op) puts back the page, its two revisions and the two links');
RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT is((SELECT image -> 'pages' FROM before) - 5 - 4,  -- pages 5 and 6 are still deleted; page 8 is new
          (SELECT pg_temp.wiki() -> 'pages') - 5, 'every page row is back as it was, links included (images compared)');
SELECT is((SELECT image -> 'revisions' FROM before) - 4, pg_temp.wiki() -> 'revisions', 'every revision row is back as it was');
SELECT ok((SELECT restored_at IS NOT NULL FROM deletion.soft_delete_operations WHERE op = :'op'), 'the operation is marked restored');
SELECT is((SELECT count(*)::int FROM deletion.vw_trash WHERE op = :'op'), 0, 'and has left the trash');
SELECT throws_ok(format('SELECT deletion.restore(%L::uuid)', :'op'), '55000', NULL, 'a second restore is refused (already restored)');
-- A page whose key is taken again cannot come back.
SELECT is((SELECT restorable FROM deletion.vw_trash WHERE op = :'op_scratch'), true, 'the scratch page can come back...');
INSERT INTO wiki_pages (id, workspace_id, slug, title) OVERRIDING SYSTEM VALUE VALUES (5, 1, 'scratch2', 'Taken');
SELECT is((SELECT restorable FROM deletion.vw_trash WHERE op = :'op_scratch'), false, '...until an active row holds its key, and the trash says so');
SELECT throws_ok(format('SELECT deletion.restore(%L::uuid)', :'op_scratch'), 'PD202', NULL, 'restore then refuses, all or nothing');

-- 4. Purge: an old archived operation leaves the trash for good.
UPDATE deletion.soft_delete_operations SET performed_at = now() - interval '100 days' WHERE op = :'op_old';
SELECT lives_ok($$ SELECT * FROM deletion.purge_soft_deleted('90 days') $$, 'purge runs');
SELECT ok((SELECT purged_at IS NOT NULL FROM deletion.soft_delete_operations WHERE op = :'op_old'), 'and marks the old archived operation purged');
SELECT throws_ok(format('SELECT deletion.restore(%L::uuid)', :'op_old'), '55000', NULL, 'which restore then refuses');

-- 5. The plan counts what the DELETE then does; a job deletes and archives; the hard path logs nothing.
SELECT is((SELECT jsonb_agg(jsonb_build_array(table_name::text, action, rows) ORDER BY depth, table_name::text, action) FROM deletion.plan('public.wiki_pages', '2')),
          '[["wiki_pages", "delete", 1], ["wiki_page_revisions", "delete", 1], ["wiki_pages", "set null", 1]]'::jsonb,
          'the plan of page 2 counts the page, the sub-page whose link it clears, and the revisions of the page');
SET LOCAL ROLE c622_app;
SELECT is(pg_temp.row_count($$ DELETE FROM wiki_pages WHERE id = 2 $$), 1::bigint, 'the application deletes page 2');
RESET ROLE;
SELECT is((SELECT rows_per_table FROM deletion.soft_delete_operations WHERE root_key = '[{"id": 2}]' AND restored_at IS NULL),
          '{"public.wiki_pages": 1, "public.wiki_page_revisions": 1}'::jsonb, 'and its operation removed what the plan said');
SELECT deletion.schedule('public.wiki_pages', '7', reason => 'job on the wiki') AS job \gset
SELECT is((deletion.claim_job('test')).id, :'job'::bigint, 'a soft job on the archived table is claimed');
SELECT is(deletion.run_chunk(:job, 10000, 100000) ->> 'status', 'done', 'and done');
SELECT is((SELECT count(*)::int FROM deletion.soft_delete_operations WHERE root_key = '[{"id": 7}]' AND deletion_reason = 'job on the wiki'
             AND archive_txid IS NOT NULL), 1, 'its delete is an archived operation in the trash');
SET LOCAL deletion.mode = 'hard';
SELECT is(pg_temp.row_count($$ DELETE FROM wiki_pages WHERE id = 4 $$), 1::bigint, 'an admin''s hard DELETE deletes');
RESET deletion.mode;
SELECT is((SELECT count(*)::int FROM deletion.soft_delete_operations WHERE root_key = '[{"id": 4}]'), 0, 'and logs no operation (the audit log still has it)');

-- The application role gains nothing by claiming the hard path: its DELETE is still an operation.
INSERT INTO wiki_pages (id, workspace_id, slug, title) OVERRIDING SYSTEM VALUE VALUES (9, 1, 'claimed', 'Claimed');
SET LOCAL ROLE c622_app;
SET LOCAL deletion.mode = 'hard';
SELECT is(pg_temp.row_count($$ DELETE FROM wiki_pages WHERE id = 9 $$), 1::bigint, 'the application role deletes with deletion.mode = hard set');
RESET deletion.mode;
RESET ROLE;
SELECT is((SELECT count(*)::int FROM deletion.soft_delete_operations WHERE root_key = '[{"id": 9}]' AND restored_at IS NULL), 1,
          'and its delete is still an archived operation in the trash (only a privileged role deletes without one)');

-- 6. Tables that must stay in place.
SELECT throws_ok($$ SELECT deletion.enable_archive('public.users') $$, 'PD105', NULL,
                 'users cannot be archived (issues and comments reference it with RESTRICT; it keeps rows in place)');
SELECT throws_ok($$ SELECT deletion.enable_archive('public.comments') $$, 'PD105', NULL,
                 'nor comments, which keeps its deleted rows in place');

SELECT * FROM finish();
ROLLBACK;

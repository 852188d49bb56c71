-- Upserts on soft-delete tables, as the application role: INSERT ... ON CONFLICT (the original unique
-- columns) and ON CONFLICT ON CONSTRAINT <the original name>, for a new key, an active duplicate and a
-- key only a deleted row holds (which behaves as absent). Keys whose deleted values step aside stay
-- plain UNIQUE constraints; restore puts the values back after checking nobody took them. Keys that
-- cannot step aside become partial, and lint says that a plain upsert cannot name them. On the
-- example product and the lab schema.
BEGIN;
SELECT plan(35);

CREATE ROLE c621_app LOGIN IN ROLE deletion_app;
CREATE FUNCTION pg_temp.row_count(statement text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  EXECUTE statement;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;

INSERT INTO users (id, email, name) OVERRIDING SYSTEM VALUE VALUES (1, 'ann@example.com', 'Ann'), (2, 'ben@example.com', 'Ben');
INSERT INTO workspaces (id, name, slug) OVERRIDING SYSTEM VALUE VALUES (1, 'Acme', 'acme');
SELECT setval(pg_get_serial_sequence('public.users', 'id'), 100);
SELECT setval(pg_get_serial_sequence('public.workspaces', 'id'), 100);

SELECT is((SELECT contype::text FROM pg_constraint WHERE conrelid = 'public.users'::regclass AND conname = 'users_email_key'), 'u',
          'users_email_key is still a plain UNIQUE constraint');
SELECT is((SELECT column_name::text FROM deletion.soft_delete_step_aside WHERE table_name = 'users'), 'email',
          'the wiring recorded email as the column a deleted user''s key steps aside in');

SET LOCAL ROLE c621_app;
SELECT is(pg_temp.row_count($$ INSERT INTO users (email, name) VALUES ('cat@example.com', 'Cat')
                               ON CONFLICT (email) DO UPDATE SET name = excluded.name $$), 1::bigint,
          'ON CONFLICT (email) with a new email inserts');
SELECT is(pg_temp.row_count($$ INSERT INTO users (email, name) VALUES ('ann@example.com', 'Ann B.')
                               ON CONFLICT (email) DO UPDATE SET name = excluded.name $$), 1::bigint,
          'with an active user''s email it updates that user');
SELECT is((SELECT name FROM users WHERE email = 'ann@example.com'), 'Ann B.', 'the active duplicate was updated');
SELECT is(pg_temp.row_count($$ INSERT INTO users (email, name) VALUES ('ann@example.com', 'Ann C.')
                               ON CONFLICT ON CONSTRAINT users_email_key DO UPDATE SET name = excluded.name $$), 1::bigint,
          'ON CONFLICT ON CONSTRAINT users_email_key works (its original name)');
SELECT is(pg_temp.row_count($$ INSERT INTO users (email, name) VALUES ('ann@example.com', 'x') ON CONFLICT DO NOTHING $$), 0::bigint,
          'ON CONFLICT DO NOTHING skips an active duplicate');

-- A user soft-deleted: the email is free for a new user, by upsert or by plain insert.
SELECT is(pg_temp.row_count($$ UPDATE users SET deleted_at = now() WHERE id = 2 $$), 1::bigint, 'Ben is soft-deleted');
RESET ROLE;
SELECT is((SELECT email FROM users WHERE id = 2) ~ '^ben@example\.com~[0-9a-f]{16}$', true,
          'his email stepped aside (a suffix after the original)');
SELECT is((SELECT kept FROM deletion.soft_delete_kept_values WHERE table_name = 'public.users' AND row_key = '{"id": 2}'),
          '{"email": "ben@example.com"}'::jsonb, 'the engine kept the original');
SET LOCAL ROLE c621_app;
SELECT is(pg_temp.row_count($$ INSERT INTO users (email, name) VALUES ('ben@example.com', 'New Ben')
                               ON CONFLICT (email) DO UPDATE SET name = excluded.name $$), 1::bigint,
          'an upsert of the email only a deleted user holds inserts (the key behaves as absent)');
SELECT is((SELECT count(*)::int FROM users WHERE email = 'ben@example.com'), 1, 'one active Ben, the new one');
SELECT is((SELECT id FROM users WHERE email = 'ben@example.com') <> 2, true, 'and not the deleted row brought back');
RESET ROLE;

-- Restore: the original comes back, unless an active row took it.
SELECT throws_ok($$ SELECT deletion.restore('public.users', '2') $$, 'PD110', NULL,
                 'restoring Ben while the new Ben holds his email is refused');
SELECT matches((SELECT string_agg(c, ';') FROM deletion.restore_conflicts((SELECT deletion_op FROM users WHERE id = 2)) c),
               'users_email_key \(email\) = \(ben@example.com\) is now held by active row', 'and the conflict names the key and the value');
SELECT ok((SELECT deleted_at IS NOT NULL FROM users WHERE id = 2), 'nothing was restored');
UPDATE users SET email = 'ben.new@example.com' WHERE email = 'ben@example.com';
SELECT is(deletion.restore('public.users', '2'), 1::bigint, 'once the email is free again, the restore succeeds');
SELECT is((SELECT email FROM users WHERE id = 2), 'ben@example.com', 'with the original email back');
SELECT is((SELECT count(*)::int FROM deletion.soft_delete_kept_values WHERE row_key = '{"id": 2}'), 0, 'and the kept value is gone');

-- Restore by UPDATE (deletion_restorer) puts the value back too.
UPDATE workspaces SET deleted_at = now() WHERE id = 1;
SET LOCAL ROLE deletion_restorer;
SELECT is(pg_temp.row_count($$ UPDATE workspaces SET deleted_at = NULL WHERE id = 1 $$), 1::bigint, 'the restorer restores the workspace by UPDATE');
RESET ROLE;
SELECT is((SELECT slug FROM workspaces WHERE id = 1), 'acme', 'and its slug is back');
-- A deleted row re-deleted after a new row took its value twice: every deleted copy steps aside with its own suffix.
UPDATE workspaces SET deleted_at = now() WHERE id = 1;
INSERT INTO workspaces (name, slug) VALUES ('Acme 2', 'acme');
UPDATE workspaces SET deleted_at = now() WHERE slug = 'acme';
SELECT is((SELECT count(*)::int FROM workspaces WHERE slug LIKE 'acme~%'), 2, 'two deleted workspaces once named acme, both stepped aside');
SELECT lives_ok($$ INSERT INTO workspaces (name, slug) VALUES ('Acme 3', 'acme') ON CONFLICT ON CONSTRAINT workspaces_slug_key DO NOTHING $$,
                'and a third takes the slug');

-- The lab schema: a composite key with a varchar column, a key that cannot step aside.
\i test/fixtures/lab_schema.sql
ALTER TABLE lab.documents ALTER COLUMN slug TYPE varchar(30);
CREATE TABLE lab.codes (id int PRIMARY KEY, org_id uuid NOT NULL REFERENCES lab.orgs (id) ON DELETE CASCADE, n int NOT NULL,
                        CONSTRAINT codes_org_n_key UNIQUE (org_id, n));
SELECT deletion.register_table('lab.codes');
UPDATE deletion.table_policies SET unique_keys = 'step_aside' WHERE table_schema = 'lab';
SELECT deletion.enable_soft_delete(t) FROM unnest(ARRAY['lab.orgs', 'lab.folders', 'lab.documents', 'lab.codes']::regclass[]) t;
SELECT is((SELECT contype::text FROM pg_constraint WHERE conname = 'documents_org_slug_key'), 'u',
          'documents_org_slug_key (org_id, slug) stays a plain UNIQUE constraint: slug steps aside');
SELECT is(pg_get_indexdef('lab.codes_org_n_key'::regclass), 'CREATE UNIQUE INDEX codes_org_n_key ON lab.codes USING btree (org_id, n) WHERE (deleted_at IS NULL)',
          'a key of an integer and a foreign-key column cannot step aside: it becomes partial');
SELECT ok(EXISTS (SELECT FROM deletion.lint() WHERE object = 'lab.codes_org_n_key' AND rule = 'upsert_needs_predicate'),
          'lint reports that plain upserts cannot name lab.codes''s key');
INSERT INTO lab.orgs (id, name) VALUES ('a0000000-0000-4000-8000-000000000000', 'A');
INSERT INTO lab.folders (org_id, id, name) VALUES ('a0000000-0000-4000-8000-000000000000', 1, 'one'), ('a0000000-0000-4000-8000-000000000000', 2, 'two');
INSERT INTO lab.documents (id, org_id, folder_id, slug) VALUES
  ('d0000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-000000000000', 1, 'a-slug-of-exactly-thirty-chars');
UPDATE lab.folders SET deleted_at = now() WHERE id = 1;
SELECT is((SELECT length(slug) FROM lab.documents), 30, 'a varchar(30) value steps aside within its length (cut, then the suffix)');
INSERT INTO lab.documents (id, org_id, folder_id, slug) VALUES
  ('d0000000-0000-4000-8000-000000000002', 'a0000000-0000-4000-8000-000000000000', 2, 'a-slug-of-exactly-thirty-chars')
  ON CONFLICT (org_id, slug) DO NOTHING;
SELECT is((SELECT count(*)::int FROM lab.documents WHERE deleted_at IS NULL), 1, 'ON CONFLICT (org_id, slug) inserts the value the deleted document held');
SET LOCAL deletion.mode = 'hard';
DELETE FROM lab.documents WHERE deleted_at IS NULL;
RESET deletion.mode;
SELECT is(deletion.restore('lab.folders', '["a0000000-0000-4000-8000-000000000000", 1]'), 2::bigint, 'the folder and its document come back');
SELECT is((SELECT slug::text FROM lab.documents), 'a-slug-of-exactly-thirty-chars', 'the cut value is restored whole');

-- A soft job marks the tree in chunks: every row it marked steps aside as a soft delete's would, and
-- restoring the job's operation puts the values back.
INSERT INTO lab.orgs (id, name) VALUES ('b0000000-0000-4000-8000-000000000000', 'B');
INSERT INTO lab.folders (org_id, id, name) VALUES ('b0000000-0000-4000-8000-000000000000', 3, 'three');
INSERT INTO lab.documents (org_id, folder_id, slug)
SELECT 'b0000000-0000-4000-8000-000000000000', 3, 'doc-' || n FROM generate_series(1, 6) n;
SELECT deletion.schedule('lab.orgs', 'b0000000-0000-4000-8000-000000000000', reason => 'closing') AS job621 \gset
SELECT is((deletion.claim_job('test621')).id, :'job621'::bigint, 'a soft job on a lab org is claimed');
SELECT set_config('test.job621', :'job621', true);
DO $$ BEGIN
  FOR i IN 1 .. 20 LOOP
    EXIT WHEN deletion.run_chunk(current_setting('test.job621')::bigint, 2, 10000) ->> 'status' <> 'running';
  END LOOP;
END $$;
SELECT is((SELECT status || '/' || chunks FROM deletion.deletion_jobs WHERE id = :job621) LIKE 'done/%'
          AND (SELECT chunks FROM deletion.deletion_jobs WHERE id = :job621) >= 3, true, 'it is done, in chunks of 2 rows');
SELECT is((SELECT count(*)::int FROM lab.documents WHERE org_id = 'b0000000-0000-4000-8000-000000000000' AND slug LIKE 'doc-_~%'), 6,
          'every document the chunks marked stepped its slug aside');
SELECT is(deletion.restore((SELECT deletion_op FROM lab.orgs WHERE id = 'b0000000-0000-4000-8000-000000000000')), 8::bigint, 'restoring the job''s operation brings the tree back');
SELECT is((SELECT array_agg(slug::text ORDER BY slug) FROM lab.documents WHERE org_id = 'b0000000-0000-4000-8000-000000000000'),
          ARRAY['doc-1', 'doc-2', 'doc-3', 'doc-4', 'doc-5', 'doc-6'], 'with their slugs whole');

SELECT * FROM finish();
ROLLBACK;

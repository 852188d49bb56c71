-- Seed 004's protection on the product: a workspace with more than 100 issues is not deleted
-- directly, check_safe_to_delete_user gives its verdict with reasons, an unsafe user is neither
-- deleted nor soft-deleted unless a deletion_admin forces it, and bulk deletes are refused.
BEGIN;
SELECT plan(25);

\i bench/sql/generate_product_data.sql
SELECT count(*) FROM bench.generate_product_data(120, 1);   -- workspace 1: 120 issues
SELECT count(*) FROM bench.generate_product_data(20, 1);    -- a second, small workspace

CREATE TEMP TABLE ws AS SELECT min(id) AS big, max(id) AS small FROM public.workspaces;
GRANT SELECT ON ws TO PUBLIC;

SELECT trigger_is('public', 'workspaces', 'deletion_10_protect', 'deletion', 'protect_row', 'workspaces carry the protection trigger');
SELECT trigger_is('public', 'users', 'deletion_10_protect', 'deletion', 'protect_row', 'so do users');
SELECT trigger_is('public', 'users', 'deletion_10_protect_bulk', 'deletion', 'protect_bulk', 'and the bulk-delete guard');
SELECT trigger_is('public', 'users', 'deletion_10_protect_bulk_soft', 'deletion', 'protect_bulk', 'which counts soft deletes too');

CREATE ROLE protect_product_app LOGIN IN ROLE deletion_app;
GRANT USAGE ON SCHEMA public TO protect_product_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO protect_product_app;

SET LOCAL ROLE protect_product_app;
SELECT throws_ok($$ DELETE FROM public.workspaces WHERE id = (SELECT big FROM ws) $$, 'PD301',
                 format('public.workspaces %s holds 120 rows in public.issues, more than the 100 a direct delete may remove', (SELECT big FROM ws)),
                 'a workspace with more than 100 issues cannot be deleted directly, and the error says how many it holds');
SELECT is((SELECT count(*) FROM public.issues WHERE workspace_id = (SELECT big FROM ws)), 120::bigint, 'nothing was deleted');
RESET ROLE;
-- The hint tells the user to schedule a deletion job.
CREATE FUNCTION pg_temp.hint_of(statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE h text;
BEGIN
  EXECUTE statement;
  RETURN NULL;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
  RETURN h;
END $$;
SET LOCAL ROLE protect_product_app;
SELECT is(pg_temp.hint_of(format('DELETE FROM public.workspaces WHERE id = %s', (SELECT big FROM ws))),
          format('a workspace this big is deleted by an asynchronous deletion job, in small chunks: SELECT deletion.schedule(''public.workspaces'', ''%s'')', (SELECT big FROM ws)),
          'the hint says to schedule an asynchronous deletion job');
SELECT lives_ok($$ DELETE FROM public.workspace_memberships WHERE workspace_id = (SELECT small FROM ws) $$, 'a small workspace''s memberships go');
SELECT lives_ok($$ UPDATE public.workspaces SET deleted_at = now() WHERE id = (SELECT small FROM ws) $$, 'and a workspace of 20 issues can be soft-deleted directly');
RESET ROLE;

-- check_safe_to_delete_user: the verdict and the reasons.
CREATE TEMP TABLE people AS
SELECT (SELECT min(assignee_id) FROM public.issues WHERE status NOT IN ('done', 'canceled')) AS busy,
       nextval(pg_get_serial_sequence('public.users', 'id')) AS idle;
GRANT SELECT ON people TO PUBLIC;
INSERT INTO public.users (id, email, name) OVERRIDING SYSTEM VALUE SELECT idle, 'idle@example.com', 'Idle' FROM people;
SELECT is((SELECT safe FROM public.check_safe_to_delete_user((SELECT idle FROM people))), true, 'a user with no open issue and no recent comment is safe');
SELECT is((SELECT reasons FROM public.check_safe_to_delete_user((SELECT idle FROM people))), '{}'::text[], 'with no reasons');
SELECT is((SELECT safe FROM public.check_safe_to_delete_user((SELECT busy FROM people))), false, 'a user with open assigned issues is not');
SELECT ok((SELECT reasons[1] ~ '^\d+ open issues assigned$' FROM public.check_safe_to_delete_user((SELECT busy FROM people))),
          'and the reasons say why');
UPDATE public.comments SET created_at = now() - interval '1 day' WHERE id = (SELECT min(id) FROM public.comments WHERE author_id = (SELECT busy FROM people));
SELECT ok((SELECT bool_or(r ~ '^\d+ comments in the last 30 days$')
             FROM public.check_safe_to_delete_user((SELECT busy FROM people)) v, unnest(v.reasons) r),
          'recent comments are a reason too');

SET LOCAL ROLE protect_product_app;
SELECT throws_like(format('DELETE FROM public.users WHERE id = %s', (SELECT busy FROM people)), '%is not safe to delete: % open issues assigned%',
                   'deleting an unsafe user is refused with the reasons');
SELECT throws_ok(format('UPDATE public.users SET deleted_at = now() WHERE id = %s', (SELECT busy FROM people)), 'PD303', NULL,
                 'so is soft-deleting them')
  WHERE EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'public.users'::regclass AND attname = 'deleted_at')
UNION ALL
SELECT pass('users have no soft delete here: nothing to refuse')
  WHERE NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'public.users'::regclass AND attname = 'deleted_at');
SELECT lives_ok(format('UPDATE public.users SET deleted_at = now() WHERE id = %s', (SELECT idle FROM people)), 'a safe user is soft-deleted');
RESET ROLE;

SELECT throws_ok(format('DELETE FROM public.users WHERE id = %s', (SELECT busy FROM people)), 'PD303', NULL,
                 'an admin too must force the delete of an unsafe user');

-- Users whose only tie is an open issue assigned to them: unsafe, but forceable, on both paths.
INSERT INTO public.users (email, name) VALUES ('assignee@example.com', 'Assignee'), ('archived@example.com', 'Archived');
UPDATE public.issues SET assignee_id = (SELECT id FROM public.users WHERE email = 'assignee@example.com'), status = 'todo'
 WHERE id = (SELECT min(id) FROM public.issues);
UPDATE public.issues SET assignee_id = (SELECT id FROM public.users WHERE email = 'archived@example.com'), status = 'todo'
 WHERE id = (SELECT max(id) FROM public.issues);
SET LOCAL deletion.mode = 'hard';
SELECT is(deletion.force_delete('public.users', (SELECT id::text FROM public.users WHERE email = 'assignee@example.com'), 'left the company'),
          1::bigint, 'a deletion_admin forces the (hard) delete of an unsafe user');
RESET deletion.mode;
SELECT is((SELECT assignee_id FROM public.issues WHERE id = (SELECT min(id) FROM public.issues)), NULL::bigint,
          'and their issue is unassigned (SET NULL)');
SELECT deletion.allow_forced_delete('public.users', (SELECT id::text FROM public.users WHERE email = 'archived@example.com'), 'archived');
SELECT lives_ok($$ UPDATE public.users SET deleted_at = now() WHERE email = 'archived@example.com' $$,
                'a forced user''s soft delete goes through');
SELECT isnt((SELECT deleted_at FROM public.users WHERE email LIKE 'archived@example.com~%'), NULL,
            'and the user is in the trash (the email stepped aside)');

-- Bulk deletes: eleven users in one statement are too many for an application role; ten are not.
-- (The guard counts soft-deleted rows as deleted.)
INSERT INTO public.users (email, name) SELECT format('bulk%s@example.com', n), 'Bulk' FROM generate_series(1, 21) n;
SET LOCAL ROLE protect_product_app;
SELECT throws_ok($$ UPDATE public.users SET deleted_at = now() WHERE email LIKE 'bulk%' $$, 'PD302', NULL,
                 'one statement soft-deleting more than 10 users is refused');
SELECT lives_ok($$ UPDATE public.users SET deleted_at = now() WHERE email IN (SELECT email FROM public.users WHERE email LIKE 'bulk%' ORDER BY email LIMIT 10) $$,
                'ten at a time is fine');
SELECT throws_ok($$ DELETE FROM public.users WHERE email LIKE 'bulk%' $$, 'PD104', NULL,
                 'a plain DELETE of users is refused: it would soft-delete and report DELETE 0');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;

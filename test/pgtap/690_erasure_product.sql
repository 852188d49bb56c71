-- Erasure on the example product (sql/60_erasure.sql, example migration 0130): a user with issues,
-- comments (one edited, one soft-deleted, one hard-deleted), reactions, subscriptions, a favorite, a
-- project they lead, an attachment on an issue of theirs in the trash, a pending job whose reason
-- names them, a failed job whose error names them, and an audit history sealed under a key, is
-- erased. Then: a scan of every table of the database as text finds none of their values; what the
-- rules keep is there and consistent (tombstone, keys, statistics); audit.verify passes after the
-- erasure's own rows are sealed; the report says exactly what happened and its signature holds;
-- every restore path refuses the erased user; and erase refuses what it must.
--
-- The fixtures and the erasure are committed (a seal only takes finished transactions; this file has
-- a database of its own), then the checks run in one transaction.
SET client_min_messages = warning;
SET test.seal_key = 'test-seal-key-0123456789abcdef';
SET test.erase_key = 'test-erasure-key-0123456789abcdef';

INSERT INTO workspaces (name, slug) VALUES ('Erasure WS', 'erasure-ws') RETURNING id AS ws \gset
INSERT INTO users (email, name) VALUES ('alice.old-addr-4kq@erase-test.example', 'Alice Zyxwvut-7731') RETURNING id AS alice \gset
INSERT INTO users (email, name) VALUES ('bob.keeper@keep.example', 'Bob Keeper') RETURNING id AS bob \gset
UPDATE users SET email = 'alice.zq7x@erase-test.example' WHERE id = :alice;
INSERT INTO workspace_memberships (workspace_id, user_id) VALUES (:ws, :alice), (:ws, :bob);
INSERT INTO teams (workspace_id, name, key) VALUES (:ws, 'Core', 'CORE') RETURNING id AS team \gset
INSERT INTO team_memberships (team_id, user_id) VALUES (:team, :alice), (:team, :bob);
INSERT INTO projects (workspace_id, team_id, lead_id, name) VALUES (:ws, :team, :alice, 'Roadmap') RETURNING id AS proj \gset
INSERT INTO milestones (project_id, name) VALUES (:proj, 'M1') RETURNING id AS ms \gset
INSERT INTO labels (workspace_id, name) VALUES (:ws, 'bug') RETURNING id AS lbl \gset
INSERT INTO issues (workspace_id, team_id, project_id, milestone_id, creator_id, assignee_id, title)
VALUES (:ws, :team, :proj, :ms, :alice, :bob, 'Kept issue by alice') RETURNING id AS i1 \gset
INSERT INTO issues (workspace_id, milestone_id, creator_id, assignee_id, title)
VALUES (:ws, :ms, :bob, :alice, 'Bob issue assigned to alice') RETURNING id AS i2 \gset
INSERT INTO issues (workspace_id, creator_id, title) VALUES (:ws, :alice, 'Alice trashed issue') RETURNING id AS i3 \gset
INSERT INTO issue_label_relations (issue_id, label_id) VALUES (:i1, :lbl), (:i2, :lbl);
INSERT INTO attachments (issue_id, storage_key, file_name)
VALUES (:i1, 'erase-test/kept.png', 'design-kept.png'), (:i3, 'erase-test/passport.pdf', 'alice-passport-9f3k.pdf');
INSERT INTO comments (issue_id, author_id, body) VALUES (:i2, :alice, 'Alice first draft yy55') RETURNING id AS c1 \gset
UPDATE comments SET body = 'Alice private words zx81' WHERE id = :c1;
INSERT INTO comments (issue_id, author_id, body) VALUES (:i1, :bob, 'Bob reply kept') RETURNING id AS c2 \gset
INSERT INTO comments (issue_id, author_id, body) VALUES (:i2, :alice, 'Alice deleted words qq42') RETURNING id AS c3 \gset
INSERT INTO comments (issue_id, author_id, body) VALUES (:i2, :alice, 'Alice old hard-deleted words mm93') RETURNING id AS c4 \gset
INSERT INTO comment_reactions (comment_id, user_id, emoji) VALUES (:c2, :alice, 'thumbsup'), (:c1, :bob, 'heart');
INSERT INTO issue_subscriptions (issue_id, user_id) VALUES (:i2, :alice), (:i2, :bob);
INSERT INTO favorites (user_id, issue_id) VALUES (:alice, :i1);
DELETE FROM comments WHERE id = :c3;
BEGIN;
SET LOCAL deletion.mode = 'hard';
DELETE FROM comments WHERE id = :c4;
COMMIT;
BEGIN;
SET LOCAL deletion.reason = 'moved to the trash';
DELETE FROM issues WHERE id = :i3;
COMMIT;
-- the user closes their account (a soft delete, forced past the product's pre-delete check)
BEGIN;
SELECT deletion.allow_forced_delete('public.users', :'alice', 'account closed');
SET LOCAL deletion.reason = 'account closed';
DELETE FROM users WHERE id = :alice;
COMMIT;
SELECT deletion_op AS alice_op FROM users WHERE id = :alice \gset
SELECT deletion_op AS c3_op FROM comments WHERE id = :c3 \gset
SELECT deletion_op AS i3_op FROM issues WHERE id = :i3 \gset
-- a job waiting on the user, and a failed one whose error names them
INSERT INTO deletion.deletion_jobs (entity_table, entity_pk, hard_delete, reason)
VALUES ('public.users', :'alice', true, 'erase request from alice.zq7x@erase-test.example');
INSERT INTO deletion.deletion_jobs (entity_table, entity_pk, status, error)
VALUES ('public.issues', :'i2', 'failed', 'blocked by Alice Zyxwvut-7731');
SELECT open_issue_count AS ms_open, total_issue_count AS ms_total FROM milestones WHERE id = :ms \gset

-- Every value of the user's that erasure promises to remove (unique enough not to occur by chance).
CREATE TEMPORARY TABLE erased_values (v text);
INSERT INTO erased_values VALUES ('alice.zq7x@erase-test.example'), ('alice.old-addr-4kq@erase-test.example'), ('Alice Zyxwvut-7731'),
  ('Alice first draft yy55'), ('Alice private words zx81'), ('Alice deleted words qq42'), ('Alice old hard-deleted words mm93'),
  ('alice-passport-9f3k.pdf');
CREATE TEMPORARY TABLE kept_values (v text);
INSERT INTO kept_values VALUES ('Bob Keeper'), ('bob.keeper@keep.example'), ('Bob reply kept'), ('design-kept.png'), ('Kept issue by alice');

-- Every row of every table visible to SQL (the engine's included: audit log, trash, jobs, file
-- queue, work tables, erasure log), as text, that holds one of the values. Temporary tables aside.
CREATE FUNCTION pg_temp.scan(values_table regclass)
RETURNS TABLE (table_name text, value text, hits bigint)
LANGUAGE plpgsql AS $$
DECLARE
  rel regclass;
  n bigint;
  val text;
BEGIN
  FOR rel IN
    SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'm') AND ns.nspname NOT IN ('pg_catalog', 'information_schema', 'tap')
       AND ns.nspname NOT LIKE 'pg\_toast%' AND ns.nspname NOT LIKE 'pg\_temp%'
  LOOP
    FOR val IN EXECUTE format('SELECT v FROM %s', values_table) LOOP
      EXECUTE format('SELECT count(*) FROM %s t WHERE strpos(t::text, $1) > 0', rel) INTO n USING val;
      IF n > 0 THEN
        table_name := rel::text; value := val; hits := n;
        RETURN NEXT;
      END IF;
    END LOOP;
  END LOOP;
END
$$;
CREATE TEMPORARY TABLE found_before AS SELECT * FROM pg_temp.scan('pg_temp.erased_values');

-- wait (up to a minute) until every transaction older than the fixtures has ended, then seal them
CREATE FUNCTION pg_temp.wait_and_seal() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1 .. 600 LOOP
    EXIT WHEN pg_snapshot_xmin(pg_current_snapshot())::text::bigint > (SELECT max(txid) FROM audit.log);
    PERFORM pg_sleep(0.1);
  END LOOP;
  WHILE EXISTS (SELECT FROM audit.seal(current_setting('test.seal_key'))) LOOP END LOOP;
END
$$;
SELECT pg_temp.wait_and_seal();
SELECT max(seal_no) AS seals_before FROM audit.seals \gset

-- the erasure, committed
SELECT deletion.erase('public.users', jsonb_build_object('id', :alice), 'ticket PRIV-1 for alice.zq7x@erase-test.example',
                      current_setting('test.erase_key')) AS report \gset
SELECT pg_temp.wait_and_seal();
SELECT (:'report'::jsonb ->> 'erasure')::bigint AS erasure_id, (:'report'::jsonb ->> 'txid')::bigint AS erasure_txid \gset
SELECT tombstone_key ->> 'id' AS tomb FROM deletion.erasure_subjects WHERE table_name = 'users' \gset

CREATE TEMPORARY TABLE rep AS SELECT :'report'::jsonb AS r;

BEGIN;
SELECT plan(42);

-- the fixture is what it claims to be
SELECT ok((SELECT count(DISTINCT value) FROM found_before) = (SELECT count(*) FROM erased_values),
          'before the erasure, every one of the user''s values is somewhere in the database');
SELECT ok((SELECT count(DISTINCT table_name) FROM found_before) >= 5, 'in several tables (product, audit log, jobs)');

-- the scan
SELECT is_empty($$ SELECT * FROM pg_temp.scan('pg_temp.erased_values') $$,
                'after the erasure, no table visible to SQL holds any of the user''s values, the engine''s own included');
SELECT is((SELECT count(DISTINCT value)::int FROM pg_temp.scan('pg_temp.kept_values')), (SELECT count(*)::int FROM kept_values),
          'everyone else''s values are still there');

-- what the rules keep, consistent
SELECT is((SELECT count(*)::int FROM users WHERE id = :alice), 0, 'the user row is gone (soft-deleted rows included)');
SELECT is((SELECT (name, email)::text FROM users WHERE id = :tomb), '("Deleted user",deleted-user@invalid)',
          'the first erasure inserted the tombstone user from its declared values');
SELECT is((SELECT (author_id, body)::text FROM comments WHERE id = :c1), format('(%s,[erased])', :tomb),
          'their live comment is kept, re-pointed to the tombstone, its body redacted');
SELECT is((SELECT count(*)::int FROM comments WHERE id IN (:c3, :c4)), 0, 'their soft-deleted comment is gone for good');
SELECT is((SELECT creator_id FROM issues WHERE id = :i1), :tomb::bigint, 'the issue they created is kept, its creator the tombstone');
SELECT is((SELECT count(*)::int FROM issues WHERE id = :i3), 0, 'the issue of theirs in the trash is gone for good');
SELECT is((SELECT assignee_id FROM issues WHERE id = :i2), NULL, 'the issue assigned to them is unassigned');
SELECT is((SELECT lead_id FROM projects WHERE id = :proj), NULL, 'the project they led has no lead');
SELECT is((SELECT count(*)::int FROM workspace_memberships WHERE user_id = :alice) + (SELECT count(*)::int FROM team_memberships WHERE user_id = :alice)
          + (SELECT count(*)::int FROM comment_reactions WHERE user_id = :alice) + (SELECT count(*)::int FROM issue_subscriptions WHERE user_id = :alice)
          + (SELECT count(*)::int FROM favorites WHERE user_id = :alice), 0,
          'their memberships, reactions, subscriptions and favorites are deleted');
SELECT is((SELECT count(*)::int FROM comment_reactions WHERE comment_id = :c1 AND user_id = :bob), 1,
          'another user''s reaction to their (redacted) comment stays');
SELECT is((SELECT count(*)::int FROM attachments WHERE issue_id = :i1), 1, 'the attachment of the kept issue stays');
SELECT is((SELECT (open_issue_count, total_issue_count)::text FROM milestones WHERE id = :ms), format('(%s,%s)', :ms_open, :ms_total),
          'milestone statistics are unchanged: both of its issues are kept');
SELECT is((SELECT total_issue_count FROM labels WHERE id = :lbl),
          (SELECT count(*)::int FROM issue_label_relations WHERE label_id = :lbl), 'label statistics match the kept relations');
SELECT is_empty($$ SELECT c.id FROM comments c LEFT JOIN users u ON u.id = c.author_id WHERE u.id IS NULL
                   UNION ALL SELECT i.id FROM issues i LEFT JOIN users u ON u.id = i.creator_id WHERE u.id IS NULL $$,
                'every comment and issue still has its author');

-- the audit log
SELECT is((SELECT ok FROM audit.verify(current_setting('test.seal_key'))), true,
          'audit.verify passes: the redactions kept every sealed digest, and the erasure''s own rows are sealed too');
SELECT ok((SELECT max(seal_no) FROM audit.seals) > :seals_before, 'the erasure''s transaction was sealed after it');
SELECT ok((SELECT count(*) FROM audit.log WHERE table_name = 'public.users' AND record_id = :'alice') >= 3,
          'the log keeps the user''s rows (insert history, update, soft delete, erasure), keys intact');
SELECT is((SELECT count(DISTINCT (log_id, created_at))::int FROM audit.redactions WHERE reason = format('erasure %s', :erasure_id)),
          (:'report'::jsonb ->> 'audit_rows_redacted')::int, 'the report counts exactly the audit rows the erasure redacted');
SELECT is((SELECT reason FROM audit.transactions WHERE txid = :erasure_txid), format('erasure %s', :erasure_id),
          'the erasure''s audit transaction says which erasure it was, not the caller''s reason');

-- the report
SELECT ok(deletion.verify_erasure_report(:'report'::jsonb, current_setting('test.erase_key')), 'the report''s signature verifies under the operator''s key');
SELECT ok(NOT deletion.verify_erasure_report(jsonb_set(:'report'::jsonb, '{files_queued}', '99'), current_setting('test.erase_key')),
          'an edited report does not');
SELECT ok(NOT deletion.verify_erasure_report(:'report'::jsonb, 'another-key-0123456789abcdef'), 'nor does another key');
SELECT is((SELECT report || jsonb_build_object('signature', signature) FROM deletion.erasures WHERE id = :erasure_id), :'report'::jsonb,
          'the erasure log keeps the report that was returned');
SELECT is(:'report'::jsonb ->> 'reason', 'ticket PRIV-1 for [erased]', 'the reason is kept without the user''s values');
SELECT is(:'report'::jsonb ->> 'subject',
          encode(audit.hmac_sha256(convert_to(current_setting('test.erase_key'), 'UTF8'), convert_to('deletion-kit erasure subject public.users ' || :'alice', 'UTF8')), 'hex'),
          'the subject is named by a keyed hash of its table and key only');
SELECT results_eq(
  $$ SELECT r."table", r.via::text, r.action, r.redact, r.rows, r.soft_deleted_rows_removed
       FROM jsonb_to_recordset((SELECT r FROM pg_temp.rep) -> 'rules') AS r("table" text, via jsonb, action text, redact boolean, rows int, soft_deleted_rows_removed int)
      ORDER BY 1, 2 $$,
  $$ VALUES ('public.comment_reactions', '["user_id"]', 'delete', false, 1, 0), ('public.comments', '["author_id"]', 'tombstone', true, 1, 1),
            ('public.favorites', '["user_id"]', 'delete', false, 1, 0), ('public.issue_subscriptions', '["user_id"]', 'delete', false, 1, 0),
            ('public.issues', '["assignee_id"]', 'set_null', false, 1, 0), ('public.issues', '["creator_id"]', 'tombstone', false, 1, 1),
            ('public.projects', '["lead_id"]', 'set_null', false, 1, 0), ('public.team_memberships', '["user_id"]', 'delete', false, 1, 0),
            ('public.workspace_memberships', '["user_id"]', 'delete', false, 1, 0) $$,
  'the report lists each rule with the rows it re-pointed, cleared or deleted, and the soft-deleted rows it removed');
SELECT results_eq(
  $$ SELECT t.key, (t.value ->> 'deleted')::int FROM jsonb_each((SELECT r FROM pg_temp.rep) -> 'tables') t WHERE (t.value ->> 'deleted')::int > 0 ORDER BY 1 $$,
  $$ VALUES ('public.attachments', 1), ('public.comment_reactions', 1), ('public.comments', 1), ('public.favorites', 1),
            ('public.issue_subscriptions', 1), ('public.issues', 1),
            ('public.team_memberships', 1), ('public.users', 1), ('public.workspace_memberships', 1) $$,
  'the report lists the rows deleted per table, cascades included');
SELECT is((:'report'::jsonb -> 'tables' -> 'public.users' ->> 'inserted')::int, 1, 'and the tombstone it inserted');
SELECT is((:'report'::jsonb ->> 'files_queued')::int, 1, 'one file queued for cleanup');
SELECT is((SELECT count(*)::int FROM deletion.pending_file_deletions WHERE storage_key = 'erase-test/passport.pdf'), 1,
          'the attachment of the trashed issue is in the file cleanup queue');
SELECT is((:'report'::jsonb ->> 'soft_delete_operations_erased')::int, 3, 'three soft-delete operations emptied: the user''s, the comment''s, the issue''s');
SELECT is((:'report'::jsonb ->> 'jobs_cancelled')::int, 1, 'the job waiting on the user is cancelled');
SELECT ok(length(:'report'::jsonb ->> 'rules_version') = 64, 'the report names the rules'' version');

-- restore refuses the erased user on every path
SELECT throws_ok(format('SELECT deletion.restore(%L::uuid)', :'alice_op'), 'PD605', NULL, 'restoring the user''s soft delete is refused');
SELECT throws_ok(format('SELECT deletion.restore(%L, %L)', 'public.users', :'alice'), 'PD605', NULL, 'restoring the user by key is refused');
SELECT throws_ok(format('SELECT * FROM audit.restore_deleted(%L, %L)', 'public.users', :'alice'), 'PD605', NULL,
                 'an audit restore of the user is refused');
SELECT throws_ok(format('SELECT * FROM audit.restore_deleted(%L, %L)', 'public.comments', :'c4'), 'PD605', NULL,
                 'an audit restore of a comment of theirs deleted before the erasure is refused (its image was redacted)');
SELECT throws_ok(format('SELECT * FROM audit.restore_transaction(%s)', :erasure_txid), 'PD605', NULL, 'undoing the erasure''s transaction is refused');

SELECT * FROM finish();
ROLLBACK;

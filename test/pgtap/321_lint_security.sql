-- deletion.lint's security rules: views, materialized views and SECURITY DEFINER functions that show
-- soft-deleted rows to roles that must not see them, and SECURITY DEFINER functions any role may call.
-- Each hazard is built by the owner of a soft-delete lab table for an application role (a member of
-- deletion_app); the application role sees the deleted row through it, lint reports it, and once
-- fixed it is neither reported nor shows the deleted row.
BEGIN;
SELECT plan(32);

-- The example product, as migrated: its pre-deletion check is SECURITY DEFINER but counts active
-- rows only (deleted_at IS NULL) and only the engine's roles may call it, so lint finds nothing; as
-- it was first written (EXECUTE left to PUBLIC, every row counted) it was reported twice.
SELECT is_empty($$ SELECT * FROM deletion.lint() WHERE object LIKE '%check_safe_to_delete_user%' $$,
                'the example product''s hardened check_safe_to_delete_user is not reported');
GRANT EXECUTE ON FUNCTION public.check_safe_to_delete_user(bigint) TO PUBLIC;
SELECT matches((SELECT fix FROM deletion.lint() WHERE rule = 'definer_executable_by_public' AND object = 'public.check_safe_to_delete_user(bigint)'),
               '^REVOKE EXECUTE ON FUNCTION public\.check_safe_to_delete_user\(bigint\) FROM PUBLIC;',
               'given back to PUBLIC, it is reported, with a fix that revokes EXECUTE from PUBLIC');
REVOKE EXECUTE ON FUNCTION public.check_safe_to_delete_user(bigint) FROM PUBLIC;
SELECT is_empty($$ SELECT * FROM deletion.lint() WHERE rule = 'definer_executable_by_public' $$,
                'no engine function is a SECURITY DEFINER function PUBLIC may execute');

\i test/fixtures/lab_schema.sql
CREATE ROLE lint321_owner NOLOGIN;
CREATE ROLE lint321_analyst NOLOGIN;
CREATE ROLE lint321_admin NOLOGIN IN ROLE deletion_admin;
CREATE ROLE lint321_app LOGIN IN ROLE deletion_app;
ALTER TABLE lab.documents OWNER TO lint321_owner;
SELECT deletion.enable_soft_delete('lab.documents');
GRANT USAGE ON SCHEMA lab TO lint321_owner, lint321_analyst, lint321_app;
GRANT SELECT ON lab.people TO lint321_owner;
CREATE SCHEMA reports AUTHORIZATION lint321_owner;
GRANT USAGE ON SCHEMA reports TO lint321_app, deletion_admin;
GRANT USAGE, CREATE ON SCHEMA reports TO lint321_analyst, lint321_admin;

INSERT INTO lab.orgs (id, name) VALUES ('a0000000-0000-4000-8000-000000000000', 'A');
INSERT INTO lab.folders (org_id, id, name) VALUES ('a0000000-0000-4000-8000-000000000000', 1, 'one');
INSERT INTO lab.documents (id, org_id, folder_id, slug) VALUES
  ('d0000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-000000000000', 1, 'gone'),
  ('d0000000-0000-4000-8000-000000000002', 'a0000000-0000-4000-8000-000000000000', 1, 'kept');
SELECT deletion.soft_delete('lab.documents', 'd0000000-0000-4000-8000-000000000001');

-- The hazards, built by the table's owner, who bypasses row-level security on it (no FORCE).
SET LOCAL ROLE lint321_owner;
GRANT SELECT ON lab.documents TO lint321_app, lint321_analyst;
-- A view, readable by the application role.
CREATE VIEW reports.document_slugs AS SELECT id, slug FROM lab.documents;
GRANT SELECT ON reports.document_slugs TO lint321_app;
-- One column of a view is enough.
CREATE VIEW reports.document_ids AS SELECT id FROM lab.documents;
GRANT SELECT (id) ON reports.document_ids TO lint321_app;
-- A view only admins read, and a view over it that the application role reads.
CREATE VIEW reports.admin_document_slugs AS SELECT id, slug FROM lab.documents;
GRANT SELECT ON reports.admin_document_slugs TO deletion_admin;
CREATE VIEW reports.slugs_of_slugs AS SELECT slug FROM reports.admin_document_slugs;
GRANT SELECT ON reports.slugs_of_slugs TO lint321_app;
-- A view that filters deleted rows itself.
CREATE VIEW reports.live_document_slugs AS SELECT id, slug FROM lab.documents WHERE deleted_at IS NULL;
GRANT SELECT ON reports.live_document_slugs TO lint321_app;
-- Materialized views, with and without the filter.
CREATE MATERIALIZED VIEW reports.document_snapshot AS SELECT id, slug FROM lab.documents;
GRANT SELECT ON reports.document_snapshot TO lint321_app;
CREATE MATERIALIZED VIEW reports.live_document_snapshot AS SELECT id, slug FROM lab.documents WHERE deleted_at IS NULL;
GRANT SELECT ON reports.live_document_snapshot TO lint321_app;
-- A SECURITY DEFINER function over the table, granted to the application role only.
CREATE FUNCTION reports.document_slug_list() RETURNS SETOF text LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog
  AS $$ SELECT slug FROM lab.documents ORDER BY slug $$;
REVOKE EXECUTE ON FUNCTION reports.document_slug_list() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reports.document_slug_list() TO lint321_app;
-- The same with a BEGIN ATOMIC body (no source text to search: its dependencies name the table).
CREATE FUNCTION reports.document_count() RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog
  BEGIN ATOMIC SELECT count(*) FROM lab.documents; END;
REVOKE EXECUTE ON FUNCTION reports.document_count() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reports.document_count() TO lint321_app;
-- A SECURITY DEFINER function that reads no soft-delete table, left executable by PUBLIC.
CREATE FUNCTION reports.people_count() RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog
  AS $$ SELECT count(*) FROM lab.people $$;
-- A SECURITY DEFINER trigger function: nobody calls it and firing needs no EXECUTE, so it does not
-- count as a reader of deleted rows; but left executable by PUBLIC, any role may attach it to a table
-- of its own, where it runs with its owner's rights.
CREATE FUNCTION reports.note_document() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog
  AS $$ BEGIN PERFORM 1 FROM lab.documents; RETURN NEW; END $$;
RESET ROLE;
-- A view owned by a role that row-level security binds: it shows what its owner sees.
SET LOCAL ROLE lint321_analyst;
CREATE VIEW reports.analyst_slugs AS SELECT id, slug FROM lab.documents;
GRANT SELECT ON reports.analyst_slugs TO lint321_app, lint321_owner;
RESET ROLE;
-- Through a view, the rights the table is read with are those of the innermost view's owner: the
-- table owner's view over the analyst's view shows what the analyst sees ...
SET LOCAL ROLE lint321_owner;
CREATE VIEW reports.owner_over_analyst AS SELECT slug FROM reports.analyst_slugs;
GRANT SELECT ON reports.owner_over_analyst TO lint321_app;
RESET ROLE;
-- ... and an admin's view (row-level security binds it) over the table owner's admin-only view shows
-- the deleted rows to the application role.
SET LOCAL ROLE lint321_admin;
CREATE VIEW reports.admin_over_owner AS SELECT slug FROM reports.admin_document_slugs;
GRANT SELECT ON reports.admin_over_owner TO lint321_app;
RESET ROLE;

CREATE TEMP TABLE findings AS SELECT * FROM deletion.lint() WHERE object LIKE 'reports.%';

SELECT results_eq($$ SELECT rule, object FROM findings ORDER BY rule, object $$,
  $$ VALUES ('definer_executable_by_public', 'reports.note_document()'),
            ('definer_executable_by_public', 'reports.people_count()'),
            ('definer_sees_deleted_rows', 'reports.document_count()'),
            ('definer_sees_deleted_rows', 'reports.document_slug_list()'),
            ('matview_shows_deleted_rows', 'reports.document_snapshot'),
            ('view_shows_deleted_rows', 'reports.admin_over_owner'),
            ('view_shows_deleted_rows', 'reports.document_ids'),
            ('view_shows_deleted_rows', 'reports.document_slugs'),
            ('view_shows_deleted_rows', 'reports.slugs_of_slugs') $$,
  'one finding per hazard; none for the filtered, admin-only or RLS-bound objects, and the trigger function only as PUBLIC-executable');
SELECT is((SELECT array_agg(DISTINCT severity || ' ' || rule ORDER BY severity || ' ' || rule) FROM findings),
          ARRAY['error definer_executable_by_public', 'error matview_shows_deleted_rows', 'error view_shows_deleted_rows',
                'warning definer_sees_deleted_rows'],
          'views and PUBLIC definers are errors; a definer that reads a soft-delete table (a heuristic) is a warning');
SELECT is((SELECT problem FROM findings WHERE object = 'reports.document_slugs'),
          'view reports.document_slugs reads soft-delete table lab.documents with the rights of lint321_owner, which row-level security does not bind there (a view runs as its owner unless it is security_invoker), so it shows deleted rows to the roles that may read it: lint321_app',
          'a view: who owns it, which table, who reads it');
SELECT matches((SELECT fix FROM findings WHERE object = 'reports.document_slugs'),
               '^ALTER VIEW reports\.document_slugs SET \(security_invoker = true\);.* or add WHERE deleted_at IS NULL to its definition$',
               'the fix: security_invoker, or filter deleted rows');
SELECT matches((SELECT problem FROM findings WHERE object = 'reports.slugs_of_slugs'), 'soft-delete table lab\.documents',
               'a view reading the table through another view is found');
SELECT matches((SELECT problem FROM findings WHERE object = 'reports.admin_over_owner'), 'with the rights of lint321_owner, ',
               'and one whose own owner is bound by row-level security, with the rights of the inner view''s owner');
SELECT matches((SELECT problem FROM findings WHERE object = 'reports.document_ids'), 'may read it: lint321_app$',
               'so is a view with SELECT on one column granted');
SELECT matches((SELECT fix FROM findings WHERE rule = 'matview_shows_deleted_rows'),
               'WHERE deleted_at IS NULL.*REVOKE SELECT ON reports\.document_snapshot FROM lint321_app;$',
               'a materialized view: filter deleted rows (and refresh), or revoke SELECT from its readers');
SELECT matches((SELECT problem FROM findings WHERE object = 'reports.document_slug_list()'),
               'reads soft-delete table lab\.documents .* as its owner lint321_owner, .* may call it: lint321_app$',
               'a definer function: the table its body names, its owner, who may call it');
SELECT matches((SELECT fix FROM findings WHERE object = 'reports.document_slug_list()'),
               'SECURITY INVOKER.*REVOKE EXECUTE ON FUNCTION reports\.document_slug_list\(\) FROM lint321_app;',
               'the fix: SECURITY INVOKER, a filter, or revoke it from its callers');
SELECT matches((SELECT fix FROM findings WHERE rule = 'definer_executable_by_public' AND object = 'reports.people_count()'),
               '^REVOKE EXECUTE ON FUNCTION reports\.people_count\(\) FROM PUBLIC; then GRANT EXECUTE ON FUNCTION reports\.people_count\(\) TO ',
               'a definer function executable by PUBLIC: the fix revokes it and grants it to the roles that need it');

-- The hazards are real: the application role sees the deleted row through each, not in the table.
SET LOCAL ROLE lint321_app;
SELECT is((SELECT array_agg(slug ORDER BY slug) FROM lab.documents), ARRAY['kept'],
          'the application role does not see the deleted row in the table');
SELECT is((SELECT array_agg(slug ORDER BY slug) FROM reports.document_slugs), ARRAY['gone', 'kept'],
          'but through the view it does');
SELECT is((SELECT array_agg(slug ORDER BY slug) FROM reports.document_snapshot), ARRAY['gone', 'kept'],
          'and in the materialized view');
SELECT is((SELECT array_agg(s ORDER BY s) FROM reports.document_slug_list() s), ARRAY['gone', 'kept'],
          'and through the definer function');
SELECT is(reports.document_count(), 2::bigint, 'and through the BEGIN ATOMIC one');
SELECT is((SELECT array_agg(slug ORDER BY slug) FROM reports.live_document_slugs), ARRAY['kept'],
          'the filtered view shows no deleted row');
SELECT is((SELECT array_agg(slug ORDER BY slug) FROM reports.live_document_snapshot), ARRAY['kept'],
          'nor does the filtered materialized view');
SELECT is((SELECT array_agg(slug ORDER BY slug) FROM reports.analyst_slugs), ARRAY['kept'],
          'nor the view of an owner that row-level security binds');
SELECT is((SELECT array_agg(slug ORDER BY slug) FROM reports.owner_over_analyst), ARRAY['kept'],
          'nor the table owner''s view over that view');
SELECT is((SELECT array_agg(slug ORDER BY slug) FROM reports.admin_over_owner), ARRAY['gone', 'kept'],
          'but the admin''s view over the table owner''s view does');
RESET ROLE;

-- Fixed: the view runs as its reader, the definer functions are revoked.
SET LOCAL ROLE lint321_owner;
ALTER VIEW reports.document_slugs SET (security_invoker = true);
REVOKE EXECUTE ON FUNCTION reports.document_slug_list() FROM lint321_app;
GRANT EXECUTE ON FUNCTION reports.document_slug_list() TO deletion_admin;
REVOKE EXECUTE ON FUNCTION reports.people_count() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reports.people_count() TO lint321_app;
RESET ROLE;
SELECT is_empty($$ SELECT * FROM deletion.lint()
                    WHERE object IN ('reports.document_slugs', 'reports.document_slug_list()', 'reports.people_count()') $$,
                'the security_invoker view and the revoked functions are no longer reported');
SELECT is((SELECT count(*) FROM deletion.lint() WHERE object LIKE 'reports.%'), 6::bigint, 'the hazards left alone still are');

SET LOCAL ROLE lint321_app;
SELECT is((SELECT array_agg(slug ORDER BY slug) FROM reports.document_slugs), ARRAY['kept'],
          'through the security_invoker view the application role no longer sees the deleted row');
SELECT throws_ok($$ SELECT reports.document_slug_list() $$, '42501', NULL, 'nor may it call the revoked definer function');
SELECT is(reports.people_count(), 0::bigint, 'a role granted EXECUTE still calls the definer function revoked from PUBLIC');
RESET ROLE;

-- The table's owner no longer bypasses row-level security once the table FORCEs it: nothing it
-- owns shows deleted rows any more, except the snapshot it already took.
ALTER TABLE lab.documents FORCE ROW LEVEL SECURITY;
SELECT results_eq($$ SELECT rule, object FROM deletion.lint() WHERE object LIKE 'reports.%' ORDER BY rule, object $$,
  $$ VALUES ('definer_executable_by_public', 'reports.note_document()'), ('matview_shows_deleted_rows', 'reports.document_snapshot') $$,
  'with FORCE ROW LEVEL SECURITY only the materialized view (a snapshot) and the PUBLIC trigger function are still reported');
SET LOCAL ROLE lint321_app;
SELECT is((SELECT array_agg(slug ORDER BY slug) FROM reports.slugs_of_slugs), ARRAY['kept'],
          'and the views show the application role no deleted row (here through two of them)');
SELECT is(reports.document_count(), 1::bigint, 'nor does the definer function');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;

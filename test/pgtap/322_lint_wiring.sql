-- deletion.lint's wiring_differs: a registered table whose triggers, policies, grants or indexes were
-- changed by hand (or by a schema tool) no longer matches its registry row; lint says so and how to
-- re-derive it; registering and enabling wire at once, so a fresh adoption is clean.
BEGIN;
SELECT plan(12);

\i test/fixtures/lab_schema.sql
SELECT deletion.enable_soft_delete(t) FROM unnest(ARRAY['lab.orgs', 'lab.folders', 'lab.documents']::regclass[]) t;
SELECT deletion.track_files('lab.documents', 'slug');

SELECT is_empty($$ SELECT * FROM deletion.lint() WHERE rule = 'wiring_differs' $$,
                'registering and enabling wire at once: nothing differs, with no migrate in between');

DROP TRIGGER deletion_50_audit_delete ON lab.people;
SELECT results_eq($$ SELECT object, problem FROM deletion.lint() WHERE rule = 'wiring_differs' $$,
  $$ VALUES ('lab.people', 'registered table lab.people does not match its registry row: audit is on, but its triggers deletion_50_audit_* are missing') $$,
  'a dropped audit trigger is reported');
SELECT is((SELECT fix FROM deletion.lint() WHERE rule = 'wiring_differs'),
          'SELECT deletion.wire(''lab.people''); (re-derives its wiring from the registry; deletion-kit migrate does it for every table)',
          'with the call that re-derives it');
SELECT lives_ok($$ SELECT deletion.wire('lab.people') $$, 'deletion.wire re-derives it');
SELECT is_empty($$ SELECT * FROM deletion.lint() WHERE rule = 'wiring_differs' $$, 'and lint is clean again');

DROP POLICY deletion_20_soft_delete_hide ON lab.documents;
SELECT matches((SELECT problem FROM deletion.lint() WHERE rule = 'wiring_differs' AND object = 'lab.documents'),
               'soft delete is on, but row-level security, its policy deletion_20_soft_delete_hide or its triggers are missing',
               'a dropped hide policy is reported');
SELECT deletion.wire('lab.documents');
DROP TRIGGER deletion_20_soft_delete ON lab.orgs;
SELECT matches((SELECT problem FROM deletion.lint() WHERE rule = 'wiring_differs' AND object = 'lab.orgs'),
               'a DELETE should become a soft delete, but the trigger deletion_20_soft_delete is missing',
               'a dropped DELETE trigger is reported');
SELECT deletion.wire('lab.orgs');
DROP TRIGGER deletion_60_files ON lab.documents;
SELECT matches((SELECT problem FROM deletion.lint() WHERE rule = 'wiring_differs' AND object = 'lab.documents'),
               'its files are tracked, but the triggers deletion_60_files\* are missing', 'dropped file triggers are reported');
SELECT deletion.wire('lab.documents');
DROP TRIGGER deletion_05_live_parent ON lab.documents;
SELECT matches((SELECT problem FROM deletion.lint() WHERE rule = 'wiring_differs' AND object = 'lab.documents'),
               'references soft-delete tables, but the triggers that refuse new rows under deleted parents', 'dropped live-parent triggers are reported');
SELECT deletion.wire('lab.documents');
REVOKE DELETE ON lab.folders FROM deletion_owner;
SELECT matches((SELECT problem FROM deletion.lint() WHERE rule = 'wiring_differs' AND object = 'lab.folders'),
               'the engine''s role \(deletion_owner\) lacks its grants', 'a revoked engine grant is reported');
SELECT deletion.wire('lab.folders');
DROP INDEX lab.documents_active_idx;
SELECT matches((SELECT problem FROM deletion.lint() WHERE rule = 'wiring_differs' AND object = 'lab.documents'),
               'its index documents_active_idx is missing', 'a dropped soft-delete index is reported');
SELECT deletion.wire('lab.documents');
SELECT is_empty($$ SELECT * FROM deletion.lint() WHERE rule = 'wiring_differs' $$, 'every difference re-derived');

SELECT * FROM finish();
ROLLBACK;

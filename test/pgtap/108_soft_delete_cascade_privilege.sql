-- deletion.mode = 'hard' is honoured only for privileged roles. A foreign-key cascade runs as the
-- child table's owner, so the soft-delete trigger also checks the session's login inside a cascade:
-- an application login that sets the variable and deletes a hard-delete parent cannot hard-delete
-- the soft-delete rows below it.
BEGIN;
SELECT plan(5);

\i test/fixtures/lab_schema.sql
CREATE TABLE lab.bins (id int PRIMARY KEY);
CREATE TABLE lab.bin_items (id int PRIMARY KEY, bin_id int NOT NULL REFERENCES lab.bins ON DELETE CASCADE);
CREATE INDEX ON lab.bin_items (bin_id);
SELECT deletion.register_table('lab.bins', 'hard-delete parent');
SELECT deletion.enable_soft_delete('lab.bin_items');
INSERT INTO lab.bins VALUES (1), (2);
INSERT INTO lab.bin_items VALUES (1, 1), (2, 2);

CREATE ROLE sd108_app LOGIN IN ROLE deletion_app;
GRANT USAGE ON SCHEMA lab TO deletion_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON lab.bins, lab.bin_items TO deletion_app;

-- The application login itself (session_user, not SET ROLE) asks for the hard path.
SET SESSION AUTHORIZATION sd108_app;
SET LOCAL deletion.mode = 'hard';
SELECT throws_ok($$ DELETE FROM lab.bins WHERE id = 1 $$, 'PD103', NULL,
                 'an application login''s deletion.mode = hard does not carry a cascade into a soft-delete table');
RESET deletion.mode;
RESET SESSION AUTHORIZATION;
SELECT is((SELECT count(*)::int FROM lab.bin_items WHERE id = 1), 1, 'and its soft-delete row is still there');
SELECT is((SELECT count(*)::int FROM lab.bins WHERE id = 1), 1, 'and so is the parent: the statement was refused whole');

-- The same statement from a privileged session goes through, cascade included.
SET LOCAL deletion.mode = 'hard';
SELECT lives_ok($$ DELETE FROM lab.bins WHERE id = 2 $$, 'an admin session''s hard-mode cascade goes through');
SELECT is((SELECT count(*)::int FROM lab.bin_items WHERE id = 2), 0, 'and hard-deletes the soft-delete child');
RESET deletion.mode;

SELECT * FROM finish();
ROLLBACK;

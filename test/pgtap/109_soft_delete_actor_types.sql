-- The actor belongs to the product: SET LOCAL deletion.actor takes the product's own user id (a
-- number, a uuid, an email), the engine records it as text, and soft delete casts it to the type of
-- each table's own deleted_by column. No foreign key ties the engine to a product table.
BEGIN;
SELECT plan(16);

-- Three tables of a product whose users are known by uuid, by number and by email.
CREATE SCHEMA actors;
CREATE TABLE actors.accounts (id int PRIMARY KEY, name text NOT NULL, deleted_by uuid);
CREATE TABLE actors.projects (id int PRIMARY KEY, deleted_by bigint);
CREATE TABLE actors.notes (id int PRIMARY KEY, project_id int NOT NULL REFERENCES actors.projects ON DELETE CASCADE, deleted_by bigint);
CREATE TABLE actors.pages (id int PRIMARY KEY, title text NOT NULL);
SELECT deletion.register_table('actors.accounts', 'soft delete: uuid actors');
SELECT deletion.register_table('actors.projects', 'soft delete: bigint actors');
SELECT deletion.register_table('actors.notes', 'soft delete: bigint actors');
SELECT deletion.register_table('actors.pages', 'soft delete: no deleted_by of its own');
SELECT deletion.enable_soft_delete('actors.accounts');
SELECT deletion.enable_soft_delete('actors.projects');
SELECT deletion.enable_soft_delete('actors.notes');
SELECT deletion.enable_soft_delete('actors.pages');
INSERT INTO actors.accounts VALUES (1, 'one'), (2, 'two');
INSERT INTO actors.projects VALUES (2);
INSERT INTO actors.notes VALUES (20, 2);
INSERT INTO actors.pages VALUES (100, 'a'), (200, 'b');

SELECT col_type_is('actors', 'accounts', 'deleted_by', 'uuid', 'a deleted_by of the product''s own type is kept');
SELECT col_type_is('actors', 'pages', 'deleted_by', 'text', 'a table without one gets deleted_by text');

-- A uuid actor on a uuid column.
SET LOCAL deletion.actor = '6f1c2a9e-2f44-4b8e-9a57-0d9e4f3b1c10';
SELECT lives_ok($$ SELECT deletion.soft_delete('actors.accounts', '1') $$, 'a uuid actor soft-deletes a uuid-actor table');
SELECT is((SELECT deleted_by FROM actors.accounts WHERE id = 1), '6f1c2a9e-2f44-4b8e-9a57-0d9e4f3b1c10'::uuid,
          'deleted_by holds the uuid');
SELECT is((SELECT deleted_by FROM deletion.soft_delete_operations ORDER BY performed_at DESC LIMIT 1),
          '6f1c2a9e-2f44-4b8e-9a57-0d9e4f3b1c10', 'the operation records the actor as text');

-- An actor that does not fit the deleted_by of a table of the tree (each is stamped with the one
-- actor): the product's type decides, and nothing is marked.
SELECT throws_ok($$ SELECT deletion.soft_delete('actors.projects', '2') $$, '22P02', NULL,
                 'a uuid actor cannot be cast to a bigint deleted_by: the soft delete fails whole');
SELECT is((SELECT deleted_at FROM actors.projects WHERE id = 2), NULL, 'and leaves the root active');

-- A numeric actor on the bigint child and on text.
SET LOCAL deletion.actor = '42';
SELECT lives_ok($$ DELETE FROM actors.notes WHERE id = 20 $$, 'a plain DELETE with a numeric actor');
SELECT is((SELECT deleted_by FROM actors.notes WHERE id = 20), 42::bigint, 'is stamped as a bigint');

-- An email actor on text, through a plain DELETE, into the audit log too.
SET LOCAL deletion.actor = 'ann@example.com';
SELECT lives_ok($$ DELETE FROM actors.pages WHERE id = 100 $$, 'an email actor soft-deletes a text-actor table');
SELECT is((SELECT deleted_by FROM actors.pages WHERE id = 100), 'ann@example.com', 'deleted_by holds the email');
SELECT ok((SELECT actor IN ('6f1c2a9e-2f44-4b8e-9a57-0d9e4f3b1c10', '42', 'ann@example.com')
             FROM audit.transactions WHERE txid = txid_current()),
          'the audit log records the transaction''s actor as text');

-- Restore records who restored, as text.
SET LOCAL deletion.actor = 'bob@example.com';
SELECT lives_ok($$ SELECT deletion.restore((SELECT deletion_op FROM actors.pages WHERE id = 100)) $$, 'restore');
SELECT is((SELECT restored_by FROM deletion.soft_delete_operations WHERE root_table = 'actors.pages'), 'bob@example.com',
          'restored_by holds the restoring actor');

-- The audit seal digests an actor that is a whole number as a number, as it did when actors were
-- bigints, so seals made then still verify; anything else, '042' included, as a string.
SELECT is(audit.actor_digest('42'), '42'::jsonb, 'a whole-number actor is digested as a JSON number');
SELECT is(ARRAY[audit.actor_digest('042'), audit.actor_digest('ann@example.com')], ARRAY['"042"'::jsonb, '"ann@example.com"'::jsonb],
          'any other actor as a JSON string');

SELECT * FROM finish();
ROLLBACK;

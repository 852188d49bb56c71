// The engine on a schema none of us wrote: Pagila (../shared/samples/pagila/schema.sql and
// data.sql.gz), a DVD rental shop with RESTRICT keys everywhere, one key left at NO ACTION, a
// composite-key film_actor, views, a SECURITY DEFINER function, its own last_updated triggers, and
// payment partitioned by month. Loaded into an empty database, the engine installed alone (no
// example); each test works on a copy, adopting tables as a team would. The partitioned payment
// table is left out (registered by no test, reached by no delete): partitions are tested elsewhere.
import { readFileSync } from 'node:fs';
import type pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  PLAN_MATCHES_DELETE, countChanges, images, planLines, psqlFile,
  psqlGzip, recreateForeignKey, registerTables, rowCounts, sampleFiles, sampleSuite, migration, one, count, workJob,
} from './samples.ts';

const files = sampleFiles('pagila/schema.sql', 'pagila/data.sql.gz');

// The ordinary tables (not payment, not its partitions).
const TABLES = ['public.actor', 'public.address', 'public.category', 'public.city', 'public.country', 'public.customer', 'public.film',
  'public.film_actor', 'public.film_category', 'public.inventory', 'public.language', 'public.rental', 'public.staff', 'public.store'];

// The adopting team's decisions, each a migration of theirs: an actor's and a film's credits go
// with them, and so does a film's category (a film in stock still cannot go: inventory RESTRICT).
const CREDITS_CASCADE = recreateForeignKey('public.film_actor', 'film_actor_actor_id_fkey', 'actor_id', 'public.actor', 'actor_id', 'CASCADE')
  + recreateForeignKey('public.film_actor', 'film_actor_film_id_fkey', 'film_id', 'public.film', 'film_id', 'CASCADE')
  + recreateForeignKey('public.film_category', 'film_category_film_id_fkey', 'film_id', 'public.film', 'film_id', 'CASCADE');

const suite = sampleSuite('sample_pagila', files, async (url) => { await psqlFile(url, files![0]); await psqlGzip(url, files![1]); });
const { it, install, onCopy } = suite;
const without = (rows: unknown[], column: string) => rows.map((r) => {
  const copy = { ...(r as Record<string, unknown>) };
  delete copy[column];
  return copy;
});

it('engine-only install on Pagila: public\'s catalog and every table\'s row count are exactly as they were', async () => {
  assert.ok((install.result as { migrations: string[] }).migrations.length > 0, 'the engine\'s migrations ran');
  assert.equal(install.catalogAfter, install.catalogBefore, 'every table, view, column, constraint, index, function, trigger and type of public is as it was');
  assert.equal(install.countsAfter, install.countsBefore, 'and every table (partitions included) has the rows it had');
  const counts = install.countsBefore as Record<string, number>;
  assert.equal([counts['public.film'], counts['public.film_actor'], counts['public.customer'], counts['public.rental'], counts['public.payment']],
    [1000, 5462, 599, 16044, 16049], 'Pagila loaded whole');
  assert.is(Object.keys(counts).length, 22, '14 tables, payment and its 7 partitions');
  assert.is(install.registered, 0, 'nothing is registered until the product says so');
});

it('lint on Pagila: the one NO ACTION key (not the RESTRICT ones), every unregistered table, the unindexed keys, the SECURITY DEFINER function', async () => {
  await onCopy(async ({ su }) => {
    const { rows } = await su.query(`SELECT severity, rule, object, fix FROM deletion.lint() ORDER BY rule, object`);
    const of = (rule: string) => rows.filter((r) => r.rule === rule).map((r) => r.object);
    // payment's monthly partitions declare their own keys (not inherited from payment): lint reads them too.
    const partitionKeys = (columns: string[]) => [1, 2, 3, 4, 5, 6].flatMap((m) =>
      columns.map((c) => `public.payment_p2022_0${m}.payment_p2022_0${m}_${c}_id_fkey`));
    assert.equal(of('default_on_delete'), [...partitionKeys(['customer', 'rental', 'staff']), 'public.staff.staff_store_id_fkey'].sort(),
      'staff_store_id_fkey and the 18 keys payment\'s partitions declare, all without ON DELETE; the RESTRICT keys are decisions and are not reported');
    assert.equal(of('no_deletion_policy'), [...TABLES, 'public.payment'].sort(),
      'every table has no policy; the partitioned payment is reported once, not per partition');
    assert.equal(of('unindexed_foreign_key'), [
      'public.film_category.film_category_category_id_fkey', 'public.inventory.inventory_film_id_fkey', ...partitionKeys(['rental']),
      'public.rental.rental_customer_id_fkey', 'public.rental.rental_staff_id_fkey', 'public.staff.staff_address_id_fkey',
      'public.staff.staff_store_id_fkey', 'public.store.store_address_id_fkey',
    ], 'keys whose columns lead no index (film_category\'s key leads with film_id, inventory\'s index with store_id, rental\'s unique index with rental_date, the partitions\' rental_id has none)');
    assert.match(rows.find((r) => r.object === 'public.inventory.inventory_film_id_fkey').fix, 'CREATE INDEX ON public.inventory (film_id);');
    assert.equal(of('definer_without_search_path'), ['public.rewards_report(integer,numeric)']);
    assert.equal(of('definer_executable_by_public'), ['public.rewards_report(integer,numeric)']);
    assert.equal(of('view_shows_deleted_rows'), [], 'no soft-delete table yet, so no view shows deleted rows');
    assert.ok(rows.every((r) => r.object.startsWith('public.')), 'every finding is Pagila\'s: the engine\'s own schemas are clean');
  });
});

it('lint on Pagila: its customer_list view over the soft-delete customer table is reported once granted to the app role (view_shows_deleted_rows), and security_invoker fixes it', async () => {
  await onCopy(async ({ su, app }) => {
    await migration(su, `SELECT deletion.enable_soft_delete('public.customer');`);
    const findings = async () => (await su.query(`SELECT severity, rule, object FROM deletion.lint()
                                                    WHERE rule IN ('view_shows_deleted_rows', 'matview_shows_deleted_rows', 'definer_sees_deleted_rows')
                                                    ORDER BY rule, object`)).rows.map((r) => `${r.severity} ${r.rule} ${r.object}`);
    assert.equal(await findings(), ['warning definer_sees_deleted_rows public.rewards_report(integer,numeric)'],
      'customer_list is granted to nobody yet; rewards_report (SECURITY DEFINER, executable by PUBLIC) reads customer as its owner');

    await su.query('GRANT SELECT ON public.customer_list TO ' + suite.roles!.app.name);
    assert.equal(await findings(), ['warning definer_sees_deleted_rows public.rewards_report(integer,numeric)', 'error view_shows_deleted_rows public.customer_list'],
      'granted to the application, the view runs as its owner postgres, whom row-level security does not bind');
    const problem = (await one(su, `SELECT problem FROM deletion.lint() WHERE rule = 'view_shows_deleted_rows'`)).problem;
    assert.match(problem, 'reads soft-delete table public.customer with the rights of postgres');

    // The hazard is real: the app soft-deletes a customer and still finds it through the view.
    await app.query('DELETE FROM public.customer WHERE customer_id = 1');
    assert.is(await count(app, 'SELECT count(*) FROM public.customer WHERE customer_id = 1'), 0, 'hidden in the table');
    assert.is(await count(app, 'SELECT count(*) FROM public.customer_list WHERE id = 1'), 1, 'shown by the view');

    await migration(su, 'ALTER VIEW public.customer_list SET (security_invoker = true);');
    assert.equal(await findings(), ['warning definer_sees_deleted_rows public.rewards_report(integer,numeric)'], 'the fix lint gives clears the finding');
    assert.is(await count(app, 'SELECT count(*) FROM public.customer_list WHERE id = 1'), 0, 'and the view now hides the deleted customer');
    assert.is(await count(app, 'SELECT count(*) FROM public.customer_list'), 598, 'showing the other 598');
  });
});

const CUSTOMER_ROWS = 'SELECT * FROM public.customer WHERE customer_id = 1';
const CUSTOMER_RENTALS = 'SELECT * FROM public.rental WHERE customer_id = 1';

it('soft delete on Pagila: a customer\'s RESTRICT rentals do not cascade (the customer alone is marked, its rentals stay visible); restored by an admin, with Pagila\'s last_updated trigger run by the engine', async () => {
  await onCopy(async ({ su, app, admin }) => {
    await migration(su, `SELECT deletion.enable_soft_delete('public.customer');`);
    const before = await images(su, CUSTOMER_ROWS);
    const rentalsBefore = await images(su, CUSTOMER_RENTALS);
    const countsBefore = await rowCounts(su);

    await app.query('BEGIN');
    const deleted = await app.query('DELETE FROM public.customer WHERE customer_id = 1');
    const op = (await one(app, `SELECT current_setting('deletion.soft_delete_op') AS op`)).op;
    const deletedAt = (await one(app, 'SELECT now() AS t')).t;
    await app.query('COMMIT');
    assert.is(deleted.rowCount, 0, 'the DELETE is a soft delete, not a RESTRICT error: nothing was removed, so nothing is restricted');
    assert.is(await count(app, 'SELECT count(*) FROM public.customer WHERE customer_id = 1'), 0, 'the app no longer sees the customer');
    assert.is(await count(app, 'SELECT count(*) FROM public.customer'), 598);
    assert.is(await count(app, 'SELECT count(*) FROM public.rental WHERE customer_id = 1'), 32, 'RESTRICT is no cascade: its 32 rentals stay visible');
    assert.equal(countChanges(countsBefore, await rowCounts(su)), {}, 'no row left any table');
    const marked = await one(su, 'SELECT deleted_at, last_update FROM public.customer WHERE customer_id = 1');
    assert.equal([marked.deleted_at, marked.last_update], [deletedAt, deletedAt],
      'Pagila\'s own last_updated trigger ran on the engine\'s UPDATE that marked the row');
    assert.equal(await one(admin, 'SELECT rows_per_table FROM deletion.soft_delete_operations WHERE op = $1', [op]), { rows_per_table: { 'public.customer': 1 } });

    await admin.query('BEGIN');
    const restoredAt = (await one(admin, 'SELECT now() AS t')).t;
    assert.is(Number((await one(admin, 'SELECT deletion.restore($1::uuid) AS n', [op])).n), 1, 'the admin restores the operation');
    await admin.query('COMMIT');
    const after = await images(su, CUSTOMER_ROWS);
    assert.equal(without(after, 'last_update'), without(before, 'last_update'), 'the customer is back exactly, marks cleared');
    assert.equal((await one(su, 'SELECT last_update FROM public.customer WHERE customer_id = 1')).last_update, restoredAt,
      'but for last_update: Pagila\'s trigger stamped the restore too (run as the engine\'s role, without a permission error)');
    assert.equal(await images(su, CUSTOMER_RENTALS), rentalsBefore, 'its rentals were never touched');
    assert.is(await count(app, 'SELECT count(*) FROM public.customer'), 599, 'the app sees it again');
  });
});

const ACTOR_ROWS = 'SELECT * FROM public.actor WHERE actor_id = 107';
const ACTOR_CREDITS = 'SELECT * FROM public.film_actor WHERE actor_id = 107';

it('soft delete on Pagila after a migration makes film_actor CASCADE: deletion.soft_delete of an actor takes its 42 composite-key credits; restore brings all back', async () => {
  await onCopy(async ({ su, app, admin }) => {
    await migration(su, `${CREDITS_CASCADE}
      SELECT deletion.enable_soft_delete('public.actor'), deletion.enable_soft_delete('public.film_actor');`);
    const before = [await images(su, ACTOR_ROWS), await images(su, ACTOR_CREDITS)];

    const op = (await one(app, `SELECT deletion.soft_delete('public.actor', '107', 'left the catalogue') AS op`)).op;
    assert.is(await count(app, 'SELECT count(*) FROM public.actor WHERE actor_id = 107'), 0);
    assert.is(await count(app, 'SELECT count(*) FROM public.film_actor WHERE actor_id = 107'), 0, 'the credits are hidden too');
    assert.is(await count(app, 'SELECT count(*) FROM public.film_actor'), 5462 - 42, 'and no other');
    assert.equal(await one(admin, 'SELECT rows_per_table, deletion_reason FROM deletion.soft_delete_operations WHERE op = $1', [op]),
      { rows_per_table: { 'public.actor': 1, 'public.film_actor': 42 }, deletion_reason: 'left the catalogue' });

    assert.is(Number((await one(admin, 'SELECT deletion.restore($1::uuid) AS n', [op])).n), 43);
    const after = [await images(su, ACTOR_ROWS), await images(su, ACTOR_CREDITS)];
    assert.equal(after.map((rows) => without(rows, 'last_update')), before.map((rows) => without(rows, 'last_update')),
      'the actor and each credit are back exactly, but for last_update, which Pagila\'s trigger stamps on every UPDATE (the engine\'s included)');
    assert.is(await count(app, 'SELECT count(*) FROM public.film_actor'), 5462);
  });
});

const FILM_TREE = [
  'SELECT * FROM public.film WHERE film_id = 87',
  'SELECT * FROM public.film_actor WHERE film_id = 87',
  'SELECT * FROM public.film_category WHERE film_id = 87',
];

it('audit on Pagila: an admin\'s hard delete of a film with its credits and category (keys made CASCADE) is put back exactly by audit.restore_deleted, Pagila\'s fulltext trigger running on the restored rows', async () => {
  await onCopy(async ({ su, admin }) => {
    await migration(su, `${CREDITS_CASCADE} SELECT 1;`);
    assert.equal(await registerTables(su), TABLES);
    const before = [];
    for (const q of FILM_TREE) before.push(await images(su, q));
    assert.equal(before.map((b) => b.length), [1, 13, 1], 'film 87 (no copy in stock), its 13 actors and its category');
    const countsBefore = await rowCounts(su);

    const deleted = await admin.query('DELETE FROM public.film WHERE film_id = 87');
    assert.is(deleted.rowCount, 1);
    assert.equal(countChanges(countsBefore, await rowCounts(su)), { 'public.film': -1, 'public.film_actor': -13, 'public.film_category': -1 });

    const restored = (await admin.query(`SELECT kind, table_name, rows::int FROM audit.restore_deleted('public.film', '87') ORDER BY table_name`)).rows;
    assert.equal(restored, [
      { kind: 'insert', table_name: 'public.film', rows: 1 },
      { kind: 'insert', table_name: 'public.film_actor', rows: 13 },
      { kind: 'insert', table_name: 'public.film_category', rows: 1 },
    ]);
    const after = [];
    for (const q of FILM_TREE) after.push(await images(su, q));
    assert.equal(after, before, 'every row exactly as it was: an enum, a domain, a text[] and a tsvector included');
    assert.equal(await rowCounts(su), countsBefore);
  });
});

it('plan on Pagila equals the delete: RESTRICT and NO ACTION keys block, a composite-key child cascades once the team decides it', async () => {
  await onCopy(async ({ su }) => {
    await registerTables(su);
    await su.query(readFileSync(PLAN_MATCHES_DELETE, 'utf8'));
    const plan = (table: string, key: string) => planLines(su, table, key);
    const mismatches = async (table: string, key: string) =>
      (await su.query(`SELECT * FROM pg_temp.plan_vs_delete($1, $2) WHERE planned <> actual`, [table, key])).rows;
    const counts = await rowCounts(su);

    assert.equal(await plan('public.language', '1'), ['0 public.language delete 1', '1 public.film blocked by restrict 1000 film_language_id_fkey'],
      'English: its 1,000 films block');
    assert.equal(await plan('public.language', '2'), ['0 public.language delete 1'], 'a language no film uses: one row');
    assert.equal(await plan('public.actor', '107'), ['0 public.actor delete 1', '1 public.film_actor blocked by restrict 42 film_actor_actor_id_fkey']);
    assert.equal(await plan('public.store', '2'), ['0 public.store delete 1', '1 public.customer blocked by restrict 273 customer_store_id_fkey',
      '1 public.inventory blocked by restrict 2311 inventory_store_id_fkey', '1 public.staff blocked by restrict 1 staff_store_id_fkey'],
      'a store: its customers and inventory (RESTRICT) and its staff (the NO ACTION key) block');
    for (const [table, key] of [['public.language', '1'], ['public.language', '2'], ['public.actor', '107'], ['public.film', '87'],
      ['public.country', '1'], ['public.store', '2'], ['public.category', '1']]) {
      assert.equal(await mismatches(table, key), [], `deleting ${table} ${key} does what its plan says`);
    }

    await migration(su, CREDITS_CASCADE);
    assert.equal(await plan('public.actor', '107'), ['0 public.actor delete 1', '1 public.film_actor delete 42 film_actor_actor_id_fkey']);
    assert.equal(await plan('public.film', '87'), ['0 public.film delete 1', '1 public.film_actor delete 13 film_actor_film_id_fkey',
      '1 public.film_category delete 1 film_category_film_id_fkey']);
    const inStock = await plan('public.film', '1');
    assert.ok(inStock.some((l) => /^1 public\.inventory blocked by restrict \d+ inventory_film_id_fkey$/.test(l)), `a film in stock is still blocked: ${inStock.join('; ')}`);
    for (const [table, key] of [['public.actor', '107'], ['public.film', '87'], ['public.film', '1'], ['public.category', '1']]) {
      assert.equal(await mismatches(table, key), [], `deleting ${table} ${key} does what its plan says`);
    }
    assert.equal(await rowCounts(su), counts, 'planning and the measured (rolled back) deletes changed nothing');
  });
});

it('a deletion job on Pagila done exactly: an actor with 42 credits and a film with its credits and category, in many small chunks; exactly the planned rows go', async () => {
  await onCopy(async ({ su, admin }) => {
    await migration(su, CREDITS_CASCADE);
    await registerTables(su);

    for (const [table, key, maxRows, expected] of [
      ['public.actor', '107', 5, { 'public.actor': -1, 'public.film_actor': -42 }],
      ['public.film', '87', 3, { 'public.film': -1, 'public.film_actor': -13, 'public.film_category': -1 }],
    ] as const) {
      const planned = await planLines(admin, table, key);
      assert.equal(Object.fromEntries(planned.map((l) => l.split(' ')).map(([, t, , rows]) => [t, -Number(rows)])), expected, `the plan of ${table} ${key}`);
      const before = await rowCounts(su);
      const job = Number((await one(admin, `SELECT deletion.schedule($1, $2, hard => true, reason => 'sample job') AS id`, [table, key])).id);
      const chunks = await workJob(admin, job, maxRows);
      assert.is(chunks.at(-1)!.status, 'done');
      const total = -Object.values(expected).reduce((a, b) => a + b, 0);
      assert.ok(chunks.length > total / maxRows, `${table} ${key} in ${chunks.length} chunks of at most ${maxRows} rows`);
      assert.ok(chunks.every((ch) => Number(ch.deleted) <= maxRows));
      assert.equal(countChanges(before, await rowCounts(su)), expected, 'exactly the planned rows are gone, and nothing else, partitions included');
      assert.equal(await one(su, 'SELECT status, rows_deleted::int FROM deletion.deletion_jobs WHERE id = $1', [job]), { status: 'done', rows_deleted: total });
    }
    assert.is(await count(su, 'SELECT count(*) FROM public.film_actor WHERE actor_id = 107 OR film_id = 87'), 0, 'the rows gone are the actor\'s and the film\'s');
  });
});

it('clients on Pagila: a customer soft-deleted by UPDATE reports 1 row and comes back in RETURNING, a plain DELETE is refused (PD104), an upsert on a unique email works with the email of a deleted customer, and deletion_restorer restores by UPDATE', async () => {
  await onCopy(async ({ su, app }) => {
    // The team's migration: customer.email unique, soft delete with the client-friendly options.
    await migration(su, `ALTER TABLE public.customer ADD CONSTRAINT customer_email_key UNIQUE (email);
      SELECT deletion.register_table('public.customer');
      UPDATE deletion.table_policies SET plain_delete = 'refuse', unique_keys = 'step_aside' WHERE table_schema = 'public' AND table_name = 'customer';
      SELECT deletion.enable_soft_delete('public.customer');
      GRANT SELECT, INSERT, UPDATE ON public.customer TO deletion_app;
      GRANT USAGE ON SEQUENCE public.customer_customer_id_seq TO deletion_app;
      GRANT deletion_restorer TO ${suite.roles!.app.name};`);
    const email = (await one(su, 'SELECT email FROM public.customer WHERE customer_id = 2')).email as string;
    const rentals = await count(su, 'SELECT count(*) FROM public.rental WHERE customer_id = 2');

    const softDeleted = await app.query('UPDATE public.customer SET deleted_at = now() WHERE customer_id = 2 RETURNING customer_id, deleted_at');
    assert.is(softDeleted.rowCount, 1, 'UPDATE ... SET deleted_at reports the row (rentals RESTRICT-reference it: it stays in place)');
    assert.is(softDeleted.rows[0].customer_id, 2, 'and RETURNING returns it to the application role');
    assert.is(await count(app, 'SELECT count(*) FROM public.customer WHERE customer_id = 2'), 0, 'then it is hidden');
    assert.is(await count(su, 'SELECT count(*) FROM public.rental WHERE customer_id = 2'), rentals, 'its rentals are untouched');
    await app.query('BEGIN');
    const refused = await app.query('DELETE FROM public.customer WHERE customer_id = 3').then(() => 'deleted', (e) => `${e.code} ${e.hint}`);
    await app.query('ROLLBACK');
    assert.match(refused, /^PD104 soft-delete with UPDATE public\.customer SET deleted_at = now\(\)/, 'a plain DELETE is refused with the way to soft-delete');

    const upsert = `INSERT INTO public.customer (store_id, first_name, last_name, email, address_id, activebool, create_date, active)
                    VALUES (1, 'New', 'Customer', $1, 5, true, now(), 1)
                    ON CONFLICT (email) DO UPDATE SET first_name = excluded.first_name RETURNING customer_id`;
    const taken = await app.query(upsert, [email]);
    assert.is(taken.rowCount, 1, 'an upsert on the email only the deleted customer holds inserts a new customer');
    assert.ok(taken.rows[0].customer_id !== 2, 'a new row, not the deleted one');
    const again = await app.query(upsert.replace('ON CONFLICT (email)', 'ON CONFLICT ON CONSTRAINT customer_email_key'), [email]);
    assert.is(again.rows[0].customer_id, taken.rows[0].customer_id, 'ON CONFLICT ON CONSTRAINT customer_email_key updates the active one');

    await app.query('BEGIN');
    await app.query('SET LOCAL ROLE deletion_restorer');
    assert.is(await count(app, 'SELECT count(*) FROM public.customer WHERE customer_id = 2'), 1, 'acting as deletion_restorer the app sees the deleted customer');
    const blocked = await app.query('UPDATE public.customer SET deleted_at = NULL WHERE customer_id = 2').then(() => 'restored', (e) => e.code);
    await app.query('ROLLBACK');
    assert.is(blocked, 'PD110', 'restoring it while a new customer holds its email is refused');
    await su.query('UPDATE public.customer SET email = $1 WHERE customer_id = $2', [`moved.${email}`, taken.rows[0].customer_id]);
    await app.query('BEGIN');
    await app.query('SET LOCAL ROLE deletion_restorer');
    const restored = await app.query('UPDATE public.customer SET deleted_at = NULL WHERE customer_id = 2');
    await app.query('COMMIT');
    assert.is(restored.rowCount, 1, 'once the email is free, the restore by UPDATE reports its row');
    assert.is((await one(app, 'SELECT email FROM public.customer WHERE customer_id = 2')).email, email, 'with the original email back');
  });
});

test.run();

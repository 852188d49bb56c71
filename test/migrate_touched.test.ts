// After a product's own migrations, when the engine itself did not change, migrate rewires only the
// registered tables those migrations touched (deletion.touched_tables: the tables the transaction
// locked above a read's lock, the registry rows it wrote, and the registered tables linked to either
// by a foreign key), so the locks a migration took (enable_soft_delete's ACCESS EXCLUSIVE) are not
// held while every other table's wiring is re-derived. A run that a lock timeout undid is run again.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { migrateUp } from '../src/migrate.ts';
import { client, freshDatabase } from './helpers.ts';

function migration(dir: string, name: string, up: string) {
  writeFileSync(path.join(dir, `${name}.sql`), `-- Up Migration\n${up}\n-- Down Migration\n`);
}

const hasTrigger = async (c: import('pg').Client, table: string, name: string) =>
  (await c.query(`SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = $1::regclass AND tgname = $2`, [table, name])).rows[0].n === 1;

test('a product migration rewires only what it touched: the table it enabled, a registry row it wrote, a table it gave a foreign key', async () => {
  const db = await freshDatabase({ empty: true });
  const c = await client(db.url);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'touched-'));
  try {
    await migrateUp(c);
    await c.query(`CREATE TABLE public.accounts (id int PRIMARY KEY, name text);
                   CREATE TABLE public.notes (id int PRIMARY KEY, account_id int, body text);
                   CREATE TABLE public.untouched (id int PRIMARY KEY, body text);
                   CREATE TABLE public.later (id int PRIMARY KEY, body text);
                   SELECT deletion.enable_soft_delete('public.accounts'), deletion.register_table('public.notes'),
                          deletion.enable_soft_delete('public.untouched');`);
    const wires = (await c.query(`SELECT count(*)::int AS n FROM deletion.wire_functions()`)).rows[0].n;
    // A wiring only a full rewire would put back: untouched loses a trigger behind the engine's back.
    await c.query(`DROP TRIGGER deletion_20_soft_delete_flush ON public.untouched`);

    migration(dir, '0001_enable_later', `SELECT deletion.enable_soft_delete('public.later');`);
    const first = await migrateUp(c, { appDir: dir });
    assert.equal(first.appMigrations, ['0001_enable_later']);
    assert.is(first.rewired, wires, 'one table rewired (every concern once), not all four');
    assert.not.ok(await hasTrigger(c, 'public.untouched', 'deletion_20_soft_delete_flush'), 'a table the migration did not touch was not rewired');

    // A registry row written directly (no lock on the table itself): its table is rewired.
    migration(dir, '0002_registry', `UPDATE deletion.table_policies SET delete_becomes_soft = false WHERE table_schema = 'public' AND table_name = 'accounts';`);
    assert.ok(await hasTrigger(c, 'public.accounts', 'deletion_20_soft_delete'));
    const second = await migrateUp(c, { appDir: dir });
    assert.not.ok(await hasTrigger(c, 'public.accounts', 'deletion_20_soft_delete'), 'the registry change reached the wiring: a plain DELETE is no longer soft');
    assert.ok(second.rewired >= wires && second.rewired < 4 * wires, `the written row's table (and those linked to it), not every table: ${second.rewired}`);

    // A foreign key added by the product: the referencing registered table gets its live-parent check.
    migration(dir, '0003_key', `ALTER TABLE public.notes ADD CONSTRAINT notes_account_fk FOREIGN KEY (account_id) REFERENCES public.accounts (id);`);
    assert.not.ok(await hasTrigger(c, 'public.notes', 'deletion_05_live_parent'));
    await migrateUp(c, { appDir: dir });
    assert.ok(await hasTrigger(c, 'public.notes', 'deletion_05_live_parent'), 'the new key to a soft-delete table is checked against live parents');
    assert.not.ok(await hasTrigger(c, 'public.untouched', 'deletion_20_soft_delete_flush'), 'still not rewired');

    // touched_tables, read inside a transaction: what it locked above ACCESS SHARE, a partition as its parent.
    await c.query('BEGIN');
    await c.query('SELECT count(*) FROM public.untouched');
    await c.query('LOCK TABLE public.later IN SHARE ROW EXCLUSIVE MODE');
    const touched = (await c.query(`SELECT t::text AS t FROM deletion.touched_tables() t ORDER BY 1`)).rows.map((r) => r.t);
    await c.query('ROLLBACK');
    assert.equal(touched, ['later'], 'a read is no touch; a lock for DDL is');

    // A registry row written after the transaction's snapshot was taken (REPEATABLE READ: the
    // snapshot's xmax lies below the transaction's own id) and inside a subtransaction (its own id).
    await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await c.query('SELECT count(*) FROM public.untouched');
    await c.query('SAVEPOINT registry');
    await c.query(`UPDATE deletion.table_policies SET description = 'notes' WHERE table_schema = 'public' AND table_name = 'notes'`);
    await c.query('RELEASE SAVEPOINT registry');
    const written = await c.query(`SELECT t::text AS t FROM deletion.touched_tables() t ORDER BY 1`).then((r) => r.rows.map((x) => x.t), (e) => e);
    await c.query('ROLLBACK');
    assert.ok(Array.isArray(written), `touched_tables reads it without error: ${written}`);
    assert.ok(written.includes('notes'), `the table whose row a subtransaction wrote after the snapshot: ${written}`);

    // A change to the engine's code rewires every table again, and puts back what was lost.
    await c.query(`DELETE FROM deletion_kit.sql_modules WHERE name = '34_monitoring.sql'`);
    const full = await migrateUp(c, { appDir: dir });
    assert.is(full.rewired, 4 * wires, 'every registered table');
    assert.ok(await hasTrigger(c, 'public.untouched', 'deletion_20_soft_delete_flush'), 'the full rewire put the lost trigger back');
    assert.equal((await c.query(`SELECT count(*)::int AS n FROM deletion.wiring_differences()`)).rows[0].n, 0, 'every table wired as its registry row says');
  } finally {
    await c.end();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a product migration that times out on a lock (its own SET LOCAL lock_timeout) is run again, whole, once the reader is gone', async () => {
  const db = await freshDatabase({ empty: true });
  const c = await client(db.url);
  const reader = await client(db.url);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'touched-'));
  try {
    await migrateUp(c);
    await c.query(`CREATE TABLE public.busy (id int PRIMARY KEY, body text)`);
    migration(dir, '0001_enable_busy', `SET LOCAL lock_timeout = '50ms';\nSELECT deletion.enable_soft_delete('public.busy');`);
    await reader.query(`BEGIN; SELECT count(*) FROM public.busy;`);
    const migrating = migrateUp(c, { appDir: dir });
    await new Promise((r) => setTimeout(r, 700));
    const meanwhile = (await reader.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)).rows[0].n;
    await reader.query('COMMIT');
    const result = await migrating;
    assert.equal(result.appMigrations, ['0001_enable_busy'], 'applied, after the reader ended');
    assert.ok(meanwhile <= 1, 'while the reader held the table, at most the migration itself waited (in short attempts)');
    assert.is((await c.query(`SELECT count(*)::int AS n FROM deletion_kit.app_migrations`)).rows[0].n, 1, 'recorded once');
    assert.ok(await hasTrigger(c, 'public.busy', 'deletion_20_soft_delete_flush'), 'and the table is wired');
  } finally {
    await reader.end();
    await c.end();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();

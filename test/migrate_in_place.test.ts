// migrate replaces the engine's code in place when it can: a changed module's functions are
// replaced (CREATE OR REPLACE) and nothing is dropped with CASCADE (a view a user built on an engine
// view survives, as the triggers of the registered tables would); a function taken out of sql/ is
// dropped, and so is a grant taken out of a module. A
// change that cannot be made in place (a return type) falls back to the rebuild. The rewiring
// waits for a long reader in short attempts (deletion.rewire_with_retries) and gives up whole.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { migrateUp, SQL_DIR } from '../src/migrate.ts';
import { client, freshDatabase } from './helpers.ts';

test('a changed module replaces code in place; stale functions and grants go; a new return type rebuilds', async () => {
  const db = await freshDatabase({ empty: true });
  const c = await client(db.url);
  const sqlDir = mkdtempSync(path.join(os.tmpdir(), 'sql-'));
  try {
    cpSync(SQL_DIR, sqlDir, { recursive: true });
    await migrateUp(c, { sqlDir });
    await c.query(`CREATE TABLE public.notes (id int PRIMARY KEY, body text);
                   SELECT deletion.enable_soft_delete('public.notes');`);
    // Dropped by a rebuild (CASCADE from the engine view it reads), kept by a replacement in place.
    await c.query(`CREATE VIEW public.my_trash AS SELECT * FROM deletion.vw_trash`);
    const kept = async () => (await c.query(`SELECT to_regclass('public.my_trash') IS NOT NULL AS ok`)).rows[0].ok;
    // The soft-delete walk the wiring generated for notes is no module's function: replacing the code keeps it.
    const walk = async () => (await c.query(`SELECT deletion.soft_delete_walk_of('public.notes')::oid::int AS oid`)).rows[0].oid;
    const walkBefore = await walk();
    assert.ok(walkBefore, 'the wiring generated a walk for notes');

    const module = path.join(sqlDir, '34_monitoring.sql');
    writeFileSync(module, readFileSync(module, 'utf8') + `
CREATE OR REPLACE FUNCTION deletion.in_place_probe() RETURNS integer LANGUAGE sql SET search_path = pg_catalog AS $$ SELECT 1 $$;
GRANT EXECUTE ON FUNCTION deletion.in_place_probe() TO deletion_app;
`);
    const changed = await migrateUp(c, { sqlDir });
    assert.equal(changed.modules.filter((m) => m.changed).map((m) => m.name), ['34_monitoring.sql'], 'one module changed');
    assert.ok(await kept(), 'nothing was dropped with CASCADE: the view built on an engine view is still there');
    assert.is(await walk(), walkBefore, 'the generated walk is kept, the same function');
    const probe = async () => (await c.query(`SELECT to_regprocedure('deletion.in_place_probe()') IS NOT NULL AS exists,
                                                     has_function_privilege('deletion_app', 'deletion.in_place_probe()', 'EXECUTE') AS granted
                                                WHERE to_regprocedure('deletion.in_place_probe()') IS NOT NULL
                                              UNION ALL SELECT false, false WHERE to_regprocedure('deletion.in_place_probe()') IS NULL`)).rows[0];
    assert.equal(await probe(), { exists: true, granted: true }, 'the new function is there, granted');

    writeFileSync(module, readFileSync(module, 'utf8').replace('GRANT EXECUTE ON FUNCTION deletion.in_place_probe() TO deletion_app;', ''));
    await migrateUp(c, { sqlDir });
    assert.equal(await probe(), { exists: true, granted: false }, 'a grant taken out of the module is gone');
    assert.ok(await kept(), 'still in place');

    writeFileSync(module, readFileSync(module, 'utf8').replace(/CREATE OR REPLACE FUNCTION deletion.in_place_probe\(\)[^\n]*\n/, ''));
    await migrateUp(c, { sqlDir });
    assert.equal(await probe(), { exists: false, granted: false }, 'a function taken out of sql/ is dropped');

    writeFileSync(module, readFileSync(module, 'utf8') + `
CREATE OR REPLACE FUNCTION deletion.in_place_probe() RETURNS integer LANGUAGE sql SET search_path = pg_catalog AS $$ SELECT 1 $$;
`);
    await migrateUp(c, { sqlDir });
    writeFileSync(module, readFileSync(module, 'utf8').replace('deletion.in_place_probe() RETURNS integer', 'deletion.in_place_probe() RETURNS text')
      .replace('$$ SELECT 1 $$', () => `$$ SELECT 'one' $$`));
    await migrateUp(c, { sqlDir });
    assert.is((await c.query(`SELECT deletion.in_place_probe() AS v`)).rows[0].v, 'one', 'a new return type is applied by the rebuild');
    assert.not.ok(await kept(), 'which dropped the engine code with CASCADE (and the view built on it)');
    assert.equal((await c.query(`SELECT count(*)::int AS n FROM deletion.wiring_differences()`)).rows[0].n, 0, 'and left every table wired');
  } finally {
    await c.end();
    await db.drop();
    rmSync(sqlDir, { recursive: true, force: true });
  }
});

test('rewire takes no lock on a table wired as it should be; with something to change, it waits for a reader in short attempts and gives up whole when it lasts too long', async () => {
  const db = await freshDatabase({ empty: true });
  const c = await client(db.url);
  const reader = await client(db.url);
  try {
    await migrateUp(c);
    await c.query(`CREATE TABLE public.notes (id int PRIMARY KEY, body text); SELECT deletion.enable_soft_delete('public.notes');`);
    await reader.query(`BEGIN; LOCK TABLE public.notes IN ACCESS EXCLUSIVE MODE;`);
    assert.ok((await c.query(`SELECT deletion.rewire_with_retries('20 milliseconds', '300 milliseconds') AS n`)).rows[0].n > 0,
              'rewiring a table whose wiring is in place takes no lock on it: it passes even an ACCESS EXCLUSIVE holder');
    await reader.query('ROLLBACK');

    // Its policy missing: now the rewiring must take ACCESS EXCLUSIVE (CREATE POLICY), which a reader blocks.
    await c.query(`DROP POLICY deletion_20_soft_delete_hide ON public.notes`);
    await reader.query(`BEGIN; SELECT count(*) FROM public.notes;`);
    const gaveUp = await c.query(`SELECT deletion.rewire_with_retries('20 milliseconds', '300 milliseconds')`).then(() => null, (e) => e);
    assert.is(gaveUp?.code, '55P03', 'behind a reader that stays, it gives up (lock_not_available)');
    assert.match(gaveUp.hint, /long transaction/);
    assert.is((await c.query(`SHOW lock_timeout`)).rows[0].lock_timeout, '0', 'and leaves lock_timeout as it was');

    const rewiring = c.query(`SELECT deletion.rewire_with_retries('20 milliseconds', '1 minute') AS n`);
    await new Promise((r) => setTimeout(r, 300));
    const waiting = await reader.query(`SELECT count(*)::int AS n FROM pg_locks WHERE relation = 'public.notes'::regclass AND NOT granted`);
    assert.ok(waiting.rows[0].n <= 1, 'while it retries, at most its own current attempt waits for the table');
    await reader.query('COMMIT');
    assert.ok((await rewiring).rows[0].n > 0, 'once the reader is gone, it wires');
    assert.is((await c.query(`SELECT count(*)::int AS n FROM pg_policy WHERE polrelid = 'public.notes'::regclass AND polname = 'deletion_20_soft_delete_hide'`)).rows[0].n, 1,
              'and the missing policy is back');
  } finally {
    await reader.end().catch(() => {});
    await c.end();
    await db.drop();
  }
});

test('enable_soft_delete on a large table leaves its index builds to migrate, which runs them CONCURRENTLY after its transaction', async () => {
  const db = await freshDatabase({ empty: true });
  const c = await client(db.url);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'large-'));
  try {
    await migrateUp(c);
    await c.query(`CREATE TABLE public.big (id bigint PRIMARY KEY, body text);
                   INSERT INTO public.big SELECT n, repeat('x', 200) FROM generate_series(1, 60000) n;`);
    writeFileSync(path.join(dir, '0001_soft.sql'), `-- Up Migration\nSELECT deletion.enable_soft_delete('public.big');\n-- Down Migration\n`);
    const result = await migrateUp(c, { appDir: dir });
    assert.equal(result.appMigrations, ['0001_soft']);
    assert.equal(result.concurrent?.map((s) => /^CREATE INDEX CONCURRENTLY IF NOT EXISTS (\S+) ON public\.big /.exec(s)?.[1]).sort(),
                 ['big_active_idx', 'big_deleted_at_idx', 'big_deletion_op_idx'], 'the three soft-delete indexes were built after the transaction, concurrently');
    const { rows } = await c.query(`SELECT count(*)::int AS n, bool_and(i.indisvalid) AS valid FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                                     WHERE i.indrelid = 'public.big'::regclass AND ic.relname LIKE 'big\\_%idx'`);
    assert.equal(rows[0], { n: 3, valid: true }, 'and are valid');
    assert.is((await c.query(`SELECT count(*)::int AS n FROM deletion.deferred_index_builds`)).rows[0].n, 0, 'nothing is left to build');
    assert.is((await c.query(`SELECT count(*)::int AS n FROM deletion.wiring_differences()`)).rows[0].n, 0, 'the table is wired');
    assert.equal((await migrateUp(c, { appDir: dir })).concurrent, [], 'the next migrate has nothing to build');
  } finally {
    await c.end();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();

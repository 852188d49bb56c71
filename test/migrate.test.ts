// deletion-kit migrate: up on an empty database, down to empty with nothing left behind, up again;
// a failing migration or SQL module leaves the database exactly as it was; the CLI's messages.
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MIGRATIONS_DIR, migrateDown, migrateUp, migrationStatus, SQL_DIR } from '../src/migrate.ts';
import { catalogSnapshot, client, freshDatabase } from './helpers.ts';

const run = promisify(execFile);
const CLI = path.resolve('bin/deletion-kit.js');

test('migrations go up on an empty database, down to empty leaving nothing behind, and up again', async () => {
  const db = await freshDatabase({ empty: true });
  const c = await client(db.url);
  try {
    const empty = await catalogSnapshot(c);
    const first = await migrateUp(c);
    assert.ok(first.migrations.length >= 2, 'every migration applied');
    assert.ok(first.modules.length >= 1, 'the sql modules applied');
    const migrated = await catalogSnapshot(c);
    assert.not.equal(migrated, empty);

    const again = await migrateUp(c);
    assert.equal(again.migrations, [], 'a second migrate has nothing to do');
    assert.equal(again.modules, [], 'and re-applies no module');

    const down = await migrateDown(c, first.migrations.length);
    assert.equal(down.migrations, [...first.migrations].reverse(), 'reverted newest first');
    assert.equal(await catalogSnapshot(c), empty, 'the catalog is as it was before the first migration');
    assert.equal((await migrationStatus(c)).applied, []);

    await migrateUp(c);
    assert.equal(await catalogSnapshot(c), migrated, 'up again gives the same catalog');
  } finally {
    await c.end();
    await db.drop();
  }
});

test('migrate down one step then up again restores the same catalog', async () => {
  const db = await freshDatabase({ empty: true });
  const c = await client(db.url);
  try {
    await migrateUp(c);
    const migrated = await catalogSnapshot(c);
    const down = await migrateDown(c, 1);
    assert.is(down.migrations.length, 1);
    const status = await migrationStatus(c);
    assert.equal(status.pending, down.migrations);
    await migrateUp(c);
    assert.equal(await catalogSnapshot(c), migrated);
  } finally {
    await c.end();
    await db.drop();
  }
});

test('migrate down one step at a time to below 0040 rebuilds the engine at each step, equals a database never past 0030, and goes up again', async () => {
  const db = await freshDatabase({ empty: true });
  const fresh = await freshDatabase({ empty: true });
  const c = await client(db.url);
  const f = await client(fresh.url);
  try {
    const first = await migrateUp(c);
    const migrated = await catalogSnapshot(c);
    const jobsAndLater = first.migrations.filter((name) => name >= '0040');
    assert.ok(jobsAndLater.length >= 3, 'the jobs migrations and those after them are applied');
    for (const name of [...jobsAndLater].reverse()) {
      const down = await migrateDown(c, 1);
      assert.equal(down.migrations, [name], `reverted ${name}`);
      assert.ok(down.modules.length > 0, `the engine is rebuilt on what is left after reverting ${name}`);
    }
    const { rows } = await c.query(`SELECT to_regclass('deletion.deletion_jobs') IS NULL AS no_table,
                                           to_regprocedure('deletion.schedule(regclass, text, timestamptz, boolean, text, text, interval)') IS NULL AS no_api,
                                           to_regclass('deletion.vw_deletion_jobs') IS NULL AS no_view,
                                           to_regprocedure('deletion.soft_delete(regclass, text, text)') IS NOT NULL AS soft_delete`);
    assert.equal(rows[0], { no_table: true, no_api: true, no_view: true, soft_delete: true },
      'below 0040 the jobs table, API and views are gone; the rest of the engine is there');

    // The same migrations applied directly, never past 0030, give the same catalog.
    const root = mkdtempSync(path.join(os.tmpdir(), 'dk-below-0040-'));
    mkdirSync(path.join(root, 'migrations'));
    for (const name of readdirSync(MIGRATIONS_DIR).filter((n) => n < '0040')) {
      cpSync(path.join(MIGRATIONS_DIR, name), path.join(root, 'migrations', name));
    }
    await migrateUp(f, { migrationsDir: path.join(root, 'migrations') });
    assert.equal(await catalogSnapshot(c), await catalogSnapshot(f), 'the catalog below 0040 is that of a database never migrated past 0030');

    const up = await migrateUp(c);
    assert.equal(up.migrations, jobsAndLater, 'up again applies the reverted migrations');
    assert.equal(await catalogSnapshot(c), migrated, 'and gives the same catalog');
  } finally {
    await c.end();
    await f.end();
    await db.drop();
    await fresh.drop();
  }
});

function sourcesWith(file: { dir: 'migrations' | 'sql'; name: string; sql: string }) {
  const root = mkdtempSync(path.join(os.tmpdir(), 'dk-sources-'));
  const migrationsDir = path.join(root, 'migrations');
  const sqlDir = path.join(root, 'sql');
  cpSync(MIGRATIONS_DIR, migrationsDir, { recursive: true });
  cpSync(SQL_DIR, sqlDir, { recursive: true });
  writeFileSync(path.join(file.dir === 'migrations' ? migrationsDir : sqlDir, file.name), file.sql);
  return { migrationsDir, sqlDir };
}

test('a failing migration leaves the database exactly as it was, even on an empty database', async () => {
  const db = await freshDatabase({ empty: true });
  const c = await client(db.url);
  try {
    const before = await catalogSnapshot(c);
    const sources = sourcesWith({
      dir: 'migrations',
      name: '9999_broken.sql',
      sql: '-- Up Migration\nCREATE TABLE public.half_done (id int);\nSELECT no_such_function();\n-- Down Migration\nDROP TABLE public.half_done;\n',
    });
    let error: Error | undefined;
    await migrateUp(c, sources).catch((e) => (error = e));
    assert.ok(error, 'the migration failed');
    assert.match(error!.message, /no_such_function/);
    assert.equal(await catalogSnapshot(c), before, 'no table, schema or function was left behind');
    const bookkeeping = await c.query(`SELECT to_regclass('deletion_kit.migrations') IS NULL AS gone`);
    assert.ok(bookkeeping.rows[0].gone, 'not even the migrations table');
  } finally {
    await c.end();
    await db.drop();
  }
});

test('a failing SQL module rolls back the migrations applied before it in the same command', async () => {
  const db = await freshDatabase({ empty: true });
  const c = await client(db.url);
  try {
    const before = await catalogSnapshot(c);
    const sources = sourcesWith({ dir: 'sql', name: '99_broken.sql', sql: 'CREATE FUNCTION deletion.broken( RETURNS int;' });
    let error: Error | undefined;
    await migrateUp(c, sources).catch((e) => (error = e));
    assert.match(error!.message, /sql\/99_broken\.sql/, 'the error names the module');
    assert.equal(await catalogSnapshot(c), before);
  } finally {
    await c.end();
    await db.drop();
  }
});

test('CLI: migrate prints what it applied; an unreachable DATABASE_URL gives one line, password hidden, exit 1', async () => {
  const db = await freshDatabase({ empty: true });
  try {
    const { stdout } = await run(process.execPath, [CLI, 'migrate'], { env: { ...process.env, DATABASE_URL: db.url } });
    assert.match(stdout, /applied engine migration 0001_engine_base/);
    assert.match(stdout, /applied \d+ engine SQL modules/);
    const again = await run(process.execPath, [CLI, 'migrate'], { env: { ...process.env, DATABASE_URL: db.url } });
    assert.match(again.stdout, /database is up to date/);

    const bad = 'postgres://someone:s3cret-pass@127.0.0.1:1/nowhere';
    const err = await run(process.execPath, [CLI, 'migrate'], { env: { ...process.env, DATABASE_URL: bad } }).catch((e) => e);
    assert.is(err.code, 1, 'exit code 1');
    const lines = err.stderr.trim().split('\n');
    assert.is(lines.length, 1, 'one line');
    assert.match(lines[0], /cannot connect to postgres:\/\/someone:\*\*\*@127\.0\.0\.1:1\/nowhere/);
    assert.not.match(err.stderr, /s3cret-pass/, 'the password is never printed');

    const wrongPassword = new URL(db.url);
    wrongPassword.password = 'wrong';
    const err2 = await run(process.execPath, [CLI, 'migrate', 'status'], { env: { ...process.env, DATABASE_URL: wrongPassword.toString() } }).catch((e) => e);
    assert.is(err2.code, 1);
    assert.match(err2.stderr, /password authentication failed/);
    assert.not.match(err2.stderr, /:wrong@/);
  } finally {
    await db.drop();
  }
});

test.run();

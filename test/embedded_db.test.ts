// deletion-kit db start|stop|status|url and migrate on the embedded default database, as a new user
// runs them: no DATABASE_URL, data kept under DELETION_KIT_HOME (./.deletion-kit by default).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';

const exec = promisify(execFile);
const CLI = path.resolve('bin/deletion-kit.js');
const home = mkdtempSync(path.join(os.tmpdir(), 'dk-embedded-'));
const env = { ...process.env, DELETION_KIT_HOME: home, DATABASE_URL: '' };
const cli = (...args: string[]) => exec(process.execPath, [CLI, ...args], { env });

test.after(async () => {
  await cli('db', 'stop').catch(() => {});
  rmSync(home, { recursive: true, force: true });
});

test('db status before anything exists says so', async () => {
  const { stdout } = await cli('db', 'status');
  assert.match(stdout, /no embedded database yet/);
});

test('migrate creates, starts and migrates the embedded database (the engine alone); example install adds the example; a second run has nothing to do', async () => {
  const first = await cli('migrate');
  assert.match(first.stdout, /applied engine migration 0001_engine_base/);
  assert.not.match(first.stdout, /0002_product_schema/, 'the engine alone: no example table');
  const example = await cli('example', 'install');
  assert.match(example.stdout, /applied migration 0002_product_schema/);
  const second = await cli('example', 'install');
  assert.match(second.stdout, /database is up to date/);
  const { stdout } = await cli('db', 'status');
  assert.match(stdout, /embedded PostgreSQL 18 on port \d+: running/);
});

test('db url gives a URL that reaches the migrated database', async () => {
  const { stdout } = await cli('db', 'url');
  const c = new pg.Client({ connectionString: stdout.trim() });
  await c.connect();
  try {
    const { rows } = await c.query(`SELECT count(*)::int AS n FROM deletion.table_policies WHERE table_schema = 'public'`);
    assert.ok(rows[0].n >= 17, 'the product tables are registered');
  } finally {
    await c.end();
  }
});

test('db stop stops it, keeping the data; the next command starts it again', async () => {
  assert.match((await cli('db', 'stop')).stdout, /stopped/);
  assert.match((await cli('db', 'status')).stdout, /: stopped/);
  assert.match((await cli('db', 'stop')).stdout, /was not running/);
  assert.match((await cli('example', 'status')).stdout, /0002_product_schema\s+applied/);
  assert.match((await cli('db', 'status')).stdout, /: running/);
});

test('migrate down with a bad count is refused with one line and exit 1', async () => {
  const err = await cli('migrate', 'down', 'two').catch((e) => e);
  assert.is(err.code, 1);
  assert.is(err.stderr.trim(), 'deletion-kit: migrate down takes a positive whole number, not "two"');
});

test.run();

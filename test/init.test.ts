// deletion-kit init on a database of its own: the engine alone and a small product schema, then
// Chinook when the shared samples are there. init writes one migration and its .concurrent.sql (a dry
// run prints them and writes nothing); psql runs the concurrent file, `deletion-kit migrate --dir`
// applies the migration, after which lint finds no unregistered table and no unindexed foreign key;
// `migrate down 1 --dir` reverts it; a second init refuses to overwrite.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { migrateUp } from '../src/migrate.ts';
import { nextPrefix } from '../src/commands/init.ts';
import { client, freshDatabase } from './helpers.ts';

const execFileAsync = promisify(execFile);
const CLI = path.resolve('bin/deletion-kit.js');
const SAMPLES = path.resolve('..', 'shared', 'samples');
const CHINOOK = path.join(SAMPLES, 'chinook', 'chinook.sql');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI against a database; resolves with the exit code instead of throwing. */
async function cli(url: string, args: string[]): Promise<Run> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [CLI, ...args], { env: { ...process.env, DATABASE_URL: url } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

async function psqlFile(url: string, file: string) {
  return execFileAsync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', url, '-f', file]);
}

const tmpDir = () => path.join(mkdtempSync(path.join(os.tmpdir(), 'dk-init-')), 'db', 'deletion');

const PRODUCT = `
  CREATE TABLE public.users (id bigserial PRIMARY KEY, email text NOT NULL UNIQUE, password_digest text,
                             created_at timestamptz NOT NULL DEFAULT now());
  CREATE TABLE public.organizations (id bigserial PRIMARY KEY, name text NOT NULL,
                                     slug text NOT NULL CONSTRAINT organizations_slug_key UNIQUE);
  CREATE TABLE public.memberships (id bigserial PRIMARY KEY,
                                   organization_id bigint NOT NULL REFERENCES public.organizations ON DELETE CASCADE,
                                   user_id bigint NOT NULL REFERENCES public.users ON DELETE CASCADE);
  CREATE TABLE public.projects (id bigserial PRIMARY KEY,
                                organization_slug text NOT NULL REFERENCES public.organizations (slug) ON DELETE RESTRICT,
                                owner_id bigint REFERENCES public.users ON DELETE SET NULL, title text NOT NULL);
  CREATE TABLE public.tasks (id bigserial PRIMARY KEY, project_id bigint NOT NULL REFERENCES public.projects ON DELETE RESTRICT,
                             title text NOT NULL);
  CREATE INDEX tasks_project_id_idx ON public.tasks (project_id);
  INSERT INTO public.users (email, password_digest) VALUES ('ann@example.com', 'x'), ('bob@example.com', 'y');
  INSERT INTO public.organizations (name, slug) VALUES ('Acme', 'acme');
  INSERT INTO public.memberships (organization_id, user_id) SELECT 1, id FROM public.users;
  INSERT INTO public.projects (organization_slug, owner_id, title) VALUES ('acme', 1, 'launch');
  INSERT INTO public.tasks (project_id, title) VALUES (1, 'write'), (1, 'ship');`;

test('the next migration number follows the folder', () => {
  assert.is(nextPrefix([]), '0001', 'an empty folder starts at 0001');
  assert.is(nextPrefix(['0001_schema.sql', '0009_more.sql', 'README.md']), '0010', 'one more than the highest, as wide');
  assert.is(nextPrefix(['1_a.sql', '2_b.sql']), '3');
  const now = new Date('2030-01-02T03:04:05.678Z');
  assert.is(nextPrefix(['1700000000000_a.sql'], now), String(now.getTime()), 'timestamped folders get a timestamp');
  assert.is(nextPrefix(['20240101000000000_a.sql'], now), '20300102030405678', 'of the same kind');
  assert.is(nextPrefix(['99999999999999_a.sql'], now), '100000000000000', 'and never one that sorts before the last');
});

test('init on a product schema: dry run, the two files, psql, migrate, lint, down, no overwrite', async () => {
  const db = await freshDatabase({ empty: true });
  const c = await client(db.url);
  const dir = tmpDir();
  try {
    await migrateUp(c);
    await c.query(PRODUCT);

    const noDir = await cli(db.url, ['init']);
    assert.is(noDir.code, 1, 'no --dir: an error');
    assert.match(noDir.stderr, /init needs --dir <folder>/, 'that names the flag');

    const unknown = await cli(db.url, ['init', '--dir', dir, '--dry-run', '--schema', 'public', 'nowhere']);
    assert.is(unknown.code, 1, 'an unknown schema: an error');
    assert.match(unknown.stderr, /schema "nowhere" does not exist/);

    const dry = await cli(db.url, ['init', '--dir', dir, '--dry-run']);
    assert.is(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /nothing is written/);
    assert.match(dry.stdout, /-- Up Migration/, 'the dry run prints the migration');
    assert.match(dry.stdout, /CREATE INDEX CONCURRENTLY IF NOT EXISTS memberships_organization_id_idx ON public\.memberships \(organization_id\);/,
      'and the concurrent file');
    assert.not.ok(existsSync(dir), 'and writes nothing, not even the folder');

    const wrote = await cli(db.url, ['init', '--dir', dir]);
    assert.is(wrote.code, 0, wrote.stderr);
    assert.equal(readdirSync(dir).sort(), ['0001_deletion_kit_adopt.concurrent.sql', '0001_deletion_kit_adopt.sql'], 'two files');
    assert.match(wrote.stdout, new RegExp(`wrote ${path.join(dir, '0001_deletion_kit_adopt.sql').replace(/[.]/g, '\\.')}`), 'and says where');
    const migration = readFileSync(path.join(dir, '0001_deletion_kit_adopt.sql'), 'utf8');
    const concurrent = readFileSync(path.join(dir, '0001_deletion_kit_adopt.concurrent.sql'), 'utf8');
    assert.ok(dry.stdout.includes(concurrent), 'the dry run printed what init writes');
    assert.match(migration, /psql "\$DATABASE_URL" -v ON_ERROR_STOP=1 -f .*0001_deletion_kit_adopt\.concurrent\.sql/,
      'the migration says to run the concurrent file first');
    assert.match(migration, /^SELECT deletion\.enable_soft_delete\('public\.users'\); UPDATE deletion\.table_policies SET plain_delete = 'refuse', unique_keys = 'step_aside' WHERE table_schema = 'public' AND table_name = 'users'; SELECT deletion\.wire\('public\.users'\);$/m, 'users: soft delete (email), client-friendly');
    assert.match(migration, /^SELECT audit\.enable\('public\.users', ARRAY\['password_digest'\]\);$/m, 'password_digest out of the audit log');
    assert.match(migration, /^-- SELECT deletion\.enable_soft_delete\('public\.organizations'\); UPDATE /m,
      'organizations: soft delete commented out (its slug is referenced by a foreign key)');
    assert.match(migration, /PD102/, 'with the reason');
    assert.match(concurrent, /^-- Run this file BEFORE applying 0001_deletion_kit_adopt\.sql, with psql, outside a transaction:/m);
    assert.equal(concurrent.match(/^CREATE INDEX CONCURRENTLY IF NOT EXISTS .*;$/gm)?.length, 4,
      'an index for each unindexed foreign key: memberships (2), projects (2)');

    const again = await cli(db.url, ['init', '--dir', dir]);
    assert.is(again.code, 1, 'a second init refuses');
    assert.match(again.stderr, /0001_deletion_kit_adopt\.sql exists and is not applied yet/);
    assert.is(readFileSync(path.join(dir, '0001_deletion_kit_adopt.sql'), 'utf8'), migration, 'and leaves the file as it was');

    await psqlFile(db.url, path.join(dir, '0001_deletion_kit_adopt.concurrent.sql'));
    const status = await cli(db.url, ['migrate', 'status', '--dir', dir]);
    assert.match(status.stdout, /^migration +0001_deletion_kit_adopt +pending$/m);
    assert.not.match(status.stdout, /concurrent/, 'the concurrent file is not a migration');
    const up = await cli(db.url, ['migrate', '--dir', dir]);
    assert.is(up.code, 0, up.stderr);
    assert.match(up.stdout, /applied migration 0001_deletion_kit_adopt/);

    const findings = (await c.query(`SELECT rule, object FROM deletion.lint()`)).rows;
    assert.equal(findings.filter((f) => ['no_deletion_policy', 'unindexed_foreign_key'].includes(f.rule)), [],
      'lint: no unregistered table, no unindexed foreign key');
    assert.equal(findings, [], 'and nothing else either, on this schema');
    const registry = await c.query(`SELECT table_name, soft_delete, audit_exclude_columns FROM deletion.table_policies ORDER BY table_name`);
    assert.equal(registry.rows, [
      { table_name: 'memberships', soft_delete: false, audit_exclude_columns: [] },
      { table_name: 'organizations', soft_delete: false, audit_exclude_columns: [] },
      { table_name: 'projects', soft_delete: true, audit_exclude_columns: [] },
      { table_name: 'tasks', soft_delete: false, audit_exclude_columns: [] },
      { table_name: 'users', soft_delete: true, audit_exclude_columns: ['password_digest'] },
    ]);
    await c.query(`DELETE FROM public.tasks WHERE title = 'ship'`);
    assert.is((await c.query(`SELECT count(*)::int AS n FROM audit.log WHERE table_name = 'public.tasks'`)).rows[0].n, 1, 'a delete is audited');

    const down = await cli(db.url, ['migrate', 'down', '1', '--dir', dir]);
    assert.is(down.code, 0, down.stderr);
    assert.match(down.stdout, /reverted migration 0001_deletion_kit_adopt/);
    assert.is((await c.query('SELECT count(*)::int AS n FROM deletion.table_policies')).rows[0].n, 0, 'the registry is empty again');
    const wiring = await c.query(`
      SELECT t.tgname FROM pg_trigger t JOIN pg_class r ON r.oid = t.tgrelid
       WHERE r.relnamespace = 'public'::regnamespace AND t.tgname LIKE 'deletion\\_%'
      UNION ALL
      SELECT p.polname FROM pg_policy p JOIN pg_class r ON r.oid = p.polrelid WHERE r.relnamespace = 'public'::regnamespace`);
    assert.equal(wiring.rows, [], 'no engine trigger or policy is left on the tables');
    await c.query(`DELETE FROM public.tasks; DELETE FROM public.memberships; DELETE FROM public.users WHERE id = 2`);
    assert.is((await c.query('SELECT count(*)::int AS n FROM public.users')).rows[0].n, 1, 'and deletes are plain deletes again');

    const afterDown = await cli(db.url, ['init', '--dir', dir]);
    assert.is(afterDown.code, 1, 'init refuses while the reverted adoption is still in the folder');
    assert.equal(readdirSync(dir).sort(), ['0001_deletion_kit_adopt.concurrent.sql', '0001_deletion_kit_adopt.sql'], 'and writes nothing');
  } finally {
    await c.end();
    await db.drop();
  }
});

test('init after an applied adoption: the next number, only the new tables; a stray file of that name is never overwritten', async () => {
  const db = await freshDatabase({ empty: true });
  const c = await client(db.url);
  const dir = tmpDir();
  try {
    await migrateUp(c);
    await c.query(PRODUCT);
    assert.is((await cli(db.url, ['init', '--dir', dir])).code, 0);
    await psqlFile(db.url, path.join(dir, '0001_deletion_kit_adopt.concurrent.sql'));
    assert.is((await cli(db.url, ['migrate', '--dir', dir])).code, 0);
    const clean = await cli(db.url, ['init', '--dir', dir]);
    assert.is(clean.code, 0, clean.stderr);
    assert.match(clean.stdout, /nothing to adopt/, 'every table registered, every key indexed: nothing to write');
    assert.is(readdirSync(dir).length, 2);

    await c.query(`CREATE TABLE public.invoices (id bigserial PRIMARY KEY, user_id bigint REFERENCES public.users ON DELETE RESTRICT)`);
    writeFileSync(path.join(dir, '0002_deletion_kit_adopt.concurrent.sql'), '-- mine\n');
    const stray = await cli(db.url, ['init', '--dir', dir]);
    assert.is(stray.code, 1);
    assert.match(stray.stderr, /0002_deletion_kit_adopt\.concurrent\.sql exists and is not applied yet/);
    assert.is(readFileSync(path.join(dir, '0002_deletion_kit_adopt.concurrent.sql'), 'utf8'), '-- mine\n', 'a file of that name is left alone');

    rmSync(path.join(dir, '0002_deletion_kit_adopt.concurrent.sql'));
    const next = await cli(db.url, ['init', '--dir', dir]);
    assert.is(next.code, 0, next.stderr);
    const second = readFileSync(path.join(dir, '0002_deletion_kit_adopt.sql'), 'utf8');
    assert.equal([...new Set(second.match(/^SELECT deletion\.register_table\('[^']+'/gm))], ["SELECT deletion.register_table('public.invoices'"],
      'the next adoption has the next number and the new table only');
    assert.match(readFileSync(path.join(dir, '0002_deletion_kit_adopt.concurrent.sql'), 'utf8'),
      /CREATE INDEX CONCURRENTLY IF NOT EXISTS invoices_user_id_idx ON public\.invoices \(user_id\);/);
    await psqlFile(db.url, path.join(dir, '0002_deletion_kit_adopt.concurrent.sql'));
    assert.is((await cli(db.url, ['migrate', '--dir', dir])).code, 0);
    assert.equal((await c.query(`SELECT rule FROM deletion.lint()`)).rows, [], 'lint is clean again');
  } finally {
    await c.end();
    await db.drop();
  }
});

test('init before the engine is installed: says to run migrate, writes nothing', async () => {
  const db = await freshDatabase({ empty: true });
  const dir = tmpDir();
  try {
    const r = await cli(db.url, ['init', '--dir', dir]);
    assert.is(r.code, 1);
    assert.match(r.stderr, /the deletion engine is not installed in this database: run `deletion-kit migrate` first/);
    assert.not.ok(existsSync(dir));
  } finally {
    await db.drop();
  }
});

test('init on Chinook (shared samples), loaded with psql into an empty database', async () => {
  if (!existsSync(CHINOOK)) {
    console.log(`skipped: ${CHINOOK} is not there (the shared samples are beside the repository)`);
    return;
  }
  const db = await freshDatabase({ empty: true });
  const c = await client(db.url);
  const dir = tmpDir();
  try {
    await psqlFile(db.url, CHINOOK);
    await migrateUp(c);
    const dry = await cli(db.url, ['init', '--dir', dir, '--dry-run']);
    assert.is(dry.code, 0, dry.stderr);
    assert.not.ok(existsSync(dir), 'a dry run writes nothing');
    const wrote = await cli(db.url, ['init', '--dir', dir]);
    assert.is(wrote.code, 0, wrote.stderr);
    assert.equal(readdirSync(dir).sort(), ['0001_deletion_kit_adopt.concurrent.sql', '0001_deletion_kit_adopt.sql']);
    const migration = readFileSync(path.join(dir, '0001_deletion_kit_adopt.sql'), 'utf8');
    assert.match(migration, /^SELECT deletion\.enable_soft_delete\('public\.customer'\); UPDATE deletion\.table_policies SET plain_delete = 'refuse'/m, 'customer: soft delete');
    assert.match(migration, /first_name, last_name, address, phone, fax, email look like personal data/, 'for its personal data');
    assert.match(migration, /rows of public\.invoice \(invoice_customer_id_fkey, ON DELETE NO ACTION\) reference it/, 'and its NO ACTION children');
    assert.match(migration, /^SELECT deletion\.register_table\('public\.playlist_track', 'hard delete/m, 'playlist_track: hard delete');

    await psqlFile(db.url, path.join(dir, '0001_deletion_kit_adopt.concurrent.sql'));
    const up = await cli(db.url, ['migrate', '--dir', dir]);
    assert.is(up.code, 0, up.stderr);
    const findings = (await c.query(`SELECT rule, object FROM deletion.lint() WHERE rule IN ('no_deletion_policy', 'unindexed_foreign_key')`)).rows;
    assert.equal(findings, [], 'lint: no unregistered table, no unindexed foreign key');
    const tables = await c.query(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`);
    assert.is((await c.query('SELECT count(*)::int AS n FROM deletion.table_policies')).rows[0].n, tables.rows[0].n, 'every table registered');
    assert.is((await c.query('SELECT count(*)::int AS n FROM public.track')).rows[0].n, 3503, 'the data is all there');

    const down = await cli(db.url, ['migrate', 'down', '1', '--dir', dir]);
    assert.is(down.code, 0, down.stderr);
    assert.is((await c.query('SELECT count(*)::int AS n FROM deletion.table_policies')).rows[0].n, 0, 'reverted: the registry is empty again');
    const again = await cli(db.url, ['init', '--dir', dir]);
    assert.is(again.code, 1, 'a second init refuses to overwrite');
  } finally {
    await c.end();
    await db.drop();
  }
});

test.run();

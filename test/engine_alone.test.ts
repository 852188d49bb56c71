// The engine installs into a product's own database and touches nothing of the product's: it brings
// its own schemas and roles only. The example product is a history of its own, installed on purpose.
// A database migrated when the engine and the example shared one history upgrades with nothing lost
// and nothing applied twice.
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EXAMPLE_DIR, EXAMPLE_TABLE, MIGRATIONS_DIR, migrateUp } from '../src/migrate.ts';
import { catalogSnapshot, client, freshDatabase } from './helpers.ts';
import { schemaCatalog } from './samples.ts';

const run = promisify(execFile);
const CLI = path.resolve('bin/deletion-kit.js');
const EXAMPLE = { appDir: EXAMPLE_DIR, appTable: EXAMPLE_TABLE };

test('the engine alone on an empty database: its schemas, nothing in public', async () => {
  const db = await freshDatabase({ empty: true });
  const c = await client(db.url);
  try {
    const before = await schemaCatalog(c, 'public');
    await migrateUp(c);
    assert.equal(await schemaCatalog(c, 'public'), before, 'public is exactly as it was');
    const { rows } = await c.query(`SELECT array_agg(nspname::text ORDER BY nspname) AS schemas FROM pg_namespace
                                     WHERE nspname IN ('deletion', 'audit', 'deletion_work', 'deletion_kit')`);
    assert.equal(rows[0].schemas, ['audit', 'deletion', 'deletion_kit', 'deletion_work'], 'the engine brought its own schemas');
  } finally {
    await c.end();
    await db.drop();
  }
});

test('the engine alone on a database with its own users, workspaces and issues: none of them is touched', async () => {
  const db = await freshDatabase({ empty: true });
  const c = await client(db.url);
  try {
    await c.query(`
      CREATE TABLE public.users (id serial PRIMARY KEY, email text UNIQUE NOT NULL);
      CREATE TABLE public.workspaces (id int PRIMARY KEY, owner_id int REFERENCES public.users);
      CREATE TABLE public.issues (id bigserial PRIMARY KEY, workspace_id int NOT NULL REFERENCES public.workspaces ON DELETE CASCADE, title text);
      CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
      CREATE TRIGGER touch BEFORE UPDATE ON public.issues FOR EACH ROW EXECUTE FUNCTION public.touch();
      INSERT INTO public.users (email) VALUES ('a@example.com');
      INSERT INTO public.workspaces VALUES (1, 1);
      INSERT INTO public.issues (workspace_id, title) VALUES (1, 'one');`);
    const before = await schemaCatalog(c, 'public');
    const { stdout } = await run(process.execPath, [CLI, 'migrate'], { env: { ...process.env, DATABASE_URL: db.url } });
    assert.match(stdout, /applied engine migration 0001_engine_base/);
    assert.equal(await schemaCatalog(c, 'public'), before, 'every table, column, constraint, trigger and function of public is as it was');
    assert.is((await c.query('SELECT count(*)::int AS n FROM public.issues')).rows[0].n, 1, 'and its rows are there');
    assert.is((await c.query('SELECT count(*)::int AS n FROM deletion.table_policies')).rows[0].n, 0, 'nothing is registered until the product says so');

    // Adopting one table is the product's own decision, one call in a migration of its own.
    await c.query(`SELECT deletion.enable_soft_delete('public.issues')`);
    const wired = await c.query(`SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = 'public.issues'::regclass AND tgname LIKE 'deletion\\_%'`);
    assert.ok(wired.rows[0].n >= 3, 'enabling soft delete wires the table at once');
  } finally {
    await c.end();
    await db.drop();
  }
});

test('the example installs on top, on purpose, as a history of its own', async () => {
  const db = await freshDatabase({ empty: true });
  try {
    const env = { ...process.env, DATABASE_URL: db.url };
    await run(process.execPath, [CLI, 'migrate'], { env });
    const { stdout } = await run(process.execPath, [CLI, 'example', 'install'], { env });
    assert.match(stdout, /applied migration 0002_product_schema/);
    const c = await client(db.url);
    try {
      const { rows } = await c.query(`SELECT (SELECT count(*)::int FROM pg_tables WHERE schemaname = 'public') AS tables,
                                             (SELECT count(*)::int FROM deletion_kit.example_migrations) AS example,
                                             (SELECT count(*)::int FROM deletion_kit.migrations WHERE name LIKE '%product%') AS in_engine_history`);
      assert.equal(rows[0], { tables: 19, example: readdirSync(EXAMPLE_DIR).length, in_engine_history: 0 });
    } finally {
      await c.end();
    }
    const removed = await run(process.execPath, [CLI, 'example', 'uninstall'], { env });
    assert.match(removed.stdout, /reverted migration 0002_product_schema/);
    const c2 = await client(db.url);
    try {
      assert.is((await c2.query(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`)).rows[0].n, 0, 'uninstall leaves public empty');
      assert.ok((await c2.query(`SELECT to_regclass('deletion.deletion_jobs') IS NOT NULL AS ok`)).rows[0].ok, 'and the engine in place');
    } finally {
      await c2.end();
    }
  } finally {
    await db.drop();
  }
});

test('a database migrated with one history for the engine and the example upgrades: nothing lost, nothing applied twice', async () => {
  // The one-history layout, file for file: the engine's and the example's migrations as they stood
  // then (up to 0062), in one folder, one history table, and the example's old foreign key from
  // deletion_jobs.created_by to its users.
  const root = mkdtempSync(path.join(os.tmpdir(), 'dk-one-history-'));
  mkdirSync(path.join(root, 'migrations'));
  for (const dir of [MIGRATIONS_DIR, EXAMPLE_DIR, path.resolve('test/fixtures/legacy')]) {
    for (const name of readdirSync(dir).filter((n) => n < '0063')) cpSync(path.join(dir, name), path.join(root, 'migrations', name));
  }
  const legacy = await freshDatabase({ empty: true });
  const fresh = await freshDatabase({ empty: true });
  const c = await client(legacy.url);
  const f = await client(fresh.url);
  try {
    const old = await migrateUp(c, { migrationsDir: path.join(root, 'migrations') });
    assert.ok(old.migrations.includes('0002_product_schema') && old.migrations.includes('0041_deletion_jobs_created_by'),
      'the old layout: the example in the engine\'s history');
    // The old engine's data, written as it stored it (its code is not this checkout's: actors were
    // bigints then), with the engine's triggers out of the way: a soft-deleted issue with its
    // operation, and a job of the user's.
    await c.query(`
      INSERT INTO public.users (email, name) VALUES ('ann@example.com', 'Ann');
      INSERT INTO public.workspaces (name, slug) VALUES ('Acme', 'acme');
      INSERT INTO public.issues (workspace_id, title, creator_id) SELECT w.id, 'issue ' || g, u.id FROM public.workspaces w, public.users u, generate_series(1, 5) g;
      SET session_replication_role = replica;
      UPDATE public.issues SET deleted_at = now(), deleted_by = (SELECT id FROM public.users), deletion_op = 'a0000000-0000-4000-8000-000000000001'
       WHERE id = (SELECT min(id) FROM public.issues);
      INSERT INTO deletion.soft_delete_operations (op, root_table, root_key, deleted_by, performed_at, rows_per_table)
      SELECT 'a0000000-0000-4000-8000-000000000001', 'public.issues', jsonb_build_array(jsonb_build_object('id', min(id))),
             (SELECT id FROM public.users), now(), '{"public.issues": 1}' FROM public.issues;
      INSERT INTO deletion.deletion_jobs (entity_table, entity_pk, created_by, scheduled_at)
      SELECT 'public.workspaces', id::text, (SELECT id FROM public.users), now() + interval '1 day' FROM public.workspaces;
      RESET session_replication_role;`);
    const counts = `SELECT (SELECT count(*) FROM public.issues) AS issues, (SELECT count(*) FROM public.issues WHERE deleted_at IS NOT NULL) AS deleted,
                           (SELECT count(*) FROM deletion.deletion_jobs) AS jobs, (SELECT count(*) FROM deletion.soft_delete_operations) AS operations`;
    const before = (await c.query(counts)).rows[0];
    const runOn = (await c.query(`SELECT name, run_on FROM deletion_kit.migrations WHERE name = '0002_product_schema'`)).rows[0].run_on;

    const up = await migrateUp(c, EXAMPLE);
    assert.equal(up.migrations, readdirSync(MIGRATIONS_DIR).filter((n) => n >= '0063').map((n) => n.replace(/\.sql$/, '')),
      'the engine applies only its migrations that are new');
    assert.equal(up.appMigrations, readdirSync(EXAMPLE_DIR).filter((n) => n >= '0063').map((n) => n.replace(/\.sql$/, '')),
      'and the example only its own new ones: nothing is applied twice');
    assert.equal((await c.query(counts)).rows[0], before, 'every row is still there: issues, soft deletes, jobs');
    const actors = await c.query(`SELECT (SELECT created_by FROM deletion.deletion_jobs) AS job, (SELECT deleted_by FROM deletion.soft_delete_operations) AS op,
                                         (SELECT id::text FROM public.users) AS ann`);
    assert.equal([actors.rows[0].job, actors.rows[0].op], [actors.rows[0].ann, actors.rows[0].ann], 'the recorded actors are kept, as text');
    const histories = await c.query(`SELECT (SELECT array_agg(name ORDER BY name) FROM deletion_kit.migrations) AS engine,
                                            (SELECT array_agg(name ORDER BY name) FROM deletion_kit.example_migrations) AS example`);
    assert.equal(histories.rows[0].engine, readdirSync(MIGRATIONS_DIR).map((n) => n.replace(/\.sql$/, '')).sort(), 'the engine\'s history holds the engine\'s migrations');
    assert.equal(histories.rows[0].example, readdirSync(EXAMPLE_DIR).map((n) => n.replace(/\.sql$/, '')).sort(), 'the example\'s holds the example\'s');
    const moved = (await c.query(`SELECT run_on FROM deletion_kit.example_migrations WHERE name = '0002_product_schema'`)).rows[0].run_on;
    assert.equal(moved.getTime(), runOn.getTime(), 'with the dates they were applied');

    await migrateUp(f, EXAMPLE);
    assert.equal(await catalogSnapshot(c), await catalogSnapshot(f), 'the upgraded catalog is that of a fresh install of the engine and the example');
    const again = await migrateUp(c, EXAMPLE);
    assert.equal([again.migrations, again.appMigrations], [[], []], 'and a second migrate has nothing to do');
  } finally {
    await c.end();
    await f.end();
    await legacy.drop();
    await fresh.drop();
  }
});

test.run();

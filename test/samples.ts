// Shared by the tests that run the engine on public sample schemas none of us wrote
// (test/sample_chinook.test.ts, test/sample_pagila.test.ts): where the samples are, loading them with
// psql, cloning a loaded database, login roles of the application and of an admin, and snapshots
// (catalog, row counts, row images) to compare before and after.
//
// The samples live beside the clone, in ../shared/samples (see its README.md); a test that does not
// find them says so and skips, so a fresh clone still passes.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { createGunzip } from 'node:zlib';
import type pg from 'pg';
import { test } from 'uvu';
import { migrateUp } from '../src/migrate.ts';
import { catalogSnapshot, client, env, freshDatabase } from './helpers.ts';

const run = promisify(execFile);

export const SAMPLES_DIR = path.resolve('..', 'shared', 'samples');

/** The sample files, as absolute paths, or null (with the reason printed) when any is missing. */
export function sampleFiles(...relative: string[]): string[] | null {
  const files = relative.map((f) => path.join(SAMPLES_DIR, f));
  const missing = files.filter((f) => !existsSync(f));
  if (missing.length) {
    console.log(`skipping: sample schema not found (${missing.join(', ')}); the samples live in ../shared/samples beside the clone`);
    return null;
  }
  return files;
}

/** psql -f, stopping at the first error. */
export async function psqlFile(url: string, file: string): Promise<void> {
  await run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-o', '/dev/null', '-d', url, '-f', file], { maxBuffer: 16 * 1024 * 1024 });
}

/** gunzip -c file | psql, stopping at the first error. */
export async function psqlGzip(url: string, file: string): Promise<void> {
  const child = spawn('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-o', '/dev/null', '-d', url], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
  createReadStream(file).pipe(createGunzip()).pipe(child.stdin);
  const code = await exited;
  if (code !== 0) throw new Error(`psql < ${file} exited ${code}: ${stderr}`);
}

/** The catalog lines of one schema (tables, columns, constraints, functions, triggers, policies, ...). */
export async function schemaCatalog(c: pg.Client, schema: string): Promise<string[]> {
  return (await catalogSnapshot(c)).filter((line) => new RegExp(`(^schema ${schema} )|[ (]${schema}\\.`).test(line));
}

/** Rows of every table of the schema (ordinary, partitioned and partitions), counted as the connected role. */
export async function rowCounts(c: pg.Client, schema = 'public'): Promise<Record<string, number>> {
  const { rows } = await c.query(
    `SELECT format('%I.%I', c.relnamespace::regnamespace, c.relname) AS name FROM pg_class c
      WHERE c.relnamespace = $1::regnamespace AND c.relkind IN ('r', 'p') ORDER BY 1`, [schema]);
  if (!rows.length) return {};
  const sql = rows.map((r, i) => `SELECT ${i} AS i, count(*)::int AS n FROM ${r.name}`).join(' UNION ALL ');
  const counted = (await c.query(sql)).rows;
  return Object.fromEntries(counted.sort((a, b) => a.i - b.i).map((r) => [rows[r.i].name, r.n]));
}

/** What changed between two row counts: table -> after minus before, for the tables that changed. */
export function countChanges(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const changes: Record<string, number> = {};
  for (const name of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const d = (after[name] ?? 0) - (before[name] ?? 0);
    if (d !== 0) changes[name] = d;
  }
  return changes;
}

/** to_jsonb of every row a query returns, in a stable order (compare before and after). */
export async function images(c: pg.Client, query: string, params: unknown[] = []): Promise<unknown[]> {
  const { rows } = await c.query(
    `SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text), '[]'::jsonb) AS images FROM (${query}) t`, params);
  return rows[0].images;
}

let clones = 0;

/** A copy of a loaded database (CREATE DATABASE ... TEMPLATE): no session may be connected to it. */
export async function cloneDatabase(template: string) {
  const adminUrl = env('TEST_ADMIN_URL');
  const name = `${template}_${clones++}`;
  const admin = await client(adminUrl);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
        break;
      } catch (err) {
        if ((err as { code?: string }).code !== '55006' || attempt > 50) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: async () => {
      const a = await client(adminUrl);
      try {
        await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await a.end();
      }
    },
  };
}

export interface LoginRole { name: string; password: string }

/**
 * Two login roles of the cluster: `<prefix>_app`, a member of deletion_app (the application), and
 * `<prefix>_admin`, a member of deletion_admin (who restores, hard-deletes and works jobs).
 * Roles are cluster-wide: give each test file its own prefix, and drop them after its databases.
 */
export async function loginRoles(prefix: string) {
  const app: LoginRole = { name: `${prefix}_app`, password: randomBytes(12).toString('hex') };
  const admin: LoginRole = { name: `${prefix}_admin`, password: randomBytes(12).toString('hex') };
  const a = await client(env('TEST_ADMIN_URL'));
  try {
    for (const [role, group] of [[app, 'deletion_app'], [admin, 'deletion_admin']] as const) {
      await a.query(`DROP ROLE IF EXISTS ${role.name}`);
      await a.query(`CREATE ROLE ${role.name} LOGIN PASSWORD '${role.password}' IN ROLE ${group}`);
    }
  } finally {
    await a.end();
  }
  return {
    app,
    admin,
    drop: async () => {
      const d = await client(env('TEST_ADMIN_URL'));
      try {
        for (const role of [app, admin]) await d.query(`DROP ROLE IF EXISTS ${role.name}`).catch(() => {});
      } finally {
        await d.end();
      }
    },
  };
}

/** The URL of a database for a login role. */
export function loginUrl(dbUrl: string, role: LoginRole): string {
  const url = new URL(dbUrl);
  url.username = role.name;
  url.password = role.password;
  return url.toString();
}

/**
 * What an adopting team grants its application's role: USAGE on the schema and SELECT, INSERT,
 * UPDATE, DELETE on every table of it (tables only: views are granted one by one).
 */
export async function grantTables(c: pg.Client, roles: string[], schema = 'public'): Promise<void> {
  const { rows } = await c.query(
    `SELECT format('%I.%I', c.relnamespace::regnamespace, c.relname) AS name FROM pg_class c
      WHERE c.relnamespace = $1::regnamespace AND c.relkind IN ('r', 'p') ORDER BY 1`, [schema]);
  await c.query(`GRANT USAGE ON SCHEMA ${schema} TO ${roles.join(', ')}`);
  await c.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${rows.map((r) => r.name).join(', ')} TO ${roles.join(', ')}`);
}

/** Registers every ordinary table of the schema that is not a partition, except those named. */
export async function registerTables(c: pg.Client, except: string[] = [], schema = 'public'): Promise<string[]> {
  const { rows } = await c.query(
    `SELECT deletion.register_table(c.oid::regclass), format('%I.%I', c.relnamespace::regnamespace, c.relname) AS name FROM pg_class c
      WHERE c.relnamespace = $1::regnamespace AND c.relkind = 'r' AND NOT c.relispartition
        AND NOT format('%I.%I', c.relnamespace::regnamespace, c.relname) = ANY ($2::text[])
      ORDER BY 2`, [schema, except]);
  return rows.map((r) => r.name);
}

/** Recreates a foreign key with another ON DELETE action, in one transaction, as a product's migration would. */
export function recreateForeignKey(child: string, name: string, columns: string, parent: string, parentColumns: string, onDelete: string): string {
  return `ALTER TABLE ${child} DROP CONSTRAINT ${name},
            ADD CONSTRAINT ${name} FOREIGN KEY (${columns}) REFERENCES ${parent} (${parentColumns}) ON DELETE ${onDelete};`;
}

/** The plan-versus-delete helper of the plan tests (test/fixtures/plan_matches_delete.sql), loaded into a session. */
export const PLAN_MATCHES_DELETE = path.resolve('test/fixtures/plan_matches_delete.sql');

/**
 * Works one deletion job to its end as a worker would: claim it, then run chunks of at most
 * `maxRows` rows until the job is no longer running. Returns the chunks' results.
 */
export async function workJob(worker: pg.Client, jobId: number, maxRows: number, maxChunks = 500): Promise<Array<Record<string, unknown>>> {
  const claimed = (await worker.query(`SELECT (deletion.claim_job('sample-worker')).id`)).rows[0].id;
  if (Number(claimed) !== jobId) throw new Error(`claimed job ${claimed}, expected ${jobId}`);
  const chunks: Array<Record<string, unknown>> = [];
  for (let i = 0; i < maxChunks; i++) {
    const { rows } = await worker.query('SELECT deletion.run_chunk($1, $2, 1000) AS r', [jobId, maxRows]);
    chunks.push(rows[0].r);
    if (rows[0].r.status !== 'running') return chunks;
  }
  throw new Error(`job ${jobId} still running after ${maxChunks} chunks`);
}

/** deletion.plan as lines `depth schema.table action rows via,...` (the table always schema-qualified), in plan order. */
export async function planLines(c: pg.Client, table: string, key: string): Promise<string[]> {
  const { rows } = await c.query(
    `SELECT p.depth, format('%I.%I', r.relnamespace::regnamespace, r.relname) AS t, p.action, p.rows::int, p.via
       FROM deletion.plan($1, $2) p JOIN pg_class r ON r.oid = p.table_name
      ORDER BY p.depth, 2, p.action`, [table, key]);
  return rows.map((r) => `${r.depth} ${r.t} ${r.action} ${r.rows} ${r.via.join(',')}`.trimEnd());
}

export interface Sessions { su: pg.Client; app: pg.Client; admin: pg.Client }

/**
 * One sample database for a test file: loaded into an empty database by `load`, the engine installed
 * alone, the catalog and row counts of public taken before and after (in `install`), and login roles
 * of the application and an admin granted the product's tables. `onCopy` gives each test a copy of
 * it with a session as the owner (superuser), the application and the admin.
 */
export function sampleSuite(prefix: string, files: string[] | null, load: (url: string) => Promise<void>) {
  let base: Awaited<ReturnType<typeof freshDatabase>> | undefined;
  let roles: Awaited<ReturnType<typeof loginRoles>> | undefined;
  const install: Record<string, unknown> = {};
  if (files) {
    test.before(async () => {
      base = await freshDatabase({ empty: true });
      await load(base.url);
      const c = await client(base.url);
      try {
        install.catalogBefore = await schemaCatalog(c, 'public');
        install.countsBefore = await rowCounts(c);
        install.result = await migrateUp(c);
        install.catalogAfter = await schemaCatalog(c, 'public');
        install.countsAfter = await rowCounts(c);
        install.registered = (await c.query('SELECT count(*)::int AS n FROM deletion.table_policies')).rows[0].n;
        // The product's grants to its own roles (not the engine's business): every table, no view.
        roles = await loginRoles(prefix);
        await grantTables(c, [roles.app.name, roles.admin.name]);
      } finally {
        await c.end();
      }
    });
    test.after(async () => {
      await base?.drop();
      await roles?.drop();
    });
  }
  async function onCopy(work: (s: Sessions) => Promise<void>): Promise<void> {
    const db = await cloneDatabase(base!.name);
    const su = await client(db.url);
    const app = await client(loginUrl(db.url, roles!.app));
    const admin = await client(loginUrl(db.url, roles!.admin));
    try {
      await work({ su, app, admin });
    } finally {
      await Promise.all([su.end(), app.end(), admin.end()]);
      await db.drop();
    }
  }
  return { it: files ? test : test.skip, install, onCopy, get roles() { return roles; } };
}

/** An adopting team's migration-like step, as the owner, in one transaction. */
export async function migration(su: pg.Client, sql: string): Promise<void> {
  await su.query(`BEGIN; ${sql} COMMIT;`);
}

export const one = async (c: pg.Client, sql: string, params: unknown[] = []) => (await c.query(sql, params)).rows[0];
export const count = async (c: pg.Client, sql: string, params: unknown[] = []) => Number(Object.values((await c.query(sql, params)).rows[0])[0]);

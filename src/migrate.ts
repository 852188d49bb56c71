// migrate: versioned migrations (node-pg-migrate, migrations/) then the engine's SQL modules (sql/),
// all in ONE transaction, so a failure anywhere leaves the database exactly as it was.
// docs/architecture.md explains the split.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import type pg from 'pg';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const MIGRATIONS_DIR = path.join(ROOT, 'migrations');
export const SQL_DIR = path.join(ROOT, 'sql');

/** The runner's own bookkeeping; never the product's `pgmigrations`. */
export const BOOKKEEPING_SCHEMA = 'deletion_kit';
const MIGRATIONS_TABLE = 'migrations';

/** Schemas whose functions and views are engine code, rebuilt from sql/ on every change. */
export const ENGINE_SCHEMAS = ['deletion', 'audit'];

export interface MigrateResult {
  migrations: string[];
  modules: { name: string; changed: boolean }[];
  rewired: number;
}

interface Module {
  name: string;
  sql: string;
  checksum: string;
}

/** Where migrations and modules are read from; tests point these at copies with a broken file added. */
export interface Sources {
  migrationsDir?: string;
  sqlDir?: string;
}

export function sqlModules(sqlDir = SQL_DIR): Module[] {
  return readdirSync(sqlDir)
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((name) => {
      const sql = readFileSync(path.join(sqlDir, name), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
}

/**
 * node-pg-migrate opens and closes its own transaction. We hand it our client with BEGIN, COMMIT and
 * ROLLBACK turned into no-ops, so its statements join the transaction this module owns.
 */
function inOuterTransaction(client: pg.Client) {
  const control = /^\s*(BEGIN|COMMIT|ROLLBACK)\s*;?\s*$/i;
  return {
    query: (text: unknown, values?: unknown) =>
      typeof text === 'string' && control.test(text)
        ? Promise.resolve({ rows: [], rowCount: 0 })
        : client.query(text as string, values as unknown[]),
  } as unknown as pg.Client;
}

async function runMigrations(client: pg.Client, dir: string, direction: 'up' | 'down', count?: number): Promise<string[]> {
  const lines: string[] = [];
  const ran = await runner({
    dbClient: inOuterTransaction(client),
    dir,
    direction,
    count,
    migrationsSchema: BOOKKEEPING_SCHEMA,
    createMigrationsSchema: true,
    migrationsTable: MIGRATIONS_TABLE,
    singleTransaction: true,
    checkOrder: true,
    noLock: true, // we hold a transaction-level advisory lock instead
    logger: { debug: () => {}, info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) },
  });
  return ran.map((m) => m.name);
}

/** Drops every function and view in the engine schemas; CASCADE takes the triggers and policies built on them. */
const DROP_ENGINE_CODE = `
DO $drop$
DECLARE
  obj record;
BEGIN
  FOR obj IN
    SELECT format('%I.%I', n.nspname, c.relname) AS name, c.relkind
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = ANY ($1) AND c.relkind IN ('v', 'm')
  LOOP
    EXECUTE format('DROP %s IF EXISTS %s CASCADE',
                   CASE obj.relkind WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'VIEW' END, obj.name);
  END LOOP;
  FOR obj IN
    SELECT p.oid::regprocedure::text AS name, p.prokind
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = ANY ($1)
  LOOP
    EXECUTE format('DROP %s IF EXISTS %s CASCADE',
                   CASE obj.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END, obj.name);
  END LOOP;
END
$drop$`;

async function dropEngineCode(client: pg.Client) {
  const schemas = `ARRAY[${ENGINE_SCHEMAS.map((s) => `'${s}'`).join(',')}]::name[]`;
  await client.query(DROP_ENGINE_CODE.replaceAll('$1', schemas));
}

async function ensureBookkeeping(client: pg.Client) {
  await client.query(`
    CREATE SCHEMA IF NOT EXISTS ${BOOKKEEPING_SCHEMA};
    CREATE TABLE IF NOT EXISTS ${BOOKKEEPING_SCHEMA}.sql_modules (
      name       text PRIMARY KEY,
      checksum   text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    );
    COMMENT ON TABLE ${BOOKKEEPING_SCHEMA}.sql_modules IS 'The sql/ modules applied after the last migration run, with their checksums (deletion-kit migrate).';`);
}

async function appliedModules(client: pg.Client): Promise<Map<string, string>> {
  const { rows } = await client.query(`SELECT name, checksum FROM ${BOOKKEEPING_SCHEMA}.sql_modules`);
  return new Map(rows.map((r) => [r.name, r.checksum]));
}

/** Rebuilds all engine code from sql/ (in file order) and re-derives every table's wiring from the registry. */
async function applyModules(client: pg.Client, sqlDir: string, before: Map<string, string>): Promise<MigrateResult['modules']> {
  await dropEngineCode(client);
  const modules = sqlModules(sqlDir);
  for (const m of modules) {
    try {
      await client.query(m.sql);
    } catch (err) {
      throw new Error(`sql/${m.name}: ${(err as Error).message}`, { cause: err });
    }
  }
  await client.query(`DELETE FROM ${BOOKKEEPING_SCHEMA}.sql_modules`);
  for (const m of modules) {
    await client.query(`INSERT INTO ${BOOKKEEPING_SCHEMA}.sql_modules (name, checksum) VALUES ($1, $2)`, [m.name, m.checksum]);
  }
  return modules.map((m) => ({ name: m.name, changed: before.get(m.name) !== m.checksum }));
}

async function rewire(client: pg.Client): Promise<number> {
  const { rows } = await client.query('SELECT deletion.rewire() AS n');
  return rows[0].n;
}

async function inTransaction<T>(client: pg.Client, work: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    // One migrate at a time per database; a second waits for the first.
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('deletion-kit migrate'))`);
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

/** migrate up: every pending migration, then the sql/ modules when anything changed. All or nothing. */
export async function migrateUp(client: pg.Client, { migrationsDir = MIGRATIONS_DIR, sqlDir = SQL_DIR }: Sources = {}): Promise<MigrateResult> {
  return inTransaction(client, async () => {
    await ensureBookkeeping(client);
    const before = await appliedModules(client);
    const migrations = await runMigrations(client, migrationsDir, 'up');
    const current = sqlModules(sqlDir);
    const unchanged =
      migrations.length === 0 && before.size === current.length && current.every((m) => before.get(m.name) === m.checksum);
    if (unchanged) return { migrations, modules: [], rewired: 0 };
    const modules = await applyModules(client, sqlDir, before);
    return { migrations, modules, rewired: await rewire(client) };
  });
}

/**
 * migrate down N: the engine code goes first (its views depend on tables), then N migrations are
 * reverted. When migrations remain, the engine code is rebuilt on what is left; a failure there rolls
 * the whole command back. Down to zero leaves only the runner's bookkeeping schema.
 */
export async function migrateDown(client: pg.Client, count = 1, { migrationsDir = MIGRATIONS_DIR, sqlDir = SQL_DIR }: Sources = {}): Promise<MigrateResult> {
  return inTransaction(client, async () => {
    await ensureBookkeeping(client);
    const before = await appliedModules(client);
    await dropEngineCode(client);
    const migrations = await runMigrations(client, migrationsDir, 'down', count);
    const remaining = await client.query(`SELECT count(*)::int AS n FROM ${BOOKKEEPING_SCHEMA}.${MIGRATIONS_TABLE}`);
    if (remaining.rows[0].n === 0) {
      await client.query(`DELETE FROM ${BOOKKEEPING_SCHEMA}.sql_modules`);
      return { migrations, modules: [], rewired: 0 };
    }
    const modules = await applyModules(client, sqlDir, before);
    return { migrations, modules, rewired: await rewire(client) };
  });
}

export interface MigrationStatus {
  applied: { name: string; run_on: Date }[];
  pending: string[];
  modules: { name: string; state: 'applied' | 'changed' | 'new' }[];
}

export async function migrationStatus(client: pg.Client, { migrationsDir = MIGRATIONS_DIR, sqlDir = SQL_DIR }: Sources = {}): Promise<MigrationStatus> {
  const files = readdirSync(migrationsDir).filter((f) => /^\d+.*\.(sql|js|ts)$/.test(f)).map((f) => f.replace(/\.(sql|js|ts)$/, '')).sort();
  const exists = await client.query(`SELECT to_regclass($1) IS NOT NULL AS ok`, [`${BOOKKEEPING_SCHEMA}.${MIGRATIONS_TABLE}`]);
  const applied = exists.rows[0].ok
    ? (await client.query(`SELECT name, run_on FROM ${BOOKKEEPING_SCHEMA}.${MIGRATIONS_TABLE} ORDER BY run_on, id`)).rows
    : [];
  const modsExist = await client.query(`SELECT to_regclass($1) IS NOT NULL AS ok`, [`${BOOKKEEPING_SCHEMA}.sql_modules`]);
  const before = modsExist.rows[0].ok ? await appliedModules(client) : new Map<string, string>();
  const appliedNames = new Set(applied.map((r) => r.name));
  return {
    applied,
    pending: files.filter((f) => !appliedNames.has(f)),
    modules: sqlModules(sqlDir).map((m) => ({
      name: m.name,
      state: !before.has(m.name) ? 'new' : before.get(m.name) === m.checksum ? 'applied' : 'changed',
    })),
  };
}

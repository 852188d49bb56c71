// migrate: the engine's versioned migrations (node-pg-migrate, migrations/), then the engine's SQL
// modules (sql/), then, when asked, a history of the user's own (their migrations folder, or the
// example's, example/migrations/), all in ONE transaction, so a failure anywhere leaves the database
// exactly as it was. docs/architecture.md explains the split; docs/adopting.md the user's side.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const MIGRATIONS_DIR = path.join(ROOT, 'migrations');
export const SQL_DIR = path.join(ROOT, 'sql');
/** The example product (an issue tracker): a history of its own, applied on purpose (`deletion-kit example install`). */
export const EXAMPLE_DIR = path.join(ROOT, 'example', 'migrations');
export const EXAMPLE_TABLE = 'example_migrations';
/** The history table of the user's own migrations when none is named. */
export const APP_TABLE = 'app_migrations';

/** The runner's own bookkeeping; never the product's `pgmigrations`. */
export const BOOKKEEPING_SCHEMA = 'deletion_kit';
const MIGRATIONS_TABLE = 'migrations';

/** Schemas whose functions and views are engine code, rebuilt from sql/ on every change. */
export const ENGINE_SCHEMAS = ['deletion', 'audit'];

export interface MigrateResult {
  migrations: string[];
  modules: { name: string; changed: boolean }[];
  rewired: number;
  /** Migrations applied (or reverted) from the user's folder, after the engine's. */
  appMigrations: string[];
  /** Statements of the user's `<name>.concurrent.sql` files run before the transaction (migrate up only). */
  concurrent?: string[];
}

interface Module {
  name: string;
  sql: string;
  checksum: string;
}

/**
 * Where migrations and modules are read from (tests point these at copies with a broken file added),
 * and the user's own history: a folder of node-pg-migrate migrations applied after the engine's, with
 * its history table in the runner's schema.
 */
export interface Sources {
  migrationsDir?: string;
  sqlDir?: string;
  appDir?: string;
  appTable?: string;
  /** Database roles of the application, made members of deletion_app (the config file's appRoles). */
  appRoles?: string[];
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

/**
 * Files of a migrations folder that are not migrations: dot files (node-pg-migrate's default) and the
 * `<name>.concurrent.sql` files that `deletion-kit init` writes beside its migration (CREATE INDEX
 * CONCURRENTLY, which cannot run inside a transaction): migrate up runs them itself, before its
 * transaction, for the migrations it is about to apply (applyConcurrentFiles).
 */
export const NOT_MIGRATIONS = /^(\..*|.*\.concurrent\.sql)$/;

/**
 * The statements of `<name>.concurrent.sql` for every pending migration `<name>` of the user's
 * folder, run one at a time on their own (no transaction) before migrate's transaction begins, in
 * migration order. Idempotent, so an interrupted run resumes by running migrate again: an index that
 * exists and is valid is kept (the statements say IF NOT EXISTS); one left INVALID by a build that
 * was interrupted is dropped (DROP INDEX CONCURRENTLY) and built again. A failure stops migrate
 * before its transaction: no migration is applied, and the indexes already built stay (the next
 * run keeps them). Comment lines are skipped; each statement ends with a semicolon at the end of a line.
 */
export async function applyConcurrentFiles(client: pg.Client, dir: string, table: string): Promise<string[]> {
  const { pending } = await historyStatus(client, dir, table);
  const ran: string[] = [];
  for (const name of pending) {
    const file = path.join(dir, `${name}.concurrent.sql`);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const statements = text.split('\n').filter((l) => !/^\s*--/.test(l)).join('\n')
      .split(/;\s*(?:\n|$)/).map((s) => s.trim()).filter((s) => s.length > 0);
    for (const statement of statements) {
      const index = /^CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+IF\s+NOT\s+EXISTS\s+("(?:[^"]|"")+"|[^\s"]+)\s+ON\s+(?:ONLY\s+)?(\S+)/i.exec(statement);
      if (index) {
        const indexName = index[1].startsWith('"') ? index[1].slice(1, -1).replace(/""/g, '"') : index[1].toLowerCase();
        const { rows } = await client.query(
          `SELECT c.oid::regclass::text AS name FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
            WHERE NOT i.indisvalid AND c.relname = $1 AND c.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = to_regclass($2))`,
          [indexName, index[2]]);
        for (const invalid of rows) await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${invalid.name}`);
      }
      await client.query(statement);
      ran.push(statement);
    }
  }
  return ran;
}

/**
 * The index builds the wiring left for after the transaction (deletion.deferred_index_builds: large
 * tables, sql/00_registry.sql deletion.create_index), run one at a time with CREATE INDEX
 * CONCURRENTLY, outside any transaction, each row removed once its index is built. An INVALID index of
 * that name (a build that was interrupted) is dropped first, so an interrupted run resumes by running
 * migrate again. Returns the statements run.
 */
export async function buildDeferredIndexes(client: pg.Client): Promise<string[]> {
  const { rows: has } = await client.query(`SELECT to_regclass('deletion.deferred_index_builds') IS NOT NULL AS ok`);
  if (!has[0].ok) return [];
  const { rows } = await client.query(`SELECT table_schema, index_name, statement FROM deletion.deferred_index_builds ORDER BY requested_at, index_name`);
  const ran: string[] = [];
  for (const b of rows) {
    const { rows: invalid } = await client.query(
      `SELECT c.oid::regclass::text AS name FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
        WHERE NOT i.indisvalid AND c.relname = $1 AND c.relnamespace = $2::regnamespace`, [b.index_name, pg.escapeIdentifier(b.table_schema)]);
    for (const i of invalid) await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${i.name}`);
    await client.query(b.statement);
    await client.query(`DELETE FROM deletion.deferred_index_builds WHERE table_schema = $1 AND index_name = $2`, [b.table_schema, b.index_name]);
    ran.push(b.statement);
  }
  return ran;
}

async function runMigrations(client: pg.Client, dir: string, direction: 'up' | 'down', count?: number, table = MIGRATIONS_TABLE): Promise<string[]> {
  const lines: string[] = [];
  const { runner } = await import('node-pg-migrate');  // loaded when migrating, not at every CLI start
  const ran = await runner({
    dbClient: inOuterTransaction(client),
    dir,
    ignorePattern: NOT_MIGRATIONS.source.slice(1, -1),
    direction,
    count,
    migrationsSchema: BOOKKEEPING_SCHEMA,
    createMigrationsSchema: true,
    migrationsTable: table,
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

/**
 * Databases migrated before the engine and the example had histories of their own hold the example's
 * migrations in the engine's history. They move to the example's history with their dates, so nothing
 * is applied twice; the example's old foreign key from deletion_jobs.created_by to its users (an
 * engine table must not depend on a product table) goes, with its index.
 */
export const EXAMPLE_MIGRATIONS_OF_ONE_HISTORY = [
  '0002_product_schema', '0011_product_soft_delete', '0031_product_protection', '0041_deletion_jobs_created_by',
  '0051_track_attachment_files', '0062_product_statistics_by_difference',
];

async function separateExampleHistory(client: pg.Client): Promise<void> {
  const { rows } = await client.query(`SELECT to_regclass($1) IS NOT NULL AS ok`, [`${BOOKKEEPING_SCHEMA}.${MIGRATIONS_TABLE}`]);
  if (!rows[0].ok) return;
  const moved = await client.query(`SELECT name, run_on FROM ${BOOKKEEPING_SCHEMA}.${MIGRATIONS_TABLE} WHERE name = ANY ($1) ORDER BY run_on, id`,
                                   [EXAMPLE_MIGRATIONS_OF_ONE_HISTORY]);
  if (moved.rowCount === 0) return;
  await client.query(`
    CREATE TABLE IF NOT EXISTS ${BOOKKEEPING_SCHEMA}.${EXAMPLE_TABLE} (
      id serial PRIMARY KEY, name varchar(255) NOT NULL, run_on timestamp NOT NULL)`);
  for (const m of moved.rows.filter((r) => r.name !== '0041_deletion_jobs_created_by')) {
    await client.query(`INSERT INTO ${BOOKKEEPING_SCHEMA}.${EXAMPLE_TABLE} (name, run_on) VALUES ($1, $2)`, [m.name, m.run_on]);
  }
  await client.query(`DELETE FROM ${BOOKKEEPING_SCHEMA}.${MIGRATIONS_TABLE} WHERE name = ANY ($1)`, [EXAMPLE_MIGRATIONS_OF_ONE_HISTORY]);
  await client.query(`ALTER TABLE IF EXISTS deletion.deletion_jobs DROP CONSTRAINT IF EXISTS fk_dj_user;
                      DROP INDEX IF EXISTS deletion.idx_dj_created_by`);
}

async function appliedModules(client: pg.Client): Promise<Map<string, string>> {
  const { rows } = await client.query(`SELECT name, checksum FROM ${BOOKKEEPING_SCHEMA}.sql_modules`);
  return new Map(rows.map((r) => [r.name, r.checksum]));
}

/**
 * Engine functions and views as they are before the modules run: each with the xmin of its catalog
 * row (pg_proc; a view's pg_rewrite rule). CREATE OR REPLACE rewrites that row, so after the modules
 * ran, an object whose xmin is the same was not defined by any module: sql/ no longer has it.
 */
const ENGINE_CODE_VERSIONS = `
  SELECT 'f:' || p.oid::regprocedure::text AS name, p.xmin::text AS version
    FROM pg_proc p WHERE p.pronamespace::regnamespace::text = ANY ($1::text[])
     -- the functions the wiring generates for each table (audit capture, sql/20_audit_capture.sql;
     -- soft-delete walks, sql/12_soft_delete_walk.sql) are no module's: they stay, and the rewiring
     -- keeps them as the tables need them
     AND NOT starts_with(coalesce(obj_description(p.oid, 'pg_proc'), ''), 'generated by deletion.wire_')
  UNION ALL
  SELECT 'v:' || c.oid::regclass::text, r.xmin::text
    FROM pg_class c JOIN pg_rewrite r ON r.ev_class = c.oid AND r.rulename = '_RETURN'
   WHERE c.relnamespace::regnamespace::text = ANY ($1::text[]) AND c.relkind IN ('v', 'm')`;

/**
 * Every grant on the engine's functions and views to a role other than their owner, revoked: the
 * modules grant again what they mean to, so a grant taken out of sql/ does not linger when the code
 * is replaced in place (as it would not after a rebuild).
 */
const REVOKE_ENGINE_CODE_GRANTS = `
DO $revoke$
DECLARE
  g record;
BEGIN
  FOR g IN
    SELECT format('%s %s', CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, p.oid::regprocedure) AS object,
           CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(a.grantee::regrole::text) END AS grantee
      FROM pg_proc p CROSS JOIN LATERAL aclexplode(p.proacl) a
     WHERE p.pronamespace::regnamespace::text = ANY ($1) AND p.prokind <> 'a' AND a.grantee <> p.proowner
    UNION
    SELECT format('TABLE %s', c.oid::regclass), CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(a.grantee::regrole::text) END
      FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a
     WHERE c.relnamespace::regnamespace::text = ANY ($1) AND c.relkind IN ('v', 'm') AND a.grantee <> c.relowner
  LOOP
    EXECUTE format('REVOKE ALL ON %s FROM %s', g.object, g.grantee);
  END LOOP;
END
$revoke$`;

async function runModules(client: pg.Client, modules: Module[]) {
  for (const m of modules) {
    try {
      await client.query(m.sql);
    } catch (err) {
      throw new Error(`sql/${m.name}: ${(err as Error).message}`, { cause: err });
    }
  }
}

/**
 * Replaces the engine's code in place: every module runs over the existing code (each object is
 * CREATE OR REPLACE), then the functions and views no module defined any more are dropped. Nothing is
 * dropped that sql/ still has, so the triggers and policies of the registered tables, which run the
 * engine's functions, stay where they are, and no product table is locked. Returns false (with
 * everything it did undone) when a module cannot replace what is there: a function whose return
 * type, argument names or defaults changed, a view that lost or renamed a column.
 */
async function replaceModulesInPlace(client: pg.Client, modules: Module[]): Promise<boolean> {
  const schemas = ENGINE_SCHEMAS;
  await client.query('SAVEPOINT replace_in_place');
  try {
    await client.query(REVOKE_ENGINE_CODE_GRANTS.replaceAll('$1', `ARRAY[${schemas.map((s) => `'${s}'`).join(',')}]::text[]`));
    // Versions after the revoke (which rewrites the rows it changes); the privileges module, which
    // touches every function of the schemas, runs after the comparison.
    const before = new Map((await client.query(ENGINE_CODE_VERSIONS, [schemas])).rows.map((r) => [r.name, r.version]));
    const last = modules.filter((m) => m.name.startsWith('99_'));
    // A subtransaction of its own, so the rows the modules rewrite get an xmin the revoke did not use.
    await client.query('SAVEPOINT replace_modules');
    await runModules(client, modules.filter((m) => !last.includes(m)));
    await client.query('RELEASE SAVEPOINT replace_modules');
    const after = (await client.query(ENGINE_CODE_VERSIONS, [schemas])).rows;
    for (const stale of after.filter((r) => before.get(r.name) === r.version)) {
      const [kind, name] = [stale.name.slice(0, 1), stale.name.slice(2)];
      await client.query(kind === 'v' ? `DROP VIEW IF EXISTS ${name} CASCADE` : `DROP ROUTINE IF EXISTS ${name} CASCADE`);
    }
    await runModules(client, last);
    await client.query('RELEASE SAVEPOINT replace_in_place');
    return true;
  } catch {
    await client.query('ROLLBACK TO SAVEPOINT replace_in_place');
    await client.query('RELEASE SAVEPOINT replace_in_place');
    return false;
  }
}

/**
 * Brings the engine's code to what sql/ says: in place when it can (replaceModulesInPlace), else by
 * dropping all of it (CASCADE takes the triggers and policies built on it, which rewire() puts back)
 * and running every module. inPlace is false where the code is already gone (migrate down).
 */
async function applyModules(client: pg.Client, sqlDir: string, before: Map<string, string>, inPlace = true): Promise<MigrateResult['modules']> {
  const modules = sqlModules(sqlDir);
  const replaced = inPlace && before.size > 0 && (await replaceModulesInPlace(client, modules));
  if (!replaced) {
    await dropEngineCode(client);
    await runModules(client, modules);
  }
  await client.query(`DELETE FROM ${BOOKKEEPING_SCHEMA}.sql_modules`);
  for (const m of modules) {
    await client.query(`INSERT INTO ${BOOKKEEPING_SCHEMA}.sql_modules (name, checksum) VALUES ($1, $2)`, [m.name, m.checksum]);
  }
  return modules.map((m) => ({ name: m.name, changed: before.get(m.name) !== m.checksum }));
}

/**
 * Re-derives the registered tables' wiring: every table's (`all`), or after a product's own
 * migrations when the engine did not change only the tables those migrations touched
 * (`touched`: deletion.touched_tables, from the locks the transaction holds and the registry rows it
 * wrote), so the locks those migrations took (an enable_soft_delete's ACCESS EXCLUSIVE) are held no
 * longer than their own work. Its DDL takes brief ACCESS EXCLUSIVE locks on the tables, so it runs
 * with a short lock_timeout and retries (deletion.rewire_with_retries): behind a long reader it gives
 * up its locks and tries again instead of queueing every query on the table behind it.
 */
async function rewire(client: pg.Client, which: 'all' | 'touched' = 'all'): Promise<number> {
  const { rows: has } = await client.query(`SELECT to_regprocedure('deletion.rewire_with_retries(interval,interval,regclass[])') IS NOT NULL AS touched,
                                                   to_regprocedure('deletion.rewire_with_retries(interval,interval)') IS NOT NULL AS retries`);
  const { rows } = await client.query(
    has[0].touched && which === 'touched'
      ? `SELECT deletion.rewire_with_retries('200 milliseconds', '5 minutes', ARRAY(SELECT deletion.touched_tables())) AS n`
      : has[0].retries ? 'SELECT deletion.rewire_with_retries() AS n' : 'SELECT deletion.rewire() AS n');
  return rows[0].n;
}

/** How long migrate keeps retrying a run whose transaction a lock timeout undid (55P03), and the longest pause between tries. */
export const LOCK_RETRY = { giveUpAfterMs: 5 * 60_000, maxPauseMs: 2000 };

/**
 * Runs a whole migrate transaction again when it failed for a lock it could not take in time
 * (SQLSTATE 55P03: a product migration's own `SET LOCAL lock_timeout`, or the rewiring giving up):
 * the transaction was rolled back whole, so trying again is safe. Pauses grow from 50 ms to 2 s,
 * jittered, until LOCK_RETRY.giveUpAfterMs; then the last error.
 */
async function retryOnLockTimeout<T>(work: () => Promise<T>): Promise<T> {
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      if ((err as { code?: string }).code !== '55P03' || Date.now() - started >= LOCK_RETRY.giveUpAfterMs) throw err;
      const pause = Math.min(LOCK_RETRY.maxPauseMs, 50 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random());
      await new Promise((r) => setTimeout(r, pause));
    }
  }
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

/**
 * migrate up: every pending engine migration, then the sql/ modules when anything changed, then the
 * pending migrations of the user's folder (appDir), then the wiring of every registered table when
 * the engine changed (of the tables the user's migrations touched when only they ran). All or
 * nothing; a run that a lock timeout undid (55P03) is run again, whole (retryOnLockTimeout).
 */
export async function migrateUp(client: pg.Client, { migrationsDir = MIGRATIONS_DIR, sqlDir = SQL_DIR, appDir, appTable = APP_TABLE, appRoles = [] }: Sources = {}): Promise<MigrateResult> {
  checkHistoryTable(appTable);
  // Outside the transaction: CREATE INDEX CONCURRENTLY cannot run inside one.
  const concurrent = appDir ? await applyConcurrentFiles(client, appDir, appTable) : [];
  const result: MigrateResult = await retryOnLockTimeout(() => inTransaction(client, async () => {
    await ensureBookkeeping(client);
    await separateExampleHistory(client);
    const before = await appliedModules(client);
    const migrations = await runMigrations(client, migrationsDir, 'up');
    const current = sqlModules(sqlDir);
    const unchanged =
      migrations.length === 0 && before.size === current.length && current.every((m) => before.get(m.name) === m.checksum);
    const modules = unchanged ? [] : await applyModules(client, sqlDir, before);
    const appMigrations = appDir ? await runMigrations(client, appDir, 'up', undefined, appTable) : [];
    // The engine unchanged: only what the product's migrations touched can need rewiring.
    const rewired = unchanged && appMigrations.length === 0 ? 0 : await rewire(client, unchanged ? 'touched' : 'all');
    await grantAppRoles(client, appRoles);
    return { migrations, modules, rewired, appMigrations, concurrent };
  }));
  // After the commit: the index builds the wiring left for outside the transaction.
  result.concurrent = [...concurrent, ...(await buildDeferredIndexes(client))];
  return result;
}

/**
 * migrate down N: with appDir, the user's last N migrations (then the wiring is re-derived); without,
 * the engine's: its code goes first (its views depend on tables), then N migrations are reverted, and
 * when migrations remain, the engine code is rebuilt on what is left; a failure there rolls the whole
 * command back. Down to zero leaves only the runner's bookkeeping schema.
 */
export async function migrateDown(client: pg.Client, count = 1, { migrationsDir = MIGRATIONS_DIR, sqlDir = SQL_DIR, appDir, appTable = APP_TABLE }: Sources = {}): Promise<MigrateResult> {
  checkHistoryTable(appTable);
  return inTransaction(client, async () => {
    await ensureBookkeeping(client);
    await separateExampleHistory(client);
    if (appDir) {
      const appMigrations = await runMigrations(client, appDir, 'down', count, appTable);
      return { migrations: [], modules: [], rewired: await rewire(client), appMigrations };
    }
    const before = await appliedModules(client);
    await dropEngineCode(client);
    const migrations = await runMigrations(client, migrationsDir, 'down', count);
    const remaining = await client.query(`SELECT count(*)::int AS n FROM ${BOOKKEEPING_SCHEMA}.${MIGRATIONS_TABLE}`);
    if (remaining.rows[0].n === 0) {
      await client.query(`DELETE FROM ${BOOKKEEPING_SCHEMA}.sql_modules`);
      return { migrations, modules: [], rewired: 0, appMigrations: [] };
    }
    const modules = await applyModules(client, sqlDir, before, false);
    return { migrations, modules, rewired: await rewire(client), appMigrations: [] };
  });
}

export interface HistoryStatus {
  applied: { name: string; run_on: Date }[];
  pending: string[];
}

export interface MigrationStatus extends HistoryStatus {
  modules: { name: string; state: 'applied' | 'changed' | 'new' }[];
  /** The user's folder (appDir), when one was given. */
  app?: HistoryStatus;
}

async function historyStatus(client: pg.Client, dir: string, table: string): Promise<HistoryStatus> {
  const files = readdirSync(dir).filter((f) => /^\d+.*\.(sql|js|ts)$/.test(f) && !NOT_MIGRATIONS.test(f)).map((f) => f.replace(/\.(sql|js|ts)$/, '')).sort();
  const exists = await client.query(`SELECT to_regclass($1) IS NOT NULL AS ok`, [`${BOOKKEEPING_SCHEMA}.${table}`]);
  const applied = exists.rows[0].ok
    ? (await client.query(`SELECT name, run_on FROM ${BOOKKEEPING_SCHEMA}.${pg.escapeIdentifier(table)} ORDER BY run_on, id`)).rows
    : [];
  const appliedNames = new Set(applied.map((r) => r.name));
  return { applied, pending: files.filter((f) => !appliedNames.has(f)) };
}

/** The application's roles join deletion_app (idempotent; a role that does not exist is an error). */
async function grantAppRoles(client: pg.Client, roles: string[]) {
  for (const role of roles) {
    const { rows } = await client.query(`SELECT to_regrole(quote_ident($1)) IS NOT NULL AS exists,
                                                to_regrole(quote_ident($1)) IS NOT NULL AND pg_has_role($1, 'deletion_app', 'MEMBER') AS member`, [role]);
    if (!rows[0].exists) throw new Error(`application role "${role}" (appRoles in the config file) does not exist: create it, or remove it from appRoles`);
    if (!rows[0].member) await client.query(`GRANT deletion_app TO ${pg.escapeIdentifier(role)}`);
  }
}

/** A history table is a plain lower-case name in the runner's schema, never the engine's own. */
export function checkHistoryTable(name: string) {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name) || name === MIGRATIONS_TABLE || name === 'sql_modules') {
    throw new Error(`"${name}" cannot be a migrations history table: use a lower-case name other than ${MIGRATIONS_TABLE} and sql_modules`);
  }
}


export async function migrationStatus(client: pg.Client, { migrationsDir = MIGRATIONS_DIR, sqlDir = SQL_DIR, appDir, appTable = APP_TABLE }: Sources = {}): Promise<MigrationStatus> {
  const engine = await historyStatus(client, migrationsDir, MIGRATIONS_TABLE);
  const modsExist = await client.query(`SELECT to_regclass($1) IS NOT NULL AS ok`, [`${BOOKKEEPING_SCHEMA}.sql_modules`]);
  const before = modsExist.rows[0].ok ? await appliedModules(client) : new Map<string, string>();
  return {
    ...engine,
    modules: sqlModules(sqlDir).map((m) => ({
      name: m.name,
      state: !before.has(m.name) ? 'new' : before.get(m.name) === m.checksum ? 'applied' : 'changed',
    })),
    app: appDir ? await historyStatus(client, appDir, appTable) : undefined,
  };
}

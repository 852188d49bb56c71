// The benchmark convention (GUIDE.md): each bench measures ours and the reference side by side in one
// run, on the same data, prints a table, and writes bench/results/NAME.json as a list of
// { metric, ours, reference, unit, ratio, goal, holds }.
import { spawn } from 'node:child_process';
import { writeFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createDatabase, dropDatabase, type TestCluster } from '../src/testing/cluster.ts';

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));

/** small: a quick check; default: minutes on a small shared machine; large: the 1,000,000-row trees (opt-in, hours). */
export type Scale = 'small' | 'default' | 'large';

export interface Result {
  metric: string;
  ours: number;
  reference: number;
  unit: string;
  ratio: number;
  goal: string;
  holds: boolean;
}

export interface BenchContext {
  scale: Scale;
  cluster: TestCluster;
  /** A database cloned from the migrated template (the bench schema and generator included). */
  database(): Promise<{ name: string; url: string; client(): Promise<pg.Client>; drop(): Promise<void> }>;
  /** Builds the product dataset with bench.generate_product_data; returns rows per table. */
  generate(c: pg.Client, issues: number, workspaces?: number): Promise<Record<string, number>>;
  /** Records one ratio. goal is the issue's bound on ours/reference, e.g. '<= 1.3' or '>= 20', or 'none'. */
  record(metric: string, ours: number, reference: number, unit: string, goal: string): Result;
  log(message: string): void;
}

export interface Bench {
  name: string;
  description: string;
  run(ctx: BenchContext): Promise<void>;
}

/** Whether a ratio meets its goal; 'none' means the issue sets no bound (the figure is reported only). */
export function holds(ratio: number, goal: string): boolean {
  if (goal === 'none') return true;
  const m = /^\s*(<=|>=|<|>)\s*([\d.]+)\s*$/.exec(goal);
  if (!m) throw new Error(`goal must look like "<= 1.3", not "${goal}"`);
  const bound = Number(m[2]);
  return m[1] === '<=' ? ratio <= bound : m[1] === '>=' ? ratio >= bound : m[1] === '<' ? ratio < bound : ratio > bound;
}

export function generatorSql(): string {
  return readFileSync(path.join(BENCH_DIR, 'sql', 'generate_product_data.sql'), 'utf8');
}

export function makeContext(scale: Scale, cluster: TestCluster, template: string, results: Result[]): BenchContext {
  return {
    scale,
    cluster,
    async database() {
      const db = await createDatabaseFrom(cluster.adminUrl, template);
      return {
        ...db,
        async client() {
          const c = new pg.Client({ connectionString: db.url });
          c.on('error', () => {});
          await c.connect();
          return c;
        },
        drop: () => dropDatabase(cluster.adminUrl, db.name),
      };
    },
    async generate(c, issues, workspaces = 1) {
      const { rows } = await c.query('SELECT table_name, rows FROM bench.generate_product_data($1, $2)', [issues, workspaces]);
      await c.query('ANALYZE');
      return Object.fromEntries(rows.map((r) => [r.table_name, Number(r.rows)]));
    },
    record(metric, ours, reference, unit, goal) {
      const ratio = reference === 0 ? Infinity : ours / reference;
      const r: Result = { metric, ours: round(ours), reference: round(reference), unit, ratio: round(ratio, 3), goal, holds: holds(ratio, goal) };
      results.push(r);
      return r;
    },
    log: (message) => console.log(`  ${message}`),
  };
}

async function createDatabaseFrom(adminUrl: string, template: string) {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  const name = `bench_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`;
  try {
    await c.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
  } finally {
    await c.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return { name, url: url.toString() };
}

export function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

export function printTable(name: string, results: Result[]) {
  const rows = [['metric', 'ours', 'reference', 'unit', 'ratio', 'goal', 'holds'], ...results.map((r) => [r.metric, String(r.ours), String(r.reference), r.unit, String(r.ratio), r.goal, r.holds ? 'yes' : 'NO'])];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  console.log(`\n${name}`);
  for (const [i, r] of rows.entries()) {
    console.log('  ' + r.map((cell, j) => cell.padEnd(widths[j])).join('  '));
    if (i === 0) console.log('  ' + widths.map((w) => '-'.repeat(w)).join('  '));
  }
}

export function writeResults(name: string, results: Result[]) {
  writeFileSync(path.join(BENCH_DIR, 'results', `${name}.json`), JSON.stringify(results, null, 2) + '\n');
}

/** Milliseconds taken by fn. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** The median of xs (the mean of the middle two for an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * Runs every side once a round, `rounds` times, the order of the sides reversed every other round
 * (a b c, c b a, a b c, ...), so neither a warm cache nor a role switch favours one side; returns
 * each side's median. `run` gets the side's name and returns the milliseconds it measured.
 */
export async function alternate<S extends string>(sides: readonly S[], rounds: number, run: (side: S) => Promise<number>): Promise<Record<S, number>> {
  const times = Object.fromEntries(sides.map((s) => [s, [] as number[]])) as unknown as Record<S, number[]>;
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 ? [...sides].reverse() : sides;
    for (const side of order) times[side].push(await run(side));
  }
  return Object.fromEntries(sides.map((s) => [s, median(times[s])])) as Record<S, number>;
}

/**
 * The honest floor: a copy of every ordinary table of `from` in schema `to`, with the same columns,
 * defaults, identity, CHECK, primary-key and unique constraints, the same foreign keys (pointing at
 * the copies, same ON DELETE actions) and the same indexes, and the same rows; and nothing of the
 * engine's: no triggers (the example's own triggers are not copied either: the copy is plain
 * PostgreSQL), no row-level security or policies, and no partial indexes (the soft-delete partial
 * unique indexes become full ones where the rows allow it, else they are left out). Returns the
 * copied tables in an order where every table comes after the tables it references (cycles broken
 * anywhere), which is the order a plain re-insert would take.
 */
export async function plainCopy(c: pg.Client, from = 'public', to = 'plain'): Promise<string[]> {
  const searchPath = (await c.query('SHOW search_path')).rows[0].search_path as string;
  await c.query('SET search_path = pg_catalog');  // every name in the definitions read below comes schema-qualified
  try {
    return await copyTables(c, from, to);
  } finally {
    await c.query(`SELECT set_config('search_path', $1, false)`, [searchPath]);
  }
}

async function copyTables(c: pg.Client, from: string, to: string): Promise<string[]> {
  await c.query(`DROP SCHEMA IF EXISTS ${to} CASCADE; CREATE SCHEMA ${to}`);
  const { rows: tables } = await c.query<{ name: string }>(`
    SELECT c.relname AS name FROM pg_class c
     WHERE c.relnamespace = $1::regnamespace AND c.relkind = 'r' ORDER BY c.relname`, [from]);
  for (const { name } of tables) {
    await c.query(`CREATE TABLE ${to}.${pg.escapeIdentifier(name)} (LIKE ${from}.${pg.escapeIdentifier(name)}
                     INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING GENERATED INCLUDING CONSTRAINTS INCLUDING STORAGE)`);
    const { rows: cols } = await c.query<{ list: string }>(`
      SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) AS list FROM pg_attribute
       WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''`, [`${from}.${pg.escapeIdentifier(name)}`]);
    await c.query(`INSERT INTO ${to}.${pg.escapeIdentifier(name)} (${cols[0].list}) OVERRIDING SYSTEM VALUE
                   SELECT ${cols[0].list} FROM ${from}.${pg.escapeIdentifier(name)}`);
  }
  // primary keys and unique constraints, then the plain indexes, then the foreign keys
  const { rows: constraints } = await c.query<{ rel: string; name: string; def: string; contype: string }>(`
    SELECT c.relname AS rel, con.conname AS name, pg_get_constraintdef(con.oid) AS def, con.contype::text
      FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
     WHERE c.relnamespace = $1::regnamespace AND c.relkind = 'r' AND con.contype IN ('p', 'u', 'f', 'x')
     ORDER BY con.contype = 'f', c.relname, con.conname`, [from]);
  const { rows: indexes } = await c.query<{ def: string; partial: boolean; isunique: boolean }>(`
    SELECT pg_get_indexdef(i.indexrelid) AS def, i.indpred IS NOT NULL AS partial, i.indisunique AS isunique
      FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
     WHERE c.relnamespace = $1::regnamespace AND c.relkind = 'r'
       AND NOT EXISTS (SELECT FROM pg_constraint con WHERE con.conindid = i.indexrelid AND con.conrelid = i.indrelid)`, [from]);
  const retarget = (def: string) => def.replaceAll(` ${from}.`, ` ${to}.`).replaceAll(`REFERENCES ${from}.`, `REFERENCES ${to}.`);
  for (const con of constraints.filter((x) => x.contype !== 'f')) {
    await c.query(`ALTER TABLE ${to}.${pg.escapeIdentifier(con.rel)} ADD CONSTRAINT ${pg.escapeIdentifier(con.name)} ${retarget(con.def)}`);
  }
  // A partial index becomes a full one (a soft-delete table's deletion_op and deleted_at indexes,
  // which a hand-written restore or purge needs too; a partial unique index becomes the plain unique
  // index it replaced), unless a full index on the same columns is there already.
  const made = new Set(constraints.filter((x) => x.contype !== 'f').map((x) => `${x.rel}:${/\(([^)]*)\)/.exec(x.def)?.[1]}`));
  for (const ix of indexes) {
    let def = retarget(ix.def).replace(/^CREATE (UNIQUE )?INDEX \S+ ON /, (_m, u) => `CREATE ${u ?? ''}INDEX ON `);
    if (ix.partial) def = def.replace(/ WHERE .*$/s, '');
    const m = /^CREATE (?:UNIQUE )?INDEX ON \S+?\.(\S+) USING \w+ \((.*)\)$/s.exec(def);
    const shape = m ? `${m[1].replaceAll('"', '')}:${m[2]}` : def;
    if (made.has(shape)) continue;
    try {
      await c.query(def);
      made.add(shape);
    } catch {
      // a partial unique index that the soft-deleted rows would break as a full one: left out
    }
  }
  for (const con of constraints.filter((x) => x.contype === 'f')) {
    await c.query(`ALTER TABLE ${to}.${pg.escapeIdentifier(con.rel)} ADD CONSTRAINT ${pg.escapeIdentifier(con.name)} ${retarget(con.def)}`);
  }
  await c.query(`ANALYZE`);
  // parents first
  const { rows: edges } = await c.query<{ child: string; parent: string }>(`
    SELECT c.relname AS child, p.relname AS parent FROM pg_constraint con
      JOIN pg_class c ON c.oid = con.conrelid JOIN pg_class p ON p.oid = con.confrelid
     WHERE con.contype = 'f' AND c.relnamespace = $1::regnamespace AND p.relnamespace = $1::regnamespace AND c.oid <> p.oid`, [to]);
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (t: string, path: Set<string>) => {
    if (seen.has(t) || path.has(t)) return;
    path.add(t);
    for (const e of edges) if (e.child === t) visit(e.parent, path);
    path.delete(t);
    seen.add(t);
    order.push(t);
  };
  for (const { name } of tables) visit(name, new Set());
  return order;
}

/**
 * The audit capture as it was before the wiring generated a capture function per table: makes
 * bench.use_generic_capture(table) point a table's deletion_50_audit_delete / _update triggers at the
 * generic audit.capture_delete / capture_update (the same log rows, test/pgtap/800), so a bench can
 * measure the generated functions against them in the same run. Called inside a transaction that is
 * rolled back, or on a table of the bench's own.
 */
export async function installGenericCapture(c: pg.Client): Promise<void> {
  await c.query(`
    CREATE OR REPLACE FUNCTION bench.use_generic_capture(target regclass) RETURNS void LANGUAGE plpgsql AS $f$
    DECLARE
      keys text := (SELECT coalesce(array_agg(column_name), '{}')::text FROM deletion.primary_key_columns(target));
      excluded text := (deletion.policy_of(target)).audit_exclude_columns::text;
    BEGIN
      EXECUTE format('DROP TRIGGER deletion_50_audit_delete ON %s; DROP TRIGGER deletion_50_audit_update ON %s', target, target);
      EXECUTE format('CREATE TRIGGER deletion_50_audit_delete AFTER DELETE ON %s REFERENCING OLD TABLE AS old_rows '
                     'FOR EACH STATEMENT EXECUTE FUNCTION audit.capture_delete(%L, %L, %L)', target, excluded, keys, target::text);
      EXECUTE format('CREATE TRIGGER deletion_50_audit_update AFTER UPDATE ON %s REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows '
                     'FOR EACH STATEMENT EXECUTE FUNCTION audit.capture_update(%L, %L, %L)', target, excluded, keys, target::text);
    END $f$`);
}

/** Every audited table of a schema switched to the generic capture (bench.use_generic_capture). */
export async function useGenericCapture(c: pg.Client, schema = 'public'): Promise<void> {
  await c.query(`SELECT bench.use_generic_capture(format('%I.%I', table_schema, table_name)::regclass)
                   FROM deletion.table_policies WHERE table_schema = $1 AND audit
                    AND to_regclass(format('%I.%I', table_schema, table_name)) IS NOT NULL`, [schema]);
}

/**
 * Inside the caller's transaction (rolled back by it): drops the soft-delete walks the wiring generated
 * for each table (sql/12_soft_delete_walk.sql), so soft deletes take the generic walk, which reads the
 * catalog and plans its statements at every call, as every soft delete did before the walks were
 * generated.
 */
export async function useGenericWalk(c: pg.Client): Promise<void> {
  await c.query(`
    DO $g$ DECLARE walk regprocedure; BEGIN
      FOR walk IN SELECT p.oid::regprocedure FROM pg_proc p
                   WHERE p.pronamespace = 'deletion'::regnamespace
                     AND starts_with(coalesce(obj_description(p.oid, 'pg_proc'), ''), deletion.generated_walk_marker()) LOOP
        EXECUTE format('DROP FUNCTION %s', walk);
      END LOOP;
    END $g$`);
}

/** A connected client of the database at url (errors of a connection the server drops are ignored). */
export async function connectTo(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => {});
  await c.connect();
  return c;
}

/** The URL of database `name` on the server of adminUrl. */
export function urlOf(adminUrl: string, name: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

const CLI = path.join(BENCH_DIR, '..', 'bin', 'deletion-kit.js');

/** A chunk as the worker reported it: when it ended (`time`), how long it took, what it did. */
export interface WorkerChunk { time: string; ms: number; phase: string; deleted: number; remaining: number }

/** `deletion-kit worker --once --json` as a real process on the database at url: wall time and its chunk events. */
export function runWorker(url: string): Promise<{ ms: number; chunks: WorkerChunk[] }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [CLI, 'worker', '--once', '--json'], { env: { ...process.env, DATABASE_URL: url }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`worker exited ${code}: ${err}`));
      const events = out.trim().split('\n').map((l) => JSON.parse(l));
      resolve({ ms: Date.now() - t0, chunks: events.filter((e) => e.event === 'chunk').map((e) => ({ ...e, ms: Math.round(Number(e.seconds) * 1000) })) });
    });
  });
}

/**
 * The sync phases of the checkpoints a benchmark cluster has logged so far (log_checkpoints is on by
 * default; the durable cluster logs in UTC): when each ended, and how long its fsyncs took, in epoch
 * milliseconds. While a checkpoint syncs the data files, writes that reach the disk wait on it.
 */
export function checkpointSyncs(cluster: TestCluster): { start: number; end: number }[] {
  const log = readFileSync(path.join(cluster.config.dataDir, 'server.log'), 'utf8');
  return [...log.matchAll(/^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d{3}) UTC \[\d+\] LOG:  checkpoint complete: .*? sync=([\d.]+) s/gm)]
    .map(([, day, time, sync]) => {
      const end = Date.parse(`${day}T${time}Z`);
      return { start: end - Number(sync) * 1000, end };
    });
}

/** Whether a chunk ran (in part) while a checkpoint synced the data files. */
export function duringCheckpointSync(chunk: WorkerChunk, syncs: { start: number; end: number }[]): boolean {
  const end = Date.parse(chunk.time);
  return syncs.some((s) => end - chunk.ms < s.end && end > s.start);
}

const HAND_OP = '00000000-0000-4000-8000-00000000b3b3';

/** Runs sql in a transaction that is rolled back, then vacuums; returns the milliseconds the statements took. */
export async function inRolledBack(c: pg.Client, sql: string, generic = false): Promise<number> {
  await c.query('BEGIN');
  try {
    if (generic) await useGenericCapture(c);   // the capture before it was generated for each table
    return await timed(() => c.query(sql));
  } finally {
    await c.query('ROLLBACK');
    await c.query('VACUUM');
  }
}

// The hand-written soft delete of workspace $ws on the copy: the rows the cascade reaches, one UPDATE per table.
export const handSoftDelete = (ws: number, op = HAND_OP) => `
  UPDATE plain.workspaces SET deleted_at = now(), deletion_op = '${op}' WHERE id = ${ws} AND deleted_at IS NULL;
  UPDATE plain.projects SET deleted_at = now(), deletion_op = '${op}' WHERE workspace_id = ${ws} AND deleted_at IS NULL;
  UPDATE plain.issues SET deleted_at = now(), deletion_op = '${op}' WHERE workspace_id = ${ws} AND deleted_at IS NULL;
  UPDATE plain.comments c SET deleted_at = now(), deletion_op = '${op}'
    FROM plain.issues i WHERE i.workspace_id = ${ws} AND c.issue_id = i.id AND c.deleted_at IS NULL;`;

/** Rows of workspace `ws`'s hard tree per table, from the engine's own plan (made and thrown away in a rolled-back transaction); the root row is not in it. */
export async function planRowsPerTable(c: pg.Client, ws = 1): Promise<Record<string, number>> {
  await c.query('BEGIN');
  try {
    const plan = (await c.query(`SELECT deletion.make_plan(0, 'public.workspaces', $1) AS p`, [String(ws)])).rows[0].p as { table: string; rows: number }[];
    return Object.fromEntries(plan.map((s) => [s.table, Number(s.rows)]));
  } finally {
    await c.query('ROLLBACK');
  }
}

/** Rows of workspace `ws` in the soft-delete tables: what deletion.soft_delete of it marks. */
export async function softTreeRows(c: pg.Client, ws: number): Promise<number> {
  const { rows } = await c.query(`
    SELECT (SELECT count(*) FROM public.workspaces WHERE id = $1) + (SELECT count(*) FROM public.projects WHERE workspace_id = $1)
         + (SELECT count(*) FROM public.issues WHERE workspace_id = $1)
         + (SELECT count(*) FROM public.comments c JOIN public.issues i ON i.id = c.issue_id WHERE i.workspace_id = $1) AS n`, [ws]);
  return Number(rows[0].n);
}

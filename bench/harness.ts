// The benchmark convention (GUIDE.md): each bench measures ours and the reference side by side in one
// run, on the same data, prints a table, and writes bench/results/NAME.json as a list of
// { metric, ours, reference, unit, ratio, goal, holds }.
import { writeFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createDatabase, dropDatabase, type TestCluster } from '../src/testing/cluster.ts';

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));

export type Scale = 'small' | 'default';

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

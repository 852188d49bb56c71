// npm run bench [-- NAME ...] [-- --scale small|large]: runs the benchmarks in bench/*.bench.ts on a fresh
// embedded PostgreSQL 18 with its default settings, one after another, and writes bench/results/.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { clusterUrl } from '../src/embedded.ts';
import { EXAMPLE_DIR, EXAMPLE_TABLE, migrateUp } from '../src/migrate.ts';
import { startTestCluster } from '../src/testing/cluster.ts';
import { BENCH_DIR, generatorSql, makeContext, printTable, writeResults, type Bench, type Result, type Scale } from './harness.ts';

const args = process.argv.slice(2);
let scale: Scale = 'default';
const names: string[] = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--scale') scale = args[++i] as Scale;
  else names.push(args[i]);
}
if (scale !== 'small' && scale !== 'default' && scale !== 'large') throw new Error('--scale is small, default or large');

const files = readdirSync(BENCH_DIR).filter((f) => f.endsWith('.bench.ts')).sort();
const benches: Bench[] = [];
for (const f of files) benches.push((await import(path.join(BENCH_DIR, f))).default as Bench);
const selected = names.length ? benches.filter((b) => names.includes(b.name)) : benches;
if (selected.length === 0) {
  console.error(`no benchmark named ${names.join(', ')}; there are: ${benches.map((b) => b.name).join(', ')}`);
  process.exit(1);
}

const major = Number(process.env.BENCH_PG_MAJOR ?? 18);
const cluster = await startTestCluster(major, { durable: true });
let failed = 0;
try {
  const template = 'bench_template';
  const admin = new pg.Client({ connectionString: cluster.adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${template}`);
  await admin.end();
  const c = new pg.Client({ connectionString: clusterUrl(cluster.config, template) });
  await c.connect();
  await migrateUp(c, { appDir: EXAMPLE_DIR, appTable: EXAMPLE_TABLE });
  await c.query(generatorSql());
  await c.end();

  console.log(`# benchmarks on PostgreSQL ${major}, scale ${scale}: ${selected.map((b) => b.name).join(', ')}`);
  for (const bench of selected) {
    const results: Result[] = [];
    console.log(`\n## ${bench.name}: ${bench.description}`);
    await bench.run(makeContext(scale, cluster, template, results));
    printTable(bench.name, results);
    if (scale === 'default') writeResults(bench.name, results);
    else writeResults(`${bench.name}.${scale}`, results);
    failed += results.filter((r) => !r.holds).length;
  }
} finally {
  cluster.stop();
}
console.log(`\n${failed === 0 ? 'every goal holds' : `${failed} goal(s) not met`}`);

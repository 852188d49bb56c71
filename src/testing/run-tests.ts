// npm test: every pgTAP file (pg_prove) and every uvu file, each on a fresh database cloned from a
// migrated template, on one PostgreSQL major (18) or, with --matrix, on each supported major.
// Ends with one line `N passed, N failed` and a non-zero exit code when anything failed.
// First comes setup (src/testing/setup.ts): what the chosen files need of the machine (pgTAP,
// pg_prove, ...: the one list is src/testing/requirements.ts) is installed when missing (Debian, as
// root), or the run stops before testing, with the command to run and exit code 2.
//
//   npm test                      all tests on PostgreSQL 18
//   npm test -- --major 15        all tests on PostgreSQL 15
//   npm run test:matrix           all tests on 15, 16, 17 and 18
//   npm test -- soft_delete       only the files whose name contains "soft_delete"
//   npm test -- --no-install      never install: stop with the command to run when something is missing
//   npm test -- --setup-only      the setup step alone (exit 0 when the machine is ready)
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MAJOR, SUPPORTED_MAJORS } from '../embedded.ts';
import { setup } from './setup.ts';
import { buildTemplate, createDatabase, dropDatabase, startTestCluster, type TestCluster } from './cluster.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

interface FileResult {
  file: string;
  major: number;
  passed: number;
  failed: number;
  output: string;
  ms: number;
}

function parseArgs(argv: string[]) {
  const majors: number[] = [];
  const filters: string[] = [];
  let jobs = Math.max(1, Math.min(2, os.cpus().length));
  let install = true;
  let setupOnly = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--no-install') install = false;
    else if (a === '--setup-only') setupOnly = true;
    else if (a === '--matrix') majors.push(...SUPPORTED_MAJORS);
    else if (a === '--major') majors.push(Number(argv[++i]));
    else if (a === '--jobs') jobs = Number(argv[++i]);
    else filters.push(a);
  }
  return { majors: majors.length ? [...new Set(majors)] : [DEFAULT_MAJOR], filters, jobs, install, setupOnly };
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

/** Counts TAP lines from `pg_prove --verbose`; a file that died (plan mismatch, SQL error) counts one failure more. */
function countTap(code: number, output: string) {
  const passed = (output.match(/^ok \d+/gm) ?? []).length;
  let failed = (output.match(/^not ok \d+/gm) ?? []).length;
  if (code !== 0 && failed === 0) failed = 1;
  return { passed, failed };
}

/** Reads uvu's summary (Total / Passed); a crash before the summary counts as one failure. */
function countUvu(code: number, output: string) {
  const plain = output.replace(/\x1b\[[0-9;]*m/g, '');
  const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? NaN);
  const passed = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? NaN);
  if (Number.isNaN(total) || Number.isNaN(passed)) return { passed: 0, failed: 1 };
  const failed = total - passed;
  return { passed, failed: code !== 0 && failed === 0 ? 1 : failed };
}

async function runFile(cluster: TestCluster, file: string): Promise<FileResult> {
  const started = Date.now();
  const db = await createDatabase(cluster.adminUrl);
  const url = new URL(db.url);
  const pgEnv = {
    PGHOST: url.hostname, PGPORT: url.port, PGUSER: url.username, PGPASSWORD: cluster.config.password,
    PGDATABASE: db.name,
  };
  try {
    if (file.endsWith('.sql')) {
      const { code, output } = await run('pg_prove', ['--verbose', '--failures', file], {
        ...pgEnv, PGOPTIONS: '-c search_path=public,tap -c client_min_messages=warning',
      });
      return { file, major: cluster.config.major, ...countTap(code, output), output, ms: Date.now() - started };
    }
    const { code, output } = await run(process.execPath, [
      path.join(ROOT, 'node_modules', 'uvu', 'bin.js'), '-r', 'tsx', path.dirname(file), `^${path.basename(file).replace(/\./g, '\\.')}$`,
    ], {
      DATABASE_URL: db.url,
      TEST_ADMIN_URL: cluster.adminUrl,
      TEST_CLUSTER_ROOT: cluster.root,
      TEST_PG_MAJOR: String(cluster.config.major),
      DELETION_KIT_HOME: path.join(cluster.root, 'unused-embedded-home'),
      FORCE_COLOR: '0',
    });
    return { file, major: cluster.config.major, ...countUvu(code, output), output, ms: Date.now() - started };
  } finally {
    await dropDatabase(cluster.adminUrl, db.name).catch(() => {});
  }
}

function testFiles(filters: string[]): string[] {
  const pgtap = readdirSync(path.join(ROOT, 'test', 'pgtap')).filter((f) => f.endsWith('.sql')).map((f) => `test/pgtap/${f}`);
  const uvu = readdirSync(path.join(ROOT, 'test')).filter((f) => f.endsWith('.test.ts')).map((f) => `test/${f}`);
  const all = [...pgtap.sort(), ...uvu.sort()];
  return filters.length ? all.filter((f) => filters.some((p) => f.includes(p))) : all;
}

async function pool<T, R>(items: T[], size: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(size, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await work(items[i]);
      }
    }),
  );
  return results;
}

async function main() {
  const { majors, filters, jobs, install, setupOnly } = parseArgs(process.argv.slice(2));
  const files = testFiles(filters);
  if (files.length === 0) {
    console.error(`no test files match ${filters.join(' ')}`);
    process.exit(1);
  }
  const pgtap = files.filter((f) => f.endsWith('.sql')).length;
  console.log(`# running ${pgtap} pgTAP ${pgtap === 1 ? 'file' : 'files'} (pg_prove) and ${files.length - pgtap} uvu ${files.length - pgtap === 1 ? 'file' : 'files'} on PostgreSQL ${majors.join(', ')}`);
  if (!setup(files, { install }).ready) {
    process.exitCode = 2;
    return;
  }
  if (setupOnly) return;
  const results: FileResult[] = [];
  for (const major of majors) {
    const t0 = Date.now();
    const cluster = await startTestCluster(major);
    try {
      await buildTemplate(cluster);
      console.log(`# PostgreSQL ${major}: template ready in ${Date.now() - t0} ms; ${files.length} files`);
      await pool(files, jobs, async (file) => {
        const r = await runFile(cluster, file);
        results.push(r);
        const mark = r.failed ? 'FAIL' : 'ok  ';
        console.log(`${mark} pg${major} ${file}  ${r.passed} passed, ${r.failed} failed  (${r.ms} ms)`);
        if (r.failed) console.log(r.output.replace(/^/gm, '    | '));
        return r;
      });
    } finally {
      cluster.stop();
    }
  }
  const passed = results.reduce((n, r) => n + r.passed, 0);
  const failed = results.reduce((n, r) => n + r.failed, 0);
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed > 0 ? 1 : 0;
}

main().catch((err) => {
  console.error(err);
  console.log('0 passed, 1 failed');
  process.exitCode = 1;
});

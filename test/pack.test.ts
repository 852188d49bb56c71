// The package as an application gets it: `npm pack` (which builds dist/ through prepack), the tarball
// installed into a temporary project (unpacked into its node_modules, the dependencies linked from
// this repository's node_modules: no network), then imported BY NAME from JavaScript and from
// TypeScript (type-checked with tsc, and a wrong call must fail the check), each running schedule,
// plan, soft delete, restore and the embedded worker against the real test database.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { client, env } from './helpers.ts';

const run = promisify(execFile);
const REPO = path.resolve('.');
let project: string;

const ORG = 'c0000000-0000-4000-8000-000000000000';

test.before(async () => {
  const c = await client();
  await c.query(readFileSync(path.resolve('test/fixtures/lab_schema.sql'), 'utf8'));
  await c.query(`SELECT deletion.enable_soft_delete(t) FROM unnest(ARRAY['lab.orgs', 'lab.folders', 'lab.documents', 'lab.people']::regclass[]) t`);
  await c.query(`INSERT INTO lab.orgs (id, name) VALUES ('${ORG}', 'C')`);
  await c.query(`INSERT INTO lab.folders (org_id, id, parent_id, name) VALUES ('${ORG}', 1, NULL, 'root'), ('${ORG}', 2, 1, 'sub')`);
  await c.query(`INSERT INTO lab.documents (org_id, folder_id, slug) SELECT '${ORG}', 2, 'doc-' || n FROM generate_series(1, 4) n`);
  await c.query(`INSERT INTO lab.tags (label) SELECT 'tag-' || n FROM generate_series(1, 4) n`);
  await c.end();

  project = mkdtempSync(path.join(os.tmpdir(), 'deletion-kit-pack-'));
  await run('npm', ['pack', '--pack-destination', project], { cwd: REPO, maxBuffer: 64 * 1024 * 1024 });
  const tarball = path.join(project, readdirSync(project).find((f) => f.endsWith('.tgz'))!);
  const modules = path.join(project, 'node_modules');
  mkdirSync(path.join(modules, 'pg-deletion-kit'), { recursive: true });
  await run('tar', ['-xzf', tarball, '-C', path.join(modules, 'pg-deletion-kit'), '--strip-components=1']);
  // The dependencies (and tsc, @types): linked from this repository's node_modules, as an install would put them.
  for (const name of readdirSync(path.join(REPO, 'node_modules'))) {
    if (name === 'pg-deletion-kit' || name.startsWith('.')) continue;
    symlinkSync(path.join(REPO, 'node_modules', name), path.join(modules, name));
  }
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module', dependencies: { 'pg-deletion-kit': 'file:pg-deletion-kit.tgz' } }));
});

test.after(() => rmSync(project, { recursive: true, force: true }));

const usage = (lang: 'js' | 'ts') => `
import pg from 'pg';
import { DeletionKitError, plan, restore, runWorker, schedule, softDelete, jobs${lang === 'ts' ? ', type Plan, type ScheduledJob' : ''} } from 'pg-deletion-kit';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
const folder = JSON.stringify(['${ORG}', 1]);
const preview${lang === 'ts' ? ': Plan' : ''} = await plan(pool, { table: 'lab.folders', key: ['${ORG}', 1] });
const doc = (await pool.query("SELECT id FROM lab.documents WHERE slug = 'doc-${lang === 'js' ? 1 : 2}'")).rows[0].id;
const deleted = await softDelete(pool, { table: 'lab.documents', key: doc, reason: 'pack test', actor: 'app' });
const restored = await restore(pool, { op: deleted.op });
let refused = null;
try {
  await softDelete(pool, { table: 'lab.documents', key: '00000000-0000-0000-0000-000000000000' });
} catch (err) {
  if (!(err instanceof DeletionKitError)) throw err;
  refused = { sqlstate: err.sqlstate, hint: err.hint };
}
const tag = (await pool.query("SELECT id FROM lab.tags WHERE label = 'tag-${lang === 'js' ? 1 : 2}'")).rows[0].id;
const job${lang === 'ts' ? ': ScheduledJob' : ''} = await schedule(pool, { table: 'lab.tags', key: tag, hard: true, reason: 'pack test' });
const events = [];
await runWorker({ pool, once: true, pollMs: 50, onEvent: (event, fields) => events.push({ event, job: fields.job }) });
const after = (await jobs(pool, { limit: 20 })).find((j) => j.id === job.id);
const left = Number((await pool.query('SELECT count(*) AS n FROM lab.tags WHERE id = $1', [tag])).rows[0].n);
console.log(JSON.stringify({ folderRows: preview.rows.find((r) => r.table_name === 'lab.folders')?.rows, blocked: preview.blocked, folder,
  op: deleted.op, restored: restored.rows, refused, job: job.status, after: after?.status, left,
  events: events.filter((e) => e.job === job.id).map((e) => e.event) }));
await pool.end();
`;

function check(out: string) {
  const r = JSON.parse(out.trim().split('\n').pop()!);
  assert.is(r.folderRows, 2, 'plan: the folder and its child folder');
  assert.is(r.blocked, false);
  assert.match(r.op, /^[0-9a-f-]{36}$/, 'soft delete returns its operation');
  assert.is(r.restored, 1, 'restore brings the document back, a number');
  assert.equal(r.refused?.sqlstate, 'P0002', 'errors are DeletionKitError with the SQLSTATE');
  assert.ok(r.refused.hint, 'and the engine\'s hint');
  assert.is(r.job, 'pending');
  assert.is(r.after, 'done', 'the embedded worker did the job');
  assert.is(r.left, 0);
  assert.ok(r.events.includes('claimed') && r.events.includes('done'), r.events.join());
}

test('JavaScript imports the packed package by name and runs schedule, plan, soft delete, restore and the embedded worker', async () => {
  writeFileSync(path.join(project, 'app.mjs'), usage('js'));
  const { stdout } = await run(process.execPath, ['app.mjs'], { cwd: project, env: { ...process.env, DATABASE_URL: env('DATABASE_URL') } });
  check(stdout);
});

test('TypeScript: the package\'s declarations type-check the same program (and refuse a wrong call); it runs', async () => {
  writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'] }, include: ['app.ts'] }));
  writeFileSync(path.join(project, 'app.ts'), usage('ts').replace('const events = [];', 'const events: { event: string; job: unknown }[] = [];'));
  const tsc = path.join(project, 'node_modules', 'typescript', 'bin', 'tsc');
  const typed = await run(process.execPath, [tsc, '-p', '.'], { cwd: project }).catch((e) => e);
  assert.is(typed.code ?? 0, 0, `tsc: ${typed.stdout ?? ''}`);
  writeFileSync(path.join(project, 'wrong.ts'), `import { plan } from 'pg-deletion-kit';\nimport pg from 'pg';\nconst n: number = (await plan(new pg.Pool(), { table: 1, key: 2 })).blocked;\n`);
  writeFileSync(path.join(project, 'tsconfig.wrong.json'), JSON.stringify({ extends: './tsconfig.json', include: ['wrong.ts'] }));
  const wrong = await run(process.execPath, [tsc, '-p', 'tsconfig.wrong.json'], { cwd: project }).catch((e) => e);
  assert.is(wrong.code, 2, 'a wrong call does not type-check');
  assert.match(wrong.stdout, /TS2322/);
  const tsx = path.join(project, 'node_modules', 'tsx', 'dist', 'cli.mjs');
  const { stdout } = await run(process.execPath, [tsx, 'app.ts'], { cwd: project, env: { ...process.env, DATABASE_URL: env('DATABASE_URL') } });
  check(stdout);
});

test('the package keeps its command: bin/deletion-kit.js runs from the installed copy', async () => {
  const { stdout } = await run(process.execPath, [path.join(project, 'node_modules', 'pg-deletion-kit', 'bin', 'deletion-kit.js'), '--version'], { cwd: project });
  assert.match(stdout, /^\d+\.\d+\.\d+/);
});

test.run();

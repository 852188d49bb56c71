// deletion-kit docs: the committed docs (docs/tables/*.md, docs/cascade.md) are exactly what the
// migrated schema generates (the CI check), the pages follow seed 001's format, and a schema change
// makes --check fail with what to do. The docs folder is --out, else the config's docsDir, else
// ./deletion-docs, and never a folder inside the package (but its own docs/ named by --out).
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { docsDir } from '../src/commands/docs.ts';
import { PACKAGE_ROOT } from '../src/config.ts';
import { UserError } from '../src/errors.ts';
import { client, env } from './helpers.ts';

const run = promisify(execFile);
const CLI = path.resolve('bin/deletion-kit.js');

const temps: string[] = [];
test.after(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

/** A fresh temporary folder (its real path), removed after the tests. */
function tempDir(): string {
  const dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'dk-docs-')));
  temps.push(dir);
  return dir;
}

/** Runs the CLI from the package's folder. */
async function cli(...args: string[]) {
  return cliIn(process.cwd(), ...args);
}

async function cliIn(cwd: string, ...args: string[]) {
  return run(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, DATABASE_URL: env('DATABASE_URL') } });
}

test('the committed docs are exactly what the migrated schema generates', async () => {
  const out = tempDir();
  const { stdout } = await cli('docs', '--out', out);
  assert.match(stdout, /wrote \d+ table pages/);
  const generated = readdirSync(path.join(out, 'tables')).sort();
  const committed = readdirSync('docs/tables').filter((f) => f.endsWith('.md')).sort();
  assert.equal(committed, generated, 'one committed page per table (run deletion-kit docs and commit the result)');
  for (const f of generated) {
    assert.fixture(readFileSync(path.join('docs/tables', f), 'utf8'), readFileSync(path.join(out, 'tables', f), 'utf8'),
      `docs/tables/${f} matches the schema (run deletion-kit docs and commit the result)`);
  }
  assert.fixture(readFileSync('docs/cascade.md', 'utf8'), readFileSync(path.join(out, 'cascade.md'), 'utf8'),
    'docs/cascade.md matches the schema (run deletion-kit docs and commit the result)');
  const check = await cli('docs', '--check', '--out', 'docs');
  assert.match(check.stdout, /files match the schema/, 'and --check agrees');
});

test('a page follows seed 001: columns with type, null, default and comment, keys, indexes, foreign keys, views', async () => {
  const page = readFileSync('docs/tables/deletion.protection_rules.md', 'utf8');
  assert.ok(page.startsWith('# deletion.protection_rules\n\nProtection rules as data'), 'title and the table comment');
  assert.match(page, /## Columns\n\| Column \| Type \| Null \| Default \| Description \|\n\| --- \| --- \| --- \| --- \| --- \|\n/);
  assert.match(page, /\| admin_must_force \| boolean \| NO \| false \| Admins pass only/);
  assert.match(page, /\| id \| bigint \| NO \| generated always as identity \| Surrogate key\. \|/);
  assert.match(page, /Unique keys:\n\| Name \| Columns \|/);
  assert.match(page, /\| protection_rules_pkey \| id \|/);
  assert.match(page, /Indexes:\n\| Name \| Columns \| SQL \|/);
  assert.match(page, /\| protection_rules_table_idx \| table_schema,table_name \| CREATE INDEX protection_rules_table_idx ON deletion\.protection_rules USING btree \(table_schema, table_name\) \|/);
  assert.match(page, /Foreign keys:\n\| Name \| Columns \| References \| Actions \|\n.*\n\| protection_rules_table_fkey \| table_schema, table_name \| deletion\.table_policies\(table_schema, table_name\) \| ON DELETE CASCADE \|/);
  assert.match(page, /## Views\n\| View \| Engine \| Flags \|/);
  const cascade = readFileSync('docs/cascade.md', 'utf8');
  assert.match(cascade, /```mermaid\nflowchart LR\n/);
  assert.match(cascade, /deletion__table_policies ==>\|"CASCADE protection_rules_table_fkey"\| deletion__protection_rules/);
});

test('a schema change makes docs --check fail and say what to do; the views that use a table are listed', async () => {
  const c = await client();
  try {
    await c.query(`CREATE TABLE public.docs_probe (id bigint PRIMARY KEY, note text NOT NULL DEFAULT 'x');
                   COMMENT ON TABLE public.docs_probe IS 'A probe.';
                   COMMENT ON COLUMN public.docs_probe.note IS 'A note | with a pipe.';
                   CREATE VIEW public.docs_probe_view WITH (security_invoker = true) AS SELECT id FROM public.docs_probe;`);
  } finally {
    await c.end();
  }
  const err = await cli('docs', '--check', '--out', 'docs').catch((e) => e);
  assert.is(err.code, 1);
  assert.match(err.stdout, /missing tables\/docs_probe\.md/);
  assert.match(err.stdout, /run deletion-kit docs and commit the result/);

  const out = tempDir();
  await cli('docs', '--out', out);
  const page = readFileSync(path.join(out, 'tables', 'docs_probe.md'), 'utf8');
  assert.match(page, /\| note \| text \| NO \| 'x'::text \| A note \\\| with a pipe\. \|/, 'a pipe in a comment is escaped');
  assert.match(page, /\*\*None registered\*\*/, 'a table without a policy says so');
  assert.match(page, /\| docs_probe_view \| postgres \| security_invoker=true \|/, 'the view that uses it, with its flags');
});

test('docs refuses a folder inside the package, unless --out names the package\'s own docs', async () => {
  assert.is(process.cwd(), PACKAGE_ROOT, 'the test runs from the package folder');
  const refused = async (cwd: string, ...args: string[]) => {
    const err = await cliIn(cwd, 'docs', ...args).catch((e) => e);
    assert.is(err.code, 1, `refused: docs ${args.join(' ')} in ${cwd}`);
    assert.match(err.stderr, /^deletion-kit: refusing to use .* as the docs folder: it is inside the deletion-kit package itself \(.*\); run from your project, or set --out or docsDir in deletion-kit\.config\.json\n$/);
    assert.is(err.stdout, '');
  };
  await refused(PACKAGE_ROOT); // the default ./deletion-docs
  await refused(PACKAGE_ROOT, '--check');
  await refused(path.join(PACKAGE_ROOT, 'test'));
  await refused(PACKAGE_ROOT, '--out', 'docs/tables');
  await refused(PACKAGE_ROOT, '--out', '.');
  assert.not.ok(existsSync(path.join(PACKAGE_ROOT, 'deletion-docs')), 'nothing was written');
  assert.not.ok(existsSync(path.join(PACKAGE_ROOT, 'test', 'deletion-docs')));

  // The rule compares real paths: a link to the package is the package.
  const tmp = tempDir();
  symlinkSync(PACKAGE_ROOT, path.join(tmp, 'pkg'));
  await refused(tmp, '--out', 'pkg/generated');
  // A config's docsDir inside the package is refused too, even when it is the package's docs/.
  writeFileSync(path.join(tmp, 'deletion-kit.config.json'), JSON.stringify({ docsDir: 'pkg/docs' }));
  await refused(tmp);

  // Only an explicit --out that is the package's own docs/ passes (how they are regenerated).
  assert.is(docsDir('docs', PACKAGE_ROOT), path.join(PACKAGE_ROOT, 'docs'));
  assert.is(docsDir('pkg/docs', tmp), path.join(tmp, 'pkg/docs'));
  assert.is(docsDir(path.join(PACKAGE_ROOT, 'docs'), tmp), path.join(PACKAGE_ROOT, 'docs'));
  assert.throws(() => docsDir(undefined, PACKAGE_ROOT), (e: unknown) => e instanceof UserError);
});

test('docs writes to the config\'s docsDir, found from a subfolder; else to ./deletion-docs', async () => {
  const root = tempDir();
  mkdirSync(path.join(root, 'project/src'), { recursive: true });
  writeFileSync(path.join(root, 'project/deletion-kit.config.json'), JSON.stringify({ docsDir: 'generated/db-docs' }));
  const { stdout } = await cliIn(path.join(root, 'project/src'), 'docs');
  const out = path.join(root, 'project/generated/db-docs');
  assert.is(stdout, `wrote ${readdirSync(path.join(out, 'tables')).length} table pages to ${path.join(out, 'tables')} and ${path.join(out, 'cascade.md')}\n`);
  assert.match(readFileSync(path.join(out, 'cascade.md'), 'utf8'), /```mermaid\nflowchart LR\n/);
  assert.not.ok(existsSync(path.join(root, 'project/src/deletion-docs')));
  assert.match((await cliIn(path.join(root, 'project'), 'docs', '--check')).stdout, /files match the schema/, '--check reads the same folder');

  mkdirSync(path.join(root, 'plain'));
  const plain = await cliIn(path.join(root, 'plain'), 'docs');
  assert.match(plain.stdout, /^wrote \d+ table pages to deletion-docs\/tables and deletion-docs\/cascade\.md\n$/);
  assert.ok(existsSync(path.join(root, 'plain/deletion-docs/cascade.md')), 'the default is ./deletion-docs');
});

test.run();

// deletion-kit docs: the committed docs (docs/tables/*.md, docs/cascade.md) are exactly what the
// migrated schema generates (the CI check), the pages follow seed 001's format, and a schema change
// makes --check fail with what to do.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { client, env } from './helpers.ts';

const run = promisify(execFile);
const CLI = path.resolve('bin/deletion-kit.js');

async function cli(...args: string[]) {
  return run(process.execPath, [CLI, ...args], { env: { ...process.env, DATABASE_URL: env('DATABASE_URL') } });
}

test('the committed docs are exactly what the migrated schema generates', async () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'dk-docs-'));
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
  const check = await cli('docs', '--check');
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
  const err = await cli('docs', '--check').catch((e) => e);
  assert.is(err.code, 1);
  assert.match(err.stdout, /missing tables\/docs_probe\.md/);
  assert.match(err.stdout, /run deletion-kit docs and commit the result/);

  const out = mkdtempSync(path.join(os.tmpdir(), 'dk-docs-'));
  await cli('docs', '--out', out);
  const page = readFileSync(path.join(out, 'tables', 'docs_probe.md'), 'utf8');
  assert.match(page, /\| note \| text \| NO \| 'x'::text \| A note \\\| with a pipe\. \|/, 'a pipe in a comment is escaped');
  assert.match(page, /\*\*None registered\*\*/, 'a table without a policy says so');
  assert.match(page, /\| docs_probe_view \| postgres \| security_invoker=true \|/, 'the view that uses it, with its flags');
});

test.run();

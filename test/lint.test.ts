// deletion-kit lint: clean (exit 0) on our own migrated schema, which is what CI checks; a hazard makes
// it print the finding with its fix and exit 1; --json gives the same findings.
import { execFile } from 'node:child_process';
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

test('lint is clean on our own migrated schema (exit 0)', async () => {
  const { stdout } = await cli('lint');
  assert.is(stdout.trim(), 'no deletion hazards found');
});

test('a hazard is printed with its fix and lint exits 1; --json gives the findings', async () => {
  const c = await client();
  try {
    await c.query(`CREATE TABLE public.lint_parent (id bigint PRIMARY KEY);
                   CREATE TABLE public.lint_child (id bigint PRIMARY KEY, parent_id bigint REFERENCES public.lint_parent ON DELETE CASCADE);
                   SELECT deletion.register_table('public.lint_parent'), deletion.register_table('public.lint_child');`);
    const err = await cli('lint').catch((e) => e);
    assert.is(err.code, 1, 'exit code 1');
    assert.match(err.stdout, /error\s+unindexed_foreign_key\s+public\.lint_child\.lint_child_parent_id_fkey/);
    assert.match(err.stdout, /fix: CREATE INDEX ON public\.lint_child \(parent_id\);/);
    assert.match(err.stdout, /1 error, 0 warnings/);

    const json = await cli('lint', '--json').catch((e) => e);
    assert.is(json.code, 1);
    const findings = JSON.parse(json.stdout);
    assert.equal(findings.map((f: { rule: string }) => f.rule), ['unindexed_foreign_key']);

    await c.query('CREATE INDEX ON public.lint_child (parent_id)');
    const fixed = await cli('lint');
    assert.is(fixed.stdout.trim(), 'no deletion hazards found', 'clean again once fixed');
  } finally {
    await c.end();
  }
});

test('lint --max-depth must be a positive whole number', async () => {
  const err = await cli('lint', '--max-depth', 'deep').catch((e) => e);
  assert.is(err.code, 1);
  assert.match(err.stderr, /--max-depth takes a positive whole number, not "deep"/);
});

test.run();

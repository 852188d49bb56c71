// deletion-kit trash / trash purge / restore against a real database: what they print, exit codes,
// and that a refused restore changes nothing.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { client, env } from './helpers.ts';

const run = promisify(execFile);
const CLI = path.resolve('bin/deletion-kit.js');
const cli = (...args: string[]) => run(process.execPath, [CLI, ...args], { env: { ...process.env, DATABASE_URL: env('DATABASE_URL') } });
const fails = (...args: string[]) => cli(...args).then(() => { throw new Error(`deletion-kit ${args.join(' ')} succeeded`); }, (e) => e);

const ORG = 'a0000000-0000-4000-8000-000000000000';

test.before(async () => {
  const c = await client();
  await c.query(readFileSync(path.resolve('test/fixtures/lab_schema.sql'), 'utf8'));
  await c.query(`SELECT deletion.enable_soft_delete(t) FROM unnest(ARRAY['lab.orgs', 'lab.folders', 'lab.documents', 'lab.people']::regclass[]) t`);
  await c.query(`INSERT INTO lab.orgs (id, name) VALUES ('${ORG}', 'A')`);
  await c.query(`INSERT INTO lab.folders (org_id, id, parent_id, name) VALUES ('${ORG}', 1, NULL, 'root'), ('${ORG}', 2, 1, 'sub')`);
  await c.query(`INSERT INTO lab.documents (org_id, folder_id, slug) VALUES ('${ORG}', 2, 'doc')`);
  await c.end();
});

test('trash lists an operation with its rows; restore OP brings it back', async () => {
  const c = await client();
  try {
    assert.match((await cli('trash')).stdout, /the trash is empty/);
    await c.query(`BEGIN; SET LOCAL deletion.actor = '7'; SELECT deletion.soft_delete('lab.folders', '["${ORG}", 1]', 'tidy up'); COMMIT`);
    const { rows } = await c.query('SELECT op FROM deletion.soft_delete_operations');
    const op = rows[0].op as string;
    const listed = (await cli('trash')).stdout;
    assert.match(listed, new RegExp(`${op} .* lab\\.folders .* 3 rows \\(lab\\.folders 2, lab\\.documents 1\\)  by 7  "tidy up"`));
    assert.match(listed, /restorable/);
    const json = JSON.parse((await cli('trash', '--json')).stdout);
    assert.is(json[0].op, op);

    assert.match((await cli('restore', op)).stdout, new RegExp(`restored 3 rows of operation ${op}`));
    const active = await c.query('SELECT count(*)::int AS n FROM lab.folders WHERE deleted_at IS NULL');
    assert.is(active.rows[0].n, 2);
    assert.match((await cli('trash')).stdout, /the trash is empty/);
  } finally {
    await c.end();
  }
});

test('restore --table --key; a refused restore exits 1 with the conflicts and changes nothing', async () => {
  const c = await client();
  try {
    await c.query(`SELECT deletion.soft_delete('lab.folders', '["${ORG}", 2]')`);
    await c.query(`SELECT deletion.soft_delete('lab.folders', '["${ORG}", 1]')`);
    const err = await fails('restore', '--table', 'lab.folders', '--key', `["${ORG}", 2]`);
    assert.is(err.code, 1);
    assert.match(err.stderr, /cannot be restored: lab\.folders row .* its parent lab\.folders row .* is still deleted .*\(SQLSTATE PD110\)/);
    const stillDeleted = await c.query('SELECT count(*)::int AS n FROM lab.folders WHERE deleted_at IS NULL');
    assert.is(stillDeleted.rows[0].n, 0, 'nothing was restored');
    assert.match((await cli('trash')).stdout, /not restorable: .*is still deleted/);

    assert.match((await cli('restore', '--table', 'lab.folders', '--key', `["${ORG}", 1]`)).stdout, /restored 1 rows \(the operation that deleted lab\.folders/);
    assert.match((await cli('restore', '--table', 'lab.folders', '--key', `["${ORG}", 2]`)).stdout, /restored 2 rows/);
  } finally {
    await c.end();
  }
});

test('restore refuses bad input with one line', async () => {
  const notUuid = await fails('restore', 'yesterday');
  assert.match(notUuid.stderr, /"yesterday" is not an operation id/);
  const unknown = await fails('restore', '6f1c2a9e-0000-4000-8000-000000000000');
  assert.match(unknown.stderr, /no soft-delete operation .*\(SQLSTATE P0002\)/);
  const half = await fails('restore', '--table', 'lab.folders');
  assert.match(half.stderr, /needs both --table and --key/);
  const both = await fails('restore', '6f1c2a9e-0000-4000-8000-000000000000', '--table', 'lab.folders', '--key', '1');
  assert.match(both.stderr, /not both/);
  assert.is(both.stderr.trim().split('\n').length, 1);
});

test('trash purge removes what was deleted before the cutoff', async () => {
  const c = await client();
  try {
    await c.query(`SELECT deletion.soft_delete('lab.documents', (SELECT id::text FROM lab.documents WHERE slug = 'doc'))`);
    assert.match((await cli('trash', 'purge')).stdout, /nothing was soft-deleted more than 90 days ago/);
    await c.query(`UPDATE lab.documents SET deleted_at = deleted_at - interval '2 days' WHERE deleted_at IS NOT NULL`);
    assert.match((await cli('trash', 'purge', '--older-than', '1 day')).stdout, /purged 1 rows of lab\.documents/);
    const left = await c.query('SELECT count(*)::int AS n FROM lab.documents');
    assert.is(left.rows[0].n, 0);
  } finally {
    await c.end();
  }
});

test.run();

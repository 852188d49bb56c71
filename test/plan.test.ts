// deletion-kit plan: prints deletion.plan as a table and as JSON, deletes nothing, and turns bad
// input into one line with a SQLSTATE and exit code 1.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { client, env } from './helpers.ts';

const run = promisify(execFile);
const CLI = path.resolve('bin/deletion-kit.js');
const ORG = '00000000-0000-4000-8000-00000000000a';

async function cli(...args: string[]) {
  return run(process.execPath, [CLI, ...args], { env: { ...process.env, DATABASE_URL: env('DATABASE_URL') } });
}

test.before(async () => {
  const c = await client();
  try {
    await c.query(readFileSync('test/fixtures/lab_schema.sql', 'utf8'));
    await c.query(`
      INSERT INTO lab.orgs (id, name) VALUES ('${ORG}', 'acme');
      INSERT INTO lab.folders (org_id, id, parent_id, name) VALUES ('${ORG}', 1, NULL, 'root'), ('${ORG}', 2, 1, 'child');
      INSERT INTO lab.documents (org_id, folder_id, slug) SELECT '${ORG}', 1 + n % 2, 'doc-' || n FROM generate_series(1, 5) n;
      INSERT INTO lab.tags (document_id, label) SELECT id, 'tag' FROM lab.documents;`);
  } finally {
    await c.end();
  }
});

test('plan prints every table the delete reaches, as a table, and deletes nothing', async () => {
  const { stdout } = await cli('plan', 'lab.orgs', ORG);
  const lines = stdout.split('\n');
  assert.match(lines[0], /^depth\s+table\s+action\s+rows\s+via$/);
  assert.match(stdout, /^0\s+lab\.orgs\s+delete\s+1\s*$/m);
  assert.match(stdout, /^1\s+lab\.folders\s+delete\s+2\s+folders_org_id_fkey$/m);
  assert.match(stdout, /^2\s+lab\.documents\s+delete\s+5\s+documents_folder_fkey$/m);
  assert.match(stdout, /^3\s+lab\.tags\s+set null\s+5\s+tags_document_id_fkey$/m);
  assert.match(stdout, /8 rows would be deleted/);
  const c = await client();
  try {
    assert.is((await c.query('SELECT count(*)::int AS n FROM lab.documents')).rows[0].n, 5, 'nothing was deleted');
  } finally {
    await c.end();
  }
});

test('plan --json gives the same rows as JSON', async () => {
  const { stdout } = await cli('plan', 'lab.orgs', ORG, '--json');
  const rows = JSON.parse(stdout);
  assert.equal(rows.map((r: { table_name: string; action: string; rows: number }) => [r.table_name, r.action, r.rows]), [
    ['lab.orgs', 'delete', 1],
    ['lab.folders', 'delete', 2],
    ['lab.documents', 'delete', 5],
    ['lab.tags', 'set null', 5],
  ]);
  assert.equal(rows[1].via, ['folders_org_id_fkey']);
});

test('plan of a blocked delete says so, with the reason', async () => {
  const c = await client();
  try {
    await c.query(`INSERT INTO lab.people (id, email) VALUES ('00000000-0000-4000-8000-000000000001', 'a@lab');
                   INSERT INTO lab.approvals (document_id, approver_id) SELECT id, '00000000-0000-4000-8000-000000000001' FROM lab.documents LIMIT 2`);
  } finally {
    await c.end();
  }
  const err = await cli('plan', 'lab.people', '00000000-0000-4000-8000-000000000001').then(() => undefined, (e) => e);
  assert.is(err?.code, 2, 'a blocked plan exits 2');
  assert.match(err.stdout, /lab\.approvals\s+blocked by restrict\s+2\s+approvals_approver_id_fkey/);
  assert.match(err.stdout, /the delete would fail: nothing would change/);
});

test('plan of a soft delete counts the soft-deleted rows in its footer; --hard previews the hard delete', async () => {
  const c = await client();
  let ws: string;
  try {
    ws = (await c.query(`INSERT INTO public.workspaces (name, slug) VALUES ('plan', 'plan-ws') RETURNING id::text`)).rows[0].id;
    await c.query(`INSERT INTO public.users (email, name) VALUES ('plan@example.com', 'P')`);
    await c.query(`INSERT INTO public.issues (workspace_id, creator_id, title) SELECT $1::bigint, (SELECT max(id) FROM public.users), 'i' FROM generate_series(1, 3)`, [ws]);
  } finally {
    await c.end();
  }
  const soft = await cli('plan', 'public.workspaces', ws);
  assert.match(soft.stdout, /4 rows would be soft-deleted/, 'the workspace and its 3 issues are counted');
  assert.not.match(soft.stdout, /0 rows would be deleted/);
  const hard = await cli('plan', 'public.workspaces', ws, '--hard');
  assert.match(hard.stdout, /^0\s+(public\.)?workspaces\s+delete\s+1/m, 'the hard preview deletes the row');
  assert.match(hard.stdout, /4 rows would be deleted/, 'and its 3 issues');
});

test('bad input: an unknown table, a missing row, a key that does not cast; one line each, exit 1', async () => {
  const cases: [string[], RegExp][] = [
    [['plan', 'lab.nope', '1'], /relation "lab\.nope" does not exist \(SQLSTATE 42P01\)/],
    [['plan', 'lab.orgs', '00000000-0000-4000-8000-0000000000ff'], /no row .* in lab\.orgs \(SQLSTATE P0002\)/],
    [['plan', 'lab.orgs', 'not-a-uuid'], /does not cast to uuid.*\(SQLSTATE 22P02\)/],
  ];
  for (const [args, message] of cases) {
    const err = await cli(...args).catch((e) => e);
    assert.is(err.code, 1, `${args.join(' ')} exits 1`);
    assert.is(err.stderr.trim().split('\n').length, 1, 'one line');
    assert.match(err.stderr, message);
  }
});

test.run();

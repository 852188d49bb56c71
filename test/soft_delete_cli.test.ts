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
    const lines = listed.trim().split('\n');
    assert.match(lines[0], /^operation +deleted at \(UTC\) +root +key +rows +rows per table +by +reason +restorable$/, listed);
    assert.match(lines[1], /^-+( +-+)+$/);
    assert.match(lines[2], new RegExp(`^${op}  \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d  lab\\.folders +id=1, org_id=${ORG} +3  lab\\.folders 2, lab\\.documents 1  7 +tidy up +yes$`), 'one line per operation, the key readable');
    assert.match(lines[4], /^1 operation; deletion-kit restore OPERATION brings one back$/);
    const json = JSON.parse((await cli('trash', '--json')).stdout);
    assert.equal(Object.keys(json), ['operations']);
    assert.is(json.operations[0].op, op);
    assert.is(json.operations[0].rows, 3, 'numbers as numbers');
    assert.equal(json.operations[0].rows_per_table, { 'lab.folders': 2, 'lab.documents': 1 });
    assert.is(json.operations[0].restorable, true);
    assert.equal(json.operations[0].not_restorable_because, []);

    assert.match((await cli('restore', op)).stdout, new RegExp(`restored 3 rows of operation ${op}`));
    assert.match((await cli('trash')).stdout, /the trash is empty/);
    await c.query(`SELECT deletion.soft_delete('lab.folders', '["${ORG}", 1]')`);
    const again = (await c.query('SELECT op FROM deletion.soft_delete_operations WHERE restored_at IS NULL')).rows[0].op;
    const restored = JSON.parse((await cli('restore', again, '--json')).stdout);
    assert.equal(Object.keys(restored), ['op', 'table', 'key', 'rows', 'seconds']);
    assert.is(restored.rows, 3);
    assert.is(typeof restored.seconds, 'number');
    assert.match((await cli('trash')).stdout, /the trash is empty/);
    const active = await c.query('SELECT count(*)::int AS n FROM lab.folders WHERE deleted_at IS NULL');
    assert.is(active.rows[0].n, 2);
    assert.match((await cli('trash')).stdout, /the trash is empty/);
  } finally {
    await c.end();
  }
});

test('restore --table --key; a refused restore exits 2 with the conflicts and changes nothing', async () => {
  const c = await client();
  try {
    await c.query(`SELECT deletion.soft_delete('lab.folders', '["${ORG}", 2]')`);
    await c.query(`SELECT deletion.soft_delete('lab.folders', '["${ORG}", 1]')`);
    const err = await fails('restore', '--table', 'lab.folders', '--key', `["${ORG}", 2]`);
    assert.is(err.code, 2, 'a refusal exits 2');
    assert.match(err.stderr, /cannot be restored: lab\.folders row .* its parent lab\.folders row .* is still deleted .*\(SQLSTATE PD110\)/);
    const stillDeleted = await c.query('SELECT count(*)::int AS n FROM lab.folders WHERE deleted_at IS NULL');
    assert.is(stillDeleted.rows[0].n, 0, 'nothing was restored');
    assert.match((await cli('trash')).stdout, /  no: .*is still deleted/);

    assert.match((await cli('restore', '--table', 'lab.folders', '--key', `["${ORG}", 1]`)).stdout, /restored 1 row \(the operation that deleted lab\.folders/);
    assert.match((await cli('restore', '--table', 'lab.folders', '--key', `["${ORG}", 2]`)).stdout, /restored 2 rows/);
  } finally {
    await c.end();
  }
});

test('restore refuses bad input with one line', async () => {
  const none = await fails('restore');
  assert.is(none.code, 1);
  assert.is(none.stderr, 'deletion-kit: restore needs an operation id (deletion-kit trash lists them), or --table and --key of a deleted row\n');
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
    const dry = await cli('trash', 'purge', '--older-than', '1 day', '--dry-run');
    assert.match(dry.stdout, /^table +rows would purge\n-+ +-+\nlab\.documents +1\n\nwould purge 1 row soft-deleted more than 1 day ago \(dry run: nothing changed\)\n$/);
    const dryJson = JSON.parse((await cli('trash', 'purge', '--older-than', '1 day', '--dry-run', '--json')).stdout);
    assert.equal(Object.keys(dryJson), ['dry_run', 'older_than', 'tables', 'total_rows', 'seconds']);
    assert.equal(dryJson.tables, [{ table: 'lab.documents', rows: 1 }]);
    assert.is(dryJson.dry_run, true);
    assert.is((await c.query('SELECT count(*)::int AS n FROM lab.documents')).rows[0].n, 1, 'a dry run changes nothing');
    // On a terminal, above the threshold (here 0 rows), the purge asks; "n" leaves everything as it was (exit 2).
    const onTerminal = (answer: string) => run('bash', ['-c',
      `printf '${answer}\\n' | script -qec '"${process.execPath}" "${CLI}" trash purge --older-than "1 day" --confirm-above 0; echo "exit $?"' /dev/null`],
    { env: { ...process.env, DATABASE_URL: env('DATABASE_URL') } }).then((r) => r.stdout.replace(/\r/g, ''));
    const declined = await onTerminal('n');
    assert.match(declined, /trash purge would hard-delete lab\.documents 1: 1 row \(more than 0\)\. Go on\? \[y\/N\]/);
    assert.match(declined, /not confirmed: nothing was purged \(--yes skips the question\)\nexit 2/);
    assert.is((await c.query('SELECT count(*)::int AS n FROM lab.documents')).rows[0].n, 1, 'declined: nothing purged');
    assert.match((await cli('trash', 'purge', '--older-than', '1 day')).stdout, /purged 1 row soft-deleted more than 1 day ago/);
    const left = await c.query('SELECT count(*)::int AS n FROM lab.documents');
    assert.is(left.rows[0].n, 0);
  } finally {
    await c.end();
  }
});

test.run();

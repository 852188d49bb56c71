// deletion-kit audit: restore, restore-transaction, partitions and retention from the command line,
// against the real test database (the CLI runs in its own process and connection).
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
const ORG = '00000000-0000-0000-0000-0000000000a1';

test('audit restore: dry run, restore, second restore, and a refused restore', async () => {
  const c = await client();
  try {
    await c.query(readFileSync('test/fixtures/lab_schema.sql', 'utf8'));
    await c.query('SELECT deletion.rewire()');
    await c.query(`INSERT INTO lab.orgs VALUES ($1, 'acme')`, [ORG]);
    await c.query(`INSERT INTO lab.folders VALUES ($1, 1, NULL, 'root'), ($1, 2, 1, 'child')`, [ORG]);
    await c.query(`INSERT INTO lab.documents (org_id, folder_id, slug) VALUES ($1, 2, 'plan')`, [ORG]);
    await c.query(`DELETE FROM lab.folders WHERE org_id = $1 AND id = 1`, [ORG]);
    const key = JSON.stringify([ORG, 1]);

    const dry = await cli('audit', 'restore', 'lab.folders', key, '--dry-run');
    assert.match(dry.stdout, /would insert\s+2\s+lab\.folders/);
    assert.match(dry.stdout, /would insert\s+1\s+lab\.documents/);
    assert.match(dry.stdout, /no conflicts/);
    assert.is((await c.query('SELECT count(*)::int AS n FROM lab.folders')).rows[0].n, 0, 'the dry run changed nothing');

    const real = await cli('audit', 'restore', 'lab.folders', key);
    assert.match(real.stdout, /insert\s+2\s+lab\.folders/);
    assert.is((await c.query('SELECT count(*)::int AS n FROM lab.folders')).rows[0].n, 2, 'the tree is back');
    assert.is((await c.query('SELECT count(*)::int AS n FROM lab.documents')).rows[0].n, 1, 'with its document');

    const reason = await c.query(`SELECT t.reason FROM audit.log l JOIN audit.transactions t ON t.txid = l.txid AND t.started_at = l.created_at
                                   WHERE l.action = 'INSERT' AND l.table_name = 'lab.folders' LIMIT 1`);
    assert.match(reason.rows[0].reason, /^restore of \d+$/, 'the restored rows are logged as INSERTs with reason "restore of <txid>"');

    const again = await cli('audit', 'restore', 'lab.folders', key);
    assert.match(again.stdout, /already restored/);

    await c.query(`DELETE FROM lab.documents WHERE slug = 'plan'`);
    await c.query(`INSERT INTO lab.documents (org_id, folder_id, slug) VALUES ($1, 2, 'plan')`, [ORG]);
    const doc = (await c.query(`SELECT record_id FROM audit.log WHERE table_name = 'lab.documents' AND action = 'DELETE' ORDER BY id DESC LIMIT 1`)).rows[0].record_id;
    const refused = await cli('audit', 'restore', 'lab.documents', doc).catch((e) => e);
    assert.is(refused.code, 2, 'a refusal exits 2');
    assert.match(refused.stderr, /refused: 1 conflict/);
    assert.match(refused.stderr, /SQLSTATE PD202/);
    const listed = await cli('audit', 'restore', 'lab.documents', doc, '--dry-run').catch((e) => e);
    assert.is(listed.code, 2, 'a dry run with conflicts exits 2');
    assert.match(listed.stdout, /1 conflict: a restore would be refused/);
    const listedJson = await cli('audit', 'restore', 'lab.documents', doc, '--dry-run', '--json').catch((e) => e);
    assert.is(listedJson.code, 2);
    const plan = JSON.parse(listedJson.stdout);
    assert.equal(Object.keys(plan), ['dry_run', 'steps', 'conflicts']);
    assert.is(plan.conflicts, 1);
    assert.equal(Object.keys(plan.steps[0]), ['kind', 'table', 'key', 'rows', 'detail']);
    assert.match(listed.stdout, /conflict\s+lab\.documents .*unique index lab\.documents_org_slug_key/);
  } finally {
    await c.end();
  }
});

test('audit restore-transaction, partitions and retention; bad input is one clear line', async () => {
  const bad = await cli('audit', 'restore-transaction', 'yesterday').catch((e) => e);
  assert.is(bad.code, 1);
  assert.match(bad.stderr, /a transaction id is a whole number/);
  const none = await cli('audit', 'restore-transaction', '1').catch((e) => e);
  assert.is(none.code, 1);
  assert.match(none.stderr, /no delete or update of transaction 1 .*SQLSTATE P0002/);
  const unknown = await cli('audit', 'restore', 'lab.nothing_here', '1').catch((e) => e);
  assert.match(unknown.stderr, /does not exist/);

  const parts = await cli('audit', 'partitions', '--months-ahead', '4');
  assert.match(parts.stdout, /created audit\.log_\d{4}_\d{2}/);
  const again = await cli('audit', 'partitions', '--months-ahead', '4');
  assert.match(again.stdout, /every partition exists already/);
  const retention = await cli('audit', 'retention', '--before', '2000-01-01');
  assert.match(retention.stdout, /no partition ends before the cutoff/);
  assert.equal(JSON.parse((await cli('audit', 'partitions', '--json')).stdout), { created: [] });

  // A month of old entries: the dry run names the partition and its rows and drops nothing; then it goes.
  const c = await client();
  try {
    await c.query(`CREATE TABLE audit.log_2001_03 PARTITION OF audit.log FOR VALUES FROM ('2001-03-01') TO ('2001-04-01')`);
    const dry = await cli('audit', 'retention', '--before', '2001-05-01', '--dry-run');
    assert.match(dry.stdout, /^partition +rows\n-+ +-+\naudit\.log_2001_03 +0\n\nwould drop 1 partition holding 0 rows \(dry run: nothing changed\)\n$/);
    assert.ok((await c.query(`SELECT to_regclass('audit.log_2001_03') IS NOT NULL AS ok`)).rows[0].ok, 'the dry run dropped nothing');
    const json = JSON.parse((await cli('audit', 'retention', '--before', '2001-05-01', '--json')).stdout);
    assert.equal(json, { dry_run: false, before: '2001-05-01', partitions: [{ partition: 'audit.log_2001_03', rows: 0 }], total_rows: 0 });
    assert.not.ok((await c.query(`SELECT to_regclass('audit.log_2001_03') IS NOT NULL AS ok`)).rows[0].ok, 'then it is gone');
  } finally {
    await c.end();
  }
});

test.run();

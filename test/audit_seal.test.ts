// Audit seals across sessions and processes (docs/audit.md, "Tamper evidence"): a transaction open
// while the sealer runs is sealed by a later call, not skipped; writers are not blocked by an open
// sealer; `deletion-kit audit seal|head|verify` with the key from DELETION_KIT_AUDIT_KEY (exit code 1
// when verification fails); the worker's upkeep seals when the key is set.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { client, env } from './helpers.ts';

const run = promisify(execFile);
const CLI = path.resolve('bin/deletion-kit.js');
const KEY = 'uvu-seal-key-0123456789abcdef';
const cli = (args: string[], extra: Record<string, string | undefined> = { DELETION_KIT_AUDIT_KEY: KEY }) =>
  run(process.execPath, [CLI, ...args], { env: { ...process.env, DATABASE_URL: env('DATABASE_URL'), ...extra }, timeout: 60_000 });
const fails = (args: string[], extra?: Record<string, string | undefined>) =>
  cli(args, extra).then(
    (r) => { throw new Error(`expected deletion-kit ${args.join(' ')} to fail; it printed ${r.stdout}`); },
    (e: { code: number; stdout: string; stderr: string }) => e,
  );
const ORG = '00000000-0000-0000-0000-0000000000a1';

/** Waits until every transaction of the cluster up to `txid` has ended (other test files run beside this one). */
async function waitSealable(c: pg.Client, txid: number) {
  for (let i = 0; i < 600; i++) {
    const { rows } = await c.query('SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin');
    if (Number(rows[0].xmin) > txid) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`transactions below ${txid} still open after a minute`);
}

async function deleteFolder(c: pg.Client, id: number): Promise<number> {
  const { rows } = await c.query(`WITH d AS (DELETE FROM lab.folders WHERE org_id = $1 AND id = $2 RETURNING 1)
                                  SELECT pg_current_xact_id()::text::bigint AS txid, (SELECT count(*) FROM d)::int AS n`, [ORG, id]);
  assert.is(rows[0].n, 1, `folder ${id} deleted`);
  return Number(rows[0].txid);
}

const sealedTxids = async (c: pg.Client) =>
  new Set((await c.query('SELECT DISTINCT txid FROM audit.seal_rows')).rows.map((r) => Number(r.txid)));

test('a transaction open during a seal is sealed by the next call; writers never wait for the sealer', async () => {
  const setup = await client();
  const a = await client();
  const b = await client();
  const sealer = await client();
  try {
    await setup.query(readFileSync('test/fixtures/lab_schema.sql', 'utf8'));
    await setup.query('SELECT deletion.rewire()');
    await setup.query(`INSERT INTO lab.orgs VALUES ($1, 'acme')`, [ORG]);
    await setup.query(`INSERT INTO lab.folders SELECT $1, n, NULL, 'f' || n FROM generate_series(1, 10) n`, [ORG]);

    const noKey = await fails(['audit', 'seal'], { DELETION_KIT_AUDIT_KEY: '' });
    assert.is(noKey.code, 1);
    assert.match(noKey.stderr, /set DELETION_KIT_AUDIT_KEY/);
    const none = await fails(['audit', 'verify']);
    assert.is(none.code, 1, 'verify with no seals fails');
    assert.match(none.stdout, /FAILED: no seals/);

    const before = await deleteFolder(setup, 1);          // committed before A starts
    await a.query('BEGIN');
    const open = await deleteFolder(a, 2);                // A: still open while the sealer runs
    const after = await deleteFolder(b, 3);               // committed after A took its txid
    assert.ok(open > before && after > open);
    await waitSealable(setup, before);

    const t0 = Date.now();
    const first = await cli(['audit', 'seal']);
    assert.ok(Date.now() - t0 < 30_000, 'the sealer does not wait for the open transaction');
    assert.match(first.stdout, /^seal 1: 1 row, 1 transaction /m);
    let sealed = await sealedTxids(setup);
    assert.ok(sealed.has(before), 'the finished transaction is sealed');
    assert.not.ok(sealed.has(open), 'the open transaction is not');
    assert.not.ok(sealed.has(after), 'nor a later one, although it committed: it waits for the next seal');

    // an open sealer transaction (holding the seal lock) does not block a writer
    await sealer.query('BEGIN');
    await sealer.query('SELECT * FROM audit.seal($1)', [KEY]);
    await b.query(`SET lock_timeout = '2s'`);
    const during = await deleteFolder(b, 4);
    await sealer.query('COMMIT');

    await a.query('COMMIT');
    await waitSealable(setup, during);
    const second = await cli(['audit', 'seal']);
    assert.match(second.stdout, /^seal 2: 3 rows, 3 transactions/m, 'the next call seals the transaction that was open, and those after it');
    sealed = await sealedTxids(setup);
    for (const t of [open, after, during]) assert.ok(sealed.has(t), `txid ${t} is sealed now`);
    const again = await cli(['audit', 'seal']);
    assert.match(again.stdout, /nothing to seal/);

    const head = (await cli(['audit', 'head'])).stdout.trim();
    assert.match(head, /^2:[0-9a-f]{64}$/, 'head prints <seal>:<digest>');
    const ok = await cli(['audit', 'verify', '--head', head]);
    assert.match(ok.stdout, /^ok: 2 seals, 4 rows and 4 transactions checked; head 2:/);

    // a superuser edits a sealed row with the guard disabled: verify names it and exits 1
    const { rows } = await setup.query(`SELECT id FROM audit.log WHERE txid = $1`, [open]);
    await setup.query('BEGIN');
    await setup.query('ALTER TABLE audit.log DISABLE TRIGGER deletion_00_append_only');
    await setup.query(`UPDATE audit.log SET old_data = old_data || '{"name": "forged"}' WHERE id = $1`, [rows[0].id]);
    await setup.query('COMMIT');
    const bad = await fails(['audit', 'verify', '--head', head]);
    assert.is(bad.code, 1, 'exit code 1');
    assert.match(bad.stdout, new RegExp(`FAILED: row altered \\(seal 2, audit.log id ${rows[0].id}, txid ${open}, created_at [^)]+\\): old_data differs from what seal 2 holds`));
    const wrongKey = await fails(['audit', 'verify'], { DELETION_KIT_AUDIT_KEY: 'not-the-key-0123456789' });
    assert.match(wrongKey.stdout, /FAILED: wrong key \(seal 1\)/);
    const badFrom = await fails(['audit', 'verify', '--from', 'x']);
    assert.match(badFrom.stderr, /--from takes a seal number/);
  } finally {
    for (const c of [a, b, sealer, setup]) await c.end();
  }
});

test('the worker\'s upkeep seals when DELETION_KIT_AUDIT_KEY is set, and only then', async () => {
  const c = await client();
  try {
    const headBefore = (await c.query('SELECT seal_no FROM audit.head()')).rows[0]?.seal_no ?? null;
    await c.query(`INSERT INTO lab.folders VALUES ($1, 20, NULL, 'late')`, [ORG]);
    const txid = await deleteFolder(c, 20);
    await waitSealable(c, txid);

    const plain = await cli(['worker', '--once', '--upkeep', '--json'], { DELETION_KIT_AUDIT_KEY: '' });
    const plainUpkeep = plain.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.event === 'upkeep');
    assert.ok(plainUpkeep, 'upkeep ran');
    assert.not.ok('audit_sealed' in plainUpkeep.ran, 'without a key, upkeep does not seal');

    const wrong = await cli(['worker', '--once', '--upkeep', '--json'], { DELETION_KIT_AUDIT_KEY: 'not-the-key-0123456789' });
    const wrongUpkeep = wrong.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.event === 'upkeep');
    assert.match(wrongUpkeep.ran.audit_seal_error, /not the key that sealed seal/, 'a wrong key is reported, and the rest of the upkeep still runs');
    assert.ok('audit_partitions_created' in wrongUpkeep.ran);

    const sealed = await cli(['worker', '--once', '--upkeep', '--json']);
    const upkeep = sealed.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.event === 'upkeep');
    assert.is(upkeep.ran.audit_sealed.length, 1, 'with the key, upkeep seals');
    assert.is(upkeep.ran.audit_sealed[0].seal_no, Number(headBefore) + 1);
    assert.match(upkeep.ran.audit_sealed[0].digest, /^[0-9a-f]{64}$/, 'and reports the new head, for the log to keep');
    assert.ok((await sealedTxids(c)).has(txid));
  } finally {
    await c.end();
  }
});

test.run();

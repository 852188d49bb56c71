// deletion-kit worker against a real server: SIGKILL at random points, four workers on 500 jobs, a
// server restart mid-job, a chunk that fails on a RESTRICT, SIGTERM and cancel, and bad CLI input.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generatorSql } from '../bench/harness.ts';
import { clusterUrl, startCluster, stopCluster } from '../src/embedded.ts';
import { EXAMPLE_DIR, EXAMPLE_TABLE, migrateUp } from '../src/migrate.ts';
import { createDatabase, dropDatabase, startTestCluster } from '../src/testing/cluster.ts';
import { client, env, freshDatabase } from './helpers.ts';

const run = promisify(execFile);
const CLI = path.resolve('bin/deletion-kit.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Worker {
  child: ChildProcess;
  events: Record<string, unknown>[];
  exited: Promise<number | null>;
}

function startWorker(url: string, args: string[] = []): Worker {
  const child = spawn(process.execPath, [CLI, 'worker', '--json', ...args], { env: { ...process.env, DATABASE_URL: url }, stdio: ['ignore', 'pipe', 'pipe'] });
  const events: Record<string, unknown>[] = [];
  let buffer = '';
  child.stdout!.on('data', (d) => {
    buffer += d;
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.trim()) events.push(JSON.parse(line));
    }
  });
  child.stderr!.on('data', (d) => process.stderr.write(d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, events, exited };
}

/** Runs `worker --once` until the job is no longer pending or running (a killed worker's session may linger a moment). */
async function finishJob(url: string, c: pg.Client, jobId: number, args: string[] = []) {
  for (let i = 0; i < 60; i++) {
    const { rows } = await c.query('SELECT status FROM deletion.deletion_jobs WHERE id = $1', [jobId]);
    if (!['pending', 'running'].includes(rows[0].status)) return rows[0].status as string;
    const w = startWorker(url, ['--once', ...args]);
    await w.exited;
    await sleep(200);
  }
  throw new Error(`job ${jobId} did not finish`);
}

/** Every public table's rows as one md5 per table: two databases with equal digests hold the same rows. */
async function digest(c: pg.Client): Promise<Record<string, string>> {
  const { rows: tables } = await c.query(`SELECT format('%I.%I', schemaname, tablename) AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`);
  const out: Record<string, string> = {};
  for (const { t } of tables) {
    const { rows } = await c.query(`SELECT count(*)::int AS n, md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS h FROM ${t} x`);
    out[t] = `${rows[0].n} ${rows[0].h}`;
  }
  return out;
}

/** DELETE rows in the audit log per table, keyed like digest() ("public.issues"). */
async function auditedDeletes(c: pg.Client): Promise<Record<string, number>> {
  const { rows } = await c.query(`SELECT table_name AS t, count(*)::int AS n FROM audit.log WHERE action = 'DELETE' GROUP BY 1`);
  return Object.fromEntries(rows.map((r) => [r.t, r.n]));
}

/** A fresh database (a clone of the migrated template) with two generated workspaces. */
async function withProductData(issues: number) {
  const db = await freshDatabase();
  const c = await client(db.url);
  await c.query(generatorSql());
  await c.query('SELECT bench.generate_product_data($1, 2)', [issues]);
  return { c, url: db.url, name: db.name, drop: db.drop };
}

test('SIGKILL at random points, ten times: the job completes, exactly the tree is gone, every other row intact', async () => {
  const admin = env('TEST_ADMIN_URL');
  const db = await withProductData(1500);
  const url = db.url;
  let c = db.c;
  // The expected end state: the same database after one plain cascading DELETE.
  const dbName = db.name;
  const expectedName = `${dbName}_expected`;
  await c.end();
  const a = await client(admin);
  await a.query(`CREATE DATABASE ${expectedName} TEMPLATE ${dbName}`);
  await a.end();
  const expectedUrl = url.replace(/\/[^/]+$/, `/${expectedName}`);
  const e = await client(expectedUrl);
  await e.query(`SET deletion.mode = 'hard'`);  // workspaces is a soft-delete table: ask for the real DELETE
  await e.query('DELETE FROM public.workspaces WHERE id = 1');
  const expected = await digest(e);
  await e.end();
  await dropDatabase(admin, expectedName);

  c = await client(url);
  try {
    const before = await digest(c);
    const loggedBefore = await auditedDeletes(c);
    const jobId = Number((await c.query(`SELECT deletion.schedule('public.workspaces', '1', hard => true, reason => 'kill test') AS id`)).rows[0].id);
    const kills: string[] = [];
    for (let i = 0; i < 10; i++) {
      const w = startWorker(url, ['--chunk-rows', '200', '--chunk-ms', '20']);
      // Kill somewhere between "just started" and "a few chunks in".
      await sleep(700 + Math.floor(Math.random() * 1500));
      w.child.kill('SIGKILL');
      await w.exited;
      kills.push(String(w.events.filter((ev) => ev.event === 'chunk').length));
      const { rows } = await c.query('SELECT status FROM deletion.deletion_jobs WHERE id = $1', [jobId]);
      if (rows[0].status === 'done') break;
    }
    const status = await finishJob(url, c, jobId, ['--chunk-rows', '200', '--chunk-ms', '20']);
    assert.is(status, 'done', 'the job completed');
    const job = (await c.query('SELECT * FROM deletion.deletion_jobs WHERE id = $1', [jobId])).rows[0];
    assert.ok(job.chunks > 10, `worked in many chunks (${job.chunks}), across ${kills.length} kills (chunks seen per run: ${kills.join(',')})`);
    assert.equal(await digest(c), expected, 'every public table holds exactly the rows a plain cascading DELETE leaves');

    // The audit log holds each deleted row exactly once, killed chunks notwithstanding.
    const duplicates = await c.query(`SELECT table_name, record_id FROM audit.log WHERE action = 'DELETE' GROUP BY 1, 2 HAVING count(*) > 1`);
    assert.is(duplicates.rowCount, 0, 'no deleted row is logged twice');
    const loggedAfter = await auditedDeletes(c);
    const removed: Record<string, number> = {};
    const logged: Record<string, number> = {};
    for (const t of Object.keys(before)) {
      const gone = Number(before[t].split(' ')[0]) - Number(expected[t].split(' ')[0]);
      if (gone > 0) removed[t] = gone;
      const n = (loggedAfter[t] ?? 0) - (loggedBefore[t] ?? 0);
      if (n > 0) logged[t] = n;
    }
    assert.equal(logged, removed, 'every table\'s deleted rows are in the audit log, as many as were removed');
  } finally {
    await c.end();
    await db.drop();
  }
});

test('four workers on 500 jobs: each job done exactly once', async () => {
  const url = env('DATABASE_URL');
  const c = await client();
  try {
    await c.query(readFileSync('test/fixtures/lab_schema.sql', 'utf8'));
    await c.query(`
      CREATE TABLE public.deleted_orgs (org_id uuid NOT NULL, deleted_by integer NOT NULL DEFAULT pg_backend_pid());
      CREATE FUNCTION public.log_org_delete() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO public.deleted_orgs (org_id) VALUES (OLD.id); RETURN OLD; END $$;
      CREATE TRIGGER log_org_delete AFTER DELETE ON lab.orgs FOR EACH ROW EXECUTE FUNCTION public.log_org_delete();
      -- A product trigger that fires on the engine's writes runs as the engine's role: grant it what the trigger writes.
      GRANT INSERT ON public.deleted_orgs TO deletion_owner;
      INSERT INTO lab.orgs (name) SELECT 'org ' || g FROM generate_series(1, 500) g;
      INSERT INTO lab.folders (org_id, id, name) SELECT o.id, n, 'f' FROM lab.orgs o, generate_series(1, 2) n;
      INSERT INTO lab.documents (org_id, folder_id, slug) SELECT f.org_id, f.id, 'd' || f.id FROM lab.folders f;
      SELECT deletion.schedule('lab.orgs', id::text, hard => true) FROM lab.orgs;`);
    const workers = Array.from({ length: 4 }, () => startWorker(url, ['--once', '--concurrency', '2']));
    const codes = await Promise.all(workers.map((w) => w.exited));
    assert.equal(codes, [0, 0, 0, 0], 'every worker exited cleanly');
    const done = workers.flatMap((w) => w.events.filter((ev) => ev.event === 'done').map((ev) => ev.job));
    assert.is(done.length, 500, '500 "done" events in all');
    assert.is(new Set(done).size, 500, 'one per job');
    assert.ok(workers.filter((w) => w.events.some((ev) => ev.event === 'done')).length >= 2, 'the work was shared');
    const { rows } = await c.query(`SELECT count(*)::int AS deletes, count(DISTINCT org_id)::int AS orgs FROM public.deleted_orgs`);
    assert.equal(rows[0], { deletes: 500, orgs: 500 }, 'each org was deleted exactly once');
    const statuses = (await c.query(`SELECT status, count(*)::int AS n FROM deletion.deletion_jobs GROUP BY status`)).rows;
    assert.equal(statuses, [{ status: 'done', n: 500 }]);
    assert.is((await c.query('SELECT count(*)::int AS n FROM lab.documents')).rows[0].n, 0, 'no document is left');
  } finally {
    await c.end();
  }
});

test('the database restarted mid-job: the worker reconnects and completes', async () => {
  // A server of its own: stopping the shared test server would break the other test files.
  const cluster = await startTestCluster(Number(process.env.TEST_PG_MAJOR ?? 18));
  let worker: Worker | undefined;
  try {
    const db = await createDatabase(cluster.adminUrl, { empty: true });
    let c = await client(db.url);
    await migrateUp(c, { appDir: EXAMPLE_DIR, appTable: EXAMPLE_TABLE });
    await c.query(generatorSql());
    await c.query('SELECT bench.generate_product_data(1500, 2)');
    const before = (await c.query('SELECT count(*)::int AS n FROM public.comments c JOIN public.issues i ON i.id = c.issue_id WHERE i.workspace_id = 2')).rows[0].n;
    const jobId = Number((await c.query(`SELECT deletion.schedule('public.workspaces', '1', hard => true) AS id`)).rows[0].id);
    await c.end();
    worker = startWorker(db.url, ['--chunk-rows', '200', '--chunk-ms', '20', '--poll', '200']);
    for (let i = 0; i < 1200 && worker.events.filter((ev) => ev.event === 'chunk').length < 3; i++) await sleep(50);
    stopCluster(cluster.root, 'immediate');
    await sleep(1500);
    startCluster(cluster.root, ['-c fsync=off', '-c max_connections=200']);
    c = await client(db.url);
    let status = '';
    for (let i = 0; i < 300; i++) {
      status = (await c.query('SELECT status FROM deletion.deletion_jobs WHERE id = $1', [jobId])).rows[0].status;
      if (status === 'done') break;
      await sleep(100);
    }
    assert.is(status, 'done', 'the job completed after the restart');
    assert.ok(worker.events.some((ev) => ev.event === 'reconnecting' || ev.event === 'disconnected'), 'the worker saw the server go and reconnected');
    assert.is((await c.query('SELECT count(*)::int AS n FROM public.issues WHERE workspace_id = 1')).rows[0].n, 0, 'workspace 1 is gone');
    assert.is((await c.query('SELECT count(*)::int AS n FROM public.comments c JOIN public.issues i ON i.id = c.issue_id WHERE i.workspace_id = 2')).rows[0].n, before, 'workspace 2 is intact');
    worker.child.kill('SIGTERM');
    assert.is(await worker.exited, 0, 'SIGTERM ends the idle worker cleanly');
    await c.end();
  } finally {
    worker?.child.kill('SIGKILL');
    cluster.stop();
  }
});

test('a RESTRICT from outside the tree: refused at schedule; forced, the job fails at once naming it; nothing inconsistent; succeeds once the blocker is gone', async () => {
  const db = await freshDatabase();
  const { url } = db;
  const c = await client(url);
  try {
    await c.query(readFileSync('test/fixtures/lab_schema.sql', 'utf8'));
    // A legal hold on one document, from a table outside the org's tree, ON DELETE RESTRICT.
    await c.query(`
      CREATE TABLE public.legal_holds (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                                       document_id uuid NOT NULL REFERENCES lab.documents (id) ON DELETE RESTRICT);
      SELECT deletion.register_table('public.legal_holds', 'test: holds block deletes');
      INSERT INTO lab.orgs (id, name) VALUES ('00000000-0000-0000-0000-0000000000a1', 'held'), ('00000000-0000-0000-0000-0000000000a2', 'other');
      INSERT INTO lab.people (id, email) VALUES ('00000000-0000-0000-0000-0000000000b1', 'p@example.com');
      INSERT INTO lab.folders (org_id, id, name) SELECT o.id, g, 'f' FROM lab.orgs o, generate_series(1, 10) g;
      INSERT INTO lab.documents (org_id, folder_id, slug) SELECT f.org_id, f.id, 'd' || f.id || '-' || n FROM lab.folders f, generate_series(1, 300) n;
      INSERT INTO lab.approvals (document_id, approver_id) SELECT id, '00000000-0000-0000-0000-0000000000b1' FROM lab.documents;
      INSERT INTO public.legal_holds (document_id)
      SELECT id FROM lab.documents WHERE org_id = '00000000-0000-0000-0000-0000000000a1' ORDER BY id LIMIT 1;`);
    const otherBefore = (await c.query(`SELECT count(*)::int AS n FROM lab.documents WHERE org_id = '00000000-0000-0000-0000-0000000000a2'`)).rows[0].n;
    const refused = await c.query(`SELECT deletion.schedule('lab.orgs', '00000000-0000-0000-0000-0000000000a1', hard => true)`)
      .then(() => undefined, (err: { code?: string }) => err.code);
    assert.is(refused, 'PD406', 'scheduling the blocked tree is refused');
    // Forced by the admin, it is accepted, and fails when it reaches the hold.
    await c.query('BEGIN');
    await c.query(`SELECT set_config('deletion.force_blocked', 'on', true)`);
    const jobId = Number((await c.query(`SELECT deletion.schedule('lab.orgs', '00000000-0000-0000-0000-0000000000a1', hard => true) AS id`)).rows[0].id);
    await c.query('COMMIT');
    const status = await finishJob(url, c, jobId, ['--backoff-ms', '20', '--chunk-rows', '500']);
    assert.is(status, 'failed', 'the job failed');
    const job = (await c.query('SELECT attempts, max_attempts, error FROM deletion.deletion_jobs WHERE id = $1', [jobId])).rows[0];
    assert.is(job.attempts, 0, 'at once: a blocked tree is not retried');
    assert.match(job.error, /blockers: public\.legal_holds: 1 rows blocked by restrict/, 'the error names what blocked it');
    assert.match(job.error, /SQLSTATE 23(001|503)/, 'with its SQLSTATE (restrict_violation, or foreign_key_violation on PostgreSQL 15)');
    assert.is((await c.query(`SELECT count(*)::int AS n FROM lab.orgs WHERE name = 'held'`)).rows[0].n, 1, 'the org is still there');
    const held = (await c.query(`SELECT count(*)::int AS n FROM lab.documents d JOIN public.legal_holds h ON h.document_id = d.id`)).rows[0].n;
    assert.is(held, 1, 'the held document is still there');
    const orphans = (await c.query(`SELECT count(*)::int AS n FROM lab.documents d LEFT JOIN lab.folders f ON (f.org_id, f.id) = (d.org_id, d.folder_id) WHERE f.id IS NULL`)).rows[0].n;
    assert.is(orphans, 0, 'no document lost its folder: what is left is consistent');
    assert.is((await c.query(`SELECT count(*)::int AS n FROM lab.documents WHERE org_id = '00000000-0000-0000-0000-0000000000a2'`)).rows[0].n, otherBefore, 'the other org is untouched');

    await c.query('DELETE FROM public.legal_holds');
    const again = Number((await c.query(`SELECT deletion.schedule('lab.orgs', '00000000-0000-0000-0000-0000000000a1', hard => true) AS id`)).rows[0].id);
    assert.is(again, jobId, 'scheduling again re-arms the failed job');
    assert.is(await finishJob(url, c, jobId), 'done', 'and it succeeds');
    assert.is((await c.query(`SELECT count(*)::int AS n FROM lab.documents WHERE org_id = '00000000-0000-0000-0000-0000000000a1'`)).rows[0].n, 0, 'the org\'s documents are gone');
    assert.is((await c.query(`SELECT count(*)::int AS n FROM lab.orgs WHERE name = 'held'`)).rows[0].n, 0, 'and the org');
  } finally {
    await c.end();
    await db.drop();
  }
});

test('SIGTERM finishes the chunk and releases the job; cancel stops a running job at a chunk boundary', async () => {
  const db = await withProductData(1500);
  const { c, url } = db;
  try {
    const jobId = Number((await c.query(`SELECT deletion.schedule('public.workspaces', '1', hard => true) AS id`)).rows[0].id);
    const w = startWorker(url, ['--chunk-rows', '100', '--chunk-ms', '10']);
    for (let i = 0; i < 1200 && w.events.filter((ev) => ev.event === 'chunk').length < 3; i++) await sleep(50);
    assert.ok(w.events.filter((ev) => ev.event === 'chunk').length >= 3, 'the worker got going before the signal');
    w.child.kill('SIGTERM');
    assert.is(await w.exited, 0, 'the worker exits 0');
    assert.ok(w.events.some((ev) => ev.event === 'released' && ev.job === jobId), 'after releasing the job');
    const job = (await c.query('SELECT status, lease_owner, phase FROM deletion.deletion_jobs WHERE id = $1', [jobId])).rows[0];
    assert.equal([job.status, job.lease_owner], ['pending', null], 'the job is pending again, held by nobody');

    const w2 = startWorker(url, ['--chunk-rows', '100', '--chunk-ms', '10']);
    for (let i = 0; i < 1200 && w2.events.filter((ev) => ev.event === 'chunk').length < 2; i++) await sleep(50);
    const asked = (await c.query('SELECT deletion.cancel($1) AS status', [jobId])).rows[0].status;
    assert.is(asked, 'running', 'cancel answers that the running job will stop');
    for (let i = 0; i < 1200 && !w2.events.some((ev) => ev.event === 'cancelled'); i++) await sleep(50);
    assert.ok(w2.events.some((ev) => ev.event === 'cancelled' && ev.job === jobId), 'the worker reports the job cancelled');
    w2.child.kill('SIGTERM');
    await w2.exited;
    const after = (await c.query('SELECT status FROM deletion.deletion_jobs WHERE id = $1', [jobId])).rows[0];
    assert.is(after.status, 'cancelled');
    assert.is((await c.query('SELECT count(*)::int AS n FROM public.workspaces WHERE id = 1')).rows[0].n, 1, 'the workspace itself is still there');
  } finally {
    await c.end();
    await db.drop();
  }
});

test('CLI: bad input gives one clear line with a SQLSTATE and changes nothing', async () => {
  const db = await freshDatabase();
  const url = db.url;
  const c = await client(url);
  try {
    await c.query(`INSERT INTO public.workspaces (name, slug) VALUES ('w', 'w')`);
    const cli = (args: string[]) => run(process.execPath, [CLI, ...args], { env: { ...process.env, DATABASE_URL: url } }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e) => ({ code: e.code as number, stdout: e.stdout as string, stderr: e.stderr as string }),
    );
    const count = async () => (await c.query('SELECT count(*)::int AS n FROM deletion.deletion_jobs')).rows[0].n;
    const cases: [string[], RegExp][] = [
      [['schedule', 'public.nowhere', '1', '--hard'], /does not exist.*42P01/],
      [['schedule', 'public.workspaces', 'abc', '--hard'], /does not cast to bigint.*22P02/],
      [['schedule', 'public.workspaces', '999999', '--hard'], /no row of public.workspaces has the key 999999.*P0002/],
      [['schedule', 'public.workspaces; DROP TABLE public.users', '1', '--hard'], /invalid name syntax.*42602/],
      [['schedule', 'public.workspaces', '1', '--hard', '--in', 'tomorrow'], /--in takes a delay like 1d2h/],
      [['cancel', '424242'], /no deletion job has id 424242.*P0002/],
      [['cancel', 'x'], /cancel takes a job id/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args);
      assert.is(r.code, 1, `${args.join(' ')} exits 1`);
      assert.match(r.stderr, message, `${args.join(' ')}: ${r.stderr.trim()}`);
      assert.is(await count(), 0, `${args.join(' ')} made no job`);
    }
    assert.ok((await c.query(`SELECT to_regclass('public.users') IS NOT NULL AS ok`)).rows[0].ok, 'the injected DROP did not run');

    const ok = await cli(['schedule', 'public.workspaces', '1', '--hard', '--in', '1d2h', '--reason', 'closing']);
    assert.is(ok.code, 0);
    assert.match(ok.stdout, /^job \d+: hard delete of public.workspaces 1, pending, due /);
    const job = (await c.query(`SELECT id, scheduled_at - created_at AS delay FROM deletion.deletion_jobs`)).rows[0];
    assert.equal(job.delay.days ?? 0, 1, 'due in one day');
    assert.equal(job.delay.hours, 2, 'and two hours');
    const jobs = await cli(['jobs']);
    assert.match(jobs.stdout, /pending 1, running 0, done 0/);
    const cancelled = await cli(['cancel', String(job.id)]);
    assert.match(cancelled.stdout, new RegExp(`job ${job.id} cancelled`));
    const twice = await cli(['cancel', String(job.id)]);
    assert.is(twice.code, 1);
    assert.match(twice.stderr, /already cancelled; there is nothing to cancel.*55000/, 'cancelling a finished job is refused');
  } finally {
    await c.end();
    await db.drop();
  }
});

test.run();

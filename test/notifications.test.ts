// Deletion events delivered to a real HTTP receiver on 127.0.0.1: every event of a soft job
// (scheduled, due_soon, started, done, restored from the trash), of a cancelled job and of an undone
// hard job, in order per job, each signed with the subscription's secret, from a real
// `deletion-kit worker`; retries with back-off when the receiver fails the first attempts; and a
// `deletion-kit notify deliver` SIGKILLed while a request is under way: the event is delivered again
// with the same idempotency key.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { deliverNotifications, verifySignature } from '../src/notify/deliver.ts';
import { client, freshDatabase } from './helpers.ts';

const CLI = path.resolve('bin/deletion-kit.js');
const SECRET = 'receiver-secret-0123456789abcdef';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Received {
  at: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  event: { id: number; type: string; sequence: number; job: { id: number; key: string | null; table: string }; [k: string]: unknown };
  signed: boolean;
}

/**
 * A webhook receiver. `answer` decides each request's fate: a status code, or 'hang' (never answer;
 * the request stays open until the sender goes away).
 */
async function receiver(answer: (r: Received, attempt: number) => number | 'hang' = () => 200) {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const r: Received = { at: Date.now(), headers: req.headers, body, event: JSON.parse(body),
                            signed: verifySignature(SECRET, body, req.headers['x-deletion-kit-signature'] as string) };
      received.push(r);
      const fate = answer(r, Number(req.headers['x-deletion-kit-delivery-attempt']));
      if (fate === 'hang') return;
      res.writeHead(fate, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/deletion`;
  const close = () => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  return { url, received, close };
}

function spawnCli(url: string, args: string[]) {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, DATABASE_URL: url }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  let buffer = '';
  child.stdout!.on('data', (d) => {
    buffer += d;
    for (let nl; (nl = buffer.indexOf('\n')) >= 0;) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.startsWith('{')) lines.push(JSON.parse(line));
    }
  });
  child.stderr!.on('data', (d) => process.stderr.write(d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, lines, exited };
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 30000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function stop(child: ChildProcess, exited: Promise<unknown>) {
  child.kill('SIGTERM');
  await exited;
}

/** A database with one user, three workspaces and their issues, and a webhook to the receiver. */
async function setup(hookUrl: string, options: { maxAttempts?: number } = {}) {
  const db = await freshDatabase();
  const c = await client(db.url);
  await c.query(`
    INSERT INTO users (id, email, name) OVERRIDING SYSTEM VALUE VALUES (1, 'ann@example.com', 'Ann');
    INSERT INTO workspaces (id, name, slug) OVERRIDING SYSTEM VALUE VALUES (1, 'Acme', 'acme'), (2, 'Globex', 'globex'), (3, 'Initech', 'initech');
    INSERT INTO issues (workspace_id, creator_id, title, status) SELECT 1 + g % 3, 1, 'issue ' || g, 'todo' FROM generate_series(1, 30) g;`);
  await c.query('SELECT * FROM deletion.set_webhook($1, $2, $3, max_attempts => $4)', ['test', hookUrl, SECRET, options.maxAttempts ?? 20]);
  return { c, url: db.url, drop: async () => { await c.end(); await db.drop(); } };
}

/** The types each job's deliveries carried, in the order they arrived. */
function typesByJob(received: Received[]): Record<number, string[]> {
  const out: Record<number, string[]> = {};
  for (const r of received) (out[r.event.job.id] ??= []).push(r.event.type);
  return out;
}

test('a worker delivers every event of a soft, a cancelled and an undone hard job, in order per job, signed', async () => {
  const hook = await receiver();
  const { c, url, drop } = await setup(hook.url);
  const listener = await client(url);
  const announced: { id: number; type: string; job_id: number }[] = [];
  listener.on('notification', (n) => announced.push(JSON.parse(n.payload!)));
  await listener.query('LISTEN deletion_events');
  const worker = spawnCli(url, ['worker', '--json', '--poll', '100']);
  try {
    // A soft job due in two seconds, to be announced a day before: its due_soon event is due at once.
    const soft = Number((await c.query(`SELECT deletion.schedule('public.workspaces', '1', now() + interval '2 seconds', notify_before => interval '1 day') AS id`)).rows[0].id);
    const cancelled = Number((await c.query(`SELECT deletion.schedule('public.workspaces', '2', now() + interval '1 hour') AS id`)).rows[0].id);
    await c.query('SELECT deletion.cancel($1)', [cancelled]);
    const hard = Number((await c.query(`SELECT deletion.schedule('public.workspaces', '3', hard => true) AS id`)).rows[0].id);
    await until('both jobs done', async () =>
      (await c.query(`SELECT count(*)::int AS n FROM deletion.deletion_jobs WHERE id IN ($1, $2) AND status = 'done'`, [soft, hard])).rows[0].n === 2);
    // Brought back: the soft job's operation from the trash, the hard job from the audit log.
    // What the trash holds of the job's operation: what its restore brings back.
    const inTrash = Number((await c.query(`SELECT t.total_rows FROM deletion.vw_trash t JOIN deletion.deletion_events e ON e.operation = t.op
                                             WHERE e.job_id = $1 AND e.event_type = 'done'`, [soft])).rows[0].total_rows);
    await c.query(`SELECT deletion.restore(operation) FROM deletion.deletion_events WHERE job_id = $1 AND event_type = 'done'`, [soft]);
    await c.query('SELECT * FROM deletion.undo_job($1)', [hard]);
    await until('eleven deliveries', () => hook.received.length >= 11);
    await sleep(300);  // nothing more comes

    assert.equal(typesByJob(hook.received), {
      [soft]: ['scheduled', 'due_soon', 'started', 'done', 'restored'],
      [cancelled]: ['scheduled', 'cancelled'],
      [hard]: ['scheduled', 'started', 'done', 'restored'],
    }, 'every event of each job, once, in order');
    assert.ok(hook.received.every((r) => r.signed), 'every body carries a valid HMAC-SHA256 signature of the subscription\'s secret');
    assert.not.ok(verifySignature('another secret of 32 characters!', hook.received[0].body, hook.received[0].headers['x-deletion-kit-signature'] as string),
      'the signature does not verify with another secret');
    const keys = hook.received.map((r) => r.headers['idempotency-key']);
    assert.is(new Set(keys).size, 11, 'one idempotency key per event and subscription');
    for (const r of hook.received) {
      assert.is(r.headers['x-deletion-kit-event'], r.event.type);
      assert.is(r.headers['x-deletion-kit-delivery-attempt'], '1', 'each delivered at the first attempt');
    }
    const byType = (job: number, type: string) => hook.received.find((r) => r.event.job.id === job && r.event.type === type)!.event;
    assert.equal(byType(soft, 'scheduled').job.key, '1');
    assert.is(byType(soft, 'scheduled').job.table, 'public.workspaces');
    assert.is((byType(soft, 'due_soon').job as unknown as { notify_before_seconds: number }).notify_before_seconds, 86400);
    assert.ok(Number((byType(soft, 'done').job as unknown as { rows_deleted: number }).rows_deleted) > 1, 'the done event counts the rows');
    assert.is(Number(byType(soft, 'restored').rows_restored), inTrash,
      'the restored event counts the rows that came back: the operation the trash held');
    assert.ok(!('reason' in byType(soft, 'scheduled').job) && !('created_by' in byType(soft, 'scheduled').job), 'no actor, no reason in an event');
    for (const job of [soft, cancelled, hard]) {
      const sequences = hook.received.filter((r) => r.event.job.id === job).map((r) => r.event.sequence);
      assert.equal(sequences, sequences.map((_, i) => i + 1), `job ${job}'s events are numbered 1, 2, ... in the order they arrived`);
    }
    assert.equal(announced.map((a) => a.id).sort((a, b) => a - b), hook.received.map((r) => r.event.id).sort((a, b) => a - b),
      'NOTIFY deletion_events announced each event (id, type and job only)');
    assert.equal(Object.keys(announced[0]).sort(), ['id', 'job_id', 'type']);
    assert.ok(worker.lines.some((l) => l.event === 'webhook_delivered'), 'the worker reports its deliveries');
    const { rows } = await c.query('SELECT count(*)::int AS n FROM deletion.webhook_deliveries WHERE delivered_at IS NULL');
    assert.is(rows[0].n, 0, 'every delivery is recorded as delivered');
  } finally {
    await stop(worker.child, worker.exited);
    await listener.end();
    await hook.close();
    await drop();
  }
});

test('a receiver that fails the first attempts gets them again, with the same key, after a growing back-off, still in order', async () => {
  // Every event fails twice (503, then 500), then is accepted.
  const hook = await receiver((_r, attempt) => (attempt === 1 ? 503 : attempt === 2 ? 500 : 200));
  const { c, url, drop } = await setup(hook.url);
  const pool = new pg.Pool({ connectionString: url, max: 3 });
  const stopping = new AbortController();
  const events: string[] = [];
  const delivering = deliverNotifications({ pool, signal: stopping.signal, pollMs: 50, backoffMs: 200, onEvent: (e) => events.push(e.event) });
  try {
    const job = Number((await c.query(`SELECT deletion.schedule('public.workspaces', '2', now() + interval '1 hour') AS id`)).rows[0].id);
    await c.query('SELECT deletion.cancel($1)', [job]);
    await until('both events accepted', () => hook.received.filter((r) => r.headers['x-deletion-kit-delivery-attempt'] === '3').length === 2);
    await sleep(200);

    assert.equal(hook.received.map((r) => `${r.event.type} ${r.headers['x-deletion-kit-delivery-attempt']}`),
      ['scheduled 1', 'scheduled 2', 'scheduled 3', 'cancelled 1', 'cancelled 2', 'cancelled 3'],
      'each event three times; the cancel waits until the schedule is accepted');
    for (const type of ['scheduled', 'cancelled']) {
      const tries = hook.received.filter((r) => r.event.type === type);
      assert.is(new Set(tries.map((r) => r.headers['idempotency-key'])).size, 1, `every attempt of ${type} carries the same idempotency key`);
      assert.is(new Set(tries.map((r) => r.body)).size, 1, `and the same body`);
      assert.ok(tries.every((r) => r.signed), 'each signed');
      // The engine sets the next attempt no sooner than 200 ms, then 400 ms, after a failure.
      assert.ok(tries[1].at - tries[0].at >= 200 - 20, `the second attempt of ${type} waited the first back-off`);
      assert.ok(tries[2].at - tries[1].at >= 400 - 20, `the third attempt of ${type} waited twice as long`);
    }
    assert.equal(events.filter((e) => e === 'webhook_retry').length, 4, 'four retries reported');
    const { rows } = await c.query('SELECT attempts, last_status, delivered_at IS NOT NULL AS delivered FROM deletion.webhook_deliveries ORDER BY event_id');
    assert.equal(rows, [{ attempts: 3, last_status: 200, delivered: true }, { attempts: 3, last_status: 200, delivered: true }]);
  } finally {
    stopping.abort();
    await delivering;
    await pool.end();
    await hook.close();
    await drop();
  }
});

test('a delivery given up after max_attempts lets the job\'s next event go', async () => {
  const hook = await receiver((r) => (r.event.type === 'scheduled' ? 500 : 200));
  const { c, url, drop } = await setup(hook.url, { maxAttempts: 2 });
  const pg1 = await client(url);
  try {
    const job = Number((await c.query(`SELECT deletion.schedule('public.workspaces', '2', now() + interval '1 hour') AS id`)).rows[0].id);
    await c.query('SELECT deletion.cancel($1)', [job]);
    const events: string[] = [];
    for (let i = 0; i < 40 && !events.includes('webhook_delivered'); i++) {
      await deliverNotifications({ client: pg1, once: true, backoffMs: 50, onEvent: (e) => events.push(e.event) });
      await sleep(60);
    }
    assert.equal(events, ['webhook_retry', 'webhook_gave_up', 'webhook_delivered']);
    assert.equal(hook.received.map((r) => r.event.type), ['scheduled', 'scheduled', 'cancelled']);
  } finally {
    await pg1.end();
    await hook.close();
    await drop();
  }
});

test('a deliverer SIGKILLed while its request is under way: the next one delivers the event again, with the same key', async () => {
  let hung = false;
  const hook = await receiver((r, attempt) => {
    if (r.event.type === 'scheduled' && attempt === 1) {
      hung = true;
      return 'hang';
    }
    return 200;
  });
  const { c, url, drop } = await setup(hook.url);
  try {
    const job = Number((await c.query(`SELECT deletion.schedule('public.workspaces', '2', now() + interval '1 hour') AS id`)).rows[0].id);
    await c.query('SELECT deletion.cancel($1)', [job]);
    const first = spawnCli(url, ['notify', 'deliver', '--poll', '100']);
    await until('the first request to arrive', () => hung);
    first.child.kill('SIGKILL');
    await first.exited;
    const { rows: leased } = await c.query('SELECT attempts, lease_pid IS NOT NULL AS leased, delivered_at FROM deletion.deletion_events e JOIN deletion.webhook_deliveries d ON d.event_id = e.id WHERE e.event_type = $1', ['scheduled']);
    assert.equal(leased, [{ attempts: 1, leased: true, delivered_at: null }], 'the killed deliverer left its lease, undelivered');

    const second = spawnCli(url, ['notify', 'deliver', '--poll', '100']);
    try {
      await until('both events delivered', () => hook.received.filter((r) => r.event.type === 'cancelled').length === 1);
    } finally {
      await stop(second.child, second.exited);
    }
    assert.equal(hook.received.map((r) => `${r.event.type} ${r.headers['x-deletion-kit-delivery-attempt']}`), ['scheduled 1', 'scheduled 2', 'cancelled 1'],
      'the scheduled event again (its second attempt), then the cancel');
    assert.is(hook.received[0].headers['idempotency-key'], hook.received[1].headers['idempotency-key'], 'the repeat carries the same idempotency key');
    assert.is(hook.received[0].body, hook.received[1].body, 'and the same body');
    assert.ok(second.lines.some((l) => l.event === 'notify_stopped'), 'the second deliverer stopped on SIGTERM');
  } finally {
    await hook.close();
    await drop();
  }
});

test('the notify commands and schedule --notify-before, with --json', async () => {
  const db = await freshDatabase();
  const c = await client(db.url);
  const cli = async (...args: string[]) => JSON.parse((await promisify(execFile)(process.execPath, [CLI, ...args, '--json'], { env: { ...process.env, DATABASE_URL: db.url } })).stdout);
  try {
    await c.query(`INSERT INTO workspaces (id, name, slug) OVERRIDING SYSTEM VALUE VALUES (1, 'Acme', 'acme')`);
    const added = await cli('notify', 'add', 'billing', 'https://billing.example.com/hooks', '--events', 'due_soon,done');
    assert.equal(Object.keys(added), ['id', 'name', 'url', 'secret']);
    assert.is(added.secret.length, 64, 'a new webhook gets a random secret, shown once');
    assert.is((await cli('notify', 'add', 'billing', 'https://billing.example.com/v2')).secret, null, 'changing it shows no secret');
    const scheduled = await cli('schedule', 'public.workspaces', '1', '--in', '2d', '--notify-before', '1d');
    assert.is(scheduled.job.notify_before_seconds, 86400);
    const [listed] = await cli('notify', 'list');
    assert.equal(Object.keys(listed), ['id', 'name', 'url', 'event_types', 'tables', 'active', 'max_attempts', 'pending', 'delivered', 'gave_up', 'next_attempt_at']);
    assert.equal([listed.url, listed.event_types, listed.pending, listed.delivered], ['https://billing.example.com/v2', null, 1, 0],
      'changed without --events it takes every type: the scheduled event waits for it; no secret listed');
    const events = await cli('notify', 'events', '--job', String(scheduled.job.id));
    assert.equal(events.map((e: { type: string }) => e.type), ['scheduled']);
    assert.is(events[0].job.notify_before_seconds, 86400);
    assert.equal(await cli('notify', 'remove', 'billing'), { name: 'billing', removed: true });
    assert.is((await c.query('SELECT count(*)::int AS n FROM deletion.webhook_deliveries')).rows[0].n, 0, 'its deliveries went with it');
  } finally {
    await c.end();
    await db.drop();
  }
});

test.run();

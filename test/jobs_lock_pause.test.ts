// A worker pauses while its chunks wait on locks: with another session holding a lock on a row of
// the tree, a chunk waits --lock-wait-ms (lock_timeout) and gives up, and the worker pauses the job
// (event "paused", reason "locks"; the job views say paused, the health view stays healthy, no
// attempt is spent) and tries again after --poll, until the lock is released; then it resumes by
// itself (event "resumed") and the job ends done.
import { spawn } from 'node:child_process';
import path from 'node:path';
import type pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { client, freshDatabase } from './helpers.ts';

const CLI = path.resolve('bin/deletion-kit.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Event = Record<string, any>;

/**
 * Workspace 1 (300 issues, a comment on each) scheduled for a hard delete; another session takes
 * `lockSql` in an open transaction; then `deletion-kit worker --once --json` in small chunks, giving
 * up a lock wait after 200 ms and trying again every 100 ms. `check` runs once the worker said
 * "paused" (or after 30 s), with the lock still held: it releases it with `locker.query('ROLLBACK')`.
 */
async function pausedJob(lockSql: string,
                         check: (s: { c: pg.Client; locker: pg.Client; job: number; events: () => Event[]; exited: Promise<unknown> }) => Promise<void>) {
  const db = await freshDatabase();
  const c = await client(db.url);
  const locker = await client(db.url);
  let child: ReturnType<typeof spawn> | undefined;
  try {
    await c.query(`
      INSERT INTO users (id, email, name) OVERRIDING SYSTEM VALUE VALUES (1, 'ann@example.com', 'Ann');
      INSERT INTO workspaces (id, name, slug) OVERRIDING SYSTEM VALUE VALUES (1, 'a', 'a');
      INSERT INTO issues (workspace_id, creator_id, title) SELECT 1, 1, 'i' FROM generate_series(1, 300) g;
      INSERT INTO comments (issue_id, author_id, body) SELECT id, 1, 'c' FROM issues;`);
    const job = Number((await c.query(`SELECT deletion.schedule('public.workspaces', '1', hard => true) AS id`)).rows[0].id);
    await locker.query('BEGIN');
    await locker.query(lockSql);
    child = spawn(process.execPath, [CLI, 'worker', '--once', '--json', '--chunk-rows', '100', '--chunk-ms', '50',
      '--lock-wait-ms', '200', '--poll', '100'], { env: { ...process.env, DATABASE_URL: db.url }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    const exited = new Promise((r) => child!.on('exit', r));
    const events = (): Event[] => out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
    for (let i = 0; i < 300 && !events().some((e) => e.event === 'paused'); i++) await sleep(100);
    await check({ c, locker, job, events, exited });
  } finally {
    child?.kill('SIGKILL');  // a failed assertion must not leave the worker running (it keeps the test process alive)
    await locker.end().catch(() => {});
    await c.end();
    await db.drop();
  }
}

// Another session holds a row of the tree: every issue, as an application's long transaction might.
test('a chunk waiting on a lock pauses the job, which resumes and finishes once the lock is released', () =>
  pausedJob('SELECT id FROM issues WHERE workspace_id = 1 FOR UPDATE', async ({ c, locker, job, events, exited }) => {
    const paused = events().find((e) => e.event === 'paused');
    assert.ok(paused, 'the worker reports the job paused');
    assert.is(paused!.reason, 'locks', 'because its chunk waited on a lock');
    assert.is(paused!.job, job);
    const view = (await c.query('SELECT status, paused_reason, attempts, error FROM deletion.vw_deletion_jobs WHERE id = $1', [job])).rows[0];
    assert.equal([view.status, view.paused_reason, view.attempts, view.error], ['running', 'locks', 0, null],
      'the job view: running, paused for locks, no attempt spent, no error');
    const health = (await c.query('SELECT paused::int, healthy, failed::int FROM deletion.vw_deletion_jobs_status')).rows[0];
    assert.equal(health, { paused: 1, healthy: true, failed: 0 }, 'the health view counts it paused, and healthy');
    await sleep(600);
    assert.is(events().filter((e) => e.event === 'paused').length, 1, 'one paused line for the whole pause, however many tries');
    assert.not.ok(events().some((e) => ['retry', 'failed', 'done'].includes(e.event)), 'while the lock is held: no retry, no failure, not done');

    await locker.query('ROLLBACK');
    assert.is(await exited, 0, 'the worker exits 0 (--once) once the job is done');
    const all = events();
    const resumed = all.findIndex((e) => e.event === 'resumed');
    assert.ok(resumed > all.findIndex((e) => e.event === 'paused'), 'it resumed by itself after the pause');
    assert.ok(all.find((e) => e.event === 'done' && e.job === job), 'and the job ended done');
    const end = (await c.query('SELECT status, attempts, paused_since FROM deletion.deletion_jobs WHERE id = $1', [job])).rows[0];
    assert.equal([end.status, end.attempts, end.paused_since], ['done', 0, null], 'done, no attempt spent, no longer paused');
    assert.is((await c.query('SELECT count(*)::int AS n FROM issues WHERE workspace_id = 1')).rows[0].n, 0, 'the tree is gone');
  }));

// The last chunk deletes the root: a session holding the root row FOR KEY SHARE (what a foreign-key
// check takes: the tree's chunks may still update the workspace row, for the example's statistics)
// makes exactly that chunk wait. The chunk that goes through once the lock is gone ends the job, which
// the worker then no longer holds: it must not try to mark it working again (deletion.pause_job
// refuses a job it does not hold).
test('a pause on the chunk that ends the job: it ends done, not paused, and the worker exits 0', () =>
  pausedJob('SELECT id FROM workspaces WHERE id = 1 FOR KEY SHARE', async ({ c, locker, job, events, exited }) => {
    assert.ok(events().some((e) => e.event === 'paused' && e.reason === 'locks'), 'the chunk deleting the root waits on the lock: paused');

    await locker.query('ROLLBACK');
    assert.is(await exited, 0, 'the worker exits 0 once the chunk that ends the job went through');
    const all = events();
    const pausedAt = all.findIndex((e) => e.event === 'paused');
    assert.ok(all.findIndex((e) => e.event === 'resumed') > pausedAt, 'resumed after the pause');
    assert.is(all.slice(pausedAt).filter((e) => e.event === 'chunk').length, 1, 'the chunk that waited was the one that ended the job');
    assert.ok(all.find((e) => e.event === 'done' && e.job === job), 'the job ended done');
    const end = (await c.query('SELECT status, attempts, paused_since, paused_reason FROM deletion.deletion_jobs WHERE id = $1', [job])).rows[0];
    assert.equal([end.status, end.attempts, end.paused_since, end.paused_reason], ['done', 0, null, null], 'done, no attempt spent, its pause cleared');
    assert.is((await c.query('SELECT count(*)::int AS n FROM workspaces WHERE id = 1')).rows[0].n, 0, 'the root is gone');
  }));

test.run();

// deletion-kit serve over real HTTP: the CLI starts the server; POST /cleanup/run runs a batch only
// with the right bearer token (401 otherwise, and nothing is deleted); the stats, metrics and
// deletion-job endpoints answer what the database holds.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { sameSecret } from '../src/http/tokens.ts';
import { client } from './helpers.ts';
import { createPhotoTable, existing, keysFor, queuePhotos, stats, tempRoot } from './files_fixtures.ts';

const run = promisify(execFile);
const CLI = path.resolve('bin/deletion-kit.js');
const TOKEN = 'test-token-0123456789abcdef';

let c: pg.Client;
let server: ChildProcess;
let base: string;
let root: string;

test.before(async () => {
  c = await client();
  await createPhotoTable(c);
  root = tempRoot('serve');
  server = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--root', root, '--backoff', '0'], {
    env: { ...process.env, DELETION_KIT_TOKEN: TOKEN },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  base = await new Promise<string>((resolve, reject) => {
    let out = '';
    server.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(out);
      if (m) resolve(m[1]);
    });
    server.stderr!.on('data', (d) => (out += d));
    server.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
  });
});

test.after(async () => {
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  await c.end();
});

test('POST /cleanup/run without the right bearer token is 401 and deletes nothing', async () => {
  await c.query('DELETE FROM deletion.pending_file_deletions');
  const keys = keysFor('guarded', 5);
  await queuePhotos(c, root, keys);
  const attempts: [string, Record<string, string>][] = [
    ['no token', {}],
    ['a wrong token', { authorization: 'Bearer wrong-token-0123456789abcde' }],
    ['a prefix of the token', { authorization: `Bearer ${TOKEN.slice(0, -1)}` }],
    ['the token as Basic auth', { authorization: `Basic ${TOKEN}` }],
  ];
  for (const [what, headers] of attempts) {
    const res = await fetch(`${base}/cleanup/run`, { method: 'POST', headers });
    assert.is(res.status, 401, `${what} is refused`);
    assert.is(res.headers.get('www-authenticate'), 'Bearer');
    const error = (await res.json()).error;
    assert.match(error.message, what === 'no token' || what === 'the token as Basic auth' ? /a token is required/ : /the token is not valid/);
    assert.is(error.sqlstate, '28000');
  }
  assert.equal(await stats(c), { pending: 5, inProgress: 0, retrying: 0, failed: 0, attempts: 0 }, 'nothing was claimed');
  assert.is(existing(root, keys).length, 5, 'nothing was deleted');
});

test('POST /cleanup/run with the token runs one batch; bad parameters are 400 and run nothing', async () => {
  await c.query('DELETE FROM deletion.pending_file_deletions');
  const keys = keysFor('run', 5);
  await queuePhotos(c, root, keys);
  const auth = { authorization: `Bearer ${TOKEN}` };

  const bad = await fetch(`${base}/cleanup/run?batch_size=5000`, { method: 'POST', headers: auth });
  assert.is(bad.status, 400);
  assert.match((await bad.json()).error.message, /batch_size must be a whole number from 1 to 1000, not 5000/);
  const junk = await fetch(`${base}/cleanup/run?max_attempts=lots`, { method: 'POST', headers: auth });
  assert.is(junk.status, 400);
  assert.is((await stats(c)).pending, 5, 'refused runs claimed nothing');

  const res = await fetch(`${base}/cleanup/run?batch_size=2`, { method: 'POST', headers: auth });
  assert.is(res.status, 200);
  const body = await res.json();
  assert.is(body.claimed, 2);
  assert.is(body.deleted, 2);
  assert.is(existing(root, keys).length, 3, 'one batch of two files left storage');
  assert.is((await stats(c)).pending, 3);

  const rest = await (await fetch(`${base}/cleanup/run`, { method: 'POST', headers: auth })).json();
  assert.is(rest.deleted, 3, 'the default batch takes the rest');
  assert.equal(existing(root, keys), []);
});

test('GET /cleanup/stats and GET /metrics report the queue', async () => {
  await c.query('DELETE FROM deletion.pending_file_deletions');
  await queuePhotos(c, root, keysFor('stats', 4));
  await c.query(`UPDATE deletion.pending_file_deletions SET failed_at = now(), attempts = 3, last_error = 'x'
                  WHERE id = (SELECT min(id) FROM deletion.pending_file_deletions)`);
  await c.query(`UPDATE deletion.pending_file_deletions SET queued_at = now() - interval '90 seconds'`);

  const statsRes = await fetch(`${base}/cleanup/stats`);
  assert.is(statsRes.status, 200);
  const s = await statsRes.json();
  assert.equal([Number(s.pending), Number(s.in_progress), Number(s.failed), Number(s.attempts)], [3, 0, 1, 3]);
  assert.ok(s.oldest_pending_age_seconds >= 90, 'the oldest pending age is reported');

  const metrics = await fetch(`${base}/metrics`);
  assert.is(metrics.status, 200);
  assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await metrics.text();
  assert.match(text, /^# TYPE deletion_kit_files_pending gauge$/m);
  assert.match(text, /^deletion_kit_files_pending 3$/m);
  assert.match(text, /^deletion_kit_files_failed 1$/m);
  assert.match(text, /^deletion_kit_files_oldest_pending_age_seconds (9\d|1\d\d)(\.\d+)?$/m);
  assert.match(text, /^deletion_kit_files_deleted_total 5$/m, 'this server deleted five files in the runs above');
});

test('GET /jobs/status serves the deletion-job status view, or says clearly that it is not installed', async () => {
  const installed = (await c.query(`SELECT to_regclass('deletion.vw_deletion_jobs_status') IS NOT NULL AS ok`)).rows[0].ok;
  const res = await fetch(`${base}/jobs/status`);
  if (installed) {
    assert.is(res.status, 200);
    const expected = (await c.query('SELECT pending::int, running::int, healthy FROM deletion.vw_deletion_jobs_status')).rows[0];
    const body = await res.json();
    assert.equal({ pending: body.pending, running: body.running, healthy: body.healthy }, expected);
    assert.type(body.oldest_pending_seconds === null ? 0 : body.oldest_pending_seconds, 'number', 'durations are numbers of seconds');
  } else {
    assert.is(res.status, 404);
    assert.match((await res.json()).error.message, /vw_deletion_jobs_status/);
  }
});

test('unknown endpoints are 404 and wrong methods 405', async () => {
  assert.is((await fetch(`${base}/nope`)).status, 404);
  assert.is((await fetch(`${base}/cleanup/run`)).status, 405, 'GET on the POST endpoint');
  assert.is((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405);
});

test('serve refuses to start without a token of at least 16 characters', async () => {
  const err = await run(process.execPath, [CLI, 'serve', '--port', '0', '--root', root], { env: { ...process.env, DELETION_KIT_TOKEN: 'short' } }).catch((e) => e);
  assert.is(err.code, 1);
  assert.match(err.stderr, /DELETION_KIT_TOKEN: the token of "default" is shorter than 16 characters/);
  const env = { ...process.env };
  delete env.DELETION_KIT_TOKEN;
  delete env.DELETION_KIT_TOKENS;
  delete env.DELETION_KIT_TOKENS_FILE;
  const none = await run(process.execPath, [CLI, 'serve', '--port', '0', '--root', root], { env }).catch((e) => e);
  assert.is(none.code, 1);
  assert.match(none.stderr, /give serve its tokens/);
});

test('the token comparison is exact', () => {
  assert.ok(sameSecret(TOKEN, TOKEN));
  assert.not.ok(sameSecret(TOKEN.slice(0, -1), TOKEN));
  assert.not.ok(sameSecret(`${TOKEN} `, TOKEN));
  assert.not.ok(sameSecret('', TOKEN));
});

test.run();

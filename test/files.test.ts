// The file cleaner against the real server and real files on disk: it deletes what the queue holds
// and nothing still in use, keeps and retries what storage refuses until it is failed, survives being
// killed mid-batch without dropping or double-completing a key, and two cleaners never share a key.
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCleanup } from '../src/files/cleaner.ts';
import { LocalStorage, withLatency, type FileStorage } from '../src/files/storage.ts';
import { client, env } from './helpers.ts';
import { createPhotoTable, existing, keysFor, queuePhotos, queueRows, stats, tempRoot, writeFiles } from './files_fixtures.ts';

const run = promisify(execFile);
const CLI = path.resolve('bin/deletion-kit.js');

let c: pg.Client;

test.before(async () => {
  c = await client();
  await createPhotoTable(c);
});

async function emptyQueue() {
  await c.query('DELETE FROM deletion.pending_file_deletions');
}

test('the cleaner deletes every queued file from local storage and empties the queue; a missing file counts as deleted', async () => {
  await emptyQueue();
  const root = tempRoot('basic');
  const keys = keysFor('basic', 30);
  await queuePhotos(c, root, keys);
  rmSync(path.join(root, keys[0])); // already gone from storage
  assert.is((await stats(c)).pending, 30, 'the album delete queued its 30 photos');

  const report = await runCleanup(c, new LocalStorage(root), { batchSize: 7, concurrency: 3, untilEmpty: true });
  assert.is(report.deleted, 30, 'all 30 reported deleted, the missing one included');
  assert.is(report.batches, 5, 'in batches of 7');
  assert.equal(existing(root, keys), [], 'no file is left on disk');
  assert.equal(await queueRows(c), [], 'and the queue is empty');
});

test('a file still named by a live row is not deleted; it goes when its last row goes', async () => {
  await emptyQueue();
  const root = tempRoot('shared');
  writeFiles(root, ['shared/cover.jpg']);
  const album = (await c.query(`INSERT INTO public.test_albums (title) VALUES ('two') RETURNING id`)).rows[0].id;
  const ids = (await c.query(`INSERT INTO public.test_photos (album_id, storage_key) VALUES ($1, 'shared/cover.jpg'), ($1, 'shared/cover.jpg') RETURNING id`, [album])).rows.map((r) => r.id);
  await c.query('DELETE FROM public.test_photos WHERE id = $1', [ids[0]]);

  const first = await runCleanup(c, new LocalStorage(root), { untilEmpty: true });
  assert.is(first.stillReferenced, 1, 'the cleaner saw the key still in use');
  assert.is(first.deleted, 0);
  assert.equal(existing(root, ['shared/cover.jpg']), ['shared/cover.jpg'], 'the file is still in storage');
  assert.equal(await queueRows(c), [], 'and left the queue');

  await c.query('DELETE FROM public.test_photos WHERE id = $1', [ids[1]]);
  const second = await runCleanup(c, new LocalStorage(root), { untilEmpty: true });
  assert.is(second.deleted, 1);
  assert.equal(existing(root, ['shared/cover.jpg']), [], 'deleting the last row lets the file go');
});

test('storage that fails for some keys: they stay queued with their error and are retried, then failed and visible in stats; the rest is unaffected', async () => {
  await emptyQueue();
  const root = tempRoot('failing');
  const good = keysFor('good', 20);
  const bad = ['bad/a.jpg', 'bad/b.jpg', 'bad/c.jpg'];
  // A key that names a directory with something in it cannot be deleted: a real storage refusal.
  for (const key of bad) {
    mkdirSync(path.join(root, key), { recursive: true });
    writeFileSync(path.join(root, key, 'inside'), 'x');
  }
  await queuePhotos(c, root, good);
  await queuePhotos(c, null, bad);
  const storage = new LocalStorage(root);
  const options = { maxAttempts: 3, backoffSeconds: 0, once: true };

  const first = await runCleanup(c, storage, options);
  assert.is(first.deleted, 20, 'every good file is deleted on the first pass');
  assert.is(first.retrying, 3, 'the three refused ones wait for a retry');
  assert.equal(existing(root, good), []);
  let rows = await queueRows(c);
  assert.equal(rows.map((r) => r.storage_key), bad, 'only the refused keys stay queued');
  assert.ok(rows.every((r) => r.attempts === 1 && /directory|EISDIR/i.test(r.last_error ?? '')), 'each with its attempt and the error storage gave');
  assert.equal(await stats(c), { pending: 3, inProgress: 0, retrying: 3, failed: 0, attempts: 3 });

  const second = await runCleanup(c, storage, options);
  assert.is(second.retrying, 3, 'the second attempt fails too');
  const third = await runCleanup(c, storage, options);
  assert.is(third.failed, 3, 'the third (max) attempt marks them failed');
  assert.equal(await stats(c), { pending: 0, inProgress: 0, retrying: 0, failed: 3, attempts: 9 }, 'failed, and visible in the stats');
  const fourth = await runCleanup(c, storage, options);
  assert.is(fourth.claimed, 0, 'failed keys are not taken again');

  // The operator fixes storage and retries the failed ones.
  for (const key of bad) rmSync(path.join(root, key), { recursive: true });
  const { stdout } = await run(process.execPath, [CLI, 'files', 'retry', '--failed']);
  assert.match(stdout, /3 files due now/);
  const last = await runCleanup(c, storage, { ...options, once: false, untilEmpty: true });
  assert.is(last.deleted, 3);
  assert.equal(await queueRows(c), []);
});

test('two cleaners at once never take the same key, and between them delete every file', async () => {
  await emptyQueue();
  const root = tempRoot('two');
  const keys = keysFor('two', 400);
  await queuePhotos(c, root, keys);
  const deletedBy = new Map<string, string[]>();
  const recording = (name: string): FileStorage => {
    const inner = withLatency(new LocalStorage(root), 2);
    return {
      description: name,
      async delete(key) {
        deletedBy.set(key, [...(deletedBy.get(key) ?? []), name]);
        await inner.delete(key);
      },
    };
  };
  const other = await client();
  try {
    const [a, b] = await Promise.all([
      runCleanup(c, recording('a'), { name: 'cleaner-a', batchSize: 25, concurrency: 4, untilEmpty: true }),
      runCleanup(other, recording('b'), { name: 'cleaner-b', batchSize: 25, concurrency: 4, untilEmpty: true }),
    ]);
    assert.is(a.deleted + b.deleted, 400, 'together they completed all 400');
    assert.ok(a.deleted > 0 && b.deleted > 0, `both took part (a ${a.deleted}, b ${b.deleted})`);
    assert.is(deletedBy.size, 400, 'every key was deleted');
    const shared = [...deletedBy].filter(([, by]) => by.length > 1);
    assert.equal(shared, [], 'and no key was taken by both');
    assert.equal(existing(root, keys), []);
    assert.equal(await queueRows(c), []);
  } finally {
    await other.end();
  }
});

test('a cleaner killed mid-batch: its keys come back when the lease lapses; every key is completed exactly once, none dropped', async () => {
  await emptyQueue();
  const root = tempRoot('killed');
  const keys = keysFor('killed', 300);
  await queuePhotos(c, root, keys);
  const queued = (await queueRows(c)).map((r) => r.id);

  const child = spawn(process.execPath, ['--import', 'tsx', path.resolve('test/fixtures/files_cleaner_child.ts'), env('DATABASE_URL'), root], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const completedByChild: string[] = [];
  let childErr = '';
  child.stderr.on('data', (d) => (childErr += d));
  await new Promise<void>((resolve, reject) => {
    let buffer = '';
    child.stdout.on('data', (d) => {
      buffer += d;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line.startsWith('completed ')) {
          completedByChild.push(...line.slice('completed '.length).split(','));
          child.kill('SIGKILL'); // mid-batch: it holds 100 keys and has reported only some
          resolve();
        }
      }
    });
    child.on('exit', () => reject(new Error(`the child cleaner ended before completing anything: ${childErr}`)));
  });
  await new Promise((r) => child.once('exit', r));

  const held = (await queueRows(c)).filter((r) => r.lease_owner === 'doomed');
  assert.ok(held.length > 0, `the killed cleaner left keys leased (${held.length})`);
  assert.ok(completedByChild.length > 0 && completedByChild.length < 300, `and had completed only some (${completedByChild.length})`);

  const retaken: string[] = [];
  await new Promise((r) => setTimeout(r, 2100)); // the child's lease is 2 seconds
  const report = await runCleanup(c, new LocalStorage(root), { name: 'survivor', batchSize: 100, concurrency: 8, untilEmpty: true, onCompleted: (ids) => retaken.push(...ids) });
  assert.is(report.deleted, 300 - completedByChild.length, 'the survivor completed the rest');
  assert.equal([...completedByChild, ...retaken].sort(), [...queued].sort(), 'together: every queued key completed exactly once');
  assert.equal(existing(root, keys), [], 'every file is gone from disk');
  assert.equal(await queueRows(c), []);
});

test('CLI: files cleanup and stats; bad options are refused and change nothing', async () => {
  await emptyQueue();
  const root = tempRoot('cli');
  const keys = keysFor('cli', 12);
  await queuePhotos(c, root, keys);

  const refused = await run(process.execPath, [CLI, 'files', 'cleanup', '--root', root, '--batch-size', '1001', '--once']).catch((e) => e);
  assert.is(refused.code, 1, 'a batch above 1000 is refused');
  assert.match(refused.stderr, /--batch-size must be a whole number from 1 to 1000, not 1001/);
  const noRoot = await run(process.execPath, [CLI, 'files', 'cleanup', '--once'], { env: { ...process.env, DELETION_KIT_FILES_ROOT: '' } }).catch((e) => e);
  assert.is(noRoot.code, 1);
  assert.match(noRoot.stderr, /local storage needs a root directory/);
  assert.is((await stats(c)).pending, 12, 'nothing was claimed');
  assert.is(existing(root, keys).length, 12, 'nothing was deleted');

  const once = await run(process.execPath, [CLI, 'files', 'cleanup', '--root', root, '--batch-size', '5', '--once']);
  assert.match(once.stdout, /batch: 5 claimed, 5 deleted/);
  assert.is(existing(root, keys).length, 7, '--once runs one batch');

  const statsOut = JSON.parse((await run(process.execPath, [CLI, 'files', 'stats', '--json'])).stdout);
  assert.is(Number(statsOut.pending), 7);
  assert.equal(statsOut.failed_files, []);

  const rest = await run(process.execPath, [CLI, 'files', 'cleanup', '--root', root, '--until-empty', '--concurrency', '3'], { env: { ...process.env, DELETION_KIT_FILES_ROOT: root } });
  assert.match(rest.stdout, /done: 7 deleted/);
  assert.equal(existing(root, keys), []);
  const text = (await run(process.execPath, [CLI, 'files', 'stats'])).stdout;
  assert.match(text, /pending\s+0/);
});

test('CLI: files cleanup runs as a daemon until SIGTERM, then finishes what it holds and exits 0', async () => {
  await emptyQueue();
  const root = tempRoot('daemon');
  const keys = keysFor('daemon', 40);
  await queuePhotos(c, root, keys);
  const child = spawn(process.execPath, [CLI, 'files', 'cleanup', '--root', root, '--batch-size', '10'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      if ((out.match(/^batch: /gm) ?? []).length >= 4) resolve();
    });
    child.on('exit', (code) => reject(new Error(`the daemon exited early (${code}): ${out}${err}`)));
  });
  // The queue is empty now and the daemon waits for more work; a new delete is picked up without a restart.
  await queuePhotos(c, root, ['daemon/late.jpg']);
  for (let i = 0; i < 100 && existing(root, ['daemon/late.jpg']).length; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(existing(root, ['daemon/late.jpg']), [], 'a file queued later is cleaned by the running daemon');
  child.kill('SIGTERM');
  const code = await new Promise((r) => child.once('exit', r));
  assert.is(code, 0, 'SIGTERM ends it cleanly');
  assert.match(err, /stopping after the batch in hand/);
  assert.match(out, /done: 41 deleted/);
  assert.equal(existing(root, keys), []);
  assert.equal(await queueRows(c), [], 'nothing is left leased or queued');
});

test('CLI: files track wires a table and refuses an unknown column', async () => {
  await c.query('CREATE TABLE public.test_documents (id bigint PRIMARY KEY, blob_key text)');
  const bad = await run(process.execPath, [CLI, 'files', 'track', 'public.test_documents', 'nope']).catch((e) => e);
  assert.is(bad.code, 1);
  assert.match(bad.stderr, /has no column "nope".*42703/);
  const ok = await run(process.execPath, [CLI, 'files', 'track', 'public.test_documents', 'blob_key']);
  assert.match(ok.stdout, /deleting a row queues the file named by blob_key/);
  await emptyQueue();
  await c.query(`INSERT INTO public.test_documents VALUES (1, 'docs/one.pdf'); DELETE FROM public.test_documents`);
  assert.equal((await queueRows(c)).map((r) => r.storage_key), ['docs/one.pdf']);
});

test.after(async () => {
  await c.end();
});

test.run();

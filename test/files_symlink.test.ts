// Local storage and symbolic links. Storage keys are written by the application, so a key such as
// `link/victim.txt`, where `<root>/link` is a link to a directory elsewhere, must not make the
// cleaner delete a file outside its root. First LocalStorage on its own (links to directories and to
// files, leading out of the root or within it), then the attack end to end: a tracked row names the
// key, the row is deleted, the real cleaner runs against the real database, the file outside the root
// survives and the queue records the refusal as the key's error, failed at once.
import { execFile } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCleanup } from '../src/files/cleaner.ts';
import { LocalStorage, UnsafeKeyError } from '../src/files/storage.ts';
import { client } from './helpers.ts';
import { createPhotoTable, queueRows, stats, tempRoot, writeFiles } from './files_fixtures.ts';

const run = promisify(execFile);
const CLI = path.resolve('bin/deletion-kit.js');

/** A storage root and, beside it (not under it), a directory holding a file nobody may delete. */
function rootAndElsewhere(label: string) {
  const root = tempRoot(`${label}-root`);
  const elsewhere = tempRoot(`${label}-elsewhere`);
  const victim = path.join(elsewhere, 'victim.txt');
  writeFileSync(victim, 'not yours');
  return { root, elsewhere, victim };
}

async function refusal(p: Promise<unknown>): Promise<UnsafeKeyError> {
  const err = await p.then(
    () => null,
    (e) => e,
  );
  assert.instance(err, UnsafeKeyError, `refused with UnsafeKeyError (got ${err})`);
  return err as UnsafeKeyError;
}

test('a key through a linked directory that leads outside the root is refused; the file outside survives', async () => {
  const { root, elsewhere, victim } = rootAndElsewhere('dirlink');
  symlinkSync(elsewhere, path.join(root, 'link'));
  const storage = new LocalStorage(root);

  const err = await refusal(storage.delete('link/victim.txt'));
  assert.match(err.message, /storage key "link\/victim\.txt" is refused: it leads through a symbolic link to .* outside the storage root/);
  assert.is(err.name, 'UnsafeKeyError');
  assert.ok(existsSync(victim), 'the file outside the root is still there');
  assert.is(readFileSync(victim, 'utf8'), 'not yours');
  assert.ok(lstatSync(path.join(root, 'link')).isSymbolicLink(), 'and the link is left as it was');

  // Deeper: a link further down the key's path, and a link to the outside directory's parent.
  mkdirSync(path.join(root, 'a', 'b'), { recursive: true });
  symlinkSync(path.dirname(elsewhere), path.join(root, 'a', 'b', 'up'));
  await refusal(storage.delete(`a/b/up/${path.basename(elsewhere)}/victim.txt`));
  assert.ok(existsSync(victim));
  // A key under the linked directory whose file does not exist is still refused, not "already deleted".
  await refusal(storage.delete('link/no-such-file.txt'));
});

test('a key that is itself a link to a file outside the root is refused; the link and the file stay', async () => {
  const { root, victim } = rootAndElsewhere('filelink');
  symlinkSync(victim, path.join(root, 'photo.jpg'));
  mkdirSync(path.join(root, 'dir'));
  symlinkSync(victim, path.join(root, 'dir', 'photo.jpg'));
  // A link whose target is gone is judged by where it says it leads.
  symlinkSync(path.join(path.dirname(victim), 'gone.txt'), path.join(root, 'dangling.jpg'));
  const storage = new LocalStorage(root);

  for (const key of ['photo.jpg', 'dir/photo.jpg', 'dangling.jpg']) {
    const err = await refusal(storage.delete(key));
    assert.match(err.message, new RegExp(`storage key "${key.replace(/\./g, '\\.')}" is refused`));
    assert.ok(lstatSync(path.join(root, key)).isSymbolicLink(), `${key}: the link stays`);
  }
  assert.ok(existsSync(victim), 'the file outside the root is still there');
});

test('links that stay inside the root work: a linked directory deletes its file, a linked file loses the link only', async () => {
  const root = tempRoot('inside');
  writeFiles(root, ['real/a.jpg', 'real/b.jpg', 'real/c.jpg']);
  symlinkSync(path.join(root, 'real'), path.join(root, 'alias')); // absolute target
  symlinkSync('real/b.jpg', path.join(root, 'b-link.jpg')); // relative target
  symlinkSync('../real', path.join(root, 'real', 'loop')); // a link back to its own directory
  symlinkSync('gone.jpg', path.join(root, 'real', 'dangling.jpg')); // target missing, but inside
  const storage = new LocalStorage(root);

  await storage.delete('alias/a.jpg');
  assert.not.ok(existsSync(path.join(root, 'real', 'a.jpg')), 'the file reached through the directory link is deleted');

  await storage.delete('b-link.jpg');
  assert.is(lstatOrNull(path.join(root, 'b-link.jpg')), null, 'the linked file key: the link is removed');
  assert.ok(existsSync(path.join(root, 'real', 'b.jpg')), 'and only the link: its target stays');

  await storage.delete('real/loop/c.jpg');
  assert.not.ok(existsSync(path.join(root, 'real', 'c.jpg')));
  await storage.delete('real/dangling.jpg');
  assert.is(lstatOrNull(path.join(root, 'real', 'dangling.jpg')), null, 'a dangling link inside the root is removed');
  assert.ok(existsSync(path.join(root, 'alias')), 'the directory link itself is untouched');
});

test('missing files and missing directories count as deleted; keys that leave the root as written are refused; a linked root works', async () => {
  const root = tempRoot('missing');
  writeFiles(root, ['x/here.jpg']);
  const storage = new LocalStorage(root);
  await storage.delete('x/not-here.jpg');
  await storage.delete('no/such/dir/file.jpg');
  for (const key of ['../outside.jpg', 'x/../../outside.jpg', '/etc/hostname', '', '.']) await refusal(storage.delete(key));

  // The root may itself be a link (a mounted volume): it is resolved once, files under it go.
  const outer = tempRoot('linked-root');
  const linkedRoot = path.join(outer, 'files');
  symlinkSync(root, linkedRoot);
  const viaLink = new LocalStorage(linkedRoot);
  assert.is(await viaLink.realRoot(), realpathSync(root));
  await viaLink.delete('x/here.jpg');
  assert.not.ok(existsSync(path.join(root, 'x', 'here.jpg')));

  // A root that is not there is an error to retry, not "everything already deleted".
  const absent = new LocalStorage(path.join(outer, 'not-mounted'));
  const err = await absent.delete('x/here.jpg').then(() => null, (e) => e);
  assert.is(err?.code, 'ENOENT');
  assert.not.instance(err, UnsafeKeyError);
});

function lstatOrNull(p: string) {
  try {
    return lstatSync(p);
  } catch {
    return null;
  }
}

// End to end, against the database the test runner made for this file.

let c: pg.Client;

async function queueAttack(label: string) {
  const { root, elsewhere, victim } = rootAndElsewhere(label);
  symlinkSync(elsewhere, path.join(root, 'link'));
  writeFiles(root, [`${label}/ordinary.jpg`]);
  await c.query('DELETE FROM deletion.pending_file_deletions');
  const album = (await c.query(`INSERT INTO public.test_albums (title) VALUES ($1) RETURNING id`, [label])).rows[0].id;
  await c.query(`INSERT INTO public.test_photos (album_id, storage_key) VALUES ($1, 'link/victim.txt'), ($1, $2)`, [album, `${label}/ordinary.jpg`]);
  await c.query('DELETE FROM public.test_photos WHERE album_id = $1', [album]);
  assert.equal((await queueRows(c)).map((r) => r.storage_key).sort(), [`${label}/ordinary.jpg`, 'link/victim.txt'], 'deleting the rows queued both keys');
  return { root, victim };
}

test('the attack end to end: a deleted row naming link/victim.txt; the cleaner leaves the file outside the root and records the refusal', async () => {
  c = await client();
  await createPhotoTable(c);
  const { root, victim } = await queueAttack('attack');

  const report = await runCleanup(c, new LocalStorage(root), { once: true, maxAttempts: 3, backoffSeconds: 0 });
  assert.is(report.claimed, 2);
  assert.is(report.deleted, 1, 'the ordinary file is deleted');
  assert.is(report.failed, 1, 'the refused key is failed at once');
  assert.is(report.retrying, 0, 'and not waiting for a retry');
  assert.ok(existsSync(victim), 'the file outside the root survives');
  assert.not.ok(existsSync(path.join(root, 'attack', 'ordinary.jpg')));

  const rows = await queueRows(c);
  assert.is(rows.length, 1, 'only the refused key stays queued');
  const [row] = rows;
  assert.is(row.storage_key, 'link/victim.txt');
  assert.is(row.attempts, 1);
  assert.ok(row.failed_at, 'failed after its first attempt, though three were allowed');
  assert.is(row.lease_owner, null);
  assert.match(row.last_error ?? '', /^UnsafeKeyError: storage key "link\/victim\.txt" is refused: it leads through a symbolic link to .+, outside the storage root /);
  assert.equal(await stats(c), { pending: 0, inProgress: 0, retrying: 0, failed: 1, attempts: 1 });
  const failedView = (await c.query('SELECT storage_key, last_error FROM deletion.vw_failed_file_deletions')).rows;
  assert.equal(failedView.map((r) => r.storage_key), ['link/victim.txt'], 'the operator sees it among the failed files');

  const again = await runCleanup(c, new LocalStorage(root), { once: true, maxAttempts: 3, backoffSeconds: 0 });
  assert.is(again.claimed, 0, 'a failed key is not taken again');

  // An operator's retry brings it back once; it is refused again and failed again, the file still there.
  await c.query('SELECT deletion.retry_file_deletions(true)');
  const retried = await runCleanup(c, new LocalStorage(root), { once: true, maxAttempts: 3, backoffSeconds: 0 });
  assert.is(retried.failed, 1);
  assert.ok(existsSync(victim));
  assert.equal((await queueRows(c)).map((r) => [r.storage_key, r.attempts, r.failed_at !== null]), [['link/victim.txt', 1, true]]);
});

test('the attack through the command line: files cleanup --once reports the refusal and deletes nothing outside the root', async () => {
  const { root, victim } = await queueAttack('cli');
  const { stdout } = await run(process.execPath, [CLI, 'files', 'cleanup', '--root', root, '--once', '--backoff', '0']);
  assert.match(stdout, /batch: 2 claimed, 1 deleted, 0 kept \(still referenced\), 0 to retry, 1 failed/);
  assert.match(stdout, /link\/victim\.txt: UnsafeKeyError: storage key "link\/victim\.txt" is refused/);
  assert.ok(existsSync(victim), 'the file outside the root survives');
  const rows = await queueRows(c);
  assert.equal(rows.map((r) => [r.storage_key, r.failed_at !== null]), [['link/victim.txt', true]]);
  assert.match(rows[0].last_error ?? '', /outside the storage root/);
});

test.after(async () => {
  await c?.end();
});

test.run();

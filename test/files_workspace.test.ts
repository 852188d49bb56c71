// End to end on the product schema: hard-deleting a workspace (one DELETE, cascades doing the rest)
// queues the file of every attachment under it and nothing else, and the cleaner then removes exactly
// those files from storage; a soft-deleted workspace keeps its files until it is purged.
import type pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCleanup } from '../src/files/cleaner.ts';
import { LocalStorage } from '../src/files/storage.ts';
import { client } from './helpers.ts';
import { existing, tempRoot, workspaceWithFiles, writeFiles } from './files_fixtures.ts';

let c: pg.Client;

test.before(async () => {
  c = await client();
});

test.after(async () => {
  await c.end();
});

test('a workspace DELETE cascade queues every attachment of the workspace, once, and the cleaner removes exactly those files', async () => {
  await c.query('DELETE FROM deletion.pending_file_deletions');
  const root = tempRoot('workspace');
  const doomed = await workspaceWithFiles(c, 'doomed', 120);
  const kept = await workspaceWithFiles(c, 'kept', 30);
  writeFiles(root, [...doomed.keys, ...kept.keys]);

  // Workspaces are a soft-delete table (issue 3): the hard path is an admin's, in hard mode.
  await c.query('BEGIN');
  await c.query(`SET LOCAL deletion.mode = 'hard'`);
  await c.query('DELETE FROM public.workspaces WHERE id = $1', [doomed.id]);
  await c.query('COMMIT');
  const queued = (await c.query('SELECT storage_key FROM deletion.pending_file_deletions ORDER BY storage_key')).rows.map((r) => r.storage_key);
  assert.equal(queued, [...doomed.keys].sort(), 'every attachment of the workspace is queued, once, and nothing else');

  const report = await runCleanup(c, new LocalStorage(root), { concurrency: 8, untilEmpty: true });
  assert.is(report.deleted, doomed.keys.length);
  assert.equal(existing(root, doomed.keys), [], 'the deleted workspace\'s files are gone');
  assert.equal(existing(root, kept.keys), kept.keys, 'the other workspace\'s files are all still there');
});

test('a soft-deleted workspace keeps its files; purging it later queues them all, and the cleaner removes them', async () => {
  await c.query('DELETE FROM deletion.pending_file_deletions');
  const root = tempRoot('purge');
  const trashed = await workspaceWithFiles(c, 'trashed', 40);
  writeFiles(root, trashed.keys);

  await c.query('UPDATE public.workspaces SET deleted_at = now() WHERE id = $1', [trashed.id]);
  assert.is((await c.query('SELECT count(*)::int AS n FROM deletion.pending_file_deletions')).rows[0].n, 0, 'a soft delete queues nothing');
  const idle = await runCleanup(c, new LocalStorage(root), { untilEmpty: true });
  assert.is(idle.claimed, 0);
  assert.equal(existing(root, trashed.keys), trashed.keys, 'the files stay while the workspace can be restored');

  await c.query(`SELECT * FROM deletion.purge_soft_deleted('0 seconds')`);
  const queued = (await c.query('SELECT storage_key FROM deletion.pending_file_deletions ORDER BY storage_key')).rows.map((r) => r.storage_key);
  assert.equal(queued, [...trashed.keys].sort(), 'purging the soft-deleted workspace queues every attachment, once');
  const report = await runCleanup(c, new LocalStorage(root), { concurrency: 8, untilEmpty: true });
  assert.is(report.deleted, trashed.keys.length);
  assert.equal(existing(root, trashed.keys), []);
});

test.run();

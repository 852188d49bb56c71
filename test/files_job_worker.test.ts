// A workspace deletion through the job worker enqueues every attachment of the workspace: the real
// worker deletes the tree in many small chunk transactions (DELETE statements inside SECURITY
// DEFINER functions), and each chunk's deletes queue their files through the deletion_60_files trigger.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { client } from './helpers.ts';
import { workspaceWithFiles } from './files_fixtures.ts';

const run = promisify(execFile);
const CLI = path.resolve('bin/deletion-kit.js');

let c: pg.Client;

test.before(async () => {
  c = await client();
});

test.after(async () => {
  await c.end();
});

test('a workspace deletion through the job worker enqueues every attachment of the workspace, chunk after chunk', async () => {
  await c.query('DELETE FROM deletion.pending_file_deletions');
  const doomed = await workspaceWithFiles(c, 'scheduled', 200);
  const kept = await workspaceWithFiles(c, 'bystander', 20);
  const job = (await c.query(`SELECT deletion.schedule('public.workspaces', $1, hard => true, reason => 'files test') AS id`, [String(doomed.id)])).rows[0].id;

  // The real worker, in small chunks so that attachments go over several chunk transactions.
  const { stdout } = await run(process.execPath, [CLI, 'worker', '--once', '--chunk-rows', '40', '--json']);
  const events = stdout.trim().split('\n').map((line) => JSON.parse(line));
  const chunks = events.filter((e) => e.event === 'chunk' && String(e.job) === String(job));
  assert.ok(chunks.length > 1, `the worker deleted the workspace in several chunk transactions (${chunks.length})`);
  assert.is((await c.query('SELECT count(*)::int AS n FROM public.workspaces WHERE id = $1', [doomed.id])).rows[0].n, 0, 'the workspace is gone');

  const queued = (await c.query('SELECT storage_key FROM deletion.pending_file_deletions ORDER BY storage_key')).rows.map((r) => r.storage_key);
  assert.equal(queued, [...doomed.keys].sort(), 'every attachment of the workspace is queued, once each, and nothing else');
  const left = (await c.query('SELECT count(*)::int AS n FROM public.attachments WHERE storage_key = ANY ($1)', [kept.keys])).rows[0].n;
  assert.is(left, kept.keys.length, 'the other workspace keeps its attachments');
});

test.run();

// deletion-kit demo end to end on the embedded default (DATABASE_URL unset, a folder of its own):
// every step runs and exits as it should, and the database it leaves shows what each step did.
// The demo always uses the embedded PostgreSQL 18, whatever the test run's major, so it runs in the
// PostgreSQL 18 pass only (the README's and CI's run includes it).
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { client } from './helpers.ts';

const run = promisify(execFile);
const CLI = path.resolve('bin/deletion-kit.js');
const home = mkdtempSync(path.join(os.tmpdir(), 'dk-demo-'));
const env = { ...process.env, DELETION_KIT_HOME: home, DATABASE_URL: '' };
const cli = (...args: string[]) => run(process.execPath, [CLI, ...args], { env, maxBuffer: 1 << 24 });

if ((process.env.TEST_PG_MAJOR ?? '18') === '18') {
  test.after(async () => {
    await cli('db', 'stop').catch(() => {});
    rmSync(home, { recursive: true, force: true });
  });

  test('demo: every step on the embedded default, and what each leaves behind', async () => {
    const { stdout, stderr } = await cli('demo', '--issues', '120', '--json');
    const report = JSON.parse(stdout);
    assert.equal(Object.keys(report), ['database', 'files_root', 'steps', 'seconds']);
    assert.match(report.database, /^postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/deletion_kit_demo$/);
    assert.not.match(stderr, /created and started/, '--json: nothing on stderr about the server');
    const commands = report.steps.map((s: { command: string }) => s.command.replace(/[0-9a-f-]{36}/, 'OP'));
    for (const c of ['deletion-kit migrate', 'deletion-kit example install', 'deletion-kit plan public.workspaces 1', 'deletion-kit trash',
      'deletion-kit restore OP', "deletion-kit schedule public.workspaces 2 --hard --reason 'demo: the workspace was closed'",
      'deletion-kit worker --once --chunk-rows 500', 'deletion-kit jobs', 'deletion-kit files stats', 'deletion-kit lint']) {
      assert.ok(commands.includes(c), `the demo ran ${c}`);
    }
    const lints = report.steps.filter((s: { command: string }) => s.command === 'deletion-kit lint').map((s: { exit_code: number }) => s.exit_code);
    assert.equal(lints, [0, 1], 'lint is clean, then finds the hazard the demo adds');

    const url = (await cli('db', 'url', '--database', 'deletion_kit_demo')).stdout.trim();
    const c = await client(url);
    try {
      const one = async (q: string) => Object.values((await c.query(q)).rows[0])[0];
      assert.is(await one('SELECT count(*)::int FROM public.workspaces WHERE id = 2'), 0, 'the job deleted workspace 2');
      assert.is(await one(`SELECT status FROM deletion.deletion_jobs WHERE id = 1`), 'done');
      assert.is(await one('SELECT count(*)::int FROM deletion.vw_trash'), 0, 'the soft delete was restored');
      assert.is(await one('SELECT count(*)::int FROM public.projects WHERE deleted_at IS NULL AND workspace_id = 1'), 2);
      assert.is(await one('SELECT count(*)::int FROM public.labels WHERE id = 1'), 1, 'the label came back from the audit log');
      assert.is(await one('SELECT count(*)::int FROM deletion.pending_file_deletions'), 0, 'every queued file was cleaned');
      const left = (await c.query('SELECT storage_key FROM public.attachments')).rows.map((r) => r.storage_key as string);
      assert.ok(left.length > 0 && left.every((k) => existsSync(path.join(report.files_root, k))), 'workspace 1 keeps its files');
      assert.is(await one('SELECT count(*)::int FROM public.users WHERE deleted_at IS NULL'), await one('SELECT count(*)::int FROM public.users'), 'the protected user was not deleted');
    } finally {
      await c.end();
    }

    const status = JSON.parse((await cli('db', 'status', '--json')).stdout);
    assert.is(status.running, true, 'the embedded server keeps running');
    assert.is(status.folder, home);
  });
}

test.run();

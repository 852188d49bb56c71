// Health you can alert on, from the outside: `deletion-kit jobs --check` exits 2 while the backlog
// is unhealthy and 0 once it is not; `jobs --json` gives numbers as numbers and durations in
// seconds; the job metrics of GET /metrics (src/jobs_metrics.ts) after a real worker run.
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { jobMetrics } from '../src/jobs_metrics.ts';
import { client, freshDatabase } from './helpers.ts';

const run = promisify(execFile);
const CLI = path.resolve('bin/deletion-kit.js');

async function cli(url: string, args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env: { ...process.env, DATABASE_URL: url } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('jobs --check, jobs --json and the job metrics', async () => {
  const db = await freshDatabase();
  const c = await client(db.url);
  try {
    await c.query(`
      INSERT INTO users (id, email, name) OVERRIDING SYSTEM VALUE VALUES (1, 'ann@example.com', 'Ann');
      INSERT INTO workspaces (id, name, slug) OVERRIDING SYSTEM VALUE VALUES (1, 'a', 'a'), (2, 'b', 'b');
      INSERT INTO issues (workspace_id, creator_id, title) SELECT 1 + g % 2, 1, 'i' FROM generate_series(1, 400) g;
      INSERT INTO comments (issue_id, author_id, body) SELECT id, 1, 'c' FROM issues;`);
    assert.is((await cli(db.url, ['jobs', '--check'])).code, 0, 'no job: --check exits 0');
    await c.query(`SELECT deletion.schedule('public.workspaces', '1', hard => true)`);
    const child = spawn(process.execPath, [CLI, 'worker', '--once', '--json', '--chunk-rows', '100', '--chunk-ms', '20'],
      { env: { ...process.env, DATABASE_URL: db.url }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    assert.is(await new Promise((r) => child.on('exit', r)), 0);
    const events = out.trim().split('\n').map((l) => JSON.parse(l));
    assert.is(events[0].event, 'started', 'the started line comes first');
    const done = events.find((e) => e.event === 'done');
    assert.ok(done, 'the done line is there with --once');
    assert.is(typeof done.rows_deleted, 'number', 'rows_deleted is a number');
    assert.is(typeof done.seconds, 'number', 'the run time is in seconds');
    assert.not.ok('error' in done, 'no error field on a job that succeeded');
    assert.ok(events.filter((e) => e.event === 'chunk').every((e) => typeof e.seconds === 'number' && typeof e.deleted === 'number'),
              'every chunk line has numbers and its duration in seconds');

    const json = JSON.parse((await cli(db.url, ['jobs', '--json'])).stdout);
    assert.is(json.status.done, 1, 'jobs --json: counts are numbers');
    assert.is(typeof json.status.oldest_pending_seconds, 'number');
    assert.is(json.jobs[0].rows_deleted, 401, "rows deleted, as a number: 200 issues, 200 comments, the workspace");
    assert.is(typeof json.jobs[0].run_time_seconds, 'number', 'durations in seconds');
    const text = (await cli(db.url, ['jobs'])).stdout;
    assert.not.match(text, /\{"/, 'the text shows no raw JSON intervals');

    const metrics = await jobMetrics(c);
    assert.match(metrics, /^deletion_kit_jobs\{status="done"\} 1$/m, 'jobs by status');
    assert.match(metrics, /^deletion_kit_jobs_rows_deleted 401$/m, 'rows deleted');
    assert.match(metrics, /^deletion_kit_jobs_oldest_pending_age_seconds 0$/m, 'oldest pending age');
    assert.match(metrics, /^# TYPE deletion_kit_jobs_chunk_duration_seconds histogram$/m, 'a chunk duration histogram');
    const count = Number(/^deletion_kit_jobs_chunk_duration_seconds_count (\d+)$/m.exec(metrics)?.[1]);
    assert.ok(count > 3, `with the run's chunks (${count})`);

    await c.query(`UPDATE deletion.deletion_jobs SET status = 'failed', error = 'boom'`);
    const check = await cli(db.url, ['jobs', '--check']);
    assert.is(check.code, 2, 'a failed job: --check exits 2');
    assert.match(check.stdout, /NEEDS ATTENTION/);
    assert.match(await jobMetrics(c), /^deletion_kit_jobs\{status="failed"\} 1$/m);
  } finally {
    await c.end();
    await db.drop();
  }
});

test.run();

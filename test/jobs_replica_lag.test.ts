// The worker yields to a streaming replica: a primary of its own (PostgreSQL 15, whose Debian
// package ships pg_basebackup), a real streaming replica made by pg_basebackup, replay paused with
// pg_wal_replay_pause(); with --max-replica-lag the worker stops between chunks while the replica
// falls behind, keeps the job's heartbeat, and finishes by itself once replay resumes. On other
// majors the test is skipped (the embedded servers ship no pg_basebackup).
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generatorSql } from '../bench/harness.ts';
import { binDir, clusterUrl, freePort } from '../src/embedded.ts';
import { EXAMPLE_DIR, EXAMPLE_TABLE, migrateUp } from '../src/migrate.ts';
import { createDatabase, startTestCluster } from '../src/testing/cluster.ts';
import { client } from './helpers.ts';

const CLI = path.resolve('bin/deletion-kit.js');
const BASEBACKUP = '/usr/lib/postgresql/15/bin/pg_basebackup';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const major = Number(process.env.TEST_PG_MAJOR ?? 18);

/** The OS user the embedded server runs as (postgres, when the tests run as root). */
function serverIds(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  return { uid: id('-u'), gid: id('-g') };
}

function must(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(cmd, args, { ...serverIds(), encoding: 'utf8', env: { ...process.env, LC_ALL: 'C', ...env } });
  if (r.status !== 0) throw new Error(`${path.basename(cmd)} failed: ${r.stderr || r.stdout}`);
}

test('with --max-replica-lag the worker pauses while a replica is behind and resumes by itself', async () => {
  if (major !== 15 || !existsSync(BASEBACKUP)) {
    console.log(`skipped: needs PostgreSQL 15 and ${BASEBACKUP} (running on ${major})`);
    return;
  }
  const primary = await startTestCluster(15);
  const replicaDir = mkdtempSync(path.join(os.tmpdir(), 'deletion-kit-replica-'));
  const ids = serverIds();
  if (ids.uid !== undefined) chownSync(replicaDir, ids.uid, ids.gid!);
  const replicaPort = await freePort();
  let replicaStarted = false;
  try {
    const db = await createDatabase(primary.adminUrl, { empty: true });
    const c = await client(db.url);
    await migrateUp(c, { appDir: EXAMPLE_DIR, appTable: EXAMPLE_TABLE });
    await c.query(generatorSql());
    await c.query('SELECT bench.generate_product_data(800, 2)');
    const cfg = primary.config;
    must(BASEBACKUP, ['-D', replicaDir, '-R', '-X', 'stream', '-h', '127.0.0.1', '-p', String(cfg.port), '-U', cfg.user], { PGPASSWORD: cfg.password });
    try {
      must(path.join(binDir(15), 'pg_ctl'), ['start', '-w', '-t', '60', '-D', replicaDir, '-l', path.join(os.tmpdir(), `replica-${replicaPort}.log`),
        '-o', `-p ${replicaPort} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c hot_standby=on -c max_connections=200`]);
    } catch (err) {
      const log = spawnSync('tail', ['-20', path.join(os.tmpdir(), `replica-${replicaPort}.log`)], { encoding: 'utf8' }).stdout;
      throw new Error(`${(err as Error).message}\n${log}`);
    }
    replicaStarted = true;
    const r = await client(clusterUrl({ ...cfg, port: replicaPort }, db.name));
    // Streaming, and the replica's first reply received (until then replay_lsn is NULL).
    for (let i = 0; i < 300 && !(await c.query(`SELECT deletion.replica_lag_bytes() IS NOT NULL AS ok`)).rows[0].ok; i++) await sleep(100);
    assert.ok((await c.query(`SELECT deletion.replica_lag_bytes() IS NOT NULL AS ok`)).rows[0].ok, 'the primary sees its streaming replica');
    await r.query('SELECT pg_wal_replay_pause()');

    const jobId = Number((await c.query(`SELECT deletion.schedule('public.workspaces', '1', hard => true) AS id`)).rows[0].id);
    const child = spawn(process.execPath, [CLI, 'worker', '--json', '--chunk-rows', '200', '--chunk-ms', '20', '--poll', '100', '--max-replica-lag', '50000'],
      { env: { ...process.env, DATABASE_URL: db.url }, stdio: ['ignore', 'pipe', 'inherit'] });
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
    for (let i = 0; i < 600 && !events.some((e) => e.event === 'waiting'); i++) await sleep(100);
    const waiting = events.find((e) => e.event === 'waiting');
    assert.ok(waiting, 'the worker waits once the paused replica is 50 kB behind');
    assert.ok(Number(waiting!.replica_lag_bytes) > 50000, `reporting the lag (${waiting!.replica_lag_bytes} bytes)`);
    const chunksThen = events.filter((e) => e.event === 'chunk').length;
    await sleep(2000);
    assert.is(events.filter((e) => e.event === 'chunk').length, chunksThen, 'no chunk runs while it waits');
    const job = (await c.query(`SELECT status, heartbeat_at > now() - interval '1 second' AS fresh FROM deletion.deletion_jobs WHERE id = $1`, [jobId])).rows[0];
    assert.equal([job.status, job.fresh], ['running', true], 'the job stays held, its heartbeat renewed');

    await r.query('SELECT pg_wal_replay_resume()');
    let status = '';
    for (let i = 0; i < 1200 && status !== 'done'; i++) {
      status = (await c.query('SELECT status FROM deletion.deletion_jobs WHERE id = $1', [jobId])).rows[0].status;
      if (status !== 'done') await sleep(100);
    }
    assert.is(status, 'done', 'replay resumed: the worker goes on by itself and finishes the job');
    assert.ok(events.some((e) => e.event === 'resumed'), 'saying it resumed');
    child.kill('SIGTERM');
    await new Promise((res) => child.on('exit', res));
    await r.end();
    await c.end();
  } finally {
    if (replicaStarted) spawnSync(path.join(binDir(15), 'pg_ctl'), ['stop', '-m', 'immediate', '-D', replicaDir], { ...serverIds() });
    rmSync(replicaDir, { recursive: true, force: true });
    primary.stop();
  }
});

test.run();

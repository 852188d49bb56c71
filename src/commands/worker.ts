// deletion-kit worker: works scheduled deletion jobs. A thin loop around the SQL in sql/42_jobs_worker.sql:
// each slot (--concurrency) has its own connection, claims a due job (deletion.claim_job), calls
// deletion.run_chunk until the job is done (each call its own short transaction), records a failed
// chunk with deletion.fail_chunk (retry with backoff, or failed), and reconnects when the server goes
// away. Between chunks it yields (sql/45_jobs_yield.sql): the job goes back when another job is due
// (deletion.yield_job), so the due jobs' chunks interleave; a chunk that waited on a lock longer than
// --lock-wait-ms (lock_timeout) pauses the job (deletion.pause_job) and is tried again, until one goes
// through. SIGTERM / SIGINT: the chunk under way finishes, the job is released, the process exits 0.
// On a terminal it draws a progress bar per job; otherwise it prints one JSON line per event.
import os from 'node:os';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import type pg from 'pg';
import { connect, UserError } from '../db.ts';

interface WorkerOptions {
  once?: boolean;
  concurrency: number;
  chunkRows: number;
  chunkMs: number;
  lease: number;
  poll: number;
  backoffMs: number;
  upkeep?: boolean;
  upkeepEvery: number;
  purgeAfterDays: number;
  auditKeepDays?: number;
  maxReplicaLag?: number;
  lockWaitMs: number;
  json?: boolean;
}

interface ChunkResult {
  status: 'running' | 'done' | 'cancelled' | 'failed';
  phase: string;
  deleted: number;
  remaining: number;
  planned: number;
  chunk_ms: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Errors that mean the connection or the server is gone (retry after reconnecting), not that SQL failed. */
function isConnectionError(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  if (e.code && /^(08|57P0)/.test(e.code)) return true;           // connection exceptions, admin/crash shutdown
  if (e.code && /^[0-9A-Z]{5}$/.test(e.code)) return false;        // any other SQLSTATE: the SQL failed
  return /Connection terminated|ECONNREFUSED|ECONNRESET|EPIPE|not queryable|connect/i.test(`${e.code ?? ''} ${e.message ?? ''}`);
}

function describe(err: unknown): string {
  const e = err as { code?: string; message?: string; detail?: string; hint?: string };
  return [e.message, e.detail && `detail: ${e.detail}`, e.hint && `hint: ${e.hint}`].filter(Boolean).join('; ') + (e.code ? ` (SQLSTATE ${e.code})` : '');
}

function positiveInt(name: string) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new UserError(`${name} takes a positive whole number, not "${value}"`);
    return n;
  };
}

/** Seconds as a short readable duration: 45s, 2m14s, 3h05m, 2d4h. */
function readable(seconds: number): string {
  if (!Number.isFinite(seconds)) return '-';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

/**
 * Events: one JSON line each when not on a terminal (numbers as numbers, durations in seconds);
 * progress bars with rows/s and ETA, and short lines, on one. Every line is written as soon as it
 * happens: the bars' log is flushed at once, and the last lines before exit are never lost.
 */
class Reporter {
  private bars?: cliProgress.MultiBar;
  private barOf = new Map<number, { bar: cliProgress.SingleBar; since: number; from: number }>();
  constructor(json: boolean) {
    if (!json) {
      this.bars = new cliProgress.MultiBar(
        { format: ' job {job} {table} {pk} [{bar}] {percentage}% | {value}/{total} rows | {rate} rows/s | ETA {eta_text} | {phase}',
          clearOnComplete: false, hideCursor: true },
        cliProgress.Presets.shades_classic,
      );
    }
  }
  event(event: string, fields: Record<string, unknown>) {
    const shown = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined && v !== null));
    if (!this.bars) {
      process.stdout.write(JSON.stringify({ time: new Date().toISOString(), event, ...shown }) + '\n');
      return;
    }
    const job = fields.job as number | undefined;
    if (event === 'chunk' && job !== undefined) {
      const planned = Number(fields.planned) || 1;
      const value = Math.max(0, planned - Number(fields.remaining));
      let entry = this.barOf.get(job);
      if (!entry) {
        entry = { bar: this.bars.create(planned, 0, { job, table: fields.table, pk: fields.pk, phase: fields.phase, rate: 0, eta_text: '-' }), since: Date.now(), from: value };
        this.barOf.set(job, entry);
      }
      const seconds = (Date.now() - entry.since) / 1000;
      const rate = seconds > 0 ? (value - entry.from) / seconds : 0;
      entry.bar.setTotal(planned);
      entry.bar.update(value, { phase: fields.phase, rate: Math.round(rate), eta_text: rate > 0 ? readable((planned - value) / rate) : '-' });
      return;
    }
    if (job !== undefined && ['done', 'cancelled', 'failed'].includes(event)) {
      const entry = this.barOf.get(job);
      if (entry && event === 'done') entry.bar.update(entry.bar.getTotal(), { phase: 'done', eta_text: '0s' });
      this.bars.update();  // draw it as it ended, then let it go
      if (entry) this.bars.remove(entry.bar);
      this.barOf.delete(job);
    }
    const rest = Object.entries(shown).filter(([k]) => k !== 'job')
      .map(([k, v]) => (k === 'seconds' ? `time=${readable(Number(v))}` : `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`));
    this.bars.log(`${event}${job !== undefined ? ` job ${job}` : ''} ${rest.join(' ')}\n`);
    this.bars.update();  // written now, not at the next redraw
  }
  stop() {
    this.bars?.update();
    this.bars?.stop();
  }
}

class Worker {
  private stopping = false;
  private upkeepDue = 0;
  private canPause?: boolean;
  constructor(private options: WorkerOptions, private report: Reporter) {}

  stop(signal: string) {
    if (!this.stopping) this.report.event('stopping', { signal });
    this.stopping = true;
  }

  /** A connection, retried until the server answers (or the worker is told to stop). */
  private async connection(slot: number): Promise<pg.Client | undefined> {
    for (let attempt = 0; !this.stopping; attempt++) {
      try {
        return await connect();
      } catch (err) {
        if (attempt === 0) this.report.event('disconnected', { slot, error: (err as Error).message });
        await sleep(Math.min(5000, 200 * 2 ** Math.min(attempt, 5)));
      }
    }
    return undefined;
  }

  async run(): Promise<void> {
    await Promise.all(Array.from({ length: this.options.concurrency }, (_, slot) => this.slot(slot)));
  }

  private async slot(slot: number): Promise<void> {
    const name = `${os.hostname()}:${process.pid}/${slot}`;
    let client = await this.connection(slot);
    while (client && !this.stopping) {
      try {
        if (slot === 0 && this.options.upkeep && Date.now() >= this.upkeepDue) {
          // The audit seal key comes from the environment only (never an option: it would show in ps).
          const { rows } = await client.query('SELECT deletion.run_upkeep(make_interval(days => $1), make_interval(days => $2), $3) AS r',
            [this.options.purgeAfterDays, this.options.auditKeepDays ?? null, process.env.DELETION_KIT_AUDIT_KEY || null]);
          this.report.event('upkeep', { ran: rows[0].r });
          this.upkeepDue = Date.now() + this.options.upkeepEvery * 1000;
        }
        const { rows } = await client.query('SELECT (j).* FROM deletion.claim_job($1, $2) j WHERE (j).id IS NOT NULL', [name, this.options.lease]);
        if (rows.length === 0) {
          if (this.options.once) break;
          await sleep(this.options.poll);
          continue;
        }
        await this.work(client, rows[0]);
      } catch (err) {
        if (!isConnectionError(err)) throw err;
        this.report.event('reconnecting', { slot, error: describe(err) });
        await client.end().catch(() => {});
        client = await this.connection(slot);
      }
    }
    await client?.end().catch(() => {});
  }

  /**
   * Between chunks: while a streaming replica is more than --max-replica-lag bytes of WAL behind
   * (deletion.replica_lag_bytes), wait, renewing the job's heartbeat so that nobody takes it over,
   * and go on by itself once the replica has caught up.
   */
  private async yieldToReplicas(client: pg.Client, id: number, about: Record<string, string>) {
    let waiting = false;
    for (;;) {
      const lag = (await client.query('SELECT deletion.replica_lag_bytes()::float8 AS lag')).rows[0].lag as number | null;
      if (lag === null || lag <= this.options.maxReplicaLag! || this.stopping) {
        if (waiting) {
          await this.pause(client, id, null);
          this.report.event('resumed', { job: id, ...about, replica_lag_bytes: lag });
        }
        return;
      }
      if (!waiting) this.report.event('waiting', { job: id, ...about, reason: 'replica_lag', replica_lag_bytes: lag, max_replica_lag: this.options.maxReplicaLag });
      waiting = true;
      await this.pause(client, id, 'replica_lag');
      await sleep(this.options.poll);
    }
  }

  /**
   * Marks the job paused for a reason, or working again (null): deletion.pause_job, which also renews
   * the heartbeat. On an engine without the pause columns (migration 0150), the heartbeat only.
   */
  private async pause(client: pg.Client, id: number, reason: string | null) {
    if (this.canPause === undefined) {
      this.canPause = (await client.query(`SELECT to_regprocedure('deletion.pause_job(bigint, text)') IS NOT NULL AS ok`)).rows[0].ok;
    }
    if (this.canPause) await client.query('SELECT deletion.pause_job($1, $2)', [id, reason]);
    else await client.query('SELECT deletion.heartbeat($1)', [id]);
  }

  /**
   * One chunk, its lock waits bounded by --lock-wait-ms: lock_timeout set for the chunk's own
   * transaction only (set_config local, in the FROM clause so that it is set before the chunk runs).
   */
  private async chunk(client: pg.Client, id: number): Promise<ChunkResult> {
    const { rows } = await client.query(`SELECT deletion.run_chunk($1, $2, $3) AS r FROM (SELECT set_config('lock_timeout', $4, true)) AS bound`,
      [id, this.options.chunkRows, this.options.chunkMs, `${this.options.lockWaitMs}ms`]);
    return rows[0].r;
  }

  /** Chunks of one claimed job until it ends, the worker stops (release) or a chunk fails (retry or failed). */
  private async work(client: pg.Client, job: { id: string; entity_table: string; entity_pk: string; takeovers: number; paused_since?: Date | null }) {
    const id = Number(job.id);
    const about = { table: job.entity_table, pk: job.entity_pk };
    this.report.event('claimed', { job: id, ...about, takeovers: job.takeovers });
    let pausedOnLocks = Boolean(job.paused_since);  // a pause recorded before the job was handed back
    for (;;) {
      if (!this.stopping && this.options.maxReplicaLag !== undefined) await this.yieldToReplicas(client, id, about);
      if (this.stopping) {
        await client.query('SELECT deletion.release_job($1)', [id]);
        this.report.event('released', { job: id, ...about });
        return;
      }
      let result: ChunkResult;
      try {
        result = await this.chunk(client, id);
      } catch (err) {
        if (isConnectionError(err)) throw err;
        if ((err as { code?: string }).code === '55P03') {  // the chunk waited on a lock longer than --lock-wait-ms
          if (!pausedOnLocks) this.report.event('paused', { job: id, ...about, reason: 'locks', lock_wait_ms: this.options.lockWaitMs, error: describe(err) });
          pausedOnLocks = true;
          await this.pause(client, id, 'locks');
          if (await this.yieldTurn(client, id, about)) return;
          await sleep(this.options.poll);
          continue;
        }
        if ((err as { code?: string }).code === 'PD403') {   // another worker holds it now
          this.report.event('lost', { job: id, ...about, error: describe(err) });
          return;
        }
        const { rows } = await client.query('SELECT (j).status, (j).attempts, (j).next_attempt_at FROM deletion.fail_chunk($1, $2, $3) j',
          [id, describe(err), this.options.backoffMs]);
        const after = rows[0];
        this.report.event(after.status === 'failed' ? 'failed' : 'retry', { job: id, ...about, attempts: after.attempts, next_attempt_at: after.next_attempt_at, error: describe(err) });
        return;
      }
      if (pausedOnLocks) {
        pausedOnLocks = false;
        await this.pause(client, id, null);
        this.report.event('resumed', { job: id, ...about, reason: 'locks' });
      }
      this.report.event('chunk', { job: id, ...about, phase: result.phase, deleted: Number(result.deleted), remaining: Number(result.remaining),
        planned: Number(result.planned), seconds: Number(result.chunk_ms ?? 0) / 1000 });
      if (result.status !== 'running') {
        const { rows } = await client.query(
          `SELECT status, error, rows_deleted::float8 AS rows_deleted, chunks, extract(epoch FROM coalesce(finished_at, now()) - started_at)::float8 AS seconds
             FROM deletion.deletion_jobs WHERE id = $1`, [id]);
        this.report.event(rows[0].status, { job: id, ...about, rows_deleted: rows[0].rows_deleted, chunks: rows[0].chunks, seconds: rows[0].seconds, error: rows[0].error });
        return;
      }
      if (!this.stopping && (await this.yieldTurn(client, id, about))) return;
    }
  }

  /** Between chunks: hands the job back when another job is due (deletion.yield_job); true when it did. */
  private async yieldTurn(client: pg.Client, id: number, about: Record<string, string>): Promise<boolean> {
    const { rows } = await client.query('SELECT deletion.yield_job($1) AS yielded', [id]);
    if (rows[0].yielded) this.report.event('yielded', { job: id, ...about });
    return rows[0].yielded;
  }
}

export function register(program: Command) {
  program
    .command('worker')
    .description('work scheduled deletion jobs in short chunks (claims with FOR UPDATE SKIP LOCKED, retries, takes over stuck jobs)')
    .option('--once', 'work every job that is due, then exit')
    .option('--concurrency <n>', 'jobs worked at the same time, one connection each', positiveInt('--concurrency'), 1)
    .option('--chunk-rows <r>', 'rows a chunk transaction deletes at most', positiveInt('--chunk-rows'), 10000)
    .option('--chunk-ms <t>', 'milliseconds a chunk transaction aims to stay under', positiveInt('--chunk-ms'), 100)
    .option('--lease <seconds>', 'a running job whose heartbeat is older than this is taken over', positiveInt('--lease'), 60)
    .option('--poll <ms>', 'how long to wait when no job is due', positiveInt('--poll'), 1000)
    .option('--backoff-ms <ms>', 'first retry delay after a failed chunk (doubles on each failure)', positiveInt('--backoff-ms'), 1000)
    .option('--upkeep', 'also run periodic upkeep: purge expired soft-deleted rows, audit retention, audit seals (when DELETION_KIT_AUDIT_KEY is set)')
    .option('--upkeep-every <seconds>', 'seconds between upkeep runs', positiveInt('--upkeep-every'), 3600)
    .option('--purge-after <days>', 'upkeep purges rows soft-deleted more than this many days ago', positiveInt('--purge-after'), 90)
    .option('--audit-keep <days>', 'upkeep drops audit months older than this many days (default: keep all)', positiveInt('--audit-keep'))
    .option('--max-replica-lag <bytes>', 'pause between chunks while a streaming replica has more than this many bytes of WAL to replay (needs pg_monitor to see it)', positiveInt('--max-replica-lag'))
    .option('--lock-wait-ms <ms>', 'a chunk waiting on a lock longer than this pauses the job (tried again after --poll) instead of blocking other sessions', positiveInt('--lock-wait-ms'), 1000)
    .option('--json', 'one JSON line per event even on a terminal')
    .action(async (options: WorkerOptions) => {
      const report = new Reporter(Boolean(options.json) || !process.stdout.isTTY);
      const worker = new Worker(options, report);
      const onSignal = (signal: string) => worker.stop(signal);
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      report.event('started', { pid: process.pid, concurrency: options.concurrency, chunk_rows: options.chunkRows, chunk_ms: options.chunkMs, once: Boolean(options.once) });
      try {
        await worker.run();
      } finally {
        report.event('stopped', { pid: process.pid });
        report.stop();
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
      }
    });
}

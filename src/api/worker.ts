// The in-process worker, in the manner of graphile-worker's run(): an application embeds the
// deletion-job worker (and, given a storage adapter, the file cleaner) on its own pg Pool instead of
// running `deletion-kit worker` as a process. The loop is thin (sql/42_jobs_worker.sql decides):
// each slot claims a due job (deletion.claim_job) on a connection of its own, calls deletion.run_chunk
// until the job ends (each call its own short transaction), records a failed chunk with
// deletion.fail_chunk (retry with backoff, or failed), and reconnects when the server goes away.
// Between chunks it yields (sql/45_jobs_yield.sql): the job goes back when another job is due
// (deletion.yield_job), so the due jobs' chunks interleave; a chunk that waited on a lock longer than
// lockWaitMs (lock_timeout) pauses the job (deletion.pause_job) and is tried again, until one goes through.
// Aborting the signal lets the chunk under way finish, releases the job, and resolves.
// `deletion-kit worker` is this function with a terminal reporter (src/commands/worker.ts).
import os from 'node:os';
import type pg from 'pg';
import { runCleanup, type CleanupOptions } from '../files/cleaner.ts';
import type { FileStorage } from '../files/storage.ts';

/** What the worker reports: started, claimed, chunk, done, cancelled, failed, retry, released, lost, waiting, paused, resumed, yielded, upkeep, reconnecting, disconnected, stopping, stopped, files, error. */
export type WorkerEventName = 'started' | 'claimed' | 'chunk' | 'done' | 'cancelled' | 'failed' | 'retry' | 'released' | 'lost'
  | 'waiting' | 'paused' | 'resumed' | 'yielded' | 'upkeep' | 'reconnecting' | 'disconnected' | 'stopping' | 'stopped' | 'files' | 'error';

/** Fields of an event: numbers as numbers, durations in seconds (job, table, pk, deleted, remaining, planned, seconds, ...). */
export type WorkerEventFields = Record<string, unknown>;

export interface RunWorkerOptions {
  /** The application's pool; the worker takes one connection per slot (plus one for the file cleaner). */
  pool: pg.Pool;
  /** Jobs worked at the same time (default 1). */
  concurrency?: number;
  /** Abort to stop: the chunk under way finishes, the job is released. */
  signal?: AbortSignal;
  /** Called for every event. */
  onEvent?: (event: WorkerEventName, fields: WorkerEventFields) => void;
  /** Work every job that is due, then resolve (and one file cleanup pass until empty). */
  once?: boolean;
  /** Rows a chunk transaction deletes at most (default 10000). */
  chunkRows?: number;
  /** Milliseconds a chunk transaction aims to stay under (default 100). */
  chunkMs?: number;
  /** Seconds after which a running job with no heartbeat is taken over (default 60). */
  leaseSeconds?: number;
  /** How long to wait when no job is due, ms (default 1000). */
  pollMs?: number;
  /** First retry delay after a failed chunk, ms (doubles on each failure; default 1000). */
  backoffMs?: number;
  /** Periodic upkeep: purge expired soft-deleted rows, audit retention, audit seals (sealKey). */
  upkeep?: { everySeconds?: number; purgeAfterDays?: number; auditKeepDays?: number; sealKey?: string };
  /** Pause between chunks while a streaming replica lags by more bytes of WAL than this. */
  maxReplicaLagBytes?: number;
  /** The key erasure jobs sign their report with (set on the worker's connections as deletion.erasure_key). */
  erasureKey?: string;
  /** A chunk waiting on a lock longer than this (ms) pauses the job and is tried again after pollMs (default 1000). */
  lockWaitMs?: number;
  /** This worker's name in the job's lease (default host:pid). */
  name?: string;
  /** Embed the file cleaner too: the storage adapter the queued files are deleted from, and its options. */
  files?: { storage: FileStorage; options?: CleanupOptions };
  /**
   * Embed other loops that run until the signal aborts (the notification deliverer of this package:
   * `extra: [(signal) => deliverNotifications({ pool, signal })]`).
   */
  extra?: ((signal: AbortSignal) => Promise<unknown>)[];
}

interface ChunkResult {
  status: 'running' | 'done' | 'cancelled' | 'failed';
  phase: string;
  deleted: number;
  remaining: number;
  planned: number;
  chunk_ms: number;
}

const sleep = (ms: number, signal: AbortSignal) => new Promise<void>((resolve) => {
  const timer = setTimeout(done, ms);
  function done() {
    clearTimeout(timer);
    signal.removeEventListener('abort', done);
    resolve();
  }
  signal.addEventListener('abort', done, { once: true });
});

/** Errors that mean the connection or the server is gone (retry after reconnecting), not that SQL failed. */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  if (e.code && /^(08|57P0)/.test(e.code)) return true;           // connection exceptions, admin/crash shutdown
  if (e.code && /^[0-9A-Z]{5}$/.test(e.code)) return false;        // any other SQLSTATE: the SQL failed
  return /Connection terminated|ECONNREFUSED|ECONNRESET|EPIPE|not queryable|connect/i.test(`${e.code ?? ''} ${e.message ?? ''}`);
}

/** An error as one line: message, detail, hint, SQLSTATE. */
export function describeError(err: unknown): string {
  const e = err as { code?: string; message?: string; detail?: string; hint?: string };
  return [e.message, e.detail && `detail: ${e.detail}`, e.hint && `hint: ${e.hint}`].filter(Boolean).join('; ') + (e.code ? ` (SQLSTATE ${e.code})` : '');
}

class JobWorker {
  private upkeepDue = 0;
  private canPause?: boolean;
  private readonly stop: AbortSignal;
  constructor(private readonly o: Required<Pick<RunWorkerOptions, 'concurrency' | 'chunkRows' | 'chunkMs' | 'leaseSeconds' | 'pollMs' | 'backoffMs' | 'name'>> & RunWorkerOptions,
    private readonly emit: (event: WorkerEventName, fields: WorkerEventFields) => void, signal: AbortSignal) {
    this.stop = signal;
  }

  /** A connection, retried until the server answers (or the worker is told to stop). */
  private async connection(slot: number): Promise<pg.PoolClient | undefined> {
    for (let attempt = 0; !this.stop.aborted; attempt++) {
      try {
        const c = await this.o.pool.connect();
        c.on('error', () => {});
        if (this.o.erasureKey) await c.query(`SELECT set_config('deletion.erasure_key', $1, false)`, [this.o.erasureKey]);
        return c;
      } catch (err) {
        if (attempt === 0) this.emit('disconnected', { slot, error: (err as Error).message });
        await sleep(Math.min(5000, 200 * 2 ** Math.min(attempt, 5)), this.stop);
      }
    }
    return undefined;
  }

  run(): Promise<void[]> {
    return Promise.all(Array.from({ length: this.o.concurrency }, (_, slot) => this.slot(slot)));
  }

  private async slot(slot: number): Promise<void> {
    const name = `${this.o.name}/${slot}`;
    let client = await this.connection(slot);
    while (client && !this.stop.aborted) {
      try {
        const upkeep = this.o.upkeep;
        if (slot === 0 && upkeep && Date.now() >= this.upkeepDue) {
          const { rows } = await client.query('SELECT deletion.run_upkeep(make_interval(days => $1), make_interval(days => $2), $3) AS r',
            [upkeep.purgeAfterDays ?? 90, upkeep.auditKeepDays ?? null, upkeep.sealKey || null]);
          this.emit('upkeep', { ran: rows[0].r });
          this.upkeepDue = Date.now() + (upkeep.everySeconds ?? 3600) * 1000;
        }
        const { rows } = await client.query('SELECT (j).* FROM deletion.claim_job($1, $2) j WHERE (j).id IS NOT NULL', [name, this.o.leaseSeconds]);
        if (rows.length === 0) {
          if (this.o.once) break;
          await sleep(this.o.pollMs, this.stop);
          continue;
        }
        await this.work(client, rows[0]);
      } catch (err) {
        if (!isConnectionError(err)) {
          client.release();
          throw err;
        }
        this.emit('reconnecting', { slot, error: describeError(err) });
        client.release(err as Error);
        client = await this.connection(slot);
      }
    }
    client?.release();
  }

  /** Between chunks: wait while a streaming replica lags too far (deletion.replica_lag_bytes), renewing the heartbeat. */
  private async yieldToReplicas(client: pg.PoolClient, id: number, about: Record<string, string>) {
    let waiting = false;
    for (;;) {
      const lag = (await client.query('SELECT deletion.replica_lag_bytes()::float8 AS lag')).rows[0].lag as number | null;
      if (lag === null || lag <= this.o.maxReplicaLagBytes! || this.stop.aborted) {
        if (waiting) {
          await this.pause(client, id, null);
          this.emit('resumed', { job: id, ...about, replica_lag_bytes: lag });
        }
        return;
      }
      await this.pause(client, id, 'replica_lag');  // recorded, then said (as for locks)
      if (!waiting) this.emit('waiting', { job: id, ...about, reason: 'replica_lag', replica_lag_bytes: lag, max_replica_lag: this.o.maxReplicaLagBytes });
      waiting = true;
      await sleep(this.o.pollMs, this.stop);
    }
  }

  /**
   * Marks the job paused for a reason, or working again (null): deletion.pause_job, which also renews
   * the heartbeat. On an engine without the pause columns (migration 0150), the heartbeat only.
   */
  private async pause(client: pg.PoolClient, id: number, reason: string | null) {
    if (this.canPause === undefined) {
      this.canPause = (await client.query(`SELECT to_regprocedure('deletion.pause_job(bigint, text)') IS NOT NULL AS ok`)).rows[0].ok as boolean;
    }
    if (this.canPause) await client.query('SELECT deletion.pause_job($1, $2)', [id, reason]);
    else await client.query('SELECT deletion.heartbeat($1)', [id]);
  }

  /**
   * One chunk, its lock waits bounded by lockWaitMs: lock_timeout set for the chunk's own transaction
   * only (set_config local, in the FROM clause so that it is set before the chunk runs).
   */
  private async chunk(client: pg.PoolClient, id: number): Promise<ChunkResult> {
    const { rows } = await client.query(`SELECT deletion.run_chunk($1, $2, $3) AS r FROM (SELECT set_config('lock_timeout', $4, true)) AS bound`,
      [id, this.o.chunkRows, this.o.chunkMs, `${this.o.lockWaitMs ?? 1000}ms`]);
    return rows[0].r;
  }

  /** Between chunks: hands the job back when another job is due (deletion.yield_job); true when it did. */
  private async yieldTurn(client: pg.PoolClient, id: number, about: Record<string, string>): Promise<boolean> {
    const { rows } = await client.query('SELECT deletion.yield_job($1) AS yielded', [id]);
    if (rows[0].yielded) this.emit('yielded', { job: id, ...about });
    return rows[0].yielded;
  }

  /** Chunks of one claimed job until it ends, the worker stops (release) or a chunk fails (retry or failed). */
  private async work(client: pg.PoolClient, job: { id: string; entity_table: string; entity_pk: string; takeovers: number; paused_since?: Date | null }) {
    const id = Number(job.id);
    const about = { table: job.entity_table, pk: job.entity_pk };
    this.emit('claimed', { job: id, ...about, takeovers: job.takeovers });
    let pausedOnLocks = Boolean(job.paused_since);  // a pause recorded before the job was handed back
    for (;;) {
      if (!this.stop.aborted && this.o.maxReplicaLagBytes !== undefined) await this.yieldToReplicas(client, id, about);
      if (this.stop.aborted) {
        await client.query('SELECT deletion.release_job($1)', [id]);
        this.emit('released', { job: id, ...about });
        return;
      }
      let result: ChunkResult;
      try {
        result = await this.chunk(client, id);
      } catch (err) {
        if (isConnectionError(err)) throw err;
        if ((err as { code?: string }).code === '55P03') {  // the chunk waited on a lock longer than lockWaitMs
          // recorded first, then said: whoever reads the job views after the event sees it paused
          await this.pause(client, id, 'locks');
          if (!pausedOnLocks) this.emit('paused', { job: id, ...about, reason: 'locks', lock_wait_ms: this.o.lockWaitMs ?? 1000, error: describeError(err) });
          pausedOnLocks = true;
          if (await this.yieldTurn(client, id, about)) return;
          await sleep(this.o.pollMs, this.stop);
          continue;
        }
        if ((err as { code?: string }).code === 'PD403') {   // another worker holds it now
          this.emit('lost', { job: id, ...about, error: describeError(err) });
          return;
        }
        const { rows } = await client.query('SELECT (j).status, (j).attempts, (j).next_attempt_at FROM deletion.fail_chunk($1, $2, $3) j',
          [id, describeError(err), this.o.backoffMs]);
        const after = rows[0];
        this.emit(after.status === 'failed' ? 'failed' : 'retry', { job: id, ...about, attempts: after.attempts, next_attempt_at: after.next_attempt_at, error: describeError(err) });
        return;
      }
      if (pausedOnLocks) {
        pausedOnLocks = false;
        // A chunk that ended the job released it (deletion.finish_job clears the pause): only a job
        // still held is marked working again.
        if (result.status === 'running') await this.pause(client, id, null);
        this.emit('resumed', { job: id, ...about, reason: 'locks' });
      }
      this.emit('chunk', { job: id, ...about, phase: result.phase, deleted: Number(result.deleted), remaining: Number(result.remaining),
        planned: Number(result.planned), seconds: Number(result.chunk_ms ?? 0) / 1000 });
      if (result.status !== 'running') {
        const { rows } = await client.query(
          `SELECT status, error, rows_deleted::float8 AS rows_deleted, chunks, extract(epoch FROM coalesce(finished_at, now()) - started_at)::float8 AS seconds
             FROM deletion.deletion_jobs WHERE id = $1`, [id]);
        this.emit(rows[0].status, { job: id, ...about, rows_deleted: rows[0].rows_deleted, chunks: rows[0].chunks, seconds: rows[0].seconds, error: rows[0].error });
        return;
      }
      if (!this.stop.aborted && (await this.yieldTurn(client, id, about))) return;
    }
  }
}

/**
 * Runs the deletion-job worker (and the file cleaner, and any extra loops) in this process until
 * the signal aborts (or, with once, until nothing is due). Resolves when every loop has stopped;
 * rejects when one fails with an error that is not a lost connection (the others are stopped first).
 */
export async function runWorker(options: RunWorkerOptions): Promise<void> {
  const concurrency = options.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a positive whole number, not ${options.concurrency}`);
  const emit = (event: WorkerEventName, fields: WorkerEventFields) => options.onEvent?.(event, fields);
  const inner = new AbortController();
  const onAbort = () => {
    const reason = options.signal?.reason;
    emit('stopping', typeof reason === 'string' ? { signal: reason } : {});
    inner.abort();
  };
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener('abort', onAbort, { once: true });
  const o = {
    ...options, concurrency, chunkRows: options.chunkRows ?? 10000, chunkMs: options.chunkMs ?? 100, leaseSeconds: options.leaseSeconds ?? 60,
    pollMs: options.pollMs ?? 1000, backoffMs: options.backoffMs ?? 1000, name: options.name ?? `${os.hostname()}:${process.pid}`,
  };
  emit('started', { pid: process.pid, concurrency, chunk_rows: o.chunkRows, chunk_ms: o.chunkMs, once: Boolean(options.once), files: Boolean(options.files) });
  const loops: Promise<unknown>[] = [new JobWorker(o, emit, inner.signal).run()];
  if (options.files) {
    const files = options.files;
    loops.push((async () => {
      const client = await options.pool.connect();
      try {
        const report = await runCleanup(client, files.storage, {
          ...files.options, signal: inner.signal, untilEmpty: options.once || files.options?.untilEmpty,
          onBatch: (b) => { if (b.claimed) emit('files', { claimed: b.claimed, deleted: b.deleted, kept: b.stillReferenced, retrying: b.retrying, failed: b.failed, seconds: b.ms / 1000 }); },
        });
        return report;
      } finally {
        client.release();
      }
    })());
  }
  for (const loop of options.extra ?? []) loops.push(loop(inner.signal));
  try {
    const results = await Promise.allSettled(loops.map((p) => p.catch((err) => {
      emit('error', { error: describeError(err) });
      inner.abort();
      throw err;
    })));
    const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    if (failed) throw failed.reason;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    emit('stopped', { pid: process.pid });
  }
}

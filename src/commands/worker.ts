// deletion-kit worker: works scheduled deletion jobs: the API's runWorker (src/api/worker.ts, a thin
// loop around sql/42_jobs_worker.sql) on a pool of its own, one connection per slot (--concurrency).
// Due jobs take turns between chunks; a chunk that waits on a lock longer than --lock-wait-ms pauses
// its job and is tried again (src/api/worker.ts). SIGTERM / SIGINT: the chunk under way finishes, the job is released, the process exits 0.
// On a terminal it draws a progress bar per job; otherwise it prints one JSON line per event.
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import pg from 'pg';
import { runWorker } from '../api/worker.ts';
import { databaseUrl, UserError } from '../db.ts';
import { deliverNotifications } from '../notify/deliver.ts';

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
  notify: boolean;
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
    .option('--no-notify', 'do not deliver deletion events to webhooks (deletion-kit notify deliver does it elsewhere)')
    .option('--json', 'one JSON line per event even on a terminal')
    .action(async (options: WorkerOptions) => {
      const report = new Reporter(Boolean(options.json) || !process.stdout.isTTY);
      const stop = new AbortController();
      const onSignal = (signal: string) => stop.abort(signal);
      const pool = new pg.Pool({ connectionString: await databaseUrl(), max: options.concurrency + 2, application_name: 'deletion-kit', connectionTimeoutMillis: 10_000 });
      pool.on('error', () => {}); // a dropped idle connection: the worker reconnects on its next query
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      // Deletion events go to their webhooks from the same process (src/notify/deliver.ts): beside
      // the jobs, or, with --once, after them (what is due then). A deliverer that fails (an engine
      // without the events migration) is reported; the jobs go on.
      const notifyOptions = { pool, backoffMs: options.backoffMs, pollMs: options.poll,
                              onEvent: ({ event, ...fields }: { event: string }) => report.event(event, fields) };
      const notifyFailed = (err: Error & { code?: string }) => report.event('notify_failed', { error: `${err.message}${err.code ? ` (SQLSTATE ${err.code})` : ''}` });
      try {
        await runWorker({
          pool, concurrency: options.concurrency, signal: stop.signal, once: options.once, chunkRows: options.chunkRows, chunkMs: options.chunkMs,
          leaseSeconds: options.lease, pollMs: options.poll, backoffMs: options.backoffMs, maxReplicaLagBytes: options.maxReplicaLag, lockWaitMs: options.lockWaitMs,
          // The audit seal key comes from the environment only (never an option: it would show in ps).
          // Erasure jobs sign their report with the operator's key: from the environment only, too.
          erasureKey: process.env.DELETION_KIT_ERASURE_KEY || undefined,
          extra: options.notify && !options.once ? [(signal) => deliverNotifications({ ...notifyOptions, signal }).catch(notifyFailed)] : [],
          upkeep: options.upkeep ? { everySeconds: options.upkeepEvery, purgeAfterDays: options.purgeAfterDays, auditKeepDays: options.auditKeepDays, sealKey: process.env.DELETION_KIT_AUDIT_KEY || undefined } : undefined,
          onEvent: (event, fields) => {
            if (event === 'started') report.event(event, { pid: fields.pid, concurrency: fields.concurrency, chunk_rows: fields.chunk_rows, chunk_ms: fields.chunk_ms, once: fields.once });
            else if (event !== 'stopped' && event !== 'error') report.event(event, fields);
          },
        });
        if (options.notify && options.once) await deliverNotifications({ ...notifyOptions, once: true }).catch(notifyFailed);
      } finally {
        report.event('stopped', { pid: process.pid });
        report.stop();
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
        await pool.end().catch(() => {});
      }
    });
}

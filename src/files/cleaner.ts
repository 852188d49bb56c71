// The file cleaner: claim a batch (deletion.claim_file_deletions), delete each file through the
// storage adapter with up to `concurrency` deletes in flight, report the confirmed keys
// (deletion.complete_file_deletions) and the refused ones (deletion.fail_file_deletions). What is
// due, what is still in use, the back-off and when to give up are decided in SQL; this loop only
// talks to storage. A key leaves the queue only after storage confirmed it; a cleaner that dies
// leaves its keys leased until the lease lapses, and the next cleaner takes them again.
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { FileStorage } from './storage.ts';

export const MAX_BATCH_SIZE = 1000;

export interface CleanupOptions {
  /** Files claimed per batch (1..1000, default 100). */
  batchSize?: number;
  /** Attempts before a file is marked failed (default 3). */
  maxAttempts?: number;
  /** Deletes in flight at once (default 4). */
  concurrency?: number;
  /** Stop after one batch. */
  once?: boolean;
  /** Stop when nothing is due (instead of waiting for more work). */
  untilEmpty?: boolean;
  /** How long a claim is held before another cleaner may take it again (seconds, default 300). */
  leaseSeconds?: number;
  /** Leave files queued less than this long (seconds, default 0): a row restored within it keeps its file. */
  graceSeconds?: number;
  /** First back-off after a failure, doubled each attempt (seconds, default 30). */
  backoffSeconds?: number;
  /** How long to wait when nothing is due (ms, default 5000). */
  idleMs?: number;
  /** This cleaner's name in the queue's lease_owner (default host:pid:random). */
  name?: string;
  /** Stops the loop after the batch in hand. */
  signal?: AbortSignal;
  /** Called after each batch. */
  onBatch?: (batch: BatchReport) => void;
  /** Called with the queue ids each time completions are committed. */
  onCompleted?: (ids: string[]) => void;
}

export interface BatchReport {
  claimed: number;
  deleted: number;
  stillReferenced: number;
  retrying: number;
  failed: number;
  errors: { key: string; error: string }[];
  ms: number;
}

export interface CleanupReport {
  cleaner: string;
  batches: number;
  claimed: number;
  deleted: number;
  stillReferenced: number;
  retrying: number;
  failed: number;
  ms: number;
}

interface Claimed {
  id: string;
  storage_key: string;
  attempts: number;
  still_referenced: boolean;
}

/** Completions are sent in groups of this size while a batch runs, so a crash repeats little work. */
const COMPLETE_EVERY = 50;

export function cleanerName(): string {
  return `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

export function validateCleanupOptions(options: CleanupOptions) {
  const { batchSize = 100, maxAttempts = 3, concurrency = 4, leaseSeconds = 300, backoffSeconds = 30, graceSeconds = 0 } = options;
  const whole = (n: number) => Number.isInteger(n);
  if (!whole(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_SIZE) throw new RangeError(`--batch-size must be a whole number from 1 to ${MAX_BATCH_SIZE}, not ${batchSize}`);
  if (!whole(maxAttempts) || maxAttempts < 1) throw new RangeError(`--max-attempts must be a whole number of at least 1, not ${maxAttempts}`);
  if (!whole(concurrency) || concurrency < 1 || concurrency > 256) throw new RangeError(`--concurrency must be a whole number from 1 to 256, not ${concurrency}`);
  if (!(leaseSeconds > 0)) throw new RangeError(`--lease must be a positive number of seconds, not ${leaseSeconds}`);
  if (!(backoffSeconds >= 0)) throw new RangeError(`--backoff must be zero or more seconds, not ${backoffSeconds}`);
  if (!(graceSeconds >= 0)) throw new RangeError(`--grace must be zero or more seconds, not ${graceSeconds}`);
  return { batchSize, maxAttempts, concurrency, leaseSeconds, backoffSeconds, graceSeconds };
}

function sleep(ms: number, signal?: AbortSignal) {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Runs `work` over `items` with at most `limit` in flight. */
async function inParallel<T>(items: T[], limit: number, work: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await work(items[next++]);
    }),
  );
}

/** One batch: claim, delete through storage, report back. */
export async function cleanBatch(client: pg.ClientBase, storage: FileStorage, options: CleanupOptions & { name: string }): Promise<BatchReport> {
  const { batchSize, maxAttempts, concurrency, leaseSeconds, backoffSeconds, graceSeconds } = validateCleanupOptions(options);
  const started = Date.now();
  const { rows } = await client.query<Claimed>(
    'SELECT id::text, storage_key, attempts, still_referenced FROM deletion.claim_file_deletions($1, $2, make_interval(secs => $3), make_interval(secs => $4))',
    [options.name, batchSize, leaseSeconds, graceSeconds],
  );
  const toDelete = rows.filter((r) => !r.still_referenced);
  const report: BatchReport = { claimed: rows.length, deleted: 0, stillReferenced: rows.length - toDelete.length, retrying: 0, failed: 0, errors: [], ms: 0 };

  // Confirmed keys are reported in groups, one query at a time on this connection.
  let confirmed: string[] = [];
  let completing: Promise<void> = Promise.resolve();
  const complete = () => {
    const ids = confirmed;
    confirmed = [];
    if (ids.length === 0) return completing;
    completing = completing.then(async () => {
      const done = await client.query<{ id: string }>('SELECT id::text FROM deletion.complete_file_deletions($1, $2::bigint[]) AS id', [options.name, ids]);
      report.deleted += done.rowCount ?? 0;
      options.onCompleted?.(done.rows.map((r) => r.id));
    });
    return completing;
  };

  const refused: { id: string; key: string; error: string }[] = [];
  await inParallel(toDelete, concurrency, async (row) => {
    try {
      await storage.delete(row.storage_key);
      confirmed.push(row.id);
      if (confirmed.length >= COMPLETE_EVERY) void complete().catch(() => {});
    } catch (err) {
      const e = err as Error & { name?: string; code?: string };
      refused.push({ id: row.id, key: row.storage_key, error: [e.name, e.code, e.message].filter(Boolean).join(': ') });
    }
  });
  await complete();
  await completing;

  if (refused.length) {
    const failed = await client.query<{ failed: boolean }>(
      'SELECT failed FROM deletion.fail_file_deletions($1, $2::bigint[], $3::text[], $4, make_interval(secs => $5))',
      [options.name, refused.map((r) => r.id), refused.map((r) => r.error), maxAttempts, backoffSeconds],
    );
    report.failed = failed.rows.filter((r) => r.failed).length;
    report.retrying = failed.rows.length - report.failed;
    report.errors = refused.map(({ key, error }) => ({ key, error }));
  }
  report.ms = Date.now() - started;
  return report;
}

/** Batches until stopped: one with `once`, until nothing is due with `untilEmpty`, otherwise forever (waiting when idle). */
export async function runCleanup(client: pg.ClientBase, storage: FileStorage, options: CleanupOptions = {}): Promise<CleanupReport> {
  validateCleanupOptions(options);
  const name = options.name ?? cleanerName();
  const started = Date.now();
  const total: CleanupReport = { cleaner: name, batches: 0, claimed: 0, deleted: 0, stillReferenced: 0, retrying: 0, failed: 0, ms: 0 };
  while (!options.signal?.aborted) {
    const batch = await cleanBatch(client, storage, { ...options, name });
    if (batch.claimed > 0) {
      total.batches++;
      total.claimed += batch.claimed;
      total.deleted += batch.deleted;
      total.stillReferenced += batch.stillReferenced;
      total.retrying += batch.retrying;
      total.failed += batch.failed;
      options.onBatch?.(batch);
    }
    if (options.once || (options.untilEmpty && batch.claimed === 0)) break;
    if (batch.claimed === 0) await sleep(options.idleMs ?? 5000, options.signal);
  }
  total.ms = Date.now() - started;
  return total;
}

// The file cleaner: claim batches (deletion.claim_file_deletions), delete each file through the
// storage adapter with up to `concurrency` deletes in flight, report the confirmed keys
// (deletion.complete_file_deletions) and the refused ones (deletion.fail_file_deletions). What is
// due, what is still in use, the back-off and when to give up are decided in SQL; this loop only
// talks to storage. A key leaves the queue only after storage confirmed it; a cleaner that dies
// leaves its keys leased until the lease lapses, and the next cleaner takes them again. A key the
// storage refuses as unsafe (UnsafeKeyError: it would reach outside the storage) is failed at once,
// with the refusal as its error: retrying cannot make it safe.
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { UnsafeKeyError, type FileStorage } from './storage.ts';

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

/** A claimed file on its way through storage, and the batch it came in. */
interface Item {
  row: Claimed;
  batch: BatchState;
}

interface BatchState {
  report: BatchReport;
  ids: string[];
  unfinished: number;
  started: number;
}

/**
 * Sends what storage answered back to the database, in groups, one query at a time on the cleaner's
 * connection: confirmed keys (deletion.complete_file_deletions) and refused keys with their errors
 * (deletion.fail_file_deletions). Remembers per id what the database made of it, for the batch reports.
 */
class Reporter {
  private confirmed: string[] = [];
  private refused: { id: string; error: string; final: boolean }[] = [];
  private chain: Promise<void> = Promise.resolve();
  readonly completed = new Set<string>();
  readonly failedFor = new Map<string, boolean>();

  constructor(
    private readonly client: pg.ClientBase,
    private readonly name: string,
    private readonly settings: ReturnType<typeof validateCleanupOptions>,
    private readonly onCompleted?: (ids: string[]) => void,
  ) {}

  confirm(id: string) {
    this.confirmed.push(id);
    if (this.confirmed.length >= COMPLETE_EVERY) void this.flush().catch(() => {});
  }

  /** `final`: retrying cannot help (an unsafe key), so the key is failed now, whatever its attempts. */
  refuse(id: string, error: string, final = false) {
    this.refused.push({ id, error, final });
  }

  /** Sends everything buffered so far; resolves when it (and everything before it) is recorded. */
  flush(): Promise<void> {
    const confirmed = this.confirmed;
    const refused = this.refused;
    this.confirmed = [];
    this.refused = [];
    if (confirmed.length) {
      this.chain = this.chain.then(async () => {
        const done = await this.client.query<{ id: string }>('SELECT id::text FROM deletion.complete_file_deletions($1, $2::bigint[]) AS id', [this.name, confirmed]);
        for (const r of done.rows) this.completed.add(r.id);
        this.onCompleted?.(done.rows.map((r) => r.id));
      });
    }
    // A claim has counted at least one attempt, so max_attempts 1 marks a final refusal failed at once.
    const retryable = refused.filter((r) => !r.final);
    const final = refused.filter((r) => r.final);
    if (retryable.length) this.fail(retryable, this.settings.maxAttempts);
    if (final.length) this.fail(final, 1);
    return this.chain;
  }

  private fail(refused: { id: string; error: string }[], maxAttempts: number) {
    this.chain = this.chain.then(async () => {
      const failed = await this.client.query<{ id: string; failed: boolean }>(
        'SELECT id::text, failed FROM deletion.fail_file_deletions($1, $2::bigint[], $3::text[], $4, make_interval(secs => $5))',
        [this.name, refused.map((r) => r.id), refused.map((r) => r.error), maxAttempts, this.settings.backoffSeconds],
      );
      for (const r of failed.rows) this.failedFor.set(r.id, r.failed);
    });
  }
}

function describe(err: unknown): string {
  const e = err as Error & { name?: string; code?: string };
  return [e.name, e.code, e.message].filter(Boolean).join(': ') || String(err);
}

/**
 * Cleans until stopped: one batch with `once`, until nothing is due with `untilEmpty`, otherwise
 * forever (waiting `idleMs` whenever nothing is due). Deletes run `concurrency` at a time without
 * waiting for batch boundaries: the next batch is claimed while the last files of the current one
 * are still in flight, so a batch's slowest file does not idle the others. On `signal`, no more
 * batches are claimed; the files in hand are finished and reported.
 */
export async function runCleanup(client: pg.ClientBase, storage: FileStorage, options: CleanupOptions = {}): Promise<CleanupReport> {
  const settings = validateCleanupOptions(options);
  const name = options.name ?? cleanerName();
  const started = Date.now();
  const total: CleanupReport = { cleaner: name, batches: 0, claimed: 0, deleted: 0, stillReferenced: 0, retrying: 0, failed: 0, ms: 0 };
  const reporter = new Reporter(client, name, settings, options.onCompleted);
  const ready: Item[] = [];
  let claiming: Promise<void> | null = null;
  let nothingDue = false;
  let claims = 0;
  let failure: unknown;

  const mayClaim = () => !nothingDue && !failure && !options.signal?.aborted && !(options.once && claims > 0);

  /** The batch is done when its last file is answered; its report waits for the database's verdicts. */
  async function finishBatch(batch: BatchState) {
    await reporter.flush();
    const r = batch.report;
    for (const id of batch.ids) {
      if (reporter.completed.delete(id)) r.deleted++;
      const failed = reporter.failedFor.get(id);
      if (failed !== undefined) {
        reporter.failedFor.delete(id);
        if (failed) r.failed++;
        else r.retrying++;
      }
    }
    r.ms = Date.now() - batch.started;
    total.deleted += r.deleted;
    total.retrying += r.retrying;
    total.failed += r.failed;
    options.onBatch?.(r);
  }

  function claim(): Promise<void> {
    claiming ??= (async () => {
      claims++;
      const batchStarted = Date.now();
      const { rows } = await client.query<Claimed>(
        'SELECT id::text, storage_key, attempts, still_referenced FROM deletion.claim_file_deletions($1, $2, make_interval(secs => $3), make_interval(secs => $4))',
        [name, settings.batchSize, settings.leaseSeconds, settings.graceSeconds],
      );
      if (rows.length === 0) {
        nothingDue = true;
        return;
      }
      const toDelete = rows.filter((r) => !r.still_referenced);
      const batch: BatchState = {
        report: { claimed: rows.length, deleted: 0, stillReferenced: rows.length - toDelete.length, retrying: 0, failed: 0, errors: [], ms: 0 },
        ids: toDelete.map((r) => r.id),
        unfinished: toDelete.length,
        started: batchStarted,
      };
      total.batches++;
      total.claimed += rows.length;
      total.stillReferenced += batch.report.stillReferenced;
      if (toDelete.length === 0) await finishBatch(batch);
      else ready.push(...toDelete.map((row) => ({ row, batch })));
    })()
      .catch((err) => {
        failure ??= err;
      })
      .finally(() => {
        claiming = null;
      });
    return claiming;
  }

  async function deleteOne({ row, batch }: Item) {
    try {
      await storage.delete(row.storage_key);
      reporter.confirm(row.id);
    } catch (err) {
      const error = describe(err);
      // An unsafe key (outside the root, through a link or as written) is refused for good: it is
      // marked failed now, not retried; `files retry --failed` brings it back once storage is fixed.
      reporter.refuse(row.id, error, err instanceof UnsafeKeyError);
      batch.report.errors.push({ key: row.storage_key, error });
    }
    if (--batch.unfinished === 0) await finishBatch(batch);
  }

  async function worker() {
    while (!failure) {
      // Claim the next batch before this one runs dry (at most one claim in flight).
      if (ready.length <= settings.concurrency && mayClaim()) void claim();
      const item = ready.shift();
      if (item) {
        await deleteOne(item).catch((err) => {
          failure ??= err;
        });
      } else if (claiming) {
        await claiming;
      } else {
        return;
      }
    }
  }

  while (!options.signal?.aborted && !failure) {
    nothingDue = false;
    await Promise.all(Array.from({ length: settings.concurrency }, worker));
    await reporter.flush().catch((err) => {
      failure ??= err;
    });
    if (failure || options.once || options.untilEmpty) break;
    await sleep(options.idleMs ?? 5000, options.signal);
  }
  if (failure) throw failure;
  total.ms = Date.now() - started;
  return total;
}

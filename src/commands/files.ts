// deletion-kit files cleanup | stats | retry | track: deferred file cleanup (seed 002). Rows go at once
// (the deletion_60_files triggers queue their files); these commands remove the files from storage
// later and show the backlog.
import type { Command } from 'commander';
import { UserError, withClient } from '../db.ts';
import { runCleanup, validateCleanupOptions, type CleanupOptions } from '../files/cleaner.ts';
import { storageFrom, StorageConfigError, type StorageConfig } from '../files/storage.ts';
import { humanDuration, jsonOption, plural, printJson, seconds, table } from '../output.ts';

/** The storage options every command that deletes files takes. */
export function storageOptions(command: Command): Command {
  return command
    .option('--storage <kind>', 'local or s3 (default: DELETION_KIT_STORAGE, else local)')
    .option('--root <dir>', 'local storage: the directory keys are relative to (default: DELETION_KIT_FILES_ROOT)')
    .option('--bucket <name>', 's3: the bucket (default: DELETION_KIT_S3_BUCKET)')
    .option('--prefix <prefix>', 's3: prepended to every key (default: DELETION_KIT_S3_PREFIX)')
    .option('--endpoint <url>', 's3: an S3-compatible endpoint (default: DELETION_KIT_S3_ENDPOINT, else AWS)')
    .option('--region <region>', 's3: the region (default: AWS_REGION, else us-east-1)');
}

export function openStorage(config: StorageConfig) {
  try {
    return storageFrom(config);
  } catch (err) {
    if (err instanceof StorageConfigError) throw new UserError(err.message);
    throw err;
  }
}

function wholeNumber(name: string) {
  return (value: string) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) throw new UserError(`${name} takes a whole number, not "${value}"`);
    return n;
  };
}

function positiveNumber(name: string) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0) throw new UserError(`${name} takes a number of seconds, not "${value}"`);
    return n;
  };
}

export function cleanupOptions(command: Command): Command {
  return command
    .option('--batch-size <n>', 'files claimed per batch, at most 1000', wholeNumber('--batch-size'), 100)
    .option('--max-attempts <n>', 'attempts before a file is marked failed', wholeNumber('--max-attempts'), 3)
    .option('--concurrency <n>', 'deletes in flight at once', wholeNumber('--concurrency'), 4)
    .option('--lease <seconds>', 'how long a claim holds its files before another cleaner may take them', positiveNumber('--lease'), 300)
    .option('--backoff <seconds>', 'first back-off after a failure, doubled each attempt', positiveNumber('--backoff'), 30)
    .option('--grace <seconds>', 'leave files queued less than this long (a row restored meanwhile keeps its file)', positiveNumber('--grace'), 0);
}

export function checkCleanupOptions(options: CleanupOptions) {
  try {
    validateCleanupOptions(options);
  } catch (err) {
    throw new UserError((err as Error).message);
  }
}

export function register(program: Command) {
  const files = program.command('files').description('deferred file cleanup: remove the files of deleted rows from storage, show the backlog');

  jsonOption(cleanupOptions(storageOptions(files.command('cleanup'))))
    .description('delete queued files from storage in batches (runs until stopped; --once: one batch; --until-empty: until nothing is due); --json: one JSON line per batch, then the totals')
    .option('--once', 'run one batch and exit')
    .option('--until-empty', 'run batches until nothing is due, then exit')
    .action(async (opts) => {
      const options: CleanupOptions = {
        batchSize: opts.batchSize, maxAttempts: opts.maxAttempts, concurrency: opts.concurrency,
        leaseSeconds: opts.lease, backoffSeconds: opts.backoff, graceSeconds: opts.grace, once: opts.once, untilEmpty: opts.untilEmpty,
      };
      checkCleanupOptions(options);
      const storage = openStorage(opts);
      const stop = new AbortController();
      const onSignal = () => {
        if (stop.signal.aborted) process.exit(130); // a second signal: leave now, leases lapse on their own
        console.error('stopping after the batch in hand (signal again to exit now)');
        stop.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        await withClient(async (client) => {
          const json = Boolean(opts.json);
          if (!json) console.log(`cleaning ${storage.description}: batches of ${options.batchSize}, ${options.concurrency} at once, ${options.maxAttempts} attempts`);
          const total = await runCleanup(client, storage, {
            ...options,
            signal: stop.signal,
            onBatch: (b) => {
              if (json) {
                console.log(JSON.stringify({ event: 'batch', claimed: b.claimed, deleted: b.deleted, kept: b.stillReferenced, retrying: b.retrying, failed: b.failed, seconds: seconds(b.ms), errors: b.errors }));
                return;
              }
              console.log(`batch: ${b.claimed} claimed, ${b.deleted} deleted, ${b.stillReferenced} kept (still referenced), ${b.retrying} to retry, ${b.failed} failed (${b.ms} ms)`);
              for (const e of b.errors.slice(0, 5)) console.log(`  ${e.key}: ${e.error}`);
            },
          });
          if (json) {
            console.log(JSON.stringify({ event: 'done', deleted: total.deleted, kept: total.stillReferenced, retrying: total.retrying, failed: total.failed, batches: total.batches, seconds: seconds(total.ms) }));
            return;
          }
          console.log(`done: ${total.deleted} deleted, ${total.stillReferenced} kept, ${total.retrying} to retry, ${total.failed} failed in ${plural(total.batches, 'batch', 'batches')} (${total.ms} ms)`);
        });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await storage.close?.();
      }
    });

  jsonOption(files
    .command('stats')
    .description('the cleanup backlog: pending, in progress, failed, oldest pending age, attempts; and the failed files'))
    .action(async (opts) => {
      await withClient(async (client) => {
        const stats = (await client.query('SELECT * FROM deletion.vw_file_cleanup_stats')).rows[0];
        const failed = (await client.query('SELECT storage_key, attempts, last_error FROM deletion.vw_failed_file_deletions LIMIT 20')).rows;
        const n = (k: string) => Number(stats[k]);
        if (opts.json) {
          printJson({
            pending: n('pending'), in_progress: n('in_progress'), retrying: n('retrying'), failed: n('failed'),
            oldest_pending_queued_at: stats.oldest_pending_queued_at, oldest_pending_age_seconds: n('oldest_pending_age_seconds'), attempts: n('attempts'),
            failed_files: failed.map((f) => ({ storage_key: f.storage_key, attempts: Number(f.attempts), last_error: f.last_error })),
          });
          return;
        }
        console.log(table(['', { header: 'files', align: 'right' }], [
          ['pending', n('pending')], ['in progress', n('in_progress')], ['retrying', n('retrying')], ['failed', n('failed')], ['attempts', n('attempts')],
        ]));
        console.log(`\noldest pending: ${n('pending') + n('in_progress') + n('retrying') ? humanDuration(n('oldest_pending_age_seconds')) : '-'}`);
        if (failed.length) {
          console.log(`\n${table(['failed file', { header: 'attempts', align: 'right' }, 'last error'], failed.map((f) => [f.storage_key, Number(f.attempts), f.last_error]))}`);
        }
      });
    });

  jsonOption(files
    .command('retry')
    .description('make files waiting out a back-off due now; --failed: also bring back files that failed for good')
    .option('--failed', 'also retry failed files (their attempts start again)'))
    .action(async (opts) => {
      await withClient(async (client) => {
        const { rows } = await client.query('SELECT deletion.retry_file_deletions($1) AS n', [Boolean(opts.failed)]);
        if (opts.json) printJson({ files_due: Number(rows[0].n) });
        else console.log(`${plural(rows[0].n, 'file')} due now`);
      });
    });

  jsonOption(files
    .command('track <table> [column]')
    .description('declare the column of TABLE that holds storage keys (omit COLUMN to stop tracking); deleting a row then queues its file'))
    .action(async (table: string, column: string | undefined, opts: { json?: boolean }) => {
      await withClient(async (client) => {
        await client.query('SELECT deletion.track_files($1::regclass, $2)', [table, column ?? null]);
        if (opts.json) printJson({ table, column: column ?? null, tracked: column !== undefined });
        else console.log(column ? `${table}: deleting a row queues the file named by ${column}` : `${table}: files no longer tracked`);
      });
    });
}

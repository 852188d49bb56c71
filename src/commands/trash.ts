// deletion-kit trash [--json] | trash purge [--older-than AGE] [--dry-run] [--yes]: the soft-delete
// trash (deletion.vw_trash) and its periodic cleanup (deletion.purge_soft_deleted). What is listed and
// what is purged is decided in SQL; this file only prints it. A purge runs in one transaction: a dry
// run rolls it back (so it shows exactly what the purge would remove), and on a terminal a purge of
// more rows than the threshold asks before it commits.
import type { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { connect, UserError } from '../db.ts';
import { confirmOptions, confirmThreshold, jsonOption, mayProceed, plural, printJson, readableKey, RefusedError, seconds, style, table, withProgress } from '../output.ts';

interface TrashRow {
  op: string;
  root_table: string;
  root_key: unknown;
  deleted_by: string | null;
  deleted_at: Date;
  deletion_reason: string | null;
  rows_per_table: Record<string, number>;
  total_rows: string;
  restorable: boolean;
  not_restorable_because: string[] | null;
}

export function register(program: Command) {
  const trash = jsonOption(program
    .command('trash')
    .description('list soft-delete operations in the trash (deletion.vw_trash), one line each: root, who, when, why, rows, restorable or why not')
    .option('--limit <n>', 'show at most N operations, newest first', '50'))
    .action(async (opts: { limit: string; json?: boolean }) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new UserError(`--limit takes a positive whole number, not "${opts.limit}"`);
      const client = await connect();
      try {
        const { rows } = await client.query<TrashRow>('SELECT * FROM deletion.vw_trash LIMIT $1', [limit]);
        if (opts.json) {
          printJson({
            operations: rows.map((r) => ({
              op: r.op, root_table: r.root_table, root_key: r.root_key, deleted_by: r.deleted_by, deleted_at: r.deleted_at,
              reason: r.deletion_reason, rows: Number(r.total_rows), rows_per_table: r.rows_per_table,
              restorable: r.restorable, not_restorable_because: r.not_restorable_because ?? [],
            })),
          });
          return;
        }
        if (rows.length === 0) {
          console.log('the trash is empty');
          return;
        }
        console.log(table(
          ['operation', 'deleted at (UTC)', 'root', 'key', { header: 'rows', align: 'right' }, 'rows per table', 'by', 'reason', 'restorable'],
          rows.map((r) => [
            r.op, r.deleted_at.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ''), r.root_table, readableKey(r.root_key), Number(r.total_rows),
            Object.entries(r.rows_per_table).map(([t, n]) => `${t} ${n}`).join(', '), r.deleted_by ?? '', r.deletion_reason ?? '',
            r.restorable ? style.green('yes') : style.red(`no: ${(r.not_restorable_because ?? []).join('; ')}`),
          ]),
        ));
        console.log(`\n${plural(rows.length, 'operation')}${rows.length === limit ? ` (the newest ${limit}; --limit shows more)` : ''}; deletion-kit restore OPERATION brings one back`);
      } finally {
        await client.end();
      }
    });

  jsonOption(confirmOptions(trash
    .command('purge')
    .description('hard-delete rows soft-deleted longer ago than --older-than (deletion.purge_soft_deleted); asks on a terminal above 1,000 rows')
    .option('--older-than <age>', 'a PostgreSQL interval, e.g. "90 days"', '90 days')))
    .action(async (opts: { olderThan: string; dryRun?: boolean; yes?: boolean; confirmAbove?: string; json?: boolean }) => {
      const threshold = confirmThreshold(opts.confirmAbove, loadConfig().confirmAbove);
      const client = await connect();
      const started = Date.now();
      try {
        await client.query('BEGIN');
        const { rows } = await withProgress(`purging rows soft-deleted more than ${opts.olderThan} ago`, client.query<{ table_name: string; rows_purged: string }>(
          'SELECT table_name, rows_purged FROM deletion.purge_soft_deleted($1::interval)', [opts.olderThan]));
        const tables = rows.map((r) => ({ table: r.table_name, rows: Number(r.rows_purged) }));
        const total = tables.reduce((n, t) => n + t.rows, 0);
        const go = !opts.dryRun && (opts.json || (await mayProceed(total, `trash purge would hard-delete ${tables.map((t) => `${t.table} ${t.rows}`).join(', ')}`, { yes: opts.yes, threshold })));
        await client.query(go ? 'COMMIT' : 'ROLLBACK');
        if (opts.json) {
          printJson({ dry_run: Boolean(opts.dryRun), older_than: opts.olderThan, tables, total_rows: total, seconds: seconds(Date.now() - started) });
          return;
        }
        if (total === 0) {
          console.log(`nothing was soft-deleted more than ${opts.olderThan} ago`);
          return;
        }
        const verb = go ? 'purged' : 'would purge';
        console.log(table(['table', { header: `rows ${verb}`, align: 'right' }], tables.map((t) => [t.table, t.rows])));
        console.log(`\n${verb} ${plural(total, 'row')} soft-deleted more than ${opts.olderThan} ago${go ? '' : opts.dryRun ? ' (dry run: nothing changed)' : ''}`);
        if (!go && !opts.dryRun) throw new RefusedError('not confirmed: nothing was purged (--yes skips the question)');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        await client.end();
      }
    });
}

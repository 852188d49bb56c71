// deletion-kit trash [--json] | trash purge [--older-than AGE]: the soft-delete trash (deletion.vw_trash)
// and its periodic cleanup (deletion.purge_soft_deleted). What is listed and what is purged is decided
// in SQL; this file only prints it.
import type { Command } from 'commander';
import { connect, UserError } from '../db.ts';

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
  const trash = program
    .command('trash')
    .description('list soft-delete operations in the trash (deletion.vw_trash): root, who, when, why, rows, restorable or why not')
    .option('--limit <n>', 'show at most N operations, newest first', '50')
    .option('--json', 'print the rows as JSON')
    .action(async (opts: { limit: string; json?: boolean }) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new UserError(`--limit takes a positive whole number, not "${opts.limit}"`);
      const client = await connect();
      try {
        const { rows } = await client.query<TrashRow>('SELECT * FROM deletion.vw_trash LIMIT $1', [limit]);
        if (opts.json) {
          console.log(JSON.stringify(rows, null, 2));
          return;
        }
        if (rows.length === 0) {
          console.log('the trash is empty');
          return;
        }
        for (const r of rows) {
          const tables = Object.entries(r.rows_per_table).map(([t, n]) => `${t} ${n}`).join(', ');
          console.log(`${r.op}  ${r.deleted_at.toISOString()}  ${r.root_table} ${JSON.stringify(r.root_key)}  ${r.total_rows} rows (${tables})` +
            `${r.deleted_by ? `  by ${r.deleted_by}` : ''}${r.deletion_reason ? `  "${r.deletion_reason}"` : ''}`);
          console.log(r.restorable ? '    restorable' : `    not restorable: ${(r.not_restorable_because ?? []).join('; ')}`);
        }
      } finally {
        await client.end();
      }
    });

  trash
    .command('purge')
    .description('hard-delete rows soft-deleted longer ago than --older-than (deletion.purge_soft_deleted)')
    .option('--older-than <age>', 'a PostgreSQL interval, e.g. "90 days"', '90 days')
    .action(async (opts: { olderThan: string }) => {
      const client = await connect();
      try {
        const { rows } = await client.query<{ table_name: string; rows_purged: string }>(
          'SELECT table_name, rows_purged FROM deletion.purge_soft_deleted($1::interval)', [opts.olderThan]);
        if (rows.length === 0) console.log(`nothing was soft-deleted more than ${opts.olderThan} ago`);
        for (const r of rows) console.log(`purged ${r.rows_purged} rows of ${r.table_name}`);
      } finally {
        await client.end();
      }
    });
}

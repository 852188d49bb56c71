// deletion-kit jobs: backlog health (deletion.vw_deletion_jobs_status) and the jobs themselves
// (deletion.vw_deletion_jobs), as a table or as JSON.
import type { Command } from 'commander';
import { connect, UserError } from '../db.ts';

const STATUSES = ['pending', 'running', 'done', 'failed', 'cancelled'];

function table(rows: Record<string, unknown>[], columns: string[]): string {
  const cells = [columns, ...rows.map((r) => columns.map((c) => (r[c] === null || r[c] === undefined ? '' : r[c] instanceof Date ? (r[c] as Date).toISOString() : typeof r[c] === 'object' ? JSON.stringify(r[c]) : String(r[c]))))];
  const widths = columns.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  return cells.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

export function register(program: Command) {
  program
    .command('jobs')
    .description('backlog health and deletion jobs (from deletion.vw_deletion_jobs_status and vw_deletion_jobs)')
    .option('--status <status>', `only jobs with this status (${STATUSES.join(', ')})`)
    .option('--limit <n>', 'at most this many jobs, newest first', '50')
    .option('--json', 'print {status, jobs} as JSON')
    .action(async (options: { status?: string; limit: string; json?: boolean }) => {
      if (options.status && !STATUSES.includes(options.status)) throw new UserError(`--status is one of ${STATUSES.join(', ')}, not "${options.status}"`);
      const limit = Number(options.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new UserError(`--limit takes a positive whole number, not "${options.limit}"`);
      const client = await connect();
      try {
        const status = (await client.query('SELECT * FROM deletion.vw_deletion_jobs_status')).rows[0];
        const jobs = (await client.query(
          `SELECT id, entity_table, entity_pk, hard_delete, status, phase, percent_done, rows_deleted, rows_remaining,
                  attempts, overdue, stuck, scheduled_at, created_by, scheduled_by_role, reason, error
             FROM deletion.vw_deletion_jobs WHERE $1::text IS NULL OR status = $1 ORDER BY id DESC LIMIT $2`,
          [options.status ?? null, limit])).rows;
        if (options.json) {
          console.log(JSON.stringify({ status, jobs }, null, 2));
          return;
        }
        const age = status.oldest_pending_age ? JSON.stringify(status.oldest_pending_age) : '-';
        console.log(`pending ${status.pending}, running ${status.running}, done ${status.done}, failed ${status.failed}, cancelled ${status.cancelled}; ` +
          `due ${status.due}, overdue ${status.overdue}, stuck ${status.stuck}, retrying ${status.retrying}; oldest pending ${age}; ` +
          `rows remaining ${status.rows_remaining}; ${status.healthy ? 'healthy' : 'NEEDS ATTENTION'}`);
        if (jobs.length) console.log('\n' + table(jobs, ['id', 'entity_table', 'entity_pk', 'hard_delete', 'status', 'phase', 'percent_done', 'rows_deleted', 'rows_remaining', 'attempts', 'scheduled_at', 'error']));
      } finally {
        await client.end();
      }
    });
}

// deletion-kit jobs: backlog health (deletion.vw_deletion_jobs_status) and the jobs themselves
// (deletion.vw_deletion_jobs), as a table or as JSON (counts as numbers, durations in seconds).
// --check exits 2 when the backlog is unhealthy (an overdue, stuck or failed job), for cron and CI.
// Exit codes: 0 done (healthy), 1 error, 2 unhealthy (with --check).
import type { Command } from 'commander';
import { connect, UserError } from '../db.ts';

const STATUSES = ['pending', 'running', 'done', 'failed', 'cancelled'];

/** Seconds as a short readable duration: 45s, 2m14s, 3h05m, 2d4h. */
export function readableDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '-';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

function table(rows: Record<string, unknown>[], columns: string[]): string {
  const cells = [columns, ...rows.map((r) => columns.map((c) => (r[c] === null || r[c] === undefined ? '' : r[c] instanceof Date ? (r[c] as Date).toISOString() : typeof r[c] === 'object' ? JSON.stringify(r[c]) : String(r[c]))))];
  const widths = columns.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  return cells.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

// Every count as an integer and every duration as seconds, so that JSON carries numbers.
const STATUS_SQL = `
  SELECT pending::int, running::int, done::int, failed::int, cancelled::int, due::int, overdue::int, stuck::int,
         retrying::int, blocked::int, oldest_pending_seconds::float8, rows_remaining::float8,
         rows_remaining_by_table, rows_per_second::float8, extract(epoch FROM time_to_drain)::float8 AS time_to_drain_seconds, healthy
    FROM deletion.vw_deletion_jobs_status`;
const JOBS_SQL = `
  SELECT id::float8 AS id, entity_table, entity_pk, hard_delete, status, phase, percent_done::float8, rows_planned::float8,
         rows_deleted::float8, rows_remaining::float8, chunks, attempts, overdue, stuck, scheduled_at, created_by,
         scheduled_by_role, reason, error, extract(epoch FROM age)::float8 AS age_seconds,
         extract(epoch FROM run_time)::float8 AS run_time_seconds
    FROM deletion.vw_deletion_jobs WHERE $1::text IS NULL OR status = $1 ORDER BY id DESC LIMIT $2`;

export function register(program: Command) {
  const jobs = program.command('jobs');
  jobs
    .command('undo <id>')
    .description('restore from the audit log everything a hard job deleted, across all its chunks, all or nothing (exit 2 when refused)')
    .option('--dry-run', 'say what would be restored, and every conflict; change nothing')
    .option('--json', 'print {job, dry_run, refused, rows_restored, steps} as JSON')
    .action(async (id: string, options: { dryRun?: boolean; json?: boolean }) => {
      if (!/^\d+$/.test(id)) throw new UserError(`jobs undo takes a job id (a whole number), not "${id}"`);
      const client = await connect();
      try {
        let rows;
        try {
          rows = (await client.query('SELECT kind, table_name, rows::float8 AS rows, detail FROM deletion.undo_job($1, $2)', [id, Boolean(options.dryRun)])).rows;
        } catch (err) {
          const e = err as { code?: string; message: string; hint?: string };
          if (!['PD407', 'PD202', '55000'].includes(e.code ?? '')) throw err;
          if (options.json) console.log(JSON.stringify({ job: Number(id), dry_run: Boolean(options.dryRun), refused: { sqlstate: e.code, message: e.message, hint: e.hint ?? null } }, null, 2));
          else console.error(`deletion-kit: refused: ${e.message} (SQLSTATE ${e.code})${e.hint ? `\nhint: ${e.hint}` : ''}`);
          process.exitCode = 2;
          return;
        }
        const refusedNow = rows.some((r) => r.kind === 'conflict' || r.kind === 'not audited');
        if (options.json) {
          console.log(JSON.stringify({ job: Number(id), dry_run: Boolean(options.dryRun), refused: refusedNow,
            rows_restored: options.dryRun || refusedNow ? 0 : rows.filter((r) => r.kind === 'insert').reduce((n, r) => n + r.rows, 0),
            steps: rows.map((r) => ({ kind: r.kind, table: r.table_name, rows: r.rows, detail: r.detail })) }, null, 2));
          if (refusedNow) process.exitCode = 2;
          return;
        }
        for (const r of rows) console.log([r.kind, r.table_name ?? '', r.rows ?? '', r.detail ?? ''].join('\t').trimEnd());
        const refused = rows.some((r) => r.kind === 'conflict' || r.kind === 'not audited');
        if (options.dryRun) console.log(refused ? 'dry run: the undo would be refused; nothing changed' : 'dry run: nothing changed');
        else console.log(`job ${id} undone: ${rows.filter((r) => r.kind === 'insert').reduce((n, r) => n + r.rows, 0)} rows restored`);
        if (refused) process.exitCode = 2;
      } finally {
        await client.end();
      }
    });
  jobs
    .description('backlog health and deletion jobs (from deletion.vw_deletion_jobs_status and vw_deletion_jobs)')
    .option('--status <status>', `only jobs with this status (${STATUSES.join(', ')})`)
    .option('--limit <n>', 'at most this many jobs, newest first', '50')
    .option('--json', 'print {status, jobs} as JSON (numbers as numbers, durations in seconds)')
    .option('--check', 'exit 2 when the backlog is unhealthy (an overdue, stuck or failed job); print only the summary')
    .action(async (options: { status?: string; limit: string; json?: boolean; check?: boolean }) => {
      if (options.status && !STATUSES.includes(options.status)) throw new UserError(`--status is one of ${STATUSES.join(', ')}, not "${options.status}"`);
      const limit = Number(options.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new UserError(`--limit takes a positive whole number, not "${options.limit}"`);
      const client = await connect();
      try {
        const status = (await client.query(STATUS_SQL)).rows[0];
        const jobs = options.check ? [] : (await client.query(JOBS_SQL, [options.status ?? null, limit])).rows;
        if (options.check && !status.healthy) process.exitCode = 2;
        if (options.json) {
          console.log(JSON.stringify(options.check ? { status } : { status, jobs }, null, 2));
          return;
        }
        console.log(`pending ${status.pending}, running ${status.running}, done ${status.done}, failed ${status.failed}, cancelled ${status.cancelled}; ` +
          `due ${status.due}, overdue ${status.overdue}, stuck ${status.stuck}, retrying ${status.retrying}, blocked ${status.blocked}; ` +
          `oldest pending ${status.pending > 0 ? readableDuration(status.oldest_pending_seconds) : '-'}; ` +
          `rows remaining ${status.rows_remaining}${status.rows_remaining > 0 && status.time_to_drain_seconds !== null ? ` (about ${readableDuration(status.time_to_drain_seconds)} at ${status.rows_per_second} rows/s)` : ''}; ` +
          `${status.healthy ? 'healthy' : 'NEEDS ATTENTION'}`);
        if (jobs.length) {
          const shown = jobs.map((j) => ({ ...j, age: readableDuration(j.age_seconds), run_time: readableDuration(j.run_time_seconds) }));
          console.log('\n' + table(shown, ['id', 'entity_table', 'entity_pk', 'hard_delete', 'status', 'phase', 'percent_done', 'rows_deleted', 'rows_remaining', 'chunks', 'attempts', 'age', 'run_time', 'error']));
        }
      } finally {
        await client.end();
      }
    });
}

// deletion-kit erasures [list] | log | run-due | cancel <id>: erasure requests with a grace period, and
// the erasure log with each erasure's files pending confirmation (docs/erasure.md). `deletion-kit erase ... --grace 30d` records one; run-due carries out those whose
// grace period is over (run it from cron or the worker's schedule). Everything is decided in SQL.
import type { Command } from 'commander';
import { connect, UserError } from '../db.ts';

interface RequestRow {
  id: string;
  subject_table: string;
  status: string;
  requested_at: Date;
  due_at: Date;
  erasure_id: string | null;
  error: string | null;
}

async function run<T>(work: (c: Awaited<ReturnType<typeof connect>>) => Promise<T>): Promise<T> {
  const c = await connect();
  try {
    return await work(c);
  } finally {
    await c.end();
  }
}

export function register(program: Command) {
  const erasures = program.command('erasures').description('erasure requests waiting for their grace period: list, run the due ones, cancel');

  erasures
    .command('list', { isDefault: true })
    .description('the erasure requests, newest first (no keys are printed)')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const { rows } = await run((c) => c.query<RequestRow>(
        'SELECT id, subject_table, status, requested_at, due_at, erasure_id, error FROM deletion.erasure_requests ORDER BY id DESC'));
      if (options.json) {
        console.log(JSON.stringify(rows, null, 2));
        return;
      }
      if (rows.length === 0) console.log('no erasure requests');
      for (const r of rows) {
        const what = r.status === 'done' ? `erasure ${r.erasure_id}` : r.status === 'failed' ? r.error ?? '' : `due ${r.due_at.toISOString()}`;
        console.log(`request ${r.id}  ${r.subject_table}  ${r.status.padEnd(9)}  ${what}`);
      }
    });

  erasures
    .command('log')
    .description('the erasure log, newest first: each erasure\'s files queued, confirmed removed, and pending confirmation; erasure jobs under way')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const rows = await run(async (c) => (await c.query<{ erasure: number; subject_table: string; erased_at: Date | null; step: string; job: number | null;
                                                         files_queued: number; files_removed: number; files_still_referenced: number; files_pending: number }>(`
        SELECT x.erasure::float8 AS erasure, x.subject_table, x.erased_at, x.step, x.job::float8 AS job,
               coalesce(f.files_queued, 0)::float8 AS files_queued, coalesce(f.files_removed, 0)::float8 AS files_removed,
               coalesce(f.files_still_referenced, 0)::float8 AS files_still_referenced, coalesce(f.files_pending, 0)::float8 AS files_pending
          FROM (SELECT e.id AS erasure, e.subject_table, e.erased_at, 'done' AS step, (e.report ->> 'job')::bigint AS job FROM deletion.erasures e
                UNION ALL
                SELECT j.erasure_id, j.subject_table, NULL, j.step, j.job_id FROM deletion.erasure_jobs j WHERE j.step NOT IN ('done')) x
          LEFT JOIN deletion.vw_erasure_files f ON f.erasure_id = x.erasure
         ORDER BY x.erasure DESC`)).rows);
      if (options.json) {
        console.log(JSON.stringify(rows, null, 2));
        return;
      }
      if (rows.length === 0) console.log('no erasures');
      for (const r of rows) {
        const when = r.erased_at ? r.erased_at.toISOString() : `job ${r.job}: ${r.step}`;
        const filesText = r.files_queued === 0 ? 'no files' : `files: ${r.files_queued} queued, ${r.files_removed} removed, ${r.files_still_referenced} kept (still referenced), ${r.files_pending} pending confirmation`;
        console.log(`erasure ${r.erasure}  ${r.subject_table}  ${when}  ${filesText}`);
      }
    });

  erasures
    .command('run-due')
    .description('carry out the requests whose grace period is over (key: DELETION_KIT_ERASURE_KEY); exit code 1 when one failed')
    .option('--max <n>', 'at most this many requests', '10')
    .action(async (options: { max: string }) => {
      const key = process.env.DELETION_KIT_ERASURE_KEY;
      if (!key) throw new UserError('set DELETION_KIT_ERASURE_KEY to the operator\'s erasure signing key (docs/erasure.md)');
      if (!/^\d+$/.test(options.max) || Number(options.max) < 1) throw new UserError(`--max takes a positive whole number, not "${options.max}"`);
      const { rows } = await run((c) => c.query<{ request_id: string; status: string; erasure_id: string | null; error: string | null }>(
        'SELECT * FROM deletion.run_due_erasures($1, $2)', [key, Number(options.max)]));
      if (rows.length === 0) console.log('no erasure request is due');
      for (const r of rows) console.log(`request ${r.request_id}: ${r.status === 'done' ? `done (erasure ${r.erasure_id})` : `failed: ${r.error}`}`);
      if (rows.some((r) => r.status === 'failed')) process.exitCode = 1;
    });

  erasures
    .command('cancel <id>')
    .description('withdraw a pending erasure request')
    .action(async (id: string) => {
      if (!/^\d+$/.test(id)) throw new UserError(`cancel takes a request id (a whole number), not "${id}"`);
      await run((c) => c.query('SELECT deletion.cancel_erasure_request($1::bigint)', [id]));
      console.log(`erasure request ${id} cancelled`);
    });
}

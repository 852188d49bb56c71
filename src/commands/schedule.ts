// deletion-kit schedule <table> <pk> [--in 1d2h] [--notify-before 1d] [--hard] [--reason text] [--by user] [--force]: calls
// deletion.schedule(), which validates everything; prints the job id. Exit codes: 0 scheduled, 1 error,
// 2 refused because something blocks the tree (PD406; the blockers are in the message; --force, for
// deletion_admin, schedules it anyway).
import type { Command } from 'commander';
import { connect, UserError } from '../db.ts';
import { jsonOption, printJson } from '../output.ts';

/** "1d2h30m10s" (any of the parts, in that order) as a PostgreSQL interval literal. */
export function parseDelay(text: string, flag = '--in'): string {
  const m = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text.trim());
  if (!m || text.trim() === '') throw new UserError(`${flag} takes a delay like 1d2h, 30m or 45s, not "${text}"`);
  const [, d = '0', h = '0', min = '0', s = '0'] = m;
  return `${d} days ${h} hours ${min} minutes ${s} seconds`;
}

export function register(program: Command) {
  jsonOption(program
    .command('schedule <table> <pk>')
    .description('schedule the deletion of one row and its cascade tree (a JSON array for a composite key)')
    .option('--in <delay>', 'run after this delay, like 1d2h (default: now)')
    .option('--notify-before <delay>', 'write a due_soon event (webhooks, NOTIFY) this long before the run, like 1d')
    .option('--hard', 'delete permanently (needs deletion_admin); default is a soft delete on soft-delete tables')
    .option('--reason <text>', 'why the row is deleted (kept on the job and in the audit log)')
    .option('--by <actor>', 'the actor recorded as the job creator (your user id: a number, uuid or text)')
    .option('--force', 'schedule it even when something blocks the tree (deletion_admin only; the job fails when it reaches the blocker)'))
    .action(async (table: string, pk: string, options: { in?: string; notifyBefore?: string; hard?: boolean; reason?: string; by?: string; force?: boolean; json?: boolean }) => {
      const delay = options.in === undefined ? '0 seconds' : parseDelay(options.in);
      const notifyBefore = options.notifyBefore === undefined ? null : parseDelay(options.notifyBefore, '--notify-before');
      const client = await connect();
      try {
        await client.query('BEGIN');
        if (options.force) await client.query("SELECT set_config('deletion.force_blocked', 'on', true)");
        let scheduled;
        try {
          scheduled = await client.query(
            'SELECT deletion.schedule($1::text::regclass, $2, now() + $3::interval, $4, $5, $6::text, notify_before => $7::interval) AS id',
            [table, pk, delay, Boolean(options.hard), options.reason ?? null, options.by ?? null, notifyBefore],
          );
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK');
          const e = err as { code?: string; message: string; hint?: string };
          if (e.code !== 'PD406') throw err;
          if (options.json) printJson({ scheduled: false, refused: { sqlstate: e.code, message: e.message, hint: e.hint ?? null } });
          else console.error(`deletion-kit: refused: ${e.message}${e.hint ? `\nhint: ${e.hint}` : ''}`);
          process.exitCode = 2;
          return;
        }
        const { rows } = await client.query(
          `SELECT id, entity_table, entity_pk, status, scheduled_at, hard_delete,
                  extract(epoch FROM (to_jsonb(j) ->> 'notify_before')::interval)::float8 AS notify_before_seconds
             FROM deletion.deletion_jobs j WHERE id = $1`,
          [scheduled.rows[0].id],
        );
        const job = rows[0];
        if (options.json) {
          printJson({ scheduled: true, job: { id: Number(job.id), entity_table: job.entity_table, entity_pk: job.entity_pk, hard_delete: job.hard_delete, status: job.status, scheduled_at: job.scheduled_at, notify_before_seconds: job.notify_before_seconds } });
          return;
        }
        const notice = job.notify_before_seconds === null ? '' : `, due_soon event ${new Date(job.scheduled_at.getTime() - job.notify_before_seconds * 1000).toISOString()}`;
        console.log(`job ${job.id}: ${job.hard_delete ? 'hard' : 'soft'} delete of ${job.entity_table} ${job.entity_pk}, ${job.status}, due ${job.scheduled_at.toISOString()}${notice}`);
      } finally {
        await client.end();
      }
    });
}

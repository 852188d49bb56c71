// deletion-kit schedule <table> <pk> [--in 1d2h] [--hard] [--reason text] [--by user]: calls
// deletion.schedule(), which validates everything; prints the job id.
import type { Command } from 'commander';
import { connect, UserError } from '../db.ts';

/** "1d2h30m10s" (any of the parts, in that order) as a PostgreSQL interval literal. */
export function parseDelay(text: string): string {
  const m = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text.trim());
  if (!m || text.trim() === '') throw new UserError(`--in takes a delay like 1d2h, 30m or 45s, not "${text}"`);
  const [, d = '0', h = '0', min = '0', s = '0'] = m;
  return `${d} days ${h} hours ${min} minutes ${s} seconds`;
}

export function register(program: Command) {
  program
    .command('schedule <table> <pk>')
    .description('schedule the deletion of one row and its cascade tree (a JSON array for a composite key)')
    .option('--in <delay>', 'run after this delay, like 1d2h (default: now)')
    .option('--hard', 'delete permanently (needs deletion_admin); default is a soft delete on soft-delete tables')
    .option('--reason <text>', 'why the row is deleted (kept on the job and in the audit log)')
    .option('--by <actor>', 'the actor recorded as the job creator (your user id: a number, uuid or text)')
    .action(async (table: string, pk: string, options: { in?: string; hard?: boolean; reason?: string; by?: string }) => {
      const delay = options.in === undefined ? '0 seconds' : parseDelay(options.in);
      const client = await connect();
      try {
        const scheduled = await client.query(
          'SELECT deletion.schedule($1::text::regclass, $2, now() + $3::interval, $4, $5, $6::text) AS id',
          [table, pk, delay, Boolean(options.hard), options.reason ?? null, options.by ?? null],
        );
        const { rows } = await client.query(
          'SELECT id, entity_table, entity_pk, status, scheduled_at, hard_delete FROM deletion.deletion_jobs WHERE id = $1',
          [scheduled.rows[0].id],
        );
        const job = rows[0];
        console.log(`job ${job.id}: ${job.hard_delete ? 'hard' : 'soft'} delete of ${job.entity_table} ${job.entity_pk}, ${job.status}, due ${job.scheduled_at.toISOString()}`);
      } finally {
        await client.end();
      }
    });
}

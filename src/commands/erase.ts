// deletion-kit erase <table> <key> --reason TEXT: calls deletion.erase() (docs/erasure.md) and prints
// its signed report. Everything is decided in SQL. The signing key is read from
// DELETION_KIT_ERASURE_KEY only (an option would show in ps); the report goes to stdout as JSON, or
// to --out FILE, so that it can be kept outside the database. --job schedules it as a chunked deletion
// job instead (deletion.schedule_erasure), worked by deletion-kit worker.
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { connect, UserError } from '../db.ts';

/** The key as JSON: a JSON value as given ('{"id": 42}', '[7, "eu"]', '42'), else the text as a JSON string (a uuid). */
function keyJson(key: string): string {
  try {
    JSON.parse(key);
    return key;
  } catch {
    return JSON.stringify(key);
  }
}

export function register(program: Command) {
  program
    .command('erase <table> <key>')
    .description('erase a person (a row of a declared erasure subject table) and every copy of their personal data; prints the signed report (key: DELETION_KIT_ERASURE_KEY)')
    .requiredOption('--reason <text>', 'why (a ticket number; no personal data: it is kept)')
    .option('--out <file>', 'write the report to this file instead of stdout')
    .option('--grace <interval>', 'do not erase now: record a request that deletion-kit erasures run-due carries out after this grace period ("30 days"), cancellable until then')
    .option('--job', 'erase as a deletion job that deletion-kit worker works in chunks (for a large subject), due after --grace if given; prints the job id')
    .action(async (table: string, key: string, options: { reason: string; out?: string; grace?: string; job?: boolean }) => {
      if (options.job) {
        const signingKey = process.env.DELETION_KIT_ERASURE_KEY;
        if (!signingKey) throw new UserError('set DELETION_KIT_ERASURE_KEY to the operator\'s erasure signing key (docs/erasure.md); the worker needs the same one');
        const client = await connect();
        try {
          const id = (await client.query<{ id: string }>('SELECT deletion.schedule_erasure($1::regclass, $2::jsonb, $3, $4::interval, $5) AS id',
            [table, keyJson(key), options.reason, options.grace ?? '0 seconds', signingKey])).rows[0].id;
          const r = (await client.query<{ id: string; erasure_id: string; scheduled_at: Date }>(
            'SELECT j.id, e.erasure_id, j.scheduled_at FROM deletion.deletion_jobs j JOIN deletion.erasure_jobs e ON e.job_id = j.id WHERE j.id = $1', [id])).rows[0];
          console.log(`erasure ${r.erasure_id}: job ${r.id}, due at ${r.scheduled_at.toISOString()} (deletion-kit cancel ${r.id} withdraws it until it starts)`);
        } finally {
          await client.end();
        }
        return;
      }
      if (options.grace !== undefined) {
        const client = await connect();
        try {
          const { rows } = await client.query<{ id: string }>('SELECT deletion.request_erasure($1::regclass, $2::jsonb, $3, $4::interval) AS id',
            [table, keyJson(key), options.reason, options.grace]);
          const id = rows[0].id;
          const due = (await client.query<{ due_at: Date }>('SELECT due_at FROM deletion.erasure_requests WHERE id = $1', [id])).rows[0].due_at;
          console.log(`erasure request ${id}: due at ${due.toISOString()} (deletion-kit erasures cancel ${id} withdraws it)`);
        } finally {
          await client.end();
        }
        return;
      }
      const signingKey = process.env.DELETION_KIT_ERASURE_KEY;
      if (!signingKey) throw new UserError('set DELETION_KIT_ERASURE_KEY to the operator\'s erasure signing key (docs/erasure.md)');
      const client = await connect();
      try {
        const { rows } = await client.query<{ report: Record<string, unknown> }>(
          'SELECT deletion.erase($1::regclass, $2::jsonb, $3, $4) AS report', [table, keyJson(key), options.reason, signingKey]);
        const text = `${JSON.stringify(rows[0].report, null, 2)}\n`;
        if (options.out) {
          writeFileSync(options.out, text);
          console.log(`erasure ${rows[0].report.erasure}: report written to ${options.out}`);
        } else {
          process.stdout.write(text);
        }
      } finally {
        await client.end();
      }
    });
}

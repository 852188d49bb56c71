// deletion-kit notify: deletion events and their webhooks (docs/notifications.md).
//   notify add <name> <url>   creates or changes a subscription (deletion.set_webhook); prints its secret once
//   notify list               the subscriptions (never their secrets) and how their deliveries stand
//   notify remove <name>      deletes a subscription and its deliveries
//   notify events             the latest events of the outbox (optionally of one job)
//   notify deliver            delivers events to the webhooks until SIGTERM (or, with --once, what is due)
// `deletion-kit worker` delivers too, beside its jobs, unless --no-notify.
import type { Command } from 'commander';
import { connect, UserError } from '../db.ts';
import { jsonOption, printJson, table } from '../output.ts';
import { deliverNotifications, type NotifyEvent } from '../notify/deliver.ts';

function positiveInt(name: string) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new UserError(`${name} takes a positive whole number, not "${value}"`);
    return n;
  };
}

const list = (value: string) => value.split(',').map((s) => s.trim()).filter(Boolean);

/** One JSON line per event (time first), as the worker prints its own. */
function line(event: string, fields: Record<string, unknown>) {
  process.stdout.write(JSON.stringify({ time: new Date().toISOString(), event, ...fields }) + '\n');
}
const printNotifyEvent = ({ event, ...fields }: NotifyEvent) => line(event, fields);

export function register(program: Command) {
  const notify = program.command('notify').description('deletion events and the webhooks they are delivered to');

  jsonOption(notify
    .command('add <name> <url>')
    .description('create or change a webhook subscription (a new one gets a random secret, printed once)')
    .option('--secret <secret>', 'the HMAC-SHA256 key (at least 16 characters; default: random for a new one, unchanged for an existing one)')
    .option('--events <types>', 'only these event types, comma-separated (scheduled,due_soon,started,done,failed,cancelled,restored)', list)
    .option('--tables <tables>', 'only the events of these tables (schema.table), comma-separated', list)
    .option('--max-attempts <n>', 'attempts before a delivery is given up', positiveInt('--max-attempts'), 20)
    .option('--inactive', 'keep it, but deliver nothing to it'))
    .action(async (name: string, url: string, options: { secret?: string; events?: string[]; tables?: string[]; maxAttempts: number; inactive?: boolean; json?: boolean }) => {
      const client = await connect();
      try {
        const { rows } = await client.query('SELECT subscription_id, new_secret FROM deletion.set_webhook($1, $2, $3, $4, $5, $6, $7)',
          [name, url, options.secret ?? null, options.events ?? null, options.tables ?? null, options.maxAttempts, !options.inactive]);
        const result = { id: Number(rows[0].subscription_id), name, url, secret: rows[0].new_secret as string | null };
        if (options.json) {
          printJson(result);
          return;
        }
        console.log(`webhook ${name} (${result.id}) -> ${url}`);
        if (result.secret) console.log(`secret: ${result.secret}\n(shown once: receivers verify X-Deletion-Kit-Signature with it)`);
      } finally {
        await client.end();
      }
    });

  jsonOption(notify
    .command('list')
    .description('the webhook subscriptions (without their secrets) and their deliveries: pending, delivered, given up'))
    .action(async (options: { json?: boolean }) => {
      const client = await connect();
      try {
        const { rows } = await client.query(`
          SELECT s.id::int AS id, s.name, s.url, s.event_types, s.tables, s.active, s.max_attempts,
                 count(d.id) FILTER (WHERE d.delivered_at IS NULL AND d.gave_up_at IS NULL)::int AS pending,
                 count(d.id) FILTER (WHERE d.delivered_at IS NOT NULL)::int AS delivered,
                 count(d.id) FILTER (WHERE d.gave_up_at IS NOT NULL)::int AS gave_up,
                 min(d.next_attempt_at) FILTER (WHERE d.delivered_at IS NULL AND d.gave_up_at IS NULL) AS next_attempt_at
            FROM deletion.webhook_subscriptions s LEFT JOIN deletion.webhook_deliveries d ON d.subscription_id = s.id
           GROUP BY s.id, s.name, s.url, s.event_types, s.tables, s.active, s.max_attempts
           ORDER BY s.name`);
        if (options.json) {
          printJson(rows);
          return;
        }
        if (rows.length === 0) {
          console.log('no webhook subscriptions (deletion-kit notify add <name> <url>)');
          return;
        }
        console.log(table(['name', 'url', 'events', 'tables', 'active', { header: 'pending', align: 'right' }, { header: 'delivered', align: 'right' }, { header: 'gave up', align: 'right' }],
          rows.map((r) => [r.name, r.url, r.event_types?.join(',') ?? 'all', r.tables?.join(',') ?? 'all', r.active ? 'yes' : 'no', r.pending, r.delivered, r.gave_up])));
      } finally {
        await client.end();
      }
    });

  jsonOption(notify
    .command('remove <name>')
    .description('delete a webhook subscription and its deliveries'))
    .action(async (name: string, options: { json?: boolean }) => {
      const client = await connect();
      try {
        const { rows } = await client.query('SELECT deletion.remove_webhook($1) AS removed', [name]);
        if (options.json) printJson({ name, removed: rows[0].removed });
        else console.log(rows[0].removed ? `webhook ${name} removed` : `no webhook is named ${name}`);
        if (!rows[0].removed) process.exitCode = 1;
      } finally {
        await client.end();
      }
    });

  jsonOption(notify
    .command('events')
    .description('the latest deletion events, newest last')
    .option('--job <id>', 'only the events of this job', positiveInt('--job'))
    .option('--limit <n>', 'how many', positiveInt('--limit'), 50))
    .action(async (options: { job?: number; limit: number; json?: boolean }) => {
      const client = await connect();
      try {
        const { rows } = await client.query(`
          SELECT * FROM (SELECT e.id::int AS id, e.event_type AS type, e.job_id::int AS job, e.entity_table AS table_name, e.entity_pk AS key,
                                e.occurred_at, e.payload
                           FROM deletion.deletion_events e
                          WHERE $1::bigint IS NULL OR e.job_id = $1
                          ORDER BY e.id DESC LIMIT $2) latest
           ORDER BY id`, [options.job ?? null, options.limit]);
        if (options.json) {
          printJson(rows.map((r) => r.payload));
          return;
        }
        console.log(table(['id', 'type', 'job', 'table', 'key', 'when'],
          rows.map((r) => [r.id, r.type, r.job, r.table_name, r.key ?? '(redacted)', r.occurred_at.toISOString()])));
      } finally {
        await client.end();
      }
    });

  notify
    .command('deliver')
    .description('deliver deletion events to their webhooks (signed, retried with back-off, in order per job) until SIGTERM')
    .option('--once', 'deliver what is due now, then exit')
    .option('--poll <ms>', 'how long to wait for NOTIFY when nothing is due', positiveInt('--poll'), 1000)
    .option('--batch <n>', 'deliveries sent at the same time', positiveInt('--batch'), 10)
    .option('--timeout <ms>', 'time a receiver has to answer', positiveInt('--timeout'), 10000)
    .option('--backoff-ms <ms>', 'first retry delay (doubles with each failed attempt, at most an hour)', positiveInt('--backoff-ms'), 1000)
    .option('--lease <seconds>', 'a delivery leased longer ago than this is sent again even if its deliverer lives', positiveInt('--lease'), 60)
    .option('--json', 'one JSON line per event (what it always prints)')
    .action(async (options: { once?: boolean; poll: number; batch: number; timeout: number; backoffMs: number; lease: number }) => {
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      line('notify_started', { pid: process.pid, once: Boolean(options.once) });
      try {
        const summary = await deliverNotifications({
          connect: () => connect(), signal: stop.signal, once: options.once, onEvent: printNotifyEvent,
          pollMs: options.poll, batchSize: options.batch, timeoutMs: options.timeout, backoffMs: options.backoffMs, leaseSeconds: options.lease,
        });
        line('notify_stopped', { pid: process.pid, delivered: summary.delivered, retried: summary.retried, gave_up: summary.gaveUp, due_soon: summary.dueSoon });
      } finally {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
      }
    });
}

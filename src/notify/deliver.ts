// The webhook deliverer: a thin loop around sql/70_notifications.sql. Each turn writes the due_soon
// events whose time has come (deletion.write_due_soon_events), leases the deliveries that are due
// (deletion.claim_webhook_deliveries: per job and subscription only the oldest undelivered event, so
// a job's events arrive in order), POSTs each with node's fetch, signed with the subscription's
// secret, and reports the outcome (deletion.webhook_delivered / deletion.webhook_failed, which
// decides the back-off and when to give up). Between turns it waits for NOTIFY deletion_events or
// the poll interval. A delivery whose answer never got recorded (the process was killed) is leased
// again and sent again with the same Idempotency-Key: at least once.
import crypto from 'node:crypto';
import os from 'node:os';
import type pg from 'pg';

/** The header that carries `sha256=<hex HMAC-SHA256 of the raw body, keyed with the subscription's secret>`. */
export const SIGNATURE_HEADER = 'X-Deletion-Kit-Signature';

/** The signature header's value for a body: `sha256=` and the hex HMAC-SHA256 of its UTF-8 bytes. */
export function signBody(secret: string, body: string | Buffer): string {
  return `sha256=${crypto.createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** True when the header is the body's signature with this secret (compared in constant time). */
export function verifySignature(secret: string, body: string | Buffer, header: string | null | undefined): boolean {
  if (!header) return false;
  const expected = Buffer.from(signBody(secret, body));
  const given = Buffer.from(header);
  return given.length === expected.length && crypto.timingSafeEqual(given, expected);
}

/** What the deliverer reports, one object per thing that happened (numbers as numbers, durations in seconds). */
export type NotifyEvent =
  | { event: 'webhook_delivered'; delivery: number; event_id: number; type: string; job: number; subscription: string; attempt: number; status: number; seconds: number }
  | { event: 'webhook_retry' | 'webhook_gave_up'; delivery: number; event_id: number; type: string; job: number; subscription: string; attempt: number; status: number | null; error: string; next_attempt_at: string | null; seconds: number }
  | { event: 'due_soon'; count: number }
  | { event: 'notify_reconnecting'; error: string };

export interface DeliverOptions {
  /** The application's pool: claims and reports go through it; one of its connections LISTENs. */
  pool?: pg.Pool;
  /** One client, used for everything (and for LISTEN). */
  client?: pg.ClientBase;
  /** Or a way to open a client (the CLI's): the deliverer reconnects with it when the server goes away. */
  connect?: () => Promise<pg.Client>;
  /** Stops the loop at the end of the current turn (requests under way finish first). */
  signal?: AbortSignal;
  onEvent?: (event: NotifyEvent) => void;
  /** Deliver what is due now, then return (retries not due yet stay for the next run). */
  once?: boolean;
  /** How long to wait for NOTIFY when nothing is due (ms; default 1000). */
  pollMs?: number;
  /** Deliveries leased per turn (default 10). */
  batchSize?: number;
  /** Time a receiver has to answer (ms; default 10000). */
  timeoutMs?: number;
  /** First retry delay (ms; doubles with each failed attempt, at most an hour; default 1000). */
  backoffMs?: number;
  /** A lease older than this is taken over even if its session lives (s; default 60). */
  leaseSeconds?: number;
  /** The name recorded as the lease owner (default host:pid/notify). */
  workerName?: string;
  /** LISTEN for deletion_events to wake at once (default true). */
  listen?: boolean;
}

export interface DeliverySummary {
  delivered: number;
  retried: number;
  gaveUp: number;
  dueSoon: number;
}

interface Claimed {
  delivery_id: string;
  event_id: string;
  job_id: string;
  event_type: string;
  subscription: string;
  url: string;
  secret: string;
  idempotency_key: string;
  attempt: number;
  body: string;
}

/** Errors that mean the connection or the server is gone (reconnect), not that SQL failed. */
function isConnectionError(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  if (e.code && /^(08|57P0)/.test(e.code)) return true;
  if (e.code && /^[0-9A-Z]{5}$/.test(e.code)) return false;
  return /Connection terminated|ECONNREFUSED|ECONNRESET|EPIPE|not queryable|connect/i.test(`${e.code ?? ''} ${e.message ?? ''}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Delivers deletion events to their webhooks until `signal` aborts (or, with `once`, until nothing is
 * due). Give it a `pool`, a `client` or a `connect` function. Resolves with what it did.
 */
export async function deliverNotifications(options: DeliverOptions): Promise<DeliverySummary> {
  const { pool, signal, onEvent = () => {}, once = false } = options;
  const pollMs = options.pollMs ?? 1000;
  const batchSize = options.batchSize ?? 10;
  const timeoutMs = options.timeoutMs ?? 10000;
  const backoffMs = options.backoffMs ?? 1000;
  const leaseSeconds = options.leaseSeconds ?? 60;
  const name = options.workerName ?? `${os.hostname()}:${process.pid}/notify`;
  if (!pool && !options.client && !options.connect) throw new TypeError('deliverNotifications needs a pool, a client or a connect function');
  const summary: DeliverySummary = { delivered: 0, retried: 0, gaveUp: 0, dueSoon: 0 };

  let client: pg.ClientBase | undefined = options.client;
  let owned: pg.Client | undefined;          // a client we opened (connect), ended at the end
  let listener: pg.PoolClient | undefined;   // the pool's connection that LISTENs
  let wake: (() => void) | undefined;
  let opened = false;
  const onNotification = () => wake?.();

  // One client runs one query at a time: the reports of requests sent together wait their turn.
  let queue: Promise<unknown> = Promise.resolve();
  const query = (text: string, values?: unknown[]) => {
    if (!client) return pool!.query(text, values);
    const target = client;
    const next = queue.then(() => target.query(text, values));
    queue = next.catch(() => undefined);
    return next;
  };

  async function open() {
    if (options.connect && !options.client) {
      owned = await options.connect();
      client = owned;
      owned.on('error', () => {});  // reported by the next query
    }
    if (options.listen === false || once) return;
    const target: pg.ClientBase = client ?? (listener = await pool!.connect());
    // A checked-out pool connection has no error listener of the pool's: a server restart would
    // otherwise crash the process; the next query reports it and the loop reconnects.
    if (listener) {
      const broken = listener;
      broken.on('error', () => {
        if (listener !== broken) return;
        listener = undefined;           // listen again on a new connection at the next turn
        broken.release(true);
        opened = false;
        wake?.();
      });
    }
    target.on('notification', onNotification);
    await target.query('LISTEN deletion_events');
  }

  async function close() {
    const target = client ?? listener;
    target?.removeListener('notification', onNotification);
    if (listener) {
      await listener.query('UNLISTEN deletion_events').catch(() => {});
      listener.release();
      listener = undefined;
    } else if (client && !owned && opened && options.listen !== false && !once) {
      await client.query('UNLISTEN deletion_events').catch(() => {});
    }
    if (owned) {
      await owned.end().catch(() => {});
      owned = undefined;
      client = undefined;
    }
  }

  /** Waits for a NOTIFY, the poll interval or the stop signal, whichever comes first. */
  function idle(ms: number) {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      wake = done;
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  async function send(d: Claimed) {
    const started = Date.now();
    const about = { delivery: Number(d.delivery_id), event_id: Number(d.event_id), type: d.event_type, job: Number(d.job_id), subscription: d.subscription, attempt: d.attempt };
    let status: number | null = null;
    let failure: string | undefined;
    try {
      const response = await fetch(d.url, {
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
        headers: {
          'Content-Type': 'application/json',
          'User-Agent': 'pg-deletion-kit',
          'Idempotency-Key': d.idempotency_key,
          'X-Deletion-Kit-Event': d.event_type,
          'X-Deletion-Kit-Event-Id': String(d.event_id),
          'X-Deletion-Kit-Delivery-Attempt': String(d.attempt),
          [SIGNATURE_HEADER]: signBody(d.secret, d.body),
        },
        body: d.body,
      });
      status = response.status;
      await response.arrayBuffer().catch(() => undefined);
      if (!response.ok) failure = `the receiver answered HTTP ${status}`;
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      failure = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : `${e.message}${e.cause ? `: ${e.cause.code ?? e.cause.message}` : ''}`;
    }
    const seconds = (Date.now() - started) / 1000;
    if (failure === undefined) {
      await query('SELECT deletion.webhook_delivered($1, $2)', [d.delivery_id, status]);
      summary.delivered++;
      onEvent({ event: 'webhook_delivered', ...about, status: status!, seconds });
      return;
    }
    const { rows } = await query('SELECT gave_up, next_attempt_at FROM deletion.webhook_failed($1, $2, $3, $4)', [d.delivery_id, status, failure, backoffMs]);
    const gaveUp = Boolean(rows[0]?.gave_up);
    if (gaveUp) summary.gaveUp++;
    else summary.retried++;
    onEvent({ event: gaveUp ? 'webhook_gave_up' : 'webhook_retry', ...about, status, error: failure,
              next_attempt_at: gaveUp || !rows[0] ? null : new Date(rows[0].next_attempt_at).toISOString(), seconds });
  }

  try {
    for (;;) {
      if (signal?.aborted) break;
      try {
        if (!opened) {
          await open();
          opened = true;
        }
        const due = Number((await query('SELECT deletion.write_due_soon_events() AS n')).rows[0].n);
        if (due > 0) {
          summary.dueSoon += due;
          onEvent({ event: 'due_soon', count: due });
        }
        const { rows } = await query('SELECT * FROM deletion.claim_webhook_deliveries($1, $2, $3)', [name, batchSize, leaseSeconds]);
        if (rows.length === 0) {
          if (once) break;
          await idle(pollMs);
          continue;
        }
        await Promise.all((rows as Claimed[]).map(send));
      } catch (err) {
        if (!isConnectionError(err) || !(options.connect || pool)) throw err;
        onEvent({ event: 'notify_reconnecting', error: (err as Error).message });
        await close();
        opened = false;
        await sleep(Math.min(5000, pollMs));
      }
    }
  } finally {
    await close();
  }
  return summary;
}

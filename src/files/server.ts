// deletion-kit serve: seed 002's "trigger from outside", made safe. A small node:http server:
//   POST /cleanup/run   one cleanup batch (?batch_size=, ?max_attempts=); needs `Authorization: Bearer <token>`
//   GET  /cleanup/stats deletion.vw_file_cleanup_stats as JSON
//   GET  /jobs/status   deletion.vw_deletion_jobs_status as JSON (503 while the deletion-job views are not installed)
//   GET  /metrics       the file queue and the deletion jobs (src/jobs_metrics.ts) as Prometheus text
// The token is compared in constant time; a wrong or missing one is 401 and runs nothing.
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import pg from 'pg';
import { runCleanup, validateCleanupOptions, type CleanupOptions } from './cleaner.ts';
import type { FileStorage } from './storage.ts';
import { jobMetrics } from '../jobs_metrics.ts';

export interface ServeOptions {
  /** The database the server reads and cleans. */
  databaseUrl: string;
  storage: FileStorage;
  /** The bearer token POST requests must carry. */
  token: string;
  /** Defaults for POST /cleanup/run (query parameters override batch size and max attempts). */
  cleanup?: CleanupOptions;
}

/** Equal strings, in time that does not depend on where they differ (both are hashed to 32 bytes first). */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  const text = typeof body === 'string' ? body : JSON.stringify(body, null, 2) + '\n';
  res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain; version=0.0.4; charset=utf-8' : 'application/json; charset=utf-8', ...headers });
  res.end(text);
}

function intParam(url: URL, name: string, fallback: number | undefined): number | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null) return fallback;
  if (!/^\d+$/.test(raw)) throw new HttpError(400, `${name} must be a whole number, not "${raw}"`);
  return Number(raw);
}

/** The metrics, one gauge per column of the stats view, plus this process's own counters. */
function prometheus(stats: Record<string, unknown>, counters: Record<string, number>): string {
  const gauges: [string, string, unknown][] = [
    ['deletion_kit_files_pending', 'Files queued for deletion from storage and not held by a cleaner.', stats.pending],
    ['deletion_kit_files_in_progress', 'Files a cleaner holds under a lease.', stats.in_progress],
    ['deletion_kit_files_retrying', 'Pending files whose last attempt failed.', stats.retrying],
    ['deletion_kit_files_failed', 'Files that failed every attempt; retried only by hand (deletion-kit files retry --failed).', stats.failed],
    ['deletion_kit_files_oldest_pending_age_seconds', 'Age of the oldest file still waiting (0 when none).', stats.oldest_pending_age_seconds],
    ['deletion_kit_files_queued_attempts', 'Attempts spent on the files still in the queue.', stats.attempts],
  ];
  const lines: string[] = [];
  for (const [name, help, value] of gauges) {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${Number(value)}`);
  }
  for (const [name, value] of Object.entries(counters)) {
    lines.push(`# HELP ${name} Counted by this server's POST /cleanup/run since it started.`, `# TYPE ${name} counter`, `${name} ${value}`);
  }
  return lines.join('\n') + '\n';
}

export function createCleanupServer(options: ServeOptions) {
  if (!options.token) throw new Error('a token is required');
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 4, application_name: 'deletion-kit serve' });
  pool.on('error', () => {});
  const counters = {
    deletion_kit_cleanup_runs_total: 0,
    deletion_kit_files_deleted_total: 0,
    deletion_kit_files_failed_attempts_total: 0,
  };

  async function cleanupRun(req: http.IncomingMessage, url: URL) {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!match || !sameSecret(match[1].trim(), options.token)) {
      throw new HttpError(401, 'a valid bearer token is required (Authorization: Bearer <DELETION_KIT_TOKEN>)');
    }
    const run: CleanupOptions = {
      ...options.cleanup,
      batchSize: intParam(url, 'batch_size', options.cleanup?.batchSize),
      maxAttempts: intParam(url, 'max_attempts', options.cleanup?.maxAttempts),
    };
    try {
      validateCleanupOptions(run);
    } catch (err) {
      throw new HttpError(400, (err as Error).message.replace('--batch-size', 'batch_size').replace('--max-attempts', 'max_attempts'));
    }
    const client = await pool.connect();
    try {
      const batch = await runCleanup(client, options.storage, { ...run, once: true });
      counters.deletion_kit_cleanup_runs_total++;
      counters.deletion_kit_files_deleted_total += batch.deleted;
      counters.deletion_kit_files_failed_attempts_total += batch.retrying + batch.failed;
      return batch;
    } finally {
      client.release();
    }
  }

  async function route(req: http.IncomingMessage, res: http.ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const endpoint = `${req.method} ${url.pathname.replace(/\/+$/, '') || '/'}`;
    switch (endpoint) {
      case 'POST /cleanup/run':
        return send(res, 200, await cleanupRun(req, url));
      case 'GET /cleanup/stats':
        return send(res, 200, (await pool.query('SELECT * FROM deletion.vw_file_cleanup_stats')).rows[0]);
      case 'GET /jobs/status': {
        const { rows } = await pool.query(`SELECT to_regclass('deletion.vw_deletion_jobs_status') IS NOT NULL AS installed`);
        if (!rows[0].installed) {
          throw new HttpError(503, 'deletion-job status is not available: deletion.vw_deletion_jobs_status is not installed in this database (run deletion-kit migrate with a version that has deletion jobs)');
        }
        return send(res, 200, (await pool.query('SELECT * FROM deletion.vw_deletion_jobs_status')).rows);
      }
      case 'GET /metrics':
        return send(res, 200, prometheus((await pool.query('SELECT * FROM deletion.vw_file_cleanup_stats')).rows[0], counters) + (await jobMetrics(pool)));
      default: {
        const known = ['/cleanup/run', '/cleanup/stats', '/jobs/status', '/metrics'];
        if (known.includes(url.pathname.replace(/\/+$/, ''))) throw new HttpError(405, `${req.method} is not allowed on ${url.pathname}`);
        throw new HttpError(404, `no such endpoint: ${url.pathname} (there are POST /cleanup/run, GET /cleanup/stats, GET /jobs/status, GET /metrics)`);
      }
    }
  }

  const server = http.createServer((req, res) => {
    // Request bodies are not used; drain them so the connection can be reused.
    req.resume();
    route(req, res).catch((err) => {
      const status = err instanceof HttpError ? err.status : 500;
      const e = err as Error & { code?: string };
      send(res, status, { error: e.code ? `${e.message} (SQLSTATE ${e.code})` : e.message }, status === 401 ? { 'www-authenticate': 'Bearer' } : {});
    });
  });
  server.on('close', () => void pool.end().catch(() => {}));
  return server;
}


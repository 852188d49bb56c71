// deletion-kit serve's HTTP API: the TypeScript API (src/api/) over HTTP, for schedulers, scripts and
// the web console (src/console/, served at /). Every endpoint is one entry of ROUTES below, which
// is also what /openapi.json is made from (src/http/openapi.ts), so the document cannot drift from
// the code. How a request is handled:
//   1. Origin: a request whose Origin header is not the server's own origin (or an allowed one) is
//      refused (403) before anything else; no CORS header is ever sent, so a browser on another
//      origin cannot read an answer either.
//   2. Token: `Authorization: Bearer <token>` or `X-API-Key: <token>`, headers only (a cookie is
//      never looked at, so a cross-site form cannot carry one). Missing or wrong: 401. A role below
//      the endpoint's: 403.
//   3. The database decides: the request runs in one transaction, SET LOCAL ROLE to its role's
//      database role, with the token's name as deletion.actor. Reads run READ ONLY and roll back;
//      changes commit, together with their row in the action log (deletion.http_actions); a
//      failed change is logged after its rollback.
//   4. Errors are JSON: {"error": {"sqlstate", "message", "hint", "detail"}}, the status from the SQLSTATE.
import http from 'node:http';
import { Registry, Counter, Gauge } from 'prom-client';
import type pg from 'pg';
import * as api from '../api/index.ts';
import { DeletionKitError } from '../api/errors.ts';
import { validateCleanupOptions, type CleanupOptions } from '../files/cleaner.ts';
import type { FileStorage } from '../files/storage.ts';
import { jobMetrics } from '../jobs_metrics.ts';
import { DEFAULT_DB_ROLES, findToken, rank, type DbRoles, type Role, type Token } from './tokens.ts';
import { openApiDocument } from './openapi.ts';

export interface HttpApiOptions {
  pool: pg.Pool;
  tokens: Token[];
  roles?: Partial<DbRoles>;
  /** Where POST /api/cleanup/run deletes files; without it that endpoint answers 503. */
  storage?: FileStorage;
  /** Defaults for POST /api/cleanup/run (batch_size and max_attempts in the query override them). */
  cleanup?: CleanupOptions;
  /** Origins allowed besides the server's own (e.g. a console served elsewhere). */
  allowedOrigins?: string[];
  /** Serves other paths first (the web console); returns true when it answered. */
  pages?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean | Promise<boolean>;
}

/** An answer other than 200, as JSON. */
export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly sqlstate: string | null = null, readonly hint: string | null = null) {
    super(message);
  }
}

export interface Request {
  params: Record<string, string>;
  query: URLSearchParams;
  body: Record<string, unknown>;
  token: Token | undefined;
}

export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  summary: string;
  /** The lowest role that may call it; 'none' needs no token. */
  role: Role | 'none';
  /** What a change is called in the action log (set for every endpoint that changes something). */
  action?: string;
  query?: Record<string, { type: 'string' | 'integer' | 'boolean' | 'number'; description: string }>;
  body?: { required?: string[]; properties: Record<string, object> };
  /** JSON schema of a 200 answer (text answers: 'text'). */
  response: object | 'text';
  /** Runs as the database role of the token (or the restorer role when it says so). */
  run: (c: pg.ClientBase, req: Request, ctx: Context) => Promise<unknown>;
  /** No transaction of its own (health, metrics, the document). */
  plain?: boolean;
  /** Runs as the restorer role (lists with deleted rows). */
  asRestorer?: (req: Request) => boolean;
  /** Reads that need to write scratch tables (plan): not READ ONLY, still rolled back. */
  writesScratch?: boolean;
  target?: (req: Request) => { table?: string | null; key?: string | null };
}

interface Context {
  options: HttpApiOptions;
  counters: { runs: Counter; deleted: Counter; failed: Counter };
}

const num = { type: 'number' };
const int = { type: 'integer' };
const str = { type: 'string' };
const bool = { type: 'boolean' };
const nullable = (t: object) => ({ anyOf: [t, { type: 'null' }] });
const obj = (properties: Record<string, object>, required = Object.keys(properties)) => ({ type: 'object', properties, required });
const arr = (items: object) => ({ type: 'array', items });
const date = { type: 'string', format: 'date-time' };

const planRow = obj({ depth: int, table_name: str, action: str, rows: num, via: arr(str), detail: nullable(str) });
const jobSchema = obj({
  id: int, entity_table: str, entity_pk: str, hard_delete: bool, status: str, phase: nullable(str), percent_done: nullable(num),
  rows_planned: nullable(num), rows_deleted: nullable(num), rows_remaining: nullable(num), chunks: int, attempts: int, overdue: bool, stuck: bool,
  scheduled_at: date, created_by: nullable(str), scheduled_by_role: nullable(str), reason: nullable(str), error: nullable(str),
  age_seconds: nullable(num), run_time_seconds: nullable(num),
});
const statusSchema = obj({
  pending: int, running: int, done: int, failed: int, cancelled: int, due: int, overdue: int, stuck: int, retrying: int, blocked: int,
  oldest_pending_seconds: nullable(num), rows_remaining: num, rows_remaining_by_table: nullable({ type: 'object' }), rows_per_second: nullable(num),
  time_to_drain_seconds: nullable(num), healthy: bool,
});
const statsSchema = obj({ pending: num, in_progress: num, retrying: num, failed: num, oldest_pending_queued_at: nullable(date), oldest_pending_age_seconds: num, attempts: num });
export const errorSchema = obj({ error: obj({ sqlstate: nullable(str), message: str, hint: nullable(str), detail: nullable(str) }) });

function intParam(q: URLSearchParams, name: string, fallback: number | undefined, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const raw = q.get(name);
  if (raw === null || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) > max) throw new HttpError(400, `${name} must be a whole number${max < Number.MAX_SAFE_INTEGER ? ` up to ${max}` : ''}, not "${raw}"`, '22023');
  return Number(raw);
}
function boolParam(q: URLSearchParams, name: string): boolean {
  const raw = q.get(name);
  if (raw === null || raw === '' || raw === 'false' || raw === '0') return false;
  if (raw === 'true' || raw === '1') return true;
  throw new HttpError(400, `${name} is true or false, not "${raw}"`, '22023');
}
function dateParam(q: URLSearchParams, name: string): Date | undefined {
  const raw = q.get(name);
  if (!raw) return undefined;
  const d = new Date(raw);
  if (Number.isNaN(d.getTime())) throw new HttpError(400, `${name} is a date and time (ISO 8601), not "${raw}"`, '22007');
  return d;
}
function jobId(req: Request): number {
  if (!/^\d+$/.test(req.params.id)) throw new HttpError(400, `a job id is a whole number, not "${req.params.id}"`, '22023');
  return Number(req.params.id);
}
const actor = (req: Request) => req.token?.name;

/** The plan's foreign keys, for drawing the cascade: each `via` constraint with its two tables and action. */
async function planEdges(c: pg.ClientBase, rows: api.PlanRow[]) {
  const names = [...new Set(rows.flatMap((r) => r.via))];
  if (!names.length) return [];
  const { rows: edges } = await c.query(
    `SELECT con.conname::text AS constraint, con.confrelid::regclass::text AS parent, con.conrelid::regclass::text AS child,
            CASE con.confdeltype WHEN 'c' THEN 'cascade' WHEN 'n' THEN 'set null' WHEN 'd' THEN 'set default' WHEN 'r' THEN 'restrict' ELSE 'no action' END AS on_delete
       FROM pg_constraint con
      WHERE con.contype = 'f' AND con.conparentid = 0 AND con.conname = ANY ($1)
        AND con.conrelid::regclass::text = ANY ($2)
      ORDER BY 1, 2, 3`, [names, rows.map((r) => r.table_name)]);
  return edges;
}

export const ROUTES: Route[] = [
  { method: 'GET', path: '/api/health', summary: 'Whether the server reaches the database, and whether the job backlog is healthy.', role: 'none', plain: true,
    response: obj({ ok: bool, database: bool, jobs_healthy: nullable(bool) }),
    run: async (c) => {
      const { rows } = await c.query(`SELECT to_regclass('deletion.vw_deletion_jobs_status') IS NOT NULL AS jobs`);
      const healthy = rows[0].jobs ? (await c.query('SELECT healthy FROM deletion.vw_deletion_jobs_status').catch(() => ({ rows: [{ healthy: null }] }))).rows[0].healthy : null;
      return { ok: true, database: true, jobs_healthy: healthy };
    } },
  { method: 'GET', path: '/api/whoami', summary: 'The token\'s name, role and database role.', role: 'viewer',
    response: obj({ name: str, role: str, db_role: str }),
    run: async (c, req) => ({ name: req.token!.name, role: req.token!.role, db_role: (await c.query('SELECT current_user::text AS u')).rows[0].u }) },
  { method: 'GET', path: '/api/tables', summary: 'The registered tables: soft delete or not, primary key.', role: 'viewer',
    response: obj({ tables: arr(obj({ table: str, soft_delete: bool, primary_key: arr(str) })) }),
    run: async (c) => ({ tables: await api.tables(c) }) },
  { method: 'GET', path: '/api/tables/{table}/rows', summary: 'Rows of a registered table, live only or with the deleted ones (include_deleted).', role: 'viewer',
    query: { include_deleted: { type: 'boolean', description: 'also the soft-deleted rows' }, limit: { type: 'integer', description: 'at most this many (default 50, up to 1000)' }, offset: { type: 'integer', description: 'skip this many' } },
    response: obj({ table: str, include_deleted: bool, rows: arr({ type: 'object' }) }),
    asRestorer: (req) => boolParam(req.query, 'include_deleted'),
    run: async (c, req) => ({
      table: req.params.table, include_deleted: boolParam(req.query, 'include_deleted'),
      rows: await api.listRows(c, { table: req.params.table, includeDeleted: boolParam(req.query, 'include_deleted'), limit: intParam(req.query, 'limit', 50, 1000), offset: intParam(req.query, 'offset', 0) }),
    }) },
  { method: 'DELETE', path: '/api/tables/{table}/rows/{key}', summary: 'Soft-deletes a row and its cascade tree as one operation.', role: 'operator', action: 'soft_delete',
    query: { reason: { type: 'string', description: 'why (kept with the deleted rows and in the audit log)' } },
    response: obj({ table: str, key: str, op: str }),
    target: (req) => ({ table: req.params.table, key: req.params.key }),
    run: async (c, req) => ({ table: req.params.table, key: req.params.key, ...(await api.softDelete(c, { table: req.params.table, key: req.params.key, reason: req.query.get('reason') ?? undefined, actor: actor(req) })) }) },
  { method: 'POST', path: '/api/tables/{table}/rows/{key}/restore', summary: 'Restores the soft-delete operation that deleted a row (all of it).', role: 'operator', action: 'restore',
    response: obj({ table: str, key: str, rows: num }),
    target: (req) => ({ table: req.params.table, key: req.params.key }),
    run: async (c, req) => ({ table: req.params.table, key: req.params.key, rows: (await api.restore(c, { table: req.params.table, key: req.params.key, actor: actor(req) })).rows }) },
  { method: 'GET', path: '/api/tables/{table}/rows/{key}/plan', summary: 'What deleting a row would do, table by table, and the foreign keys of its cascade; nothing is deleted.', role: 'viewer', writesScratch: true,
    query: { hard: { type: 'boolean', description: 'preview the hard delete a hard job does' } },
    response: obj({ table: str, key: str, hard: bool, blocked: bool, rows: arr(planRow), edges: arr(obj({ constraint: str, parent: str, child: str, on_delete: str })) }),
    run: async (c, req) => {
      const p = await api.plan(c, { table: req.params.table, key: req.params.key, hard: boolParam(req.query, 'hard') });
      return { ...p, edges: await planEdges(c, p.rows) };
    } },
  { method: 'GET', path: '/api/trash', summary: 'Soft-delete operations in the trash, newest first, filtered by table, actor, reason and time.', role: 'viewer',
    query: { table: { type: 'string', description: 'root table or a table the operation touched' }, actor: { type: 'string', description: 'who deleted' },
      reason: { type: 'string', description: 'a part of the reason' }, since: { type: 'string', description: 'deleted at or after (ISO 8601)' },
      until: { type: 'string', description: 'deleted before (ISO 8601)' }, limit: { type: 'integer', description: 'at most this many (default 50)' } },
    response: obj({ operations: arr(obj({ op: str, root_table: str, root_key: {}, deleted_by: nullable(str), deleted_at: date, reason: nullable(str), rows: num,
      rows_per_table: { type: 'object' }, restorable: bool, not_restorable_because: arr(str) })) }),
    run: async (c, req) => ({ operations: await api.trash(c, { table: req.query.get('table') || undefined, actor: req.query.get('actor') || undefined,
      reason: req.query.get('reason') || undefined, since: dateParam(req.query, 'since'), until: dateParam(req.query, 'until'), limit: intParam(req.query, 'limit', 50, 1000) }) }) },
  { method: 'POST', path: '/api/trash/{op}/restore', summary: 'Restores a soft-delete operation, all or nothing; dry_run says what would come back, or the conflicts.', role: 'operator', action: 'restore',
    query: { dry_run: { type: 'boolean', description: 'change nothing' } },
    response: obj({ op: nullable(str), dry_run: bool, restored: bool, rows: num, rows_per_table: { type: 'object' }, conflicts: arr(str) }),
    target: (req) => ({ key: req.params.op }),
    run: async (c, req) => {
      if (!/^[0-9a-f-]{36}$/i.test(req.params.op)) throw new HttpError(400, `an operation id is a uuid, not "${req.params.op}"`, '22P02');
      const r = await api.restore(c, { op: req.params.op, dryRun: boolParam(req.query, 'dry_run'), actor: actor(req) });
      return { ...r, restored: !r.dry_run };
    } },
  { method: 'POST', path: '/api/trash/purge', summary: 'Hard-deletes rows soft-deleted longer ago than older_than; dry_run rolls back.', role: 'admin', action: 'purge',
    query: { older_than: { type: 'string', description: 'a PostgreSQL interval (default 90 days)' }, dry_run: { type: 'boolean', description: 'change nothing' } },
    response: obj({ dry_run: bool, older_than: str, tables: arr(obj({ table: str, rows: num })), total_rows: num }),
    run: async (c, req) => api.purge(c, { olderThan: req.query.get('older_than') || '90 days', dryRun: boolParam(req.query, 'dry_run') }) },
  { method: 'GET', path: '/api/jobs', summary: 'The backlog\'s health and the jobs, newest first.', role: 'viewer',
    query: { status: { type: 'string', description: 'pending, running, done, failed or cancelled' }, limit: { type: 'integer', description: 'at most this many (default 50)' } },
    response: obj({ status: statusSchema, jobs: arr(jobSchema) }),
    run: async (c, req) => ({ status: await api.jobsStatus(c), jobs: await api.jobs(c, { status: (req.query.get('status') || undefined) as api.JobStatusName | undefined, limit: intParam(req.query, 'limit', 50, 1000) }) }) },
  { method: 'GET', path: '/api/jobs/status', summary: 'The backlog\'s health (no token needed: counts only, read as the viewer\'s database role).', role: 'none', response: statusSchema,
    run: async (c) => api.jobsStatus(c) },
  { method: 'GET', path: '/api/jobs/{id}', summary: 'One job.', role: 'viewer', response: jobSchema,
    run: async (c, req) => {
      const j = await api.job(c, jobId(req));
      if (!j) throw new HttpError(404, `no job ${req.params.id}`, 'P0002');
      return j;
    } },
  { method: 'POST', path: '/api/jobs', summary: 'Schedules the deletion of a row and its tree (soft, or hard for admins).', role: 'operator', action: 'schedule',
    body: { required: ['table', 'key'], properties: { table: str, key: { anyOf: [str, num, arr({ anyOf: [str, num] })] }, in_seconds: num, run_at: date, hard: bool, reason: str, force: bool } },
    response: obj({ id: int, entity_table: str, entity_pk: str, hard_delete: bool, status: str, scheduled_at: date }),
    target: (req) => ({ table: String(req.body.table ?? ''), key: req.body.key === undefined ? null : api.keyText(req.body.key as api.Key) }),
    run: async (c, req) => {
      const b = req.body;
      if (typeof b.table !== 'string' || b.key === undefined) throw new HttpError(400, 'the body needs "table" and "key"', '22023');
      const runAt = b.run_at === undefined ? undefined : new Date(String(b.run_at));
      if (runAt && Number.isNaN(runAt.getTime())) throw new HttpError(400, `run_at is a date and time (ISO 8601), not "${b.run_at}"`, '22007');
      return api.schedule(c, { table: b.table, key: b.key as api.Key, inSeconds: b.in_seconds as number | undefined, runAt, hard: Boolean(b.hard),
        reason: b.reason as string | undefined, force: Boolean(b.force), actor: actor(req) });
    } },
  { method: 'POST', path: '/api/jobs/{id}/cancel', summary: 'Cancels a job (a running one stops at its next chunk boundary).', role: 'operator', action: 'cancel',
    response: obj({ id: int, status: str }), target: (req) => ({ key: req.params.id }),
    run: async (c, req) => api.cancel(c, jobId(req), { actor: actor(req) }) },
  { method: 'POST', path: '/api/jobs/{id}/undo', summary: 'Restores from the audit log everything a hard job deleted, all or nothing; dry_run changes nothing.', role: 'operator', action: 'undo',
    query: { dry_run: { type: 'boolean', description: 'change nothing' } },
    response: obj({ job: int, dry_run: bool, refused: bool, rows_restored: num, steps: arr(obj({ kind: str, table: nullable(str), rows: nullable(num), detail: nullable(str) })) }),
    target: (req) => ({ key: req.params.id }),
    run: async (c, req) => api.undoJob(c, jobId(req), { dryRun: boolParam(req.query, 'dry_run'), actor: actor(req) }) },
  { method: 'POST', path: '/api/audit/restore', summary: 'Restores a deleted row ({table, key}) or a transaction ({txid}) from the audit log; dry_run lists every conflict.', role: 'operator', action: 'audit_restore',
    query: { dry_run: { type: 'boolean', description: 'change nothing' } },
    body: { properties: { table: str, key: { anyOf: [str, num, arr({ anyOf: [str, num] })] }, txid: { anyOf: [str, int] } } },
    response: obj({ dry_run: bool, conflicts: int, steps: arr(obj({ kind: str, table: nullable(str), key: nullable(str), rows: nullable(num), detail: nullable(str) })) }),
    target: (req) => ({ table: (req.body.table as string) ?? null, key: req.body.txid !== undefined ? String(req.body.txid) : req.body.key === undefined ? null : api.keyText(req.body.key as api.Key) }),
    run: async (c, req) => {
      const b = req.body;
      const dryRun = boolParam(req.query, 'dry_run');
      if (b.txid !== undefined) {
        if (!/^\d+$/.test(String(b.txid))) throw new HttpError(400, `txid is a whole number, not "${b.txid}"`, '22023');
        return api.auditRestore(c, { txid: String(b.txid), dryRun, actor: actor(req) });
      }
      if (typeof b.table !== 'string' || b.key === undefined) throw new HttpError(400, 'the body needs {"table", "key"} or {"txid"}', '22023');
      return api.auditRestore(c, { table: b.table, key: b.key as api.Key, dryRun, actor: actor(req) });
    } },
  { method: 'POST', path: '/api/cleanup/run', summary: 'One file cleanup batch (batch_size up to 1000, max_attempts).', role: 'operator', action: 'cleanup_run',
    query: { batch_size: { type: 'integer', description: 'files claimed (1-1000)' }, max_attempts: { type: 'integer', description: 'attempts before a file is failed' } },
    response: obj({ cleaner: str, batches: int, claimed: int, deleted: int, stillReferenced: int, retrying: int, failed: int, ms: num }),
    run: async (c, req, ctx) => {
      if (!ctx.options.storage) throw new HttpError(503, 'this server has no storage to clean (start deletion-kit serve with --root or --s3-bucket)', null);
      const run: CleanupOptions = { ...ctx.options.cleanup, batchSize: intParam(req.query, 'batch_size', ctx.options.cleanup?.batchSize), maxAttempts: intParam(req.query, 'max_attempts', ctx.options.cleanup?.maxAttempts) };
      try {
        validateCleanupOptions(run);
      } catch (err) {
        throw new HttpError(400, (err as Error).message.replace('--batch-size', 'batch_size').replace('--max-attempts', 'max_attempts'), '22023');
      }
      const report = await api.cleanupFiles(c, ctx.options.storage, { ...run, once: true });
      ctx.counters.runs.inc();
      ctx.counters.deleted.inc(report.deleted);
      ctx.counters.failed.inc(report.retrying + report.failed);
      return report;
    } },
  { method: 'GET', path: '/api/cleanup/stats', summary: 'The file cleanup backlog (no token needed: counts only, read as the viewer\'s database role).', role: 'none', response: statsSchema, run: async (c) => api.fileStats(c) },
  { method: 'GET', path: '/api/files', summary: 'Files in the cleanup queue, oldest first (status pending or failed).', role: 'viewer',
    query: { status: { type: 'string', description: 'pending or failed' }, limit: { type: 'integer', description: 'at most this many (default 50)' } },
    response: obj({ files: arr(obj({ id: int, storage_key: str, source_table: str, status: str, attempts: int, last_error: nullable(str), queued_at: date, next_attempt_at: nullable(date) })) }),
    run: async (c, req) => {
      const status = req.query.get('status') || undefined;
      if (status && status !== 'pending' && status !== 'failed') throw new HttpError(400, `status is pending or failed, not "${status}"`, '22023');
      return { files: await api.queuedFiles(c, { status: status as 'pending' | 'failed' | undefined, limit: intParam(req.query, 'limit', 50, 1000) }) };
    } },
  { method: 'POST', path: '/api/files/retry', summary: 'Makes backed-off files due now; {"failed": true} also brings back the failed ones.', role: 'operator', action: 'files_retry',
    body: { properties: { failed: bool } }, response: obj({ files_due: int }),
    run: async (c, req) => api.retryFiles(c, { failed: Boolean(req.body.failed) }) },
  { method: 'GET', path: '/api/alerts', summary: 'The monitoring alerts of the last 24 hours (deletion rate, bulk deletions, deep cascades).', role: 'viewer',
    response: obj({ alerts: arr(obj({ kind: str, subject: nullable(str), detail: str, seen_at: date })) }),
    run: async (c) => ({ alerts: (await c.query(`SELECT kind, subject, detail, seen_at FROM deletion.vw_deletion_alerts ORDER BY seen_at DESC LIMIT 200`)).rows }) },
  { method: 'GET', path: '/api/actions', summary: 'The action log: every change made through this API or the console, newest first.', role: 'viewer',
    query: { limit: { type: 'integer', description: 'at most this many (default 50)' } },
    response: obj({ actions: arr(obj({ id: int, at: date, actor: str, role: str, db_role: str, method: str, path: str, action: str, target_table: nullable(str),
      target_key: nullable(str), request: { type: 'object' }, status: int, sqlstate: nullable(str), result: {} })) }),
    run: async (c, req) => ({ actions: (await c.query(
      `SELECT id::float8 AS id, at, actor, role, db_role::text, method, path, action, target_table, target_key, request, status, sqlstate, result
         FROM deletion.http_actions ORDER BY id DESC LIMIT $1`, [intParam(req.query, 'limit', 50, 1000)])).rows }) },
  { method: 'GET', path: '/api/lint', summary: 'The schema\'s deletion hazards (deletion.lint).', role: 'viewer',
    response: obj({ findings: arr(obj({ severity: str, rule: str, object: str, problem: str, fix: str })) }),
    run: async (c) => ({ findings: await api.lint(c) }) },
];

/** Paths kept from earlier versions of serve: the same endpoints at their old places. */
const ALIASES: Record<string, string> = { '/cleanup/run': '/api/cleanup/run', '/cleanup/stats': '/api/cleanup/stats', '/jobs/status': '/api/jobs/status', '/health': '/api/health' };

function match(route: Route, path: string): Record<string, string> | undefined {
  const want = route.path.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const m = /^\{(\w+)\}$/.exec(want[i]);
    if (m) {
      if (!got[i]) return undefined;
      try {
        params[m[1]] = decodeURIComponent(got[i]);
      } catch {
        return undefined;
      }
    } else if (want[i] !== got[i]) return undefined;
  }
  return params;
}

/** The HTTP status of an error from the database or the API. */
export function statusOf(err: unknown): number {
  if (err instanceof HttpError) return err.status;
  const code = (err as { sqlstate?: string | null; code?: string }).sqlstate ?? (err as { code?: string }).code ?? '';
  if (code === '42501') return 403;
  if (code === 'P0002' || code === '42P01' || code === '42883') return 404;
  if (['PD110', 'PD406', 'PD407', '55000', '23503', '23505', '40001', '40P01'].includes(code) || /^PD[123]/.test(code)) return 409;
  if (/^(22|42|PD)/.test(code)) return 400;
  if (code === '25006') return 403;
  return 500;
}

function errorBody(err: unknown) {
  if (err instanceof HttpError) return { error: { sqlstate: err.sqlstate, message: err.message, hint: err.hint, detail: null } };
  const e = api.DeletionKitError && err instanceof DeletionKitError ? err : (err as { code?: string; message?: string; hint?: string; detail?: string });
  if (e instanceof DeletionKitError) return { error: e.toJSON() };
  return { error: { sqlstate: e.code && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : null, message: e.message ?? String(err), hint: e.hint ?? null, detail: e.detail ?? null } };
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  const text = typeof body === 'string' ? body : JSON.stringify(body, null, 2) + '\n';
  res.writeHead(status, {
    'content-type': typeof body === 'string' ? 'text/plain; version=0.0.4; charset=utf-8' : 'application/json; charset=utf-8',
    'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers,
  });
  res.end(text);
}

async function readBody(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 1_000_000) throw new HttpError(413, 'the request body is larger than 1 MB', '54000');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) return {};
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(type)) throw new HttpError(415, 'a request body must be JSON (Content-Type: application/json)', '22023');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'the request body is not valid JSON', '22P02');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new HttpError(400, 'the request body must be a JSON object', '22023');
  return parsed as Record<string, unknown>;
}

/** The token a request carries in its Authorization (Bearer) or X-API-Key header; cookies are never read. */
function presented(req: http.IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  const bearer = auth ? /^Bearer\s+(.+)$/i.exec(auth)?.[1]?.trim() : undefined;
  const key = req.headers['x-api-key'];
  return bearer ?? (typeof key === 'string' ? key.trim() : undefined);
}

/** The Prometheus text: the file queue and this server's cleanup counters (prom-client), then the deletion jobs. */
async function metrics(pool: pg.Pool, registry: Registry, gauges: Record<string, Gauge>) {
  const s = await api.fileStats(pool).catch(() => null);
  if (s) {
    gauges.pending.set(s.pending); gauges.inProgress.set(s.in_progress); gauges.retrying.set(s.retrying); gauges.failed.set(s.failed);
    gauges.oldest.set(s.oldest_pending_age_seconds); gauges.attempts.set(s.attempts);
  }
  return (await registry.metrics()) + (await jobMetrics(pool));
}

/** The HTTP API (and, through options.pages, the console) as a node:http server. */
export function createHttpApi(options: HttpApiOptions): http.Server {
  const roles: DbRoles = { ...DEFAULT_DB_ROLES, ...options.roles };
  const registry = new Registry();
  const g = (name: string, help: string) => new Gauge({ name, help, registers: [registry] });
  const gauges = {
    pending: g('deletion_kit_files_pending', 'Files queued for deletion from storage and not held by a cleaner.'),
    inProgress: g('deletion_kit_files_in_progress', 'Files a cleaner holds under a lease.'),
    retrying: g('deletion_kit_files_retrying', 'Pending files whose last attempt failed.'),
    failed: g('deletion_kit_files_failed', 'Files that failed every attempt; retried only by hand (deletion-kit files retry --failed).'),
    oldest: g('deletion_kit_files_oldest_pending_age_seconds', 'Age of the oldest file still waiting (0 when none).'),
    attempts: g('deletion_kit_files_queued_attempts', 'Attempts spent on the files still in the queue.'),
  };
  const c = (name: string, help: string) => new Counter({ name, help, registers: [registry] });
  const ctx: Context = {
    options,
    counters: {
      runs: c('deletion_kit_cleanup_runs_total', 'Cleanup batches run by this server (POST /api/cleanup/run) since it started.'),
      deleted: c('deletion_kit_files_deleted_total', 'Files this server deleted from storage since it started.'),
      failed: c('deletion_kit_files_failed_attempts_total', 'Failed file deletions (to retry, or failed) by this server since it started.'),
    },
  };

  async function log(c: pg.ClientBase, route: Route, req: Request, httpReq: { method: string; path: string }, dbRole: string, status: number, result: unknown) {
    const t = route.target?.(req) ?? {};
    const body = result as { error?: { sqlstate?: string | null } };
    await c.query('SELECT deletion.record_action($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)', [
      req.token!.name, req.token!.role, dbRole, httpReq.method, httpReq.path, route.action, t.table ?? null, t.key ?? null,
      JSON.stringify({ params: req.params, query: Object.fromEntries(req.query), body: req.body }), status, body?.error?.sqlstate ?? null, JSON.stringify(result ?? null),
    ]);
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://localhost');
    // 1. Origin: only the server's own (or an allowed one).
    const origin = req.headers.origin;
    if (origin && origin !== 'null') {
      const own = `http://${req.headers.host}`;
      if (origin !== own && origin !== `https://${req.headers.host}` && !(options.allowedOrigins ?? []).includes(origin)) {
        return send(res, 403, { error: { sqlstate: '42501', message: `requests from ${origin} are refused: this server answers its own origin only`, hint: 'add the origin to serve.allowedOrigins in deletion-kit.config.json if it is yours', detail: null } });
      }
    } else if (origin === 'null' && req.method !== 'GET' && req.method !== 'HEAD') {
      return send(res, 403, { error: { sqlstate: '42501', message: 'requests from an opaque origin are refused', hint: null, detail: null } });
    }
    if (options.pages && (req.method === 'GET' || req.method === 'HEAD') && (await options.pages(req, res))) return;
    let path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
    path = ALIASES[path] ?? path;
    const method = req.method === 'HEAD' ? 'GET' : req.method ?? 'GET';
    if (path === '/openapi.json' && method === 'GET') return send(res, 200, openApiDocument(ROUTES));
    if (path === '/metrics' && method === 'GET') return send(res, 200, await metrics(options.pool, registry, gauges), { 'content-type': registry.contentType });
    let route: Route | undefined;
    let params: Record<string, string> | undefined;
    let pathKnown = path === '/openapi.json' || path === '/metrics';
    for (const r of ROUTES) {
      const p = match(r, path);
      if (!p) continue;
      pathKnown = true;
      if (r.method === method) {
        route = r;
        params = p;
        break;
      }
    }
    if (!route) {
      if (pathKnown) throw new HttpError(405, `${req.method} is not allowed on ${url.pathname}`, null);
      throw new HttpError(404, `no such endpoint: ${url.pathname} (GET /openapi.json lists them)`, null);
    }
    // 2. Token and role.
    const secret = presented(req);
    const token = secret ? findToken(options.tokens, secret) : undefined;
    if (route.role !== 'none') {
      if (!token) {
        throw new HttpError(401, secret ? 'the token is not valid' : 'a token is required: Authorization: Bearer <token> or X-API-Key: <token>', '28000');
      }
      if (rank(token.role) < rank(route.role)) {
        throw new HttpError(403, `${route.method} ${route.path} needs the ${route.role} role; the token "${token.name}" is ${token.role}`, '42501');
      }
    }
    const request: Request = { params: params!, query: url.searchParams, body: method === 'GET' ? {} : await readBody(req), token };
    if (route.plain) {
      try {
        return send(res, 200, await withClient(options.pool, (c) => route.run(c, request, ctx)));
      } catch (err) {
        if (route.path !== '/api/health') throw err;
        return send(res, 503, { ok: false, database: false, jobs_healthy: null });
      }
    }
    // 3. One transaction as the role's database role.
    // A route for anyone (counts only) reads as the viewer's role.
    const dbRole = route.asRestorer?.(request) ? roles.restorer : roles[token?.role ?? 'viewer'];
    const changes = Boolean(route.action);
    const client = await options.pool.connect();
    let released = false;
    try {
      await client.query(changes || route.writesScratch ? 'BEGIN' : 'BEGIN READ ONLY');
      try {
        await client.query(`SET LOCAL ROLE ${quoteIdent(dbRole)}`);
        if (token) await client.query("SELECT set_config('deletion.actor', $1, true)", [token.name]);
        const result = await api.withTransaction(client, (c) => route.run(c, request, ctx));
        if (changes) {
          await client.query('SET LOCAL ROLE NONE');
          await log(client, route, request, { method, path }, dbRole, 200, result);
          await client.query('COMMIT');
        } else {
          await client.query('ROLLBACK');
        }
        return send(res, 200, result);
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        if (changes) {
          const status = statusOf(err);
          await client.query('BEGIN');
          await log(client, route, request, { method, path }, dbRole, status, errorBody(err)).then(() => client.query('COMMIT'), async (logErr) => {
            await client.query('ROLLBACK').catch(() => {});
            console.error(`deletion-kit serve: could not log a failed ${route!.action}: ${(logErr as Error).message}`);
          });
        }
        throw err;
      }
    } catch (err) {
      if ((err as { code?: string }).code && /^(08|57P)/.test((err as { code: string }).code)) {
        client.release(err as Error);
        released = true;
      }
      throw err;
    } finally {
      if (!released) client.release();
    }
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      const status = statusOf(err);
      if (res.headersSent) return res.end();
      send(res, status, errorBody(err), status === 401 ? { 'www-authenticate': 'Bearer' } : {});
    });
  });
  return server;
}

async function withClient<T>(pool: pg.Pool, work: (c: pg.ClientBase) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  try {
    return await work(c);
  } finally {
    c.release();
  }
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

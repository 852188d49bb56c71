// Deletion jobs from application code: schedule, cancel, list, status, undo. Every decision is the
// engine's (sql/41_jobs_api.sql, sql/43_jobs_views.sql); these functions call it and type the answer.
import { keyText, setActing, transaction, withConnection, type Acting, type Db, type Key } from './db.ts';
import { DeletionKitError } from './errors.ts';

export type JobStatusName = 'pending' | 'running' | 'done' | 'failed' | 'cancelled';

export interface ScheduleOptions extends Acting {
  /** The table (schema-qualified, or found on the search path). */
  table: string;
  key: Key;
  /** Run after this many seconds (default: now). Or give runAt. */
  inSeconds?: number;
  runAt?: Date;
  /** Delete permanently (needs deletion_admin); default a soft delete on soft-delete tables. */
  hard?: boolean;
  reason?: string;
  /** Schedule even when something blocks the tree (deletion_admin only). */
  force?: boolean;
  /** Write a due_soon deletion event this many seconds before the run (docs/notifications.md). */
  notifyBeforeSeconds?: number;
}

/** The backlog's health (deletion.vw_deletion_jobs_status): counts, oldest pending age, drain time. */
export interface JobsStatus {
  pending: number; running: number; done: number; failed: number; cancelled: number;
  due: number; overdue: number; stuck: number; retrying: number; blocked: number;
  oldest_pending_seconds: number | null;
  rows_remaining: number;
  rows_remaining_by_table: Record<string, number> | null;
  rows_per_second: number | null;
  time_to_drain_seconds: number | null;
  healthy: boolean;
}

/** One job (deletion.vw_deletion_jobs), numbers as numbers, durations in seconds. */
export interface Job {
  id: number;
  entity_table: string;
  entity_pk: string;
  hard_delete: boolean;
  status: JobStatusName;
  phase: string | null;
  percent_done: number | null;
  rows_planned: number | null;
  rows_deleted: number | null;
  rows_remaining: number | null;
  chunks: number;
  attempts: number;
  overdue: boolean;
  stuck: boolean;
  scheduled_at: Date;
  created_by: string | null;
  scheduled_by_role: string | null;
  reason: string | null;
  error: string | null;
  age_seconds: number | null;
  run_time_seconds: number | null;
}

export const JOB_STATUSES: JobStatusName[] = ['pending', 'running', 'done', 'failed', 'cancelled'];

const STATUS_SQL = `
  SELECT pending::int, running::int, done::int, failed::int, cancelled::int, due::int, overdue::int, stuck::int,
         retrying::int, blocked::int, oldest_pending_seconds::float8, rows_remaining::float8,
         rows_remaining_by_table, rows_per_second::float8, extract(epoch FROM time_to_drain)::float8 AS time_to_drain_seconds, healthy
    FROM deletion.vw_deletion_jobs_status`;
const JOB_COLUMNS = `id::float8 AS id, entity_table, entity_pk, hard_delete, status, phase, percent_done::float8, rows_planned::float8,
         rows_deleted::float8, rows_remaining::float8, chunks, attempts, overdue, stuck, scheduled_at, created_by,
         scheduled_by_role, reason, error, extract(epoch FROM age)::float8 AS age_seconds,
         extract(epoch FROM run_time)::float8 AS run_time_seconds`;

export interface ScheduledJob { id: number; entity_table: string; entity_pk: string; hard_delete: boolean; status: JobStatusName; scheduled_at: Date }

/** Schedules the deletion of one row and its cascade tree; returns the job. PD406 when something blocks it. */
export async function schedule(db: Db, options: ScheduleOptions): Promise<ScheduledJob> {
  if (options.notifyBeforeSeconds !== undefined && !(Number.isFinite(options.notifyBeforeSeconds) && options.notifyBeforeSeconds > 0)) {
    throw new DeletionKitError(`notifyBeforeSeconds must be a positive number of seconds, not ${options.notifyBeforeSeconds}`, { sqlstate: '22023' });
  }
  const delay = options.runAt ? null : (options.inSeconds ?? 0);
  if (delay !== null && !(Number.isFinite(delay) && delay >= 0)) {
    throw new DeletionKitError(`inSeconds must be zero or more seconds, not ${options.inSeconds}`, { sqlstate: '22023' });
  }
  return transaction(db, async (c) => {
    if (options.force) await c.query("SELECT set_config('deletion.force_blocked', 'on', true)");
    const { rows: [{ id }] } = await c.query(
      `SELECT deletion.schedule($1::text::regclass, $2, coalesce($3::timestamptz, now() + make_interval(secs => $4)), $5, $6, $7::text,
              notify_before => make_interval(secs => $8)) AS id`,
      [options.table, keyText(options.key), options.runAt ?? null, delay ?? 0, Boolean(options.hard), options.reason ?? null,
        options.actor === undefined ? null : String(options.actor), options.notifyBeforeSeconds ?? null],
    );
    // A statement of its own: the one that scheduled does not see the row it wrote.
    const { rows } = await c.query('SELECT id::float8 AS id, entity_table, entity_pk, hard_delete, status, scheduled_at FROM deletion.deletion_jobs WHERE id = $1', [id]);
    return rows[0];
  });
}

/** Cancels a job: 'cancelled', or 'running' when it stops at its next chunk boundary. */
export async function cancel(db: Db, id: number, acting: Acting = {}): Promise<{ id: number; status: 'cancelled' | 'running' }> {
  return transaction(db, async (c) => {
    await setActing(c, acting.actor);
    const { rows } = await c.query('SELECT deletion.cancel($1::bigint) AS status', [id]);
    return { id, status: rows[0].status };
  });
}

/** The backlog's health. */
export async function jobsStatus(db: Db): Promise<JobsStatus> {
  return withConnection(db, async (c) => (await c.query(STATUS_SQL)).rows[0]);
}

/** Jobs, newest first (optionally of one status). */
export async function jobs(db: Db, options: { status?: JobStatusName; limit?: number } = {}): Promise<Job[]> {
  if (options.status && !JOB_STATUSES.includes(options.status)) {
    throw new DeletionKitError(`status is one of ${JOB_STATUSES.join(', ')}, not "${options.status}"`, { sqlstate: '22023' });
  }
  return withConnection(db, async (c) => (await c.query(
    `SELECT ${JOB_COLUMNS} FROM deletion.vw_deletion_jobs WHERE $1::text IS NULL OR status = $1 ORDER BY id DESC LIMIT $2`,
    [options.status ?? null, options.limit ?? 50])).rows);
}

/** One job, or null. */
export async function job(db: Db, id: number): Promise<Job | null> {
  return withConnection(db, async (c) => (await c.query(`SELECT ${JOB_COLUMNS} FROM deletion.vw_deletion_jobs WHERE id = $1`, [id])).rows[0] ?? null);
}

export interface UndoStep { kind: string; table: string | null; rows: number | null; detail: string | null }
export interface UndoResult { job: number; dry_run: boolean; refused: boolean; rows_restored: number; steps: UndoStep[] }

/**
 * Restores from the audit log everything a hard job deleted, all or nothing (deletion.undo_job).
 * refused: a conflict or an unaudited table (listed in steps); refusals by the engine (PD407, PD202,
 * 55000) are thrown.
 */
export async function undoJob(db: Db, id: number, options: { dryRun?: boolean } & Acting = {}): Promise<UndoResult> {
  return transaction(db, async (c) => {
    await setActing(c, options.actor);
    const rows = (await c.query('SELECT kind, table_name, rows::float8 AS rows, detail FROM deletion.undo_job($1, $2)', [id, Boolean(options.dryRun)])).rows;
    const refused = rows.some((r) => r.kind === 'conflict' || r.kind === 'not audited');
    return {
      job: id, dry_run: Boolean(options.dryRun), refused,
      rows_restored: options.dryRun || refused ? 0 : rows.filter((r) => r.kind === 'insert').reduce((n, r) => n + r.rows, 0),
      steps: rows.map((r) => ({ kind: r.kind, table: r.table_name, rows: r.rows, detail: r.detail })),
    };
  });
}

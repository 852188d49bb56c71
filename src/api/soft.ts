// Soft delete, restore, the trash, purge and plan from application code (sql/1x_soft_delete*.sql,
// sql/31_plan.sql). The engine decides; these functions call it with the caller's role and type the answer.
import { keyText, setActing, transaction, withConnection, type Acting, type Db, type Key } from './db.ts';
import { DeletionKitError } from './errors.ts';

/** One table reached by a delete: deletion.plan's row. */
export interface PlanRow {
  depth: number;
  table_name: string;
  action: string;
  rows: number;
  via: string[];
  detail: string | null;
}

export interface Plan {
  table: string;
  key: string;
  hard: boolean;
  /** The delete would fail: something blocks it (a RESTRICT key, a protection rule, ...). */
  blocked: boolean;
  rows: PlanRow[];
}

/**
 * The blast radius of deleting one row (deletion.plan), nothing deleted. hard: what a hard job
 * would do (deletion.mode = 'hard'). A table whose plain DELETE is refused (PD104) is soft-deleted
 * instead, so that refusal alone does not count as blocked.
 */
export async function plan(db: Db, options: { table: string; key: Key; hard?: boolean }): Promise<Plan> {
  const rows = await transaction(db, async (c) => {
    if (options.hard) await c.query("SELECT set_config('deletion.mode', 'hard', true)");
    return (await c.query<PlanRow>(
      `SELECT depth, table_name::text, action, rows::bigint::float8 AS rows, via, detail
         FROM deletion.plan($1::text::regclass, $2) ORDER BY depth, table_name::text, action`,
      [options.table, keyText(options.key)])).rows;
  }, { rollback: true });
  return { table: options.table, key: keyText(options.key), hard: Boolean(options.hard), blocked: rows.some((r) => r.action.startsWith('blocked') && !plainDeleteRefused(r)), rows };
}

/** The plan row that says only that a plain DELETE of the root is refused (its soft delete is what happens). */
export function plainDeleteRefused(r: PlanRow): boolean {
  return r.action === 'blocked by soft delete' && r.depth === 0 && /^a plain DELETE on /.test(r.detail ?? '');
}

/** Soft-deletes one row and its cascade tree as one operation (deletion.soft_delete); returns its id. */
export async function softDelete(db: Db, options: { table: string; key: Key; reason?: string } & Acting): Promise<{ op: string }> {
  return transaction(db, async (c) => {
    await setActing(c, options.actor);
    const { rows } = await c.query('SELECT deletion.soft_delete($1::text::regclass, $2, $3)::text AS op', [options.table, keyText(options.key), options.reason ?? null]);
    return { op: rows[0].op };
  });
}

export interface RestoreResult {
  op: string | null;
  dry_run: boolean;
  /** Rows that came back (or would, on a dry run with no conflicts). */
  rows: number;
  rows_per_table: Record<string, number>;
  /** Why a restore would be refused now (PD110); empty when it goes through. */
  conflicts: string[];
}

/**
 * Restores exactly the rows of one soft-delete operation (by its id, or the operation that deleted
 * table/key), all or nothing. A dry run restores in a savepoint and rolls back, so it reports
 * exactly what would come back, or the conflicts (PD110) that refuse it; a real restore throws PD110.
 */
export async function restore(db: Db, target: ({ op: string } | { table: string; key: Key }) & { dryRun?: boolean } & Acting): Promise<RestoreResult> {
  const byOp = 'op' in target;
  return transaction(db, async (c) => {
    await setActing(c, target.actor);
    const op: string | null = byOp ? target.op : null;
    let rows = 0;
    let conflicts: string[] = [];
    try {
      rows = Number((await (byOp
        ? c.query('SELECT deletion.restore($1::uuid) AS n', [target.op])
        : c.query('SELECT deletion.restore($1::text::regclass, $2) AS n', [target.table, keyText(target.key)]))).rows[0].n);
    } catch (err) {
      const e = err as { code?: string; detail?: string; message: string };
      if (!target.dryRun || e.code !== 'PD110') throw err;
      conflicts = byOp
        ? await transaction(c, async (s) => (await s.query('SELECT x FROM deletion.restore_conflicts($1::uuid) x', [target.op])).rows.map((r) => r.x as string)).catch(() => [])
        : [e.detail ?? e.message];
      if (!conflicts.length) conflicts = [e.detail ?? e.message];
    }
    // What the operation holds, table by table: readable by deletion_admin (the operation log); an
    // empty object for a role that may not read it (in a savepoint, so the refusal aborts nothing).
    const perTable: Record<string, number> = byOp
      ? await transaction(c, async (s) => (await s.query('SELECT rows_per_table FROM deletion.soft_delete_operations WHERE op = $1::uuid', [target.op])).rows[0]?.rows_per_table ?? {})
        .catch(() => ({}))
      : {};
    if (target.dryRun) throw new DryRun({ op, dry_run: true, rows: conflicts.length ? 0 : rows, rows_per_table: perTable, conflicts });
    return { op, dry_run: false, rows, rows_per_table: perTable, conflicts };
  }).catch((err) => {
    if (err instanceof DryRun) return err.result;
    throw err;
  });
}

/** Carries a dry run's result out of its transaction, which it rolls back. */
class DryRun<T = RestoreResult> extends Error {
  constructor(readonly result: T) {
    super('dry run');
  }
}

export interface TrashOperation {
  op: string;
  root_table: string;
  root_key: unknown;
  deleted_by: string | null;
  deleted_at: Date;
  reason: string | null;
  rows: number;
  rows_per_table: Record<string, number>;
  restorable: boolean;
  not_restorable_because: string[];
}

export interface TrashFilter {
  /** Operations whose root is this table, or that touched it. */
  table?: string;
  actor?: string;
  /** A substring of the reason (case-insensitive). */
  reason?: string;
  since?: Date;
  until?: Date;
  limit?: number;
}

/** The soft-delete operations still in the trash (deletion.vw_trash), newest first, filtered. */
export async function trash(db: Db, filter: TrashFilter = {}): Promise<TrashOperation[]> {
  return withConnection(db, async (c) => (await c.query(
    `SELECT op::text, root_table, root_key, deleted_by, deleted_at, deletion_reason AS reason, total_rows::float8 AS rows,
            rows_per_table, restorable, coalesce(not_restorable_because, '{}') AS not_restorable_because
       FROM deletion.vw_trash
      WHERE ($1::text IS NULL OR root_table = $1 OR rows_per_table ? $1)
        AND ($2::text IS NULL OR deleted_by = $2)
        AND ($3::text IS NULL OR deletion_reason ILIKE '%' || $3 || '%')
        AND ($4::timestamptz IS NULL OR deleted_at >= $4)
        AND ($5::timestamptz IS NULL OR deleted_at < $5)
      LIMIT $6`,
    [filter.table ?? null, filter.actor ?? null, filter.reason ?? null, filter.since ?? null, filter.until ?? null, filter.limit ?? 50])).rows);
}

export interface PurgeResult { dry_run: boolean; older_than: string; tables: { table: string; rows: number }[]; total_rows: number }

/** Hard-deletes rows soft-deleted longer ago than olderThan (a PostgreSQL interval, or seconds); a dry run rolls back. */
export async function purge(db: Db, options: { olderThan?: string | number; dryRun?: boolean } = {}): Promise<PurgeResult> {
  const olderThan = typeof options.olderThan === 'number' ? `${options.olderThan} seconds` : (options.olderThan ?? '90 days');
  return transaction(db, async (c) => {
    const { rows } = await c.query('SELECT table_name, rows_purged::float8 AS n FROM deletion.purge_soft_deleted($1::interval)', [olderThan]);
    const tables = rows.map((r) => ({ table: r.table_name as string, rows: r.n as number }));
    return { dry_run: Boolean(options.dryRun), older_than: olderThan, tables, total_rows: tables.reduce((n, t) => n + t.rows, 0) };
  }, { rollback: Boolean(options.dryRun) });
}

export interface RegisteredTable { table: string; soft_delete: boolean; primary_key: string[] }

/** The tables in the policy registry that exist, with whether they soft-delete and their primary key. */
export async function tables(db: Db): Promise<RegisteredTable[]> {
  return withConnection(db, async (c) => (await c.query(
    `SELECT format('%I.%I', p.table_schema, p.table_name) AS table, coalesce((to_jsonb(p) ->> 'soft_delete')::boolean, false) AS soft_delete,
            coalesce((SELECT array_agg(a.attname::text ORDER BY k.n)
                        FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, n)
                        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                       WHERE i.indrelid = to_regclass(format('%I.%I', p.table_schema, p.table_name)) AND i.indisprimary), '{}') AS primary_key
       FROM deletion.table_policies p
      WHERE to_regclass(format('%I.%I', p.table_schema, p.table_name)) IS NOT NULL
      ORDER BY 1`)).rows);
}

/**
 * Rows of a registered table, as the caller's role sees them: live rows only, or with the deleted
 * ones too (includeDeleted; row-level security decides whether the role may see them:
 * deletion_restorer and deletion_admin may). Ordered by primary key.
 */
export async function listRows(db: Db, options: { table: string; includeDeleted?: boolean; limit?: number; offset?: number }): Promise<Record<string, unknown>[]> {
  return withConnection(db, async (c) => {
    const { rows: [t] } = await c.query(
      `SELECT r.oid::regclass::text AS name, p.table_name IS NOT NULL AS registered,
              EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = r.oid AND a.attname = 'deleted_at' AND NOT a.attisdropped) AS has_deleted_at,
              (SELECT string_agg(format('%I', a.attname), ', ' ORDER BY k.n) FROM pg_index i
                 CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, n)
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                WHERE i.indrelid = r.oid AND i.indisprimary) AS order_by
         FROM (SELECT $1::text::regclass::oid AS oid) r
         JOIN pg_class k ON k.oid = r.oid JOIN pg_namespace n ON n.oid = k.relnamespace
         LEFT JOIN deletion.table_policies p ON p.table_schema = n.nspname AND p.table_name = k.relname`, [options.table]);
    if (!t.registered) {
      throw new DeletionKitError(`${t.name} is not a registered table`, { sqlstate: 'PD101', hint: 'register it with deletion.register_table (GET /api/tables lists the registered ones)' });
    }
    const where = t.has_deleted_at && !options.includeDeleted ? 'WHERE deleted_at IS NULL' : '';
    const sql = `SELECT * FROM ${t.name} ${where} ORDER BY ${t.order_by ?? '1'} LIMIT $1 OFFSET $2`;
    return (await c.query(sql, [options.limit ?? 50, options.offset ?? 0])).rows;
  });
}

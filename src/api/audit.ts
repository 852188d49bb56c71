// Audit restore from application code (sql/21_audit_restore.sql): bring back what a delete removed,
// by row or by transaction, all or nothing, with a dry run that lists every conflict.
import { keyText, setActing, transaction, type Acting, type Db, type Key } from './db.ts';

export interface AuditRestoreStep { kind: string; table: string | null; key: string | null; rows: number | null; detail: string | null }
export interface AuditRestoreResult { dry_run: boolean; conflicts: number; steps: AuditRestoreStep[] }

/** Restores a deleted row (and what its delete cascaded) or a whole transaction's deletes from the audit log. */
export async function auditRestore(db: Db, target: ({ table: string; key: Key } | { txid: number | string }) & { dryRun?: boolean } & Acting): Promise<AuditRestoreResult> {
  return transaction(db, async (c) => {
    await setActing(c, target.actor);
    const { rows } = 'txid' in target
      ? await c.query('SELECT kind, table_name, record_id, rows::float8 AS rows, detail FROM audit.restore_transaction($1::bigint, $2)', [String(target.txid), Boolean(target.dryRun)])
      : await c.query('SELECT kind, table_name, record_id, rows::float8 AS rows, detail FROM audit.restore_deleted($1::text::regclass, $2, $3)', [target.table, keyText(target.key), Boolean(target.dryRun)]);
    return {
      dry_run: Boolean(target.dryRun),
      conflicts: rows.filter((r) => r.kind === 'conflict').length,
      steps: rows.map((r) => ({ kind: r.kind, table: r.table_name, key: r.record_id, rows: r.rows, detail: r.detail })),
    };
  });
}

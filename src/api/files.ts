// File cleanup and lint from application code: one cleanup run through the application's storage
// adapter (src/files/cleaner.ts), the queue's statistics and contents, and deletion.lint().
import { runCleanup, type CleanupOptions, type CleanupReport } from '../files/cleaner.ts';
import type { FileStorage } from '../files/storage.ts';
import { withConnection, type Db } from './db.ts';

export type { CleanupOptions, CleanupReport, FileStorage };

/** Deletes queued files from storage in batches (until stopped; once: one batch; untilEmpty: until nothing is due). */
export async function cleanupFiles(db: Db, storage: FileStorage, options: CleanupOptions = {}): Promise<CleanupReport> {
  return withConnection(db, (c) => runCleanup(c, storage, options));
}

export interface FileStats {
  pending: number; in_progress: number; retrying: number; failed: number;
  oldest_pending_queued_at: Date | null; oldest_pending_age_seconds: number; attempts: number;
}

/** The cleanup backlog (deletion.vw_file_cleanup_stats). */
export async function fileStats(db: Db): Promise<FileStats> {
  return withConnection(db, async (c) => {
    const s = (await c.query('SELECT * FROM deletion.vw_file_cleanup_stats')).rows[0];
    const n = (k: string) => Number(s[k] ?? 0);
    return { pending: n('pending'), in_progress: n('in_progress'), retrying: n('retrying'), failed: n('failed'),
      oldest_pending_queued_at: s.oldest_pending_queued_at ?? null, oldest_pending_age_seconds: n('oldest_pending_age_seconds'), attempts: n('attempts') };
  });
}

export interface QueuedFile {
  id: number; storage_key: string; source_table: string; status: 'pending' | 'in_progress' | 'failed'; attempts: number;
  last_error: string | null; queued_at: Date; next_attempt_at: Date | null;
}

/** Files in the queue, oldest first: pending (waiting or leased) or failed. Names storage keys: deletion_admin (or the engine's owner) may read them. */
export async function queuedFiles(db: Db, options: { status?: 'pending' | 'failed'; limit?: number } = {}): Promise<QueuedFile[]> {
  return withConnection(db, async (c) => (await c.query(
    `SELECT id::float8 AS id, storage_key, format('%I.%I', source_schema, source_table) AS source_table,
            CASE WHEN q.failed_at IS NOT NULL THEN 'failed' WHEN q.lease_expires_at > now() THEN 'in_progress' ELSE 'pending' END AS status,
            attempts, last_error, queued_at, next_attempt_at
       FROM deletion.pending_file_deletions q
      WHERE $1::text IS NULL OR ($1 = 'failed') = (q.failed_at IS NOT NULL)
      ORDER BY queued_at, id LIMIT $2`, [options.status ?? null, options.limit ?? 50])).rows);
}

/** Makes files waiting out a back-off due now (failed: also the ones that failed for good); how many. */
export async function retryFiles(db: Db, options: { failed?: boolean } = {}): Promise<{ files_due: number }> {
  return withConnection(db, async (c) => ({ files_due: Number((await c.query('SELECT deletion.retry_file_deletions($1) AS n', [Boolean(options.failed)])).rows[0].n) }));
}

export interface LintFinding { severity: 'error' | 'warning'; rule: string; object: string; problem: string; fix: string }

/** deletion.lint(): the schema's deletion hazards (errors fail CI). */
export async function lint(db: Db, options: { maxDepth?: number } = {}): Promise<LintFinding[]> {
  return withConnection(db, async (c) => (await c.query<LintFinding>('SELECT * FROM deletion.lint($1)', [options.maxDepth ?? 6])).rows);
}

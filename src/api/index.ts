// pg-deletion-kit's TypeScript API: `import { schedule, plan, softDelete, runWorker } from 'pg-deletion-kit'`.
// Every function takes the application's own pg Pool (or a connected client) and calls the engine's
// SQL functions; results are typed (numbers as numbers, durations in seconds) and errors are
// DeletionKitError (sqlstate, message, hint, detail). docs/api.md describes each.
export { DeletionKitError } from './errors.ts';
export { keyText, transaction, withTransaction, type Acting, type Db, type Key } from './db.ts';
export { cancel, job, jobs, jobsStatus, JOB_STATUSES, schedule, undoJob,
  type Job, type JobsStatus, type JobStatusName, type ScheduledJob, type ScheduleOptions, type UndoResult, type UndoStep } from './jobs.ts';
export { listRows, plainDeleteRefused, plan, purge, restore, softDelete, tables, trash,
  type Plan, type PlanRow, type PurgeResult, type RegisteredTable, type RestoreResult, type TrashFilter, type TrashOperation } from './soft.ts';
export { auditRestore, type AuditRestoreResult, type AuditRestoreStep } from './audit.ts';
export { cleanupFiles, fileStats, lint, queuedFiles, retryFiles,
  type CleanupOptions, type CleanupReport, type FileStats, type FileStorage, type LintFinding, type QueuedFile } from './files.ts';
export { deleteTree, type TreeChunk, type TreeDelete } from './tree.ts';
export { deliverNotifications, signBody, verifySignature, SIGNATURE_HEADER } from '../notify/deliver.ts';
export { runWorker, type RunWorkerOptions, type WorkerEventFields, type WorkerEventName } from './worker.ts';
export { LocalStorage, S3Storage, storageFrom, UnsafeKeyError, type S3Options, type StorageConfig } from '../files/storage.ts';

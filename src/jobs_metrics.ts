// The deletion jobs as Prometheus metrics for GET /metrics, written by prom-client: jobs by status,
// retrying, blocked, paused, stuck and overdue jobs, the oldest pending job's age, rows still to
// delete, rows deleted, the age of the freshest worker heartbeat, and a histogram of the last hour's
// chunk durations. Every scrape reads deletion.vw_deletion_jobs_status, deletion.deletion_jobs and
// deletion.deletion_job_transactions into a Registry of its own (the figures live in the database,
// shared by every worker, not in this process). A database without deletion jobs (or a role that
// may not read them) gets no job metrics.
import type pg from 'pg';

const BUCKETS = [0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5];

export async function jobMetrics(db: pg.Pool | pg.Client): Promise<string> {
  const installed = (await db.query(`SELECT to_regclass('deletion.vw_deletion_jobs_status') IS NOT NULL AS jobs,
                                            to_regclass('deletion.deletion_job_transactions') IS NOT NULL AS chunks,
                                            EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('deletion.vw_deletion_jobs_status')
                                                       AND attname = 'paused' AND NOT attisdropped) AS paused`)).rows[0];
  if (!installed.jobs) return '';
  const { Gauge, Histogram, Registry } = await import('prom-client');
  const registry = new Registry();
  const gauge = (name: string, help: string, value: number | null, labelNames: string[] = []) => {
    const g = new Gauge({ name, help, labelNames, registers: [registry] });
    if (value !== null) g.set(Number.isFinite(value) ? value : 0);
    return g;
  };
  try {
    const s = (await db.query(`SELECT pending::int, running::int, done::int, failed::int, cancelled::int, retrying::int, blocked::int,
                                      ${installed.paused ? 'paused::int' : '0 AS paused'},
                                      stuck::int, overdue::int, oldest_pending_seconds::float8, rows_remaining::float8
                                 FROM deletion.vw_deletion_jobs_status`)).rows[0];
    const j = (await db.query(`SELECT coalesce(sum(rows_deleted), 0)::float8 AS rows_deleted,
                                      extract(epoch FROM now() - max(heartbeat_at) FILTER (WHERE status = 'running'))::float8 AS heartbeat_age
                                 FROM deletion.deletion_jobs`)).rows[0];
    const byStatus = gauge('deletion_kit_jobs', 'Deletion jobs by status.', null, ['status']);
    for (const st of ['pending', 'running', 'done', 'failed', 'cancelled']) byStatus.set({ status: st }, s[st]);
    gauge('deletion_kit_jobs_retrying', 'Pending jobs whose last chunk failed and that wait for a retry.', s.retrying);
    gauge('deletion_kit_jobs_blocked', 'Failed jobs that something outside their tree blocks (a RESTRICT key, a protection rule).', s.blocked);
    gauge('deletion_kit_jobs_paused', 'Running jobs their worker paused between chunks (chunks waiting on locks, a replica behind).', s.paused);
    gauge('deletion_kit_jobs_stuck', 'Running jobs whose worker has not sent a heartbeat for 5 minutes.', s.stuck);
    gauge('deletion_kit_jobs_overdue', 'Pending jobs due for more than 5 minutes.', s.overdue);
    gauge('deletion_kit_jobs_oldest_pending_age_seconds', 'Age of the oldest pending job (0 when none).', s.oldest_pending_seconds);
    gauge('deletion_kit_jobs_rows_remaining', 'Rows the pending and running jobs still have to delete (a job not yet planned counts 1).', s.rows_remaining);
    gauge('deletion_kit_jobs_rows_deleted', 'Rows deleted (or soft-deleted) by the last run of every job.', j.rows_deleted);
    // No sample while no job runs (an absent series, not a 0 that would read as a fresh heartbeat).
    if (j.heartbeat_age !== null) {
      gauge('deletion_kit_jobs_worker_heartbeat_age_seconds', 'Seconds since the freshest heartbeat of a worker holding a job (absent while no job runs).', j.heartbeat_age);
    }
    if (installed.chunks) {
      const h = new Histogram({ name: 'deletion_kit_jobs_chunk_duration_seconds', help: 'Duration of the chunks that deleted or marked rows in the last hour.',
        buckets: BUCKETS, registers: [registry] });
      // The last hour's chunks, one row per distinct duration (chunk_ms is whole milliseconds).
      const { rows } = await db.query(`SELECT chunk_ms::float8 / 1000 AS seconds, count(*)::int AS n FROM deletion.deletion_job_transactions
                                        WHERE created_at > now() - interval '1 hour' GROUP BY chunk_ms`);
      for (const r of rows) for (let i = 0; i < r.n; i++) h.observe(r.seconds);
    }
  } catch (err) {
    if ((err as { code?: string }).code !== '42501') throw err;  // a role that may not read the jobs: no job metrics
    return '';
  }
  return registry.metrics();
}

// The deletion jobs as Prometheus text for GET /metrics: jobs by status, retrying, blocked, stuck and
// overdue jobs, the oldest pending job's age, rows still to delete, rows deleted, the age of the
// freshest worker heartbeat, and a histogram of the last hour's chunk durations. Everything is read
// from deletion.vw_deletion_jobs_status, deletion.deletion_jobs and deletion.deletion_job_transactions;
// a database without deletion jobs (or a role that may not read them) gets no job metrics.
import type pg from 'pg';

const BUCKETS = [0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5];

function gauge(lines: string[], name: string, help: string, samples: [string, number][]) {
  lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
  for (const [labels, value] of samples) lines.push(`${name}${labels} ${Number.isFinite(value) ? value : 0}`);
}

export async function jobMetrics(db: pg.Pool | pg.Client): Promise<string> {
  const installed = (await db.query(`SELECT to_regclass('deletion.vw_deletion_jobs_status') IS NOT NULL AS jobs,
                                            to_regclass('deletion.deletion_job_transactions') IS NOT NULL AS chunks`)).rows[0];
  if (!installed.jobs) return '';
  const lines: string[] = [];
  try {
    const s = (await db.query(`SELECT pending::int, running::int, done::int, failed::int, cancelled::int, retrying::int, blocked::int,
                                      stuck::int, overdue::int, oldest_pending_seconds::float8, rows_remaining::float8
                                 FROM deletion.vw_deletion_jobs_status`)).rows[0];
    const j = (await db.query(`SELECT coalesce(sum(rows_deleted), 0)::float8 AS rows_deleted,
                                      extract(epoch FROM now() - max(heartbeat_at) FILTER (WHERE status = 'running'))::float8 AS heartbeat_age
                                 FROM deletion.deletion_jobs`)).rows[0];
    gauge(lines, 'deletion_kit_jobs', 'Deletion jobs by status.',
      ['pending', 'running', 'done', 'failed', 'cancelled'].map((st) => [`{status="${st}"}`, s[st]]));
    gauge(lines, 'deletion_kit_jobs_retrying', 'Pending jobs whose last chunk failed and that wait for a retry.', [['', s.retrying]]);
    gauge(lines, 'deletion_kit_jobs_blocked', 'Failed jobs that something outside their tree blocks (a RESTRICT key, a protection rule).', [['', s.blocked]]);
    gauge(lines, 'deletion_kit_jobs_stuck', 'Running jobs whose worker has not sent a heartbeat for 5 minutes.', [['', s.stuck]]);
    gauge(lines, 'deletion_kit_jobs_overdue', 'Pending jobs due for more than 5 minutes.', [['', s.overdue]]);
    gauge(lines, 'deletion_kit_jobs_oldest_pending_age_seconds', 'Age of the oldest pending job (0 when none).', [['', s.oldest_pending_seconds]]);
    gauge(lines, 'deletion_kit_jobs_rows_remaining', 'Rows the pending and running jobs still have to delete (a job not yet planned counts 1).', [['', s.rows_remaining]]);
    gauge(lines, 'deletion_kit_jobs_rows_deleted', 'Rows deleted (or soft-deleted) by the last run of every job.', [['', j.rows_deleted]]);
    gauge(lines, 'deletion_kit_jobs_worker_heartbeat_age_seconds', 'Seconds since the freshest heartbeat of a worker holding a job (absent while no job runs).',
      j.heartbeat_age === null ? [] : [['', j.heartbeat_age]]);
    if (installed.chunks) {
      const h = (await db.query(
        `SELECT array_agg((SELECT count(*) FROM deletion.deletion_job_transactions t
                            WHERE t.created_at > now() - interval '1 hour' AND t.chunk_ms <= b * 1000)::float8 ORDER BY b) AS buckets,
                (SELECT count(*)::float8 FROM deletion.deletion_job_transactions t WHERE t.created_at > now() - interval '1 hour') AS count,
                (SELECT coalesce(sum(t.chunk_ms), 0)::float8 / 1000 FROM deletion.deletion_job_transactions t WHERE t.created_at > now() - interval '1 hour') AS sum
           FROM unnest($1::float8[]) b`, [BUCKETS])).rows[0];
      const name = 'deletion_kit_jobs_chunk_duration_seconds';
      lines.push(`# HELP ${name} Duration of the chunks that deleted or marked rows in the last hour.`, `# TYPE ${name} histogram`);
      BUCKETS.forEach((b, i) => lines.push(`${name}_bucket{le="${b}"} ${h.buckets[i]}`));
      lines.push(`${name}_bucket{le="+Inf"} ${h.count}`, `${name}_sum ${h.sum}`, `${name}_count ${h.count}`);
    }
  } catch (err) {
    if ((err as { code?: string }).code !== '42501') throw err;  // a role that may not read the jobs: no job metrics
  }
  return lines.length ? lines.join('\n') + '\n' : '';
}

// Cost per 100,000 rows as the tree grows: the hard deletion job and deletion.soft_delete on trees of
// about 25,000, 100,000 and 400,000 rows (a workspace of the generated product; small scale: a fifth
// of that), each beside plain PostgreSQL on a copy of the same tables (harness.ts plainCopy):
//   * the hard job: `deletion-kit worker --once` (a real process) on a scheduled hard delete of
//     workspace 1, each round on a fresh copy of the database (a job commits), timed from the job's
//     start to its end as the job records them (the process's own start is left out), against the
//     plain cascading DELETE of the same workspace on the plain copy (rolled back);
//   * the soft delete: deletion.soft_delete of workspace 1 against the hand-written UPDATEs of the
//     same rows of the plain copy, both rolled back.
// Each size has its own database, generated so that the measured tree has about the size named
// (a workspace's hard tree holds about 14.7 rows an issue, its soft tree, the soft-delete tables
// only, about 8). Sides alternate, their order reversed every round; medians of 5 rounds (3 small).
// The goal is the issue's: at each size the cost per 100,000 rows within 20% of the others, ours
// and, for reference, plain PostgreSQL's own.
import { alternate, connectTo, handSoftDelete, inRolledBack, plainCopy, planRowsPerTable, runWorker, softTreeRows, urlOf, type Bench, type BenchContext } from './harness.ts';

const ROWS_PER_ISSUE = { hard: 14.7, soft: 8.0 };

const per100k = (ms: number, rows: number) => (ms / rows) * 100_000;

/** The hard job and the plain DELETE on a tree of about `target` rows: ms per 100,000 rows of each. */
async function hardJob(ctx: BenchContext, target: number, rounds: number) {
  const source = await ctx.database();
  const admin = await connectTo(ctx.cluster.adminUrl);
  const copies: string[] = [];
  try {
    let c = await source.client();
    await ctx.generate(c, 2 * Math.round(target / ROWS_PER_ISSUE.hard), 2);
    const rows = Object.values(await planRowsPerTable(c)).reduce((sum, n) => sum + n, 1);  // the root too
    await c.end();
    // the copies first: a database is copied only while nobody is connected to it
    for (let i = 0; i < rounds; i++) {
      copies.push(`${source.name}_${i}`);
      await admin.query(`CREATE DATABASE ${copies[i]} TEMPLATE ${source.name}`);
    }
    c = await source.client();
    await plainCopy(c);
    await c.query('VACUUM ANALYZE');
    let next = 0;
    const m = await alternate(['job', 'plain'] as const, rounds, async (side) => {
      if (side === 'plain') return inRolledBack(c, 'DELETE FROM plain.workspaces WHERE id = 1');
      const url = urlOf(ctx.cluster.adminUrl, copies[next++]);
      const cj = await connectTo(url);
      await cj.query('VACUUM ANALYZE');
      await cj.query(`SELECT deletion.schedule('public.workspaces', '1', hard => true, reason => 'scaling bench')`);
      const worker = await runWorker(url);
      const { rows: [job] } = await cj.query(`SELECT (SELECT count(*)::int FROM public.issues WHERE workspace_id = 1) AS left,
                                                     extract(epoch FROM finished_at - started_at) * 1000 AS ms
                                                FROM deletion.deletion_jobs WHERE entity_table = 'public.workspaces' AND entity_pk = '1'`);
      await cj.end();
      if (job.left !== 0) throw new Error(`the job left ${job.left} issues of workspace 1`);
      ctx.log(`  job: ${Number(job.ms).toFixed(0)} ms from its start to its end, the worker process ${worker.ms} ms`);
      return Number(job.ms);
    });
    await c.end();
    ctx.log(`hard tree of ${rows} rows: job ${(m.job / 1000).toFixed(1)} s, plain DELETE ${(m.plain / 1000).toFixed(1)} s (medians of ${rounds})`);
    return { rows, ours: per100k(m.job, rows), plain: per100k(m.plain, rows) };
  } finally {
    for (const name of copies) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
    await admin.end();
    await source.drop();
  }
}

/** deletion.soft_delete and the hand-written UPDATEs on a soft tree of about `target` rows: ms per 100,000 rows of each. */
async function softDelete(ctx: BenchContext, target: number, rounds: number) {
  const db = await ctx.database();
  const c = await db.client();
  try {
    await ctx.generate(c, 2 * Math.round(target / ROWS_PER_ISSUE.soft), 2);
    const rows = await softTreeRows(c, 1);
    await plainCopy(c);
    await c.query('VACUUM ANALYZE');
    const m = await alternate(['ours', 'plain'] as const, rounds, (side) =>
      inRolledBack(c, side === 'plain' ? handSoftDelete(1) : `SELECT deletion.soft_delete('public.workspaces', '1')`));
    ctx.log(`soft tree of ${rows} rows: deletion.soft_delete ${(m.ours / 1000).toFixed(1)} s, plain UPDATEs ${(m.plain / 1000).toFixed(1)} s (medians of ${rounds})`);
    return { rows, ours: per100k(m.ours, rows), plain: per100k(m.plain, rows) };
  } finally {
    await c.end();
    await db.drop();
  }
}

/** The highest of a figure over the sizes against its lowest. */
function spread(figures: number[]) {
  return { highest: Math.max(...figures), lowest: Math.min(...figures) };
}

export default {
  name: 'scaling',
  description: 'cost per 100,000 rows of the hard job and of deletion.soft_delete at trees of about 25,000, 100,000 and 400,000 rows, beside plain PostgreSQL',
  async run(ctx) {
    const small = ctx.scale === 'small';
    const targets = small ? [5_000, 20_000, 80_000] : [25_000, 100_000, 400_000];
    const rounds = small ? 3 : 5;
    const unit = 'ms per 100,000 rows';
    for (const [name, measure] of [['hard job (worker)', hardJob], ['deletion.soft_delete', softDelete]] as const) {
      const sizes = [];
      for (const target of targets) sizes.push(await measure(ctx, target, rounds));
      for (const s of sizes) {
        ctx.record(`${name} per 100,000 rows of a ${s.rows}-row tree vs plain PostgreSQL per 100,000 rows (${name === 'deletion.soft_delete' ? 'UPDATEs' : 'cascading DELETE'} on the copy)`,
                   s.ours, s.plain, unit, 'none');
      }
      const ours = spread(sizes.map((s) => s.ours));
      const plain = spread(sizes.map((s) => s.plain));
      ctx.record(`${name}: the highest cost per 100,000 rows of the trees of ${sizes.map((s) => s.rows).join(', ')} rows vs the lowest`, ours.highest, ours.lowest, unit, '<= 1.2');
      ctx.record(`plain PostgreSQL beside ${name}: the highest cost per 100,000 rows of the same trees vs the lowest`, plain.highest, plain.lowest, unit, 'none');
    }
  },
} satisfies Bench;

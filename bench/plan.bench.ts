// deletion.plan on a whole workspace against the real delete of that workspace, in the same run on
// the same data: the preview must cost at most 0.3 of what the delete it previews costs (issue 5).
// Default scale: one workspace of 140,000 issues (about 1.03M rows in its tree); --scale small: 5,000.
import { timed, type Bench } from './harness.ts';

export default {
  name: 'plan',
  description: 'deletion.plan of a workspace vs DELETE of that workspace (goal: plan <= 0.3 x delete)',
  async run(ctx) {
    const issues = ctx.scale === 'small' ? 5_000 : 140_000;
    const db = await ctx.database();
    const c = await db.client();
    try {
      const generated = await ctx.generate(c, issues, 1);
      const total = Object.values(generated).reduce((n, r) => n + r, 0);
      ctx.log(`generated ${total} rows (${issues} issues in one workspace)`);
      const ws = String((await c.query('SELECT min(id) AS id FROM public.workspaces')).rows[0].id);

      // The plan of the hard delete below (workspaces' plain DELETE becomes a soft delete; the admin's
      // hard path is what a deletion job runs), three times (it changes nothing); the median counts.
      const planTimes: number[] = [];
      let plan: { table_name: string; action: string; rows: string }[] = [];
      for (let i = 0; i < 3; i++) {
        await c.query('BEGIN');
        await c.query(`SET LOCAL deletion.mode = 'hard'`);
        planTimes.push(await timed(async () => {
          plan = (await c.query(`SELECT table_name::text, action, rows FROM deletion.plan('public.workspaces', $1)`, [ws])).rows;
        }));
        await c.query('COMMIT');
      }
      planTimes.sort((a, b) => a - b);
      const planMs = planTimes[1];
      const planned = plan.filter((r) => r.action === 'delete').reduce((n, r) => n + Number(r.rows), 0);
      ctx.log(`plan: ${plan.length} rows, ${planned} rows to delete, ${planTimes.map((t) => t.toFixed(0)).join(' / ')} ms`);
      if (plan.some((r) => r.action.startsWith('blocked'))) throw new Error(`the plan says the delete is blocked: ${JSON.stringify(plan)}`);

      // The real delete, as the admin the benchmark connects as, on the hard path (as a deletion job's chunk runs).
      const countRows = async () => {
        let n = 0;
        for (const t of Object.keys(generated)) n += Number((await c.query(`SELECT count(*) AS n FROM public.${t}`)).rows[0].n);
        return n;
      };
      const rowsBefore = await countRows();
      const deleteMs = await timed(async () => {
        await c.query('BEGIN');
        await c.query(`SET LOCAL deletion.mode = 'hard'`);
        await c.query('DELETE FROM public.workspaces WHERE id = $1', [ws]);
        await c.query('COMMIT');
      });
      const deleted = rowsBefore - (await countRows());
      ctx.log(`delete: ${deleted} rows in ${deleteMs.toFixed(0)} ms; the plan said ${planned}`);
      if (deleted !== planned) throw new Error(`the plan said ${planned} rows, the delete removed ${deleted}`);
      ctx.record(`plan vs delete of a ${deleted}-row workspace`, planMs, deleteMs, 'ms', '<= 0.3');
    } finally {
      await c.end();
      await db.drop();
    }
  },
} satisfies Bench;

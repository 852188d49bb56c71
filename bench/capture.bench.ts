// The audit capture generated for each table (sql/20_audit_capture.sql, deletion.wire_audit) against
// the generic capture functions it replaced (audit.capture_delete / capture_update, which write the
// same log rows: test/pgtap/800_audit_typed_capture.sql), on the same data in one run: the product
// tables with every engine trigger on, the audit triggers pointed at the generic functions for the
// "generic" side (bench.use_generic_capture, inside the rolled-back transaction). Sides alternate,
// order reversed every round, medians; track_functions gives the time spent in the capture functions.
import type { Bench } from './harness.ts';
import { alternate, installGenericCapture, median, timed, useGenericCapture } from './harness.ts';

export default {
  name: 'capture',
  description: 'audit capture generated for each table vs the generic capture functions, same data, same run',
  async run(ctx) {
    const issues = ctx.scale === 'small' ? 1_000 : 3_000;
    const loopRows = ctx.scale === 'small' ? 300 : 1_000;
    const rounds = 5;
    const db = await ctx.database();
    const c = await db.client();
    try {
      await ctx.generate(c, issues, 2);
      await installGenericCapture(c);
      await c.query('VACUUM ANALYZE');
      const cases: { name: string; sql: string; hard?: boolean }[] = [
        { name: 'soft delete of workspace 1 (deletion.soft_delete: UPDATEs of the subtree)', sql: `SELECT deletion.soft_delete('public.workspaces', '1')` },
        { name: `${loopRows} single-row UPDATEs of issues.title`,
          sql: `DO $$ DECLARE r bigint; BEGIN FOR r IN SELECT id FROM public.issues WHERE workspace_id = 2 ORDER BY id LIMIT ${loopRows} LOOP
                  UPDATE public.issues SET title = title || '.' WHERE id = r; END LOOP; END $$` },
        { name: 'hard delete of workspace 1 (one cascading DELETE)', sql: 'DELETE FROM public.workspaces WHERE id = 1', hard: true },
      ];
      for (const k of cases) {
        const capture: Record<'ours' | 'generic', number[]> = { ours: [], generic: [] };
        const m = await alternate(['ours', 'generic'] as const, rounds, async (side) => {
          await c.query('BEGIN');
          try {
            await c.query(`SET LOCAL track_functions = 'all'`);
            if (k.hard) await c.query(`SET LOCAL deletion.mode = 'hard'`);
            if (side === 'generic') await useGenericCapture(c);
            const ms = await timed(() => c.query(k.sql));
            const { rows } = await c.query(`SELECT coalesce(sum(total_time), 0) AS t FROM pg_stat_xact_user_functions
                                             WHERE schemaname = 'audit' AND funcname LIKE 'capture\\_%'`);
            capture[side].push(Number(rows[0].t));
            return ms;
          } finally {
            await c.query('ROLLBACK');
            await c.query('VACUUM');
          }
        });
        ctx.log(`${k.name}: generated ${m.ours.toFixed(0)} ms (capture ${median(capture.ours).toFixed(0)} ms), generic ${m.generic.toFixed(0)} ms (capture ${median(capture.generic).toFixed(0)} ms)`);
        ctx.record(`${k.name}: generated capture vs generic capture, whole statement`, m.ours, m.generic, 'ms', 'none');
        ctx.record(`${k.name}: time in the capture functions, generated vs generic`, median(capture.ours), median(capture.generic), 'ms', 'none');
      }
    } finally {
      await c.end();
      await db.drop();
    }
  },
} satisfies Bench;

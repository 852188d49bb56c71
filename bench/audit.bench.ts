// The audit log's cost, side by side on the same data in one run (issue 4):
//   (a) the hard delete of a workspace subtree with no audit at all;
//   (b) the same delete with a row-level JSONB audit trigger written the usual way (supa_audit,
//       2ndQuadrant audit-trigger): AFTER ... FOR EACH ROW, one INSERT per changed row;
//   (c) ours: statement-level triggers with transition tables (sql/20_audit_capture.sql);
//   (d) the floor: the delete with no audit plus one set-based INSERT of the same JSONB rows (taken
//       from a run of (c) beforehand) into a table shaped and indexed like audit.log.
// Goals: (c) <= 0.5 x (b), (c) <= 1.25 x (d). Single-row deletes and updates in a loop: (c) <= 1.1 x
// (b). Restore of the deleted subtree: <= 1.5 x the audited delete (c).
// Every variant runs in a transaction that is rolled back, so all of them see the same rows; the
// variants take turns, and each figure is the median of its rounds.
import type pg from 'pg';
import type { Bench } from './harness.ts';
import { timed } from './harness.ts';

type Variant = 'a' | 'b' | 'c' | 'd';

const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)];

// The reference of (b): one INSERT per row, the row as JSONB, the key from the trigger's arguments.
const ROW_LEVEL_REFERENCE = `
CREATE TABLE bench.row_log (LIKE audit.log INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
CREATE TABLE bench.floor_log (LIKE audit.log INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
CREATE FUNCTION bench.row_audit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  old_image jsonb := to_jsonb(OLD);
  new_image jsonb;
BEGIN
  IF TG_OP = 'UPDATE' THEN
    new_image := to_jsonb(NEW);
  END IF;
  INSERT INTO bench.row_log (txid, statement_seq, table_name, action, record_id, primary_key, old_data, changed)
  VALUES (txid_current(), 0, TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, TG_OP, old_image ->> TG_ARGV[0],
          jsonb_build_object(TG_ARGV[0], old_image -> TG_ARGV[0]), old_image, new_image);
  RETURN NULL;
END
$$;`;

export default {
  name: 'audit',
  description: 'audit capture (statement-level, set-based) vs a row-level JSONB trigger and vs the set-based floor; restore',
  async run(ctx) {
    const issues = ctx.scale === 'small' ? 2_000 : 15_000;
    const rounds = ctx.scale === 'small' ? 1 : 3;
    const loopRows = ctx.scale === 'small' ? 500 : 2_000;
    const db = await ctx.database();
    const c = await db.client();
    try {
      const perTable = await ctx.generate(c, issues, 2);
      ctx.log(`generated ${Object.values(perTable).reduce((a, b) => a + b, 0)} rows in 2 workspaces of ${issues} issues`);
      await c.query(ROW_LEVEL_REFERENCE);
      const { rows: tables } = await c.query<{ target: string }>(`
        SELECT format('%I.%I', table_schema, table_name) AS target FROM deletion.table_policies
         WHERE table_schema = 'public' AND audit ORDER BY 1`);

      // Switches the audit of every product table to one variant, inside the current transaction.
      // Every variant takes the hard path (soft-delete tables turn a plain DELETE into an UPDATE).
      async function useVariant(v: Variant) {
        await c.query(`SET LOCAL deletion.mode = 'hard'`);
        for (const { target } of tables) {
          if (v !== 'c') {
            await c.query(`ALTER TABLE ${target} DISABLE TRIGGER deletion_50_audit_statement, DISABLE TRIGGER deletion_50_audit_delete, DISABLE TRIGGER deletion_50_audit_update`);
          }
          if (v === 'b') {
            await c.query(`CREATE TRIGGER bench_row_audit_delete AFTER DELETE ON ${target} FOR EACH ROW EXECUTE FUNCTION bench.row_audit('id')`);
            await c.query(`CREATE TRIGGER bench_row_audit_update AFTER UPDATE ON ${target} FOR EACH ROW EXECUTE FUNCTION bench.row_audit('id')`);
          }
        }
      }

      // The JSONB rows the floor (d) inserts: what (c) logged for the same delete, kept in a table.
      await c.query('BEGIN');
      await c.query(`SET LOCAL deletion.mode = 'hard'`);
      await c.query('DELETE FROM public.workspaces WHERE id = 1');
      await c.query(`CREATE TABLE bench.staged_rows AS
                     SELECT txid, statement_seq, table_name, action, record_id, primary_key, old_data, changed, via_cascade
                       FROM audit.log ORDER BY id`);
      const staged = Number((await c.query('SELECT count(*) AS n FROM bench.staged_rows')).rows[0].n);
      const deleted = Number((await c.query(`SELECT count(*) AS n FROM bench.staged_rows WHERE action = 'DELETE'`)).rows[0].n);
      await c.query('COMMIT');
      ctx.log(`the subtree: ${deleted} rows deleted and ${staged - deleted} rows set to NULL or recounted by one DELETE of workspace 1`);
      // put the workspace back for the timed runs (restore is timed below, on fresh deletes)
      await c.query('BEGIN');
      await c.query(`SELECT * FROM audit.restore_transaction((SELECT max(txid) FROM bench.staged_rows))`);
      await c.query('COMMIT');
      await c.query('VACUUM ANALYZE');

      const times: Record<Variant, number[]> = { a: [], b: [], c: [], d: [] };
      const restoreTimes: number[] = [];
      const order: Variant[] = ['a', 'b', 'c', 'd'];
      for (let round = 0; round < rounds; round++) {
        for (let i = 0; i < order.length; i++) {
          const v = order[(i + round) % order.length];
          await c.query('BEGIN');
          await useVariant(v);
          const ms = await timed(async () => {
            await c.query('DELETE FROM public.workspaces WHERE id = 1');
            if (v === 'd') {
              await c.query(`INSERT INTO bench.floor_log (txid, statement_seq, table_name, action, record_id, primary_key, old_data, changed, via_cascade)
                             SELECT txid, statement_seq, table_name, action, record_id, primary_key, old_data, changed, via_cascade FROM bench.staged_rows`);
            }
          });
          times[v].push(ms);
          if (v === 'c') {
            restoreTimes.push(await timed(() => c.query(`SELECT * FROM audit.restore_deleted('public.workspaces', '1')`)));
          }
          await c.query('ROLLBACK');
        }
      }
      const [a, b, cc, d] = (['a', 'b', 'c', 'd'] as Variant[]).map((v) => median(times[v]));
      ctx.log(`delete of ${deleted} rows (median of ${rounds}): (a) no audit ${a.toFixed(0)} ms, (b) row-level ${b.toFixed(0)} ms, (c) ours ${cc.toFixed(0)} ms, (d) floor ${d.toFixed(0)} ms`);
      ctx.record(`(c) ours vs (b) row-level trigger, delete of ${deleted} rows`, cc, b, 'ms', '<= 0.5');
      ctx.record(`(c) ours vs (d) delete + one set-based INSERT, ${deleted} rows`, cc, d, 'ms', '<= 1.25');
      ctx.record(`(c) ours vs (a) no audit, ${deleted} rows`, cc, a, 'ms', 'none');
      const restore = median(restoreTimes);
      ctx.record(`restore_deleted of the ${deleted}-row delete vs the audited delete (c)`, restore, cc, 'ms', '<= 1.5');

      // Single-row statements in a loop (one DELETE or UPDATE per row, in one PL/pgSQL block).
      const loops: Record<'b' | 'c', { del: number[]; upd: number[] }> = { b: { del: [], upd: [] }, c: { del: [], upd: [] } };
      for (let round = 0; round < Math.max(3, rounds); round++) {
        for (const v of (round % 2 ? ['c', 'b'] : ['b', 'c']) as ('b' | 'c')[]) {
          await c.query('BEGIN');
          await useVariant(v);
          loops[v].del.push(await timed(() => c.query(`
            DO $$ DECLARE r bigint; BEGIN
              FOR r IN SELECT id FROM public.comment_reactions ORDER BY id LIMIT ${loopRows} LOOP
                DELETE FROM public.comment_reactions WHERE id = r;
              END LOOP; END $$`)));
          loops[v].upd.push(await timed(() => c.query(`
            DO $$ DECLARE r bigint; BEGIN
              FOR r IN SELECT id FROM public.comments ORDER BY id LIMIT ${loopRows} LOOP
                UPDATE public.comments SET body = body || '.' WHERE id = r;
              END LOOP; END $$`)));
          await c.query('ROLLBACK');
        }
      }
      ctx.record(`${loopRows} single-row DELETEs in a loop: (c) vs (b)`, median(loops.c.del), median(loops.b.del), 'ms', '<= 1.1');
      ctx.record(`${loopRows} single-row UPDATEs in a loop: (c) vs (b)`, median(loops.c.upd), median(loops.b.upd), 'ms', '<= 1.1');
    } finally {
      await c.end();
      await db.drop();
    }
  },
} satisfies Bench;

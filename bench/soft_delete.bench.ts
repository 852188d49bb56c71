// Soft delete against plain PostgreSQL, in one run on the same data. The floor is a copy of the
// product tables in schema plain (bench/harness.ts plainCopy: the same columns, keys, foreign keys and
// indexes, the same rows; no engine trigger, row-level security policy or partial index), on which
// the reference runs what a careful engineer would write by hand:
//   1. active-row lookup by unique key (users.email) as the application role, through RLS and the
//      partial unique index, vs the same lookup by the same role on the copy (a full unique index);
//      a server-side loop, so the client round trip does not hide the difference.
//   2. soft delete of a whole workspace (>= 100,000 rows at the default scale) with
//      deletion.soft_delete vs set-based UPDATEs of the same rows of the copy.
//   3. restore of it with deletion.restore (conflict checks included) vs UPDATEs of the copy.
// Each timed statement runs in a transaction that is rolled back; the sides alternate and their order
// is reversed every round (harness.ts alternate); the median of the rounds is recorded.
import { alternate, handSoftDelete, inRolledBack, installGenericCapture, plainCopy, softTreeRows, timed, type Bench } from './harness.ts';

// The hand-written restore of an operation on the copy: clear the marks of its rows, one UPDATE per table.
const handRestore = (op: string) =>
  ['workspaces', 'projects', 'issues', 'comments']
    .map((t) => `UPDATE plain.${t} SET deleted_at = NULL, deleted_by = NULL, deletion_reason = NULL, deletion_op = NULL WHERE deletion_op = '${op}';`)
    .join('\n');

export default {
  name: 'soft_delete',
  description: 'RLS + partial-index lookup, workspace soft delete and restore vs plain PostgreSQL on a copy of the tables',
  async run(ctx) {
    const small = ctx.scale === 'small';
    const db = await ctx.database();
    const c = await db.client();
    try {
      // Two workspaces; the default scale gives each one well over 100,000 soft-delete rows.
      const counts = await ctx.generate(c, small ? 2_000 : 30_000, 2);
      ctx.log(`generated ${Object.entries(counts).map(([t, n]) => `${t} ${n}`).join(', ')}`);
      const { rows: [ws] } = await c.query<{ id: number }>('SELECT id FROM public.workspaces ORDER BY id LIMIT 1');
      const subtreeRows = await softTreeRows(c, ws.id);
      ctx.log(`workspace ${ws.id}: ${subtreeRows} rows in soft-delete tables`);

      // 1. Lookup by unique key. The generator makes few users (N/200 per workspace); add enough that
      //    both sides use their unique index, then soft-delete one user in ten.
      await c.query(`INSERT INTO public.users (email, name) SELECT 'extra' || g || '@bench.example', 'Extra ' || g
                       FROM generate_series(1, $1::int) g`, [small ? 20_000 : 200_000]);
      await c.query(`
        UPDATE public.users SET deleted_at = now(), deletion_op = gen_random_uuid() WHERE id % 10 = 0 AND email LIKE 'extra%';`);
      await plainCopy(c);
      await installGenericCapture(c);
      await c.query(`
        DO $r$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bench_app') THEN CREATE ROLE bench_app LOGIN IN ROLE deletion_app; END IF;
        END $r$;
        GRANT USAGE ON SCHEMA bench, plain TO deletion_app;
        GRANT SELECT ON public.users, plain.users TO deletion_app;
        CREATE FUNCTION bench.lookup_users(emails text[], plain boolean) RETURNS integer
        LANGUAGE plpgsql AS $f$
        DECLARE e text; found_rows integer := 0; r record;
        BEGIN
          FOREACH e IN ARRAY emails LOOP
            IF plain THEN SELECT * INTO r FROM plain.users WHERE email = e AND deleted_at IS NULL;
            ELSE SELECT * INTO r FROM public.users WHERE email = e; END IF;
            IF FOUND THEN found_rows := found_rows + 1; END IF;
          END LOOP;
          RETURN found_rows;
        END $f$;
        GRANT EXECUTE ON FUNCTION bench.lookup_users(text[], boolean) TO deletion_app;`);
      await c.query('VACUUM ANALYZE public.users, plain.users');
      const lookups = small ? 20_000 : 100_000;
      const { rows: [emails] } = await c.query<{ list: string[] }>(
        `SELECT array_agg(email ORDER BY random()) AS list FROM (SELECT email FROM public.users WHERE deleted_at IS NULL) u, generate_series(1, $1::int / (SELECT count(*) FROM public.users WHERE deleted_at IS NULL)::int + 1)`,
        [lookups]);
      const list = emails.list.slice(0, lookups);
      // both sides as the application role, in alternating order
      const lookup = await alternate(['ours', 'plain'] as const, 7, async (side) => {
        await c.query('SET ROLE bench_app');
        try {
          let found = 0;
          const ms = await timed(async () => (found = (await c.query('SELECT bench.lookup_users($1, $2) AS n', [list, side === 'plain'])).rows[0].n));
          if (found !== list.length) throw new Error(`the application role found ${found} of ${list.length} active users (${side})`);
          return ms;
        } finally {
          await c.query('RESET ROLE');
        }
      });
      ctx.record(`lookup of ${lookups} active users by email as the application role: through RLS and the partial unique index vs a plain copy`,
                 lookup.ours, lookup.plain, 'ms', '<= 1.10');

      // 2. Soft delete of the workspace subtree.
      const runs = 5;
      await c.query('VACUUM ANALYZE');
      const del = await alternate(['ours', 'plain', 'generic'] as const, runs, (side) =>
        inRolledBack(c, side === 'plain' ? handSoftDelete(ws.id) : `SELECT deletion.soft_delete('public.workspaces', '${ws.id}')`, side === 'generic'));
      ctx.record(`soft delete of a workspace subtree (${subtreeRows} rows): deletion.soft_delete vs plain UPDATEs of a copy`,
                 del.ours, del.plain, 'ms', '<= 1.5');
      ctx.record(`soft delete of that subtree: audit capture generated for each table vs the generic capture functions`,
                 del.ours, del.generic, 'ms', 'none');

      // 3. Restore of it.
      const { rows: [op] } = await c.query<{ op: string }>(`SELECT deletion.soft_delete('public.workspaces', '${ws.id}') AS op`);
      await c.query(handSoftDelete(ws.id, op.op));
      await c.query('VACUUM ANALYZE');
      const res = await alternate(['ours', 'plain', 'generic'] as const, runs, (side) =>
        inRolledBack(c, side === 'plain' ? handRestore(op.op) : `SELECT deletion.restore('${op.op}')`, side === 'generic'));
      ctx.record(`restore of that workspace subtree: deletion.restore (checks included) vs plain UPDATEs of a copy`,
                 res.ours, res.plain, 'ms', '<= 1.5');
      ctx.record(`restore of that subtree: audit capture generated for each table vs the generic capture functions`,
                 res.ours, res.generic, 'ms', 'none');
    } finally {
      await c.end();
      await db.drop();
    }
  },
} satisfies Bench;

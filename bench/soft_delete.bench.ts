// Soft delete (issue 3): what row-level security, partial indexes and the set-based cascade cost,
// measured side by side with what a careful engineer would write by hand, in one run on the same data.
//   1. active-row lookup by unique key (users.email) as the application role, through RLS and the
//      partial unique index, vs the same lookup on a plain copy of the table (full unique index) as
//      owner; a server-side loop, so the client round trip does not hide the difference. Goal <= 1.10.
//   2. soft delete of a whole workspace (>= 100,000 rows at the default scale) with
//      deletion.soft_delete vs hand-written set-based UPDATEs of the same rows. Goal <= 1.2.
//   3. restore of it with deletion.restore (conflict checks included) vs hand-written UPDATEs. <= 1.2.
// Each timed statement runs in a transaction that is rolled back, ours and the reference alternating;
// the median of the runs is recorded (the machine is shared: medians of alternating runs resist noise).
import type pg from 'pg';
import { timed, type Bench } from './harness.ts';

const OP = '00000000-0000-4000-8000-00000000b3b3';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Runs sql in a transaction that is rolled back; returns the milliseconds the statements took. */
async function inRolledBack(c: pg.Client, sql: string): Promise<number> {
  await c.query('BEGIN');
  try {
    return await timed(() => c.query(sql));
  } finally {
    await c.query('ROLLBACK');
  }
}

/** Alternates ours and the reference `runs` times (vacuuming between, so dead rows do not pile up on one side). */
async function sideBySide(c: pg.Client, runs: number, ours: string, reference: string) {
  const o: number[] = [];
  const r: number[] = [];
  for (let i = 0; i < runs; i++) {
    o.push(await inRolledBack(c, ours));
    await c.query('VACUUM');
    r.push(await inRolledBack(c, reference));
    await c.query('VACUUM');
  }
  return { ours: median(o), reference: median(r) };
}

// The hand-written soft delete of workspace $ws: the rows the cascade reaches, one UPDATE per table.
const handSoftDelete = (ws: number) => `
  UPDATE public.workspaces SET deleted_at = now(), deletion_op = '${OP}' WHERE id = ${ws} AND deleted_at IS NULL;
  UPDATE public.projects SET deleted_at = now(), deletion_op = '${OP}' WHERE workspace_id = ${ws} AND deleted_at IS NULL;
  UPDATE public.issues SET deleted_at = now(), deletion_op = '${OP}' WHERE workspace_id = ${ws} AND deleted_at IS NULL;
  UPDATE public.comments c SET deleted_at = now(), deletion_op = '${OP}'
    FROM public.issues i WHERE i.workspace_id = ${ws} AND c.issue_id = i.id AND c.deleted_at IS NULL;`;

// The hand-written restore of an operation: clear the marks of its rows, one UPDATE per table.
const handRestore = (op: string) =>
  ['workspaces', 'projects', 'issues', 'comments']
    .map((t) => `UPDATE public.${t} SET deleted_at = NULL, deleted_by = NULL, deletion_reason = NULL, deletion_op = NULL WHERE deletion_op = '${op}';`)
    .join('\n');

export default {
  name: 'soft_delete',
  description: 'RLS + partial-index lookup vs a plain table; workspace soft delete and restore vs hand-written UPDATEs',
  async run(ctx) {
    const small = ctx.scale === 'small';
    const db = await ctx.database();
    const c = await db.client();
    try {
      // Two workspaces; the default scale gives each one well over 100,000 soft-delete rows.
      const counts = await ctx.generate(c, small ? 2_000 : 30_000, 2);
      ctx.log(`generated ${Object.entries(counts).map(([t, n]) => `${t} ${n}`).join(', ')}`);
      const { rows: [ws] } = await c.query<{ id: number }>('SELECT id FROM public.workspaces ORDER BY id LIMIT 1');
      const { rows: [subtree] } = await c.query<{ n: number }>(`
        SELECT (SELECT count(*) FROM public.workspaces WHERE id = $1) + (SELECT count(*) FROM public.projects WHERE workspace_id = $1)
             + (SELECT count(*) FROM public.issues WHERE workspace_id = $1)
             + (SELECT count(*) FROM public.comments c JOIN public.issues i ON i.id = c.issue_id WHERE i.workspace_id = $1) AS n`, [ws.id]);
      ctx.log(`workspace ${ws.id}: ${subtree.n} rows in soft-delete tables`);

      // 1. Lookup by unique key. The generator makes few users (N/200 per workspace); add enough that
      //    both sides use their unique index, then soft-delete one user in ten.
      await c.query(`INSERT INTO public.users (email, name) SELECT 'extra' || g || '@bench.example', 'Extra ' || g
                       FROM generate_series(1, $1::int) g`, [small ? 20_000 : 200_000]);
      await c.query(`
        UPDATE public.users SET deleted_at = now(), deletion_op = gen_random_uuid() WHERE id % 10 = 0 AND email LIKE 'extra%';
        CREATE TABLE bench.users_plain AS SELECT * FROM public.users;
        ALTER TABLE bench.users_plain ADD PRIMARY KEY (id);
        CREATE UNIQUE INDEX ON bench.users_plain (email);
        DO $r$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bench_app') THEN CREATE ROLE bench_app LOGIN IN ROLE deletion_app; END IF;
        END $r$;
        GRANT USAGE ON SCHEMA bench TO deletion_app;
        GRANT SELECT ON public.users TO deletion_app;
        CREATE FUNCTION bench.lookup_users(emails text[], plain boolean) RETURNS integer
        LANGUAGE plpgsql AS $f$
        DECLARE e text; found_rows integer := 0; r record;
        BEGIN
          FOREACH e IN ARRAY emails LOOP
            IF plain THEN SELECT * INTO r FROM bench.users_plain WHERE email = e;
            ELSE SELECT * INTO r FROM public.users WHERE email = e; END IF;
            IF FOUND THEN found_rows := found_rows + 1; END IF;
          END LOOP;
          RETURN found_rows;
        END $f$;
        GRANT EXECUTE ON FUNCTION bench.lookup_users(text[], boolean) TO deletion_app;`);
      await c.query('VACUUM ANALYZE public.users, bench.users_plain');
      const lookups = small ? 20_000 : 100_000;
      const { rows: [emails] } = await c.query<{ list: string[] }>(
        `SELECT array_agg(email ORDER BY random()) AS list FROM (SELECT email FROM public.users WHERE deleted_at IS NULL) u, generate_series(1, $1::int / (SELECT count(*) FROM public.users WHERE deleted_at IS NULL)::int + 1)`,
        [lookups]);
      const list = emails.list.slice(0, lookups);
      const oursLookup: number[] = [];
      const refLookup: number[] = [];
      for (let i = 0; i < 7; i++) {
        await c.query('SET ROLE bench_app');
        let found = 0;
        oursLookup.push(await timed(async () => (found = (await c.query('SELECT bench.lookup_users($1, false) AS n', [list])).rows[0].n)));
        await c.query('RESET ROLE');
        if (found !== list.length) throw new Error(`the application role found ${found} of ${list.length} active users`);
        refLookup.push(await timed(() => c.query('SELECT bench.lookup_users($1, true) AS n', [list])));
      }
      ctx.record(`lookup of ${lookups} active users by email: app role (RLS, partial unique index) vs owner on a plain table`,
                 median(oursLookup), median(refLookup), 'ms', '<= 1.10');

      // 2. Soft delete of the workspace subtree.
      const runs = small ? 5 : 3;
      await c.query('VACUUM ANALYZE');
      const del = await sideBySide(c, runs, `SELECT deletion.soft_delete('public.workspaces', '${ws.id}')`, handSoftDelete(ws.id));
      ctx.record(`soft delete of a workspace subtree (${subtree.n} rows): deletion.soft_delete vs hand-written UPDATEs`,
                 del.ours, del.reference, 'ms', '<= 1.2');

      // 3. Restore of it.
      const { rows: [op] } = await c.query<{ op: string }>(`SELECT deletion.soft_delete('public.workspaces', '${ws.id}') AS op`);
      await c.query('VACUUM ANALYZE');
      const res = await sideBySide(c, runs, `SELECT deletion.restore('${op.op}')`, handRestore(op.op));
      ctx.record(`restore of that workspace subtree: deletion.restore (checks included) vs hand-written UPDATEs`,
                 res.ours, res.reference, 'ms', '<= 1.2');
    } finally {
      await c.end();
      await db.drop();
    }
  },
} satisfies Bench;

// Deleting a workspace of at least 1,000,000 rows (issue 6), three ways on three copies of the same
// database, in one run:
//   (a) one DELETE FROM workspaces, ON DELETE CASCADE doing the rest, on the same (audited, wired)
//       tables; and the same DELETE on a plain copy of the tables (bench/harness.ts plainCopy: same
//       keys, foreign keys and indexes, no engine objects), the floor;
//   (b) Sentry's default style, on the plain copy: fetch 100 ids of a table's rows in the tree,
//       delete each row by itself, leaves first. At 1M rows this takes more than ten minutes (681 s measured here), so
//       it runs on a fixed sample (SAMPLE rows of each of the four big tables) and its per-row
//       time per table is extrapolated to the whole tree: an estimate, said so in the output;
//   (c) our worker: `deletion-kit worker --once` (a real process) on a scheduled hard-delete job.
// Also: the longest chunk transaction of (c) (the planning transaction reported beside it), and
// the write throughput on ANOTHER workspace (single-row updates, one transaction each) while idle,
// during (c) and during (a). Then, on workspace 2 (the same tree, generated alike):
//   (d) a soft job (`worker --once` on a scheduled soft delete) against (e) one deletion.soft_delete
//       of the same tree on another copy, and the soft job's longest chunk;
//   (f) a hard job while a writer inserts under another workspace and under the tree being deleted
//       (comments on its issues): the job's longest deleting chunk, and that nothing is left.
import pg from 'pg';
import { connectTo, plainCopy, planRowsPerTable, runWorker, timed, urlOf, type Bench, type BenchContext } from './harness.ts';

const SAMPLE = 2000;

/** Single-row updates of issues in workspace 2, one transaction each, until stopped: writes per second. */
function writeLoad(url: string) {
  let stop = false;
  let writes = 0;
  let started = Date.now();
  const done = (async () => {
    const c = await connectTo(url);
    const { rows } = await c.query('SELECT min(id)::int AS lo, max(id)::int AS hi FROM public.issues WHERE workspace_id = 2');
    const { lo, hi } = rows[0];
    started = Date.now();  // the rate counts writing time only, not connecting and finding the ids
    while (!stop) {
      await c.query('UPDATE public.issues SET title = title WHERE id = $1', [lo + Math.floor(Math.random() * (hi - lo + 1))]);
      writes++;
    }
    await c.end();
  })();
  return {
    async stop() {
      stop = true;
      await done;
      return writes / ((Date.now() - started) / 1000);
    },
  };
}

async function idleRate(url: string, ms: number) {
  const load = writeLoad(url);
  await new Promise((r) => setTimeout(r, ms));
  return load.stop();
}

/**
 * Inserts until stopped, one transaction each: an issue with a comment in another workspace, and a
 * comment on a random issue of the tree being deleted (refused once the job has taken that issue:
 * a foreign key or live-parent error, counted). Returns how many of each.
 */
function treeWriter(url: string, otherWorkspace: number, treeWorkspace: number) {
  let stop = false;
  const counts = { other: 0, underTree: 0, refused: 0 };
  const done = (async () => {
    const c = await connectTo(url);
    const { rows } = await c.query(`SELECT (SELECT min(id) FROM public.users)::bigint AS author,
                                           (SELECT min(id) FROM public.issues WHERE workspace_id = $1)::bigint AS lo,
                                           (SELECT max(id) FROM public.issues WHERE workspace_id = $1)::bigint AS hi`, [treeWorkspace]);
    const { author, lo, hi } = rows[0];
    while (!stop) {
      await c.query(`WITH i AS (INSERT INTO public.issues (workspace_id, creator_id, title, status) VALUES ($1, $2, 'written during the job', 'todo') RETURNING id)
                     INSERT INTO public.comments (issue_id, author_id, body) SELECT id, $2, 'a comment' FROM i`, [otherWorkspace, author]);
      counts.other++;
      try {
        await c.query(`INSERT INTO public.comments (issue_id, author_id, body) VALUES ($1, $2, 'late comment')`,
                      [Number(lo) + Math.floor(Math.random() * (Number(hi) - Number(lo) + 1)), author]);
        counts.underTree++;
      } catch {
        counts.refused++;
      }
    }
    await c.end();
  })();
  return {
    async stop() {
      stop = true;
      await done;
      return counts;
    },
  };
}

/** The chunks of a worker run: the planning ones (before the first that deleted or marked a row) and the rest. */
function chunkFigures(chunks: { ms: number; deleted: number }[]) {
  const planned = Math.max(1, chunks.findIndex((e) => e.deleted > 0));
  const planning = chunks.slice(0, planned).map((e) => e.ms);
  const deleting = chunks.slice(planned).map((e) => e.ms).sort((x, y) => x - y);
  return {
    planning,
    longestPlan: Math.max(...planning),
    longest: deleting.at(-1) ?? 0,
    p50: deleting[Math.floor(deleting.length / 2)] ?? 0,
    p99: deleting[Math.floor(deleting.length * 0.99)] ?? 0,
  };
}

/** Sentry's default deletion of the four big tables' rows, on a sample: ms per row for each table. */
async function sentryPerRow(c: pg.Client, ctx: BenchContext): Promise<Record<string, number>> {
  await c.query(`SET deletion.mode = 'hard'`);
  const finders: Record<string, { find: string; del: string }> = {
    'plain.comment_reactions': {
      find: `SELECT r.id FROM plain.comment_reactions r JOIN plain.comments c ON c.id = r.comment_id JOIN plain.issues i ON i.id = c.issue_id WHERE i.workspace_id = 1 LIMIT 100`,
      del: 'DELETE FROM plain.comment_reactions WHERE id = $1',
    },
    'plain.issue_label_relations': {
      find: `SELECT r.issue_id, r.label_id FROM plain.issue_label_relations r JOIN plain.issues i ON i.id = r.issue_id WHERE i.workspace_id = 1 LIMIT 100`,
      del: 'DELETE FROM plain.issue_label_relations WHERE issue_id = $1 AND label_id = $2',
    },
    'plain.comments': {
      find: `SELECT c.id FROM plain.comments c JOIN plain.issues i ON i.id = c.issue_id WHERE i.workspace_id = 1 ORDER BY c.id DESC LIMIT 100`,
      del: 'DELETE FROM plain.comments WHERE id = $1',
    },
    'plain.issues': {
      find: `SELECT i.id FROM plain.issues i WHERE i.workspace_id = 1 ORDER BY i.id DESC LIMIT 100`,
      del: 'DELETE FROM plain.issues WHERE id = $1',
    },
  };
  const perRow: Record<string, number> = {};
  for (const [table, q] of Object.entries(finders)) {
    let done = 0;
    const ms = await timed(async () => {
      while (done < SAMPLE) {
        const { rows } = await c.query({ text: q.find, rowMode: 'array' });
        if (rows.length === 0) break;
        for (const r of rows) {
          await c.query(q.del, r);
          done++;
        }
      }
    });
    perRow[table] = ms / Math.max(done, 1);
    ctx.log(`(b) ${table}: ${done} rows one by one in ${ms.toFixed(0)} ms, ${perRow[table].toFixed(3)} ms/row`);
  }
  return perRow;
}

export default {
  name: 'jobs',
  description: 'deleting a 1M-row workspace: one cascading DELETE vs Sentry-style row by row vs the chunked worker; a soft job vs one soft_delete; a job under a writer',
  async run(ctx) {
    const issues = ctx.scale === 'small' ? 10_000 : 150_000;
    const source = await ctx.database();
    const admin = await connectTo(ctx.cluster.adminUrl);
    const copies: string[] = [];
    try {
      const c = await source.client();
      const perTable = await ctx.generate(c, issues, 2);
      await c.end();
      ctx.log(`generated 2 workspaces of ${issues} issues: ${Object.values(perTable).reduce((a, b) => a + b, 0)} rows`);
      for (const name of ['a', 'b', 'c'].map((x) => `${source.name}_${x}`)) {
        await admin.query(`CREATE DATABASE ${name} TEMPLATE ${source.name}`);
        copies.push(name);
      }
      const [urlA, urlB, urlC] = copies.map((n) => urlOf(ctx.cluster.adminUrl, n));

      // The tree's size, per table, from the engine's own plan (run on copy b, then thrown away).
      const cb = await connectTo(urlB);
      const treeRows = await planRowsPerTable(cb);
      const total = Object.values(treeRows).reduce((a, b) => a + b, 0) + 1;
      ctx.log(`workspace 1's tree: ${total} rows: ${JSON.stringify(treeRows)}`);

      // (c) our worker, with writes to workspace 2 going on.
      const idleC = await idleRate(urlC, 5000);
      const cc = await connectTo(urlC);
      await cc.query(`SELECT deletion.schedule('public.workspaces', '1', hard => true, reason => 'bench')`);
      const loadC = writeLoad(urlC);
      const worker = await runWorker(urlC);
      const duringC = await loadC.stop();
      const left = (await cc.query('SELECT count(*)::int AS n FROM public.issues WHERE workspace_id = 1')).rows[0].n;
      if (left !== 0) throw new Error(`the worker left ${left} issues of workspace 1`);
      await cc.end();
      // The chunks before the first that deleted a row planned the tree, a table or more each.
      const hard = chunkFigures(worker.chunks);
      const longest = hard.longest;
      const slowest = [...worker.chunks.slice(hard.planning.length)].sort((x, y) => y.ms - x.ms).slice(0, 3);
      ctx.log(`(c) slowest deleting chunks: ${slowest.map((e) => `${e.ms} ms (${e.deleted} rows, ${e.remaining} left)`).join(', ')}`);
      ctx.log(`(c) worker: ${(worker.ms / 1000).toFixed(1)} s, ${worker.chunks.length} chunks; planning: ${hard.planning.length} transactions, ` +
        `${hard.planning.reduce((a, b) => a + b, 0)} ms in all, longest ${hard.longestPlan} ms; ` +
        `deleting chunks p50 ${hard.p50} ms, p99 ${hard.p99} ms, max ${longest} ms`);
      ctx.log(`writes on workspace 2: idle ${idleC.toFixed(0)}/s, during (c) ${duringC.toFixed(0)}/s`);

      // (a) one DELETE, with the same writes going on.
      const ca = await connectTo(urlA);
      await plainCopy(ca);
      await ca.query('CHECKPOINT');
      const idleA = await idleRate(urlA, 5000);
      const loadA = writeLoad(urlA);
      // workspaces, issues and comments are soft-delete tables: a plain DELETE by an admin becomes a
      // hard delete only with deletion.mode = 'hard' (the worker's chunks set it too).
      await ca.query(`SET deletion.mode = 'hard'`);
      const aMs = await timed(() => ca.query('DELETE FROM public.workspaces WHERE id = 1'));
      const duringA = await loadA.stop();
      // the plain floor: the same DELETE on the copy (made before (a), so it holds the whole tree)
      const plainMs = await timed(() => ca.query('DELETE FROM plain.workspaces WHERE id = 1'));
      await ca.end();
      ctx.log(`(a) the same DELETE on a plain copy of the tables: ${(plainMs / 1000).toFixed(1)} s`);
      ctx.log(`(a) one DELETE: ${(aMs / 1000).toFixed(1)} s; writes on workspace 2: idle ${idleA.toFixed(0)}/s, during (a) ${duringA.toFixed(0)}/s`);

      // (b) Sentry style on the plain copy, sampled and extrapolated.
      await plainCopy(cb);
      const perRow = await sentryPerRow(cb, ctx);
      await cb.end();
      const sampled = Object.keys(perRow);
      const meanPerRow = sampled.reduce((a, t) => a + perRow[t], 0) / sampled.length;
      const bMs = Object.entries(treeRows).reduce((sum, [t, n]) => sum + n * (perRow[t] ?? meanPerRow), 0);
      ctx.log(`(b) Sentry style, ESTIMATED from ${SAMPLE} rows of each of ${sampled.length} tables: ${(bMs / 1000).toFixed(0)} s for ${total} rows`);

      // (d) a soft job on copy a's workspace 2 against (e) one deletion.soft_delete of it on copy b:
      // the same tree (the generator makes both workspaces alike), one run each at this size.
      const da = await connectTo(urlA);
      const eb = await connectTo(urlB);
      await da.query('VACUUM ANALYZE');
      await eb.query('VACUUM ANALYZE');
      const softJobId = (await da.query(`SELECT deletion.schedule('public.workspaces', '2', reason => 'bench soft job') AS id`)).rows[0].id;
      const softJob = await runWorker(urlA);
      const softLeft = (await da.query('SELECT count(*)::int AS n FROM public.issues WHERE workspace_id = 2 AND deleted_at IS NULL')).rows[0].n;
      if (softLeft !== 0) throw new Error(`the soft job left ${softLeft} issues of workspace 2 active`);
      const softRows = Number((await da.query('SELECT rows_deleted FROM deletion.deletion_jobs WHERE id = $1', [softJobId])).rows[0].rows_deleted);
      await da.end();
      let softOp = '';
      const softDeleteMs = await timed(async () => {
        softOp = (await eb.query(`SELECT deletion.soft_delete('public.workspaces', '2', 'bench soft delete') AS op`)).rows[0].op;
      });
      const softDeleted = Number((await eb.query(`SELECT sum(value::bigint) AS n FROM deletion.soft_delete_operations, jsonb_each_text(rows_per_table) WHERE op = $1`, [softOp])).rows[0].n);
      await eb.end();
      if (softDeleted !== softRows) throw new Error(`the soft job marked ${softRows} rows, the soft delete of the same tree ${softDeleted}`);
      const soft = chunkFigures(softJob.chunks);
      ctx.log(`(d) soft job: ${(softJob.ms / 1000).toFixed(1)} s, ${softJob.chunks.length} chunks; planning ${soft.planning.length} transactions, longest ${soft.longestPlan} ms; ` +
              `marking chunks p50 ${soft.p50} ms, p99 ${soft.p99} ms, max ${soft.longest} ms; (e) one deletion.soft_delete of the same ${softRows}-row tree: ${(softDeleteMs / 1000).toFixed(1)} s`);

      // (f) a hard job on copy c's workspace 2 while a writer inserts under another workspace (3, made
      // here) and under the tree being deleted.
      const fc = await connectTo(urlC);
      await fc.query(`INSERT INTO public.workspaces (id, name, slug) OVERRIDING SYSTEM VALUE VALUES (3, 'Other tenant', 'other-tenant')`);
      await fc.query('VACUUM ANALYZE');
      await fc.query(`SELECT deletion.schedule('public.workspaces', '2', hard => true, reason => 'bench job under writers')`);
      const writer = treeWriter(urlC, 3, 2);
      const writtenJob = await runWorker(urlC);
      const written = await writer.stop();
      const writtenLeft = (await fc.query(`SELECT (SELECT count(*) FROM public.issues WHERE workspace_id = 2)
                                                + (SELECT count(*) FROM public.comments c JOIN public.issues i ON i.id = c.issue_id WHERE i.workspace_id = 2) AS n`)).rows[0].n;
      await fc.end();
      if (Number(writtenLeft) !== 0) throw new Error(`the job under writers left ${writtenLeft} rows of workspace 2`);
      const underWriters = chunkFigures(writtenJob.chunks);
      ctx.log(`(f) hard job under a writer: ${(writtenJob.ms / 1000).toFixed(1)} s, ${writtenJob.chunks.length} chunks; deleting chunks p50 ${underWriters.p50} ms, ` +
              `p99 ${underWriters.p99} ms, max ${underWriters.longest} ms; the writer: ${written.other} issues with a comment in workspace 3, ` +
              `${written.underTree} comments under the tree taken by the job, ${written.refused} refused`);

      ctx.record(`(c) worker total time vs (a) one DELETE of the same ${total}-row tree on the same (audited) tables`, worker.ms, aMs, 'ms', '<= 1.2');
      ctx.record(`(c) worker total time vs the plain DELETE of the ${total}-row tree on a copy with no engine objects`, worker.ms, plainMs, 'ms', 'none');
      ctx.record(`(a) one DELETE on the audited tables vs the same DELETE on the plain copy`, aMs, plainMs, 'ms', 'none');
      ctx.record('(b) Sentry row by row on the plain copy (estimated) vs (c) worker', bMs, worker.ms, 'ms', '>= 20');
      ctx.record('(c) longest deleting chunk transaction vs 200 ms', longest, 200, 'ms', '<= 1');
      ctx.record('(c) longest planning transaction (reads only) vs 200 ms', hard.longestPlan, 200, 'ms', '<= 1');
      ctx.record('writes/s on another workspace during (c) vs idle', duringC, idleC, 'writes/s', '>= 0.8');
      ctx.record('writes/s on another workspace during (a) vs idle', duringA, idleA, 'writes/s', '>= 0');
      ctx.record(`(d) soft job total time vs (e) one deletion.soft_delete of the same ${softRows}-row tree`, softJob.ms, softDeleteMs, 'ms', '<= 1.3');
      ctx.record('(d) soft job: longest marking chunk transaction vs 200 ms', soft.longest, 200, 'ms', '<= 1');
      ctx.record('(d) soft job: longest planning transaction (reads only) vs 200 ms', soft.longestPlan, 200, 'ms', '<= 1');
      ctx.record('(f) hard job under a writer (inserts in another workspace and under the tree): longest deleting chunk vs 200 ms', underWriters.longest, 200, 'ms', '<= 1');
      ctx.record('(f) hard job under a writer: longest deleting chunk vs (c) the same job without one', underWriters.longest, longest, 'ms', 'none');
    } finally {
      for (const name of copies) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
      await admin.end();
      await source.drop();
    }
  },
} satisfies Bench;

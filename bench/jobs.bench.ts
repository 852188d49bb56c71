// Deleting a workspace of at least 1,000,000 rows (issue 6), three ways on three copies of the same
// database, in one run:
//   (a) one DELETE FROM workspaces, ON DELETE CASCADE doing the rest, on the same (audited, wired)
//       tables; and the same DELETE on a plain copy of the tables (bench/harness.ts plainCopy: same
//       keys, foreign keys and indexes, no engine objects), the floor; and that DELETE plus one
//       INSERT of the rows ours logged into a table shaped like audit.log, the floor of an audited one;
//   (b) Sentry's default style, on the plain copy: fetch 100 ids of a table's rows in the tree,
//       delete each row by itself, leaves first. At 1M rows this takes more than ten minutes (681 s measured here), so
//       it runs on a fixed sample (SAMPLE rows of each of the four big tables) and its per-row
//       time per table is extrapolated to the whole tree: an estimate, said so in the output;
//   (c) our worker: `deletion-kit worker --once` (a real process) on a scheduled hard-delete job.
// (a) and (c) run twice each, on copies of their own, (c) first in the first round and (a) first in
// the second; every timed side starts from a CHECKPOINT; the figures are the medians.
// Also: the longest chunk transaction of (c) (the planning transaction reported beside it), and
// the write throughput on ANOTHER workspace (single-row updates, one transaction each) while idle,
// during (c) and during (a). Then, on workspace 2 (the same tree, generated alike):
//   (d) a soft job (`worker --once` on a scheduled soft delete) against (e) one deletion.soft_delete
//       of the same tree on another copy, twice each, sides alternating, and the soft job's longest chunk;
//   (f) a hard job while a writer inserts under another workspace and under the tree being deleted
//       (comments on its issues): the job's longest deleting chunk, and that nothing is left.
// The chunk bounds are also given over the chunks that no checkpoint's sync phase overlapped (read
// from the cluster's log): while a checkpoint fsyncs the data files, any statement whose writes reach
// the disk waits, whatever its size.
import pg from 'pg';
import { checkpointSyncs, connectTo, duringCheckpointSync, median, plainCopy, planRowsPerTable, runWorker, timed, urlOf, type Bench, type BenchContext,
         type WorkerChunk } from './harness.ts';

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
  })().catch((err: Error) => err);  // kept for stop(): a loop whose connection a failed run's cleanup ends must not crash the process
  return {
    async stop() {
      stop = true;
      const failure = await done;
      if (failure) throw failure;
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
  })().catch((err: Error) => err);
  return {
    async stop() {
      stop = true;
      const failure = await done;
      if (failure) throw failure;
      return counts;
    },
  };
}

/**
 * The chunks of a worker run: the planning ones (before the first that deleted or marked a row) and
 * the rest; the longest of each that no checkpoint's sync phase overlapped (`calm`: disk writes wait
 * on those fsyncs, whatever the chunk's size); and the chunks over 200 ms, saying which ran during one.
 */
function chunkFigures(chunks: WorkerChunk[], syncs: { start: number; end: number }[]) {
  const planned = Math.max(1, chunks.findIndex((e) => e.deleted > 0));
  const planning = chunks.slice(0, planned).map((e) => e.ms);
  const deleting = chunks.slice(planned).map((e) => e.ms).sort((x, y) => x - y);
  const calm = (list: WorkerChunk[]) => Math.max(0, ...list.filter((e) => !duringCheckpointSync(e, syncs)).map((e) => e.ms));
  return {
    planning,
    longestPlan: Math.max(...planning),
    longestPlanCalm: calm(chunks.slice(0, planned)),
    longest: deleting.at(-1) ?? 0,
    longestCalm: calm(chunks.slice(planned)),
    p50: deleting[Math.floor(deleting.length / 2)] ?? 0,
    p99: deleting[Math.floor(deleting.length * 0.99)] ?? 0,
    over: chunks.filter((e) => e.ms > 200).map((e) => `${e.ms} ms${duringCheckpointSync(e, syncs) ? ' (during a checkpoint\'s sync)' : ''}`).join(', ') || 'none',
  };
}

/** The three slowest chunks after the planning ones, as text: milliseconds, rows, rows left (which step they were in). */
function slowestChunks(chunks: WorkerChunk[], figures: { planning: number[] }) {
  return [...chunks.slice(figures.planning.length)].sort((x, y) => y.ms - x.ms).slice(0, 3)
    .map((e) => `${e.ms} ms (${e.phase}, ${e.deleted} rows, ${e.remaining} left)`).join(', ');
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
      // Five copies: two for (a) and two for (c), so that each runs twice, the order of the two sides
      // reversed in the second round; b for the tree's size and (b). Workspace 2's tree (made alike)
      // serves the soft-job rounds and (f).
      const names = ['a1', 'a2', 'c1', 'c2', 'b'];
      for (const name of names.map((x) => `${source.name}_${x}`)) {
        await admin.query(`CREATE DATABASE ${name} TEMPLATE ${source.name}`);
        copies.push(name);
      }
      const url = Object.fromEntries(names.map((x, i) => [x, urlOf(ctx.cluster.adminUrl, copies[i])]));
      // Every timed side starts from a checkpoint: copying databases writes gigabytes of WAL, and
      // the checkpoint it starts would otherwise go on under whichever side runs first.
      const checkpoint = () => admin.query('CHECKPOINT');

      // The tree's size, per table, from the engine's own plan (run on copy b, then thrown away).
      const cb = await connectTo(url.b);
      const treeRows = await planRowsPerTable(cb);
      const total = Object.values(treeRows).reduce((a, b) => a + b, 0) + 1;
      ctx.log(`workspace 1's tree: ${total} rows: ${JSON.stringify(treeRows)}`);

      // (c) our worker, with writes to workspace 2 going on.
      const runC = async (copy: string) => {
        await checkpoint();
        const idle = await idleRate(url[copy], 5000);
        const cc = await connectTo(url[copy]);
        await cc.query(`SELECT deletion.schedule('public.workspaces', '1', hard => true, reason => 'bench')`);
        const load = writeLoad(url[copy]);
        const worker = await runWorker(url[copy]);
        const during = await load.stop();
        const left = (await cc.query('SELECT count(*)::int AS n FROM public.issues WHERE workspace_id = 1')).rows[0].n;
        if (left !== 0) throw new Error(`the worker left ${left} issues of workspace 1`);
        await cc.end();
        // The chunks before the first that deleted a row planned the tree, a table or more each.
        const figures = chunkFigures(worker.chunks, checkpointSyncs(ctx.cluster));
        ctx.log(`(c) on ${copy}: slowest deleting chunks: ${slowestChunks(worker.chunks, figures)}`);
        ctx.log(`(c) on ${copy}: worker ${(worker.ms / 1000).toFixed(1)} s, ${worker.chunks.length} chunks; planning: ${figures.planning.length} transactions, ` +
          `${figures.planning.reduce((a, b) => a + b, 0)} ms in all, longest ${figures.longestPlan} ms; ` +
          `deleting chunks p50 ${figures.p50} ms, p99 ${figures.p99} ms, max ${figures.longest} ms; writes on workspace 2: idle ${idle.toFixed(0)}/s, during ${during.toFixed(0)}/s; ` +
          `chunks over 200 ms: ${figures.over}`);
        return { ms: worker.ms, figures, idle, during };
      };
      // (a) one DELETE, with the same writes going on; then the plain floor, the same DELETE on a
      // plain copy made before (a), so that it holds the whole tree.
      const runA = async (copy: string) => {
        const ca = await connectTo(url[copy]);
        await plainCopy(ca);
        await checkpoint();
        const idle = await idleRate(url[copy], 5000);
        const load = writeLoad(url[copy]);
        // workspaces, issues and comments are soft-delete tables: a plain DELETE by an admin becomes a
        // hard delete only with deletion.mode = 'hard' (the worker's chunks set it too).
        await ca.query(`SET deletion.mode = 'hard'`);
        const ms = await timed(() => ca.query('DELETE FROM public.workspaces WHERE id = 1'));
        const during = await load.stop();
        // The least any log of this delete can cost: the rows ours logged for it (its transaction's,
        // not the writer's), kept aside, go into a table shaped and indexed like audit.log by one
        // INSERT, after the plain DELETE. Staging them is not timed.
        await ca.query(`CREATE TABLE bench.staged_rows AS
                          SELECT txid, statement_seq, table_name, action, record_id, primary_key, old_data, changed, via_cascade
                            FROM audit.log WHERE txid = (SELECT txid FROM audit.log WHERE table_name = 'public.workspaces' AND action = 'DELETE' AND record_id = '1')
                           ORDER BY id`);
        await ca.query('CREATE TABLE bench.floor_log (LIKE audit.log INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)');
        const logged = Number((await ca.query('SELECT count(*) AS n FROM bench.staged_rows')).rows[0].n);
        await checkpoint();
        const plainMs = await timed(() => ca.query('DELETE FROM plain.workspaces WHERE id = 1'));
        const insertMs = await timed(() => ca.query(`
          INSERT INTO bench.floor_log (txid, statement_seq, table_name, action, record_id, primary_key, old_data, changed, via_cascade)
          SELECT txid, statement_seq, table_name, action, record_id, primary_key, old_data, changed, via_cascade FROM bench.staged_rows`));
        await ca.query('DROP TABLE bench.staged_rows, bench.floor_log');  // the soft-job rounds run on this copy later
        await ca.end();
        ctx.log(`(a) on ${copy}: one DELETE ${(ms / 1000).toFixed(1)} s, on the plain copy ${(plainMs / 1000).toFixed(1)} s, ` +
          `plus one INSERT of the ${logged} rows ours logged ${(insertMs / 1000).toFixed(1)} s; ` +
          `writes on workspace 2: idle ${idle.toFixed(0)}/s, during (a) ${during.toFixed(0)}/s`);
        return { ms, plainMs, floorMs: plainMs + insertMs, idle, during };
      };
      // Round 1: (c) then (a); round 2: (a) then (c).
      const c1 = await runC('c1');
      const a1 = await runA('a1');
      const a2 = await runA('a2');
      const c2 = await runC('c2');
      const workerMs = median([c1.ms, c2.ms]);
      const aMs = median([a1.ms, a2.ms]);
      const plainMs = median([a1.plainMs, a2.plainMs]);
      const floorMs = median([a1.floorMs, a2.floorMs]);
      const longest = Math.max(c1.figures.longest, c2.figures.longest);
      const longestPlan = Math.max(c1.figures.longestPlan, c2.figures.longestPlan);
      ctx.log(`(c)/(a) by round: ${(c1.ms / a1.ms).toFixed(2)}, ${(c2.ms / a2.ms).toFixed(2)}; medians: worker ${(workerMs / 1000).toFixed(1)} s, ` +
              `one DELETE ${(aMs / 1000).toFixed(1)} s, plain ${(plainMs / 1000).toFixed(1)} s`);

      // (b) Sentry style on the plain copy, sampled and extrapolated.
      await plainCopy(cb);
      const perRow = await sentryPerRow(cb, ctx);
      await cb.end();
      const sampled = Object.keys(perRow);
      const meanPerRow = sampled.reduce((a, t) => a + perRow[t], 0) / sampled.length;
      const bMs = Object.entries(treeRows).reduce((sum, [t, n]) => sum + n * (perRow[t] ?? meanPerRow), 0);
      ctx.log(`(b) Sentry style, ESTIMATED from ${SAMPLE} rows of each of ${sampled.length} tables: ${(bMs / 1000).toFixed(0)} s for ${total} rows`);

      // (d) a soft job against (e) one deletion.soft_delete of workspace 2's tree (alike on every
      // copy), twice each, the order reversed in the second round: (d) on a1 and a2, (e) on b and c1.
      const runD = async (copy: string) => {
        const da = await connectTo(url[copy]);
        await da.query('VACUUM ANALYZE');
        await checkpoint();
        const id = (await da.query(`SELECT deletion.schedule('public.workspaces', '2', reason => 'bench soft job') AS id`)).rows[0].id;
        const job = await runWorker(url[copy]);
        const left = (await da.query('SELECT count(*)::int AS n FROM public.issues WHERE workspace_id = 2 AND deleted_at IS NULL')).rows[0].n;
        if (left !== 0) throw new Error(`the soft job left ${left} issues of workspace 2 active`);
        const rows = Number((await da.query('SELECT rows_deleted FROM deletion.deletion_jobs WHERE id = $1', [id])).rows[0].rows_deleted);
        await da.end();
        const figures = chunkFigures(job.chunks, checkpointSyncs(ctx.cluster));
        ctx.log(`(d) on ${copy}: slowest marking chunks: ${slowestChunks(job.chunks, figures)}`);
        ctx.log(`(d) on ${copy}: soft job ${(job.ms / 1000).toFixed(1)} s, ${job.chunks.length} chunks; planning ${figures.planning.length} transactions, ` +
                `longest ${figures.longestPlan} ms; marking chunks p50 ${figures.p50} ms, p99 ${figures.p99} ms, max ${figures.longest} ms; ${rows} rows; ` +
                `chunks over 200 ms: ${figures.over}`);
        return { ms: job.ms, rows, figures };
      };
      const runE = async (copy: string) => {
        const eb = await connectTo(url[copy]);
        await eb.query('VACUUM ANALYZE');
        await checkpoint();
        let op = '';
        const ms = await timed(async () => {
          op = (await eb.query(`SELECT deletion.soft_delete('public.workspaces', '2', 'bench soft delete') AS op`)).rows[0].op;
        });
        const rows = Number((await eb.query(`SELECT sum(value::bigint) AS n FROM deletion.soft_delete_operations, jsonb_each_text(rows_per_table) WHERE op = $1`, [op])).rows[0].n);
        await eb.end();
        ctx.log(`(e) on ${copy}: one deletion.soft_delete ${(ms / 1000).toFixed(1)} s, ${rows} rows`);
        return { ms, rows };
      };
      const d1 = await runD('a1');
      const e1 = await runE('b');
      const e2 = await runE('c1');
      const d2 = await runD('a2');
      for (const [d, e] of [[d1, e1], [d2, e2]]) {
        if (d.rows !== e.rows) throw new Error(`the soft job marked ${d.rows} rows, the soft delete of the same tree ${e.rows}`);
      }
      const softJobMs = median([d1.ms, d2.ms]);
      const softDeleteMs = median([e1.ms, e2.ms]);
      ctx.log(`(d)/(e) by round: ${(d1.ms / e1.ms).toFixed(2)}, ${(d2.ms / e2.ms).toFixed(2)}`);

      // (f) a hard job on copy c2's workspace 2 while a writer inserts under another workspace (3,
      // made here) and under the tree being deleted.
      const fc = await connectTo(url.c2);
      await fc.query(`INSERT INTO public.workspaces (id, name, slug) OVERRIDING SYSTEM VALUE VALUES (3, 'Other tenant', 'other-tenant')`);
      await fc.query('VACUUM ANALYZE');
      await checkpoint();
      await fc.query(`SELECT deletion.schedule('public.workspaces', '2', hard => true, reason => 'bench job under writers')`);
      const writer = treeWriter(url.c2, 3, 2);
      const writtenJob = await runWorker(url.c2);
      const written = await writer.stop();
      const writtenLeft = (await fc.query(`SELECT (SELECT count(*) FROM public.issues WHERE workspace_id = 2)
                                                + (SELECT count(*) FROM public.comments c JOIN public.issues i ON i.id = c.issue_id WHERE i.workspace_id = 2) AS n`)).rows[0].n;
      await fc.end();
      if (Number(writtenLeft) !== 0) throw new Error(`the job under writers left ${writtenLeft} rows of workspace 2`);
      const underWriters = chunkFigures(writtenJob.chunks, checkpointSyncs(ctx.cluster));
      ctx.log(`(f) slowest deleting chunks: ${slowestChunks(writtenJob.chunks, underWriters)}`);
      ctx.log(`(f) hard job under a writer: ${(writtenJob.ms / 1000).toFixed(1)} s, ${writtenJob.chunks.length} chunks; deleting chunks p50 ${underWriters.p50} ms, ` +
              `p99 ${underWriters.p99} ms, max ${underWriters.longest} ms; the writer: ${written.other} issues with a comment in workspace 3, ` +
              `${written.underTree} comments under the tree taken by the job, ${written.refused} refused; chunks over 200 ms: ${underWriters.over}`);

      ctx.record(`(c) worker total time vs (a) one DELETE of the same ${total}-row tree on the same (audited) tables (medians of 2 rounds)`, workerMs, aMs, 'ms', '<= 1.2');
      ctx.record(`(c) worker total time vs the plain DELETE of the ${total}-row tree on a copy with no engine objects`, workerMs, plainMs, 'ms', 'none');
      ctx.record(`(a) one DELETE on the audited tables vs the same DELETE on the plain copy`, aMs, plainMs, 'ms', 'none');
      ctx.record(`(a) audited hard delete of the ${total}-row tree vs the plain cascading DELETE plus one set-based INSERT of the JSONB images`, aMs, floorMs, 'ms', '<= 1.3');
      ctx.record('(b) Sentry row by row on the plain copy (estimated) vs (c) worker', bMs, workerMs, 'ms', '>= 20');
      ctx.record('(c) longest deleting chunk transaction of both rounds vs 200 ms', longest, 200, 'ms', '<= 1');
      ctx.record('(c) longest planning transaction (reads only) of both rounds vs 200 ms', longestPlan, 200, 'ms', '<= 1');
      ctx.record('writes/s on another workspace during (c) vs idle', median([c1.during, c2.during]), median([c1.idle, c2.idle]), 'writes/s', '>= 0.8');
      ctx.record('writes/s on another workspace during (a) vs idle', median([a1.during, a2.during]), median([a1.idle, a2.idle]), 'writes/s', '>= 0');
      ctx.record(`(d) soft job total time vs (e) one deletion.soft_delete of the same ${d1.rows}-row tree (medians of 2 rounds)`, softJobMs, softDeleteMs, 'ms', '<= 1.3');
      ctx.record('(d) soft job: longest marking chunk transaction of both rounds vs 200 ms', Math.max(d1.figures.longest, d2.figures.longest), 200, 'ms', '<= 1');
      ctx.record('(d) soft job: longest planning transaction (reads only) of both rounds vs 200 ms', Math.max(d1.figures.longestPlan, d2.figures.longestPlan), 200, 'ms', '<= 1');
      ctx.record('(f) hard job under a writer (inserts in another workspace and under the tree): longest deleting chunk vs 200 ms', underWriters.longest, 200, 'ms', '<= 1');
      ctx.record('(f) hard job under a writer: longest deleting chunk vs (c) the same job without one', underWriters.longest, longest, 'ms', 'none');
      // The same bounds over the chunks that no checkpoint's sync phase overlapped.
      const calm = (...figures: { longestCalm: number; longestPlanCalm: number }[]) => Math.max(...figures.map((f) => Math.max(f.longestCalm, f.longestPlanCalm)));
      ctx.record('(c) longest chunk (planning or deleting) of both rounds outside checkpoints\' sync phases vs 200 ms', calm(c1.figures, c2.figures), 200, 'ms', '<= 1');
      ctx.record('(d) longest chunk (planning or marking) of both rounds outside checkpoints\' sync phases vs 200 ms', calm(d1.figures, d2.figures), 200, 'ms', '<= 1');
      ctx.record('(f) longest chunk under a writer outside checkpoints\' sync phases vs 200 ms', calm(underWriters), 200, 'ms', '<= 1');
    } finally {
      for (const name of copies) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
      await admin.end();
      await source.drop();
    }
  },
} satisfies Bench;

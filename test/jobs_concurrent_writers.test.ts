// Writers under a tree while a deletion job works it: several sessions insert issues, comments,
// attachments and label relations under the workspace being deleted and under another one, change
// issue statuses and remove relations, while `deletion-kit worker` deletes the workspace in small
// chunks (once straight through, once killed with SIGKILL mid-way). The job must end done with
// nothing of the tree left and every attachment's file queued, the writers must never trip the
// statistics' CHECK, and at the end every milestone's and label's stored counts must equal a recount.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generatorSql } from '../bench/harness.ts';
import { client, freshDatabase } from './helpers.ts';

const CLI = path.resolve('bin/deletion-kit.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The worker's events by name, over every worker of a scenario (for the assertions' messages). */
const seen: Record<string, number> = {};

function worker(url: string, args: string[]): { child: ChildProcess; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, 'worker', '--json', ...args], { env: { ...process.env, DATABASE_URL: url }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.on('data', (d) => process.stderr.write(d));
  let rest = '';
  child.stdout!.on('data', (d) => {
    const lines = (rest + d).split('\n');
    rest = lines.pop()!;
    for (const line of lines) if (line) { const e = JSON.parse(line).event; seen[e] = (seen[e] ?? 0) + 1; }
  });
  return { child, exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))) };
}

/** One writer session: random small transactions under workspaces 1 and 2 until `stop` says so; returns SQLSTATEs seen. */
async function writer(url: string, n: number, stop: () => boolean): Promise<Record<string, number>> {
  const c = await client(url);
  const errors: Record<string, number> = {};
  let i = 0;
  try {
    await c.query(`SET deletion.mode = 'hard'`);  // its own deletes of label relations are real deletes
    while (!stop()) {
      i++;
      const ws = 1 + (i % 2);
      try {
        await c.query('BEGIN');
        switch (i % 5) {
          case 0: // a new issue in a milestone, with a label, a comment and an attachment
            await c.query(`
              WITH m AS (SELECT m.id, p.id AS project_id FROM milestones m JOIN projects p ON p.id = m.project_id
                          WHERE p.workspace_id = $1 ORDER BY random() LIMIT 1),
                   i AS (INSERT INTO issues (workspace_id, project_id, milestone_id, creator_id, title, status)
                         SELECT $1, m.project_id, m.id, (SELECT min(id) FROM users), 'late ' || $2, 'todo' FROM m RETURNING id),
                   l AS (INSERT INTO issue_label_relations (issue_id, label_id)
                         SELECT i.id, (SELECT id FROM labels WHERE workspace_id = $1 ORDER BY random() LIMIT 1) FROM i RETURNING issue_id),
                   c AS (INSERT INTO comments (issue_id, author_id, body) SELECT i.id, (SELECT min(id) FROM users), 'late' FROM i RETURNING id)
              INSERT INTO attachments (issue_id, storage_key, file_name) SELECT i.id, 'late/' || $3 || '/' || $2, 'f' FROM i`, [ws, i, n]);
            break;
          case 1: // a label on an existing issue
            await c.query(`
              INSERT INTO issue_label_relations (issue_id, label_id)
              SELECT (SELECT id FROM issues WHERE workspace_id = $1 AND id % 97 = $2 % 97 LIMIT 1),
                     (SELECT id FROM labels WHERE workspace_id = $1 ORDER BY random() LIMIT 1)
              ON CONFLICT DO NOTHING`, [ws, i]);
            break;
          case 2: // an issue closed or reopened
            await c.query(`UPDATE issues SET status = CASE WHEN status = 'done' THEN 'todo' ELSE 'done' END
                            WHERE id = (SELECT id FROM issues WHERE workspace_id = $1 AND id % 89 = $2 % 89 LIMIT 1)`, [ws, i]);
            break;
          case 3: // a label taken off
            await c.query(`DELETE FROM issue_label_relations
                            WHERE (issue_id, label_id) = (SELECT r.issue_id, r.label_id FROM issue_label_relations r JOIN issues x ON x.id = r.issue_id
                                                           WHERE x.workspace_id = $1 AND r.issue_id % 83 = $2 % 83 LIMIT 1)`, [ws, i]);
            break;
          default: // a comment with an attachment on an existing issue
            await c.query(`
              WITH x AS (SELECT id FROM issues WHERE workspace_id = $1 AND id % 79 = $2 % 79 LIMIT 1),
                   c AS (INSERT INTO comments (issue_id, author_id, body) SELECT x.id, (SELECT min(id) FROM users), 'late' FROM x RETURNING id)
              INSERT INTO attachments (issue_id, storage_key, file_name) SELECT x.id, 'late/' || $3 || '/' || $2, 'f' FROM x`, [ws, i, n]);
        }
        await c.query('COMMIT');
      } catch (err) {
        await c.query('ROLLBACK').catch(() => {});
        const code = (err as { code?: string }).code ?? 'none';
        errors[code] = (errors[code] ?? 0) + 1;
      }
    }
  } finally {
    await c.end();
  }
  return errors;
}

/** Milestones and labels whose stored counts differ from a recount. */
async function drift(c: pg.Client): Promise<string[]> {
  const { rows } = await c.query(`
    SELECT 'milestone ' || m.id || ': stored ' || m.open_issue_count || '/' || m.total_issue_count || ', real ' || r.open || '/' || r.total AS d
      FROM milestones m
      CROSS JOIN LATERAL (SELECT count(*) FILTER (WHERE i.status NOT IN ('done', 'canceled')) AS open, count(*) AS total
                            FROM issues i WHERE i.milestone_id = m.id) r
     WHERE (m.open_issue_count, m.total_issue_count) <> (r.open, r.total)
    UNION ALL
    SELECT 'label ' || l.id || ': stored ' || l.open_issue_count || '/' || l.total_issue_count || ', real ' || r.open || '/' || r.total
      FROM labels l
      CROSS JOIN LATERAL (SELECT count(*) FILTER (WHERE i.status NOT IN ('done', 'canceled')) AS open, count(*) AS total
                            FROM issue_label_relations x JOIN issues i ON i.id = x.issue_id WHERE x.label_id = l.id) r
     WHERE (l.open_issue_count, l.total_issue_count) <> (r.open, r.total)
     ORDER BY 1`);
  return rows.map((r) => r.d);
}

async function scenario(kill: boolean) {
  const db = await freshDatabase();
  const c = await client(db.url);
  try {
    await c.query(generatorSql());
    await c.query('SELECT bench.generate_product_data($1, 2)', [3000]);
    assert.equal(await drift(c), [], 'the generated counts are exact to begin with');
    const jobId = Number((await c.query(`SELECT deletion.schedule('public.workspaces', '1', hard => true, reason => 'writers test') AS id`)).rows[0].id);
    let done = false;
    const writers = Array.from({ length: 3 }, (_, n) => writer(db.url, n, () => done));
    const args = ['--chunk-rows', '300', '--chunk-ms', '30', '--poll', '100', '--backoff-ms', '50'];
    if (kill) {
      const w = worker(db.url, args);
      await sleep(2500);
      w.child.kill('SIGKILL');
      await w.exited;
    }
    const w = worker(db.url, args);
    for (let i = 0; i < 3000; i++) {  // up to 5 minutes: the machine may be shared
      const { rows } = await c.query('SELECT status FROM deletion.deletion_jobs WHERE id = $1', [jobId]);
      if (!['pending', 'running'].includes(rows[0].status)) break;
      await sleep(100);
    }
    done = true;
    const errors = await Promise.all(writers);
    w.child.kill('SIGTERM');
    await w.exited;
    const job = (await c.query('SELECT status, error, chunks, attempts FROM deletion.deletion_jobs WHERE id = $1', [jobId])).rows[0];
    assert.is(job.status, 'done', `the job ends done (${job.error ?? ''}; worker events: ${JSON.stringify(seen)})`);
    assert.ok(job.chunks > 10, `in many chunks (${job.chunks})`);
    const writes = errors.reduce((n, e) => n + Object.values(e).reduce((a, b) => a + b, 0), 0);
    const checks = errors.reduce((n, e) => n + (e['23514'] ?? 0), 0);
    assert.is(checks, 0, `no writer tripped a CHECK (errors by SQLSTATE: ${JSON.stringify(errors)}, ${writes} in all)`);
    const left = (await c.query(`SELECT (SELECT count(*) FROM issues WHERE workspace_id = 1)::int + (SELECT count(*) FROM workspaces WHERE id = 1)::int
                                      + (SELECT count(*) FROM labels WHERE workspace_id = 1)::int AS n`)).rows[0].n;
    assert.is(left, 0, 'nothing of the workspace is left, late rows included');
    const unqueued = (await c.query(`
      SELECT count(*)::int AS n FROM audit.log l
       WHERE l.table_name = 'public.attachments' AND l.action = 'DELETE'
         AND NOT EXISTS (SELECT 1 FROM deletion.pending_file_deletions f WHERE f.storage_key = l.old_data ->> 'storage_key')`)).rows[0].n;
    const late = (await c.query(`SELECT count(*)::int AS n FROM audit.log WHERE table_name = 'public.attachments' AND action = 'DELETE' AND old_data ->> 'storage_key' LIKE 'late/%'`)).rows[0].n;
    assert.is(unqueued, 0, `every deleted attachment's file is queued (${late} of them added while the job ran)`);
    assert.equal(await drift(c), [], 'every milestone and label count equals a recount');
  } finally {
    await c.end();
    await db.drop();
  }
}

test('writers under the tree while the worker deletes it: done, nothing left, files queued, counts exact', async () => {
  await scenario(false);
});

test('the same with the worker killed (SIGKILL) mid-way and a new one finishing', async () => {
  await scenario(true);
});

test.run();

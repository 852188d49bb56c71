// deletion-kit jobs undo: a hard job deleted a workspace in many chunk transactions; undo restores
// every row of every chunk from the audit log, in one transaction, exactly as it was (the root
// shown, not hidden by the job's marker); the dry run changes nothing; a job whose tree has a table
// that is not audited is refused, and the dry run says which.
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generatorSql } from '../bench/harness.ts';
import { client, freshDatabase } from './helpers.ts';

const run = promisify(execFile);
const CLI = path.resolve('bin/deletion-kit.js');

async function cli(url: string, args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env: { ...process.env, DATABASE_URL: url } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

function workOnce(url: string) {
  const child = spawn(process.execPath, [CLI, 'worker', '--once', '--json', '--chunk-rows', '150', '--chunk-ms', '20'],
    { env: { ...process.env, DATABASE_URL: url }, stdio: ['ignore', 'ignore', 'inherit'] });
  return new Promise((resolve) => child.on('exit', resolve));
}

/** Every product table's rows, one md5 each. */
async function digest(c: pg.Client): Promise<Record<string, string>> {
  const { rows: tables } = await c.query(`SELECT format('%I.%I', table_schema, table_name) AS t FROM deletion.table_policies WHERE table_schema = 'public' ORDER BY 1`);
  const out: Record<string, string> = {};
  for (const { t } of tables) {
    out[t] = (await c.query(`SELECT count(*) || ' ' || md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS h FROM ${t} x`)).rows[0].h;
  }
  return out;
}

test('undo restores every chunk of a hard job, all or nothing; refused when a table of the tree is not audited', async () => {
  const db = await freshDatabase();
  const c = await client(db.url);
  try {
    await c.query(generatorSql());
    await c.query('SELECT bench.generate_product_data($1, 2)', [600]);
    const before = await digest(c);
    const jobId = Number((await c.query(`SELECT deletion.schedule('public.workspaces', '1', hard => true, reason => 'undo test') AS id`)).rows[0].id);
    await workOnce(db.url);
    const job = (await c.query('SELECT status, chunks FROM deletion.deletion_jobs WHERE id = $1', [jobId])).rows[0];
    assert.is(job.status, 'done');
    const transactions = (await c.query('SELECT count(*)::int AS n FROM deletion.deletion_job_transactions WHERE job_id = $1', [jobId])).rows[0].n;
    assert.ok(transactions > 5, `the job deleted in many transactions (${transactions} of ${job.chunks} chunks)`);
    const deleted = await digest(c);
    assert.not.equal(deleted, before, 'the workspace is gone');

    const dry = await cli(db.url, ['jobs', 'undo', String(jobId), '--dry-run']);
    assert.is(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /^insert\tpublic\.issues\t\d+/m, 'the dry run lists what it would put back');
    assert.match(dry.stdout, /dry run: nothing changed/);
    assert.equal(await digest(c), deleted, 'and changes nothing');

    const undo = await cli(db.url, ['jobs', 'undo', String(jobId)]);
    assert.is(undo.code, 0, undo.stderr);
    assert.match(undo.stdout, new RegExp(`job ${jobId} undone: \\d+ rows restored`));
    assert.equal(await digest(c), before, 'every product table holds exactly its rows from before the job');
    assert.is((await c.query('SELECT deleted_at FROM workspaces WHERE id = 1')).rows[0].deleted_at, null, 'the workspace is shown, not hidden by the marker');
    assert.ok((await c.query('SELECT undone_at FROM deletion.deletion_jobs WHERE id = $1', [jobId])).rows[0].undone_at, 'the job records the undo');
    const again = await cli(db.url, ['jobs', 'undo', String(jobId)]);
    assert.match(again.stdout, /already restored/, 'undoing twice restores nothing more');
    assert.equal(await digest(c), before);

    // A table of the tree that is not audited: refused.
    await c.query(`CREATE TABLE public.issue_notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                                                   issue_id bigint NOT NULL REFERENCES public.issues (id) ON DELETE CASCADE, body text)`);
    await c.query(`SELECT deletion.register_table('public.issue_notes', 'test: notes')`);
    await c.query(`SELECT audit.disable('public.issue_notes')`);
    await c.query(`INSERT INTO public.issue_notes (issue_id, body) SELECT id, 'n' FROM issues WHERE workspace_id = 2 LIMIT 20`);
    const second = Number((await c.query(`SELECT deletion.schedule('public.workspaces', '2', hard => true) AS id`)).rows[0].id);
    await workOnce(db.url);
    assert.is((await c.query('SELECT status FROM deletion.deletion_jobs WHERE id = $1', [second])).rows[0].status, 'done');
    const dry2 = await cli(db.url, ['jobs', 'undo', String(second), '--dry-run']);
    assert.match(dry2.stdout, /^not audited\tpublic\.issue_notes/m, 'the dry run names the table that is not audited');
    assert.is(dry2.code, 2, 'and exits 2');
    const undo2 = await cli(db.url, ['jobs', 'undo', String(second)]);
    assert.is(undo2.code, 2, 'the undo is refused');
    assert.match(undo2.stderr, /not audited: public\.issue_notes.*PD407/);
    assert.is((await c.query('SELECT count(*)::int AS n FROM workspaces WHERE id = 2')).rows[0].n, 0, 'and restores nothing');
  } finally {
    await c.end();
    await db.drop();
  }
});

test.run();

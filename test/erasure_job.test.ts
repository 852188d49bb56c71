// Erasure as a scheduled job (sql/62_erasure_jobs.sql) worked by a real `deletion-kit worker` process
// in small chunks, SIGKILLed mid-way (after some chunks committed, while a chunk waits on a row the
// test holds locked; its server session is ended too, so that chunk rolls back), then started again.
// Then the same checks as the one-transaction erasure's: a scan of every table visible to SQL (the
// engine's own included) as text finds none of the subject's values; the kept rows are consistent
// (every foreign key, the example's statistics); audit.verify passes; the report lists exactly what
// happened, summed over the chunks; restore and undo are refused. And the subject's files: queued,
// then removed by the real file cleaner from a local root directory, which the erasure records as
// confirmed (`deletion-kit erasures log` shows them pending until then). On the example and on the
// lab schema.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCleanup } from '../src/files/cleaner.ts';
import { LocalStorage } from '../src/files/storage.ts';
import { existing, tempRoot, writeFiles } from './files_fixtures.ts';
import { client, freshDatabase } from './helpers.ts';

const run = promisify(execFile);
const CLI = path.resolve('bin/deletion-kit.js');
const KEY = 'erasure-job-test-key-0123456789abcdef';
const SEAL = 'erasure-job-seal-key-0123456789abcdef';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Worker { child: ChildProcess; events: Record<string, unknown>[]; exited: Promise<number | null> }

function startWorker(url: string, args: string[]): Worker {
  const child = spawn(process.execPath, [CLI, 'worker', '--json', ...args],
    { env: { ...process.env, DATABASE_URL: url, DELETION_KIT_ERASURE_KEY: KEY }, stdio: ['ignore', 'pipe', 'pipe'] });
  const events: Record<string, unknown>[] = [];
  let buffer = '';
  child.stdout!.on('data', (d) => {
    buffer += d;
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.trim()) events.push(JSON.parse(line));
    }
  });
  child.stderr!.on('data', (d) => process.stderr.write(d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, events, exited };
}

async function waitFor(what: string, check: () => Promise<boolean>, ms = 30000) {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) if (await check()) return;
  throw new Error(`timed out waiting for ${what}`);
}

const one = async (c: pg.Client, sql: string, params: unknown[] = []) => (await c.query(sql, params)).rows[0];
const num = async (c: pg.Client, sql: string, params: unknown[] = []) => Number(Object.values(await one(c, sql, params))[0]);

/** Tables visible to SQL (every schema but PostgreSQL's own and pgTAP's) and the given values each holds, as text. */
async function scan(c: pg.Client, values: string[]): Promise<string[]> {
  const { rows } = await c.query(`SELECT c.oid::regclass::text AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                   WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'tap')
                                     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' ORDER BY 1`);
  const found: string[] = [];
  for (const r of rows) {
    const hits = await c.query(`SELECT v FROM unnest($1::text[]) v WHERE EXISTS (SELECT FROM ${r.t} t WHERE strpos(t::text, v) > 0)`, [values]);
    for (const h of hits.rows) found.push(`${r.t}: ${h.v}`);
  }
  return found;
}

/** Rows whose foreign key (any schema but the engine's) names no row of the referenced table. */
async function orphans(c: pg.Client): Promise<string[]> {
  const { rows } = await c.query(`
    SELECT con.conname, con.conrelid::regclass::text AS child, con.confrelid::regclass::text AS parent,
           ARRAY(SELECT quote_ident(a.attname) FROM unnest(con.conkey) WITH ORDINALITY u(n, i) JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = u.n ORDER BY u.i) AS cc,
           ARRAY(SELECT quote_ident(a.attname) FROM unnest(con.confkey) WITH ORDINALITY u(n, i) JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = u.n ORDER BY u.i) AS pc
      FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace
     WHERE con.contype = 'f' AND n.nspname NOT IN ('deletion', 'audit', 'deletion_work', 'deletion_kit') AND con.conparentid = 0`);
  const out: string[] = [];
  for (const r of rows) {
    const notNull = r.cc.map((col: string) => `x.${col} IS NOT NULL`).join(' AND ');
    const match = r.cc.map((col: string, i: number) => `p.${r.pc[i]} = x.${col}`).join(' AND ');
    const n = await num(c, `SELECT count(*) FROM ${r.child} x WHERE ${notNull} AND NOT EXISTS (SELECT FROM ${r.parent} p WHERE ${match})`);
    if (n > 0) out.push(`${r.conname}: ${n}`);
  }
  return out;
}

/** Seals every finished transaction (waiting until none older is open), then verifies the chain. */
async function sealAndVerify(c: pg.Client): Promise<boolean> {
  await waitFor('older transactions to end', async () =>
    (await num(c, `SELECT (pg_snapshot_xmin(pg_current_snapshot())::text::bigint > coalesce((SELECT max(txid) FROM audit.log), 0))::int`)) === 1);
  while ((await c.query('SELECT * FROM audit.seal($1)', [SEAL])).rows.length > 0) { /* next batch */ }
  return (await one(c, 'SELECT ok FROM audit.verify($1)', [SEAL])).ok === true;
}

/**
 * Starts a worker with small chunks, lets it commit chunks until it blocks on a row the test holds
 * locked (`lockSql`, run in a transaction of the test's), SIGKILLs it there, ends its server session
 * (the chunk under way rolls back), and returns what the job had done by then.
 */
async function killMidWay(url: string, c: pg.Client, job: number, lockSql: string, chunkRows: number) {
  const locker = await client(url);
  await locker.query('BEGIN');
  await locker.query(lockSql);
  const w = startWorker(url, ['--chunk-rows', String(chunkRows), '--poll', '50', '--lease', '2']);
  try {
    // generous: on a loaded machine the worker may take a while to start and reach the row
    await waitFor('the worker to block on the locked row', async () =>
      (await num(c, `SELECT count(*) FROM pg_stat_activity a JOIN deletion.deletion_jobs j ON j.lease_pid = a.pid
                      WHERE j.id = $1 AND a.wait_event_type = 'Lock'`, [job])) === 1, 300000);
  } catch (err) {
    w.child.kill('SIGKILL');
    await locker.query('ROLLBACK').catch(() => {});
    await locker.end();
    throw err;
  }
  const pid = (await one(c, 'SELECT lease_pid FROM deletion.deletion_jobs WHERE id = $1', [job])).lease_pid;
  w.child.kill('SIGKILL');
  await w.exited;
  await c.query('SELECT pg_terminate_backend($1)', [pid]);
  await waitFor('the killed worker\'s session to end', async () => (await num(c, 'SELECT count(*) FROM pg_stat_activity WHERE pid = $1', [pid])) === 0);
  await locker.query('ROLLBACK');
  await locker.end();
  return one(c, `SELECT j.status, e.step, (e.progress ->> 'chunks')::int AS chunks, j.chunks AS job_chunks
                   FROM deletion.deletion_jobs j JOIN deletion.erasure_jobs e ON e.job_id = j.id WHERE j.id = $1`, [job]);
}

/** Runs `worker --once` until the job is no longer pending or running. */
async function finishJob(url: string, c: pg.Client, job: number, chunkRows: number): Promise<string> {
  for (let i = 0; i < 40; i++) {
    const { status } = await one(c, 'SELECT status FROM deletion.deletion_jobs WHERE id = $1', [job]);
    if (!['pending', 'running'].includes(status)) return status;
    const w = startWorker(url, ['--once', '--chunk-rows', String(chunkRows), '--lease', '2']);
    await w.exited;
    await sleep(200);
  }
  throw new Error(`job ${job} did not finish`);
}

async function erasuresLog(url: string) {
  const { stdout } = await run(process.execPath, [CLI, 'erasures', 'log', '--json'], { env: { ...process.env, DATABASE_URL: url } });
  return JSON.parse(stdout) as { erasure: number; files_queued: number; files_removed: number; files_pending: number }[];
}

test('example: a user erased by a job killed mid-way and resumed; no table holds their values; kept rows consistent; audit verifies; exact report; files removed and confirmed; restore refused', async () => {
  const db = await freshDatabase();
  const c = await client(db.url);
  const root = tempRoot('erasure-job');
  try {
    const ids = await one(c, `
      WITH ws AS (INSERT INTO workspaces (name, slug) VALUES ('Erasure job WS', 'erasure-job-ws') RETURNING id),
           a AS (INSERT INTO users (email, name) VALUES ('ada.old-addr-8jq@erase-job.example', 'Ada Qwyzzle-5521') RETURNING id),
           b AS (INSERT INTO users (email, name) VALUES ('ben.keeper@keep-job.example', 'Ben Keeper-Kept') RETURNING id)
      SELECT (SELECT id FROM ws) AS ws, (SELECT id FROM a) AS ada, (SELECT id FROM b) AS ben`);
    const { ws, ada, ben } = ids;
    await c.query(`UPDATE users SET email = 'ada.kv3p@erase-job.example' WHERE id = $1`, [ada]);
    await c.query('INSERT INTO workspace_memberships (workspace_id, user_id) VALUES ($1, $2), ($1, $3)', [ws, ada, ben]);
    const ms = (await one(c, `WITH p AS (INSERT INTO projects (workspace_id, lead_id, name) VALUES ($1, $2, 'Roadmap') RETURNING id)
                              INSERT INTO milestones (project_id, name) SELECT p.id, 'M1' FROM p RETURNING id`, [ws, ada])).id;
    const lbl = (await one(c, `INSERT INTO labels (workspace_id, name) VALUES ($1, 'bug') RETURNING id`, [ws])).id;
    // 12 issues by Ada (kept, re-pointed), 6 by Ben assigned to her, one of hers in the trash with 3 files
    await c.query(`INSERT INTO issues (workspace_id, milestone_id, creator_id, title) SELECT $1, $2, $3, 'Ada kept issue ' || g FROM generate_series(1, 12) g`, [ws, ms, ada]);
    await c.query(`INSERT INTO issues (workspace_id, milestone_id, creator_id, assignee_id, title) SELECT $1, $2, $3, $4, 'Ben issue ' || g FROM generate_series(1, 6) g`, [ws, ms, ben, ada]);
    await c.query(`INSERT INTO issue_label_relations (issue_id, label_id) SELECT id, $1 FROM issues WHERE workspace_id = $2`, [lbl, ws]);
    const trashed = (await one(c, `INSERT INTO issues (workspace_id, creator_id, title) VALUES ($1, $2, 'Ada trashed issue') RETURNING id`, [ws, ada])).id;
    const kept = (await one(c, `SELECT min(id) AS id FROM issues WHERE creator_id = $1 AND title LIKE 'Ada kept%'`, [ada])).id;
    const benIssue = (await one(c, `SELECT min(id) AS id FROM issues WHERE creator_id = $1`, [ben])).id;
    const files = ['erase-job/ada-passport-1.pdf', 'erase-job/ada-passport-2.pdf', 'erase-job/ada-passport-3.pdf'];
    writeFiles(root, [...files, 'erase-job/kept.png']);
    await c.query(`INSERT INTO attachments (issue_id, storage_key, file_name) SELECT $1, k, 'ada-scan-' || right(k, 5) || '-7hq' FROM unnest($2::text[]) k`, [trashed, files]);
    await c.query(`INSERT INTO attachments (issue_id, storage_key, file_name) VALUES ($1, 'erase-job/kept.png', 'design-kept-job.png')`, [kept]);
    // 40 comments of hers (one edited, so the audit log holds two versions), 5 of Ben's, one of hers soft-deleted
    await c.query(`INSERT INTO comments (issue_id, author_id, body) SELECT $1, $2, 'Ada words ' || g || ' zq81' FROM generate_series(1, 40) g`, [benIssue, ada]);
    await c.query(`UPDATE comments SET body = 'Ada words 1 edited zq81' WHERE body = 'Ada words 1 zq81'`);
    await c.query(`INSERT INTO comments (issue_id, author_id, body) SELECT $1, $2, 'Ben reply kept ' || g FROM generate_series(1, 5) g`, [kept, ben]);
    await c.query(`UPDATE comments SET deleted_at = now() WHERE body = 'Ada words 40 zq81'`);
    await c.query(`INSERT INTO comment_reactions (comment_id, user_id, emoji) SELECT id, $1, 'thumbsup' FROM comments WHERE author_id = $2`, [ada, ben]);
    await c.query(`INSERT INTO comment_reactions (comment_id, user_id, emoji) SELECT id, $1, 'heart' FROM comments WHERE author_id = $2 AND deleted_at IS NULL LIMIT 10`, [ben, ada]);
    await c.query(`INSERT INTO issue_subscriptions (issue_id, user_id) SELECT id, $1 FROM issues WHERE workspace_id = $2 AND deleted_at IS NULL AND id <> $3`, [ada, ws, trashed]);
    await c.query(`INSERT INTO favorites (user_id, issue_id) SELECT $1, id FROM issues WHERE creator_id = $2`, [ada, ben]);
    await c.query(`BEGIN; SET LOCAL deletion.reason = 'moved to the trash'; UPDATE issues SET deleted_at = now() WHERE id = ${Number(trashed)}; COMMIT`);
    const msBefore = await one(c, 'SELECT open_issue_count, total_issue_count FROM milestones WHERE id = $1', [ms]);

    const erased = ['ada.kv3p@erase-job.example', 'ada.old-addr-8jq@erase-job.example', 'Ada Qwyzzle-5521', 'Ada words 1 zq81', 'Ada words 1 edited zq81',
      ...Array.from({ length: 39 }, (_, i) => `Ada words ${i + 2} zq81`), ...files.map((k) => `ada-scan-${k.slice(-5)}-7hq`), 'Ada late words 9vv2', 'ada.changed-2mm@erase-job.example'];
    const keptValues = ['ben.keeper@keep-job.example', 'Ben Keeper-Kept', 'Ben reply kept 3', 'design-kept-job.png', 'Ada kept issue 7'];
    const before = new Set((await scan(c, erased)).map((f) => f.split(': ')[1]));
    assert.equal(erased.filter((v) => !before.has(v)), ['Ada late words 9vv2', 'ada.changed-2mm@erase-job.example'],
      'before: every value of hers is in the database (but those she writes during the job)');
    assert.ok(await sealAndVerify(c), 'the audit log is sealed and verifies before');

    const job = await num(c, `SELECT deletion.schedule_erasure('public.users', jsonb_build_object('id', $1::bigint), 'ticket PRIV-9 for ada.kv3p@erase-job.example',
                                                                '0 seconds', $2) AS id`, [ada, KEY]);
    assert.equal(await one(c, 'SELECT entity_table, entity_pk, reason FROM deletion.deletion_jobs WHERE id = $1', [job]),
      { entity_table: 'public.users', entity_pk: `erasure ${await num(c, 'SELECT erasure_id FROM deletion.erasure_jobs WHERE job_id = $1', [job])}`, reason: `erasure ${await num(c, 'SELECT erasure_id FROM deletion.erasure_jobs WHERE job_id = $1', [job])}` },
      'the job names the erasure, not the person, nor the caller\'s reason');

    // killed while a chunk waits on her workspace membership (the last rule): comments and the rest are done by then
    const atKill = await killMidWay(db.url, c, job, `SELECT * FROM workspace_memberships WHERE user_id = ${Number(ada)} FOR UPDATE`, 5);
    assert.is(atKill.status, 'running', 'the job was under way when the worker died');
    assert.is(atKill.step, 'rules', 'in the rules step');
    assert.ok(atKill.chunks >= 10, `after ${atKill.chunks} chunks committed`);
    assert.is(await num(c, 'SELECT count(*) FROM users WHERE id = $1', [ada]), 1, 'she is not gone yet');
    assert.is(await num(c, `SELECT count(*) FROM comments WHERE author_id = $1`, [ada]), 0, 'her comments are already re-pointed');
    // a comment she writes while the job runs: the rule for comments is past; the last chunk takes it
    await c.query(`INSERT INTO comments (issue_id, author_id, body) VALUES ($1, $2, 'Ada late words 9vv2')`, [benIssue, ada]);
    // and she changes her email, which a failed job of hers then names in its error
    await c.query(`UPDATE users SET email = 'ada.changed-2mm@erase-job.example' WHERE id = $1`, [ada]);
    await c.query(`INSERT INTO deletion.deletion_jobs (entity_table, entity_pk, status, error) VALUES ('public.issues', $1, 'failed', 'blocked by ada.changed-2mm@erase-job.example')`, [String(benIssue)]);

    assert.is(await finishJob(db.url, c, job, 5), 'done', 'started again, the worker finishes the job');
    const { report, signature } = await one(c, `SELECT report, signature FROM deletion.erasures WHERE id = (SELECT erasure_id FROM deletion.erasure_jobs WHERE job_id = $1)`, [job]);
    const tomb = Number((await one(c, `SELECT tombstone_key ->> 'id' AS id FROM deletion.erasure_subjects WHERE table_name = 'users'`)).id);

    // the scan
    assert.equal(await scan(c, erased), [], 'no table visible to SQL holds any of her values, the engine\'s own included');
    assert.equal((await scan(c, keptValues)).map((f) => f.split(': ')[1]).filter((v, i, a) => a.indexOf(v) === i).sort(), [...keptValues].sort(),
      'everyone else\'s values are still there');
    // the kept rows, consistent
    assert.is(await num(c, 'SELECT count(*) FROM users WHERE id = $1', [ada]), 0, 'she is gone');
    assert.equal(await orphans(c), [], 'every foreign key of every kept row names an existing row');
    assert.equal(await one(c, `SELECT count(*)::int AS n, count(*) FILTER (WHERE body = '[erased]')::int AS redacted FROM comments WHERE author_id = $1`, [tomb]),
      { n: 40, redacted: 40 }, 'her 39 live comments and the one written during the job are kept under the tombstone, redacted; the soft-deleted one is gone');
    assert.is(await num(c, 'SELECT count(*) FROM issues WHERE creator_id = $1', [tomb]), 12, 'her 12 live issues are kept under the tombstone');
    assert.is(await num(c, 'SELECT count(*) FROM issues WHERE id = $1', [trashed]), 0, 'the issue of hers in the trash is gone for good');
    assert.is(await num(c, 'SELECT count(*) FROM issues WHERE assignee_id IS NOT NULL AND workspace_id = $1', [ws]), 0, 'Ben\'s issues are unassigned');
    assert.equal(await one(c, 'SELECT open_issue_count, total_issue_count FROM milestones WHERE id = $1', [ms]), msBefore, 'milestone statistics unchanged');
    assert.is(await num(c, 'SELECT total_issue_count FROM labels WHERE id = $1', [lbl]), await num(c, 'SELECT count(*) FROM issue_label_relations WHERE label_id = $1', [lbl]),
      'label statistics match the kept relations');

    // the report, exact across chunks
    const rules = Object.fromEntries(report.rules.map((r: { table: string; via: string[]; rows: number; soft_deleted_rows_removed: number }) =>
      [`${r.table}.${r.via.join(',')}`, [r.rows, r.soft_deleted_rows_removed]]));
    assert.equal(rules, {
      'public.comments.author_id': [40, 1], 'public.issues.creator_id': [12, 1], 'public.issues.assignee_id': [6, 0], 'public.projects.lead_id': [1, 0],
      'public.comment_reactions.user_id': [5, 0], 'public.favorites.user_id': [6, 0], 'public.issue_subscriptions.user_id': [18, 0],
      'public.team_memberships.user_id': [0, 0], 'public.workspace_memberships.user_id': [1, 0],
    }, 'each rule with the rows it took over all chunks, the late comment included');
    assert.equal(report.tables['public.users'], { deleted: 1, updated: 0, inserted: 1 }, 'the user deleted, the tombstone inserted');
    assert.equal(report.tables['public.comments'], { deleted: 1, updated: 40, inserted: 0 }, 'comments: exactly what happened, counted once across the chunks and the killed one not at all');
    assert.equal(report.tables['public.attachments']?.deleted, 3, 'the trashed issue\'s attachments went with it');
    assert.is(report.files_queued, 3, 'three files queued');
    assert.is(report.job, job);
    assert.ok(report.chunks > atKill.chunks, `the report counts the chunks (${report.chunks})`);
    assert.is(report.reason, 'ticket PRIV-9 for [erased]');
    assert.ok((await one(c, 'SELECT deletion.verify_erasure_report($1, $2) AS ok', [{ ...report, signature }, KEY])).ok, 'the report verifies under the operator\'s key');
    assert.is(await num(c, `SELECT count(DISTINCT (log_id, created_at)) FROM audit.redactions WHERE reason = $1`, [`erasure ${report.erasure}`]), report.audit_rows_redacted,
      'the report counts exactly the audit rows redacted');
    assert.equal(await one(c, 'SELECT subject_key, subject_image, secrets, step FROM deletion.erasure_jobs WHERE job_id = $1', [job]),
      { subject_key: null, subject_image: null, secrets: null, step: 'done' }, 'the job keeps no personal state');
    assert.ok(await sealAndVerify(c), 'audit.verify passes after the redactions');

    // files: pending confirmation, then removed by the cleaner and confirmed
    let log = (await erasuresLog(db.url)).find((e) => e.erasure === report.erasure)!;
    assert.equal([log.files_queued, log.files_removed, log.files_pending], [3, 0, 3], 'deletion-kit erasures log: three files pending confirmation');
    const cleaned = await runCleanup(c, new LocalStorage(root), { untilEmpty: true });
    assert.ok(cleaned, 'the cleaner ran');
    assert.equal(existing(root, files), [], 'her files are gone from storage');
    assert.equal(existing(root, ['erase-job/kept.png']), ['erase-job/kept.png'], 'the kept issue\'s file stays');
    log = (await erasuresLog(db.url)).find((e) => e.erasure === report.erasure)!;
    assert.equal([log.files_queued, log.files_removed, log.files_pending], [3, 3, 0], 'and the erasure records them confirmed removed');

    // restore and undo refused
    for (const [what, sql] of [
      ['audit restore of the user', `SELECT * FROM audit.restore_deleted('public.users', '${Number(ada)}')`],
      ['restore by key', `SELECT deletion.restore('public.users', '${Number(ada)}')`],
      ['undo of the erasure job', `SELECT * FROM deletion.undo_job(${job})`],
    ]) {
      const code = await c.query(sql).then(() => 'ok', (e) => e.code);
      assert.is(code, 'PD605', `${what} is refused`);
    }
  } finally {
    await c.end();
    await db.drop();
  }
});

test('lab schema: a person with 30 documents and their files erased by a job killed mid-way and resumed', async () => {
  const db = await freshDatabase();
  const c = await client(db.url);
  const root = tempRoot('erasure-job-lab');
  try {
    await c.query(readFileSync('test/fixtures/lab_schema.sql', 'utf8'));
    await c.query(`SELECT deletion.track_files('lab.documents', 'slug');
      SELECT deletion.declare_erasure_subject('lab.people');
      SELECT deletion.declare_personal_data('lab.people', 'email', 'contact');
      SELECT deletion.declare_erasure_rule('lab.documents', '{owner_id}', 'delete');
      SELECT deletion.declare_erasure_rule('lab.approvals', '{approver_id}', 'delete');
      INSERT INTO lab.orgs VALUES ('00000000-0000-0000-0000-0000000000a1', 'acme');
      INSERT INTO lab.folders VALUES ('00000000-0000-0000-0000-0000000000a1', 1, NULL, 'root');
      INSERT INTO lab.people VALUES ('00000000-0000-0000-0000-0000000000b1', 'pat.old-5tz@erase-job.example'), ('00000000-0000-0000-0000-0000000000b2', 'quinn.kept@keep-job.example');
      UPDATE lab.people SET email = 'pat.job-3w8@erase-job.example' WHERE id = '00000000-0000-0000-0000-0000000000b1';
      INSERT INTO lab.documents SELECT gen_random_uuid(), '00000000-0000-0000-0000-0000000000a1', 1, '00000000-0000-0000-0000-0000000000b1', 'pat-doc-' || g FROM generate_series(1, 30) g;
      INSERT INTO lab.documents VALUES ('00000000-0000-0000-0000-0000000000d2', '00000000-0000-0000-0000-0000000000a1', 1, '00000000-0000-0000-0000-0000000000b2', 'quinn-doc');
      INSERT INTO lab.approvals (document_id, approver_id) VALUES ('00000000-0000-0000-0000-0000000000d2', '00000000-0000-0000-0000-0000000000b1');
      INSERT INTO lab.approvals (document_id, approver_id) SELECT id, '00000000-0000-0000-0000-0000000000b2' FROM lab.documents WHERE slug LIKE 'pat-doc-%' LIMIT 4;
      INSERT INTO lab.tags (document_id, label) SELECT id, 'tag-of-' || slug FROM lab.documents WHERE slug IN ('pat-doc-1', 'quinn-doc');`);
    const files = Array.from({ length: 30 }, (_, i) => `pat-doc-${i + 1}`);
    writeFiles(root, [...files, 'quinn-doc']);
    const erased = ['pat.job-3w8@erase-job.example', 'pat.old-5tz@erase-job.example'];
    assert.ok((await scan(c, erased)).length >= 2, 'before: both emails are in the database');
    assert.ok(await sealAndVerify(c));

    // scheduled from the CLI this time
    const { stdout } = await run(process.execPath, [CLI, 'erase', 'lab.people', '00000000-0000-0000-0000-0000000000b1', '--reason', 'request L-2', '--job'],
      { env: { ...process.env, DATABASE_URL: db.url, DELETION_KIT_ERASURE_KEY: KEY } });
    const job = Number(/job (\d+)/.exec(stdout)?.[1]);
    assert.match(stdout, /^erasure \d+: job \d+, due at /, `deletion-kit erase --job prints the erasure and its job (${stdout.trim()})`);
    const atKill = await killMidWay(db.url, c, job, `SELECT * FROM lab.documents WHERE slug = 'pat-doc-20' FOR UPDATE`, 4);
    assert.equal([atKill.status, atKill.step], ['running', 'rules'], 'killed in the rules step');
    const left = await num(c, `SELECT count(*) FROM lab.documents WHERE owner_id = '00000000-0000-0000-0000-0000000000b1'`);
    assert.ok(left > 0 && left < 30, `killed mid-way through her documents (${left} of 30 left)`);
    assert.is(await finishJob(db.url, c, job, 4), 'done');

    const { report } = await one(c, `SELECT report FROM deletion.erasures WHERE id = (SELECT erasure_id FROM deletion.erasure_jobs WHERE job_id = $1)`, [job]);
    assert.equal(await scan(c, erased), [], 'no table holds her emails');
    assert.ok((await scan(c, ['quinn.kept@keep-job.example'])).length > 0, 'the other person\'s email stays');
    assert.equal(await orphans(c), [], 'every foreign key consistent');
    assert.equal(await one(c, 'SELECT (SELECT count(*) FROM lab.people)::int AS people, (SELECT count(*) FROM lab.documents)::int AS documents, (SELECT count(*) FROM lab.approvals)::int AS approvals'),
      { people: 1, documents: 1, approvals: 0 }, 'she, her 30 documents, her approval and the approvals of her documents are gone');
    assert.equal(report.rules.map((r: { table: string; rows: number }) => [r.table, r.rows]), [['lab.approvals', 1], ['lab.documents', 30]], 'the report: rows per rule');
    assert.equal(report.tables, {
      'lab.approvals': { deleted: 5, updated: 0, inserted: 0 }, 'lab.documents': { deleted: 30, updated: 0, inserted: 0 },
      'lab.people': { deleted: 1, updated: 0, inserted: 0 }, 'lab.tags': { deleted: 0, updated: 1, inserted: 0 },
    }, 'rows per table over every chunk: cascades and SET NULLs included, nothing counted twice');
    assert.is(report.files_queued, 30);
    assert.ok(await sealAndVerify(c), 'audit.verify passes');
    await runCleanup(c, new LocalStorage(root), { untilEmpty: true });
    assert.equal(existing(root, files), [], 'her 30 files are gone from storage');
    assert.equal(existing(root, ['quinn-doc']), ['quinn-doc']);
    assert.equal(await one(c, 'SELECT files_queued::int, files_removed::int, files_pending::int FROM deletion.vw_erasure_files WHERE erasure_id = $1', [report.erasure]),
      { files_queued: 30, files_removed: 30, files_pending: 0 }, 'the erasure records all 30 confirmed');
    const code = await c.query(`SELECT * FROM audit.restore_deleted('lab.people', '00000000-0000-0000-0000-0000000000b1')`).then(() => 'ok', (e) => e.code);
    assert.is(code, 'PD605', 'an audit restore of the erased person is refused');
  } finally {
    await c.end();
    await db.drop();
  }
});

test.run();

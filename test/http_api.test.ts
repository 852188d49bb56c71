// The HTTP API over real HTTP (src/http/server.ts): every endpoint with each role's token and with
// none; every answer, 200 or error, validated against the schemas of the server's own /openapi.json
// (ajv); seed 003's list / delete / restore generalized to a registered table; seed 002's
// POST /cleanup/run?batch_size=N with its X-API-Key header; the action log; and the attacks a
// browser page of another origin can make (a form POST without the token, a cookie, a forged Origin).
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Ajv } from 'ajv';
import pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runWorker } from '../src/api/index.ts';
import { LocalStorage } from '../src/files/storage.ts';
import { createHttpApi, ROUTES } from '../src/http/server.ts';
import { loadTokens } from '../src/http/tokens.ts';
import { client, env } from './helpers.ts';
import { existing, keysFor, queuePhotos, createPhotoTable, tempRoot } from './files_fixtures.ts';

const ORG = 'b0000000-0000-4000-8000-000000000000';
const SECRETS = { viewer: 'viewer-secret-0123456789', operator: 'operator-secret-0123456789', admin: 'admin-secret-0123456789ab' } as const;
type Who = keyof typeof SECRETS | 'none';
const WHO: Who[] = ['none', 'viewer', 'operator', 'admin'];

let c: pg.Client;
let pool: pg.Pool;
let server: ReturnType<typeof createHttpApi>;
let base: string;
let root: string;
let doc: Record<string, string> = {};
let validate: (route: string, method: string, status: number, body: unknown) => void;
const covered = new Map<string, Set<string>>(); // "METHOD path" -> the callers that got an answer (any status)

test.before(async () => {
  c = await client();
  await c.query(readFileSync(path.resolve('test/fixtures/lab_schema.sql'), 'utf8'));
  await c.query(`SELECT deletion.enable_soft_delete(t) FROM unnest(ARRAY['lab.orgs', 'lab.folders', 'lab.documents', 'lab.people']::regclass[]) t`);
  await c.query(`SELECT audit.enable('lab.tags')`);
  await c.query(`GRANT USAGE ON SCHEMA lab TO deletion_app, deletion_admin;
                 GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA lab TO deletion_app, deletion_admin`);
  await c.query(`INSERT INTO lab.orgs (id, name) VALUES ('${ORG}', 'B')`);
  await c.query(`INSERT INTO lab.folders (org_id, id, parent_id, name) VALUES ('${ORG}', 1, NULL, 'root'), ('${ORG}', 2, 1, 'sub')`);
  const { rows } = await c.query(`INSERT INTO lab.documents (org_id, folder_id, slug) SELECT '${ORG}', 2, 'doc-' || n FROM generate_series(1, 8) n RETURNING id, slug`);
  doc = Object.fromEntries(rows.map((r) => [r.slug, r.id]));
  await c.query(`INSERT INTO lab.tags (label) SELECT 'tag-' || n FROM generate_series(1, 4) n`);
  await createPhotoTable(c);
  root = tempRoot('http-api');

  pool = new pg.Pool({ connectionString: env('DATABASE_URL'), max: 6 });
  const tokens = loadTokens({ DELETION_KIT_TOKENS: `viewer:vera:${SECRETS.viewer},operator:otto:${SECRETS.operator},admin:ada:${SECRETS.admin}` });
  server = createHttpApi({ pool, tokens, storage: new LocalStorage(root), cleanup: { backoffSeconds: 0 } });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const document = await (await fetch(`${base}/openapi.json`)).json();
  const ajv = new Ajv({ strict: false, allErrors: true });
  ajv.addFormat('date-time', true);
  const errorSchema = document.components.schemas.Error;
  validate = (route, method, status, body) => {
    const op = document.paths[route]?.[method.toLowerCase()];
    assert.ok(op, `${method} ${route} is in /openapi.json`);
    const schema = status === 200 ? op.responses[200].content['application/json'].schema : errorSchema;
    assert.ok(op.responses[status] || status >= 500 || status === 413 || status === 415 || status === 503 || status === 405, `${method} ${route} documents its ${status} answer`);
    const ok = ajv.validate(schema, body);
    assert.ok(ok, `${method} ${route} ${status}: ${ajv.errorsText()} in ${JSON.stringify(body).slice(0, 400)}`);
  };
});

test.after(async () => {
  await new Promise((r) => server.close(r));
  await pool.end();
  await c.end();
});

interface Call { status: number; body: any; headers: Headers }

/** One request as `who`, its answer validated against the document (the route template names the document's entry). */
async function call(who: Who, method: string, route: string, url: string, options: { body?: unknown; headers?: Record<string, string> } = {}): Promise<Call> {
  const headers: Record<string, string> = { ...options.headers };
  if (who !== 'none') headers.authorization = `Bearer ${SECRETS[who]}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base + url, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  const text = await res.text();
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`${method} ${url} as ${who}: ${res.status} ${text.slice(0, 200)}`);
  }
  validate(route, method, res.status, body);
  const k = `${method} ${route}`;
  if (!covered.has(k)) covered.set(k, new Set());
  covered.get(k)!.add(who);
  return { status: res.status, body, headers: res.headers };
}

const rank = { none: -1, viewer: 0, operator: 1, admin: 2 } as const;

/**
 * Calls one endpoint as every caller and checks the status each gets: no token 401 (unless the
 * endpoint needs none), a role below the endpoint's 403 from the server, then what the database
 * says for the rest (`db`: the status for each role that passes the server's check).
 */
async function everyone(method: string, route: string, url: (who: Who) => string, need: Who, db: Partial<Record<Who, number>>, body?: (who: Who) => unknown) {
  const answers: Partial<Record<Who, Call>> = {};
  for (const who of WHO) {
    const res = await call(who, method, route, url(who), { body: body?.(who) });
    answers[who] = res;
    const expected = need !== 'none' && who === 'none' ? 401 : rank[who] < rank[need] ? 403 : (db[who] ?? 200);
    assert.is(res.status, expected, `${method} ${url(who)} as ${who}: ${JSON.stringify(res.body).slice(0, 300)}`);
    if (expected === 401) assert.is(res.body.error.sqlstate, '28000');
    if (expected === 403) assert.is(res.body.error.sqlstate, '42501', `${who} refused with insufficient_privilege`);
  }
  return answers;
}

test('/openapi.json lists every endpoint of the route table, with its role', async () => {
  const document = await (await fetch(`${base}/openapi.json`)).json();
  assert.is(document.openapi, '3.1.0');
  for (const r of ROUTES) assert.is(document.paths[r.path]?.[r.method.toLowerCase()]?.['x-role'], r.role, `${r.method} ${r.path}`);
  assert.ok(document.paths['/metrics'] && document.components.securitySchemes.apiKey.name === 'X-API-Key');
});

test('reads: every caller gets what its role and the database allow', async () => {
  await everyone('GET', '/api/health', () => '/api/health', 'none', {});
  await everyone('GET', '/api/whoami', () => '/api/whoami', 'viewer', {});
  const me = await call('operator', 'GET', '/api/whoami', '/api/whoami');
  assert.equal(me.body, { name: 'otto', role: 'operator', db_role: 'deletion_restorer' });
  const t = await everyone('GET', '/api/tables', () => '/api/tables', 'viewer', {});
  assert.ok(t.admin!.body.tables.some((x: any) => x.table === 'lab.documents' && x.soft_delete && x.primary_key.join() === 'id'));
  await everyone('GET', '/api/tables/{table}/rows', () => '/api/tables/lab.documents/rows?limit=3', 'viewer', {});
  await everyone('GET', '/api/tables/{table}/rows/{key}/plan', () => `/api/tables/lab.folders/rows/${encodeURIComponent(JSON.stringify([ORG, 1]))}/plan`, 'viewer', {});
  // The trash, the file list and the alerts show what row-level security hides: deletion_admin only, in the database.
  await everyone('GET', '/api/trash', () => '/api/trash?limit=5', 'viewer', { viewer: 403, operator: 403 });
  await everyone('GET', '/api/jobs', () => '/api/jobs?limit=5', 'viewer', {});
  await everyone('GET', '/api/jobs/status', () => '/api/jobs/status', 'none', {});
  await everyone('GET', '/api/cleanup/stats', () => '/api/cleanup/stats', 'none', {});
  await everyone('GET', '/api/files', () => '/api/files?status=failed', 'viewer', { viewer: 403, operator: 403 });
  await everyone('GET', '/api/alerts', () => '/api/alerts', 'viewer', { viewer: 403, operator: 403 });
  await everyone('GET', '/api/actions', () => '/api/actions?limit=5', 'viewer', {});
  await everyone('GET', '/api/lint', () => '/api/lint', 'viewer', {});
  const bad = await call('viewer', 'GET', '/api/jobs', '/api/jobs?limit=lots');
  assert.is(bad.status, 400);
  assert.is(bad.body.error.sqlstate, '22023');
});

test('seed 003\'s endpoints on any registered table: list, delete that soft-deletes, list with include_deleted, restore', async () => {
  const rows = async (q = '') => (await call('operator', 'GET', '/api/tables/{table}/rows', `/api/tables/lab.documents/rows?limit=100${q}`)).body.rows as any[];
  assert.is((await rows()).length, 8);
  const del = await everyone('DELETE', '/api/tables/{table}/rows/{key}', (who) => `/api/tables/lab.documents/rows/${doc[who === 'admin' ? 'doc-2' : 'doc-1']}?reason=${who}`, 'operator', {});
  const op = del.operator!.body.op as string;
  assert.match(op, /^[0-9a-f-]{36}$/);
  const live = await rows();
  assert.is(live.length, 6, 'the two deleted documents are gone from the list');
  const all = await rows('&include_deleted=true');
  assert.is(all.length, 8, 'include_deleted shows them');
  assert.ok(all.find((r) => r.id === doc['doc-1']).deleted_at, 'with deleted_at');
  assert.is(all.find((r) => r.id === doc['doc-1']).deletion_reason, 'operator');
  const again = await call('operator', 'DELETE', '/api/tables/{table}/rows/{key}', `/api/tables/lab.documents/rows/${doc['doc-1']}`);
  assert.is(again.status, 409, 'deleting it again: already soft-deleted (55000; the operator acts as deletion_restorer, which sees it)');
  assert.is(again.body.error.sqlstate, '55000');
  assert.ok(again.body.error.hint);

  // Restore by row (seed 003's POST /{id}/restore), by every caller.
  await everyone('POST', '/api/tables/{table}/rows/{key}/restore', (who) => `/api/tables/lab.documents/rows/${doc[who === 'admin' ? 'doc-2' : 'doc-1']}/restore`, 'operator', {});
  assert.is((await rows()).length, 8, 'both are back');

  // The trash: a dry run says what would come back, then the restore.
  const del3 = await call('operator', 'DELETE', '/api/tables/{table}/rows/{key}', `/api/tables/lab.documents/rows/${doc['doc-3']}`);
  const trash = await call('admin', 'GET', '/api/trash', `/api/trash?table=lab.documents&actor=otto`);
  assert.ok(trash.body.operations.some((o: any) => o.op === del3.body.op && o.rows === 1 && o.deleted_by === 'otto'), 'the trash filters by table and actor');
  const dry = await everyone('POST', '/api/trash/{op}/restore', () => `/api/trash/${del3.body.op}/restore?dry_run=true`, 'operator', {});
  assert.equal([dry.admin!.body.dry_run, dry.admin!.body.rows, dry.admin!.body.rows_per_table, dry.admin!.body.conflicts], [true, 1, { 'lab.documents': 1 }, []]);
  assert.is((await rows()).length, 7, 'a dry run changed nothing');
  const done = await call('operator', 'POST', '/api/trash/{op}/restore', `/api/trash/${del3.body.op}/restore`);
  assert.equal([done.status, done.body.restored, done.body.rows], [200, true, 1]);
  const twice = await call('operator', 'POST', '/api/trash/{op}/restore', `/api/trash/${del3.body.op}/restore`);
  assert.is(twice.status, 409, 'restoring it again: already restored (55000)');

  // The action log has each change: who, what, result; and the refused ones too.
  const log = (await call('viewer', 'GET', '/api/actions', '/api/actions?limit=50')).body.actions as any[];
  const mine = log.filter((a) => a.target_key === doc['doc-1']);
  assert.ok(mine.some((a) => a.actor === 'otto' && a.role === 'operator' && a.action === 'soft_delete' && a.status === 200 && a.result.op === op));
  assert.ok(mine.some((a) => a.actor === 'otto' && a.action === 'soft_delete' && a.status === 409 && a.sqlstate === '55000'), 'a failed change is logged with its SQLSTATE');
  assert.ok(mine.some((a) => a.actor === 'otto' && a.action === 'restore' && a.status === 200));
  assert.not.ok(log.some((a) => a.role === 'viewer'), 'reads and refused callers leave no action');
  // Nobody writes the log but the engine: the roles requests run as cannot forge an entry.
  const forged = await c.query(`BEGIN; SET LOCAL ROLE deletion_restorer; INSERT INTO deletion.http_actions (actor, role, db_role, method, path, action, status)
                                VALUES ('x', 'admin', 'x', 'POST', '/', 'x', 200)`).then(() => 'written', (e) => e.code);
  await c.query('ROLLBACK');
  assert.is(forged, '42501');
});

test('jobs: schedule, get, cancel, a hard job worked by the embedded worker, undo with dry run, audit restore', async () => {
  const tag = (await c.query(`SELECT id FROM lab.tags ORDER BY id`)).rows.map((r) => String(r.id));
  const s = await everyone('POST', '/api/jobs', () => '/api/jobs', 'operator', {},
    (who) => ({ table: 'lab.documents', key: doc[who === 'admin' ? 'doc-5' : 'doc-4'], in_seconds: 3600, reason: `by ${who}` }));
  const id = s.operator!.body.id as number;
  assert.equal([s.operator!.body.status, s.operator!.body.entity_table, s.operator!.body.hard_delete], ['pending', 'lab.documents', false]);
  const one = await everyone('GET', '/api/jobs/{id}', () => `/api/jobs/${id}`, 'viewer', {});
  assert.is(one.viewer!.body.created_by, 'otto', 'the token\'s name is the actor');
  assert.is((await call('viewer', 'GET', '/api/jobs/{id}', '/api/jobs/999999')).status, 404);
  // Cancel: the operator cancels its own job; cancelling the admin's job as the operator is refused by the database.
  const adminJob = s.admin!.body.id as number;
  const cancelled = await everyone('POST', '/api/jobs/{id}/cancel', (who) => `/api/jobs/${who === 'admin' ? adminJob : id}/cancel`, 'operator', {});
  assert.is(cancelled.operator!.body.status, 'cancelled');
  const hard = await call('operator', 'POST', '/api/jobs', '/api/jobs', { body: { table: 'lab.tags', key: tag[0], hard: true } });
  assert.is(hard.status, 403, 'a hard job needs deletion_admin: the database refuses the operator');
  const ok = await call('admin', 'POST', '/api/jobs', '/api/jobs', { body: { table: 'lab.tags', key: tag[0], hard: true, reason: 'hard' } });
  assert.is(ok.status, 200);
  await runWorker({ pool, once: true, pollMs: 50 });
  assert.is((await call('viewer', 'GET', '/api/jobs/{id}', `/api/jobs/${ok.body.id}`)).body.status, 'done');
  assert.is((await c.query('SELECT count(*)::int AS n FROM lab.tags WHERE id = $1', [tag[0]])).rows[0].n, 0);
  // Undo: deletion_admin only in the database.
  const undo = await everyone('POST', '/api/jobs/{id}/undo', () => `/api/jobs/${ok.body.id}/undo?dry_run=true`, 'operator', { operator: 403 });
  assert.equal([undo.admin!.body.dry_run, undo.admin!.body.refused], [true, false]);
  assert.is((await c.query('SELECT count(*)::int AS n FROM lab.tags WHERE id = $1', [tag[0]])).rows[0].n, 0, 'a dry run restores nothing');
  // Audit restore of a deleted tag, by row.
  await c.query('DELETE FROM lab.tags WHERE id = $1', [tag[1]]);
  const ar = await everyone('POST', '/api/audit/restore', () => '/api/audit/restore?dry_run=true', 'operator', { operator: 403 }, () => ({ table: 'lab.tags', key: tag[1] }));
  assert.is(ar.admin!.body.conflicts, 0);
  const real = await call('admin', 'POST', '/api/audit/restore', '/api/audit/restore', { body: { table: 'lab.tags', key: tag[1] } });
  assert.is(real.status, 200);
  assert.is((await c.query('SELECT count(*)::int AS n FROM lab.tags WHERE id = $1', [tag[1]])).rows[0].n, 1, 'the tag is back');
  const junk = await call('admin', 'POST', '/api/audit/restore', '/api/audit/restore', { body: { txid: 'x' } });
  assert.is(junk.status, 400);
});

test('purge, file cleanup (seed 002: POST /cleanup/run?batch_size=N with X-API-Key), retry', async () => {
  await everyone('POST', '/api/trash/purge', () => '/api/trash/purge?older_than=1000%20years&dry_run=true', 'admin', {});
  await c.query('DELETE FROM deletion.pending_file_deletions');
  const keys = keysFor('http', 4);
  await queuePhotos(c, root, keys);
  const runs = await everyone('POST', '/api/cleanup/run', () => '/api/cleanup/run?batch_size=1', 'operator', { operator: 403 });
  assert.is(runs.admin!.body.deleted, 1, 'the admin\'s run deleted one file; the operator\'s was refused by the database');
  const seed002 = await fetch(`${base}/api/cleanup/run/?batch_size=2`, { method: 'POST', headers: { 'X-API-Key': SECRETS.admin } });
  const b = await seed002.json();
  validate('/api/cleanup/run', 'POST', seed002.status, b);
  assert.equal([seed002.status, b.claimed, b.deleted], [200, 2, 2]);
  assert.is(existing(root, keys).length, 1);
  const legacy = await fetch(`${base}/cleanup/run?batch_size=5000`, { method: 'POST', headers: { 'X-API-Key': SECRETS.admin } });
  assert.is(legacy.status, 400, 'the old path answers too, and checks batch_size');
  await everyone('POST', '/api/files/retry', () => '/api/files/retry', 'operator', { operator: 403 }, () => ({ failed: true }));
  const files = await call('admin', 'GET', '/api/files', '/api/files?status=pending');
  assert.is(files.body.files.length, 1);
  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, /^deletion_kit_files_deleted_total 3$/m);
  assert.match(metrics, /^deletion_kit_files_pending 1$/m);
});

test('a page of another origin: a form POST without the token is refused, a cookie is no token, a foreign Origin is refused even with one', async () => {
  const target = `/api/tables/lab.documents/rows/${doc['doc-6']}`;
  const form = await fetch(`${base}${target}/restore`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1' });
  assert.is(form.status, 401, 'no token, no change');
  const cookie = await fetch(`${base}${target}`, { method: 'DELETE', headers: { cookie: `token=${SECRETS.admin}; authorization=Bearer ${SECRETS.admin}` } });
  assert.is(cookie.status, 401, 'a cookie carrying the token does not count');
  const foreign = await fetch(`${base}${target}`, { method: 'DELETE', headers: { origin: 'https://evil.example', authorization: `Bearer ${SECRETS.admin}` } });
  assert.is(foreign.status, 403);
  assert.is(foreign.headers.get('access-control-allow-origin'), null, 'no CORS header for another origin');
  const foreignForm = await fetch(`${base}${target}`, { method: 'DELETE', headers: { origin: 'https://evil.example' } });
  assert.is(foreignForm.status, 403);
  const own = await fetch(`${base}${target}`, { method: 'DELETE', headers: { origin: base, authorization: `Bearer ${SECRETS.operator}` } });
  assert.is(own.status, 200, 'the server\'s own origin with the token goes through');
  assert.is((await c.query(`SELECT count(*)::int AS n FROM deletion.http_actions WHERE target_key = $1`, [doc['doc-6']])).rows[0].n, 1, 'only the real change is logged');
  const wrong = await fetch(`${base}/api/whoami`, { headers: { authorization: `Bearer ${SECRETS.admin}x` } });
  assert.is(wrong.status, 401);
  assert.is(wrong.headers.get('www-authenticate'), 'Bearer');
});

test('every endpoint of the document was called with each role\'s token and with none', () => {
  for (const r of ROUTES) {
    const callers = covered.get(`${r.method} ${r.path}`);
    assert.ok(callers, `${r.method} ${r.path} was called`);
    for (const who of WHO) assert.ok(callers!.has(who), `${r.method} ${r.path} was called as ${who}`);
  }
});

test.run();

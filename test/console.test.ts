// The web console in a real headless browser (Debian's chromium driven by puppeteer-core), against a
// real `deletion-kit serve` and a real worker on a database with the example product and generated
// data. Each role signs in with its own token in a browser context of its own:
//   - a viewer sees every page, every action disabled, and the server refuses the action anyway;
//   - an operator previews a delete (counts per table and the cascade graph, equal to deletion.plan),
//     schedules it, watches the worker finish it, restores it from the trash after a dry-run diff,
//     cancels a job, retries a failed file, and may not schedule a hard delete;
//   - an admin watches the live progress of a hard job (held half-way by a row lock), undoes it after
//     a dry run, and reads the monitoring alerts and the action log of everything done above.
// A page of another origin cannot make the browser act: its form POST and its fetch are refused and
// change nothing. Every page fits 1366x768 without a horizontal scroll bar.
// UPDATE_SCREENSHOTS=1 writes docs/console/*.png (1366x768) on the way.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type pg from 'pg';
import puppeteer, { type Browser, type BrowserContext, type Page } from 'puppeteer-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { client } from './helpers.ts';
import { createPhotoTable, queuePhotos, tempRoot } from './files_fixtures.ts';

const CLI = path.resolve('bin/deletion-kit.js');
const SHOTS = process.env.UPDATE_SCREENSHOTS === '1' ? path.resolve('docs/console') : null;
const TOKENS = {
  // A token's name is the actor of what it changes: the example product records actors as user ids.
  viewer: { name: '7001', token: 'viewer-token-0123456789abcdef' },
  operator: { name: '7002', token: 'operator-token-0123456789abcd' },
  admin: { name: '7003', token: 'admin-token-0123456789abcdefg' },
};
type Role = keyof typeof TOKENS;

let c: pg.Client;
let root: string;
let serve: ChildProcess;
let worker: ChildProcess;
let base: string;
let browser: Browser;
let other: http.Server;
let otherBase: string;
const pageErrors: string[] = [];
const output: string[] = [];

function start(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const merged: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const [k, v] of Object.entries(merged)) if (v === undefined) delete merged[k];
  const child = spawn(process.execPath, [CLI, ...args], { cwd: root, env: merged, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d) => output.push(`${args[0]}: ${d}`));
  child.stderr!.on('data', (d) => output.push(`${args[0]} (stderr): ${d}`));
  return child;
}

async function stop(child: ChildProcess | undefined) {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

async function sql<T = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
  return (await c.query(text, params)).rows as T[];
}

/** A query run as a database role, the way the server runs a request (rolled back). */
async function asRole<T = Record<string, unknown>>(role: string, text: string, params: unknown[] = []): Promise<T[]> {
  await c.query('BEGIN');
  try {
    await c.query(`SET LOCAL ROLE ${role}`);
    return (await c.query(text, params)).rows as T[];
  } finally {
    await c.query('ROLLBACK');
  }
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | null | false>, ms = 20000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}\n${output.join('').slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** A browser context of its own (its own sessionStorage), signed in with the role's token. */
async function signIn(role: Role): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(`${role}: ${(e as Error).message}`));
  await page.goto(`${base}/`);
  await waitSel(page, '#token');
  await page.type('#token', TOKENS[role].token);
  await page.click('#sign-in button[type=submit]');
  await page.waitForFunction((r) => document.getElementById('role')?.textContent === r, { timeout: 10000 }, role);
  await settle(page);
  return { context, page };
}

/** Waits until the page has rendered (no "Loading…" left in the view). */
async function settle(page: Page) {
  await page.waitForFunction(() => !document.querySelector('#view > .loading'), { timeout: 15000 });
}

async function go(page: Page, hash: string) {
  await page.evaluate((h) => {
    location.hash = h;
  }, hash);
  const name = /^#\/([a-z]+)/.exec(hash)![1];
  await page.waitForFunction((n) => document.body.dataset.page === n, { timeout: 10000 }, name);
  await settle(page);
}

async function shot(page: Page, name: string) {
  // Every page is usable at 1366x768: nothing sticks out sideways.
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 1366, `${name}: the page is ${width} px wide at 1366x768`);
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
}

/** waitForSelector that, when it times out, says what the page showed instead. */
async function waitSel(page: Page, selector: string, timeout = 15000) {
  try {
    return await page.waitForSelector(selector, { timeout });
  } catch (err) {
    const shown = await page.evaluate(() => `${document.body.dataset.page}: ${document.getElementById('view')?.innerText} | toasts: ${document.getElementById('toasts')?.innerText} | dialog: ${document.querySelector('dialog[open]')?.textContent ?? 'none'}`).catch(() => '?');
    throw new Error(`${(err as Error).message}\nthe page shows: ${shown.slice(0, 2000)}`);
  }
}

/** Waits for a success message that says what the last action did (earlier ones may still be shown). */
async function waitToast(page: Page, pattern: RegExp, timeout = 15000) {
  try {
    await page.waitForFunction((source: string) => [...document.querySelectorAll('.toast.ok')].some((t) => new RegExp(source).test(t.textContent ?? '')),
      { timeout }, pattern.source);
  } catch (err) {
    const shown = await page.evaluate(() => document.getElementById('toasts')?.innerText ?? '').catch(() => '?');
    throw new Error(`${(err as Error).message}: no message matching ${pattern}; the page shows: ${shown.slice(0, 1000)}`);
  }
}

const texts = (page: Page, selector: string) => page.$$eval(selector, (els) => els.map((e) => (e.textContent ?? '').trim()));

/** Per table and action, the rows the page's plan table lists. */
async function pagePlan(page: Page) {
  return page.$$eval('#plan-result tr[data-table]', (trs) =>
    trs.map((tr) => `${(tr as HTMLElement).dataset.table} ${(tr as HTMLElement).dataset.action} ${tr.children[3].textContent!.replace(/,/g, '')}`).sort());
}

async function jobOf(table: string, key: string) {
  const rows = await sql<{ id: string; status: string }>(
    `SELECT id::text, status FROM deletion.deletion_jobs WHERE entity_table = $1 AND entity_pk = $2 ORDER BY id DESC LIMIT 1`, [table, key]);
  return rows[0];
}

test.before(async () => {
  try {
    await setUp();
  } catch (err) {
    // uvu reports a failed hook as failed tests without the error: say it here.
    console.error('set-up failed:', err, output.join('').slice(-3000));
    throw err;
  }
});

async function setUp() {
  c = await client();
  await c.query(readFileSync('bench/sql/generate_product_data.sql', 'utf8'));
  await c.query('SELECT * FROM bench.generate_product_data(150, 3)');
  await createPhotoTable(c);
  // The database roles the HTTP roles run as (deletion-kit.config.json, serve.roles), as a product
  // database would set them up: viewer and operator act as the application's restorer role, with the
  // trash and the file queue readable (and, for the operator, the retry of files); the admin is a
  // deletion_admin that also holds the application's table privileges (deletion_admin alone has none).
  await c.query(`
    CREATE ROLE console_viewer NOLOGIN IN ROLE deletion_restorer;
    CREATE ROLE console_operator NOLOGIN IN ROLE deletion_restorer;
    CREATE ROLE console_admin NOLOGIN IN ROLE deletion_admin, deletion_restorer;
    GRANT SELECT ON deletion.vw_trash, deletion.soft_delete_operations, deletion.pending_file_deletions, deletion.vw_failed_file_deletions TO console_viewer, console_operator;
    GRANT EXECUTE ON FUNCTION deletion.trash() TO console_viewer, console_operator;
    GRANT EXECUTE ON FUNCTION deletion.retry_file_deletions(boolean) TO console_operator;`);
  root = tempRoot('console');
  writeFileSync(path.join(root, 'deletion-kit.config.json'), JSON.stringify({
    serve: { roles: { viewer: 'console_viewer', operator: 'console_operator', admin: 'console_admin' } },
  }));
  const tokens = path.join(root, 'tokens.json');
  writeFileSync(tokens, JSON.stringify({ tokens: Object.entries(TOKENS).map(([role, t]) => ({ name: t.name, role, token: t.token })) }));
  mkdirSync(path.join(root, 'storage'));
  serve = start(['serve', '--port', '0', '--root', path.join(root, 'storage'), '--backoff', '0', '--json'], { DELETION_KIT_TOKENS_FILE: tokens, DELETION_KIT_TOKEN: undefined });
  base = await waitFor('serve to listen', async () => {
    if (serve.exitCode !== null) throw new Error(`serve exited with ${serve.exitCode}: ${output.join('')}`);
    const line = output.join('').split('\n').find((l) => l.includes('"listening"'));
    return line ? (JSON.parse(line.slice(line.indexOf('{'))).url as string) : undefined;
  });
  worker = start(['worker', '--chunk-rows', '40', '--poll', '200', '--backoff-ms', '200', '--json'], {});
  browser = await puppeteer.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--disable-dev-shm-usage'],
    defaultViewport: { width: 1366, height: 768 },
  });
  // A page of another origin (another port), the attacker's.
  other = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!doctype html><form id="f" method="POST" action="${base}/api/jobs" enctype="text/plain">
      <input name='{"table":"public.workspaces","key":"3","hard":true,"x":"' value='"}'></form>`);
  });
  await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
  otherBase = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
}

test.after(async () => {
  await browser?.close();
  other?.close();
  await stop(worker);
  await stop(serve);
  await c?.end();
  if (root) rmSync(root, { recursive: true, force: true });
});

test('the console is served at / with a strict content security policy; its assets under /console/', async () => {
  const page = await fetch(`${base}/`);
  assert.is(page.status, 200);
  assert.match(page.headers.get('content-type')!, /^text\/html/);
  assert.match(page.headers.get('content-security-policy')!, /script-src 'self'/);
  assert.match(page.headers.get('content-security-policy')!, /frame-ancestors 'none'/);
  assert.match(await page.text(), /<script type="module" src="\/console\/app\.js">/);
  const script = await fetch(`${base}/console/app.js`);
  assert.is(script.status, 200);
  assert.match(script.headers.get('content-type')!, /^text\/javascript/);
  for (const bad of ['/console/handler.ts', '/console/..%2Fhandler.ts', '/console/nothing.js']) {
    assert.is.not((await fetch(`${base}${bad}`)).status, 200, `${bad} is not served`);
  }
});

test('sign in: a wrong token is refused on the page; a right one is kept in the tab only, never as a cookie', async () => {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  await page.goto(`${base}/`);
  await waitSel(page, '#token');
  await shot(page, 'sign-in');
  await page.type('#token', 'not-a-token-of-this-server-000');
  await page.click('#sign-in button[type=submit]');
  await page.waitForFunction(() => /not valid/.test(document.getElementById('sign-in-error')?.textContent ?? ''), { timeout: 10000 });
  assert.is(await page.evaluate(() => sessionStorage.length), 0, 'a refused token is not kept');
  await page.type('#token', TOKENS.viewer.token);
  await page.click('#sign-in button[type=submit]');
  await page.waitForFunction(() => document.getElementById('role')?.textContent === 'viewer', { timeout: 10000 });
  assert.is(await page.$eval('#who', (e) => e.textContent), TOKENS.viewer.name);
  assert.is(await page.evaluate(() => Object.values(sessionStorage).join()), TOKENS.viewer.token);
  assert.equal(await context.cookies(), [], 'no cookie carries the session');
  await page.click('#sign-out');
  await waitSel(page, '#token');
  assert.is(await page.evaluate(() => sessionStorage.length), 0, 'signing out forgets the token');
  await context.close();
});

test('a viewer sees every page, every action disabled, and the server refuses the action anyway', async () => {
  // Something to act on: a soft-deleted project in the trash and a job due tomorrow.
  const project = (await sql<{ id: string }>('SELECT min(id)::text AS id FROM public.projects WHERE workspace_id = 3'))[0].id;
  // Its reason holds markup: the page must show it as text, never run it.
  await sql(`SET deletion.actor = '1'`);
  await sql(`SET deletion.reason = '<img src=x onerror="window.pwned=1">'`);
  await sql('UPDATE public.projects SET deleted_at = now() WHERE id = $1', [project]);
  await sql(`RESET deletion.actor`);
  await sql(`RESET deletion.reason`);
  const job = (await sql<{ id: string }>(`SELECT deletion.schedule('public.issues', (SELECT min(id)::text FROM public.issues WHERE workspace_id = 3), now() + interval '1 day', false, 'viewer test', '1')::text AS id`))[0].id;
  const { context, page } = await signIn('viewer');

  await go(page, '#/jobs');
  await waitSel(page, `tr[data-job="${job}"]`);
  assert.ok(await page.$eval(`tr[data-job="${job}"] button[data-action=cancel]`, (b) => (b as HTMLButtonElement).disabled), 'cancel is disabled for a viewer');
  assert.match(await page.$eval(`tr[data-job="${job}"] button[data-action=cancel]`, (b) => b.title), /needs the operator role/);
  await go(page, '#/trash');
  await waitSel(page, '#trash-list tr[data-op]');
  const restoreButtons = await page.$$eval('#trash-list button[data-action=restore]', (bs) => bs.map((b) => (b as HTMLButtonElement).disabled));
  assert.ok(restoreButtons.length > 0 && restoreButtons.every(Boolean), 'restore is disabled for a viewer');
  assert.ok((await texts(page, '#trash-list td')).includes('<img src=x onerror="window.pwned=1">'), 'the reason shows as text');
  assert.is(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned), undefined, 'and its markup did not run');
  assert.is(await page.$('#trash-list img'), null);
  await go(page, '#/plan/?table=public.workspaces&key=3');
  await waitSel(page, '#cascade-graph');
  assert.ok(await page.$eval('#schedule', (b) => (b as HTMLButtonElement).disabled), 'schedule is disabled for a viewer');

  // The server is the one that refuses: the same calls with the viewer's token, from the page.
  const op = (await sql<{ op: string }>('SELECT op::text FROM deletion.vw_trash WHERE root_table = $1 LIMIT 1', ['public.projects']))[0].op;
  // (No named functions inside evaluate: the test's compiler would wrap them in a helper the page lacks.)
  const statuses = await page.evaluate((calls) => Promise.all(calls.map(([url, body]) => fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${Object.values(sessionStorage)[0]}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  }).then((r) => r.status))), [
    [`/api/jobs/${job}/cancel`, null],
    [`/api/trash/${op}/restore?dry_run=false`, null],
    ['/api/jobs', { table: 'public.workspaces', key: '3' }],
    ['/api/files/retry', { failed: true }],
  ] as [string, unknown][]);
  assert.equal(statuses, [403, 403, 403, 403], 'each action is 403 for a viewer');
  assert.is((await sql<{ status: string }>('SELECT status FROM deletion.deletion_jobs WHERE id = $1', [job]))[0].status, 'pending');
  assert.is((await sql<{ n: number }>('SELECT count(*)::int AS n FROM deletion.vw_trash WHERE op = $1', [op]))[0].n, 1, 'still in the trash');
  assert.is(await jobOf('public.workspaces', '3'), undefined, 'no job was scheduled');
  await context.close();
});

test('an operator previews a delete, schedules it, watches the worker finish it, and restores it from the trash after a dry-run diff', async () => {
  const { context, page } = await signIn('operator');
  await go(page, '#/plan');
  await page.select('#f-table', 'public.workspaces');
  await page.type('#f-key', '1');
  await page.click('#preview');
  await waitSel(page, '#cascade-graph');
  // The page's counts are the engine's plan, for the role the operator's requests run as.
  const planned = await asRole<{ line: string; via: string[]; action: string }>('console_operator',
    `SELECT table_name::text || ' ' || action || ' ' || rows AS line, via, action FROM deletion.plan('public.workspaces', '1')`);
  const expected = planned.map((r) => r.line).sort();
  assert.equal(await pagePlan(page), expected, 'rows per table and action, as deletion.plan says');
  // The graph: a box per row of the plan, an arrow into every table the cascade reached.
  // (The plain DELETE's refusal, "blocked by soft delete", is a note in the table, not a box.)
  const boxes = await page.$$eval('#cascade-graph g.node', (gs) => gs.map((g) => `${(g as SVGElement).dataset.table} ${(g as SVGElement).dataset.action}`).sort());
  assert.equal(boxes, planned.filter((r) => r.action !== 'blocked by soft delete').map((r) => r.line.split(' ').slice(0, -1).join(' ')).sort());
  const arrows = await page.$$eval('#cascade-graph path.edge', (ps) => ps.map((p) => (p as SVGElement).dataset.via).sort());
  assert.equal(arrows, [...new Set(planned.flatMap((r) => r.via))].sort(), 'one arrow per foreign key of the cascade');
  assert.ok(expected.some((l) => /^(public\.)?comments soft delete/.test(l)), 'the workspace\'s comments are in the plan');
  await page.$eval('#plan-result', (e) => e.scrollIntoView());
  await shot(page, 'plan');

  await page.type('#f-reason', 'console test: workspace closed by its owner');
  await page.click('#schedule');
  await waitSel(page, 'body[data-page=jobs] tr[data-job]');
  const job = await waitFor('the job row', () => jobOf('public.workspaces', '1'));
  // The worker picks it up; the page follows it to the end by itself (it polls).
  await waitSel(page, `tr[data-job="${job.id}"][data-status=done]`, 30000);
  assert.is(await page.$eval(`tr[data-job="${job.id}"] [role=progressbar]`, (e) => e.getAttribute('aria-valuenow')), '100');
  assert.ok((await sql('SELECT 1 FROM public.workspaces WHERE id = 1 AND deleted_at IS NOT NULL')).length === 1, 'the workspace is soft-deleted');

  // The trash, searched by reason and table: one operation, the workspace's.
  await go(page, '#/trash');
  await page.select('#f-table', 'public.workspaces');
  await page.type('#f-reason', 'closed by its owner');
  await page.click('#search');
  await page.waitForFunction(() => document.querySelectorAll('#trash-list tr[data-op]').length === 1, { timeout: 10000 });
  const op = await page.$eval('#trash-list tr[data-op]', (tr) => (tr as HTMLElement).dataset.op!);
  const inTrash = (await sql<{ rows_per_table: Record<string, number>; deleted_by: string }>('SELECT rows_per_table, deleted_by FROM deletion.vw_trash WHERE op = $1', [op]))[0];
  assert.ok(inTrash, 'the operation the page lists is the one in the trash');
  // Searching by another actor finds nothing.
  await page.type('#f-actor', 'nobody-by-this-name');
  await page.click('#search');
  await waitSel(page, '#trash-list p.empty');
  await page.$eval('#f-actor', (e) => ((e as HTMLInputElement).value = ''));
  await page.click('#search');
  await waitSel(page, `#trash-list tr[data-op="${op}"]`);
  await shot(page, 'trash');

  // The dry run first: a diff of the trash against what would come back, and nothing changes.
  await page.click(`#trash-list tr[data-op="${op}"] button[data-action=restore]`);
  await waitSel(page, 'dialog[open] tr[data-table]');
  const diff = await page.$$eval('dialog[open] tr[data-table]', (trs) =>
    Object.fromEntries(trs.map((tr) => [(tr as HTMLElement).dataset.table, [tr.children[1].textContent, tr.children[2].textContent]])));
  for (const [table, rows] of Object.entries(inTrash.rows_per_table)) {
    assert.equal(diff[table], [String(rows), `+${rows}`], `${table}: ${rows} in the trash, ${rows} would come back`);
  }
  await shot(page, 'trash-restore-dry-run');
  assert.ok((await sql('SELECT 1 FROM public.workspaces WHERE id = 1 AND deleted_at IS NOT NULL')).length === 1, 'the dry run changed nothing');
  await page.click('dialog[open] button[data-value=restore]');
  await waitToast(page, /Restored/);
  assert.ok((await sql('SELECT 1 FROM public.workspaces WHERE id = 1 AND deleted_at IS NULL')).length === 1, 'the workspace is back');
  assert.is((await sql<{ n: number }>('SELECT count(*)::int AS n FROM public.comments c JOIN public.issues i ON i.id = c.issue_id WHERE i.workspace_id = 1 AND c.deleted_at IS NOT NULL'))[0].n, 0, 'with its comments');
  assert.is((await sql<{ n: number }>('SELECT count(*)::int AS n FROM deletion.vw_trash WHERE op = $1', [op]))[0].n, 0, 'and out of the trash');
  await context.close();
});

test('an operator cancels a job from the jobs page, and may not schedule a hard delete', async () => {
  const project = (await sql<{ id: string }>('SELECT min(id)::text AS id FROM public.projects WHERE workspace_id = 2 AND deleted_at IS NULL'))[0].id;
  const { context, page } = await signIn('operator');
  await go(page, `#/plan/?table=public.projects&key=${project}`);
  await waitSel(page, '#schedule');
  await page.select('#f-when', '86400');
  await page.click('#schedule');
  await waitSel(page, 'body[data-page=jobs] tr[data-job]');
  const job = await waitFor('the job row', () => jobOf('public.projects', project));
  await waitSel(page, `tr[data-job="${job.id}"][data-status=pending] button[data-action=cancel]:not([disabled])`);
  await page.click(`tr[data-job="${job.id}"] button[data-action=cancel]`);
  await waitSel(page, 'dialog[open] button[data-value=cancel]');
  await page.click('dialog[open] button[data-value=cancel]');
  await waitSel(page, `tr[data-job="${job.id}"][data-status=cancelled]`, 10000);
  assert.is((await jobOf('public.projects', project)).status, 'cancelled');
  assert.ok((await sql('SELECT 1 FROM public.projects WHERE id = $1 AND deleted_at IS NULL', [project])).length === 1, 'the project stays');

  // A hard delete: the page says only an admin may; the server refuses it when tried.
  await go(page, `#/plan/?table=public.workspaces&key=2&hard=true`);
  await waitSel(page, '#schedule');
  assert.match((await texts(page, '.schedule p.muted')).join(' '), /Only an admin may schedule a hard delete/);
  await page.click('#schedule');
  await waitSel(page, '.toast.error');
  assert.match((await texts(page, '.toast.error')).join(), /Not scheduled/);
  assert.is(await jobOf('public.workspaces', '2'), undefined, 'no hard job was scheduled');
  await context.close();
});

test('an operator sees a failed file in the queue and retries it', async () => {
  // A file storage cannot delete: its key names a folder.
  await queuePhotos(c, null, ['console/stuck.jpg']);
  mkdirSync(path.join(root, 'storage', 'console', 'stuck.jpg'), { recursive: true });
  writeFileSync(path.join(root, 'storage', 'console', 'stuck.jpg', 'inside'), 'x');
  const { context, page } = await signIn('operator');
  await go(page, '#/files');
  await waitSel(page, '#file-list tr[data-file]');
  // One cleanup batch (an admin's: the cleaner claims files as deletion_admin), one attempt allowed.
  const batch = await fetch(`${base}/api/cleanup/run?max_attempts=1`, { method: 'POST', headers: { authorization: `Bearer ${TOKENS.admin.token}` } });
  assert.is(batch.status, 200, await batch.clone().text());
  assert.is((await batch.json()).failed, 1, 'storage refused the file');
  await go(page, '#/files/?status=failed');
  await waitSel(page, '#file-list tr[data-file]');
  assert.match((await texts(page, '#file-list tr[data-file] td')).join(' '), /console\/stuck\.jpg/);
  await shot(page, 'files');
  await page.click('#retry-all');
  await waitToast(page, /1 files due again/);
  const row = (await sql<{ failed_at: Date | null }>(`SELECT failed_at FROM deletion.pending_file_deletions WHERE storage_key = 'console/stuck.jpg'`))[0];
  assert.is(row.failed_at, null, 'the file waits again');
  await context.close();
});

test('an admin watches the live progress of a hard job, then undoes it after a dry run', async () => {
  // One issue of the workspace held by a row lock: the worker deletes the leaves below it, then
  // waits at that issue, so the job sits half-way until the lock goes.
  const holder = await client();
  try {
    await holder.query('BEGIN');
    const issue = (await holder.query(`SELECT id FROM public.issues WHERE workspace_id = 2 ORDER BY id DESC LIMIT 1 FOR UPDATE`)).rows[0].id;
    assert.ok(issue);
    const { context, page } = await signIn('admin');
    await go(page, '#/plan/?table=public.workspaces&key=2&hard=true');
    await waitSel(page, '#schedule:not([disabled])');
    await page.type('#f-reason', 'console test: workspace closed');
    await page.click('#schedule');
    await waitSel(page, 'body[data-page=jobs] tr[data-job]');
    const job = await waitFor('the hard job', () => jobOf('public.workspaces', '2'));
    const sel = `tr[data-job="${job.id}"]`;
    const seen = await page.waitForFunction((s) => {
      const bar = document.querySelector(`${s} [role=progressbar]`);
      const v = Number(bar?.getAttribute('aria-valuenow'));
      return document.querySelector(`${s}[data-status=running]`) && v > 0 && v < 100 ? v : false;
    }, { timeout: 30000, polling: 100 }, sel);
    const half = Number(await seen.jsonValue());
    assert.ok(half > 0 && half < 100, `the page shows the job part-way (${half}%)`);
    assert.match(await page.$eval(`${sel} .progress-text`, (e) => e.textContent!), /^\d+(\.\d+)?% · [\d,]+ of [\d,]+ rows$/);
    await shot(page, 'jobs');
    await holder.query('ROLLBACK');
    await waitSel(page, `${sel}[data-status=done]`, 30000);
    assert.is(await page.$eval(`${sel} [role=progressbar]`, (e) => e.getAttribute('aria-valuenow')), '100');
    assert.is((await sql('SELECT 1 FROM public.workspaces WHERE id = 2')).length, 0, 'the workspace is gone');

    // Undo: the dry run lists what would come back; the undo brings the workspace back.
    const dry = await fetch(`${base}/api/jobs/${job.id}/undo?dry_run=true`, { method: 'POST', headers: { authorization: `Bearer ${TOKENS.admin.token}` } });
    const preview = await dry.json();
    assert.is(dry.status, 200, JSON.stringify(preview));
    assert.is(preview.refused, false, JSON.stringify(preview));
    await page.click(`${sel} button[data-action=undo]`);
    await waitSel(page, 'dialog[open] button[data-value=undo]', 30000);
    assert.match(await page.$eval('dialog[open]', (d) => d.textContent!), /Dry run: [\d,]+ rows would come back/);
    assert.is((await sql('SELECT 1 FROM public.workspaces WHERE id = 2')).length, 0, 'the dry run changed nothing');
    await page.click('dialog[open] button[data-value=undo]');
    await waitToast(page, /undone: [\d,]+ rows restored/, 30000);
    await waitFor('the workspace back', async () => (await sql('SELECT 1 FROM public.workspaces WHERE id = 2')).length === 1);
    await context.close();
  } finally {
    await holder.query('ROLLBACK').catch(() => {});
    await holder.end();
  }
});

test('an admin reads the monitoring alerts and the action log of every change made above', async () => {
  const { context, page } = await signIn('admin');
  await go(page, '#/alerts');
  const alerts = await sql('SELECT * FROM deletion.vw_deletion_alerts');
  assert.ok(alerts.length > 0, 'the hard delete of a workspace raised alerts');
  assert.is(await page.$$eval('tr.alert-row', (trs) => trs.length), alerts.length, 'one row per alert');
  await shot(page, 'alerts');

  await go(page, '#/actions');
  const rows = await page.$$eval('#view tbody tr', (trs) => trs.map((tr) => Array.from(tr.children).map((td) => td.textContent!.trim()).join(' | ')));
  const has = (re: RegExp) => rows.some((r) => re.test(r));
  assert.ok(has(/7002.*operator.*POST \/api\/jobs .*\| 20\d/), 'the operator\'s schedule, with its result');
  assert.ok(has(/7002.*operator.*POST \/api\/trash\/[0-9a-f-]+\/restore.*\| 200/), 'the operator\'s restore');
  assert.ok(has(/7002.*operator.*POST \/api\/jobs\/\d+\/cancel.*\| 200/), 'the operator\'s cancel');
  assert.ok(has(/7003.*admin.*POST \/api\/jobs\/\d+\/undo.*\| 200/), 'the admin\'s undo');
  assert.ok(has(/7002.*operator.*POST \/api\/jobs .*\| 4\d\d 42501/), 'the operator\'s hard delete the database refused, with its SQLSTATE');
  const logged = await sql<{ n: number }>(`SELECT count(*)::int AS n FROM deletion.http_actions`);
  assert.ok(logged[0].n >= rows.length, 'the page shows what the database recorded');
  await shot(page, 'actions');
  await context.close();
});

test('a page of another origin cannot act: its form POST and its fetch are refused and change nothing', async () => {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  await page.goto(`${otherBase}/`);
  const [response] = await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    page.evaluate(() => (document.getElementById('f') as HTMLFormElement).submit()),
  ]);
  assert.ok(response && [401, 403].includes(response.status()), `the cross-origin form POST is refused (${response?.status()})`);
  // A script of that origin that somehow knew the admin token still cannot send it: no CORS.
  await page.goto(`${otherBase}/`);
  const outcome = await page.evaluate(async (url, token) => {
    try {
      const r = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ table: 'public.workspaces', key: '3', hard: true }) });
      return `answered ${r.status}`;
    } catch (e) {
      return `failed: ${(e as Error).name}`;
    }
  }, `${base}/api/jobs`, TOKENS.admin.token);
  assert.is(outcome, 'failed: TypeError', 'the browser does not let the page read or send it');
  // And the server itself refuses a request that says it comes from elsewhere, token or not.
  const forged = await fetch(`${base}/api/jobs`, {
    method: 'POST',
    headers: { origin: otherBase, authorization: `Bearer ${TOKENS.admin.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ table: 'public.workspaces', key: '3', hard: true }),
  });
  assert.is(forged.status, 403);
  assert.is(await jobOf('public.workspaces', '3'), undefined, 'no job was scheduled');
  await context.close();
});

test('no page raised a script error', () => {
  assert.equal(pageErrors, []);
});

test.run();

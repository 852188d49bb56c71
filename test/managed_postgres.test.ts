// Managed PostgreSQL (RDS, Cloud SQL, Azure, Supabase, Neon): the role you get owns its database and
// has CREATEROLE and CREATEDB, and is no superuser. This file starts a cluster of its own (the shared
// test cluster's engine roles were made by a superuser, and a CREATEROLE role cannot administer roles
// it did not create; on a managed server the owner creates them itself), where the superuser makes
// only that role and its database. Everything after that runs as that role, or as the login roles it
// creates: install, example, upgrade and downgrade, soft delete and restore, audited hard delete and
// audit restore, a job worked by the worker, file cleanup, and the read-only commands. The last
// tests have the superuser set other scenes, as a managed service's console would: an owner without
// CREATEROLE, a second owner role, the owner's CREATEROLE and CREATEDB taken away before an upgrade.
// The privileges each step needed are listed in docs/adopting.md ("Privileges each step needs").
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { clusterUrl, DEFAULT_MAJOR, initCluster, startCluster, stopCluster, type ClusterConfig } from '../src/embedded.ts';
import { MIGRATIONS_DIR } from '../src/migrate.ts';

/** The engine's newest migration: what `migrate down 1` reverts and the next migrate applies again. */
const LAST_MIGRATION = readdirSync(MIGRATIONS_DIR).filter((n) => n.endsWith('.sql')).sort().at(-1)!.replace(/\.sql$/, '');

const run = promisify(execFile);
const CLI = path.resolve('bin/deletion-kit.js');
const MAJOR = Number(process.env.TEST_PG_MAJOR ?? DEFAULT_MAJOR);
const DB = 'product';
const ENGINE_SCHEMAS = ['deletion', 'audit', 'deletion_work'];

const password = () => randomBytes(12).toString('hex');
const ROLES = {
  owner: { name: 'app_owner', password: password() },   // what the managed service hands you
  app: { name: 'app_user', password: password() },      // the application's login, in deletion_app
  admin: { name: 'ops_admin', password: password() },   // on-call, worker and cleaner, in deletion_admin
};
type Who = keyof typeof ROLES;

let root = '';
let files = '';
let config: ClusterConfig;
const clients: pg.Client[] = [];
const ids: Record<string, string> = {};

const url = (who: Who, database = DB) =>
  `postgres://${ROLES[who].name}:${ROLES[who].password}@127.0.0.1:${config.port}/${database}`;

/** The cluster's superuser: only to set the scene (the managed service's part), never to run the engine. */
async function asSuperuser(...statements: string[]): Promise<void> {
  const su = new pg.Client({ connectionString: clusterUrl(config, 'postgres') });
  await su.connect();
  try {
    for (const sql of statements) await su.query(sql);
  } finally {
    await su.end();
  }
}

async function connect(target: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: target });
  c.on('error', () => {});
  await c.connect();
  clients.push(c);
  return c;
}

const sessions: Partial<Record<Who, pg.Client>> = {};
async function as(who: Who): Promise<pg.Client> {
  return (sessions[who] ??= await connect(url(who)));
}

/** The real CLI, connected as one of the roles; a non-zero exit throws with its stderr. */
async function cli(who: Who | { url: string; cwd?: string }, ...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [CLI, ...args], {
    cwd: typeof who === 'string' ? undefined : who.cwd,
    env: { ...process.env, DATABASE_URL: typeof who === 'string' ? url(who) : who.url, DELETION_KIT_HOME: path.join(root, 'unused-embedded-home'), DELETION_KIT_FILES_ROOT: files },
  });
  return stdout;
}

/** The SQLSTATE a statement fails with (it must fail). */
async function sqlstate(c: pg.Client, sql: string, values: unknown[] = []): Promise<string> {
  try {
    await c.query(sql, values);
  } catch (err) {
    return (err as { code: string }).code;
  }
  throw new Error(`expected to fail: ${sql}`);
}

// uvu drops an error thrown by a before hook without a word (the tests then fail with nothing said):
// say it.
test.before(async () => {
  try {
    await setUp();
  } catch (err) {
    console.error('setting up the cluster failed:', err);
    throw err;
  }
});

async function setUp() {
  root = mkdtempSync(path.join(os.tmpdir(), `dk-managed-pg${MAJOR}-`));
  files = path.join(root, 'storage');
  mkdirSync(files);
  execFileSync('chmod', ['755', root]); // the server's OS user (postgres, when run as root) must reach it
  config = await initCluster(path.join(root, 'cluster'), MAJOR);
  // Should this process die before test.after runs, the server does not outlive it.
  process.once('exit', () => {
    try {
      stopCluster(path.join(root, 'cluster'), 'immediate');
    } catch {}
  });
  startCluster(path.join(root, 'cluster'), ['-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off']);
  // All the superuser does before the last tests: the role a managed service gives you, and its database.
  await asSuperuser(`CREATE ROLE ${ROLES.owner.name} LOGIN CREATEROLE CREATEDB NOSUPERUSER NOBYPASSRLS PASSWORD '${ROLES.owner.password}'`,
                    `CREATE DATABASE ${DB} OWNER ${ROLES.owner.name}`);
}

test.after(async () => {
  try {
    for (const c of clients) await c.end().catch(() => {});
  } finally {
    try {
      stopCluster(path.join(root, 'cluster'), 'immediate');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }
});

test('the managed owner is no superuser and owns its database', async () => {
  const c = await as('owner');
  const { rows } = await c.query(`SELECT r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls,
                                         pg_get_userbyid(d.datdba) = current_user AS owns_db
                                    FROM pg_roles r, pg_database d WHERE r.rolname = current_user AND d.datname = current_database()`);
  assert.equal(rows[0], { rolsuper: false, rolcreaterole: true, rolcreatedb: true, rolbypassrls: false, owns_db: true });
});

test('engine functions set no custom parameter in their definition (SET deletion.* needs superuser to create)', async () => {
  // Checked on the files: nothing migrated yet. A function-level SET of a placeholder parameter is
  // refused for non-superusers ("permission denied to set parameter"); set_config in the body is not.
  const offenders: string[] = [];
  for (const dir of ['sql', 'migrations', 'example/migrations']) {
    for (const name of readdirSync(dir).filter((n) => n.endsWith('.sql'))) {
      const code = readFileSync(path.join(dir, name), 'utf8').replace(/--.*$/gm, '');
      for (const m of code.matchAll(/\bSET\s+(?!LOCAL\b|SESSION\b)[a-z_]+\.[a-z_]+\s*(=|TO\b|FROM\s+CURRENT)/gi)) offenders.push(`${dir}/${name}: ${m[0]}`);
    }
  }
  assert.equal(offenders, []);
});

test('deletion-kit migrate and example install as the owner; a second migrate is up to date', async () => {
  assert.match(await cli('owner', 'migrate'), /applied engine migration 0001_engine_base/);
  assert.match(await cli('owner', 'example', 'install'), /applied migration 0002_product_schema/);
  assert.match(await cli('owner', 'migrate'), /database is up to date/);
  const c = await as('owner');
  const { rows } = await c.query(`SELECT proconfig FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                                   WHERE n.nspname = ANY ($1) AND EXISTS (SELECT FROM unnest(p.proconfig) s WHERE s NOT LIKE 'search\\_path=%')`,
                                  [ENGINE_SCHEMAS]);
  assert.equal(rows, [], 'no engine function sets anything but search_path');
});

test('upgrade: migrate down 1 and up again, as the owner', async () => {
  assert.match(await cli('owner', 'migrate', 'down', '1'), new RegExp(`reverted engine migration ${LAST_MIGRATION}`));
  assert.match(await cli('owner', 'migrate'), new RegExp(`applied engine migration ${LAST_MIGRATION}`));
});

test('the engine belongs to deletion_owner (no superuser), and the owner is a member of it', async () => {
  const c = await as('owner');
  const roles = await c.query(`SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolcanlogin FROM pg_roles
                                WHERE rolname IN ('deletion_owner', 'deletion_admin', 'deletion_app') ORDER BY rolname`);
  assert.equal(roles.rows.map((r) => [r.rolname, r.rolsuper || r.rolcreaterole || r.rolcreatedb || r.rolbypassrls || r.rolcanlogin]),
    [['deletion_admin', false], ['deletion_app', false], ['deletion_owner', false]], 'the engine\'s roles, none privileged, none can log in');
  const foreign = await c.query(`
    SELECT 'schema ' || nspname AS obj, pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname = ANY ($1)
    UNION ALL
    SELECT c.relkind::text || ' ' || c.oid::regclass::text, pg_get_userbyid(c.relowner) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = ANY ($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'i', 'I')
    UNION ALL
    SELECT 'function ' || p.oid::regprocedure, pg_get_userbyid(p.proowner) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = ANY ($1)`, [ENGINE_SCHEMAS]);
  assert.ok(foreign.rows.length > 200, `the engine's objects were found (${foreign.rows.length})`);
  assert.equal(foreign.rows.filter((r) => r.owner !== 'deletion_owner'), [], 'every schema, table, index, sequence, view and function of the engine');
  const member = await c.query(`SELECT pg_has_role('app_owner', 'deletion_owner', 'MEMBER') AS member,
                                       EXISTS (SELECT FROM pg_auth_members WHERE roleid = 'deletion_owner'::regrole AND member = 'app_owner'::regrole) AS direct`);
  assert.equal(member.rows[0], { member: true, direct: true }, 'app_owner was made a member of deletion_owner by migration 0070');
});

test('as the owner: an admin login in deletion_admin, and an application login that migrate adds to deletion_app (appRoles); seed data', async () => {
  const c = await as('owner');
  await c.query(`CREATE ROLE ${ROLES.admin.name} LOGIN PASSWORD '${ROLES.admin.password}' IN ROLE deletion_admin`);
  await c.query(`CREATE ROLE ${ROLES.app.name} LOGIN PASSWORD '${ROLES.app.password}'`);
  const project = path.join(root, 'project');
  mkdirSync(project);
  writeFileSync(path.join(project, 'deletion-kit.config.json'), JSON.stringify({ appRoles: [ROLES.app.name] }));
  await cli({ url: url('owner'), cwd: project }, 'migrate');
  assert.ok((await c.query(`SELECT pg_has_role($1, 'deletion_app', 'MEMBER') AS ok`, [ROLES.app.name])).rows[0].ok, 'migrate granted deletion_app to the appRoles');
  const { rows } = await c.query(`
    WITH u AS (INSERT INTO public.users (email, name) VALUES ('ann@example.com', 'Ann') RETURNING id),
         w AS (INSERT INTO public.workspaces (name, slug) VALUES ('Acme', 'acme') RETURNING id)
    SELECT u.id AS user_id, w.id AS workspace_id FROM u, w`);
  Object.assign(ids, { user: String(rows[0].user_id), workspace: String(rows[0].workspace_id) });
  const issues = await c.query(`INSERT INTO public.issues (workspace_id, creator_id, title)
                                SELECT $1, $2, 'issue ' || g FROM generate_series(1, 4) g RETURNING id`, [ids.workspace, ids.user]);
  [ids.soft, ids.hard, ids.job, ids.cancel] = issues.rows.map((r) => String(r.id));
  const keys = ['managed/a.png', 'managed/b.png', 'managed/c.png'];
  for (const key of keys) {
    mkdirSync(path.dirname(path.join(files, key)), { recursive: true });
    writeFileSync(path.join(files, key), key);
  }
  await c.query(`INSERT INTO public.attachments (issue_id, storage_key, file_name) SELECT $1, k, k FROM unnest($2::text[]) k`, [ids.job, keys]);
});

test('the application soft-deletes by UPDATE; the admin restores it (deletion-kit restore)', async () => {
  const app = await as('app');
  const owner = await as('owner');
  const deleted = await app.query('UPDATE public.issues SET deleted_at = now() WHERE id = $1', [ids.soft]);
  assert.is(deleted.rowCount, 1, 'a soft delete by UPDATE reports its row');
  assert.is((await app.query('SELECT count(*)::int AS n FROM public.issues WHERE id = $1', [ids.soft])).rows[0].n, 0, 'the application no longer sees it');
  const { rows } = await owner.query('SELECT deleted_at IS NOT NULL AS deleted, deletion_op::text AS op FROM public.issues WHERE id = $1', [ids.soft]);
  assert.ok(rows[0].deleted, 'the row is still there, marked deleted');
  assert.is(await sqlstate(app, 'SELECT deletion.restore($1::uuid)', [rows[0].op]), '42501', 'the application may not restore');
  assert.match(await cli('admin', 'trash'), new RegExp(`${rows[0].op} .*public\\.issues`));
  assert.match(await cli('admin', 'restore', rows[0].op), /restored 1 row /);
  assert.is((await app.query('SELECT count(*)::int AS n FROM public.issues WHERE id = $1', [ids.soft])).rows[0].n, 1, 'back for the application');
});

test('the admin hard-deletes (audited) and restores from the audit log (deletion-kit audit restore)', async () => {
  const admin = await as('admin');
  const owner = await as('owner');
  const app = await as('app');
  assert.is(await sqlstate(app, `SELECT deletion.hard_delete('public.issues', $1)`, [ids.hard]), '42501', 'the application may not hard-delete');
  assert.is((await admin.query(`SELECT deletion.hard_delete('public.issues', $1) AS n`, [ids.hard])).rows[0].n, '1');
  assert.is((await owner.query('SELECT count(*)::int AS n FROM public.issues WHERE id = $1', [ids.hard])).rows[0].n, 0, 'gone for good');
  const logged = await owner.query(`SELECT count(*)::int AS n FROM audit.log WHERE table_name = 'public.issues' AND action = 'DELETE' AND record_id = $1`, [ids.hard]);
  assert.is(logged.rows[0].n, 1, 'and in the audit log');
  assert.match(await cli('admin', 'audit', 'restore', 'public.issues', ids.hard), /public\.issues/);
  assert.is((await owner.query('SELECT count(*)::int AS n FROM public.issues WHERE id = $1', [ids.hard])).rows[0].n, 1, 'restored');
});

test('the admin schedules a hard job; deletion-kit worker --once as the admin works it to done; the app schedules and cancels its own', async () => {
  const owner = await as('owner');
  const admin = await as('admin');
  const app = await as('app');
  // Scheduling checks that the calling role may DELETE from the table (the example grants that to
  // deletion_app only); the table's owner grants it to the admins.
  assert.is(await sqlstate(admin, `SELECT deletion.schedule('public.issues', $1, hard => true)`, [ids.job]), '42501', 'no DELETE on the table, no job');
  await owner.query('GRANT SELECT, DELETE ON public.issues TO deletion_admin');
  assert.match(await cli('admin', 'schedule', 'public.issues', ids.job, '--hard', '--reason', 'managed test'), /job \d+: hard delete of public\.issues/);
  assert.is(await sqlstate(app, `SELECT deletion.schedule('public.issues', $1, hard => true)`, [ids.cancel]), '42501', 'a hard job needs deletion_admin');
  const soft = (await app.query(`SELECT deletion.schedule('public.issues', $1, now() + interval '1 day') AS id`, [ids.cancel])).rows[0].id;
  assert.match(await cli('app', 'cancel', String(soft)), /cancel/);
  const out = await cli('admin', 'worker', '--once', '--json');
  const events = out.trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(events.some((e) => e.event === 'done'), `the worker finished the job: ${out}`);
  const { rows } = await owner.query(`SELECT status, error FROM deletion.deletion_jobs WHERE entity_pk = $1`, [ids.job]);
  assert.equal(rows[0], { status: 'done', error: null });
  assert.is((await owner.query('SELECT count(*)::int AS n FROM public.issues WHERE id = $1', [ids.job])).rows[0].n, 0, 'the issue is gone');
  assert.is((await owner.query('SELECT count(*)::int AS n FROM public.attachments WHERE issue_id = $1', [ids.job])).rows[0].n, 0, 'with its attachments');
  assert.is((await owner.query('SELECT count(*)::int AS n FROM deletion.pending_file_deletions')).rows[0].n, 3, 'their files are queued');
  assert.is((await owner.query(`SELECT status FROM deletion.deletion_jobs WHERE id = $1`, [soft])).rows[0].status, 'cancelled', 'the application cancelled its own job');
});

test('deletion-kit files cleanup --once as the admin deletes the files from local storage', async () => {
  const out = await cli('admin', 'files', 'cleanup', '--once', '--root', files);
  assert.match(out, /done: 3 deleted, 0 kept, 0 to retry, 0 failed/);
  assert.ok(!existsSync(path.join(files, 'managed/a.png')), 'the files are gone');
});

test('lint, plan, trash, jobs, files stats, status and the audit seal; plan runs as the caller (SELECT on what it reaches)', async () => {
  const [lint, trash, jobs, stats, appPlan, appJobs, status, appLint] = await Promise.all([
    cli('admin', 'lint'),
    cli('admin', 'trash'),
    cli('admin', 'jobs'),
    cli('admin', 'files', 'stats'),
    cli('app', 'plan', 'public.workspaces', ids.workspace),
    cli('app', 'jobs'),
    cli('owner', 'migrate', 'status'),
    cli('app', 'lint'),
  ]);
  assert.match(lint, /no deletion hazards found|^0 errors, /m, lint);
  assert.match(appLint, /no deletion hazards found|^0 errors, /m, appLint);
  assert.match(trash, /the trash is empty/, trash);
  assert.match(jobs, /done 1, failed 0, cancelled 1/, jobs);
  assert.match(stats, /pending +0/, stats);
  assert.match(appPlan, /^1 +issues +soft delete +3 /m, appPlan);
  assert.match(appJobs, /done 1/, appJobs);
  assert.match(status, /module +99_privileges\.sql +applied/, status);
  const admin = await as('admin');
  assert.is(await sqlstate(admin, `SELECT * FROM deletion.plan('public.workspaces', $1)`, [ids.workspace]), '42501', 'plan counts as the caller: the admin, with no SELECT on workspaces, may not');
  const key = randomBytes(16).toString('hex');
  await admin.query('SELECT audit.seal($1)', [key]);
  const verify = await run(process.execPath, [CLI, 'audit', 'verify'], { env: { ...process.env, DATABASE_URL: url('admin'), DELETION_KIT_AUDIT_KEY: key } });
  assert.match(verify.stdout, /^ok: /);
});

test('the admin\'s own DELETE under SET LOCAL deletion.mode = \'hard\' is hard and audited; audit.restore_deleted brings it back', async () => {
  const admin = await as('admin');
  const owner = await as('owner');
  // The admins were granted DELETE on public.issues above (scheduling needs it). A DELETE of its own
  // also runs the product's triggers as the admin: the example's statistics triggers may write
  // milestones and labels (only those the deleted issue counts in), so the admin also holds the
  // application's table privileges here.
  const hardDelete = `BEGIN; SET LOCAL deletion.mode = 'hard'; DELETE FROM public.issues WHERE id = ${Number(ids.cancel)}; COMMIT`;
  await owner.query(`GRANT deletion_app TO ${ROLES.admin.name}`);
  await admin.query(hardDelete);
  assert.is((await owner.query('SELECT count(*)::int AS n FROM public.issues WHERE id = $1', [ids.cancel])).rows[0].n, 0, 'gone for good');
  const restored = await admin.query(`SELECT kind, rows::int FROM audit.restore_deleted('public.issues', $1) WHERE table_name = 'public.issues'`, [ids.cancel]);
  assert.ok(restored.rows.some((r) => r.rows === 1), JSON.stringify(restored.rows));
  assert.is((await owner.query('SELECT count(*)::int AS n FROM public.issues WHERE id = $1 AND deleted_at IS NULL', [ids.cancel])).rows[0].n, 1, 'back');
});

test('wiring a table: the owner of the table, as the migrating role; not the admin, not for a table it does not own', async () => {
  const owner = await as('owner');
  const admin = await as('admin');
  await owner.query(`CREATE TABLE public.notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body text)`);
  assert.is(await sqlstate(admin, `SELECT deletion.enable_soft_delete('public.notes')`), '42501', 'the admin may not wire');
  await owner.query(`SELECT deletion.enable_soft_delete('public.notes')`);
  const wired = await owner.query(`SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = 'public.notes'::regclass AND tgname LIKE 'deletion\\_%'`);
  assert.ok(wired.rows[0].n >= 3, 'the owner wired its own table');
  // A table of another role (the application's, in a schema of its own): the migrating role cannot wire it.
  await owner.query(`CREATE SCHEMA app_data AUTHORIZATION ${ROLES.owner.name}; GRANT USAGE, CREATE ON SCHEMA app_data TO ${ROLES.app.name}`);
  const app = await as('app');
  await app.query(`CREATE TABLE app_data.drafts (id bigint PRIMARY KEY)`);
  assert.is(await sqlstate(owner, `SELECT deletion.enable_soft_delete('app_data.drafts')`), '42501', 'must be owner of table');
});

test('the migrating role is an admin too (through deletion_owner), and another database on the same server installs with the same roles', async () => {
  const owner = await as('owner');
  assert.ok((await owner.query(`SELECT pg_has_role(current_user, 'deletion_admin', 'MEMBER') AS ok`)).rows[0].ok,
    'deletion_owner is a member of deletion_admin, so whoever migrates is one as well');
  await owner.query('CREATE DATABASE product_two'); // CREATEDB: the engine itself never creates a database
  assert.match(await cli({ url: url('owner', 'product_two') }, 'migrate'), /applied engine migration 0070_engine_owner/);
});

test('without CREATEROLE (nor ADMIN on the engine\'s roles) a database owner cannot install; nothing is left behind', async () => {
  const plain = { name: 'plain_owner', password: password() };
  await asSuperuser(`CREATE ROLE ${plain.name} LOGIN NOCREATEROLE PASSWORD '${plain.password}'`, `CREATE DATABASE plain_db OWNER ${plain.name}`);
  const target = `postgres://${plain.name}:${plain.password}@127.0.0.1:${config.port}/plain_db`;
  const failed = await cli({ url: target }, 'migrate').then((out) => `succeeded: ${out}`, (e) => String(e.stderr));
  assert.match(failed, /permission denied to grant role "deletion_owner"|must have admin option on role "deletion_owner"/, failed);
  const c = await connect(target);
  assert.is((await c.query(`SELECT to_regnamespace('deletion') AS s`)).rows[0].s, null, 'the failed migrate rolled back');
});

test('a second owner role on the same server: on PostgreSQL 16+ it needs ADMIN OPTION on the engine\'s roles from the first', async () => {
  // Roles are cluster-wide; since PostgreSQL 16 a CREATEROLE role administers only the roles it
  // created (or was given ADMIN OPTION on). 15 lets any CREATEROLE role grant any non-superuser role.
  const second = { name: 'second_owner', password: password() };
  await asSuperuser(`CREATE ROLE ${second.name} LOGIN CREATEROLE PASSWORD '${second.password}'`, `CREATE DATABASE second_db OWNER ${second.name}`);
  const target = { url: `postgres://${second.name}:${second.password}@127.0.0.1:${config.port}/second_db` };
  const first = await cli(target, 'migrate').then((out) => out, (e) => String(e.stderr));
  if (MAJOR >= 16) assert.match(first, /permission denied to grant role "deletion_owner"/, first);
  else assert.match(first, /applied engine migration 0070_engine_owner/, first);
  await (await as('owner')).query(`GRANT deletion_owner, deletion_admin, deletion_app TO ${second.name} WITH ADMIN OPTION`);
  assert.match(await cli(target, 'migrate'), MAJOR >= 16 ? /applied engine migration 0070_engine_owner/ : /database is up to date/);
});

test('upgrades need no CREATEROLE or CREATEDB: membership in deletion_owner and owning the wired tables', async () => {
  // Managed services let you drop attributes you do not need; the superuser plays that part here.
  await asSuperuser(`ALTER ROLE ${ROLES.owner.name} NOCREATEROLE NOCREATEDB`);
  assert.match(await cli('owner', 'migrate', 'down', '1'), new RegExp(`reverted engine migration ${LAST_MIGRATION}`));
  assert.match(await cli('owner', 'migrate'), new RegExp(`applied engine migration ${LAST_MIGRATION}`));
});

test.run();

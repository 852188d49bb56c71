// The client suite: real ORMs (Prisma 7 with its pg driver adapter, TypeORM, Sequelize, Drizzle, Knex,
// SQLAlchemy, Django) as the application role against the example product, each in a database of
// its own, through every scenario of test/clients/harness.ts. What each required behaviour did is
// checked in the database (test/clients/expectations.ts); what the client reported goes to
// test/clients/results.json, and docs/clients.md's table must be the rendering of this run's results.
//
// Runs on every major (about a minute each); results.json and the docs check come from the default
// major (18) only, so the committed files do not depend on which major ran last.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_MAJOR } from '../src/embedded.ts';
import { DOC_FILE, RESULTS_FILE, RESULTS_FORMAT, render, withTable, type ClientInfo, type SuiteResults } from './clients/docs.ts';
import { check } from './clients/expectations.ts';
import { appLoginRole, clientDatabase, SCENARIOS, type ClientContext, type Observed, type Scenario, type ScenarioResult } from './clients/harness.ts';
import { knownFailure } from './clients/known_failing.ts';
import { client } from './helpers.ts';

const execFileAsync = promisify(execFile);
const MAJOR = Number(process.env.TEST_PG_MAJOR ?? DEFAULT_MAJOR);
const ON_DEFAULT_MAJOR = MAJOR === DEFAULT_MAJOR;
/** Debian's Python, where python3-sqlalchemy, python3-psycopg2 and python3-django install (not a pyenv shim). */
const PYTHON = process.env.CLIENTS_PYTHON ?? '/usr/bin/python3';

interface ClientDriver extends ClientInfo {
  run(ctx: ClientContext): Promise<Record<Scenario, Observed>>;
}

function nodeVersion(pkg: string): string {
  return JSON.parse(readFileSync(path.resolve('node_modules', pkg, 'package.json'), 'utf8')).version;
}

async function nodeDriver(module: string): Promise<ClientDriver> {
  const m = await import(module);
  return { client: m.name, package: m.pkg, version: nodeVersion(m.pkg), run: m.run };
}

/** A Python client: the script reads the context as JSON (argv[1]) and prints its observations as JSON. */
async function pythonDriver(clientName: string, pkg: string, module: string, script: string): Promise<ClientDriver> {
  const { stdout } = await execFileAsync(PYTHON, ['-c', `import ${module}; print(${module}.__version__ if hasattr(${module}, '__version__') else ${module}.get_version())`]);
  return {
    client: clientName, package: pkg, version: stdout.trim(),
    run: async (ctx) => {
      const { stdout: out } = await execFileAsync(PYTHON, [path.resolve('test/clients', script), JSON.stringify(ctx)], { maxBuffer: 1 << 24 });
      return JSON.parse(out);
    },
  };
}

const results: ScenarioResult[] = [];
const infos: ClientInfo[] = [];
let role: Awaited<ReturnType<typeof appLoginRole>>;

test.before(async () => {
  role = await appLoginRole('clients_suite');
});

test.after(async () => {
  await role.drop();
});

const DRIVERS: Array<[string, () => Promise<ClientDriver>]> = [
  ['Prisma', () => nodeDriver('./clients/client_prisma.ts')],
  ['TypeORM', () => nodeDriver('./clients/client_typeorm.ts')],
  ['Sequelize', () => nodeDriver('./clients/client_sequelize.ts')],
  ['Drizzle', () => nodeDriver('./clients/client_drizzle.ts')],
  ['Knex', () => nodeDriver('./clients/client_knex.ts')],
  ['SQLAlchemy', () => pythonDriver('SQLAlchemy', 'python3-sqlalchemy', 'sqlalchemy', 'client_sqlalchemy.py')],
  ['Django', () => pythonDriver('Django', 'python3-django', 'django', 'client_django.py')],
];

for (const [label, load] of DRIVERS) {
  test(`${label}: every scenario as the application role`, async () => {
    const driver = await load();
    infos.push({ client: driver.client, package: driver.package, version: driver.version });
    const db = await clientDatabase(role.role, label.toLowerCase());
    const admin = await client(db.admin);
    const failures: string[] = [];
    try {
      const observed = await driver.run(db.ctx);
      for (const scenario of SCENARIOS) {
        const o = observed[scenario] ?? { error: { code: null, name: 'Missing', message: 'the client did not run this scenario' } };
        const failure = await check(scenario, o, admin, db.ctx);
        const known = knownFailure(driver.client, scenario);
        const r: ScenarioResult = { client: driver.client, scenario, ...o, passed: failure === null };
        if (failure) r.failure = failure;
        if (known && failure) r.knownFailing = known.reason;
        results.push(r);
        if (failure && !known) failures.push(`${scenario}: ${failure}`);
        if (!failure && known && !o.unsupported) failures.push(`${scenario} now holds: remove it from test/clients/known_failing.ts`);
      }
    } finally {
      await admin.end();
      await db.drop();
    }
    assert.equal(failures, [], `${label}:\n  ${failures.join('\n  ')}`);
  });
}

test('results.json is written from this run, and docs/clients.md\'s table is its rendering', async () => {
  if (!ON_DEFAULT_MAJOR) return;
  assert.is(infos.length, DRIVERS.length, 'every client ran');
  const suite: SuiteResults = { format: RESULTS_FORMAT, postgres: MAJOR, clients: infos, results };
  // Times inside error messages (a failing row's created_at) change every run: written as <time>, so
  // an unchanged run leaves the committed file as it is.
  const text = JSON.stringify(suite, null, 2).replace(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?\+\d\d/g, '<time>');
  writeFileSync(RESULTS_FILE, `${text}\n`);
  const doc = readFileSync(DOC_FILE, 'utf8');
  const expected = withTable(doc, render(suite));
  assert.ok(doc === expected, 'docs/clients.md differs from this run\'s results: run `npm run docs:clients` and commit both files');
});

test.run();

// deletion-kit demo: a first tour on the embedded default database. It creates (anew each run) a
// database of its own, deletion_kit_demo, in the embedded server; installs the engine and the
// example product (an issue tracker); fills it with generated data; and walks through the main
// jobs: plan a delete, soft delete and restore, a scheduled deletion job worked by the worker, an
// audit restore after a hard delete, file cleanup, and lint. Each step says what it shows and runs
// the very command a user would type (a child `deletion-kit` process), or the SQL an application
// would send. The embedded server's own database (deletion_kit) is left alone.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import pg from 'pg';
import { PACKAGE_ROOT } from '../config.ts';
import { EMBEDDED_ROOT, embeddedUrl, redactUrl, UserError } from '../db.ts';
import { plural, printJson, seconds, style, table } from '../output.ts';

export const DEMO_DATABASE = 'deletion_kit_demo';
const CLI = path.join(PACKAGE_ROOT, 'bin', 'deletion-kit.js');
const GENERATOR = path.join(PACKAGE_ROOT, 'bench', 'sql', 'generate_product_data.sql');

interface StepRecord {
  step: string;
  command: string;
  exit_code: number;
  seconds: number;
}

interface DemoOptions {
  issues: string;
  json?: boolean;
}

export function register(program: Command) {
  program
    .command('demo')
    .description(`a guided tour on the embedded default database: creates the database ${DEMO_DATABASE} anew, installs the engine and the example product, generates data, then plans, soft-deletes and restores, runs a deletion job, restores from the audit log, cleans files and lints, printing each command`)
    .option('--issues <n>', 'issues per generated workspace (two workspaces; about 7 rows an issue)', '300')
    .option('--json', 'print no walk-through, only one JSON document: the database and each step\'s command, exit code and seconds')
    .action(async (options: DemoOptions) => {
      const issues = Number(options.issues);
      if (!Number.isInteger(issues) || issues < 120 || issues > 100_000) throw new UserError(`--issues takes a whole number from 120 to 100000, not "${options.issues}"`);
      if (!existsSync(GENERATOR)) throw new UserError(`the data generator ${GENERATOR} is missing: run the demo from a clone of the repository`);
      await runDemo(issues, Boolean(options.json));
    });
}

async function runDemo(issues: number, json: boolean) {
  const started = Date.now();
  const records: StepRecord[] = [];
  const say = (text = '') => {
    if (!json) console.log(text);
  };
  const envName = 'DATABASE_URL';
  if (process.env[envName] && !json) {
    console.log(style.dim(`(${envName} is set; the demo uses the embedded default database all the same, never yours)`));
  }

  // The embedded server (started or reused: embeddedUrl says which), and a demo database of its own.
  const serverUrl = await embeddedUrl({ quiet: json });
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${DEMO_DATABASE} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${DEMO_DATABASE}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${DEMO_DATABASE}`;
  const demoUrl = url.toString();
  const filesRoot = path.join(EMBEDDED_ROOT(), 'demo-files');

  let stepNo = 0;
  const TOTAL = 8;
  let title = '';
  const heading = (name: string, what: string) => {
    stepNo++;
    title = name;
    say();
    say(style.bold(`== ${stepNo}/${TOTAL} ${name} ${'='.repeat(Math.max(3, 70 - name.length))}`));
    say(what);
  };

  /** Runs `deletion-kit ARGS` on the demo database, its output shown as it comes (captured in --json mode). */
  const cli = (args: string[], expectCodes: number[] = [0]): Promise<{ code: number; stdout: string }> => {
    const shown = `deletion-kit ${args.map((a) => (/^[\w./:=@-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ')}`;
    say(style.cyan(`$ ${shown}`));
    const t0 = Date.now();
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, ...args], {
        env: { ...process.env, DATABASE_URL: demoUrl },
        stdio: ['ignore', 'pipe', json ? 'pipe' : 'inherit'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d) => {
        stdout += d;
        if (!json) process.stdout.write(d);
      });
      child.stderr?.on('data', (d) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => {
        const exit = code ?? 1;
        records.push({ step: title, command: shown, exit_code: exit, seconds: seconds(Date.now() - t0) });
        if (!expectCodes.includes(exit)) {
          reject(new UserError(`the demo stopped: \`${shown}\` exited ${exit}${stderr ? `: ${stderr.trim()}` : ''}`));
          return;
        }
        if (exit !== 0) say(style.dim(`(exit code ${exit}, as expected here)`));
        resolve({ code: exit, stdout });
      });
    });
  };

  const db = new pg.Client({ connectionString: demoUrl, application_name: 'deletion-kit demo' });
  /** Runs SQL as the application would, showing it first. */
  const sql = async (text: string, params: unknown[] = []) => {
    say(style.cyan(`SQL> ${text}`));
    const t0 = Date.now();
    const result = await db.query(text, params);
    records.push({ step: title, command: `SQL> ${text}`, exit_code: 0, seconds: seconds(Date.now() - t0) });
    return result;
  };

  say(style.bold(`deletion-kit demo: a tour on the embedded database ${DEMO_DATABASE} (made anew each run)`));

  heading('Install', 'The engine goes in first (its own schemas and roles, nothing in yours); then the example product, an issue tracker whose migrations adopt the engine table by table.');
  await cli(['migrate']);
  await cli(['example', 'install']);

  await db.connect();
  try {
    heading('Generate data', `Two workspaces of ${issues} issues each, with their projects, comments, reactions, labels and attachments (bench/sql/generate_product_data.sql).`);
    await db.query(readFileSync(GENERATOR, 'utf8'));
    const generated = await sql('SELECT table_name, rows FROM bench.generate_product_data($1, 2)', [issues]);
    say(table(['table', { header: 'rows', align: 'right' }], generated.rows.map((r) => [r.table_name, Number(r.rows)])));
    // The attachments' files, in a local storage folder, so that file cleanup has something to remove.
    rmSync(filesRoot, { recursive: true, force: true });
    const keys = (await db.query<{ storage_key: string }>('SELECT storage_key FROM public.attachments')).rows.map((r) => r.storage_key);
    for (const key of keys) {
      mkdirSync(path.dirname(path.join(filesRoot, key)), { recursive: true });
      writeFileSync(path.join(filesRoot, key), 'demo file\n');
    }
    say(`and ${plural(keys.length, 'attachment file')} in ${filesRoot}`);

    heading('Plan a delete', 'What deleting a row would do, before anything is deleted: every table its delete reaches, how (cascade, soft delete, SET NULL) and how many rows. Then protection: a rule refuses to delete a user who still has open issues assigned.');
    await cli(['plan', 'public.workspaces', '1'], [0, 1, 2]);
    const busy = (await db.query<{ id: string }>(
      `SELECT min(assignee_id) AS id FROM public.issues WHERE workspace_id = 1 AND status NOT IN ('done', 'canceled')`)).rows[0].id;
    try {
      await sql(`DELETE FROM public.users WHERE id = ${Number(busy)}`);
      throw new UserError('the demo stopped: the protection rule on public.users did not refuse the delete');
    } catch (err) {
      const e = err as { code?: string; message: string };
      if (!e.code?.startsWith('PD3')) throw err;
      say(`${style.red('refused')}: ${e.message} (SQLSTATE ${e.code}); nothing was deleted`);
    }

    heading('Soft delete and restore', 'The application soft-deletes with an UPDATE of deleted_at (it reports its row, as on a plain table); the database soft-deletes the row\'s cascade with it, one operation in the trash, restorable all or nothing. A plain DELETE on the example\'s soft-delete tables is refused with a hint, so no client is told it deleted 0 rows.');
    const project = (await db.query<{ id: string }>('SELECT min(id) AS id FROM public.projects WHERE workspace_id = 1')).rows[0].id;
    await sql(`UPDATE public.projects SET deleted_at = now() WHERE id = ${Number(project)}`);
    await cli(['trash']);
    const op = (await db.query<{ op: string }>('SELECT op FROM deletion.vw_trash ORDER BY deleted_at DESC LIMIT 1')).rows[0].op;
    await cli(['restore', op]);
    await cli(['trash']);

    heading('A scheduled deletion job', 'Workspace 2 is too big to delete in one statement: a job deletes it in short chunks, leaves first; the worker shows its progress (a bar on a terminal, JSON lines otherwise).');
    await cli(['schedule', 'public.workspaces', '2', '--hard', '--reason', 'demo: the workspace was closed']);
    await cli(['worker', '--once', '--chunk-rows', '500']);
    await cli(['jobs']);

    heading('Audit restore after a hard delete', 'Labels are hard-deleted; the audit log keeps what each delete removed, so a label comes back with everything its delete cascaded to.');
    const label = (await db.query<{ id: string }>(
      `SELECT l.id FROM public.labels l WHERE EXISTS (SELECT 1 FROM public.issue_label_relations r WHERE r.label_id = l.id) ORDER BY l.id LIMIT 1`)).rows[0].id;
    await sql(`DELETE FROM public.labels WHERE id = ${Number(label)}`);
    await cli(['audit', 'restore', 'public.labels', String(label), '--dry-run']);
    await cli(['audit', 'restore', 'public.labels', String(label)]);

    heading('File cleanup', 'Rows go at once; their files wait in a queue. The workspace job queued its attachments\' files: the cleaner removes them from storage (here a local folder) in batches.');
    await cli(['files', 'stats']);
    await cli(['files', 'cleanup', '--root', filesRoot, '--until-empty']);
    await cli(['files', 'stats']);

    heading('Lint', 'Deletion hazards in the schema (unindexed foreign keys, tables without a policy, deep cascades); exit code 1 when it finds an error, so CI can fail on one. The example is clean; a table added without a thought for deletion is not.');
    await cli(['lint']);
    await sql('CREATE TABLE public.issue_notes (id bigint PRIMARY KEY, issue_id bigint NOT NULL REFERENCES public.issues, body text)');
    await cli(['lint'], [1]);
  } finally {
    await db.end();
  }

  if (json) {
    printJson({ database: redactUrl(demoUrl), files_root: filesRoot, steps: records, seconds: seconds(Date.now() - started) });
    return;
  }
  say();
  say(style.bold(`Done in ${Math.round((Date.now() - started) / 1000)} s.`) + ` The demo database stays, and the embedded server keeps running (deletion-kit db stop stops it).`);
  say('To try any command on it yourself:');
  say(`  export DATABASE_URL="$(deletion-kit db url --database ${DEMO_DATABASE})"`);
  say('  deletion-kit trash; deletion-kit plan public.issues 1; deletion-kit --help');
}

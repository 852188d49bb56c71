// The CLI's conventions against a real database: --version, short usage errors, clear lines for a
// malformed DATABASE_URL and a never-migrated database, exit codes, a quiet exit on a closed pipe,
// colour on a terminal only (and never with NO_COLOR), shell completion, and the --json shape and
// exit code of each command (docs/cli.md). trash, restore and audit have theirs in
// soft_delete_cli.test.ts and audit.test.ts.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { client, env, freshDatabase } from './helpers.ts';

const run = promisify(execFile);
const CLI = path.resolve('bin/deletion-kit.js');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'dk-cli-'));
const noEmbedded = path.join(tmp, 'no-embedded-here');
interface Result { code: number; stdout: string; stderr: string }
const cli = (args: string[], extra: NodeJS.ProcessEnv = {}): Promise<Result> =>
  run(process.execPath, [CLI, ...args], { env: { ...process.env, DATABASE_URL: env('DATABASE_URL'), DELETION_KIT_HOME: noEmbedded, ...extra } }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e) => ({ code: e.code as number, stdout: e.stdout as string, stderr: e.stderr as string }),
  );
const json = async (args: string[], code = 0, extra: NodeJS.ProcessEnv = {}) => {
  const r = await cli([...args, '--json'], extra);
  assert.is(r.code, code, `${args.join(' ')} --json exits ${code}: ${r.stderr}`);
  return JSON.parse(r.stdout);
};
const keys = (o: object) => Object.keys(o);

test.after(() => rmSync(tmp, { recursive: true, force: true }));

test('--version prints the package version', async () => {
  const r = await cli(['--version']);
  assert.is(r.stdout.trim(), JSON.parse(readFileSync('package.json', 'utf8')).version);
});

test('usage mistakes: two short lines on stderr and exit 1, never the help', async () => {
  const cases: [string[], RegExp][] = [
    [['plann'], /^deletion-kit: unknown command 'plann' \(Did you mean plan\?\)\nrun deletion-kit --help for its options and commands\n$/],
    [['migrate', 'sideways'], /^deletion-kit: unknown command 'sideways' for deletion-kit migrate \(its commands: up, down, status\)\n/],
    [['lint', '--jsn'], /^deletion-kit: unknown option '--jsn' \(Did you mean --json\?\)\n/],
    [['files', 'track'], /^deletion-kit: missing required argument 'table'; usage: deletion-kit files track \[options\] <table> \[column\]\n/],
  ];
  for (const [args, expected] of cases) {
    const r = await cli(args);
    assert.is(r.code, 1, args.join(' '));
    assert.match(r.stderr, expected);
    assert.is(r.stderr.trim().split('\n').length, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.is(r.stdout, '');
  }
});

test('a malformed DATABASE_URL and a never-migrated database: one line that says what to do', async () => {
  const bad = await cli(['trash'], { DATABASE_URL: 'notaurl' });
  assert.is(bad.code, 1);
  assert.is(bad.stderr, 'deletion-kit: DATABASE_URL is not a PostgreSQL URL: it must look like postgres://user:password@host:5432/database (unset it to use the embedded default database)\n');
  const db = await freshDatabase({ empty: true });
  try {
    for (const args of [['trash'], ['files', 'stats'], ['lint']]) {
      const r = await cli(args, { DATABASE_URL: db.url });
      assert.is(r.code, 1);
      assert.match(r.stderr, /^deletion-kit: the deletion engine is not installed in postgres:\/\/.*:\*\*\*@.*: run deletion-kit migrate\n$/, r.stderr);
    }
  } finally {
    await db.drop();
  }
});

test('a closed pipe ends the command quietly', async () => {
  const { stdout } = await run('bash', ['-c', `set -o pipefail; "${process.execPath}" "${CLI}" completion bash 2>"${tmp}/err" | true; echo "exit \${PIPESTATUS[0]}"; cat "${tmp}/err"`]);
  assert.is(stdout, 'exit 0\n');
});

test('colour on a terminal only, and never with NO_COLOR', async () => {
  const onTerminal = (extra: string) => run('script', ['-qec', `${extra} "${process.execPath}" "${CLI}" migrate status`, '/dev/null'], {
    env: { ...process.env, DATABASE_URL: env('DATABASE_URL'), TERM: 'xterm' },
  }).then((r) => r.stdout);
  assert.match(await onTerminal('env -u NO_COLOR'), /\x1b\[32mapplied\x1b\[39m/, 'green on a terminal');
  assert.not.match(await onTerminal('NO_COLOR=1'), /\x1b\[/, 'none with NO_COLOR');
  assert.not.match((await cli(['migrate', 'status'])).stdout, /\x1b\[/, 'none in a pipe');
});

test('completion: bash completes commands, subcommands and options', async () => {
  const script = path.join(tmp, 'completion.bash');
  const r = await cli(['completion', 'bash']);
  require_ok(r);
  await import('node:fs').then((fs) => fs.writeFileSync(script, r.stdout));
  const complete = async (...words: string[]) =>
    (await run('bash', ['-c', `source "${script}"; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _deletion_kit; echo "\${COMPREPLY[*]}"`])).stdout.trim();
  assert.is(await complete('deletion-kit', 'mig'), 'migrate');
  assert.is(await complete('deletion-kit', 'migrate', 's'), 'status');
  assert.is(await complete('deletion-kit', 'trash', 'purge', '--dr'), '--dry-run');
  assert.is(await complete('deletion-kit', 'audit', 'restore-t'), 'restore-transaction');
  const zsh = await cli(['completion', 'zsh']);
  assert.match(zsh.stdout, /^#compdef deletion-kit\n/);
  assert.is((await cli(['completion', 'fish'])).code, 1);
});

function require_ok(r: Result) {
  assert.is(r.code, 0, r.stderr);
}

test('--json: migrate, migrate status, example status', async () => {
  const up = await json(['migrate']);
  assert.equal(keys(up), ['direction', 'engine_migrations', 'modules', 'app_migrations', 'rewired', 'concurrent']);
  assert.equal(up.engine_migrations, []);
  assert.is(typeof up.rewired, 'number');
  const status = await json(['migrate', 'status']);
  assert.equal(keys(status), ['engine', 'modules', 'app']);
  assert.equal(status.engine.pending, []);
  assert.ok(status.engine.applied.length > 0);
  assert.equal(keys(status.engine.applied[0]), ['name', 'run_on']);
  assert.is(status.app, null);
  assert.ok(status.modules.every((m: { state: string }) => m.state === 'applied'));
  const example = await json(['example', 'status']);
  assert.equal(keys(example), ['applied', 'pending']);
  assert.equal(example.pending, []);
});

test('--json: db status without an embedded database', async () => {
  const s = await json(['db', 'status']);
  assert.equal(s, { exists: false, running: false, major: null, port: null, folder: noEmbedded, data_dir: null });
  const text = await cli(['db', 'status']);
  assert.match(text.stdout, /^no embedded database yet/);
});

test('--json: trash, files stats, files retry, lint', async () => {
  assert.equal(await json(['trash']), { operations: [] });
  const stats = await json(['files', 'stats']);
  assert.equal(keys(stats), ['pending', 'in_progress', 'retrying', 'failed', 'oldest_pending_queued_at', 'oldest_pending_age_seconds', 'attempts', 'failed_files']);
  assert.is(stats.pending, 0, 'numbers as numbers');
  assert.is(stats.oldest_pending_age_seconds, 0);
  assert.equal(await json(['files', 'retry']), { files_due: 0 });
  const r = await cli(['lint', '--json']);
  const findings = JSON.parse(r.stdout);
  assert.ok(Array.isArray(findings));
  assert.is(r.code, findings.some((f: { severity: string }) => f.severity === 'error') ? 1 : 0, 'exit 1 exactly when there are errors');
});

test('--json: docs --check exits 1 on differences, then docs writes and --check agrees', async () => {
  const out = path.join(tmp, 'docs');
  const check = await json(['docs', '--out', out, '--check'], 1);
  assert.equal(keys(check), ['dir', 'check', 'files', 'problems']);
  assert.ok(check.problems.includes('missing cascade.md'));
  const wrote = await json(['docs', '--out', out]);
  assert.is(wrote.files, check.files);
  assert.equal((await json(['docs', '--out', out, '--check'])).problems, []);
});

test('--json: schedule, cancel, jobs undo (a refusal too)', async () => {
  const c = await client();
  try {
    await c.query(`INSERT INTO public.workspaces (name, slug) VALUES ('Json', 'json-ws')`);
    const id = (await c.query(`SELECT id::text FROM public.workspaces WHERE slug = 'json-ws'`)).rows[0].id;
    const scheduled = await json(['schedule', 'public.workspaces', id, '--in', '1d', '--reason', 'json shape', '--by', '42']);
    assert.equal(keys(scheduled), ['scheduled', 'job']);
    assert.is(scheduled.scheduled, true);
    assert.equal(keys(scheduled.job), ['id', 'entity_table', 'entity_pk', 'hard_delete', 'status', 'scheduled_at', 'notify_before_seconds']);
    assert.is(typeof scheduled.job.id, 'number');
    assert.is((await c.query('SELECT created_by FROM deletion.deletion_jobs WHERE id = $1', [scheduled.job.id])).rows[0].created_by, '42',
      'the actor is recorded as text');
    const cancelled = await json(['cancel', String(scheduled.job.id)]);
    assert.equal(cancelled, { id: scheduled.job.id, status: 'cancelled' });
    const undo = await json(['jobs', 'undo', String(scheduled.job.id), '--dry-run'], 2);
    assert.equal(keys(undo), ['job', 'dry_run', 'refused'], 'a job that deleted nothing cannot be undone: refused, exit 2');
    assert.is(typeof undo.refused.sqlstate, 'string');
  } finally {
    await c.end();
  }
});

test('--json: init --dry-run', async () => {
  const dir = path.join(tmp, 'migrations');
  const r = await json(['init', '--dir', dir, '--dry-run']);
  assert.equal(keys(r), ['dry_run', 'written', 'migration_file', 'concurrent_file', 'tables', 'soft_delete', 'commented_out', 'indexes', 'migration', 'concurrent']);
  assert.is(r.dry_run, true);
  assert.is(r.written, false);
});

test.run();

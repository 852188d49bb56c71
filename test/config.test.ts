// deletion-kit.config.json (src/config.ts): found from a subfolder, first file up the tree wins, paths
// relative to its folder, defaults, one-line errors naming the file and the key; and the embedded data
// folder found the same way, so a command run in a subfolder reuses the project's .deletion-kit.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CONFIG_FILE, loadConfig, resolveEmbeddedDir } from '../src/config.ts';
import { UserError } from '../src/errors.ts';

const run = promisify(execFile);
const CLI = path.resolve('bin/deletion-kit.js');

const temps: string[] = [];
test.after(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

/** A fresh temporary folder (real path, so results compare as strings) with `dirs` made inside it. */
function tempTree(...dirs: string[]): string {
  const root = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'dk-config-')));
  temps.push(root);
  for (const d of dirs) mkdirSync(path.join(root, d), { recursive: true });
  return root;
}

function writeConfig(dir: string, content: unknown) {
  writeFileSync(path.join(dir, CONFIG_FILE), typeof content === 'string' ? content : JSON.stringify(content));
}

/** The message of the UserError `work` throws. */
function userError(work: () => unknown): string {
  let error: unknown;
  try {
    work();
  } catch (err) {
    error = err;
  }
  assert.instance(error, UserError, 'a UserError (printed as one line by the CLI)');
  return (error as Error).message;
}

test('without a config file every key has its default', () => {
  const root = tempTree('a/b');
  const config = loadConfig(path.join(root, 'a/b'));
  assert.is(config.file, undefined, 'no deletion-kit.config.json above the temporary folder');
  assert.is(config.dir, path.join(root, 'a/b'), 'relative paths would resolve against the cwd');
  assert.is(config.databaseUrlEnv, 'DATABASE_URL');
  assert.is(config.migrationsDir, undefined);
  assert.is(config.migrationsTable, 'app_migrations');
  assert.equal(config.appRoles, []);
  assert.is(config.docsDir, undefined);
  assert.is(config.embeddedDir, undefined);
});

test('the config is found from a subfolder; its paths are relative to its own folder', () => {
  const root = tempTree('project/src/deep');
  writeConfig(path.join(root, 'project'), {
    databaseUrlEnv: 'APP_DATABASE_URL',
    migrationsDir: 'db/migrations',
    migrationsTable: 'my_migrations',
    appRoles: ['app_rw', 'app_worker'],
    docsDir: 'generated/db-docs',
    embeddedDir: '../pg-data',
  });
  const config = loadConfig(path.join(root, 'project/src/deep'));
  assert.is(config.file, path.join(root, 'project', CONFIG_FILE));
  assert.is(config.dir, path.join(root, 'project'));
  assert.is(config.databaseUrlEnv, 'APP_DATABASE_URL');
  assert.is(config.migrationsDir, path.join(root, 'project/db/migrations'));
  assert.is(config.migrationsTable, 'my_migrations');
  assert.equal(config.appRoles, ['app_rw', 'app_worker']);
  assert.is(config.docsDir, path.join(root, 'project/generated/db-docs'));
  assert.is(config.embeddedDir, path.join(root, 'pg-data'));
});

test('the first config file up the tree wins: nothing is merged from the ones above it', () => {
  const root = tempTree('outer/inner/sub');
  writeConfig(path.join(root, 'outer'), { migrationsTable: 'outer_migrations', docsDir: 'outer-docs' });
  writeConfig(path.join(root, 'outer/inner'), { appRoles: ['inner_app'] });
  const config = loadConfig(path.join(root, 'outer/inner/sub'));
  assert.is(config.file, path.join(root, 'outer/inner', CONFIG_FILE));
  assert.equal(config.appRoles, ['inner_app']);
  assert.is(config.migrationsTable, 'app_migrations', 'the outer file is not read');
  assert.is(config.docsDir, undefined);
});

test('an unknown key is one line naming the file and the key', () => {
  const root = tempTree('sub');
  writeConfig(root, { migrationDir: 'db' });
  const message = userError(() => loadConfig(path.join(root, 'sub')));
  assert.ok(!message.includes('\n'), 'one line');
  assert.ok(message.startsWith(`${path.join(root, CONFIG_FILE)}: unknown key "migrationDir"`), message);
  assert.match(message, /known keys: databaseUrlEnv, migrationsDir, migrationsTable, appRoles, docsDir, embeddedDir/);
});

test('a value of the wrong type is one line naming the file and the key', () => {
  const root = tempTree();
  const file = path.join(root, CONFIG_FILE);
  const cases: [unknown, RegExp][] = [
    [{ appRoles: 'app_rw' }, /: "appRoles" must be an array of role names \(non-empty strings\), not "app_rw"$/],
    [{ appRoles: ['app_rw', 7] }, /: "appRoles" must be an array of role names/],
    [{ migrationsTable: 5 }, /: "migrationsTable" must be a non-empty string, not number 5$/],
    [{ docsDir: '' }, /: "docsDir" must be a non-empty string, not ""$/],
    [{ embeddedDir: null }, /: "embeddedDir" must be a non-empty string, not null$/],
    [{ migrationsDir: ['db'] }, /: "migrationsDir" must be a non-empty string, not an array$/],
    [{ databaseUrlEnv: 'my url' }, /: "databaseUrlEnv" must be the name of an environment variable/],
    [['docsDir'], /: must hold a JSON object of settings, not an array$/],
    ['{ "docsDir": "x", }', /: not valid JSON: /],
  ];
  for (const [content, expected] of cases) {
    writeConfig(root, content);
    const message = userError(() => loadConfig(root));
    assert.ok(!message.includes('\n'), `one line: ${message}`);
    assert.ok(message.startsWith(`${file}: `), `names the file: ${message}`);
    assert.match(message, expected);
  }
});

test('the CLI prints a bad config as one line and exits 1, before connecting', async () => {
  const root = tempTree('sub');
  writeConfig(root, { databaseUrlEnv: 42 });
  const err = await run(process.execPath, [CLI, 'jobs'], { cwd: path.join(root, 'sub') }).catch((e) => e);
  assert.is(err.code, 1);
  assert.is(err.stderr, `deletion-kit: ${path.join(root, CONFIG_FILE)}: "databaseUrlEnv" must be the name of an environment variable (a string of letters, digits and _), not number 42\n`);
});

test('the database URL is read from the variable the config names', async () => {
  const root = tempTree('sub');
  writeConfig(root, { databaseUrlEnv: 'DK_TEST_APP_DATABASE_URL' });
  const url = process.env.DATABASE_URL!;
  const env = { ...process.env, DATABASE_URL: 'postgres://nobody:secret@127.0.0.1:1/none', DK_TEST_APP_DATABASE_URL: url };
  const { stdout } = await run(process.execPath, [CLI, 'jobs', '--json'], { cwd: path.join(root, 'sub'), env });
  assert.ok(Array.isArray(JSON.parse(stdout).jobs), 'connected through DK_TEST_APP_DATABASE_URL; DATABASE_URL is not read');
  const err = await run(process.execPath, [CLI, 'jobs'], { cwd: root, env: { ...env, DK_TEST_APP_DATABASE_URL: 'postgres://nobody:secret@127.0.0.1:1/none' } })
    .catch((e) => e);
  assert.is(err.code, 1);
  assert.match(err.stderr, /^deletion-kit: cannot connect to postgres:\/\/nobody:\*\*\*@127\.0\.0\.1:1\/none/);
});

test('embedded data folder: a subfolder reuses the nearest existing .deletion-kit up the tree', () => {
  const root = tempTree('project/.deletion-kit', 'project/src/deep', 'project/sub/.deletion-kit');
  assert.is(resolveEmbeddedDir(path.join(root, 'project/src/deep'), {}), path.join(root, 'project/.deletion-kit'));
  assert.is(resolveEmbeddedDir(path.join(root, 'project'), {}), path.join(root, 'project/.deletion-kit'));
  assert.is(resolveEmbeddedDir(path.join(root, 'project/sub'), {}), path.join(root, 'project/sub/.deletion-kit'), 'the nearest wins');
  writeConfig(path.join(root, 'project/src'), {});
  assert.is(resolveEmbeddedDir(path.join(root, 'project/src/deep'), {}), path.join(root, 'project/.deletion-kit'),
    'an existing folder above the config file is still found');
  assert.not.ok(existsSync(path.join(root, 'project/src/deep/.deletion-kit')), 'nothing is created by looking');
});

test('embedded data folder: with none up the tree, a new .deletion-kit beside the config file, else in the cwd', () => {
  const root = tempTree('with-config/a/b', 'no-config/a');
  writeConfig(path.join(root, 'with-config'), { docsDir: 'docs' });
  assert.is(resolveEmbeddedDir(path.join(root, 'with-config/a/b'), {}), path.join(root, 'with-config/.deletion-kit'),
    'beside the config (no .deletion-kit above the temporary folder)');
  assert.is(resolveEmbeddedDir(path.join(root, 'no-config/a'), {}), path.join(root, 'no-config/a/.deletion-kit'));
});

test('embedded data folder: DELETION_KIT_HOME overrides everything, then the config\'s embeddedDir', () => {
  const root = tempTree('project/.deletion-kit', 'project/sub');
  const sub = path.join(root, 'project/sub');
  assert.is(resolveEmbeddedDir(sub, { DELETION_KIT_HOME: 'elsewhere' }), path.join(sub, 'elsewhere'), 'relative to the cwd');
  assert.is(resolveEmbeddedDir(sub, { DELETION_KIT_HOME: '/abs/home' }), '/abs/home');
  writeConfig(path.join(root, 'project'), { embeddedDir: 'var/pg' });
  assert.is(resolveEmbeddedDir(sub, {}), path.join(root, 'project/var/pg'), 'the config names it: no search');
  assert.is(resolveEmbeddedDir(sub, { DELETION_KIT_HOME: '/abs/home' }), '/abs/home');
});

test('the CLI in a subfolder uses the project\'s .deletion-kit and creates none of its own', async () => {
  const root = tempTree('project/.deletion-kit', 'project/src');
  const env = { ...process.env, DELETION_KIT_HOME: '', DATABASE_URL: '' };
  const { stdout } = await run(process.execPath, [CLI, 'db', 'status'], { cwd: path.join(root, 'project/src'), env });
  assert.is(stdout, `no embedded database yet (${path.join(root, 'project/.deletion-kit')}); any command creates it\n`);
  assert.not.ok(existsSync(path.join(root, 'project/src/.deletion-kit')));
});

test.run();

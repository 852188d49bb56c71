// deletion-kit.config.json (src/config.ts): found from a subfolder, first file up the tree wins, paths
// relative to its folder, defaults, one-line errors naming the file and the key.
import { mkdirSync, mkdtempSync, realpathSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CONFIG_FILE, loadConfig } from '../src/config.ts';
import { UserError } from '../src/errors.ts';

/** A fresh temporary folder (real path, so results compare as strings) with `dirs` made inside it. */
function tempTree(...dirs: string[]): string {
  const root = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'dk-config-')));
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

test.run();

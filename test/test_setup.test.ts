// The test command's setup step (src/testing/setup.ts) with pgTAP absent: pointed at an empty share
// folder, it stops before testing with the exact command and exit code 2 (setup, not a failed test),
// or installs through apt-get (here a stand-in on PATH that records its arguments and lays pgtap.sql
// into the share folder, as the Debian package would).
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const run = promisify(execFile);
const runTests = (args: string[], env: NodeJS.ProcessEnv) =>
  run(process.execPath, ['--import', 'tsx', 'src/testing/run-tests.ts', ...args], { env: { ...process.env, ...env } }).then(
    (r) => ({ code: 0, out: r.stdout + r.stderr }),
    (e) => ({ code: e.code as number, out: `${e.stdout}${e.stderr}` }),
  );

const tmp = mkdtempSync(path.join(os.tmpdir(), 'dk-setup-'));
const share = path.join(tmp, 'share');
mkdirSync(share);
test.after(() => rmSync(tmp, { recursive: true, force: true }));

test('pgTAP absent and no install: stops before testing with the command, exit 2, no test counted', async () => {
  const r = await runTests(['--no-install', '100_soft_delete_wiring'], { DELETION_KIT_PG_SHAREDIR: share });
  assert.is(r.code, 2, r.out);
  assert.match(r.out, /setup: pgTAP is missing \(needed by 1 test file\) and installing was turned off \(--no-install\); nothing was tested\./);
  assert.match(r.out, /^  apt-get update && apt-get install -y postgresql-15-pgtap$/m);
  assert.not.match(r.out, /\d+ passed, \d+ failed/);
  assert.not.match(r.out, /template ready/, 'no server was started');
});

test('uvu files alone do not need pgTAP: setup passes with it absent', async () => {
  const r = await runTests(['--no-install', '--setup-only', 'config.test'], { DELETION_KIT_PG_SHAREDIR: share });
  assert.is(r.code, 0, r.out);
  assert.match(r.out, /# running 0 pgTAP files \(pg_prove\) and 1 uvu file on PostgreSQL 18/);
});

test('pgTAP absent: installed with apt-get as root on Debian (a stand-in apt-get), or the command that would', async () => {
  const bin = path.join(tmp, 'bin');
  mkdirSync(bin);
  const calls = path.join(tmp, 'apt-calls');
  writeFileSync(path.join(bin, 'apt-get'), `#!/bin/sh
echo "$*" >> '${calls}'
if [ "$1" = install ]; then mkdir -p '${share}/extension' && echo '-- pgtap' > '${share}/extension/pgtap.sql'; fi
`);
  chmodSync(path.join(bin, 'apt-get'), 0o755);
  const r = await runTests(['--setup-only', '100_soft_delete_wiring'], { DELETION_KIT_PG_SHAREDIR: share, PATH: `${bin}${path.delimiter}${process.env.PATH}` });
  if (process.getuid?.() !== 0 || !existsSync('/etc/debian_version')) {
    assert.is(r.code, 2, r.out);
    assert.match(r.out, /installing needs root|not a Debian machine/);
    return;
  }
  assert.is(r.code, 0, r.out);
  assert.match(r.out, /# setup: installing pgTAP \(needed by 1 test file\): apt-get update && apt-get install -y postgresql-15-pgtap/);
  assert.match(r.out, /# setup: installed pgTAP/);
  assert.equal(readFileSync(calls, 'utf8').trim().split('\n'), ['update -qq', 'install -y -qq postgresql-15-pgtap']);
  const again = await runTests(['--setup-only', '100_soft_delete_wiring'], { DELETION_KIT_PG_SHAREDIR: share, PATH: `${bin}${path.delimiter}${process.env.PATH}` });
  assert.is(again.code, 0);
  assert.match(again.out, /# setup: pgTAP \(.*share\/extension\/pgtap\.sql\), pg_prove \(/);
  assert.is(readFileSync(calls, 'utf8').trim().split('\n').length, 2, 'nothing installed the second time');
});

test.run();

// The test command's setup step: before any server starts, the machine requirements of the files
// about to run (src/testing/requirements.ts) are checked; what is missing is installed with apt-get
// when that can work (Debian, as root, not --no-install), and otherwise the run stops with the exact
// command to run. Either way it is reported as setup, never as a failed test.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { onPath, REQUIREMENTS, type Requirement } from './requirements.ts';

export interface SetupOptions {
  /** false: never install, only say what to run (npm test -- --no-install). */
  install: boolean;
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
}

export interface SetupOutcome {
  ready: boolean;
  /** What is missing (empty when ready). */
  missing: string[];
  /** The command that installs it, when something is missing. */
  command?: string;
}

/** Why apt-get cannot be run here, or undefined when it can. */
function cannotInstall(options: SetupOptions, env: NodeJS.ProcessEnv): string | undefined {
  if (!options.install) return 'installing was turned off (--no-install)';
  if (!existsSync('/etc/debian_version') || !onPath('apt-get', env)) return 'this is not a Debian machine with apt-get';
  if (process.getuid?.() !== 0) return 'installing needs root';
  return undefined;
}

function missingFor(files: string[], env: NodeJS.ProcessEnv): Requirement[] {
  return REQUIREMENTS.filter((r) => files.some(r.neededBy) && !r.present(env));
}

export function setup(files: string[], options: SetupOptions): SetupOutcome {
  const env = options.env ?? process.env;
  const log = options.log ?? ((line: string) => console.log(line));
  const needed = REQUIREMENTS.filter((r) => files.some(r.neededBy));
  let missing = missingFor(files, env);
  if (missing.length === 0) {
    if (needed.length) log(`# setup: ${needed.map((r) => `${r.name} (${r.present(env)})`).join(', ')}`);
    return { ready: true, missing: [] };
  }
  const packages = [...new Set(missing.flatMap((r) => r.apt))];
  const command = `apt-get update && apt-get install -y ${packages.join(' ')}`;
  const names = missing.map((r) => r.name).join(', ');
  const users = files.filter((f) => missing.some((r) => r.neededBy(f))).length;
  const why = cannotInstall(options, env);
  if (why) {
    log(`setup: ${names} ${missing.length === 1 ? 'is' : 'are'} missing (needed by ${users} test ${users === 1 ? 'file' : 'files'}) and ${why}; nothing was tested.`);
    log(`setup: install ${missing.length === 1 ? 'it' : 'them'} as root, then run the tests again:`);
    log(`  ${command}`);
    return { ready: false, missing: missing.map((r) => r.name), command };
  }
  log(`# setup: installing ${names} (needed by ${users} test ${users === 1 ? 'file' : 'files'}): ${command}`);
  const aptEnv = { ...env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', ...packages]]) {
    const r = spawnSync('apt-get', args, { env: aptEnv, encoding: 'utf8' });
    if (r.status !== 0) {
      log(`setup: apt-get ${args.join(' ')} failed (exit ${r.status ?? r.signal}); nothing was tested:`);
      for (const line of `${r.stderr ?? ''}${r.error ? r.error.message : ''}`.trim().split('\n').slice(-10)) log(`  ${line}`);
      log(`setup: install by hand, then run the tests again:\n  ${command}`);
      return { ready: false, missing: missing.map((r) => r.name), command };
    }
  }
  missing = missingFor(files, env);
  if (missing.length) {
    log(`setup: after apt-get, ${missing.map((r) => r.name).join(', ')} still cannot be found; nothing was tested.`);
    return { ready: false, missing: missing.map((r) => r.name), command };
  }
  log(`# setup: installed ${names}`);
  return { ready: true, missing: [] };
}

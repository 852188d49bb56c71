// What the test suites need from the machine beyond npm packages, in ONE list: each requirement says
// how to tell that it is there, which Debian packages provide it, and which test files need it.
// `npm test` checks the requirements of the files it is about to run before starting any server
// (setup): it installs what is missing when it can (Debian, as root: apt-get), and otherwise stops
// with the exact command to run, as a setup step that did not happen, never as a failed test.
//
// To add a suite that needs something of the machine: add a requirement here (and nowhere else).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';

export interface Requirement {
  /** What it is, for messages ("pgTAP", "pg_prove"). */
  name: string;
  /** The Debian packages that provide it (installed together with apt-get install -y). */
  apt: string[];
  /** Whether a test file (a path like test/pgtap/100_x.sql or test/x.test.ts) needs it. */
  neededBy: (file: string) => boolean;
  /** Whether it is there; a string says where it was found. */
  present: (env: NodeJS.ProcessEnv) => boolean | string;
}

/** A command on PATH (the environment's PATH, not only the process's). */
export function onPath(command: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, command))) return path.join(dir, command);
  }
  return undefined;
}

/** A Python module importable by the system's python3 (the one Debian's python3-* packages install into). */
export function pythonModule(module: string, python = '/usr/bin/python3'): boolean {
  return existsSync(python) && spawnSync(python, ['-c', `import ${module}`], { stdio: 'ignore' }).status === 0;
}

/**
 * The share folders that may hold pgTAP's extension files: DELETION_KIT_PG_SHAREDIR when set (only
 * that one: tests point it at an empty folder), else `pg_config --sharedir` and every
 * /usr/share/postgresql/NN (Debian's postgresql-NN-pgtap; pgtap.sql is plain SQL that loads on any
 * supported server major).
 */
export function shareDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.DELETION_KIT_PG_SHAREDIR) return [env.DELETION_KIT_PG_SHAREDIR];
  const dirs: string[] = [];
  const pgConfig = spawnSync('pg_config', ['--sharedir'], { encoding: 'utf8', env });
  if (pgConfig.status === 0 && pgConfig.stdout.trim()) dirs.push(pgConfig.stdout.trim());
  const debian = '/usr/share/postgresql';
  if (existsSync(debian)) {
    for (const d of readdirSync(debian).filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(b) - Number(a))) dirs.push(path.join(debian, d));
  }
  return [...new Set(dirs)];
}

/** pgtap.sql, the pure-SQL build of pgTAP, from the first share folder that has it. */
export function pgtapFile(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return shareDirs(env).map((d) => path.join(d, 'extension', 'pgtap.sql')).find((f) => existsSync(f));
}

const isPgtapFile = (file: string) => file.endsWith('.sql');

export const REQUIREMENTS: Requirement[] = [
  {
    name: 'pgTAP',
    apt: ['postgresql-15-pgtap'],
    neededBy: isPgtapFile,
    present: (env) => pgtapFile(env) ?? false,
  },
  {
    name: 'pg_prove',
    apt: ['libtap-parser-sourcehandler-pgtap-perl'],
    neededBy: isPgtapFile,
    present: (env) => onPath('pg_prove', env) ?? false,
  },
  {
    name: 'the Python ORMs of the client suite (SQLAlchemy 1.4, psycopg2, Django 3.2)',
    apt: ['python3-sqlalchemy', 'python3-psycopg2', 'python3-django'],
    neededBy: (file) => /(^|\/)clients_[^/]*\.test\.ts$/.test(file),
    present: () => pythonModule('sqlalchemy') && pythonModule('psycopg2') && pythonModule('django') && '/usr/bin/python3',
  },
  {
    name: "PostgreSQL 15's pg_basebackup (the streaming replica of the worker's replica-lag test)",
    apt: ['postgresql-15'],
    neededBy: (file) => file.endsWith('jobs_replica_lag.test.ts'),
    present: () => existsSync('/usr/lib/postgresql/15/bin/pg_basebackup') && '/usr/lib/postgresql/15/bin/pg_basebackup',
  },
  {
    name: 'Chromium (the console tests drive it headless with puppeteer-core)',
    apt: ['chromium'],
    neededBy: (file) => /(^|\/)console[^/]*\.test\.ts$/.test(file),
    present: () => existsSync('/usr/bin/chromium') && '/usr/bin/chromium',
  },
];

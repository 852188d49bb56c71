// deletion-kit.config.json: a project's settings for the runner. It is found by searching upward from
// the current directory to the filesystem root (the first file found wins, nothing is merged); paths
// in it are relative to the folder it is in. JSON only, every key optional; an unknown key or a value
// of the wrong type is refused with one line that names the file and the key.
//
// The embedded data folder is found the same way: DELETION_KIT_HOME, else the file's embeddedDir,
// else the nearest existing .deletion-kit folder up the tree, else a new .deletion-kit beside the
// config file (in the current directory when there is none).
import { readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from './errors.ts';

export const CONFIG_FILE = 'deletion-kit.config.json';
/** The embedded data folder's name, searched for upward and created when none exists. */
export const EMBEDDED_DIR_NAME = '.deletion-kit';
/** `deletion-kit docs` writes here (in the current directory) without --out or docsDir. */
export const DEFAULT_DOCS_DIR = 'deletion-docs';
/** This package's own folder (the one holding its package.json). */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface Config {
  /** The config file, absolute; undefined when there is none up the tree (every key at its default). */
  file: string | undefined;
  /** The folder the file is in, which its relative paths are resolved against; the cwd when there is none. */
  dir: string;
  /** The environment variable holding the database URL. Default DATABASE_URL. */
  databaseUrlEnv: string;
  /** The folder of the project's own migrations, absolute; undefined when not set. */
  migrationsDir: string | undefined;
  /** The history table of the project's own migrations. Default app_migrations. */
  migrationsTable: string;
  /** Database roles of the application, which should be members of deletion_app. Default none. */
  appRoles: string[];
  /** Where `deletion-kit docs` writes, absolute; undefined when not set (then ./deletion-docs). */
  docsDir: string | undefined;
  /** The embedded data folder, absolute; undefined when not set (then searched for, see resolveEmbeddedDir). */
  embeddedDir: string | undefined;
  /** Destructive commands (trash purge, audit retention) ask on a terminal above this many rows. Default 1000. */
  confirmAbove: number;
  /** deletion-kit serve: the database role of each HTTP role (src/http/tokens.ts), and origins allowed besides its own. */
  serve: { roles: Partial<Record<'viewer' | 'operator' | 'admin' | 'restorer', string>>; allowedOrigins: string[] };
}

type Check = (value: unknown) => string | undefined; // what the value must be, when it is not

const nonEmptyString: Check = (v) => (typeof v === 'string' && v.trim() !== '' ? undefined : 'a non-empty string');
const envName: Check = (v) =>
  typeof v === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(v) ? undefined : 'the name of an environment variable (a string of letters, digits and _)';
const roleList: Check = (v) =>
  Array.isArray(v) && v.every((r) => typeof r === 'string' && r !== '') ? undefined : 'an array of role names (non-empty strings)';

const KEYS: Record<string, Check> = {
  databaseUrlEnv: envName,
  migrationsDir: nonEmptyString,
  migrationsTable: nonEmptyString,
  appRoles: roleList,
  docsDir: nonEmptyString,
  embeddedDir: nonEmptyString,
  confirmAbove: (v) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? undefined : 'a whole number of rows (0 or more)'),
  serve: (v) => {
    const ok = v !== null && typeof v === 'object' && !Array.isArray(v)
      && Object.keys(v).every((k) => k === 'roles' || k === 'allowedOrigins')
      && (((v as { roles?: unknown }).roles === undefined) || (typeof (v as { roles: unknown }).roles === 'object' && (v as { roles: object }).roles !== null
        && Object.entries((v as { roles: object }).roles).every(([k, r]) => ['viewer', 'operator', 'admin', 'restorer'].includes(k) && typeof r === 'string' && r !== '')))
      && ((v as { allowedOrigins?: unknown }).allowedOrigins === undefined || (Array.isArray((v as { allowedOrigins: unknown }).allowedOrigins)
        && ((v as { allowedOrigins: unknown[] }).allowedOrigins).every((o) => typeof o === 'string')));
    return ok ? undefined : 'an object {"roles": {"viewer"|"operator"|"admin"|"restorer": "<database role>"}, "allowedOrigins": ["https://..."]}';
  },
};

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v);
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

const isFile = (p: string) => statSync(p, { throwIfNoEntry: false })?.isFile() ?? false;
const isDir = (p: string) => statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;

/** The first folder from `start` up to the filesystem root for which `found` holds. */
export function findUp(start: string, found: (dir: string) => boolean): string | undefined {
  for (let dir = path.resolve(start); ; dir = path.dirname(dir)) {
    if (found(dir)) return dir;
    if (path.dirname(dir) === dir) return undefined;
  }
}

/** Reads and validates the nearest deletion-kit.config.json at or above `cwd`; defaults for what it leaves out. */
export function loadConfig(cwd: string = process.cwd()): Config {
  const start = path.resolve(cwd);
  const found = findUp(start, (d) => isFile(path.join(d, CONFIG_FILE)));
  const config: Config = {
    file: undefined, dir: start, databaseUrlEnv: 'DATABASE_URL', migrationsDir: undefined,
    migrationsTable: 'app_migrations', appRoles: [], docsDir: undefined, embeddedDir: undefined, confirmAbove: 1000,
    serve: { roles: {}, allowedOrigins: [] },
  };
  if (!found) return config;
  const file = path.join(found, CONFIG_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UserError(`${file}: not valid JSON: ${(err as Error).message.replace(/\s+/g, ' ')}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new UserError(`${file}: must hold a JSON object of settings, not ${describe(raw)}`);
  }
  const values = raw as Record<string, unknown>;
  for (const [key, value] of Object.entries(values)) {
    const check = KEYS[key];
    if (!check) throw new UserError(`${file}: unknown key "${key}" (known keys: ${Object.keys(KEYS).join(', ')})`);
    const wanted = check(value);
    if (wanted) throw new UserError(`${file}: "${key}" must be ${wanted}, not ${describe(value)}`);
  }
  const at = (key: string) => (values[key] === undefined ? undefined : path.resolve(found, values[key] as string));
  return {
    file,
    dir: found,
    databaseUrlEnv: (values.databaseUrlEnv as string | undefined) ?? config.databaseUrlEnv,
    migrationsDir: at('migrationsDir'),
    migrationsTable: (values.migrationsTable as string | undefined) ?? config.migrationsTable,
    appRoles: [...((values.appRoles as string[] | undefined) ?? [])],
    docsDir: at('docsDir'),
    embeddedDir: at('embeddedDir'),
    confirmAbove: (values.confirmAbove as number | undefined) ?? config.confirmAbove,
    serve: {
      roles: { ...((values.serve as Config['serve'] | undefined)?.roles ?? {}) },
      allowedOrigins: [...((values.serve as Config['serve'] | undefined)?.allowedOrigins ?? [])],
    },
  };
}

/**
 * The embedded data folder for a command run in `cwd`: DELETION_KIT_HOME (relative to cwd), else the
 * config's embeddedDir, else the nearest existing .deletion-kit folder at or above cwd, else
 * .deletion-kit beside the config file (in cwd when there is none), which the first command creates.
 */
export function resolveEmbeddedDir(cwd: string = process.cwd(), env: NodeJS.ProcessEnv = process.env): string {
  if (env.DELETION_KIT_HOME) return path.resolve(cwd, env.DELETION_KIT_HOME);
  const config = loadConfig(cwd);
  if (config.embeddedDir) return config.embeddedDir;
  const existing = findUp(cwd, (d) => isDir(path.join(d, EMBEDDED_DIR_NAME)));
  return path.join(existing ?? config.dir, EMBEDDED_DIR_NAME);
}

/** The real path of `p`, which need not exist: the nearest existing ancestor's real path plus the rest. */
export function realPath(p: string): string {
  const abs = path.resolve(p);
  const parent = path.dirname(abs);
  try {
    return realpathSync.native(abs);
  } catch {
    return parent === abs ? abs : path.join(realPath(parent), path.basename(abs));
  }
}

/** Whether `child` is `parent` or inside it (both absolute). */
export function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

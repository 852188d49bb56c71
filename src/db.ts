// Where the runner's connection comes from: the URL in the environment variable the config names
// (DATABASE_URL by default) when it is set, otherwise the embedded default database, created and
// started on demand in the embedded data folder (src/config.ts: DELETION_KIT_HOME, the config's
// embeddedDir, or the nearest .deletion-kit folder up the tree).
import path from 'node:path';
import pg from 'pg';
import { loadConfig, resolveEmbeddedDir } from './config.ts';
import { clusterUrl, initCluster, isRunning, readConfig, startCluster } from './embedded.ts';
import { UserError } from './errors.ts';

export { UserError };

/** The embedded default's folder for a command run in the current directory (see resolveEmbeddedDir). */
export const EMBEDDED_ROOT = () => resolveEmbeddedDir();

/** The URL with its password replaced, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable database URL>';
  }
}

/** A folder for messages: relative to the current directory when inside it. */
function shownDir(dir: string): string {
  const rel = path.relative(process.cwd(), dir);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? `./${rel}` : dir;
}

/** What the embedded default is now: its major, port and folders, and whether it runs. */
export function embeddedStatus(root = EMBEDDED_ROOT()) {
  const config = readConfig(root);
  return config
    ? { exists: true, running: isRunning(root), major: config.major, port: config.port, folder: root, dataDir: config.dataDir }
    : { exists: false, running: false, major: null, port: null, folder: root, dataDir: null };
}

/**
 * Starts the embedded cluster when needed and makes sure its database exists. Says on stderr what it
 * did (created, started, or reused the server: port and folder), unless `quiet`.
 */
export async function embeddedUrl({ quiet = false } = {}): Promise<string> {
  const root = EMBEDDED_ROOT();
  const created = !readConfig(root);
  const config = await initCluster(root);
  const wasRunning = !created && isRunning(root);
  startCluster(root);
  if (!quiet) {
    const where = `embedded PostgreSQL ${config.major} on 127.0.0.1:${config.port}, data in ${shownDir(root)}`;
    console.error(wasRunning
      ? `deletion-kit: using the ${where}`
      : `deletion-kit: ${created ? 'created and started' : 'started'} the ${where}; it keeps running (deletion-kit db stop stops it)`);
  }
  const admin = new pg.Client({ connectionString: clusterUrl(config, 'postgres') });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [config.database]);
    if (!rowCount) await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(config.database)}`);
  } finally {
    await admin.end();
  }
  return clusterUrl(config);
}

/**
 * The URL in the variable the config names (DATABASE_URL by default), else the embedded default's.
 * A value that is not a PostgreSQL URL is refused with one line naming the variable (not its value,
 * which may hold a password).
 */
export async function databaseUrl(): Promise<string> {
  const name = loadConfig().databaseUrlEnv;
  const value = process.env[name];
  if (!value) return embeddedUrl();
  let ok = false;
  try {
    const u = new URL(value);
    ok = (u.protocol === 'postgres:' || u.protocol === 'postgresql:') && u.hostname !== '';
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new UserError(`${name} is not a PostgreSQL URL: it must look like postgres://user:password@host:5432/database (unset it to use the embedded default database)`);
  }
  return value;
}

/** The database a command last connected to (for messages about it). */
export let lastUrl: string | undefined;

/** Connects, or throws a UserError that names the server (password hidden) and the reason. */
export async function connect(url?: string): Promise<pg.Client> {
  const target = url ?? (await databaseUrl());
  lastUrl = target;
  const client = new pg.Client({ connectionString: target, application_name: 'deletion-kit', connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
  } catch (err) {
    const reason = (err as Error).message || (err as { code?: string }).code || String(err);
    throw new UserError(`cannot connect to ${redactUrl(target)}: ${reason}`);
  }
  client.on('error', () => {}); // a dropped connection surfaces on the next query instead
  return client;
}

/** Runs work with a connection (from connect()) and always closes it. */
export async function withClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

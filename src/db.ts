// Where the runner's connection comes from: the URL in the environment variable the config names
// (DATABASE_URL by default) when it is set, otherwise the embedded default database, created and
// started on demand in the embedded data folder (src/config.ts: DELETION_KIT_HOME, the config's
// embeddedDir, or the nearest .deletion-kit folder up the tree).
import pg from 'pg';
import { loadConfig, resolveEmbeddedDir } from './config.ts';
import { clusterUrl, initCluster, startCluster } from './embedded.ts';
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

/** Starts the embedded cluster when needed and makes sure its database exists. */
export async function embeddedUrl(): Promise<string> {
  const root = EMBEDDED_ROOT();
  const config = await initCluster(root);
  startCluster(root);
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

/** The URL in the variable the config names (DATABASE_URL by default), else the embedded default's. */
export async function databaseUrl(): Promise<string> {
  return process.env[loadConfig().databaseUrlEnv] || (await embeddedUrl());
}

/** Connects, or throws a UserError that names the server (password hidden) and the reason. */
export async function connect(url?: string): Promise<pg.Client> {
  const target = url ?? (await databaseUrl());
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

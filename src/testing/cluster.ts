// Test clusters: a throwaway embedded PostgreSQL per major, a migrated template database with pgTAP
// loaded, and fresh databases cloned from it (CREATE DATABASE ... TEMPLATE takes a few ms).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { clusterUrl, initCluster, startCluster, stopCluster, type ClusterConfig } from '../embedded.ts';
import { EXAMPLE_DIR, EXAMPLE_TABLE, migrateUp } from '../migrate.ts';
import { pgtapFile, shareDirs } from './requirements.ts';

export const TEMPLATE_DB = 'dk_template';

export interface TestCluster {
  root: string;
  config: ClusterConfig;
  adminUrl: string;
  stop(): void;
}

/** Settings that make a throwaway server fast; durability is not needed for tests. */
const FAST = ['-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off', '-c max_connections=200'];

/** A throwaway cluster; `durable` keeps PostgreSQL's default settings (for benchmarks; its log's
 * times are in UTC, so that a benchmark can read when its checkpoints ran). */
export async function startTestCluster(major: number, { durable = false } = {}): Promise<TestCluster> {
  const root = mkdtempSync(path.join(os.tmpdir(), `deletion-kit-pg${major}-`));
  execFileSync('chmod', ['755', root]);
  const config = await initCluster(root, major);
  startCluster(root, durable ? ['-c max_connections=200', '-c log_timezone=UTC'] : FAST);
  return {
    root,
    config,
    adminUrl: clusterUrl(config, 'postgres'),
    stop() {
      try {
        stopCluster(root, 'immediate');
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    },
  };
}

/** pgTAP's pure-SQL build, from Debian's postgresql-NN-pgtap package (the test command's setup step installs it). */
export function pgtapSql(): string {
  const file = pgtapFile();
  if (!file) throw new Error(`pgtap.sql not found in ${shareDirs().join(', ') || 'any PostgreSQL share folder'}: run npm test, whose setup step installs it`);
  return readFileSync(file, 'utf8');
}

async function withClient<T>(url: string, work: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** The template every test database is cloned from: all migrations and modules, pgTAP (when present) in schema `tap`. */
export async function buildTemplate(cluster: TestCluster): Promise<void> {
  await withClient(cluster.adminUrl, (c) => c.query(`CREATE DATABASE ${TEMPLATE_DB}`));
  await withClient(clusterUrl(cluster.config, TEMPLATE_DB), async (c) => {
    await migrateUp(c, { appDir: EXAMPLE_DIR, appTable: EXAMPLE_TABLE });
    // pgTAP when the machine has it (the setup step made sure of it when pgTAP files are to run).
    if (!pgtapFile()) return;
    await c.query('CREATE SCHEMA tap');
    await c.query('SET search_path = tap');
    await c.query(pgtapSql());
    await c.query('GRANT USAGE ON SCHEMA tap TO PUBLIC');
    await c.query('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA tap TO PUBLIC');
  });
}

let counter = 0;

/** A new database: a clone of the migrated template, or an empty one. Returns its URL and name. */
export async function createDatabase(adminUrl: string, { empty = false } = {}): Promise<{ name: string; url: string }> {
  const name = `t_${process.pid}_${Date.now().toString(36)}_${counter++}`;
  const template = empty ? 'template0' : TEMPLATE_DB;
  // A template must have no other sessions while it is copied; retry briefly when another clone is under way.
  for (let attempt = 0; ; attempt++) {
    try {
      await withClient(adminUrl, (c) => c.query(`CREATE DATABASE ${name} TEMPLATE ${template}`));
      break;
    } catch (err) {
      if ((err as { code?: string }).code !== '55006' || attempt > 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return { name, url: url.toString() };
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await withClient(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
}

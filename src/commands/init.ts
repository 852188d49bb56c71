// deletion-kit init [--dir <folder>] [--dry-run] [--schema <name>...]: inspects a database where the
// engine is installed and writes ONE reviewable node-pg-migrate migration that adopts every table of
// the product's schemas that has no registry row, and beside it `<same name>.concurrent.sql`, the
// CREATE INDEX CONCURRENTLY statements for foreign keys without an index (run with psql, outside a
// transaction, before the migration). Every decision is made in SQL (deletion.adoption_plan,
// deletion.adoption_indexes: sql/35_init.sql); this file only lays the rows out as the two files.
// docs/adopting.md, "Starting from deletion-kit init".
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type pg from 'pg';
import { connect, UserError } from '../db.ts';
import { printJson } from '../output.ts';
import { BOOKKEEPING_SCHEMA, checkHistoryTable, NOT_MIGRATIONS } from '../migrate.ts';
import { appSources } from './migrate.ts';

interface PlanRow {
  table_name: string;
  ordinal: number;
  step: string;
  proposed: boolean;
  statement: string;
  reason: string;
  undo: string | null;
}

interface IndexRow {
  table_name: string;
  constraint_name: string;
  index_name: string;
  concurrent: boolean;
  statement: string;
  reason: string;
}

interface InitOptions {
  dir?: string;
  table?: string;
  dryRun?: boolean;
  schema?: string[];
}

/** The base name every adoption migration ends with. */
const ADOPT_SUFFIX = '_deletion_kit_adopt';
const ADOPT_FILE = new RegExp(`^\\d+.*${ADOPT_SUFFIX}(\\.concurrent)?\\.sql$`);
const WIDTH = 100;

/** Text as SQL comment lines of at most WIDTH characters; every line of it is commented, whatever it holds. */
export function commentLines(text: string, prefix = '-- '): string[] {
  const lines: string[] = [];
  for (const paragraph of text.split(/\r\n|\r|\n/)) {
    let line = '';
    for (const word of paragraph.split(' ').filter((w) => w !== '')) {
      if (line && prefix.length + line.length + 1 + word.length > WIDTH) {
        lines.push(prefix + line);
        line = word;
      } else {
        line = line ? `${line} ${word}` : word;
      }
    }
    lines.push((prefix + line).trimEnd());
  }
  return lines;
}

/** One comment line kept whole (a command to copy); still every line of it commented. */
function commentCommand(text: string, prefix: string): string[] {
  return text.split(/\r\n|\r|\n/).map((line) => prefix + line);
}

/** A path as a shell argument: as it is when it is plain, single-quoted otherwise. */
export function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`;
}

/** A statement as it stands in the file: as it is, or every line of it commented out. */
function statementLines(statement: string, active: boolean): string[] {
  const lines = statement.split(/\r\n|\r|\n/);
  return active ? lines : lines.map((l) => `-- ${l}`);
}

/** Migration files of a folder, as node-pg-migrate sees them (not dot files, not the concurrent files). */
function migrationFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  if (!statSync(dir).isDirectory()) throw new UserError(`--dir ${dir} is not a folder`);
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => (e.isFile() || e.isSymbolicLink()) && !NOT_MIGRATIONS.test(e.name))
    .map((e) => e.name);
}

/**
 * The new migration's number: one more than the folder's highest, as wide as its widest prefix
 * (0001, 0002, ...); in a folder of timestamped migrations (13 digits and more), a timestamp of the
 * same kind; 0001 in an empty folder.
 */
export function nextPrefix(files: string[], now = new Date()): string {
  const prefixes = files.map((f) => /^(\d+)/.exec(f)?.[1]).filter((p): p is string => p !== undefined);
  if (prefixes.length === 0) return '0001';
  const width = Math.max(...prefixes.map((p) => p.length));
  const highest = prefixes.map((p) => BigInt(p)).reduce((a, b) => (a > b ? a : b));
  if (width >= 13) {
    const stamp = BigInt(width === 17 ? now.toISOString().replace(/\D/g, '') : String(now.getTime()));
    return (stamp > highest ? stamp : highest + 1n).toString();
  }
  return (highest + 1n).toString().padStart(width, '0');
}

async function appliedMigrations(client: pg.Client, table: string): Promise<Set<string>> {
  const { rows } = await client.query<{ ok: boolean }>('SELECT to_regclass($1) IS NOT NULL AS ok', [`${BOOKKEEPING_SCHEMA}.${table}`]);
  if (!rows[0].ok) return new Set();
  const applied = await client.query<{ name: string }>(`SELECT name FROM ${BOOKKEEPING_SCHEMA}.${table}`);
  return new Set(applied.rows.map((r) => r.name));
}

async function checkEngine(client: pg.Client) {
  const { rows } = await client.query<{ engine: boolean; init: boolean }>(
    `SELECT to_regnamespace('deletion') IS NOT NULL AND to_regclass('deletion.table_policies') IS NOT NULL AS engine,
            to_regprocedure('deletion.adoption_plan(name[])') IS NOT NULL AS init`);
  if (!rows[0].engine) {
    throw new UserError('the deletion engine is not installed in this database: run `deletion-kit migrate` first (with the same DATABASE_URL), then `deletion-kit init`');
  }
  if (!rows[0].init) {
    throw new UserError('the deletion engine in this database is older than `deletion-kit init`: run `deletion-kit migrate` to upgrade it, then `deletion-kit init`');
  }
}

function renderMigration(plan: PlanRow[], indexes: IndexRow[], names: { dir: string; migration: string; concurrent: string }, database: string): string {
  const tables = [...new Set(plan.filter((r) => r.step === 'register').map((r) => r.table_name))];
  const soft = plan.filter((r) => r.step === 'soft_delete' && r.proposed).length;
  const unsure = plan.filter((r) => !r.proposed).length;
  const concurrent = indexes.filter((i) => i.concurrent).length;
  const concurrentPath = path.join(names.dir, names.concurrent);
  const out: string[] = [];
  out.push(
    ...commentLines(
      `deletion-kit init: adopts ${tables.length} ${tables.length === 1 ? 'table' : 'tables'} of database ${database} into pg-deletion-kit ` +
        `(${soft} with soft delete, ${tables.length - soft} with hard delete). Generated ${new Date().toISOString()}.`,
    ),
    ...commentLines(
      'Review every decision before you apply it: each call has its reason above it, and the proposals init was unsure of, ' +
        `or that the engine would refuse, are commented out (${unsure} of them): uncomment the ones you want, edit thresholds and messages as you see fit.`,
    ),
    '--',
    ...commentLines(`1. First run ${names.concurrent} (beside this file) with psql, outside a transaction:`),
    ...commentCommand(`psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -f ${shellQuote(concurrentPath)}`, '--      '),
    ...commentLines(
      concurrent === 0
        ? 'Every foreign key has an index already: that file builds nothing, and running it is harmless.'
        : `It builds the ${concurrent === 1 ? 'index' : `${concurrent} indexes`} that foreign keys without one need (lint: unindexed_foreign_key) ` +
          'with CREATE INDEX CONCURRENTLY, which cannot run inside a transaction, while deletion-kit migrate applies every migration in ' +
          'one transaction: deletion-kit migrate --dir runs that file itself, before its transaction, when it applies this migration.',
      '--    ',
    ),
    ...commentLines(`2. Then apply this migration: deletion-kit migrate --dir ${shellQuote(names.dir)}`),
    '--',
    ...commentLines(
      `Its Down section (deletion-kit migrate down 1 --dir ${names.dir}) undoes the registrations, last first: the protection rules, ` +
        'soft delete (the columns deleted_at, deleted_by, deletion_reason, deletion_op and the partial unique indexes stay, with their ' +
        'data), the registry rows and the engine\'s triggers, policy and grants on these tables. It leaves the indexes of the ' +
        'concurrent file in place.',
    ),
    '',
    '-- Up Migration',
  );
  if (plan.length === 0) out.push('', '-- Every table of these schemas is registered already: nothing to adopt.');
  let current = '';
  for (const row of plan) {
    if (row.table_name !== current) {
      current = row.table_name;
      out.push('', ...commentLines(`---- ${current} `.padEnd(WIDTH - 3, '-')));
    }
    out.push('', ...commentLines(row.reason), ...statementLines(row.statement, row.proposed));
  }
  out.push('', '-- Down Migration', '');
  out.push(
    ...commentLines(
      'The Up section undone in reverse order. Undo calls of commented-out proposals are commented out too: uncomment them with their call above.',
    ),
  );
  for (const row of [...plan].reverse()) {
    if (row.undo === null) continue;
    out.push('', ...commentLines(`undoes ${row.step.replace('_', ' ')} of ${row.table_name}`), ...statementLines(row.undo, row.proposed));
  }
  return `${out.join('\n')}\n`;
}

function renderConcurrent(indexes: IndexRow[], names: { dir: string; migration: string; concurrent: string }): string {
  const concurrent = indexes.filter((i) => i.concurrent);
  const out: string[] = [
    ...commentLines(`deletion-kit init: the indexes that foreign keys without one need (lint: unindexed_foreign_key), for ${names.migration}.`),
    ...commentLines(`Run this file BEFORE applying ${names.migration}, with psql, outside a transaction:`),
    ...commentCommand(`psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -f ${shellQuote(path.join(names.dir, names.concurrent))}`, '--   '),
    ...commentLines(
      'CREATE INDEX CONCURRENTLY builds each index without blocking writes to its table, and cannot run inside a transaction ' +
        'block: do not use psql --single-transaction, and do not move these lines into a migration (deletion-kit migrate applies ' +
        'every migration in one transaction, and does not apply this file). IF NOT EXISTS makes a second run harmless. A build ' +
        'that fails or is interrupted leaves an INVALID index of that name, which IF NOT EXISTS would then skip: ' +
        'DROP INDEX CONCURRENTLY it and run the file again.',
    ),
  ];
  if (concurrent.length === 0) out.push('', '-- Every foreign key of these schemas has an index: nothing to build.');
  for (const index of concurrent) out.push('', ...commentLines(index.reason), index.statement);
  const inMigration = indexes.filter((i) => !i.concurrent);
  if (inMigration.length) {
    out.push('', ...commentLines(`Not here: ${inMigration.map((i) => i.index_name).join(', ')}, on partitioned tables, which CREATE INDEX CONCURRENTLY cannot index; ${names.migration} builds them.`));
  }
  return `${out.join('\n')}\n`;
}

/** node-pg-migrate splits a SQL file at its first `-- Up Migration` and `-- Down Migration` lines: exactly one each. */
function checkSections(sql: string) {
  const up = sql.match(/^\s*--[\s-]*up\s+migration/gim)?.length ?? 0;
  const down = sql.match(/^\s*--[\s-]*down\s+migration/gim)?.length ?? 0;
  if (up !== 1 || down !== 1) throw new Error(`internal: the migration has ${up} up and ${down} down section markers`);
}

export function register(program: Command) {
  program
    .command('init')
    .description('inspect the database and write one reviewable migration that adopts every unregistered table (policy, audit, protection, with reasons), plus <name>.concurrent.sql with the indexes lint asks for')
    .option('--dir <folder>', 'your migrations folder, the one `deletion-kit migrate` applies (default: the config\'s migrationsDir): the migration is written there')
    .option('--table <name>', 'the folder\'s history table in schema deletion_kit, which tells applied adoptions from pending ones (default: the config\'s migrationsTable, else app_migrations)')
    .option('--dry-run', 'print both files and write nothing')
    .option('--schema <names...>', 'only these schemas (default: every schema but PostgreSQL\'s, the engine\'s and tap)')
    .option('--json', 'print the result as one JSON document (docs/cli.md)')
    .action(async (options: InitOptions & { json?: boolean }) => {
      const { appDir: dir, appTable: table } = appSources(options);
      if (!dir || !table) {
        throw new UserError('init needs --dir <folder> (or migrationsDir in deletion-kit.config.json): the folder of your own migrations, the one `deletion-kit migrate` applies, where it writes the adoption migration (with --dry-run, it prints what it would write there)');
      }
      checkHistoryTable(table);
      const files = migrationFiles(dir);
      const client = await connect();
      let plan: PlanRow[];
      let indexes: IndexRow[];
      let database: string;
      let applied: Set<string>;
      try {
        await client.query('SET search_path = pg_catalog');  // table names print schema-qualified
        await checkEngine(client);
        applied = await appliedMigrations(client, table);
        const schemas = options.schema?.length ? options.schema : null;
        try {
          plan = (await client.query<PlanRow>(
            'SELECT table_name::text, ordinal, step, proposed, statement, reason, undo FROM deletion.adoption_plan($1::name[]) ORDER BY ordinal', [schemas])).rows;
          indexes = (await client.query<IndexRow>(
            'SELECT table_name::text, constraint_name, index_name, concurrent, statement, reason FROM deletion.adoption_indexes($1::name[])', [schemas])).rows;
        } catch (err) {
          if ((err as { code?: string }).code === '42501') {
            throw new UserError(`${(err as Error).message}: init reads every table's columns and foreign keys, so it runs as a member of deletion_admin or as the role that runs deletion-kit migrate`);
          }
          throw err;
        }
        database = (await client.query<{ db: string }>('SELECT current_database() AS db')).rows[0].db;
      } finally {
        await client.end();
      }

      // One adoption at a time: a pending one (written, not applied) is reviewed and applied, or deleted, first.
      const pending = (existsSync(dir) ? readdirSync(dir) : [])
        .filter((f) => ADOPT_FILE.test(f) && !applied.has(f.replace(/(\.concurrent)?\.sql$/, '')))
        .sort();
      if (pending.length) {
        const file = pending.find((f) => !f.endsWith('.concurrent.sql')) ?? pending[0];
        throw new UserError(`${path.join(dir, file)} exists and is not applied yet: review it and apply it (deletion-kit migrate --dir ${dir}), or delete it and its .concurrent.sql to have init write a new one; init never overwrites a file`);
      }

      const summary = (written: boolean, files: { migration: string; concurrent: string } | null, content?: { migration: string; concurrent: string }) => ({
        dry_run: Boolean(options.dryRun), written, migration_file: files?.migration ?? null, concurrent_file: files?.concurrent ?? null,
        tables: new Set(plan.filter((r) => r.step === 'register').map((r) => r.table_name)).size,
        soft_delete: plan.filter((r) => r.step === 'soft_delete' && r.proposed).length,
        commented_out: plan.filter((r) => !r.proposed).length,
        indexes: indexes.filter((i) => i.concurrent).length,
        migration: content?.migration ?? null, concurrent: content?.concurrent ?? null,
      });
      if (plan.length === 0 && indexes.length === 0) {
        if (options.json) {
          printJson(summary(false, null));
          return;
        }
        console.log('nothing to adopt: every table of these schemas has a deletion policy and every foreign key an index; no file written');
        return;
      }

      const base = `${nextPrefix(files)}${ADOPT_SUFFIX}`;
      const names = { dir, migration: `${base}.sql`, concurrent: `${base}.concurrent.sql` };
      const migration = renderMigration(plan, indexes, names, database);
      const concurrent = renderConcurrent(indexes, names);
      checkSections(migration);
      const migrationPath = path.join(dir, names.migration);
      const concurrentPath = path.join(dir, names.concurrent);
      for (const target of [migrationPath, concurrentPath]) {
        if (existsSync(target)) throw new UserError(`${target} exists: init never overwrites a file; move it away or delete it first`);
      }

      if (options.dryRun && options.json) {
        printJson(summary(false, { migration: migrationPath, concurrent: concurrentPath }, { migration, concurrent }));
        return;
      }
      if (options.dryRun) {
        console.log(`-- dry run: init would write ${concurrentPath} and ${migrationPath}; nothing is written\n`);
        console.log(`-- ==> ${concurrentPath} <==\n${concurrent}`);
        console.log(`-- ==> ${migrationPath} <==\n${migration}`);
        return;
      }

      mkdirSync(dir, { recursive: true });
      writeFileSync(concurrentPath, concurrent, { flag: 'wx' });
      try {
        writeFileSync(migrationPath, migration, { flag: 'wx' });
      } catch (err) {
        rmSync(concurrentPath, { force: true });
        throw err;
      }
      if (options.json) {
        printJson(summary(true, { migration: migrationPath, concurrent: concurrentPath }));
        return;
      }
      const tables = new Set(plan.filter((r) => r.step === 'register').map((r) => r.table_name)).size;
      const soft = plan.filter((r) => r.step === 'soft_delete' && r.proposed).length;
      const unsure = plan.filter((r) => !r.proposed).length;
      const built = indexes.filter((i) => i.concurrent).length;
      console.log(`wrote ${concurrentPath} (${built} ${built === 1 ? 'index' : 'indexes'}, CREATE INDEX CONCURRENTLY)`);
      console.log(`wrote ${migrationPath} (${tables} ${tables === 1 ? 'table' : 'tables'}: ${soft} soft delete, ${tables - soft} hard delete; ${unsure} proposals commented out)`);
      console.log('review both, then:');
      console.log(`  psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -f ${shellQuote(concurrentPath)}   # outside a transaction; the runner does not apply it`);
      console.log(`  deletion-kit migrate --dir ${shellQuote(dir)}`);
    });
}

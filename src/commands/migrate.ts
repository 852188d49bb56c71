// deletion-kit migrate [up] [--dir DIR] | down [N] [--dir DIR] | status [--dir DIR]
import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { UserError, withClient } from '../db.ts';
import { migrateDown, migrateUp, migrationStatus, type MigrateResult, type Sources } from '../migrate.ts';

export function report(result: MigrateResult, direction: 'up' | 'down') {
  if (result.migrations.length === 0 && result.modules.length === 0 && result.appMigrations.length === 0 && !result.concurrent?.length) {
    console.log(direction === 'up' ? 'database is up to date' : 'no migration to revert');
    return;
  }
  const verb = direction === 'up' ? 'applied' : 'reverted';
  for (const name of result.migrations) console.log(`${verb} engine migration ${name}`);
  const changed = result.modules.filter((m) => m.changed).map((m) => m.name);
  if (result.modules.length) {
    console.log(`applied ${result.modules.length} engine sql modules${changed.length ? ` (changed: ${changed.join(', ')})` : ''}`);
  }
  for (const statement of result.concurrent ?? []) console.log(`ran ${statement}`);
  for (const name of result.appMigrations) console.log(`${verb} migration ${name}`);
  if (result.rewired) console.log(`wired ${result.rewired} table concerns`);
}

interface DirOptions {
  dir?: string;
  table?: string;
}

/** The user's migrations folder and its history table: --dir / --table, else the config file's migrationsDir / migrationsTable. */
export function appSources(options: DirOptions): Sources {
  const config = loadConfig();
  const appDir = options.dir ? path.resolve(options.dir) : config.migrationsDir;
  const roles = { appRoles: config.appRoles };
  if (!appDir) return roles;
  return { ...roles, appDir, appTable: options.table ?? config.migrationsTable };
}

function withDirOptions(command: Command): Command {
  return command
    .option('--dir <folder>', 'your own node-pg-migrate SQL migrations, applied after the engine\'s in the same transaction (default: the config\'s migrationsDir)')
    .option('--table <name>', 'their history table in schema deletion_kit (default: the config\'s migrationsTable, else app_migrations)');
}

export function register(program: Command) {
  const migrate = withDirOptions(
    program
      .command('migrate')
      .description('install or upgrade the engine (its schemas and roles; nothing in yours), then your own migrations with --dir; one transaction'),
  ).action(async (options: DirOptions) => report(await withClient((c) => migrateUp(c, appSources(options))), 'up'));

  withDirOptions(migrate.command('up').description('same as migrate'))
    .action(async (options: DirOptions, cmd: Command) => report(await withClient((c) => migrateUp(c, appSources({ ...cmd.parent?.opts(), ...options }))), 'up'));

  withDirOptions(
    migrate
      .command('down [count]')
      .description('revert the last COUNT migrations (default 1): the engine\'s, or with --dir your own; one transaction'),
  ).action(async (count: string | undefined, options: DirOptions, cmd: Command) => {
    const n = count === undefined ? 1 : Number(count);
    if (!Number.isInteger(n) || n < 1) throw new UserError(`migrate down takes a positive whole number, not "${count}"`);
    report(await withClient((c) => migrateDown(c, n, appSources({ ...cmd.parent?.opts(), ...options }))), 'down');
  });

  withDirOptions(
    migrate.command('status').description('applied and pending migrations (the engine\'s, and with --dir your own), and the state of each engine SQL module'),
  ).action(async (options: DirOptions, cmd: Command) => {
    const status = await withClient((c) => migrationStatus(c, appSources({ ...cmd.parent?.opts(), ...options })));
    for (const m of status.applied) console.log(`applied  engine ${m.name}  (${m.run_on.toISOString()})`);
    for (const m of status.pending) console.log(`pending  engine ${m}`);
    for (const m of status.modules) console.log(`module   ${m.name}  ${m.state}`);
    for (const m of status.app?.applied ?? []) console.log(`applied  ${m.name}  (${m.run_on.toISOString()})`);
    for (const m of status.app?.pending ?? []) console.log(`pending  ${m}`);
  });
}

// deletion-kit migrate [up] [--dir DIR] | down [N] [--dir DIR] | status [--dir DIR]
import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { UserError, withClient } from '../db.ts';
import { migrateDown, migrateUp, migrationStatus, type MigrateResult, type MigrationStatus, type Sources } from '../migrate.ts';
import { jsonOption, plural, printJson, style, table } from '../output.ts';

/** What migrate, migrate down, example install and uninstall print (or their --json). */
export function report(result: MigrateResult, direction: 'up' | 'down', json = false) {
  if (json) {
    printJson({
      direction,
      engine_migrations: result.migrations,
      modules: result.modules,
      app_migrations: result.appMigrations,
      rewired: result.rewired,
      concurrent: result.concurrent ?? [],
    });
    return;
  }
  if (result.migrations.length === 0 && result.modules.length === 0 && result.appMigrations.length === 0 && !result.concurrent?.length) {
    console.log(direction === 'up' ? 'database is up to date' : 'no migration to revert');
    return;
  }
  const verb = direction === 'up' ? 'applied' : 'reverted';
  for (const name of result.migrations) console.log(`${verb} engine migration ${name}`);
  const changed = result.modules.filter((m) => m.changed).map((m) => m.name);
  if (result.modules.length) {
    console.log(`applied ${plural(result.modules.length, 'engine SQL module')}${changed.length ? ` (changed: ${changed.join(', ')})` : ''}`);
  }
  for (const statement of result.concurrent ?? []) console.log(`ran ${statement}`);
  for (const name of result.appMigrations) console.log(`${verb} migration ${name}`);
  if (result.rewired) console.log(`wired ${plural(result.rewired, 'table concern')}`);
}

/** migrate status's --json: one shape whether or not --dir is given (app is null without it). */
export function statusJson(status: MigrationStatus) {
  return {
    engine: { applied: status.applied.map((m) => ({ name: m.name, run_on: m.run_on })), pending: status.pending },
    modules: status.modules,
    app: status.app ? { applied: status.app.applied.map((m) => ({ name: m.name, run_on: m.run_on })), pending: status.app.pending } : null,
  };
}

const stateColour = (state: string) => (state === 'applied' ? style.green(state) : style.yellow(state));

interface DirOptions {
  dir?: string;
  table?: string;
  json?: boolean;
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
  return jsonOption(command
    .option('--dir <folder>', 'your own node-pg-migrate SQL migrations, applied after the engine\'s in the same transaction (default: the config\'s migrationsDir)')
    .option('--table <name>', 'their history table in schema deletion_kit (default: the config\'s migrationsTable, else app_migrations)'));
}

export function register(program: Command) {
  const migrate = withDirOptions(
    program
      .command('migrate')
      .description('install or upgrade the engine (its schemas and roles; nothing in yours), then your own migrations with --dir; one transaction'),
  ).action(async (options: DirOptions) => report(await withClient((c) => migrateUp(c, appSources(options))), 'up', options.json));

  withDirOptions(migrate.command('up').description('same as migrate'))
    .action(async (options: DirOptions, cmd: Command) => {
      const all = { ...cmd.parent?.opts(), ...options };
      report(await withClient((c) => migrateUp(c, appSources(all))), 'up', all.json);
    });

  withDirOptions(
    migrate
      .command('down [count]')
      .description('revert the last COUNT migrations (default 1): the engine\'s, or with --dir your own; one transaction'),
  ).action(async (count: string | undefined, options: DirOptions, cmd: Command) => {
    const n = count === undefined ? 1 : Number(count);
    if (!Number.isInteger(n) || n < 1) throw new UserError(`migrate down takes a positive whole number, not "${count}"`);
    const all = { ...cmd.parent?.opts(), ...options };
    report(await withClient((c) => migrateDown(c, n, appSources(all))), 'down', all.json);
  });

  withDirOptions(
    migrate.command('status').description('applied and pending migrations (the engine\'s, and with --dir your own), and the state of each engine SQL module'),
  ).action(async (options: DirOptions, cmd: Command) => {
    const all = { ...cmd.parent?.opts(), ...options };
    const status = await withClient((c) => migrationStatus(c, appSources(all)));
    if (all.json) {
      printJson(statusJson(status));
      return;
    }
    const rows: string[][] = [
      ...status.applied.map((m) => ['engine migration', m.name, stateColour('applied'), m.run_on.toISOString()]),
      ...status.pending.map((m) => ['engine migration', m, stateColour('pending'), '']),
      ...status.modules.map((m) => ['engine SQL module', m.name, stateColour(m.state), '']),
      ...(status.app?.applied ?? []).map((m) => ['migration', m.name, stateColour('applied'), m.run_on.toISOString()]),
      ...(status.app?.pending ?? []).map((m) => ['migration', m, stateColour('pending'), '']),
    ];
    console.log(table(['kind', 'name', 'state', 'applied at (UTC)'], rows));
    const pending = status.pending.length + (status.app?.pending.length ?? 0) + status.modules.filter((m) => m.state !== 'applied').length;
    console.log(pending ? `\n${plural(pending, 'change')} to apply: run deletion-kit migrate${status.app ? ' --dir ...' : ''}` : '\nup to date');
  });
}

// deletion-kit example install | uninstall | status: the issue tracker the package ships with, as a
// migration history of its own (example/migrations, history table deletion_kit.example_migrations),
// applied on purpose on top of the engine. Tests, benchmarks and the demo use it; a product database
// never needs it.
import type { Command } from 'commander';
import { withClient } from '../db.ts';
import { EXAMPLE_DIR, EXAMPLE_TABLE, migrateDown, migrateUp, migrationStatus } from '../migrate.ts';
import { jsonOption, printJson, table } from '../output.ts';
import { report } from './migrate.ts';

const EXAMPLE = { appDir: EXAMPLE_DIR, appTable: EXAMPLE_TABLE };

export function register(program: Command) {
  const example = program
    .command('example')
    .description('the example product (an issue tracker in schema public): install it on top of the engine, or remove it');

  jsonOption(example
    .command('install')
    .description('install the engine and the example product (19 tables in public, their policies, protection rules, tracked files)'))
    .action(async (opts: { json?: boolean }) => report(await withClient((c) => migrateUp(c, EXAMPLE)), 'up', opts.json));

  jsonOption(example
    .command('uninstall')
    .description('revert every example migration (drops the example\'s tables and their rows); the engine stays'))
    .action(async (opts: { json?: boolean }) =>
      report(
        await withClient(async (c) => {
          const applied = (await migrationStatus(c, EXAMPLE)).app?.applied.length ?? 0;
          return applied ? migrateDown(c, applied, EXAMPLE) : { migrations: [], modules: [], rewired: 0, appMigrations: [] };
        }),
        'down',
        opts.json,
      ),
    );

  jsonOption(example
    .command('status')
    .description('applied and pending example migrations'))
    .action(async (opts: { json?: boolean }) => {
      const status = (await withClient((c) => migrationStatus(c, EXAMPLE))).app!;
      if (opts.json) {
        printJson({ applied: status.applied.map((m) => ({ name: m.name, run_on: m.run_on })), pending: status.pending });
        return;
      }
      console.log(table(['migration', 'state', 'applied at (UTC)'], [
        ...status.applied.map((m) => [m.name, 'applied', m.run_on.toISOString()]),
        ...status.pending.map((m) => [m, 'pending', '']),
      ]));
    });
}

// deletion-kit example install | uninstall | status: the issue tracker the package ships with, as a
// migration history of its own (example/migrations, history table deletion_kit.example_migrations),
// applied on purpose on top of the engine. Tests, benchmarks and the demo use it; a product database
// never needs it.
import type { Command } from 'commander';
import { withClient } from '../db.ts';
import { EXAMPLE_DIR, EXAMPLE_TABLE, migrateDown, migrateUp, migrationStatus } from '../migrate.ts';
import { report } from './migrate.ts';

const EXAMPLE = { appDir: EXAMPLE_DIR, appTable: EXAMPLE_TABLE };

export function register(program: Command) {
  const example = program
    .command('example')
    .description('the example product (an issue tracker in schema public): install it on top of the engine, or remove it');

  example
    .command('install')
    .description('install the engine and the example product (17 tables in public, their policies, protection rules, tracked files)')
    .action(async () => report(await withClient((c) => migrateUp(c, EXAMPLE)), 'up'));

  example
    .command('uninstall')
    .description('revert every example migration (drops the example\'s tables and their rows); the engine stays')
    .action(async () =>
      report(
        await withClient(async (c) => {
          const applied = (await migrationStatus(c, EXAMPLE)).app?.applied.length ?? 0;
          return applied ? migrateDown(c, applied, EXAMPLE) : { migrations: [], modules: [], rewired: 0, appMigrations: [] };
        }),
        'down',
      ),
    );

  example
    .command('status')
    .description('applied and pending example migrations')
    .action(async () => {
      const status = await withClient((c) => migrationStatus(c, EXAMPLE));
      for (const m of status.app?.applied ?? []) console.log(`applied  ${m.name}  (${m.run_on.toISOString()})`);
      for (const m of status.app?.pending ?? []) console.log(`pending  ${m}`);
    });
}

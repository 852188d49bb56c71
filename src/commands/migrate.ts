// deletion-kit migrate [up] | down [N] | status
import type { Command } from 'commander';
import { UserError, withClient } from '../db.ts';
import { migrateDown, migrateUp, migrationStatus, type MigrateResult } from '../migrate.ts';

function report(result: MigrateResult, direction: 'up' | 'down') {
  if (result.migrations.length === 0 && result.modules.length === 0) {
    console.log(direction === 'up' ? 'database is up to date' : 'no migration to revert');
    return;
  }
  for (const name of result.migrations) console.log(`${direction === 'up' ? 'applied' : 'reverted'} migration ${name}`);
  const changed = result.modules.filter((m) => m.changed).map((m) => m.name);
  if (result.modules.length) {
    console.log(`applied ${result.modules.length} sql modules${changed.length ? ` (changed: ${changed.join(', ')})` : ''}; wired ${result.rewired} table concerns`);
  }
}

export function register(program: Command) {
  const migrate = program
    .command('migrate')
    .description('apply pending migrations and the engine SQL modules, in one transaction')
    .action(async () => report(await withClient(migrateUp), 'up'));

  migrate.command('up').description('same as migrate').action(async () => report(await withClient(migrateUp), 'up'));

  migrate
    .command('down [count]')
    .description('revert the last COUNT migrations (default 1), in one transaction')
    .action(async (count?: string) => {
      const n = count === undefined ? 1 : Number(count);
      if (!Number.isInteger(n) || n < 1) throw new UserError(`migrate down takes a positive whole number, not "${count}"`);
      report(await withClient((c) => migrateDown(c, n)), 'down');
    });

  migrate
    .command('status')
    .description('list applied and pending migrations and the state of each SQL module')
    .action(async () => {
      const status = await withClient(migrationStatus);
      for (const m of status.applied) console.log(`applied  ${m.name}  (${m.run_on.toISOString()})`);
      for (const m of status.pending) console.log(`pending  ${m}`);
      for (const m of status.modules) console.log(`module   ${m.name}  ${m.state}`);
    });
}

// deletion-kit plan <table> <pk> [--json] [--hard]: prints deletion.plan, the blast radius of deleting
// one row, as a table (or JSON). The plan itself is computed in the database (sql/31_plan.sql).
// --hard previews the hard delete a hard deletion job does (deletion.mode = 'hard', which only an
// admin's delete honours). Exit codes: 0 the delete would go through (on a table whose plain DELETE is
// refused, its soft delete), 1 error, 2 it would be blocked.
import type { Command } from 'commander';
import { plainDeleteRefused as plainRefused, plan } from '../api/soft.ts';
import { connect } from '../db.ts';

export type { PlanRow } from '../api/soft.ts';

/** Renders rows as an aligned text table with the given columns. */
export function textTable(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function register(program: Command) {
  program
    .command('plan <table> <pk>')
    .description('preview what deleting one row would do: every table reached, depth, action, rows and foreign keys (nothing is deleted)')
    .option('--json', 'print the plan as JSON')
    .option('--hard', 'preview a hard delete (what a hard deletion job does; for deletion_admin, whose delete takes the hard path)')
    .action(async (table: string, pk: string, options: { json?: boolean; hard?: boolean }) => {
      const client = await connect();
      try {
        // In a transaction that is rolled back: the plan's scratch tables go with it (src/api/soft.ts).
        const { rows, blocked } = await plan(client, { table, key: pk, hard: options.hard });
        // A table whose plain DELETE is refused (PD104) is soft-deleted by UPDATE or deletion.soft_delete:
        // the plan's rows are what that soft delete marks, so the refusal alone does not block it.
        if (blocked) process.exitCode = 2;
        if (options.json) {
          console.log(JSON.stringify(rows, null, 2));
        } else {
          console.log(textTable(
            ['depth', 'table', 'action', 'rows', 'via'],
            rows.map((r) => [String(r.depth), r.table_name, r.action, String(r.rows), r.via.join(', ')]),
          ));
          for (const r of rows.filter((r) => r.detail)) console.log(`\n${r.table_name}: ${r.detail}`);
          const total = (action: string) => rows.filter((r) => r.action === action).reduce((n, r) => n + r.rows, 0);
          const parts = [
            total('delete') > 0 || total('soft delete') === 0 ? `${total('delete')} rows would be deleted` : '',
            total('soft delete') > 0 ? `${total('soft delete')} rows would be soft-deleted (restorable from the trash)` : '',
            total('set null') > 0 ? `${total('set null')} set to NULL` : '',
            total('set default') > 0 ? `${total('set default')} set to their default` : '',
          ].filter(Boolean);
          console.log(blocked ? '\nthe delete would fail: nothing would change' : `\n${parts.join(', ')}`);
          if (!blocked && rows.some(plainRefused)) console.log('(a plain DELETE of this row is refused; soft-delete it with UPDATE ... SET deleted_at = now() or deletion.soft_delete)');
          if (options.hard && rows.some((r) => r.action === 'soft delete')) console.log('(--hard: your role\'s delete stays soft; a hard job, run by the worker as deletion_admin, deletes)');
        }
      } finally {
        await client.end();
      }
    });
}

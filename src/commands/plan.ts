// deletion-kit plan <table> <pk> [--json]: prints deletion.plan, the blast radius of deleting one row,
// as a table (or JSON). The plan itself is computed in the database (sql/31_plan.sql).
import type { Command } from 'commander';
import { connect } from '../db.ts';

export interface PlanRow {
  depth: number;
  table_name: string;
  action: string;
  rows: number;
  via: string[];
  detail: string | null;
}

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
    .action(async (table: string, pk: string, options: { json?: boolean }) => {
      const client = await connect();
      try {
        const { rows } = await client.query<PlanRow>(
          `SELECT depth, table_name::text, action, rows::bigint::float8 AS rows, via, detail
             FROM deletion.plan($1::text::regclass, $2)
            ORDER BY depth, table_name::text, action`,
          [table, pk],
        );
        if (options.json) {
          console.log(JSON.stringify(rows, null, 2));
        } else {
          console.log(textTable(
            ['depth', 'table', 'action', 'rows', 'via'],
            rows.map((r) => [String(r.depth), r.table_name, r.action, String(r.rows), r.via.join(', ')]),
          ));
          for (const r of rows.filter((r) => r.detail)) console.log(`\n${r.table_name}: ${r.detail}`);
          const blocked = rows.some((r) => r.action.startsWith('blocked'));
          console.log(blocked ? '\nthe delete would fail: nothing would change' : `\n${rows.filter((r) => r.action === 'delete').reduce((n, r) => n + r.rows, 0)} rows would be deleted`);
        }
      } finally {
        await client.end();
      }
    });
}

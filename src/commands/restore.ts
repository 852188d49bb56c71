// deletion-kit restore OP | restore --table T --key K: brings back exactly the rows of one soft-delete
// operation (deletion.restore), all or nothing; a refusal lists every conflict (SQLSTATE PD110, exit 2).
import type { Command } from 'commander';
import { connect, UserError } from '../db.ts';
import { jsonOption, plural, printJson, seconds, withProgress } from '../output.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function register(program: Command) {
  jsonOption(program
    .command('restore [op]')
    .description('restore a soft-delete operation by its id (deletion-kit trash lists them), or the operation that deleted --table/--key')
    .option('--table <table>', 'the table of a deleted row (schema-qualified)')
    .option('--key <key>', 'its primary key (a JSON array for a composite key)'))
    .action(async (op: string | undefined, opts: { table?: string; key?: string; json?: boolean }) => {
      const byRow = opts.table !== undefined || opts.key !== undefined;
      if (!byRow && op === undefined) {
        throw new UserError('restore needs an operation id (deletion-kit trash lists them), or --table and --key of a deleted row');
      }
      if (byRow && (opts.table === undefined || opts.key === undefined)) throw new UserError('restore by row needs both --table and --key');
      if (byRow && op !== undefined) throw new UserError('restore takes an operation id, or --table and --key, not both');
      if (op !== undefined && !UUID.test(op)) throw new UserError(`"${op}" is not an operation id (a uuid); deletion-kit trash lists them`);
      const client = await connect();
      const started = Date.now();
      try {
        let label = `restoring the operation that deleted ${opts.table} ${opts.key}`;
        if (op && process.stderr.isTTY) {
          const size = await client.query<{ n: string }>(
            'SELECT (SELECT sum(v::bigint) FROM jsonb_each_text(rows_per_table) AS e(k, v)) AS n FROM deletion.soft_delete_operations WHERE op = $1', [op]).catch(() => ({ rows: [] as { n: string }[] }));
          label = size.rows[0] ? `restoring ${plural(size.rows[0].n, 'row')} of operation ${op}` : `restoring operation ${op}`;
        }
        const { rows } = await withProgress(label, byRow
          ? client.query<{ n: string; op: string | null }>(
            `SELECT deletion.restore($1::regclass, $2) AS n, NULL::text AS op`, [opts.table, opts.key])
          : client.query<{ n: string; op: string | null }>('SELECT deletion.restore($1::uuid) AS n, $1::text AS op', [op]));
        const n = Number(rows[0].n);
        if (opts.json) {
          printJson({ op: op ?? null, table: opts.table ?? null, key: opts.key ?? null, rows: n, seconds: seconds(Date.now() - started) });
          return;
        }
        console.log(`restored ${plural(n, 'row')}${op ? ` of operation ${op}` : ` (the operation that deleted ${opts.table} ${opts.key})`}`);
      } finally {
        await client.end();
      }
    });
}

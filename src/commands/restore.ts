// deletion-kit restore OP | restore --table T --key K: brings back exactly the rows of one soft-delete
// operation (deletion.restore), all or nothing; a refusal lists every conflict (SQLSTATE PD110).
import type { Command } from 'commander';
import { connect, UserError } from '../db.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function register(program: Command) {
  program
    .command('restore [op]')
    .description('restore a soft-delete operation by its id, or the operation that deleted --table/--key')
    .option('--table <table>', 'the table of a deleted row (schema-qualified)')
    .option('--key <key>', 'its primary key (a JSON array for a composite key)')
    .action(async (op: string | undefined, opts: { table?: string; key?: string }) => {
      const byRow = opts.table !== undefined || opts.key !== undefined;
      if (byRow && (opts.table === undefined || opts.key === undefined)) throw new UserError('restore by row needs both --table and --key');
      if (byRow === (op !== undefined)) throw new UserError('restore takes an operation id, or --table and --key, not both');
      if (op !== undefined && !UUID.test(op)) throw new UserError(`"${op}" is not an operation id (a uuid); deletion-kit trash lists them`);
      const client = await connect();
      try {
        const { rows } = byRow
          ? await client.query<{ n: string }>('SELECT deletion.restore($1::regclass, $2) AS n', [opts.table, opts.key])
          : await client.query<{ n: string }>('SELECT deletion.restore($1::uuid) AS n', [op]);
        console.log(`restored ${rows[0].n} rows${op ? ` of operation ${op}` : ` (the operation that deleted ${opts.table} ${opts.key})`}`);
      } finally {
        await client.end();
      }
    });
}

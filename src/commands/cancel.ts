// deletion-kit cancel <id>: calls deletion.cancel(); a running job stops at its next chunk boundary.
import type { Command } from 'commander';
import { connect, UserError } from '../db.ts';
import { jsonOption, printJson } from '../output.ts';

export function register(program: Command) {
  jsonOption(program
    .command('cancel <id>')
    .description('cancel a deletion job (a running one stops at its next chunk boundary)'))
    .action(async (id: string, options: { json?: boolean }) => {
      if (!/^\d+$/.test(id)) throw new UserError(`cancel takes a job id (a whole number), not "${id}"`);
      const client = await connect();
      try {
        const { rows } = await client.query('SELECT deletion.cancel($1::bigint) AS status', [id]);
        if (options.json) {
          printJson({ id: Number(id), status: rows[0].status });
          return;
        }
        console.log(rows[0].status === 'cancelled' ? `job ${id} cancelled` : `job ${id} is running; it stops at its next chunk boundary`);
      } finally {
        await client.end();
      }
    });
}

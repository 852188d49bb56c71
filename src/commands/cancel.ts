// deletion-kit cancel <id>: calls deletion.cancel(); a running job stops at its next chunk boundary.
import type { Command } from 'commander';
import { connect, UserError } from '../db.ts';

export function register(program: Command) {
  program
    .command('cancel <id>')
    .description('cancel a deletion job (a running one stops at its next chunk boundary)')
    .action(async (id: string) => {
      if (!/^\d+$/.test(id)) throw new UserError(`cancel takes a job id (a whole number), not "${id}"`);
      const client = await connect();
      try {
        const { rows } = await client.query('SELECT deletion.cancel($1::bigint) AS status', [id]);
        console.log(rows[0].status === 'cancelled' ? `job ${id} cancelled` : `job ${id} is running; it stops at its next chunk boundary`);
      } finally {
        await client.end();
      }
    });
}

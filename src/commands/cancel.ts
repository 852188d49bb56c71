// deletion-kit cancel <id>: the API's cancel (deletion.cancel()); a running job stops at its next chunk boundary.
import type { Command } from 'commander';
import { cancel } from '../api/jobs.ts';
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
        const { status } = await cancel(client, Number(id));
        if (options.json) {
          printJson({ id: Number(id), status });
          return;
        }
        console.log(status === 'cancelled' ? `job ${id} cancelled` : `job ${id} is running; it stops at its next chunk boundary`);
      } finally {
        await client.end();
      }
    });
}

// deletion-kit serve: a small HTTP server for schedulers and monitoring (the file cleanup endpoints):
// POST /cleanup/run (bearer token from DELETION_KIT_TOKEN), GET /cleanup/stats, GET /jobs/status,
// GET /metrics (Prometheus). src/files/server.ts has the endpoints.
import type { Command } from 'commander';
import { databaseUrl, UserError } from '../db.ts';
import { createCleanupServer } from '../files/server.ts';
import { checkCleanupOptions, cleanupOptions, openStorage, storageOptions } from './files.ts';

export function register(program: Command) {
  cleanupOptions(storageOptions(program.command('serve')))
    .description('HTTP: POST /cleanup/run (Authorization: Bearer $DELETION_KIT_TOKEN), GET /cleanup/stats, GET /jobs/status, GET /metrics')
    .option('--port <port>', 'port to listen on (0: any free port)', '8787')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--json', 'print one JSON line when listening ({"event":"listening","url":...}) and one when stopping')
    .action(async (opts) => {
      const token = process.env.DELETION_KIT_TOKEN ?? '';
      if (token.length < 16) {
        throw new UserError('set DELETION_KIT_TOKEN to a secret of at least 16 characters: POST /cleanup/run requires it as a bearer token');
      }
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UserError(`--port takes a port number, not "${opts.port}"`);
      const cleanup = { batchSize: opts.batchSize, maxAttempts: opts.maxAttempts, concurrency: opts.concurrency, leaseSeconds: opts.lease, backoffSeconds: opts.backoff, graceSeconds: opts.grace };
      checkCleanupOptions(cleanup);
      const storage = openStorage(opts);
      const server = createCleanupServer({ databaseUrl: await databaseUrl(), storage, token, cleanup });
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err) => reject(new UserError(`cannot listen on ${opts.host}:${port}: ${err.message}`)));
        server.listen(port, opts.host, () => resolve());
      });
      const address = server.address();
      const actual = typeof address === 'object' && address ? address.port : port;
      if (opts.json) console.log(JSON.stringify({ event: 'listening', url: `http://${opts.host}:${actual}`, storage: storage.description }));
      else console.log(`deletion-kit serve listening on http://${opts.host}:${actual} (cleaning ${storage.description})`);
      await new Promise<void>((resolve) => {
        const stop = () => {
          console.log(opts.json ? JSON.stringify({ event: 'stopping' }) : 'stopping');
          server.close(() => resolve());
          server.closeAllConnections();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await storage.close?.();
    });
}

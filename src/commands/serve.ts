// deletion-kit serve: the HTTP API (src/http/server.ts; docs/http.md) and the web console at /
// (src/console/), over one pool of the database's connections. Tokens come from the environment
// (src/http/tokens.ts): DELETION_KIT_TOKENS_FILE, DELETION_KIT_TOKENS, DELETION_KIT_TOKEN.
import type { Command } from 'commander';
import pg from 'pg';
import { loadConfig } from '../config.ts';
import { consoleHandler } from '../console/handler.ts';
import { databaseUrl, UserError } from '../db.ts';
import { createHttpApi } from '../http/server.ts';
import { loadTokens } from '../http/tokens.ts';
import { checkCleanupOptions, cleanupOptions, openStorage, storageOptions } from './files.ts';

export function register(program: Command) {
  cleanupOptions(storageOptions(program.command('serve')))
    .description('HTTP API and web console: tokens from DELETION_KIT_TOKENS_FILE, DELETION_KIT_TOKENS or DELETION_KIT_TOKEN (docs/http.md)')
    .option('--port <port>', 'port to listen on (0: any free port)', '8787')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--json', 'print one JSON line when listening ({"event":"listening","url":...}) and one when stopping')
    .action(async (opts) => {
      const tokens = loadTokens();
      if (tokens.length === 0) {
        throw new UserError('give serve its tokens: DELETION_KIT_TOKEN (one admin token of at least 16 characters), DELETION_KIT_TOKENS (role:name:secret,...) or DELETION_KIT_TOKENS_FILE (docs/http.md)');
      }
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UserError(`--port takes a port number, not "${opts.port}"`);
      const cleanup = { batchSize: opts.batchSize, maxAttempts: opts.maxAttempts, concurrency: opts.concurrency, leaseSeconds: opts.lease, backoffSeconds: opts.backoff, graceSeconds: opts.grace };
      checkCleanupOptions(cleanup);
      const env = process.env;
      const storageGiven = [opts.storage, opts.root, opts.bucket, env.DELETION_KIT_STORAGE, env.DELETION_KIT_FILES_ROOT, env.DELETION_KIT_S3_BUCKET].some(Boolean);
      const storage = storageGiven ? openStorage(opts) : undefined;
      const config = loadConfig();
      const pool = new pg.Pool({ connectionString: await databaseUrl(), max: 8, application_name: 'deletion-kit serve' });
      pool.on('error', () => {});
      const server = createHttpApi({ pool, tokens, storage, cleanup, roles: config.serve.roles, allowedOrigins: config.serve.allowedOrigins, pages: consoleHandler });
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err) => reject(new UserError(`cannot listen on ${opts.host}:${port}: ${err.message}`)));
        server.listen(port, opts.host, () => resolve());
      });
      const address = server.address();
      const actual = typeof address === 'object' && address ? address.port : port;
      const cleaning = storage ? storage.description : 'no storage: POST /api/cleanup/run answers 503';
      if (opts.json) console.log(JSON.stringify({ event: 'listening', url: `http://${opts.host}:${actual}`, storage: storage?.description ?? null, tokens: tokens.length }));
      else console.log(`deletion-kit serve listening on http://${opts.host}:${actual} (${tokens.length} token${tokens.length === 1 ? '' : 's'}; cleaning ${cleaning})`);
      await new Promise<void>((resolve) => {
        const stop = () => {
          console.log(opts.json ? JSON.stringify({ event: 'stopping' }) : 'stopping');
          server.close(() => resolve());
          server.closeAllConnections();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await pool.end().catch(() => {});
      await storage?.close?.();
    });
}

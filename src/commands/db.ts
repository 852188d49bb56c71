// deletion-kit db start|stop|status|url: the embedded default database, kept in the embedded data
// folder (DELETION_KIT_HOME, the config's embeddedDir, or the nearest .deletion-kit up the tree).
import type { Command } from 'commander';
import { EMBEDDED_ROOT, embeddedUrl, redactUrl } from '../db.ts';
import { isRunning, readConfig, stopCluster } from '../embedded.ts';

export function register(program: Command) {
  const db = program.command('db').description(`the embedded default database (kept in the nearest .deletion-kit folder up the tree; used when DATABASE_URL, or the config's databaseUrlEnv, is not set)`);

  db.command('start')
    .description('create the embedded database when missing and start it')
    .action(async () => {
      const url = await embeddedUrl();
      console.log(`embedded PostgreSQL ${readConfig(EMBEDDED_ROOT())!.major} running: ${redactUrl(url)}`);
    });

  db.command('stop')
    .description('stop the embedded database (its data stays)')
    .action(() => {
      console.log(stopCluster(EMBEDDED_ROOT()) ? 'embedded PostgreSQL stopped' : 'embedded PostgreSQL was not running');
    });

  db.command('status')
    .description('say whether the embedded database exists and runs')
    .action(() => {
      const config = readConfig(EMBEDDED_ROOT());
      if (!config) {
        console.log(`no embedded database yet (${EMBEDDED_ROOT()}); any command creates it`);
        return;
      }
      console.log(`embedded PostgreSQL ${config.major} on port ${config.port}: ${isRunning(EMBEDDED_ROOT()) ? 'running' : 'stopped'}`);
    });

  db.command('url')
    .description('print the connection URL of the embedded database (starting it when needed)')
    .action(async () => {
      console.log(await embeddedUrl());
    });
}

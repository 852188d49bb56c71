// deletion-kit db start|stop|status|url: the embedded default database, kept in the embedded data
// folder (DELETION_KIT_HOME, the config's embeddedDir, or the nearest .deletion-kit up the tree).
import type { Command } from 'commander';
import { EMBEDDED_ROOT, embeddedStatus, embeddedUrl, redactUrl } from '../db.ts';
import { stopCluster } from '../embedded.ts';
import { jsonOption, printJson, style } from '../output.ts';

/** db status's lines: folder, data folder, port, state. */
function describe(s: ReturnType<typeof embeddedStatus>): string {
  if (!s.exists) return `no embedded database yet (${s.folder}); any command creates it`;
  return [
    `embedded PostgreSQL ${s.major} on port ${s.port}: ${s.running ? style.green('running') : style.yellow('stopped')}`,
    `folder       ${s.folder}`,
    `data folder  ${s.dataDir}`,
    `url          postgres://postgres:***@127.0.0.1:${s.port}/deletion_kit (deletion-kit db url prints it in full)`,
  ].join('\n');
}

export function register(program: Command) {
  const db = program.command('db').description(`the embedded default database (kept in the nearest .deletion-kit folder up the tree; used when DATABASE_URL, or the config's databaseUrlEnv, is not set)`);

  jsonOption(db.command('start')
    .description('create the embedded database when missing and start it (it keeps running until db stop)'))
    .action(async (opts: { json?: boolean }) => {
      const url = await embeddedUrl({ quiet: opts.json });
      const s = embeddedStatus();
      if (opts.json) printJson({ ...statusJson(s), url: redactUrl(url) });
      else console.log(describe(s));
    });

  jsonOption(db.command('stop')
    .description('stop the embedded database (its data stays)'))
    .action((opts: { json?: boolean }) => {
      const stopped = stopCluster(EMBEDDED_ROOT());
      if (opts.json) printJson({ ...statusJson(embeddedStatus()), stopped });
      else console.log(stopped ? 'embedded PostgreSQL stopped' : 'embedded PostgreSQL was not running');
    });

  jsonOption(db.command('status')
    .description('whether the embedded database exists and runs, its port, folder and data folder'))
    .action((opts: { json?: boolean }) => {
      const s = embeddedStatus();
      if (opts.json) printJson(statusJson(s));
      else console.log(describe(s));
    });

  jsonOption(db.command('url')
    .description('print the connection URL of the embedded database, password included (starting it when needed)')
    .option('--database <name>', 'another database of the embedded server (e.g. deletion_kit_demo, made by deletion-kit demo)'))
    .action(async (opts: { json?: boolean; database?: string }) => {
      const u = new URL(await embeddedUrl({ quiet: true }));
      if (opts.database) u.pathname = `/${encodeURIComponent(opts.database)}`;
      const url = u.toString();
      if (opts.json) printJson({ url });
      else console.log(url);
    });
}

/** db start / stop / status --json: one shape (start adds url, stop adds stopped). */
function statusJson(s: ReturnType<typeof embeddedStatus>) {
  return { exists: s.exists, running: s.running, major: s.major, port: s.port, folder: s.folder, data_dir: s.dataDir };
}

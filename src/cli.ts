// deletion-kit: the command-line runner. Each command lives in src/commands/<name>.ts and exports
// `register(program)`; this file loads them, parses arguments and turns errors into one clear line
// and an exit code (src/output.ts, docs/cli.md): 0 done, 1 an error or a check that found problems,
// 2 refused or blocked. A usage mistake is one or two lines, never the whole help.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { connect, lastUrl, redactUrl, UserError } from './db.ts';
import { EXIT, exitQuietlyOnClosedPipe, RefusedError, style } from './output.ts';

exitQuietlyOnClosedPipe();

const here = path.dirname(fileURLToPath(import.meta.url));
const { version } = JSON.parse(readFileSync(path.join(here, '..', 'package.json'), 'utf8')) as { version: string };

const program = new Command('deletion-kit')
  .description('PostgreSQL-native deletion strategy: migrations, deletion jobs, file cleanup, restore, plan and lint')
  .version(version, '-V, --version', 'print the version')
  .helpOption('-h, --help', 'show help for a command')
  .enablePositionalOptions(); // a command's options belong to it: `trash purge --json` is purge's --json, not trash's

// Command modules are loaded lazily: `deletion-kit worker ...` loads src/commands/worker.ts only (a
// command's file is named after it), so its started line comes at once; the program's own help, a
// completion script and an unknown word load them all. Heavy libraries (the AWS SDK, node-pg-migrate)
// are imported where they are used, never at start.
const commandsDir = path.join(here, 'commands');
const files = readdirSync(commandsDir).filter((f) => f.endsWith('.ts')).sort();
const named = process.argv[2] && !process.argv[2].startsWith('-') && process.argv[2] !== 'completion' && process.argv[2] !== 'help'
  ? files.filter((f) => f === `${process.argv[2]}.ts`)
  : [];
for (const file of named.length ? named : files) {
  const mod = (await import(path.join(commandsDir, file))) as { register: (p: Command) => void };
  mod.register(program);
}

/** `deletion-kit migrate status` for a command, for messages. */
function fullName(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Every command, depth first. */
export function allCommands(root: Command): Command[] {
  return [root, ...root.commands.flatMap((c) => allCommands(c))];
}

// Usage mistakes: one line saying what is wrong, one saying where to look. A command that has both
// an action and subcommands (migrate, trash) names its subcommands for a word it does not know.
for (const cmd of allCommands(program)) {
  cmd.configureOutput({
    outputError: (str, write) => {
      let message = str.trim().replace(/^error: /, '');
      const excess = /^too many arguments/.test(message);
      if (excess && cmd.commands.length) {
        message = `unknown command '${cmd.args[0]}' for ${fullName(cmd)} (its commands: ${cmd.commands.map((c) => c.name()).join(', ')})`;
      } else if (excess || /^missing required argument/.test(message)) {
        message = `${message.replace(/\.$/, '')}; usage: ${fullName(cmd)} ${cmd.usage()}`;
      }
      write(`deletion-kit: ${message.replace(/\n/g, ' ')}\n`);
      write(style.dim(`run ${fullName(cmd)} --help for its options and commands\n`, process.stderr));
    },
  });
}

/** Errors that mean an engine object is missing: a database never migrated, or behind. */
const MISSING_OBJECT = new Set(['42P01', '3F000', '42883']);

/** When an engine object is missing: "not installed / N migrations pending: run deletion-kit migrate", else undefined. */
async function engineMissing(): Promise<string | undefined> {
  if (!lastUrl) return undefined;
  try {
    const client = await connect(lastUrl);
    try {
      const { migrationStatus } = await import('./migrate.ts');
      const status = await migrationStatus(client);
      const where = redactUrl(lastUrl);
      if (status.applied.length === 0) return `the deletion engine is not installed in ${where}: run deletion-kit migrate`;
      if (status.pending.length) return `the deletion engine in ${where} is not up to date (${status.pending.length} migrations pending): run deletion-kit migrate`;
      if (status.modules.some((m) => m.state !== 'applied')) return `the deletion engine's SQL modules in ${where} are not up to date: run deletion-kit migrate`;
    } finally {
      await client.end();
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/** SQLSTATEs that mean the engine refused (restore conflicts, protection): exit code 2. */
const REFUSED = new Set(['PD103', 'PD110', 'PD202', 'PD210', 'PD301', 'PD302', 'PD303']);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  const e = err as Error & { code?: string; hint?: string };
  let message = err instanceof UserError ? e.message : e.code ? `${e.message} (SQLSTATE ${e.code})` : e.message;
  if (e.code && MISSING_OBJECT.has(e.code) && /\b(deletion|audit|deletion_work|deletion_kit)\b/.test(e.message)) {
    message = (await engineMissing()) ?? message;
  }
  if (e.hint && !(err instanceof UserError)) message += `; hint: ${e.hint.replace(/\s*\n\s*/g, ' ')}`;
  console.error(`deletion-kit: ${message}`);
  process.exitCode = err instanceof RefusedError || (e.code && REFUSED.has(e.code)) ? EXIT.refused : EXIT.error;
}

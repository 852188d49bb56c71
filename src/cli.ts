// deletion-kit: the command-line runner. Each command lives in src/commands/<name>.ts and exports
// `register(program)`; this file loads them, parses arguments and turns errors into one clear line
// and a non-zero exit code.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { UserError } from './db.ts';

const program = new Command('deletion-kit')
  .description('PostgreSQL-native deletion strategy: migrations, deletion jobs, file cleanup, restore, plan and lint')
  .showHelpAfterError();

const commandsDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'commands');
for (const file of readdirSync(commandsDir).filter((f) => f.endsWith('.ts')).sort()) {
  const mod = (await import(path.join(commandsDir, file))) as { register: (p: Command) => void };
  mod.register(program);
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  const e = err as Error & { code?: string };
  const message = err instanceof UserError ? e.message : e.code ? `${e.message} (SQLSTATE ${e.code})` : e.message;
  console.error(`deletion-kit: ${message}`);
  process.exitCode = 1;
}

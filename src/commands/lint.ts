// deletion-kit lint [--json] [--max-depth N]: prints deletion.lint()'s findings (sql/32_lint.sql) and
// exits 1 when any is an error, so CI fails on a deletion hazard.
import type { Command } from 'commander';
import { lint, type LintFinding as Finding } from '../api/files.ts';
import { connect, UserError } from '../db.ts';
import { plural, printJson, style, table } from '../output.ts';

export function register(program: Command) {
  program
    .command('lint')
    .description('check the schema for deletion hazards (unindexed or default foreign keys, tables without a policy, ...); exits 1 on errors')
    .option('--json', 'print the findings as JSON')
    .option('--max-depth <n>', 'deepest cascade chain allowed before a warning', '6')
    .action(async (options: { json?: boolean; maxDepth: string }) => {
      const maxDepth = Number(options.maxDepth);
      if (!Number.isInteger(maxDepth) || maxDepth < 1) throw new UserError(`--max-depth takes a positive whole number, not "${options.maxDepth}"`);
      const client = await connect();
      let findings: Finding[];
      try {
        findings = await lint(client, { maxDepth });
      } finally {
        await client.end();
      }
      const errors = findings.filter((f) => f.severity === 'error').length;
      if (options.json) {
        printJson(findings);
      } else if (findings.length === 0) {
        console.log('no deletion hazards found');
      } else {
        const paint = (sev: string) => (sev === 'error' ? style.red(sev) : style.yellow(sev));
        console.log(table(['severity', 'rule', 'object'], findings.map((f) => [paint(f.severity), f.rule, f.object])));
        for (const f of findings) console.log(`\n${paint(f.severity)} ${style.bold(f.rule)}: ${f.problem}\n  fix: ${f.fix}`);
        console.log(`\n${plural(errors, 'error')}, ${plural(findings.length - errors, 'warning')}`);
      }
      if (errors > 0) process.exitCode = 1;
    });
}

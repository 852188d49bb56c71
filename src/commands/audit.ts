// deletion-kit audit restore|restore-transaction|partitions|retention: the audit log's SQL functions
// (docs/audit.md) from the command line. Everything is decided in SQL; this prints what it returns.
import type { Command } from 'commander';
import { connect, UserError } from '../db.ts';

interface PlanRow {
  kind: string;
  table_name: string | null;
  record_id: string | null;
  rows: string | null;
  detail: string | null;
}

/** Prints a restore's plan: rows per table, conflicts, or the one-line "already restored". */
function printPlan(rows: PlanRow[], dryRun: boolean) {
  for (const r of rows) {
    if (r.kind === 'conflict') console.log(`conflict  ${r.table_name ?? ''} ${r.record_id ?? ''}: ${r.detail}`);
    else if (r.table_name === null) console.log(`${r.kind}: ${r.detail}`);
    else console.log(`${dryRun ? 'would ' : ''}${r.kind.padEnd(7)} ${String(r.rows).padStart(9)}  ${r.table_name}`);
  }
  const conflicts = rows.filter((r) => r.kind === 'conflict').length;
  if (dryRun) console.log(conflicts ? `${conflicts} conflict(s): a restore would be refused` : 'no conflicts: the restore would go through');
}

async function run<T>(work: (c: Awaited<ReturnType<typeof connect>>) => Promise<T>): Promise<T> {
  const c = await connect();
  try {
    return await work(c);
  } finally {
    await c.end();
  }
}

export function register(program: Command) {
  const audit = program.command('audit').description('the audit log: restore hard deletes, partitions and retention');

  audit
    .command('restore <table> <key>')
    .description('restore a hard-deleted row with everything its delete cascaded to, and re-link what it set to NULL (all or nothing)')
    .option('--dry-run', 'print the plan and every conflict, change nothing')
    .action(async (table: string, key: string, options: { dryRun?: boolean }) => {
      const { rows } = await run((c) =>
        c.query<PlanRow>('SELECT kind, table_name, record_id, rows::text, detail FROM audit.restore_deleted($1::regclass, $2, $3)', [table, key, !!options.dryRun]),
      );
      printPlan(rows, !!options.dryRun);
    });

  audit
    .command('restore-transaction <txid>')
    .description('undo every delete and SET NULL of a transaction (all or nothing)')
    .option('--dry-run', 'print the plan and every conflict, change nothing')
    .action(async (txid: string, options: { dryRun?: boolean }) => {
      if (!/^\d+$/.test(txid)) throw new UserError(`a transaction id is a whole number (audit.audit_log, column txid), not "${txid}"`);
      const { rows } = await run((c) =>
        c.query<PlanRow>('SELECT kind, table_name, record_id, rows::text, detail FROM audit.restore_transaction($1::bigint, $2)', [txid, !!options.dryRun]),
      );
      printPlan(rows, !!options.dryRun);
    });

  audit
    .command('partitions')
    .description('create the monthly partitions of the audit log ahead of time (run monthly)')
    .option('--months-ahead <n>', 'how many months ahead', '3')
    .action(async (options: { monthsAhead: string }) => {
      const n = Number(options.monthsAhead);
      if (!Number.isInteger(n) || n < 0) throw new UserError(`--months-ahead takes a whole number, not "${options.monthsAhead}"`);
      const { rows } = await run((c) => c.query<{ name: string }>('SELECT audit.ensure_partitions($1) AS name', [n]));
      console.log(rows.length ? rows.map((r) => `created ${r.name}`).join('\n') : 'every partition exists already');
    });

  audit
    .command('retention')
    .description('drop the audit log\'s monthly partitions that end on or before a date (whole past months)')
    .requiredOption('--before <date>', 'cutoff, e.g. 2025-01-01')
    .action(async (options: { before: string }) => {
      const { rows } = await run((c) => c.query<{ name: string }>('SELECT audit.drop_partitions_before($1::timestamptz) AS name', [options.before]));
      console.log(rows.length ? rows.map((r) => `dropped ${r.name}`).join('\n') : 'no partition ends before the cutoff');
    });
}

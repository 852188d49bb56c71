// deletion-kit audit restore|restore-transaction|partitions|retention|seal|head|verify: the audit log's
// SQL functions (docs/audit.md) from the command line. Everything is decided in SQL; this prints what
// it returns. The seal key is read from DELETION_KIT_AUDIT_KEY only (an option would show in ps).
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

/** The audit seal key, from the environment; never from the command line. */
function auditKey(): string {
  const key = process.env.DELETION_KIT_AUDIT_KEY;
  if (!key) throw new UserError('set DELETION_KIT_AUDIT_KEY to the audit seal key (docs/audit.md, "Tamper evidence")');
  return key;
}

function wholeNumber(name: string, value: string | undefined): number | null {
  if (value === undefined) return null;
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new UserError(`${name} takes a seal number (1, 2, ...), not "${value}"`);
  return Number(value);
}

interface SealRow {
  seal_no: string;
  from_txid: string;
  to_txid: string;
  row_count: string;
  transaction_count: string;
  chain_digest: string;
}

interface VerifyRow {
  ok: boolean;
  problem: string | null;
  seal_no: string | null;
  log_id: string | null;
  txid: string | null;
  created_at: Date | null;
  detail: string | null;
  seals_checked: string;
  rows_checked: string;
  transactions_checked: string;
  rows_retired: string;
  rows_unsealed: string;
  head_seal: string | null;
  head_digest: string | null;
}

export function register(program: Command) {
  const audit = program.command('audit').description('the audit log: restore hard deletes, partitions, retention and tamper evidence');

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

  audit
    .command('seal')
    .description('seal every finished, unsealed audit row into the HMAC chain (key: DELETION_KIT_AUDIT_KEY); the worker\'s upkeep does it too')
    .option('--max-rows <n>', 'audit.log rows per seal (whole transactions); one seal after another until nothing is left', '100000')
    .action(async (options: { maxRows: string }) => {
      const key = auditKey();
      const maxRows = wholeNumber('--max-rows', options.maxRows);
      await run(async (c) => {
        let sealed = 0;
        for (;;) {
          let rows: SealRow[];
          try {
            ({ rows } = await c.query<SealRow>('SELECT * FROM audit.seal($1, $2)', [key, maxRows]));
          } catch (err) {
            if ((err as { code?: string }).code === '42501') {
              throw new UserError('audit.seal may only be run by the engine\'s owner; a deletion_admin seals through the worker\'s upkeep (deletion-kit worker --upkeep with DELETION_KIT_AUDIT_KEY set)');
            }
            throw err;
          }
          if (rows.length === 0) break;
          const r = rows[0];
          sealed++;
          console.log(`seal ${r.seal_no}: ${r.row_count} rows, ${r.transaction_count} transactions (txid ${r.from_txid} to ${Number(r.to_txid) - 1})  ${r.seal_no}:${r.chain_digest}`);
        }
        if (sealed === 0) console.log('nothing to seal: every finished transaction is sealed');
      });
    });

  audit
    .command('head')
    .description('print the newest seal as <seal>:<digest>, to keep outside the database for audit verify --head')
    .action(async () => {
      const { rows } = await run((c) => c.query<{ seal_no: string; chain_digest: string; sealed_at: Date; row_count: string }>('SELECT * FROM audit.head()'));
      if (rows.length === 0) {
        console.log('no seals yet');
        return;
      }
      const h = rows[0];
      console.log(`${h.seal_no}:${h.chain_digest}`);
      console.error(`seal ${h.seal_no}, sealed at ${h.sealed_at.toISOString()} (${h.row_count} rows in its batch)`);
    });

  audit
    .command('verify')
    .description('recompute the seal chain and every sealed row (key: DELETION_KIT_AUDIT_KEY); exit code 1 on the first problem')
    .option('--from <n>', 'first seal to check (default 1)')
    .option('--to <n>', 'last seal to check (default the newest)')
    .option('--head <digest>', 'a head kept outside the database (<seal>:<digest>, or the digest): it must be in the verified chain')
    .action(async (options: { from?: string; to?: string; head?: string }) => {
      const key = auditKey();
      const from = wholeNumber('--from', options.from);
      const to = wholeNumber('--to', options.to);
      const { rows } = await run((c) => c.query<VerifyRow>('SELECT * FROM audit.verify($1, $2, $3, $4)', [key, from, to, options.head ?? null]));
      const v = rows[0];
      const counts = `${v.seals_checked} seals, ${v.rows_checked} rows and ${v.transactions_checked} transactions checked`
        + `${Number(v.rows_retired) ? `, ${v.rows_retired} rows retired by retention` : ''}${Number(v.rows_unsealed) ? `, ${v.rows_unsealed} rows not sealed yet` : ''}`;
      if (v.ok) {
        console.log(`ok: ${counts}; head ${v.head_seal}:${v.head_digest}`);
        return;
      }
      const where = [v.seal_no && `seal ${v.seal_no}`, v.log_id && `audit.log id ${v.log_id}`, v.txid && `txid ${v.txid}`,
        v.created_at && `created_at ${v.created_at.toISOString()}`].filter(Boolean).join(', ');
      console.log(`FAILED: ${v.problem}${where ? ` (${where})` : ''}: ${v.detail}`);
      console.log(`${counts}; the chain verifies up to seal ${v.head_seal ?? 'none'}`);
      process.exitCode = 1;
    });
}

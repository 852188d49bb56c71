// deletion-kit audit restore|restore-transaction|partitions|retention|seal|head|verify: the audit log's
// SQL functions (docs/audit.md) from the command line. Everything is decided in SQL; this prints what
// it returns. The seal key is read from DELETION_KIT_AUDIT_KEY only (an option would show in ps).
import type { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { connect, UserError } from '../db.ts';
import { confirmOptions, confirmThreshold, jsonOption, mayProceed, plural, printJson, RefusedError, style, table, withProgress } from '../output.ts';

interface PlanRow {
  kind: string;
  table_name: string | null;
  record_id: string | null;
  rows: string | null;
  detail: string | null;
}

/** Prints a restore's plan (or its --json): rows per table, conflicts, or the one-line "already restored". A dry run with conflicts exits 2. */
function printPlan(rows: PlanRow[], dryRun: boolean, json = false) {
  const conflicts = rows.filter((r) => r.kind === 'conflict').length;
  if (json) {
    printJson({
      dry_run: dryRun,
      steps: rows.map((r) => ({ kind: r.kind, table: r.table_name, key: r.record_id, rows: r.rows === null ? null : Number(r.rows), detail: r.detail })),
      conflicts,
    });
  } else {
    const steps = rows.filter((r) => r.kind !== 'conflict' && r.table_name !== null);
    for (const r of rows.filter((r) => r.table_name === null && r.kind !== 'conflict')) console.log(`${r.kind}: ${r.detail}`);
    if (steps.length) {
      console.log(table(['step', { header: 'rows', align: 'right' }, 'table'], steps.map((r) => [dryRun ? `would ${r.kind}` : r.kind, Number(r.rows), r.table_name])));
    }
    for (const r of rows.filter((r) => r.kind === 'conflict')) console.log(`${style.red('conflict')}  ${r.table_name ?? ''} ${r.record_id ?? ''}: ${r.detail}`);
    if (dryRun) console.log(conflicts ? `${plural(conflicts, 'conflict')}: a restore would be refused` : 'no conflicts: the restore would go through');
  }
  if (dryRun && conflicts) process.exitCode = 2;
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

  jsonOption(audit
    .command('restore <table> <key>')
    .description('restore a hard-deleted row with everything its delete cascaded to, and re-link what it set to NULL (all or nothing)')
    .option('--dry-run', 'print the plan and every conflict, change nothing (exit 2 when there are conflicts)'))
    .action(async (table: string, key: string, options: { dryRun?: boolean; json?: boolean }) => {
      const { rows } = await run((c) => withProgress(`restoring ${table} ${key} from the audit log`,
        c.query<PlanRow>('SELECT kind, table_name, record_id, rows::text, detail FROM audit.restore_deleted($1::regclass, $2, $3)', [table, key, !!options.dryRun])),
      );
      printPlan(rows, !!options.dryRun, options.json);
    });

  jsonOption(audit
    .command('restore-transaction <txid>')
    .description('undo every delete and SET NULL of a transaction (all or nothing)')
    .option('--dry-run', 'print the plan and every conflict, change nothing (exit 2 when there are conflicts)'))
    .action(async (txid: string, options: { dryRun?: boolean; json?: boolean }) => {
      if (!/^\d+$/.test(txid)) throw new UserError(`a transaction id is a whole number (audit.audit_log, column txid), not "${txid}"`);
      const { rows } = await run((c) => withProgress(`restoring transaction ${txid} from the audit log`,
        c.query<PlanRow>('SELECT kind, table_name, record_id, rows::text, detail FROM audit.restore_transaction($1::bigint, $2)', [txid, !!options.dryRun])),
      );
      printPlan(rows, !!options.dryRun, options.json);
    });

  jsonOption(audit
    .command('partitions')
    .description('create the monthly partitions of the audit log ahead of time (run monthly)')
    .option('--months-ahead <n>', 'how many months ahead', '3'))
    .action(async (options: { monthsAhead: string; json?: boolean }) => {
      const n = Number(options.monthsAhead);
      if (!Number.isInteger(n) || n < 0) throw new UserError(`--months-ahead takes a whole number, not "${options.monthsAhead}"`);
      const { rows } = await run((c) => c.query<{ name: string }>('SELECT audit.ensure_partitions($1) AS name', [n]));
      if (options.json) printJson({ created: rows.map((r) => r.name) });
      else console.log(rows.length ? rows.map((r) => `created ${r.name}`).join('\n') : 'every partition exists already');
    });

  jsonOption(confirmOptions(audit
    .command('retention')
    .description('drop the audit log\'s monthly partitions that end on or before a date (whole past months); asks on a terminal above 1,000 rows')
    .requiredOption('--before <date>', 'cutoff, e.g. 2025-01-01')))
    .action(async (options: { before: string; dryRun?: boolean; yes?: boolean; confirmAbove?: string; json?: boolean }) => {
      const threshold = confirmThreshold(options.confirmAbove, loadConfig().confirmAbove);
      const result = await run(async (c) => {
        // What would go: the function itself, run and rolled back; then each partition's rows.
        await c.query('BEGIN');
        let preview: { partition: string; rows: number }[];
        try {
          const names = (await c.query<{ name: string }>('SELECT audit.drop_partitions_before($1::timestamptz) AS name', [options.before])).rows.map((r) => r.name);
          await c.query('ROLLBACK');
          preview = [];
          for (const name of names) preview.push({ partition: name, rows: Number((await c.query(`SELECT count(*) AS n FROM ${name}`)).rows[0].n) });
        } catch (err) {
          await c.query('ROLLBACK').catch(() => {});
          throw err;
        }
        const total = preview.reduce((n, p) => n + p.rows, 0);
        if (options.dryRun || preview.length === 0) return { dropped: false, partitions: preview, total };
        if (!options.json && !(await mayProceed(total, `audit retention would drop ${plural(preview.length, 'partition')} (${preview.map((p) => p.partition).join(', ')})`, { yes: options.yes, threshold }))) {
          return { dropped: false, declined: true, partitions: preview, total };
        }
        const dropped = (await c.query<{ name: string }>('SELECT audit.drop_partitions_before($1::timestamptz) AS name', [options.before])).rows.map((r) => r.name);
        const partitions = dropped.map((name) => ({ partition: name, rows: preview.find((p) => p.partition === name)?.rows ?? 0 }));
        return { dropped: true, partitions, total: partitions.reduce((n, p) => n + p.rows, 0) };
      });
      if (options.json) {
        printJson({ dry_run: Boolean(options.dryRun), before: options.before, partitions: result.partitions, total_rows: result.total });
        return;
      }
      if (result.partitions.length === 0) {
        console.log('no partition ends before the cutoff');
        return;
      }
      const verb = result.dropped ? 'dropped' : 'would drop';
      console.log(table(['partition', { header: 'rows', align: 'right' }], result.partitions.map((p) => [p.partition, p.rows])));
      console.log(`\n${verb} ${plural(result.partitions.length, 'partition')} holding ${plural(result.total, 'row')}${options.dryRun ? ' (dry run: nothing changed)' : ''}`);
      if ('declined' in result) throw new RefusedError('not confirmed: nothing was dropped (--yes skips the question)');
    });

  jsonOption(audit
    .command('seal')
    .description('seal every finished, unsealed audit row into the HMAC chain (key: DELETION_KIT_AUDIT_KEY); the worker\'s upkeep does it too')
    .option('--max-rows <n>', 'audit.log rows per seal (whole transactions); one seal after another until nothing is left', '100000'))
    .action(async (options: { maxRows: string; json?: boolean }) => {
      const key = auditKey();
      const maxRows = wholeNumber('--max-rows', options.maxRows);
      await run(async (c) => {
        let sealed = 0;
        const seals: object[] = [];
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
          seals.push({ seal_no: Number(r.seal_no), rows: Number(r.row_count), transactions: Number(r.transaction_count), from_txid: Number(r.from_txid), to_txid: Number(r.to_txid) - 1, digest: r.chain_digest });
          if (!options.json) console.log(`seal ${r.seal_no}: ${plural(r.row_count, 'row')}, ${plural(r.transaction_count, 'transaction')} (txid ${r.from_txid} to ${Number(r.to_txid) - 1})  ${r.seal_no}:${r.chain_digest}`);
        }
        if (options.json) printJson({ seals });
        else if (sealed === 0) console.log('nothing to seal: every finished transaction is sealed');
      });
    });

  jsonOption(audit
    .command('head')
    .description('print the newest seal as <seal>:<digest>, to keep outside the database for audit verify --head'))
    .action(async (options: { json?: boolean }) => {
      const { rows } = await run((c) => c.query<{ seal_no: string; chain_digest: string; sealed_at: Date; row_count: string }>('SELECT * FROM audit.head()'));
      if (options.json) {
        const h = rows[0];
        printJson(h ? { seal_no: Number(h.seal_no), digest: h.chain_digest, sealed_at: h.sealed_at, rows: Number(h.row_count) } : { seal_no: null, digest: null, sealed_at: null, rows: null });
        return;
      }
      if (rows.length === 0) {
        console.log('no seals yet');
        return;
      }
      const h = rows[0];
      console.log(`${h.seal_no}:${h.chain_digest}`);
      console.error(`seal ${h.seal_no}, sealed at ${h.sealed_at.toISOString()} (${h.row_count} rows in its batch)`);
    });

  jsonOption(audit
    .command('verify')
    .description('recompute the seal chain and every sealed row (key: DELETION_KIT_AUDIT_KEY); exit code 1 on the first problem')
    .option('--from <n>', 'first seal to check (default 1)')
    .option('--to <n>', 'last seal to check (default the newest)')
    .option('--head <digest>', 'a head kept outside the database (<seal>:<digest>, or the digest): it must be in the verified chain'))
    .action(async (options: { from?: string; to?: string; head?: string; json?: boolean }) => {
      const key = auditKey();
      const from = wholeNumber('--from', options.from);
      const to = wholeNumber('--to', options.to);
      const { rows } = await run((c) => c.query<VerifyRow>('SELECT * FROM audit.verify($1, $2, $3, $4)', [key, from, to, options.head ?? null]));
      const v = rows[0];
      if (options.json) {
        const num = (x: string | null) => (x === null ? null : Number(x));
        printJson({
          ok: v.ok, problem: v.problem, seal_no: num(v.seal_no), log_id: num(v.log_id), txid: num(v.txid), created_at: v.created_at, detail: v.detail,
          seals_checked: Number(v.seals_checked), rows_checked: Number(v.rows_checked), transactions_checked: Number(v.transactions_checked),
          rows_retired: Number(v.rows_retired), rows_unsealed: Number(v.rows_unsealed), head_seal: num(v.head_seal), head_digest: v.head_digest,
        });
        if (!v.ok) process.exitCode = 1;
        return;
      }
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

// The audit log's cost, side by side on the same data in one run (issue 4):
//   (a) the hard delete of a workspace subtree with no audit at all;
//   (b) the same delete with a row-level JSONB audit trigger written the usual way (supa_audit,
//       2ndQuadrant audit-trigger): AFTER ... FOR EACH ROW, one INSERT per changed row;
//   (c) ours: statement-level triggers with transition tables (sql/20_audit_capture.sql);
//   (d) the floor: the delete with no audit plus one set-based INSERT of the same JSONB rows (taken
//       from a run of (c) beforehand) into a table shaped and indexed like audit.log.
// Goals: (c) <= 0.5 x (b), (c) <= 1.25 x (d). Single-row deletes and updates in a loop: (c) <= 1.1 x
// (b). Restore of the deleted subtree: <= 1.5 x the audited delete (c).
// Every variant runs in a transaction that is rolled back, so all of them see the same rows; the
// variants take turns, and each figure is the median of its rounds.
// Tamper evidence (sql/24_audit_seal.sql), no goal set: seconds for audit.seal to seal the log's rows
// against hashing each row once into a plain table (no engine objects), verify against seal; and a
// pgbench run (several clients, single-row UPDATEs of an audited table) with the sealer running every
// second against the same run without it, and against the same UPDATEs on a plain copy of the table.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type pg from 'pg';
import type { Bench } from './harness.ts';
import { timed } from './harness.ts';

const execFileAsync = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SEAL_KEY = 'bench-audit-seal-key-0123456789abcdef';

/** Debian's pgbench, next to pg_config; undefined when it is not installed. */
function pgbenchPath(): string | undefined {
  try {
    return path.join(execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim(), 'pgbench');
  } catch {
    return undefined;
  }
}

/** Runs a pgbench custom script against the database at url; returns tps (without initial connection time). */
async function pgbench(bin: string, url: string, script: string, clients: number, seconds: number): Promise<number> {
  const u = new URL(url);
  const { stdout } = await execFileAsync(bin, ['-n', '-c', String(clients), '-j', String(Math.min(clients, 2)), '-T', String(seconds), '-f', script], {
    env: { ...process.env, PGHOST: u.hostname, PGPORT: u.port, PGUSER: decodeURIComponent(u.username), PGPASSWORD: decodeURIComponent(u.password),
           PGDATABASE: u.pathname.slice(1) },
    timeout: (seconds + 60) * 1000,
  });
  const m = /tps = ([\d.]+) \(without initial connection time\)/.exec(stdout);
  if (!m) throw new Error(`pgbench printed no tps:\n${stdout}`);
  return Number(m[1]);
}

type Variant = 'a' | 'b' | 'c' | 'd';

const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)];

// The reference of (b): one INSERT per row, the row as JSONB, the key from the trigger's arguments.
const ROW_LEVEL_REFERENCE = `
CREATE TABLE bench.row_log (LIKE audit.log INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
CREATE TABLE bench.floor_log (LIKE audit.log INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
CREATE FUNCTION bench.row_audit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  old_image jsonb := to_jsonb(OLD);
  new_image jsonb;
BEGIN
  IF TG_OP = 'UPDATE' THEN
    new_image := to_jsonb(NEW);
  END IF;
  INSERT INTO bench.row_log (txid, statement_seq, table_name, action, record_id, primary_key, old_data, changed)
  VALUES (txid_current(), 0, TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, TG_OP, old_image ->> TG_ARGV[0],
          jsonb_build_object(TG_ARGV[0], old_image -> TG_ARGV[0]), old_image, new_image);
  RETURN NULL;
END
$$;`;

export default {
  name: 'audit',
  description: 'audit capture (statement-level, set-based) vs a row-level JSONB trigger and vs the set-based floor; restore',
  async run(ctx) {
    const issues = ctx.scale === 'small' ? 2_000 : 15_000;
    const rounds = ctx.scale === 'small' ? 1 : 3;
    const loopRows = ctx.scale === 'small' ? 500 : 2_000;
    const db = await ctx.database();
    const c = await db.client();
    try {
      const perTable = await ctx.generate(c, issues, 2);
      ctx.log(`generated ${Object.values(perTable).reduce((a, b) => a + b, 0)} rows in 2 workspaces of ${issues} issues`);
      await c.query(ROW_LEVEL_REFERENCE);
      const { rows: tables } = await c.query<{ target: string }>(`
        SELECT format('%I.%I', table_schema, table_name) AS target FROM deletion.table_policies
         WHERE table_schema = 'public' AND audit ORDER BY 1`);

      // Switches the audit of every product table to one variant, inside the current transaction.
      // Every variant takes the hard path (soft-delete tables turn a plain DELETE into an UPDATE).
      async function useVariant(v: Variant) {
        await c.query(`SET LOCAL deletion.mode = 'hard'`);
        for (const { target } of tables) {
          if (v !== 'c') {
            await c.query(`ALTER TABLE ${target} DISABLE TRIGGER deletion_50_audit_statement, DISABLE TRIGGER deletion_50_audit_delete, DISABLE TRIGGER deletion_50_audit_update`);
          }
          if (v === 'b') {
            await c.query(`CREATE TRIGGER bench_row_audit_delete AFTER DELETE ON ${target} FOR EACH ROW EXECUTE FUNCTION bench.row_audit('id')`);
            await c.query(`CREATE TRIGGER bench_row_audit_update AFTER UPDATE ON ${target} FOR EACH ROW EXECUTE FUNCTION bench.row_audit('id')`);
          }
        }
      }

      // The JSONB rows the floor (d) inserts: what (c) logged for the same delete, kept in a table.
      await c.query('BEGIN');
      await c.query(`SET LOCAL deletion.mode = 'hard'`);
      await c.query('DELETE FROM public.workspaces WHERE id = 1');
      await c.query(`CREATE TABLE bench.staged_rows AS
                     SELECT txid, statement_seq, table_name, action, record_id, primary_key, old_data, changed, via_cascade
                       FROM audit.log ORDER BY id`);
      const staged = Number((await c.query('SELECT count(*) AS n FROM bench.staged_rows')).rows[0].n);
      const deleted = Number((await c.query(`SELECT count(*) AS n FROM bench.staged_rows WHERE action = 'DELETE'`)).rows[0].n);
      await c.query('COMMIT');
      ctx.log(`the subtree: ${deleted} rows deleted and ${staged - deleted} rows set to NULL or recounted by one DELETE of workspace 1`);
      // put the workspace back for the timed runs (restore is timed below, on fresh deletes)
      await c.query('BEGIN');
      await c.query(`SELECT * FROM audit.restore_transaction((SELECT max(txid) FROM bench.staged_rows))`);
      await c.query('COMMIT');
      await c.query('VACUUM ANALYZE');

      const times: Record<Variant, number[]> = { a: [], b: [], c: [], d: [] };
      const restoreTimes: number[] = [];
      const order: Variant[] = ['a', 'b', 'c', 'd'];
      for (let round = 0; round < rounds; round++) {
        for (let i = 0; i < order.length; i++) {
          const v = order[(i + round) % order.length];
          await c.query('BEGIN');
          await useVariant(v);
          const ms = await timed(async () => {
            await c.query('DELETE FROM public.workspaces WHERE id = 1');
            if (v === 'd') {
              await c.query(`INSERT INTO bench.floor_log (txid, statement_seq, table_name, action, record_id, primary_key, old_data, changed, via_cascade)
                             SELECT txid, statement_seq, table_name, action, record_id, primary_key, old_data, changed, via_cascade FROM bench.staged_rows`);
            }
          });
          times[v].push(ms);
          if (v === 'c') {
            restoreTimes.push(await timed(() => c.query(`SELECT * FROM audit.restore_deleted('public.workspaces', '1')`)));
          }
          await c.query('ROLLBACK');
        }
      }
      const [a, b, cc, d] = (['a', 'b', 'c', 'd'] as Variant[]).map((v) => median(times[v]));
      ctx.log(`delete of ${deleted} rows (median of ${rounds}): (a) no audit ${a.toFixed(0)} ms, (b) row-level ${b.toFixed(0)} ms, (c) ours ${cc.toFixed(0)} ms, (d) floor ${d.toFixed(0)} ms`);
      ctx.record(`(c) ours vs (b) row-level trigger, delete of ${deleted} rows`, cc, b, 'ms', '<= 0.5');
      ctx.record(`(c) ours vs (d) delete + one set-based INSERT, ${deleted} rows`, cc, d, 'ms', '<= 1.25');
      ctx.record(`(c) ours vs (a) no audit, ${deleted} rows`, cc, a, 'ms', 'none');
      const restore = median(restoreTimes);
      ctx.record(`restore_deleted of the ${deleted}-row delete vs the audited delete (c)`, restore, cc, 'ms', '<= 1.5');

      // Single-row statements in a loop (one DELETE or UPDATE per row, in one PL/pgSQL block).
      const loops: Record<'b' | 'c', { del: number[]; upd: number[] }> = { b: { del: [], upd: [] }, c: { del: [], upd: [] } };
      for (let round = 0; round < Math.max(3, rounds); round++) {
        for (const v of (round % 2 ? ['c', 'b'] : ['b', 'c']) as ('b' | 'c')[]) {
          await c.query('BEGIN');
          await useVariant(v);
          loops[v].del.push(await timed(() => c.query(`
            DO $$ DECLARE r bigint; BEGIN
              FOR r IN SELECT id FROM public.comment_reactions ORDER BY id LIMIT ${loopRows} LOOP
                DELETE FROM public.comment_reactions WHERE id = r;
              END LOOP; END $$`)));
          loops[v].upd.push(await timed(() => c.query(`
            DO $$ DECLARE r bigint; BEGIN
              FOR r IN SELECT id FROM public.comments ORDER BY id LIMIT ${loopRows} LOOP
                UPDATE public.comments SET body = body || '.' WHERE id = r;
              END LOOP; END $$`)));
          await c.query('ROLLBACK');
        }
      }
      ctx.record(`${loopRows} single-row DELETEs in a loop: (c) vs (b)`, median(loops.c.del), median(loops.b.del), 'ms', '<= 1.1');
      ctx.record(`${loopRows} single-row UPDATEs in a loop: (c) vs (b)`, median(loops.c.upd), median(loops.b.upd), 'ms', '<= 1.1');

      // Sealing: audit.seal over every row of the log (the committed delete and restore above), in a
      // transaction rolled back each round, against the floor of any per-row digest: each row of a plain
      // copy of audit.log hashed once, whole, into a plain table, and one digest over them in order.
      await c.query('CREATE TABLE bench.plain_log AS SELECT * FROM audit.log');
      await c.query('CREATE TABLE bench.plain_digests (id bigint, created_at timestamptz, txid bigint, digest bytea)');
      await c.query('VACUUM ANALYZE bench.plain_log');
      const logRows = Number((await c.query('SELECT count(*) AS n FROM audit.log')).rows[0].n);
      const sealing: Record<'seal' | 'hash' | 'verify', number[]> = { seal: [], hash: [], verify: [] };
      for (let round = 0; round < Math.max(3, rounds); round++) {
        for (const side of (round % 2 ? ['hash', 'seal'] : ['seal', 'hash']) as ('seal' | 'hash')[]) {
          // every transaction that wrote the log has ended for every snapshot (an autovacuum's ANALYZE may briefly hold one back)
          for (let i = 0; i < 300; i++) {
            const { rows } = await c.query('SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint > (SELECT max(txid) FROM audit.log) AS ready');
            if (rows[0].ready) break;
            await sleep(100);
          }
          await c.query('BEGIN');
          if (side === 'seal') {
            let sealed = 0;
            sealing.seal.push(await timed(async () => {
              sealed = Number((await c.query('SELECT coalesce(sum(row_count), 0) AS n FROM audit.seal($1, NULL)', [SEAL_KEY])).rows[0].n);
            }));
            if (sealed !== logRows) throw new Error(`audit.seal sealed ${sealed} rows of ${logRows}`);
            let ok = false;
            sealing.verify.push(await timed(async () => {
              ok = (await c.query('SELECT ok FROM audit.verify($1)', [SEAL_KEY])).rows[0].ok;
            }));
            if (!ok) throw new Error('audit.verify failed on the bench data');
          } else {
            sealing.hash.push(await timed(async () => {
              await c.query(`INSERT INTO bench.plain_digests SELECT p.id, p.created_at, p.txid, sha256(convert_to(p::text, 'UTF8')) FROM bench.plain_log p`);
              await c.query(`SELECT sha256(string_agg(d.digest, ''::bytea ORDER BY d.txid, d.id)) FROM bench.plain_digests d`);
            }));
          }
          await c.query('ROLLBACK');
        }
      }
      const [seal, hash, verify] = [median(sealing.seal), median(sealing.hash), median(sealing.verify)];
      ctx.log(`sealing ${logRows} rows (median of ${sealing.seal.length}): audit.seal ${(seal / 1000).toFixed(2)} s, one hash per row into a plain table ${(hash / 1000).toFixed(2)} s, audit.verify ${(verify / 1000).toFixed(2)} s`);
      ctx.record(`audit.seal of ${logRows} rows vs hashing each row once into a plain table`, seal / 1000, hash / 1000, 's', 'none');
      ctx.record(`audit.verify of ${logRows} sealed rows vs audit.seal of them`, verify / 1000, seal / 1000, 's', 'none');

      // pgbench: clients doing single-row UPDATEs of an audited table, with the sealer sealing every
      // second (its own connection, as the worker's upkeep would) and without it; the same UPDATEs on a
      // plain copy of the table with no engine objects. Runs take turns.
      const bin = pgbenchPath();
      if (!bin) {
        ctx.log('pgbench not found (apt-get install postgresql-client): the sealer-under-load figures are skipped');
        return;
      }
      const clients = 4;
      const seconds = ctx.scale === 'small' ? 10 : 30;
      const pgRounds = ctx.scale === 'small' ? 2 : 3;
      await c.query(`CREATE TABLE bench.audited (id bigint PRIMARY KEY, body text NOT NULL);
                     INSERT INTO bench.audited SELECT n, md5(n::text) FROM generate_series(1, 10000) n;
                     CREATE TABLE bench.plain (LIKE bench.audited INCLUDING ALL);
                     INSERT INTO bench.plain SELECT * FROM bench.audited;`);
      await c.query(`SELECT audit.enable('bench.audited')`);
      await c.query('VACUUM ANALYZE bench.audited, bench.plain');
      const dir = mkdtempSync(path.join(os.tmpdir(), 'dk-pgbench-'));
      const scripts = { audited: path.join(dir, 'audited.sql'), plain: path.join(dir, 'plain.sql') };
      for (const [table, file] of Object.entries(scripts)) {
        writeFileSync(file, `\\set id random(1, 10000)\nUPDATE bench.${table} SET body = md5(random()::text) WHERE id = :id;\n`);
      }
      const sealer = await db.client();
      const tps: Record<'with' | 'without' | 'plain', number[]> = { with: [], without: [], plain: [] };
      const sealMs: number[] = [];
      let sealedRows = 0;
      let seals = 0;
      try {
        await sealer.query('SELECT * FROM audit.seal($1, NULL)', [SEAL_KEY]);   // everything logged so far, untimed
        await c.query('CHECKPOINT');
        for (const file of [scripts.audited, scripts.plain]) await pgbench(bin, db.url, file, clients, 3);   // warm-up, not counted
        const order = ['without', 'with', 'plain'] as const;
        for (let round = 0; round < pgRounds; round++) {
          for (let i = 0; i < order.length; i++) {
            const side = order[(i + round) % order.length];
            if (side === 'plain') {
              tps.plain.push(await pgbench(bin, db.url, scripts.plain, clients, seconds));
              continue;
            }
            await sealer.query('SELECT * FROM audit.seal($1, NULL)', [SEAL_KEY]);   // the backlog of earlier runs, untimed
            if (side === 'without') {
              tps.without.push(await pgbench(bin, db.url, scripts.audited, clients, seconds));
              continue;
            }
            let stop = false;
            const loop = (async () => {
              while (!stop) {
                const t0 = Date.now();
                const { rows } = await sealer.query('SELECT count(*) AS k, coalesce(sum(row_count), 0) AS n FROM audit.seal($1, NULL)', [SEAL_KEY]);
                const ms = Date.now() - t0;
                sealMs.push(ms);
                seals += Number(rows[0].k);
                sealedRows += Number(rows[0].n);
                await sleep(Math.max(0, 1000 - ms));
              }
            })();
            try {
              tps.with.push(await pgbench(bin, db.url, scripts.audited, clients, seconds));
            } finally {
              stop = true;
              await loop;
            }
          }
        }
        const verified = (await sealer.query('SELECT (audit.verify($1)).ok', [SEAL_KEY])).rows[0].ok;
        if (!verified) throw new Error('audit.verify failed after the pgbench runs');
      } finally {
        await sealer.end();
      }
      const [withSealer, without, plain] = [median(tps.with), median(tps.without), median(tps.plain)];
      const sortedMs = [...sealMs].sort((p, q) => p - q);
      ctx.log(`pgbench, ${clients} clients, ${seconds} s a run (median of ${pgRounds}): audited ${without.toFixed(0)} tps, audited with the sealer every second ${withSealer.toFixed(0)} tps, plain copy ${plain.toFixed(0)} tps`);
      ctx.log(`the sealer made ${seals} seals of ${sealedRows} rows during the runs; a seal call took ${sortedMs[Math.floor(sortedMs.length / 2)]} ms (median), ${sortedMs[sortedMs.length - 1]} ms (max)`);
      ctx.record(`pgbench ${clients} clients, single-row UPDATEs of an audited table: tps with the sealer every second vs without`, withSealer, without, 'tps', 'none');
      ctx.record(`pgbench ${clients} clients: tps of the audited table (no sealer) vs a plain copy with no engine objects`, without, plain, 'tps', 'none');
    } finally {
      await c.end();
      await db.drop();
    }
  },
} satisfies Bench;

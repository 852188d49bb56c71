// The audit log's cost against plain PostgreSQL, side by side on the same data in one run. The floor
// is a copy of the product tables in schema plain (bench/harness.ts plainCopy: the same columns, keys,
// foreign keys and indexes, the same rows, and no engine trigger, policy or partial index):
//   ours   the hard delete of a workspace subtree on the product tables, every engine trigger on
//          (sql/20_audit_capture.sql: statement-level triggers with transition tables);
//   plain  the same DELETE on the copy: the cascading DELETE alone;
//   floor  the same DELETE on the copy plus one set-based INSERT of the same rows' JSONB images
//          (what ours logged, taken from a run beforehand) into a table shaped and indexed like
//          audit.log: the least any log of the delete can cost;
//   row    the same DELETE on the copy with a row-level JSONB audit trigger as supa_audit writes it
//          (AFTER ... FOR EACH ROW, to_jsonb of the row, one INSERT per row);
//   noaudit ours with the audit triggers dropped (every other engine trigger on), as with audit off;
//   generic ours with the audit triggers running the generic capture functions instead of the ones
//          generated for each table (the capture as it was before they were generated).
// Restore: audit.restore_deleted of that delete against a plain re-insert of the same rows on the
// copy (one statement: an INSERT ... SELECT per table from the rows' JSONB images and an UPDATE per
// table putting back what ON DELETE SET NULL cleared), each after its own side's delete.
// Single-row paths as the application role (a login member of deletion_app), a loop of N statements
// in one PL/pgSQL block: the hard DELETE of a reaction, the soft delete of an issue (an UPDATE ... SET
// deleted_at = now() that the engine cascades to its comments; the example refuses a plain DELETE of
// a soft-delete table) and an UPDATE of an issue's title, against the same role running the same
// statements on the copy (the soft delete as the two UPDATEs a careful engineer writes); the update
// also with the generic capture functions, the soft delete also with the generic walk (the generated
// walks dropped in the rolled-back transaction, harness.ts useGenericWalk); and all three on the copy
// with the row-level JSONB trigger on the tables they write (the least a log row a change costs).
// Every timed statement runs in a transaction that is rolled back; the sides alternate, their order
// reversed every round (harness.ts alternate), and each figure is the median of its rounds.
// Tamper evidence (sql/24_audit_seal.sql), no goal set: audit.seal against hashing each row once into
// a plain table, verify against seal. pgbench (4 clients, single-row UPDATEs): an audited table
// against a plain copy and against the same table with the row-level JSONB trigger, and with the
// sealer running every second.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type pg from 'pg';
import type { Bench } from './harness.ts';
import { alternate, installGenericCapture, median, plainCopy, timed, useGenericCapture, useGenericWalk } from './harness.ts';

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

// The row-level reference: one INSERT per row, the row as JSONB, the key from the trigger's arguments.
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

const OP = '00000000-0000-4000-8000-0000000a0d17';

export default {
  name: 'audit',
  description: 'audited hard delete, restore and single-row paths vs plain PostgreSQL on a copy of the tables; row-level JSONB trigger; pgbench',
  async run(ctx) {
    // default: a 44,000-row tree; large: about 1,000,000 rows (136,000 issues a workspace)
    const issues = ctx.scale === 'small' ? 2_000 : ctx.scale === 'large' ? 136_000 : 6_000;
    const rounds = 5;
    const loopRows = ctx.scale === 'small' ? 500 : 2_000;
    const db = await ctx.database();
    const c = await db.client();
    try {
      const perTable = await ctx.generate(c, issues, 2);
      ctx.log(`generated ${Object.values(perTable).reduce((a, b) => a + b, 0)} rows in 2 workspaces of ${issues} issues`);
      await c.query(ROW_LEVEL_REFERENCE);
      await installGenericCapture(c);
      const { rows: tables } = await c.query<{ target: string }>(`
        SELECT format('%I.%I', table_schema, table_name) AS target FROM deletion.table_policies
         WHERE table_schema = 'public' AND audit ORDER BY 1`);

      // The JSONB rows the floor inserts: what ours logged for the same delete, kept in a table.
      await c.query('BEGIN');
      await c.query(`SET LOCAL deletion.mode = 'hard'`);
      await c.query('DELETE FROM public.workspaces WHERE id = 1');
      await c.query(`CREATE TABLE bench.staged_rows AS
                     SELECT txid, statement_seq, table_name, action, record_id, primary_key, old_data, changed, via_cascade
                       FROM audit.log WHERE txid = pg_current_xact_id()::text::bigint ORDER BY id`);
      const staged = Number((await c.query('SELECT count(*) AS n FROM bench.staged_rows')).rows[0].n);
      const deleted = Number((await c.query(`SELECT count(*) AS n FROM bench.staged_rows WHERE action = 'DELETE'`)).rows[0].n);
      await c.query('COMMIT');
      ctx.log(`the subtree: ${deleted} rows deleted and ${staged - deleted} rows set to NULL or recounted by one DELETE of workspace 1`);
      await c.query('BEGIN');
      await c.query(`SELECT * FROM audit.restore_transaction((SELECT max(txid) FROM bench.staged_rows))`);
      await c.query('COMMIT');

      // The copy, after the restore (the same rows as the product tables).
      const order = await plainCopy(c);
      ctx.log(`plain copy of ${order.length} tables in schema plain`);
      // The plain re-insert: one statement, parents first; SET NULL undone where the delete cleared a key.
      const ctes: string[] = [];
      for (const t of order) {
        const { rows: [meta] } = await c.query<{ cols: string; key: string }>(`
          SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) FILTER (WHERE a.attidentity = '' AND a.attgenerated = '') AS cols,
                 (SELECT string_agg(format('x.%1$I = r.%1$I', k.attname), ' AND ')
                    FROM pg_index i JOIN pg_attribute k ON k.attrelid = i.indrelid AND k.attnum = ANY (i.indkey)
                   WHERE i.indrelid = $1::regclass AND i.indisprimary) AS key
            FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`, [`plain.${t}`]);
        const n = (await c.query(`SELECT count(*) AS n FROM bench.staged_rows WHERE table_name = $1`, [`public.${t}`])).rows[0].n;
        if (Number(n) === 0) continue;
        ctes.push(`i_${t} AS (INSERT INTO plain.${t} OVERRIDING SYSTEM VALUE SELECT r.* FROM bench.staged_rows s, jsonb_populate_record(NULL::plain.${t}, s.old_data) r
                              WHERE s.table_name = 'public.${t}' AND s.action = 'DELETE' RETURNING 1)`);
        if (meta.key) {
          ctes.push(`u_${t} AS (UPDATE plain.${t} x SET (${meta.cols}) = (SELECT ${meta.cols.split(', ').map((col) => `r.${col}`).join(', ')})
                                  FROM bench.staged_rows s, jsonb_populate_record(NULL::plain.${t}, s.old_data) r
                                 WHERE s.table_name = 'public.${t}' AND s.action = 'UPDATE'
                                   AND EXISTS (SELECT FROM jsonb_each(s.changed) e WHERE e.value = 'null') AND ${meta.key} RETURNING 1)`);
        }
      }
      const plainRestore = `WITH ${ctes.join(',\n')} SELECT 1`;
      await c.query('VACUUM ANALYZE');

      // Switches a side on inside the current transaction: the product tables' hard path for ours
      // (soft-delete tables turn a plain DELETE into an UPDATE), audit triggers dropped for noaudit, the
      // row-level triggers on the copy for row.
      async function prepare(side: string) {
        await c.query(`SET LOCAL deletion.mode = 'hard'`);
        if (side === 'noaudit') {
          for (const { target } of tables) {
            // dropped, not disabled (rolled back with the round): the server collects transition tables
            // for every trigger that declares one, disabled or not, as a table with audit off has none
            await c.query(`DROP TRIGGER deletion_50_audit_statement ON ${target}; DROP TRIGGER deletion_50_audit_delete ON ${target}; DROP TRIGGER deletion_50_audit_update ON ${target}`);
          }
        }
        if (side === 'generic') await useGenericCapture(c);
        if (side === 'locked') {
          // the one thing a soft-delete table cannot do without: a BEFORE ROW DELETE trigger (it turns a
          // plain DELETE into a soft delete). PostgreSQL locks every row such a trigger may see before
          // it evaluates the WHEN clause, false or not: a lock record in the WAL for each deleted row.
          for (const t of rowTriggered) {
            await c.query(`CREATE TRIGGER bench_before_delete BEFORE DELETE ON plain.${t} FOR EACH ROW WHEN (false) EXECUTE FUNCTION bench.keep_row()`);
          }
        }
        if (side === 'row') {
          for (const t of order) {
            await c.query(`CREATE TRIGGER bench_row_audit AFTER UPDATE OR DELETE ON plain.${t} FOR EACH ROW EXECUTE FUNCTION bench.row_audit('id')`);
          }
        }
      }
      const deleteOf = (side: string) => side === 'ours' || side === 'noaudit' || side === 'generic' ? 'DELETE FROM public.workspaces WHERE id = 1' : 'DELETE FROM plain.workspaces WHERE id = 1';
      // the product tables where the engine keeps a BEFORE ROW DELETE trigger (soft-delete, archive)
      const { rows: triggered } = await c.query<{ t: string }>(`
        SELECT DISTINCT c.relname AS t FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND NOT g.tgisinternal AND g.tgname LIKE 'deletion\\_%'
           AND g.tgtype::int & 1 = 1 AND g.tgtype::int & 2 = 2 AND g.tgtype::int & 8 = 8 ORDER BY 1`);
      const rowTriggered = triggered.map((r) => r.t).filter((t) => order.includes(t));
      await c.query(`CREATE FUNCTION bench.keep_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$`);
      const restoreTimes: Record<'ours' | 'plain', number[]> = { ours: [], plain: [] };
      const hard = await alternate(['ours', 'plain', 'floor', 'row', 'noaudit', 'generic', 'locked'] as const, rounds, async (side) => {
        await c.query('BEGIN');
        try {
          await prepare(side);
          const ms = await timed(async () => {
            await c.query(deleteOf(side));
            if (side === 'floor') {
              await c.query(`INSERT INTO bench.floor_log (txid, statement_seq, table_name, action, record_id, primary_key, old_data, changed, via_cascade)
                             SELECT txid, statement_seq, table_name, action, record_id, primary_key, old_data, changed, via_cascade FROM bench.staged_rows`);
            }
          });
          if (side === 'ours') restoreTimes.ours.push(await timed(() => c.query(`SELECT * FROM audit.restore_deleted('public.workspaces', '1')`)));
          if (side === 'plain') restoreTimes.plain.push(await timed(() => c.query(plainRestore)));
          return ms;
        } finally {
          await c.query('ROLLBACK');
          await c.query('VACUUM');
        }
      });
      ctx.log(`hard delete of ${deleted} rows (median of ${rounds}): ours ${hard.ours.toFixed(0)} ms, plain ${hard.plain.toFixed(0)} ms, plain + one INSERT ${hard.floor.toFixed(0)} ms, ` +
              `plain with a row-level JSONB trigger ${hard.row.toFixed(0)} ms, ours without audit ${hard.noaudit.toFixed(0)} ms, ours with the generic capture ${hard.generic.toFixed(0)} ms, ` +
              `plain with an empty BEFORE ROW DELETE trigger on ${rowTriggered.join(', ')} ${hard.locked.toFixed(0)} ms`);
      ctx.record(`audited hard delete of a ${deleted}-row tree vs the plain cascading DELETE plus one set-based INSERT of the JSONB images`, hard.ours, hard.floor, 'ms', '<= 1.3');
      ctx.record(`audited hard delete of a ${deleted}-row tree vs the plain cascading DELETE alone`, hard.ours, hard.plain, 'ms', 'none');
      ctx.record(`audited hard delete of a ${deleted}-row tree vs the plain DELETE with a row-level JSONB audit trigger (supa_audit style)`, hard.ours, hard.row, 'ms', 'none');
      ctx.record(`hard delete of a ${deleted}-row tree with no audit (other engine triggers on) vs plain`, hard.noaudit, hard.plain, 'ms', '<= 1.1');
      ctx.record(`plain cascading DELETE of a ${deleted}-row tree with an empty BEFORE ROW DELETE trigger (WHEN false) on the tables where the engine has one vs plain`, hard.locked, hard.plain, 'ms', 'none');
      ctx.record(`hard delete of a ${deleted}-row tree with no audit (other engine triggers on) vs plain with those empty BEFORE ROW DELETE triggers`, hard.noaudit, hard.locked, 'ms', 'none');
      ctx.record(`audited hard delete of a ${deleted}-row tree: capture generated for each table vs the generic capture functions`, hard.ours, hard.generic, 'ms', 'none');
      ctx.record(`audited hard delete of a ${deleted}-row tree with the generic capture functions vs the plain cascading DELETE plus one set-based INSERT`, hard.generic, hard.floor, 'ms', 'none');
      ctx.record(`audit.restore_deleted of that delete vs a plain re-insert (INSERT ... SELECT, parents first)`, median(restoreTimes.ours), median(restoreTimes.plain), 'ms', '<= 1.5');

      // Single-row paths as the application role.
      await c.query(`
        DO $r$ BEGIN
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_app') THEN CREATE ROLE bench_app LOGIN IN ROLE deletion_app; END IF;
        END $r$;
        GRANT USAGE ON SCHEMA plain TO bench_app;
        GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA plain TO bench_app;`);
      const loop = (select: string, body: string) => `
        DO $$ DECLARE r bigint; BEGIN
          FOR r IN ${select} LOOP ${body} END LOOP; END $$`;
      const reactions = `SELECT id FROM public.comment_reactions ORDER BY id LIMIT ${loopRows}`;
      const issueIds = `SELECT id FROM public.issues WHERE workspace_id = 2 ORDER BY id LIMIT ${loopRows}`;
      const single = {
        delete: {
          ours: loop(reactions, 'DELETE FROM public.comment_reactions WHERE id = r;'),
          plain: loop(reactions, 'DELETE FROM plain.comment_reactions WHERE id = r;'),
        },
        soft_delete: {
          ours: loop(issueIds, 'UPDATE public.issues SET deleted_at = now() WHERE id = r;'),
          plain: loop(issueIds, `UPDATE plain.issues SET deleted_at = now(), deletion_op = '${OP}' WHERE id = r AND deleted_at IS NULL;
                                 UPDATE plain.comments SET deleted_at = now(), deletion_op = '${OP}' WHERE issue_id = r AND deleted_at IS NULL;`),
        },
        update: {
          ours: loop(issueIds, `UPDATE public.issues SET title = title || '.' WHERE id = r;`),
          plain: loop(issueIds, `UPDATE plain.issues SET title = title || '.' WHERE id = r;`),
        },
      };
      // the copy's tables each single-row path writes, for the row-level JSONB trigger's side
      const singleTables: Record<string, string[]> = { delete: ['comment_reactions'], soft_delete: ['issues', 'comments'], update: ['issues'] };
      for (const [op, sql] of Object.entries(single)) {
        // generic: the update with the generic capture functions, the soft delete with the generic walk;
        // row: the plain copy with the row-level JSONB audit trigger (the least a log row a change costs).
        const sides = op === 'delete' ? ['ours', 'plain', 'row'] as const : ['ours', 'plain', 'generic', 'row'] as const;
        const m: Record<string, number> = await alternate(sides, rounds, async (side) => {
          await c.query('BEGIN');
          try {
            if (side === 'generic' && op === 'update') await useGenericCapture(c);
            if (side === 'generic' && op === 'soft_delete') await useGenericWalk(c);
            if (side === 'row') {
              // it writes its log as its owner, as ours does (the application role has no grant on the log)
              await c.query('ALTER FUNCTION bench.row_audit() SECURITY DEFINER');
              for (const t of singleTables[op]) {
                await c.query(`CREATE TRIGGER bench_row_audit AFTER UPDATE OR DELETE ON plain.${t} FOR EACH ROW EXECUTE FUNCTION bench.row_audit('id')`);
              }
            }
            await c.query('SET LOCAL ROLE bench_app');
            return await timed(() => c.query(side === 'generic' ? sql.ours : side === 'row' ? sql.plain : sql[side]));
          } finally {
            await c.query('ROLLBACK');
            await c.query('VACUUM');
          }
        });
        ctx.record(`${loopRows} single-row ${op.replace('_', ' ')}s as the application role vs plain`, m.ours, m.plain, 'ms', '<= 1.5');
        ctx.record(`${loopRows} single-row ${op.replace('_', ' ')}s on the plain copy with a row-level JSONB audit trigger vs plain`, m.row, m.plain, 'ms', 'none');
        ctx.record(`${loopRows} single-row ${op.replace('_', ' ')}s as the application role vs the plain copy with a row-level JSONB audit trigger`, m.ours, m.row, 'ms', 'none');
        if (op === 'update') {
          ctx.record(`${loopRows} single-row updates as the application role: capture generated for each table vs the generic capture functions`, m.ours, m.generic, 'ms', 'none');
        }
        if (op === 'soft_delete') {
          ctx.record(`${loopRows} single-row soft deletes as the application role: walk generated for each table vs the generic walk`, m.ours, m.generic, 'ms', 'none');
        }
      }
      // Sealing: audit.seal over every row of the log (the committed delete and restore above), in a
      // transaction rolled back each round, against the floor of any per-row digest: each row of a plain
      // copy of audit.log hashed once, whole, into a plain table, and one digest over them in order.
      await c.query('CREATE TABLE bench.plain_log AS SELECT * FROM audit.log');
      await c.query('CREATE TABLE bench.plain_digests (id bigint, created_at timestamptz, txid bigint, digest bytea)');
      await c.query('VACUUM ANALYZE bench.plain_log');
      const logRows = Number((await c.query('SELECT count(*) AS n FROM audit.log')).rows[0].n);
      const sealing: Record<'seal' | 'hash' | 'verify', number[]> = { seal: [], hash: [], verify: [] };
      for (let round = 0; round < Math.max(5, rounds); round++) {
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
      const seconds = ctx.scale === 'small' ? 10 : 15;
      const pgRounds = ctx.scale === 'small' ? 3 : 5;
      await c.query(`CREATE TABLE bench.audited (id bigint PRIMARY KEY, body text NOT NULL);
                     INSERT INTO bench.audited SELECT n, md5(n::text) FROM generate_series(1, 10000) n;
                     CREATE TABLE bench.plain (LIKE bench.audited INCLUDING ALL);
                     INSERT INTO bench.plain SELECT * FROM bench.audited;
                     CREATE TABLE bench.generic (LIKE bench.audited INCLUDING ALL);
                     INSERT INTO bench.generic SELECT * FROM bench.audited;
                     CREATE TABLE bench.rowaudited (LIKE bench.audited INCLUDING ALL);
                     INSERT INTO bench.rowaudited SELECT * FROM bench.audited;
                     CREATE TRIGGER bench_row_audit AFTER UPDATE OR DELETE ON bench.rowaudited FOR EACH ROW EXECUTE FUNCTION bench.row_audit('id');`);
      await c.query(`SELECT audit.enable('bench.audited'), audit.enable('bench.generic'), bench.use_generic_capture('bench.generic')`);
      await c.query('VACUUM ANALYZE bench.audited, bench.plain, bench.rowaudited, bench.generic');
      const dir = mkdtempSync(path.join(os.tmpdir(), 'dk-pgbench-'));
      const scripts = { audited: path.join(dir, 'audited.sql'), plain: path.join(dir, 'plain.sql'), rowaudited: path.join(dir, 'rowaudited.sql'),
                        generic: path.join(dir, 'generic.sql') };
      for (const [table, file] of Object.entries(scripts)) {
        writeFileSync(file, `\\set id random(1, 10000)\nUPDATE bench.${table} SET body = md5(random()::text) WHERE id = :id;\n`);
      }
      const sealer = await db.client();
      const tps: Record<'with' | 'without' | 'plain' | 'row' | 'generic', number[]> = { with: [], without: [], plain: [], row: [], generic: [] };
      const sealMs: number[] = [];
      let sealedRows = 0;
      let seals = 0;
      try {
        await sealer.query('SELECT * FROM audit.seal($1, NULL)', [SEAL_KEY]);   // everything logged so far, untimed
        await c.query('CHECKPOINT');
        for (const file of [scripts.audited, scripts.plain, scripts.rowaudited, scripts.generic]) await pgbench(bin, db.url, file, clients, 3);   // warm-up, not counted
        const sides = ['without', 'plain', 'row', 'generic', 'with'] as const;
        for (let round = 0; round < pgRounds; round++) {
          for (const side of round % 2 ? [...sides].reverse() : sides) {
            if (side === 'plain' || side === 'row' || side === 'generic') {
              tps[side].push(await pgbench(bin, db.url, side === 'plain' ? scripts.plain : side === 'row' ? scripts.rowaudited : scripts.generic, clients, seconds));
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
      const [withSealer, without, plain, row, generic] = [median(tps.with), median(tps.without), median(tps.plain), median(tps.row), median(tps.generic)];
      const sortedMs = [...sealMs].sort((p, q) => p - q);
      ctx.log(`pgbench, ${clients} clients, ${seconds} s a run (median of ${pgRounds}): audited ${without.toFixed(0)} tps, audited with the sealer every second ${withSealer.toFixed(0)} tps, plain copy ${plain.toFixed(0)} tps, row-level JSONB trigger ${row.toFixed(0)} tps, generic capture ${generic.toFixed(0)} tps`);
      ctx.log(`the sealer made ${seals} seals of ${sealedRows} rows during the runs; a seal call took ${sortedMs[Math.floor(sortedMs.length / 2)]} ms (median), ${sortedMs[sortedMs.length - 1]} ms (max)`);
      ctx.record(`pgbench ${clients} clients, single-row UPDATEs of an audited table: tps with the sealer every second vs without`, withSealer, without, 'tps', 'none');
      ctx.record(`pgbench ${clients} clients, single-row UPDATEs: tps of the audited table vs a plain copy with no engine objects`, without, plain, 'tps', '>= 0.7');
      ctx.record(`pgbench ${clients} clients, single-row UPDATEs: tps of the audited table vs the same table with a row-level JSONB audit trigger`, without, row, 'tps', '>= 1');
      ctx.record(`pgbench ${clients} clients, single-row UPDATEs: tps of the audited table, capture generated for it, vs the generic capture functions`, without, generic, 'tps', 'none');
      ctx.record(`pgbench ${clients} clients, single-row UPDATEs: tps with the generic capture functions vs a plain copy`, generic, plain, 'tps', 'none');
    } finally {
      await c.end();
      await db.drop();
    }
  },
} satisfies Bench;

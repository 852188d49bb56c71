// What the statements ORMs send cost on soft-delete tables, as the application role, against the
// same statements on a plain copy of the tables (bench_plain: the same columns, keys, unique
// constraints and foreign keys among them, no engine triggers, policies or partial indexes):
//   1. single-row soft delete: UPDATE issues SET deleted_at = now() WHERE id = $1, 2,000 times
//      (ours also cascades to the issue's comments, as one operation each);
//   2. single-row restore: UPDATE issues SET deleted_at = NULL WHERE id = $1, 2,000 times, as
//      deletion_restorer (ours also brings back the cascade and checks for conflicts);
//   3. upsert: INSERT INTO users ... ON CONFLICT (email) DO UPDATE, 2,000 times, half of them new
//      emails, half active duplicates;
//   4. soft delete of a workspace subtree (100,000 rows or more at the default scale) by the client's
//      UPDATE workspaces SET deleted_at = now() WHERE id = $1, against the hand-written UPDATEs that
//      mark the same rows on the plain copy (the floor for the same result);
//   5. single-row DELETE on an archived table (wiki_pages, one revision each), 2,000 times: a real
//      DELETE reporting its row, kept by the audit log as one operation, vs the same DELETE on a
//      plain copy.
// Loops run server-side (a plpgsql function as the application role), so client round trips do not
// hide the difference. Each timed statement runs in a transaction that is rolled back (setup
// untimed), sides alternating and their order reversed every round, VACUUM between; medians. The
// performance issue owns the bounds: the goals here are 'none' (figures reported).
import type pg from 'pg';
import { timed, writeResults, type Bench, type Result } from './harness.ts';

const TABLES = ['users', 'workspaces', 'projects', 'issues', 'comments'];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** setup (untimed) then timedSql (timed) as role, in a transaction that is rolled back. */
async function once(c: pg.Client, role: string, setup: string, timedSql: string): Promise<number> {
  await c.query('BEGIN');
  try {
    if (setup) await c.query(setup);
    await c.query(`SET LOCAL ROLE ${role}`);
    return await timed(() => c.query(timedSql));
  } finally {
    await c.query('ROLLBACK');
  }
}

/** Ours and the reference, alternating, the order reversed every round; medians. */
async function sideBySide(c: pg.Client, runs: number, ours: () => Promise<number>, reference: () => Promise<number>) {
  const o: number[] = [];
  const r: number[] = [];
  for (let i = 0; i < runs; i++) {
    const pair = i % 2 === 0 ? [ours, reference] : [reference, ours];
    for (const side of pair) {
      const ms = await side();
      (side === ours ? o : r).push(ms);
      await c.query('VACUUM');
    }
  }
  return { ours: median(o), reference: median(r) };
}

export default {
  name: 'clients',
  description: 'ORM statements on soft-delete tables (soft delete, restore, upsert by UPDATE/INSERT), a 100,000-row subtree soft delete, and single-row DELETE on an archived table vs a plain copy',
  async run(ctx) {
    const small = ctx.scale === 'small';
    // CLIENTS_BENCH_ONLY=archive measures the archived-table DELETE alone (the other four loops take
    // most of an hour on a loaded machine); unset, every metric runs.
    const only = process.env.CLIENTS_BENCH_ONLY;
    const wanted = (metric: string) => !only || only === metric;
    const loop = 2_000;
    const runs = small ? 3 : 5;  // small: 3 (a restore loop of 2,000 takes minutes on a loaded machine)
    const db = await ctx.database();
    const c = await db.client();
    // Written after each metric, so a run cut short keeps what it measured.
    const done: Result[] = [];
    const record = (metric: string, ours: number, reference: number) => {
      done.push(ctx.record(metric, ours, reference, 'ms', 'none'));
      writeResults('clients', done);
    };
    try {
      const counts = await ctx.generate(c, small ? 3_000 : 30_000, 2);
      ctx.log(`generated ${Object.entries(counts).map(([t, n]) => `${t} ${n}`).join(', ')}`);
      await c.query(`INSERT INTO public.users (email, name) SELECT 'bench' || g || '@clients.example', 'Bench ' || g FROM generate_series(1, ${loop}) g`);

      // The plain copy: same columns, keys, unique constraints, product indexes and foreign keys
      // among the five tables; the engine's indexes, triggers and policies left out.
      await c.query('SET search_path = pg_catalog');
      const { rows: fks } = await c.query<{ child: string; def: string; name: string }>(`
        SELECT c.relname AS child, con.conname AS name, pg_get_constraintdef(con.oid) AS def
          FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_class p ON p.oid = con.confrelid
         WHERE con.contype = 'f' AND c.relnamespace = 'public'::regnamespace AND p.relnamespace = 'public'::regnamespace
           AND c.relname = ANY ($1) AND p.relname = ANY ($1)`, [TABLES]);
      await c.query('RESET search_path');
      let plain = 'CREATE SCHEMA bench_plain;\n';
      for (const t of TABLES) {
        plain += `CREATE TABLE bench_plain.${t} (LIKE public.${t} INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS INCLUDING INDEXES);
          INSERT INTO bench_plain.${t} OVERRIDING SYSTEM VALUE SELECT * FROM public.${t};\n`;
      }
      // LIKE ... INCLUDING INDEXES names the copies itself; the partial ones are the engine's (the
      // product declares none): active rows, trash, operation, and partial unique keys.
      plain += `DO $d$ DECLARE i record; BEGIN
          FOR i IN SELECT c.relname FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
                    WHERE c.relnamespace = 'bench_plain'::regnamespace AND x.indpred IS NOT NULL LOOP
            EXECUTE format('DROP INDEX bench_plain.%I', i.relname);
          END LOOP;
        END $d$;\n`;
      for (const fk of fks) plain += `ALTER TABLE bench_plain.${fk.child} ADD CONSTRAINT ${fk.name} ${fk.def.replaceAll('public.', 'bench_plain.')};\n`;
      for (const t of ['users', 'workspaces', 'projects', 'issues', 'comments']) {
        plain += `SELECT setval(pg_get_serial_sequence('bench_plain.${t}', 'id'), (SELECT max(id) FROM bench_plain.${t}));\n`;
      }
      await c.query(plain);
      const { rows: [partial] } = await c.query(`SELECT count(*)::int AS n FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
                                                  WHERE t.relnamespace = 'bench_plain'::regnamespace AND i.indpred IS NOT NULL`);
      if (partial.n !== 0) throw new Error('the plain copy has partial indexes');

      // The application role (and its restorer role), the server-side loops.
      await c.query(`
        DO $r$ BEGIN
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_clients_app') THEN CREATE ROLE bench_clients_app LOGIN IN ROLE deletion_app; END IF;
        END $r$;
        GRANT deletion_restorer TO bench_clients_app;
        GRANT USAGE ON SCHEMA bench, bench_plain TO deletion_app;
        GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA bench_plain TO deletion_app;
        GRANT USAGE ON ALL SEQUENCES IN SCHEMA bench_plain, public TO deletion_app;
        GRANT SELECT, INSERT, UPDATE ON public.users, public.workspaces, public.projects, public.issues, public.comments TO deletion_app;
        CREATE FUNCTION bench.each(statement text, keys bigint[], expect bigint) RETURNS bigint LANGUAGE plpgsql AS $f$
        DECLARE k bigint; n bigint; total bigint := 0;
        BEGIN
          FOREACH k IN ARRAY keys LOOP
            EXECUTE statement USING k;
            GET DIAGNOSTICS n = ROW_COUNT;
            IF n <> expect THEN RAISE EXCEPTION 'statement % on key % reported % rows, not %', statement, k, n, expect; END IF;
            total := total + n;
          END LOOP;
          RETURN total;
        END $f$;
        CREATE FUNCTION bench.upserts(target text, emails text[]) RETURNS bigint LANGUAGE plpgsql AS $f$
        DECLARE e text; n bigint; total bigint := 0;
        BEGIN
          FOREACH e IN ARRAY emails LOOP
            EXECUTE format('INSERT INTO %s (email, name) VALUES ($1, ''Upserted'') ON CONFLICT (email) DO UPDATE SET name = excluded.name', target) USING e;
            GET DIAGNOSTICS n = ROW_COUNT;
            IF n <> 1 THEN RAISE EXCEPTION 'upsert of % reported % rows', e, n; END IF;
            total := total + n;
          END LOOP;
          RETURN total;
        END $f$;
        GRANT EXECUTE ON FUNCTION bench.each(text, bigint[], bigint), bench.upserts(text, text[]) TO deletion_app;`);
      await c.query('VACUUM ANALYZE');

      const { rows: [{ ids }] } = await c.query<{ ids: string[] }>(
        `SELECT array_agg(id ORDER BY id) AS ids FROM (SELECT id FROM public.issues ORDER BY id LIMIT ${loop}) i`);
      const idList = `'{${ids.join(',')}}'::bigint[]`;
      const each = (sql: string) => `SELECT bench.each('${sql}', ${idList}, 1)`;

      // 3. Upserts: half new emails, half active duplicates.
      const emails = Array.from({ length: loop }, (_, i) => (i % 2 ? `bench${i}@clients.example` : `new${i}@clients.example`));
      const emailList = `ARRAY[${emails.map((e) => `'${e}'`).join(',')}]`;
      if (wanted('upsert')) {
      const ups = await sideBySide(c, runs,
        () => once(c, 'bench_clients_app', '', `SELECT bench.upserts('public.users', ${emailList})`),
        () => once(c, 'bench_clients_app', '', `SELECT bench.upserts('bench_plain.users', ${emailList})`));
      record(`${loop} upserts INSERT INTO users ... ON CONFLICT (email) DO UPDATE (app role; half new, half active) vs the plain copy`,
             ups.ours, ups.reference);
      }

      // 4. The subtree.
      const { rows: [ws] } = await c.query<{ id: number }>('SELECT id FROM public.workspaces ORDER BY id LIMIT 1');
      const { rows: [subtree] } = await c.query<{ n: number }>(`
        SELECT (SELECT count(*) FROM public.workspaces WHERE id = $1) + (SELECT count(*) FROM public.projects WHERE workspace_id = $1)
             + (SELECT count(*) FROM public.issues WHERE workspace_id = $1)
             + (SELECT count(*) FROM public.comments c JOIN public.issues i ON i.id = c.issue_id WHERE i.workspace_id = $1) AS n`, [ws.id]);
      const handMarks = `
        UPDATE bench_plain.workspaces SET deleted_at = now() WHERE id = ${ws.id} AND deleted_at IS NULL;
        UPDATE bench_plain.projects SET deleted_at = now() WHERE workspace_id = ${ws.id} AND deleted_at IS NULL;
        UPDATE bench_plain.issues SET deleted_at = now() WHERE workspace_id = ${ws.id} AND deleted_at IS NULL;
        UPDATE bench_plain.comments c SET deleted_at = now() FROM bench_plain.issues i
         WHERE i.workspace_id = ${ws.id} AND c.issue_id = i.id AND c.deleted_at IS NULL;`;
      if (wanted('subtree')) {
      const tree = await sideBySide(c, small ? runs : 3,
        () => once(c, 'bench_clients_app', '', `UPDATE public.workspaces SET deleted_at = now() WHERE id = ${ws.id}`),
        () => once(c, 'bench_clients_app', '', handMarks));
      record(`soft delete of a workspace subtree (${subtree.n} rows) by UPDATE workspaces SET deleted_at = now() (app role) vs hand-written UPDATEs on the plain copy`,
             tree.ours, tree.reference);
      }
      if (wanted('single')) {
      // 1. Single-row soft delete.
      const del = await sideBySide(c, runs,
        () => once(c, 'bench_clients_app', '', each('UPDATE public.issues SET deleted_at = now() WHERE id = $1')),
        () => once(c, 'bench_clients_app', '', each('UPDATE bench_plain.issues SET deleted_at = now() WHERE id = $1')));
      record(`${loop} single-row soft deletes by UPDATE issues SET deleted_at = now() (app role; ours cascades to comments) vs the plain copy`,
             del.ours, del.reference);

      // 2. Single-row restore, as deletion_restorer: each issue soft-deleted first by a statement of
      //    its own (committed once, untimed); each timed loop is rolled back, so every round restores
      //    the same 2,000 operations.
      await c.query(`SET ROLE bench_clients_app; ${each('UPDATE public.issues SET deleted_at = now() WHERE id = $1')}; RESET ROLE;`);
      await c.query(`UPDATE bench_plain.issues SET deleted_at = now() WHERE id = ANY (${idList})`);
      await c.query('VACUUM ANALYZE');
      ctx.log('soft deletes measured; restores next');
      const res = await sideBySide(c, runs,
        () => once(c, 'deletion_restorer', '', each('UPDATE public.issues SET deleted_at = NULL WHERE id = $1')),
        () => once(c, 'deletion_restorer', '', each('UPDATE bench_plain.issues SET deleted_at = NULL WHERE id = $1')));
      record(`${loop} single-row restores by UPDATE issues SET deleted_at = NULL (deletion_restorer; ours restores the cascade) vs the plain copy`,
             res.ours, res.reference);
      }

      // 5. Single-row DELETE on an archived table (the example's wiki_pages, each page with one
      //    revision, CASCADE) as the application role: a real DELETE that reports its row, which the
      //    audit log keeps and the engine logs as one operation; against the same DELETE on a plain
      //    copy of the two tables (same keys, unique key and foreign keys; no engine triggers).
      await c.query(`
        INSERT INTO public.wiki_pages (workspace_id, slug, title)
        SELECT ${ws.id}, 'bench-' || g, 'Bench ' || g FROM generate_series(1, ${loop}) g;
        INSERT INTO public.wiki_page_revisions (page_id, body) SELECT id, 'text' FROM public.wiki_pages WHERE slug LIKE 'bench-%';
        CREATE TABLE bench_plain.wiki_pages (LIKE public.wiki_pages INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS INCLUDING INDEXES);
        CREATE TABLE bench_plain.wiki_page_revisions (LIKE public.wiki_page_revisions INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS INCLUDING INDEXES);
        INSERT INTO bench_plain.wiki_pages OVERRIDING SYSTEM VALUE SELECT * FROM public.wiki_pages;
        INSERT INTO bench_plain.wiki_page_revisions OVERRIDING SYSTEM VALUE SELECT * FROM public.wiki_page_revisions;
        ALTER TABLE bench_plain.wiki_pages ADD FOREIGN KEY (parent_page_id) REFERENCES bench_plain.wiki_pages (id) ON DELETE SET NULL;
        ALTER TABLE bench_plain.wiki_page_revisions ADD FOREIGN KEY (page_id) REFERENCES bench_plain.wiki_pages (id) ON DELETE CASCADE;
        GRANT SELECT, DELETE ON bench_plain.wiki_pages, bench_plain.wiki_page_revisions, public.wiki_pages, public.wiki_page_revisions TO deletion_app;`);
      await c.query('VACUUM ANALYZE public.wiki_pages, public.wiki_page_revisions, bench_plain.wiki_pages, bench_plain.wiki_page_revisions');
      const { rows: [{ pages }] } = await c.query<{ pages: string[] }>(
        `SELECT array_agg(id ORDER BY id) AS pages FROM public.wiki_pages WHERE slug LIKE 'bench-%'`);
      const pageList = `'{${pages.join(',')}}'::bigint[]`;
      const eachPage = (sql: string) => `SELECT bench.each('${sql}', ${pageList}, 1)`;
      const arch = await sideBySide(c, runs,
        () => once(c, 'bench_clients_app', '', eachPage('DELETE FROM public.wiki_pages WHERE id = $1')),
        () => once(c, 'bench_clients_app', '', eachPage('DELETE FROM bench_plain.wiki_pages WHERE id = $1')));
      record(`${loop} single-row DELETEs on an archived table (wiki_pages, one revision each by CASCADE; app role; ours keeps both in the audit log as one operation) vs the plain copy`,
             arch.ours, arch.reference);

    } finally {
      await c.end();
      await db.drop();
    }
  },
} satisfies Bench;

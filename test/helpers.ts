// Shared by the uvu tests: connections to the database the test runner made for this file, fresh
// databases on the same test cluster, and a snapshot of the catalog to compare schemas with.
import pg from 'pg';
import { createDatabase, dropDatabase } from '../src/testing/cluster.ts';

export function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with npm test`);
  return value;
}

export async function client(url = env('DATABASE_URL')): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => {});
  await c.connect();
  return c;
}

/** A database of its own for one test (a clone of the migrated template, or empty), dropped by `drop`. */
export async function freshDatabase(options: { empty?: boolean } = {}) {
  const admin = env('TEST_ADMIN_URL');
  const db = await createDatabase(admin, options);
  return { ...db, drop: () => dropDatabase(admin, db.name) };
}

/**
 * Every object in the user schemas, as sorted text lines: relations, columns, constraints, indexes,
 * functions, triggers, policies, types, schemas. The runner's bookkeeping and pgTAP are left out.
 */
export async function catalogSnapshot(c: pg.Client): Promise<string[]> {
  const { rows } = await c.query(`
    WITH user_ns AS (
      SELECT oid, nspname FROM pg_namespace
       WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'deletion_kit', 'tap')
         AND nspname NOT LIKE 'pg_temp%' AND nspname NOT LIKE 'pg_toast_temp%'
    )
    SELECT 'schema ' || nspname || ' ' || coalesce(array_to_string(n.nspacl, ','), '') AS line
      FROM pg_namespace n WHERE n.oid IN (SELECT oid FROM user_ns)
    UNION ALL
    SELECT format('relation %s.%s %s %s', ns.nspname, c.relname, c.relkind, c.relrowsecurity)
      FROM pg_class c JOIN user_ns ns ON ns.oid = c.relnamespace
    UNION ALL
    SELECT format('column %s.%s.%s %s %s %s', ns.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
                  a.attnotnull, pg_get_expr(d.adbin, d.adrelid))
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN user_ns ns ON ns.oid = c.relnamespace
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT format('constraint %s.%s %s', ns.nspname, con.conname, pg_get_constraintdef(con.oid))
      FROM pg_constraint con JOIN user_ns ns ON ns.oid = con.connamespace
    UNION ALL
    SELECT format('function %s %s', p.oid::regprocedure, md5(p.prosrc))
      FROM pg_proc p JOIN user_ns ns ON ns.oid = p.pronamespace
    UNION ALL
    SELECT format('trigger %s.%s %s', t.tgrelid::regclass, t.tgname, pg_get_triggerdef(t.oid))
      FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN user_ns ns ON ns.oid = c.relnamespace
     WHERE NOT t.tgisinternal
    UNION ALL
    SELECT format('policy %s.%s %s', pol.polrelid::regclass, pol.polname, pg_get_expr(pol.polqual, pol.polrelid))
      FROM pg_policy pol
    UNION ALL
    SELECT format('type %s.%s %s', ns.nspname, t.typname, t.typtype)
      FROM pg_type t JOIN user_ns ns ON ns.oid = t.typnamespace
     WHERE t.typrelid = 0 AND t.typelem = 0
    UNION ALL
    SELECT format('comment %s %s', d.classoid::regclass, md5(d.description))
      FROM pg_description d
      JOIN pg_class c ON d.classoid = 'pg_class'::regclass AND c.oid = d.objoid
      JOIN user_ns ns ON ns.oid = c.relnamespace
    ORDER BY 1`);
  return rows.map((r) => r.line);
}

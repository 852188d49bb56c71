// migrate --dir runs a pending migration's `<name>.concurrent.sql` (deletion-kit init writes them:
// CREATE INDEX CONCURRENTLY, which cannot run in a transaction) before its transaction, statement by
// statement. A build that fails stops migrate before its transaction (no migration applied) and
// leaves an INVALID index; the next migrate drops it, builds it again and applies the migration.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { migrateUp } from '../src/migrate.ts';
import { client, freshDatabase } from './helpers.ts';

test('a pending migration\'s concurrent file runs before it, outside the transaction; an interrupted build resumes', async () => {
  const db = await freshDatabase({ empty: true });
  const c = await client(db.url);
  try {
    await migrateUp(c);
    await c.query(`CREATE TABLE public.items (id int PRIMARY KEY, code text); INSERT INTO public.items VALUES (1, 'a'), (2, 'a')`);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'concurrent-'));
    writeFileSync(path.join(dir, '0001_adopt.concurrent.sql'),
      '-- built before 0001_adopt.sql\nCREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS items_code_key ON public.items (code);\n');
    writeFileSync(path.join(dir, '0001_adopt.sql'), `-- Up Migration\nSELECT deletion.register_table('public.items');\n-- Down Migration\nDELETE FROM deletion.table_policies WHERE table_name = 'items';\n`);

    const failed = await migrateUp(c, { appDir: dir }).then(() => null, (e: Error & { code?: string }) => e);
    assert.is(failed?.code, '23505', 'the build fails on duplicate codes');
    const state = async () => (await c.query(`SELECT (SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('public.items_code_key')) AS valid,
                                                     (SELECT count(*)::int FROM deletion.table_policies WHERE table_name = 'items') AS registered`)).rows[0];
    assert.equal(await state(), { valid: false, registered: 0 }, 'an INVALID index is left, and no migration was applied');

    await c.query(`UPDATE public.items SET code = 'b' WHERE id = 2`);
    const result = await migrateUp(c, { appDir: dir });
    assert.equal(result.concurrent, ['CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS items_code_key ON public.items (code)'], 'the file ran again');
    assert.equal(result.appMigrations, ['0001_adopt'], 'then the migration');
    assert.equal(await state(), { valid: true, registered: 1 }, 'the index was rebuilt valid');
    assert.equal((await migrateUp(c, { appDir: dir })).concurrent, [], 'an applied migration\'s file is not run again');
  } finally {
    await c.end();
    await db.drop();
  }
});

test.run();

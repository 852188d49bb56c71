// docs/security.md decides, for every function of the engine, whether it runs as its owner and who
// may execute it. This compares that table with the catalog of the migrated database: a function
// added, removed, granted or made SECURITY DEFINER without the table saying so fails here.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { client } from './helpers.ts';

interface Decision {
  runs: 'owner' | 'caller';
  grantees: string;
}

/** The rows of the table under "## Every function": `signature` | runs as | EXECUTE granted to | why. */
function documented(): Map<string, Decision> {
  const text = readFileSync('docs/security.md', 'utf8');
  const section = text.slice(text.indexOf('## Every function'));
  const rows = new Map<string, Decision>();
  for (const line of section.split('\n')) {
    const m = /^\| `([^`]+)` \| ([^|]+) \| ([^|]+) \|/.exec(line);
    if (!m) continue;
    const grantees = m[3].trim() === 'nobody' ? '' : m[3].trim();
    rows.set(m[1], { runs: m[2].startsWith('owner') ? 'owner' : 'caller', grantees });
  }
  return rows;
}

test('every engine function has the EXECUTE grant and the rights docs/security.md gives it', async () => {
  const c = await client();
  try {
    const { rows } = await c.query(`
      SELECT p.oid::regprocedure::text AS signature, p.prosecdef AS definer,
             coalesce((SELECT string_agg(CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END, ', ' ORDER BY 1)
                         FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                        WHERE a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner), '') AS grantees
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
       WHERE n.nspname IN ('deletion', 'audit')`);
    const doc = documented();
    assert.ok(doc.size > 100, `the table in docs/security.md has ${doc.size} rows`);
    // Functions the wiring generates for each table have one row each kind, `<...>` standing for the
    // part of the name that varies (letters, digits and _); the catalog's are checked against it.
    const patterns = [...doc.keys()].filter((s) => s.includes('<')).map((s) => ({
      row: s,
      re: new RegExp(`^${s.split(/<[^>]+>/).map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[a-z0-9_]+')}$`),
    }));
    const generated = rows.filter((r) => patterns.some((p) => p.re.test(r.signature)));
    assert.ok(generated.length > 0, 'the migrated database has generated functions to check (audited example tables)');
    for (const r of generated) {
      const row = patterns.find((p) => p.re.test(r.signature))!.row;
      assert.equal({ runs: r.definer ? 'owner' : 'caller', grantees: r.grantees }, doc.get(row), `${r.signature} as docs/security.md says of ${row}`);
      r.signature = row;
    }
    const inCatalog = new Map(rows.map((r) => [r.signature, { runs: r.definer ? 'owner' : 'caller', grantees: r.grantees } as Decision]));
    const undocumented = [...inCatalog.keys()].filter((s) => !doc.has(s)).sort();
    const gone = [...doc.keys()].filter((s) => !inCatalog.has(s)).sort();
    assert.equal(undocumented, [], 'functions with no decision in docs/security.md');
    assert.equal(gone, [], 'functions docs/security.md lists that the engine no longer has');
    const differing = [...inCatalog.entries()]
      .filter(([s, d]) => doc.get(s)!.runs !== d.runs || doc.get(s)!.grantees !== d.grantees)
      .map(([s, d]) => `${s}: catalog says ${d.runs} / [${d.grantees}], docs say ${doc.get(s)!.runs} / [${doc.get(s)!.grantees}]`);
    assert.equal(differing, [], 'functions whose grant or rights differ from docs/security.md');
    assert.equal(rows.filter((r) => r.grantees.split(', ').includes('PUBLIC')).map((r) => r.signature).sort(),
                 ['deletion.acts_with_engine_rights()', 'deletion.delete_stays_soft(oid)', 'deletion.soft_delete_pending()', 'deletion.soft_deleted_by_this_statement(uuid)'],
                 'PUBLIC executes no engine function but the caller predicates');
  } finally {
    await c.end();
  }
});

test.run();

// A team's own SQLAlchemy soft-delete code, unchanged, against the engine (test/clients/seed003_projects.py):
// its mixin, query patterns, unit tests and endpoint logic as the role that may see deleted rows
// (deletion_restorer), and its soft_delete() + commit as the plain application role.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { appLoginRole, loginUrl } from './clients/harness.ts';
import { knownFailure } from './clients/known_failing.ts';
import { client, freshDatabase } from './helpers.ts';

const run = promisify(execFile);
const PYTHON = process.env.CLIENTS_PYTHON ?? '/usr/bin/python3';
export const MIXIN = 'SQLAlchemy mixin';

let role: Awaited<ReturnType<typeof appLoginRole>>;
test.before(async () => {
  role = await appLoginRole('clients_seed003');
});
test.after(async () => {
  await role?.drop();
});

/** Runs the team's code in a database of its own (one workspace, no projects) in the given mode. */
async function mixin(mode: 'restorer' | 'app'): Promise<Record<string, { passed: boolean; error?: { code: string | null; name: string; message: string } }>> {
  const db = await freshDatabase();
  try {
    const admin = await client(db.url);
    const { rows } = await admin.query(`INSERT INTO workspaces (name, slug) VALUES ('mixin', 'mixin-${mode}') RETURNING id`);
    await admin.end();
    const args = JSON.stringify({ url: loginUrl(db.url, role.role), workspaceId: Number(rows[0].id), mode });
    const { stdout } = await run(PYTHON, [path.resolve('test/clients/seed003_projects.py'), args], { maxBuffer: 1 << 24 });
    return JSON.parse(stdout);
  } finally {
    await db.drop();
  }
}

function verdicts(results: Awaited<ReturnType<typeof mixin>>, expected: string[]): string[] {
  assert.equal(Object.keys(results).sort(), [...expected].sort(), 'every check ran');
  const failures: string[] = [];
  for (const [name, r] of Object.entries(results)) {
    const known = knownFailure(MIXIN, name);
    if (!r.passed && !known) failures.push(`${name}: ${r.error?.code ?? r.error?.name}: ${r.error?.message}`);
    if (r.passed && known) failures.push(`${name} now passes: remove it from test/clients/known_failing.ts`);
  }
  return failures;
}

test('as deletion_restorer: the mixin, its query patterns, test_soft_delete, test_restore and the list/delete/restore endpoints', async () => {
  assert.ok(role.hasRestorer, 'the engine has the role deletion_restorer');
  const failures = verdicts(await mixin('restorer'), [
    'test_list_excludes_deleted', 'test_endpoints_include_deleted_and_restore', 'test_soft_delete', 'test_restore', 'test_query_patterns',
  ]);
  assert.equal(failures, []);
});

test('as the plain application role: soft_delete() and commit succeed, and the row is then hidden', async () => {
  assert.equal(verdicts(await mixin('app'), ['app_soft_delete_commits', 'app_delete_endpoint']), []);
});

test.run();

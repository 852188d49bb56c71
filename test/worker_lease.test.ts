// A worker's lease, as the worker really runs: a login role in deletion_admin, no superuser. The
// engine's role cannot see another role's session start in pg_stat_activity, so a live worker's job
// must still not look abandoned to a second worker; once the first session is gone, it is taken over.
import type pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { client } from './helpers.ts';

test('a second worker does not take over the job of a live worker, and does once that session is gone', async () => {
  const su = await client();
  const role = `lease_${process.pid}`;
  const open: pg.Client[] = [];
  const claim = async (c: pg.Client, worker: string) => (await c.query(`SELECT (deletion.claim_job($1, 60)).id AS id`, [worker])).rows[0].id;
  try {
    await su.query(`CREATE ROLE ${role} LOGIN PASSWORD 'lease-test' IN ROLE deletion_admin`);
    await su.query(`INSERT INTO public.workspaces (name, slug) VALUES ('Lease', 'lease')`);
    const job = (await su.query(`SELECT deletion.schedule('public.workspaces', (SELECT id::text FROM public.workspaces WHERE slug = 'lease'), hard => true) AS id`)).rows[0].id;
    const url = new URL(process.env.DATABASE_URL!);
    url.username = role;
    url.password = 'lease-test';
    const first = await client(url.toString());
    const second = await client(url.toString());
    const third = await client();
    open.push(first, second, third);

    assert.is(String(await claim(first, 'first')), String(job), 'the first worker claims the job');
    assert.is(await claim(second, 'second'), null, 'a second worker, same role, does not take over a live worker\'s job');
    assert.is(await claim(third, 'superuser'), null, 'nor does a superuser\'s session');

    await first.end();
    open.shift();
    let taken = null;
    for (let i = 0; i < 50 && taken === null; i++) {
      taken = await claim(second, 'second');
      if (taken === null) await new Promise((r) => setTimeout(r, 100));
    }
    assert.is(String(taken), String(job), 'once the first session is gone, the second worker takes the job over');
    const { rows } = await su.query(`SELECT takeovers, lease_owner FROM deletion.deletion_jobs WHERE id = $1`, [job]);
    assert.equal(rows[0], { takeovers: 1, lease_owner: 'second' });
  } finally {
    await Promise.all(open.map((c) => c.end().catch(() => {})));
    await su.query(`DELETE FROM deletion.deletion_jobs`).catch(() => {});
    await su.query(`DROP ROLE IF EXISTS ${role}`).catch(() => {});
    await su.end();
  }
});

test.run();

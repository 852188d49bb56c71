// Partitioned tables on a schema none of us wrote: Pagila's payment, partitioned by month into seven
// partitions that declare their own foreign keys (to customer, rental and staff). The team soft-deletes
// payments; a row reached through payment or through one month's partition behaves the same: soft
// deleted as the application, hidden on every partition, audited, restored, planned as deleted, and a
// month attached later is wired.
import { readFileSync } from 'node:fs';
import type pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PLAN_MATCHES_DELETE, count, migration, one, planLines, psqlFile, psqlGzip, recreateForeignKey, sampleFiles, sampleSuite, workJob } from './samples.ts';

const files = sampleFiles('pagila/schema.sql', 'pagila/data.sql.gz');
const suite = sampleSuite('sample_pagila_parts', files, async (url) => { await psqlFile(url, files![0]); await psqlGzip(url, files![1]); });
const { it, onCopy } = suite;

// The team's adoption: payment is registered (audit on by default) and soft-deletes.
const ADOPT = `SELECT deletion.register_table('public.payment', 'payments are kept: a delete hides them');
               SELECT deletion.enable_soft_delete('public.payment');`;

it('Pagila payment: soft delete through the parent and through a month\'s partition, as the application; both hidden everywhere; restore', async () => {
  await onCopy(async ({ su, app, admin }) => {
    await migration(su, ADOPT);
    assert.equal((await su.query(`SELECT * FROM deletion.lint() WHERE rule = 'wiring_differs'`)).rows, [], 'every partition is wired');
    const parts = await count(su, `SELECT count(*) FROM pg_class c WHERE c.relispartition AND c.relrowsecurity
                                     AND pg_partition_root(c.oid) = 'public.payment'::regclass`);
    assert.is(parts, 7, 'row-level security is on for all seven months');

    const first = await one(su, `SELECT payment_id, payment_date, tableoid::regclass::text AS part FROM payment ORDER BY payment_id LIMIT 1`);
    const march = await one(su, `SELECT payment_id, payment_date FROM payment_p2022_03 ORDER BY payment_id LIMIT 1`);
    const visible = async (sql: string) => count(app, sql);
    const total = await visible('SELECT count(*) FROM payment');
    const inMarch = await visible('SELECT count(*) FROM payment_p2022_03');
    const inFirst = await visible(`SELECT count(*) FROM ${first.part}`);
    assert.is.not(first.part, 'payment_p2022_03', 'the first payment is not in March');

    await app.query('DELETE FROM payment WHERE payment_id = $1', [first.payment_id]);
    await app.query('DELETE FROM payment_p2022_03 WHERE payment_id = $1', [march.payment_id]);
    assert.is(await visible('SELECT count(*) FROM payment'), total - 2, 'both rows are gone for the application, through the parent');
    assert.is(await visible(`SELECT count(*) FROM ${first.part}`), inFirst - 1, 'and through the first row\'s partition');
    assert.is(await visible('SELECT count(*) FROM payment_p2022_03'), inMarch - 1, 'and through March\'s partition');
    const ops = (await su.query(`SELECT payment_id, deletion_op, deleted_at IS NOT NULL AS deleted FROM payment WHERE payment_id = ANY ($1) ORDER BY 1`,
      [[first.payment_id, march.payment_id]])).rows;
    assert.ok(ops.every((r) => r.deleted && r.deletion_op), 'both rows are soft-deleted, each with an operation');
    assert.is(await count(su, 'SELECT count(*) FROM deletion.soft_delete_requests'), 0, 'no request is left behind');
    assert.equal((await su.query(`SELECT DISTINCT root_table FROM deletion.soft_delete_operations`)).rows, [{ root_table: 'public.payment' }],
      'the operations name the registered table');

    for (const r of ops) await admin.query('SELECT deletion.restore($1)', [r.deletion_op]);
    assert.is(await visible('SELECT count(*) FROM payment'), total, 'restore brings both back');
    assert.is(await visible('SELECT count(*) FROM payment_p2022_03'), inMarch, 'into their partitions');
  });
});

it('Pagila payment: a hard DELETE on a partition is audited under payment and restored from the log; plan equals delete', async () => {
  await onCopy(async ({ su, admin }) => {
    await migration(su, ADOPT);
    const row = await one(su, `SELECT payment_id, payment_date, amount::text FROM payment_p2022_05 ORDER BY payment_id LIMIT 1`);
    await admin.query(`BEGIN; SET LOCAL deletion.mode = 'hard'; DELETE FROM payment_p2022_05 WHERE payment_id = ${row.payment_id}; COMMIT;`);
    const logged = (await su.query(`SELECT table_name, old_data ->> 'amount' AS amount, record_id FROM audit.log WHERE action = 'DELETE'`)).rows;
    assert.equal(logged.map((r) => [r.table_name, r.amount]), [['public.payment', row.amount]], 'one audit row, under the registered table');
    await admin.query('SELECT audit.restore_deleted($1, $2)', ['public.payment', logged[0].record_id]);
    assert.is(await count(su, `SELECT count(*) FROM payment_p2022_05 WHERE payment_id = ${row.payment_id}`), 1, 'the audit log restores it into its partition');

    await su.query(readFileSync(PLAN_MATCHES_DELETE, 'utf8'));
    const key = (await one(su, `SELECT jsonb_build_array(payment_date, payment_id)::text AS k FROM payment_p2022_02 ORDER BY payment_id LIMIT 1`)).k;
    assert.equal((await su.query(`SELECT * FROM pg_temp.plan_vs_delete('public.payment', $1) WHERE planned <> actual`, [key])).rows, [],
      'the plan of a payment\'s soft delete equals the delete');
    const plan = (await su.query(`SELECT table_name::text, action, rows::int FROM deletion.plan('public.payment', $1)`, [key])).rows;
    assert.equal(plan, [{ table_name: 'payment', action: 'soft delete', rows: 1 }], 'one payment, soft-deleted');
  });
});

it('Pagila payment: a month attached later is reported by lint until wired; attach_partition wires it at once', async () => {
  await onCopy(async ({ su, app }) => {
    await migration(su, ADOPT);
    await migration(su, `CREATE TABLE public.payment_p2022_08 (LIKE public.payment INCLUDING DEFAULTS);
                         ALTER TABLE public.payment ATTACH PARTITION public.payment_p2022_08 FOR VALUES FROM ('2022-08-01 01:00:00+01') TO ('2022-09-01 01:00:00+01');`);
    const findings = async () => (await su.query(`SELECT object FROM deletion.lint() WHERE rule = 'wiring_differs'`)).rows.map((r) => r.object);
    assert.equal(await findings(), ['public.payment_p2022_08'], 'lint names the month attached without the engine');
    await migration(su, `SELECT deletion.wire('public.payment');`);
    assert.equal(await findings(), [], 'deletion.wire(payment) wires it');

    await migration(su, `CREATE TABLE public.payment_p2022_09 (LIKE public.payment INCLUDING DEFAULTS);
                         SELECT deletion.attach_partition('public.payment', 'public.payment_p2022_09', $$FOR VALUES FROM ('2022-09-01 01:00:00+01') TO ('2022-10-01 01:00:00+01')$$);
                         GRANT SELECT, INSERT, DELETE ON public.payment_p2022_09 TO ${suite.roles!.app.name};
                         INSERT INTO public.payment (customer_id, staff_id, rental_id, amount, payment_date)
                         SELECT customer_id, staff_id, rental_id, amount, '2022-09-15' FROM public.payment ORDER BY payment_id LIMIT 3;`);
    assert.equal(await findings(), [], 'a month attached with deletion.attach_partition needs nothing more');
    await app.query(`DELETE FROM payment_p2022_09 WHERE payment_id = (SELECT min(payment_id) FROM payment_p2022_09)`);
    assert.is(await count(app, 'SELECT count(*) FROM payment_p2022_09'), 2, 'a DELETE on it soft-deletes and hides the row');
    assert.is(await count(su, 'SELECT count(*) FROM payment_p2022_09 WHERE deleted_at IS NOT NULL'), 1, 'which is still there, marked');
  });
});

it('Pagila payment: a bulk rule on payment binds a DELETE on a month; the keys its months declare refuse a payment for a soft-deleted rental', async () => {
  await onCopy(async ({ su, app }) => {
    await migration(su, `${ADOPT}
                         SELECT deletion.protect_bulk_delete('public.payment', 5, 'delete payments a few at a time');
                         SELECT deletion.enable_soft_delete('public.rental');`);
    const customer = await one(su, `SELECT customer_id, count(*)::int AS n FROM payment_p2022_03 GROUP BY 1 HAVING count(*) > 5 ORDER BY 1 LIMIT 1`);
    const refused = await app.query('DELETE FROM payment_p2022_03 WHERE customer_id = $1', [customer.customer_id]).then(() => null, (e) => e);
    assert.is(refused?.code, 'PD302', `a statement on March's partition removing ${customer.n} payments is refused by payment's rule`);
    const viaParent = await app.query('DELETE FROM payment WHERE customer_id = $1', [customer.customer_id]).then(() => null, (e) => e);
    assert.is(viaParent?.code, 'PD302', 'and through payment');

    // Each month declares its own key to rental: a payment naming a soft-deleted rental is refused
    // on the month directly and through payment, as a missing rental would be.
    const rental = await one(su, `INSERT INTO rental (rental_date, inventory_id, customer_id, staff_id)
                                  SELECT '2022-04-09', inventory_id, customer_id, staff_id FROM rental ORDER BY rental_id LIMIT 1
                                  RETURNING rental_id, customer_id, staff_id`);
    await su.query('SELECT deletion.soft_delete($1, $2)', ['public.rental', String(rental.rental_id)]);
    const values = [rental.customer_id, rental.staff_id, rental.rental_id];
    const onMonth = await app.query(`INSERT INTO payment_p2022_04 (payment_id, customer_id, staff_id, rental_id, amount, payment_date)
                                     VALUES (900001, $1, $2, $3, 1.99, '2022-04-10')`, values).then(() => null, (e) => e);
    assert.is(onMonth?.code, '23503', 'on April\'s partition');
    const onParent = await app.query(`INSERT INTO payment (payment_id, customer_id, staff_id, rental_id, amount, payment_date)
                                      VALUES (900002, $1, $2, $3, 1.99, '2022-04-10')`, values).then(() => null, (e) => e);
    assert.is(onParent?.code, '23503', 'and through payment');
    const live = await one(su, `SELECT r.rental_id, r.customer_id, r.staff_id FROM rental r WHERE r.deleted_at IS NULL ORDER BY r.rental_id LIMIT 1`);
    await app.query(`INSERT INTO payment (payment_id, customer_id, staff_id, rental_id, amount, payment_date) VALUES (900003, $1, $2, $3, 1.99, '2022-04-10')`,
                    [live.customer_id, live.staff_id, live.rental_id]);
    assert.is(await count(su, `SELECT count(*) FROM payment_p2022_04 WHERE rental_id = ${live.rental_id} AND amount = 1.99`), 1,
              'a payment for a live rental goes in');
  });
});

// A team's migration of its own: a customer's rentals and payments go with the customer. Pagila
// declares the payment keys on each month (January to June; July declares none), so they are made
// CASCADE there, month by month.
const MONTHS = ['01', '02', '03', '04', '05', '06'];
const CUSTOMER_TREE = [
  recreateForeignKey('public.rental', 'rental_customer_id_fkey', 'customer_id', 'public.customer', 'customer_id', 'CASCADE'),
  ...MONTHS.flatMap((m) => [
    recreateForeignKey(`public.payment_p2022_${m}`, `payment_p2022_${m}_customer_id_fkey`, 'customer_id', 'public.customer', 'customer_id', 'CASCADE'),
    recreateForeignKey(`public.payment_p2022_${m}`, `payment_p2022_${m}_rental_id_fkey`, 'rental_id', 'public.rental', 'rental_id', 'CASCADE'),
  ]),
].join('\n');

/** A customer whose payments are in at least three of the months that declare keys, none in July. */
async function customerAcrossMonths(su: pg.Client) {
  return one(su, `SELECT p.customer_id, count(DISTINCT p.tableoid)::int AS months, count(*)::int AS payments,
                         (SELECT count(*)::int FROM rental r WHERE r.customer_id = p.customer_id) AS rentals
                    FROM payment p
                   GROUP BY p.customer_id
                  HAVING count(DISTINCT p.tableoid) >= 3 AND bool_and(p.tableoid <> 'public.payment_p2022_07'::regclass)
                   ORDER BY p.customer_id LIMIT 1`);
}

it('Pagila payment: a hard job on a customer deletes its rentals and its payments in every month, in small chunks, as planned; audited under payment', async () => {
  await onCopy(async ({ su, admin }) => {
    await migration(su, `${ADOPT} ${CUSTOMER_TREE}
                         SELECT deletion.register_table('public.customer'); SELECT deletion.register_table('public.rental');`);
    const c = await customerAcrossMonths(su);
    const lines = await planLines(admin, 'public.customer', String(c.customer_id));
    const months = (await su.query(`SELECT tableoid::regclass::text AS part, count(*)::int AS n FROM payment WHERE customer_id = $1 GROUP BY 1 ORDER BY 1`,
                                   [c.customer_id])).rows;
    assert.equal(lines.filter((l) => l.includes('payment_p2022_')),
                 months.map((m) => `1 public.${m.part} delete ${m.n} ${m.part}_customer_id_fkey`),
                 'the plan reaches each month through the key that month declares, with its payments');
    const job = Number((await one(admin, `SELECT deletion.schedule('public.customer', $1, hard => true, reason => 'account closed') AS id`, [String(c.customer_id)])).id);
    const chunks = await workJob(admin, job, 5);
    assert.is(chunks.at(-1)!.status, 'done', 'the job is done');
    assert.ok(chunks.every((ch) => Number(ch.deleted) <= 5), `no chunk deleted more than 5 rows (${chunks.map((ch) => ch.deleted).join(', ')})`);
    assert.is(await count(su, 'SELECT count(*) FROM payment WHERE customer_id = $1', [c.customer_id]), 0, `its ${c.payments} payments are gone from ${c.months} months`);
    assert.is(await count(su, 'SELECT count(*) FROM rental WHERE customer_id = $1', [c.customer_id]), 0, `its ${c.rentals} rentals are gone`);
    assert.equal(await one(su, `SELECT status, rows_deleted::int FROM deletion.deletion_jobs WHERE id = $1`, [job]),
                 { status: 'done', rows_deleted: 1 + c.payments + c.rentals }, 'the job counted every row it deleted');
    assert.is(await count(su, `SELECT count(*) FROM audit.log WHERE action = 'DELETE' AND table_name = 'public.payment' AND (old_data ->> 'customer_id')::int = $1`,
                          [c.customer_id]), c.payments, 'every payment is in the audit log, under payment');
  });
});

it('Pagila payment: a soft job on a customer marks its rentals and its payments in every month as one operation; restore brings them back to their months', async () => {
  await onCopy(async ({ su, app, admin }) => {
    await migration(su, `${ADOPT} ${CUSTOMER_TREE}
                         SELECT deletion.enable_soft_delete('public.customer'); SELECT deletion.enable_soft_delete('public.rental');`);
    const c = await customerAcrossMonths(su);
    const perMonth = (await su.query(`SELECT tableoid::regclass::text AS part, count(*)::int AS n FROM payment WHERE customer_id = $1 GROUP BY 1 ORDER BY 1`,
                                     [c.customer_id])).rows;
    const job = Number((await one(admin, `SELECT deletion.schedule('public.customer', $1, reason => 'account closed') AS id`, [String(c.customer_id)])).id);
    const chunks = await workJob(admin, job, 5);
    assert.is(chunks.at(-1)!.status, 'done', 'the job is done');
    assert.ok(chunks.length >= 3, `in several chunks (${chunks.length})`);
    assert.is(await count(app, 'SELECT count(*) FROM payment WHERE customer_id = $1', [c.customer_id]), 0, 'the application sees none of its payments');
    assert.is(await count(app, 'SELECT count(*) FROM rental WHERE customer_id = $1', [c.customer_id]), 0, 'nor its rentals');
    const ops = (await su.query(`SELECT DISTINCT deletion_op FROM payment WHERE customer_id = $1
                                 UNION SELECT deletion_op FROM rental WHERE customer_id = $1
                                 UNION SELECT deletion_op FROM customer WHERE customer_id = $1`, [c.customer_id])).rows;
    assert.is(ops.length, 1, 'the customer, its rentals and its payments are under one operation');
    assert.ok(ops[0].deletion_op, 'a soft delete\'s');
    await admin.query('SELECT deletion.restore($1)', [ops[0].deletion_op]);
    assert.equal((await app.query(`SELECT tableoid::regclass::text AS part, count(*)::int AS n FROM payment WHERE customer_id = $1 GROUP BY 1 ORDER BY 1`,
                                  [c.customer_id])).rows, perMonth, 'restore brings every payment back, in its month');
    assert.is(await count(app, 'SELECT count(*) FROM rental WHERE customer_id = $1', [c.customer_id]), c.rentals, 'and every rental');
  });
});

test.run();

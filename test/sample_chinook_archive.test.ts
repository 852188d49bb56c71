// Archive storage on a schema none of us wrote: Chinook (../shared/samples/chinook/chinook.sql). The
// adopting team gives a customer's invoices and lines CASCADE and the employees' reporting tree
// CASCADE with customers' support reps SET NULL (their own migration), registers every table and
// archives customer and employee: the application's plain DELETE then reports its rows and RETURNING
// returns them, the foreign keys act as declared, and the restorer's deletion.restore(op) brings back
// every row and every cleared reference exactly. A track, which invoice lines reference with
// RESTRICT, must stay in place.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { count, images, migration, one, psqlFile, recreateForeignKey, registerTables, rowCounts, sampleFiles, sampleSuite } from './samples.ts';

const files = sampleFiles('chinook/chinook.sql');

const CUSTOMER_TREE_CASCADE = recreateForeignKey('public.invoice', 'invoice_customer_id_fkey', 'customer_id', 'public.customer', 'customer_id', 'CASCADE')
  + recreateForeignKey('public.invoice_line', 'invoice_line_invoice_id_fkey', 'invoice_id', 'public.invoice', 'invoice_id', 'CASCADE');
const EMPLOYEE_TREE = recreateForeignKey('public.employee', 'employee_reports_to_fkey', 'reports_to', 'public.employee', 'employee_id', 'CASCADE')
  + recreateForeignKey('public.customer', 'customer_support_rep_id_fkey', 'support_rep_id', 'public.employee', 'employee_id', 'SET NULL');

const suite = sampleSuite('sample_chinook_archive', files, (url) => psqlFile(url, files![0]));
const { it, onCopy } = suite;

const CUSTOMER_ROWS = `SELECT 'customer' AS t, to_jsonb(c) AS r FROM public.customer c WHERE customer_id = 7
  UNION ALL SELECT 'invoice', to_jsonb(i) FROM public.invoice i WHERE customer_id = 7
  UNION ALL SELECT 'line', to_jsonb(l) FROM public.invoice_line l WHERE invoice_id IN (SELECT invoice_id FROM public.invoice WHERE customer_id = 7)
  ORDER BY 1, 2`;
const EMPLOYEE_ROWS = `SELECT 'employee' AS t, to_jsonb(e) AS r FROM public.employee e
  UNION ALL SELECT 'customer', to_jsonb(c) FROM public.customer c ORDER BY 1, 2`;

it('archive storage on Chinook: DELETE reports and returns its rows, cascades and SET NULL run, the restorer restores exactly; RESTRICT keeps a table in place', async () => {
  await onCopy(async ({ su, app }) => {
    await migration(su, `${CUSTOMER_TREE_CASCADE} ${EMPLOYEE_TREE}`);
    await registerTables(su);
    await su.query(`GRANT deletion_restorer TO ${suite.roles!.app.name}`);
    await su.query(`SELECT deletion.enable_archive('public.customer'), deletion.enable_archive('public.employee')`);
    const refused = await su.query(`SELECT deletion.enable_archive('public.track')`).then(() => null, (e: Error & { code?: string }) => e);
    assert.is(refused?.code, 'PD105', 'a track, which invoice lines reference (NO ACTION), must stay in place');
    assert.match(refused!.message, 'invoice_line_track_id_fkey ON DELETE NO ACTION', 'and the refusal names the key');
    const counts = await rowCounts(su);
    const customerBefore = await images(su, CUSTOMER_ROWS);
    assert.is(customerBefore.length, 1 + 7 + 38, 'customer 7 with 7 invoices and 38 lines');

    // The application deletes a customer: DELETE 1, RETURNING the row, the invoices and lines cascade.
    const deleted = await app.query(`DELETE FROM public.customer WHERE customer_id = 7 RETURNING customer_id, email`);
    assert.is(deleted.rowCount, 1, 'the application is told DELETE 1');
    assert.equal(deleted.rows, [{ customer_id: 7, email: 'astrid.gruber@apple.at' }], 'and RETURNING returns the row');
    assert.is(await count(su, `SELECT count(*) FROM public.invoice WHERE customer_id = 7`), 0, 'its invoices went (CASCADE)');
    const op = await one(su, `SELECT op, rows_per_table FROM deletion.vw_trash WHERE root_table = 'public.customer'`);
    assert.equal(op.rows_per_table, { 'public.customer': 1, 'public.invoice': 7, 'public.invoice_line': 38 }, 'one operation in the trash holds all 46 rows');

    // The restorer brings them back, exactly.
    await app.query(`BEGIN; SET LOCAL ROLE deletion_restorer`);
    assert.is(Number((await one(app, `SELECT deletion.restore($1) AS n`, [op.op])).n), 46, 'deletion.restore(op) as deletion_restorer puts back 46 rows');
    await app.query('COMMIT');
    assert.equal(await images(su, CUSTOMER_ROWS), customerBefore, 'every row as it was');

    // An employee's reporting tree: the self-reference cascades, every customer of theirs loses its rep.
    const employeesBefore = await images(su, EMPLOYEE_ROWS);
    const reps = await count(su, `SELECT count(*) FROM public.customer WHERE support_rep_id IN (2, 3, 4, 5)`);
    const gone = await app.query(`DELETE FROM public.employee WHERE employee_id = 2`);
    assert.is(gone.rowCount, 1, 'deleting the sales manager reports DELETE 1 (the root row)');
    assert.is(await count(su, `SELECT count(*) FROM public.customer WHERE support_rep_id IS NULL`), reps, `${reps} customers lost their rep (SET NULL)`);
    const op2 = await one(su, `SELECT op, rows_per_table FROM deletion.vw_trash WHERE root_table = 'public.employee'`);
    assert.equal(op2.rows_per_table, { 'public.employee': 4 }, 'the manager and the three who report to them: one operation');
    await app.query(`BEGIN; SET LOCAL ROLE deletion_restorer`);
    assert.is(Number((await one(app, `SELECT deletion.restore($1) AS n`, [op2.op])).n), 4 + reps, 'the restore puts back 4 employees and re-links every customer');
    await app.query('COMMIT');
    assert.equal(await images(su, EMPLOYEE_ROWS), employeesBefore, 'every employee and every customer\'s rep as they were');
    assert.equal(await rowCounts(su), counts, 'and every table has its rows again');
    assert.is(await count(su, `SELECT count(*) FROM deletion.vw_trash`), 0, 'the trash is empty');
  });
});

test.run();

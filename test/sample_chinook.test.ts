// The engine on a schema none of us wrote: Chinook (../shared/samples/chinook/chinook.sql), a digital
// media store whose eleven foreign keys are all ON DELETE NO ACTION, with a composite-key join
// table (playlist_track) and a self-reference (employee.reports_to). It is loaded into an empty
// database, the engine is installed alone (no example), and each test works on a copy of that
// database, adopting tables the way a team would: its own migration-like steps as the owner,
// then the application's and an admin's login roles.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  PLAN_MATCHES_DELETE, planLines, countChanges, images, psqlFile,
  recreateForeignKey, registerTables, rowCounts, sampleFiles, sampleSuite, migration, one, count, workJob,
} from './samples.ts';
import { readFileSync } from 'node:fs';
import type pg from 'pg';

const files = sampleFiles('chinook/chinook.sql');

const TABLES = ['public.album', 'public.artist', 'public.customer', 'public.employee', 'public.genre', 'public.invoice',
  'public.invoice_line', 'public.media_type', 'public.playlist', 'public.playlist_track', 'public.track'];
const FOREIGN_KEYS = ['public.album.album_artist_id_fkey', 'public.customer.customer_support_rep_id_fkey',
  'public.employee.employee_reports_to_fkey', 'public.invoice.invoice_customer_id_fkey',
  'public.invoice_line.invoice_line_invoice_id_fkey', 'public.invoice_line.invoice_line_track_id_fkey',
  'public.playlist_track.playlist_track_playlist_id_fkey', 'public.playlist_track.playlist_track_track_id_fkey',
  'public.track.track_album_id_fkey', 'public.track.track_genre_id_fkey', 'public.track.track_media_type_id_fkey'];

// The adopting team's decisions, each a migration of theirs.
const PLAYLIST_TRACKS_CASCADE = recreateForeignKey('public.playlist_track', 'playlist_track_playlist_id_fkey', 'playlist_id', 'public.playlist', 'playlist_id', 'CASCADE');
const CUSTOMER_TREE_CASCADE = recreateForeignKey('public.invoice', 'invoice_customer_id_fkey', 'customer_id', 'public.customer', 'customer_id', 'CASCADE')
  + recreateForeignKey('public.invoice_line', 'invoice_line_invoice_id_fkey', 'invoice_id', 'public.invoice', 'invoice_id', 'CASCADE');
const EMPLOYEE_TREE = recreateForeignKey('public.employee', 'employee_reports_to_fkey', 'reports_to', 'public.employee', 'employee_id', 'CASCADE')
  + recreateForeignKey('public.customer', 'customer_support_rep_id_fkey', 'support_rep_id', 'public.employee', 'employee_id', 'SET NULL');
const CATALOG_TREE = recreateForeignKey('public.album', 'album_artist_id_fkey', 'artist_id', 'public.artist', 'artist_id', 'CASCADE')
  + recreateForeignKey('public.track', 'track_album_id_fkey', 'album_id', 'public.album', 'album_id', 'CASCADE')
  + recreateForeignKey('public.playlist_track', 'playlist_track_track_id_fkey', 'track_id', 'public.track', 'track_id', 'CASCADE')
  // A sold track must stay: the invoice line keeps blocking, now said on purpose.
  + recreateForeignKey('public.invoice_line', 'invoice_line_track_id_fkey', 'track_id', 'public.track', 'track_id', 'RESTRICT');

const { it, install, onCopy } = sampleSuite('sample_chinook', files, (url) => psqlFile(url, files![0]));

it('engine-only install on Chinook: public\'s catalog and every table\'s row count are exactly as they were', async () => {
  assert.ok((install.result as { migrations: string[] }).migrations.length > 0, 'the engine\'s migrations ran');
  assert.equal(install.catalogAfter, install.catalogBefore, 'every table, column, constraint, index, function and trigger of public is as it was');
  assert.equal(install.countsAfter, install.countsBefore, 'and every table has the rows it had');
  assert.equal(install.countsBefore, {
    'public.album': 347, 'public.artist': 275, 'public.customer': 59, 'public.employee': 8, 'public.genre': 25,
    'public.invoice': 412, 'public.invoice_line': 2240, 'public.media_type': 5, 'public.playlist': 18,
    'public.playlist_track': 8715, 'public.track': 3503,
  }, 'Chinook loaded whole');
  assert.is(install.registered, 0, 'nothing is registered until the product says so');
});

it('lint on Chinook: each of the eleven NO ACTION keys and each unregistered table, and nothing else; adopting a table clears its findings', async () => {
  await onCopy(async ({ su }) => {
    const { rows } = await su.query(`SELECT severity, rule, object, fix FROM deletion.lint() ORDER BY rule, object`);
    assert.equal(rows.map((r) => `${r.severity} ${r.rule} ${r.object}`), [
      ...FOREIGN_KEYS.map((fk) => `error default_on_delete ${fk}`),
      ...TABLES.map((t) => `error no_deletion_policy ${t}`),
    ], 'every foreign key left at NO ACTION and every table without a policy; Chinook indexes its keys, so no unindexed_foreign_key');
    const fix = rows.find((r) => r.object === 'public.playlist_track.playlist_track_playlist_id_fkey').fix;
    assert.match(fix, 'ALTER TABLE public.playlist_track DROP CONSTRAINT playlist_track_playlist_id_fkey, ADD CONSTRAINT playlist_track_playlist_id_fkey FOREIGN KEY (playlist_id) REFERENCES public.playlist (playlist_id) ON DELETE ...',
      'the fix is the SQL that recreates the key with a decided action');
    assert.match(rows.find((r) => r.object === 'public.playlist').fix, `SELECT deletion.register_table('public.playlist'`);

    // The team decides: a playlist's tracks go with it, and both tables get a policy.
    await migration(su, `${PLAYLIST_TRACKS_CASCADE}
      SELECT deletion.register_table('public.playlist', 'a customer''s playlist'), deletion.register_table('public.playlist_track', 'part of its playlist');`);
    const after = (await su.query(`SELECT rule, object FROM deletion.lint() ORDER BY rule, object`)).rows.map((r) => `${r.rule} ${r.object}`);
    assert.equal(after, [
      ...FOREIGN_KEYS.filter((fk) => fk !== 'public.playlist_track.playlist_track_playlist_id_fkey').map((fk) => `default_on_delete ${fk}`),
      ...TABLES.filter((t) => !['public.playlist', 'public.playlist_track'].includes(t)).map((t) => `no_deletion_policy ${t}`),
    ], 'exactly the decided key and the two registered tables leave the report');
  });
});

/** Playlists 3 and 5 and their tracks, as the owner sees them (deleted or not). */
const PLAYLIST_ROWS = `SELECT * FROM public.playlist WHERE playlist_id IN (3, 5, 12)`;
const PLAYLIST_TRACK_ROWS = `SELECT * FROM public.playlist_track WHERE playlist_id IN (3, 5, 12)`;

it('soft delete on Chinook\'s NO ACTION keys marks only the playlist (its playlist_track rows stay visible); hidden from the app; restored exactly by an admin', async () => {
  await onCopy(async ({ su, app, admin }) => {
    await migration(su, `SELECT deletion.enable_soft_delete('public.playlist'), deletion.enable_soft_delete('public.playlist_track');`);
    const playlistsBefore = await images(su, PLAYLIST_ROWS);
    const tracksBefore = await images(su, PLAYLIST_TRACK_ROWS);
    const countsBefore = await rowCounts(su);

    // A plain DELETE by the application becomes a soft delete.
    await app.query('BEGIN');
    const deleted = await app.query('DELETE FROM public.playlist WHERE playlist_id = 3');
    const deleteOp = (await one(app, `SELECT current_setting('deletion.soft_delete_op') AS op`)).op;
    await app.query('COMMIT');
    assert.is(deleted.rowCount, 0, 'the DELETE reports no row removed: the row was kept, marked');
    // And deletion.soft_delete, with a reason.
    const apiOp = (await one(app, `SELECT deletion.soft_delete('public.playlist', '5', 'duplicate of 1') AS op`)).op;
    assert.ok(apiOp && apiOp !== deleteOp, 'each soft delete is an operation of its own');

    assert.is(await count(app, 'SELECT count(*) FROM public.playlist WHERE playlist_id IN (3, 5)'), 0, 'the app no longer sees the playlists');
    assert.is(await count(app, 'SELECT count(*) FROM public.playlist'), 16, 'it sees the other 16');
    assert.is(await count(app, 'SELECT count(*) FROM public.playlist_track WHERE playlist_id IN (3, 5)'), 213 + 1477,
      'NO ACTION is not a cascade: the playlists\' 1,690 playlist_track rows stay active and visible');
    assert.is(await count(app, 'SELECT count(*) FROM public.playlist_track pt JOIN public.playlist p USING (playlist_id) WHERE pt.playlist_id IN (3, 5)'), 0,
      'but joined to their playlist they show nothing');
    assert.is(await count(admin, 'SELECT count(*) FROM public.playlist WHERE playlist_id IN (3, 5)'), 0, 'an admin does not see deleted rows directly either');
    assert.equal(countChanges(countsBefore, await rowCounts(su)), {}, 'no row left any table');
    const ops = (await admin.query(`SELECT op::text, root_key, deletion_reason, rows_per_table FROM deletion.soft_delete_operations ORDER BY performed_at`)).rows;
    assert.equal(ops, [
      { op: deleteOp, root_key: [{ playlist_id: 3 }], deletion_reason: null, rows_per_table: { 'public.playlist': 1 } },
      { op: apiOp, root_key: [{ playlist_id: 5 }], deletion_reason: 'duplicate of 1', rows_per_table: { 'public.playlist': 1 } },
    ], 'the operation log: one row each, the root alone');

    const refused = await app.query('INSERT INTO public.playlist_track (playlist_id, track_id) VALUES (3, 1)').then(() => null, (e) => e);
    assert.is(refused?.code, '23503', 'no new track goes under a soft-deleted playlist, in the words of a missing parent');
    const moved = await app.query(`UPDATE public.playlist_track SET playlist_id = 3
                                    WHERE playlist_id = 1 AND track_id = (SELECT min(track_id) FROM public.playlist_track WHERE playlist_id = 1
                                                                            AND track_id NOT IN (SELECT track_id FROM public.playlist_track WHERE playlist_id = 3))`)
      .then(() => null, (e) => e);
    assert.is(moved?.code, '23503', 'nor is a track of another playlist moved under it');
    const kept = await app.query(`UPDATE public.playlist_track SET playlist_id = playlist_id, track_id = track_id
                                   WHERE playlist_id = 3 AND track_id = (SELECT min(track_id) FROM public.playlist_track WHERE playlist_id = 3)`);
    assert.is(kept.rowCount, 1, 'while an update that writes back the key of one of its own tracks goes through');

    assert.is(Number((await one(admin, 'SELECT deletion.restore($1::uuid) AS n', [deleteOp])).n), 1, 'restore brings back one row');
    assert.is(Number((await one(admin, 'SELECT deletion.restore($1::uuid) AS n', [apiOp])).n), 1, 'and the other');
    assert.is(await count(app, 'SELECT count(*) FROM public.playlist WHERE playlist_id IN (3, 5)'), 2, 'the app sees both again');
    assert.equal(await images(su, PLAYLIST_ROWS), playlistsBefore, 'each playlist exactly as it was, marks cleared');
    assert.equal(await images(su, PLAYLIST_TRACK_ROWS), tracksBefore, 'and its tracks untouched');
  });
});

it('soft delete on Chinook after a migration makes playlist_track ON DELETE CASCADE: the playlist\'s tracks go with it, one operation, restored exactly', async () => {
  await onCopy(async ({ su, app, admin }) => {
    await migration(su, `${PLAYLIST_TRACKS_CASCADE}
      SELECT deletion.enable_soft_delete('public.playlist'), deletion.enable_soft_delete('public.playlist_track');`);
    const playlistsBefore = await images(su, PLAYLIST_ROWS);
    const tracksBefore = await images(su, PLAYLIST_TRACK_ROWS);

    const deleted = await app.query('DELETE FROM public.playlist WHERE playlist_id = 12');
    assert.is(deleted.rowCount, 0);
    const op = (await one(app, `SELECT deletion.soft_delete('public.playlist', '5', 'duplicate') AS op`)).op;
    assert.is(await count(app, 'SELECT count(*) FROM public.playlist_track WHERE playlist_id IN (5, 12)'), 0, 'the cascade hid every track of both playlists');
    assert.is(await count(app, 'SELECT count(*) FROM public.playlist_track'), 8715 - 75 - 1477, 'and no other');
    assert.is(await count(su, 'SELECT count(*) FROM public.playlist_track WHERE deleted_at IS NOT NULL'), 75 + 1477, 'all still there, marked');
    const ops = (await admin.query(`SELECT root_key, rows_per_table FROM deletion.soft_delete_operations ORDER BY performed_at`)).rows;
    assert.equal(ops, [
      { root_key: [{ playlist_id: 12 }], rows_per_table: { 'public.playlist': 1, 'public.playlist_track': 75 } },
      { root_key: [{ playlist_id: 5 }], rows_per_table: { 'public.playlist': 1, 'public.playlist_track': 1477 } },
    ], 'each playlist with its composite-key tracks is one operation');
    const trash = (await admin.query(`SELECT root_table, total_rows::int, restorable FROM deletion.vw_trash ORDER BY total_rows`)).rows;
    assert.equal(trash, [{ root_table: 'public.playlist', total_rows: 76, restorable: true }, { root_table: 'public.playlist', total_rows: 1478, restorable: true }]);

    const twelve = (await one(admin, `SELECT op FROM deletion.soft_delete_operations WHERE root_key = '[{"playlist_id": 12}]'`)).op;
    assert.is(Number((await one(admin, 'SELECT deletion.restore($1::uuid) AS n', [twelve])).n), 76, 'restore of the DELETE\'s operation: 76 rows');
    assert.is(Number((await one(admin, 'SELECT deletion.restore($1::uuid) AS n', [op])).n), 1478, 'restore of soft_delete\'s: 1,478 rows');
    assert.equal(await images(su, PLAYLIST_ROWS), playlistsBefore, 'the playlists exactly as they were');
    assert.equal(await images(su, PLAYLIST_TRACK_ROWS), tracksBefore, 'and every one of their tracks');
    assert.is(await count(app, 'SELECT count(*) FROM public.playlist_track'), 8715, 'visible again to the app');
  });
});

/** Customer 7 with its 7 invoices and 38 invoice lines. */
const CUSTOMER_TREE = [
  `SELECT * FROM public.customer WHERE customer_id = 7`,
  `SELECT * FROM public.invoice WHERE customer_id = 7`,
  `SELECT * FROM public.invoice_line WHERE invoice_id IN (SELECT invoice_id FROM public.invoice WHERE customer_id = 7)`,
];

async function treeImages(c: pg.Client) {
  const all = [];
  for (const q of CUSTOMER_TREE) all.push(await images(c, q));
  return all;
}

it('audit on Chinook: an admin\'s hard delete of a customer with its invoices and lines (keys made CASCADE) is put back exactly by audit.restore_deleted', async () => {
  await onCopy(async ({ su, admin }) => {
    // Every table registered (audit is on by default), the customer's tree decided as CASCADE.
    await migration(su, `${CUSTOMER_TREE_CASCADE} SELECT 1;`);
    assert.equal(await registerTables(su), TABLES);
    const before = await treeImages(su);
    assert.equal(before.map((b) => b.length), [1, 7, 38]);
    const countsBefore = await rowCounts(su);

    const deleted = await admin.query('DELETE FROM public.customer WHERE customer_id = 7');
    assert.is(deleted.rowCount, 1, 'customer 7 is not a soft-delete table: the DELETE is hard');
    assert.equal(countChanges(countsBefore, await rowCounts(su)), { 'public.customer': -1, 'public.invoice': -7, 'public.invoice_line': -38 },
      'the cascade took its invoices and lines, nothing else');

    const dry = (await admin.query(`SELECT kind, table_name, rows::int FROM audit.restore_deleted('public.customer', '7', true) ORDER BY table_name`)).rows;
    assert.equal(dry, [
      { kind: 'insert', table_name: 'public.customer', rows: 1 },
      { kind: 'insert', table_name: 'public.invoice', rows: 7 },
      { kind: 'insert', table_name: 'public.invoice_line', rows: 38 },
    ], 'the dry run plans the whole statement and finds no conflict');
    assert.equal(countChanges(countsBefore, await rowCounts(su)), { 'public.customer': -1, 'public.invoice': -7, 'public.invoice_line': -38 }, 'and changes nothing');
    const restored = (await admin.query(`SELECT kind, table_name, rows::int FROM audit.restore_deleted('public.customer', '7') ORDER BY table_name`)).rows;
    assert.equal(restored, dry, 'the restore does what the dry run said');
    assert.equal(await treeImages(su), before, 'every row exactly as it was');
    assert.equal(await rowCounts(su), countsBefore, 'every table as it was');
    const again = (await admin.query(`SELECT kind FROM audit.restore_deleted('public.customer', '7')`)).rows.map((r) => r.kind);
    assert.equal(again, ['already restored'], 'a second restore changes nothing');
  });
});

it('audit on Chinook: a hard delete (deletion.mode = hard) of a soft-delete playlist with its tracks is put back exactly by audit.restore_deleted', async () => {
  await onCopy(async ({ su, admin }) => {
    await migration(su, `${PLAYLIST_TRACKS_CASCADE}
      SELECT deletion.enable_soft_delete('public.playlist'), deletion.enable_soft_delete('public.playlist_track');`);
    await registerTables(su);
    const before = [await images(su, PLAYLIST_ROWS), await images(su, PLAYLIST_TRACK_ROWS)];
    const countsBefore = await rowCounts(su);

    await admin.query(`BEGIN; SET LOCAL deletion.mode = 'hard'; DELETE FROM public.playlist WHERE playlist_id = 12; COMMIT;`);
    assert.equal(countChanges(countsBefore, await rowCounts(su)), { 'public.playlist': -1, 'public.playlist_track': -75 },
      'the admin\'s hard delete removed the playlist and its 75 tracks for good');
    const restored = (await admin.query(`SELECT kind, table_name, rows::int FROM audit.restore_deleted('public.playlist', '12') ORDER BY table_name`)).rows;
    assert.equal(restored, [
      { kind: 'insert', table_name: 'public.playlist', rows: 1 },
      { kind: 'insert', table_name: 'public.playlist_track', rows: 75 },
    ]);
    assert.equal([await images(su, PLAYLIST_ROWS), await images(su, PLAYLIST_TRACK_ROWS)], before, 'every row exactly as it was');
    assert.equal(await rowCounts(su), countsBefore);
  });
});

// The restore inserts parents first by ranking tables, not by their names: here the names sort the
// children first (customer < employee), and the employees' self-reference makes employee a cycle
// of its own, whose rows are ordered one by one.
it('audit on Chinook: an employee deleted with the customers they support (keys made CASCADE), their invoices and lines, comes back parents first though the names sort children first', async () => {
  await onCopy(async ({ su, admin }) => {
    await migration(su, `${CUSTOMER_TREE_CASCADE}
      ${recreateForeignKey('public.customer', 'customer_support_rep_id_fkey', 'support_rep_id', 'public.employee', 'employee_id', 'CASCADE')} SELECT 1;`);
    assert.equal(await registerTables(su), TABLES);
    const tree = ['SELECT * FROM public.employee', 'SELECT * FROM public.customer', 'SELECT * FROM public.invoice', 'SELECT * FROM public.invoice_line'];
    const before = [];
    for (const q of tree) before.push(await images(su, q));
    const supported = await one(su, `SELECT count(DISTINCT c.customer_id)::int AS customers, count(DISTINCT i.invoice_id)::int AS invoices, count(l.*)::int AS lines
                                       FROM public.customer c JOIN public.invoice i USING (customer_id) JOIN public.invoice_line l USING (invoice_id)
                                      WHERE c.support_rep_id = 3`);
    assert.ok(supported.customers > 10 && supported.lines > supported.invoices, 'employee 3 supports customers who bought');
    const countsBefore = await rowCounts(su);

    await admin.query('DELETE FROM public.employee WHERE employee_id = 3');
    assert.equal(countChanges(countsBefore, await rowCounts(su)), {
      'public.customer': -supported.customers, 'public.employee': -1, 'public.invoice': -supported.invoices, 'public.invoice_line': -supported.lines,
    }, 'the cascade took the employee, their customers, invoices and lines');
    const restored = (await admin.query(`SELECT kind, table_name, rows::int FROM audit.restore_deleted('public.employee', '3') ORDER BY table_name`)).rows;
    assert.equal(restored, [
      { kind: 'insert', table_name: 'public.customer', rows: supported.customers },
      { kind: 'insert', table_name: 'public.employee', rows: 1 },
      { kind: 'insert', table_name: 'public.invoice', rows: supported.invoices },
      { kind: 'insert', table_name: 'public.invoice_line', rows: supported.lines },
    ]);
    const after = [];
    for (const q of tree) after.push(await images(su, q));
    assert.equal(after, before, 'every row exactly as it was');
    assert.equal(await rowCounts(su), countsBefore);
  });
});

// audit.restore_deleted checks that each restored row's parents still exist, reading the parent
// tables as deletion_owner. A team may register customer, invoice and invoice_line but not employee
// (customer.support_rep_id) or track (invoice_line.track_id): registering a table grants the engine
// read access to the tables it references, so the restore still works.
it('audit on Chinook: a customer is restored although its parent tables (employee, track) are not registered', async () => {
  await onCopy(async ({ su, admin }) => {
    await migration(su, `${CUSTOMER_TREE_CASCADE}
      SELECT deletion.register_table('public.customer'), deletion.register_table('public.invoice'), deletion.register_table('public.invoice_line');`);
    const before = await treeImages(su);
    await admin.query('DELETE FROM public.customer WHERE customer_id = 7');
    const restored = (await admin.query(`SELECT kind, table_name, rows::int FROM audit.restore_deleted('public.customer', '7') ORDER BY table_name`)).rows;
    assert.equal(restored.map((r) => r.rows), [1, 7, 38]);
    assert.equal(await treeImages(su), before);
  });
});

it('plan on Chinook equals the delete: NO ACTION keys block (self-reference included); after the team decides its keys, cascades, SET NULL and RESTRICT as planned', async () => {
  await onCopy(async ({ su }) => {
    await registerTables(su);
    await su.query(readFileSync(PLAN_MATCHES_DELETE, 'utf8'));
    const plan = (table: string, key: string) => planLines(su, table, key);
    const mismatches = async (table: string, key: string) =>
      (await su.query(`SELECT * FROM pg_temp.plan_vs_delete($1, $2) WHERE planned <> actual`, [table, key])).rows;
    const counts = await rowCounts(su);

    // As loaded: every key is NO ACTION, so every delete of a referenced row is blocked.
    assert.equal(await plan('public.artist', '90'), ['0 public.artist delete 1', '1 public.album blocked by restrict 21 album_artist_id_fkey'],
      'Iron Maiden: its 21 albums block');
    assert.equal(await plan('public.employee', '1'), ['0 public.employee delete 1', '1 public.employee blocked by restrict 2 employee_reports_to_fkey'],
      'the general manager: the two employees who report to him block');
    assert.equal(await plan('public.artist', '25'), ['0 public.artist delete 1'], 'an artist without albums: one row');
    for (const [table, key] of [['public.artist', '90'], ['public.employee', '1'], ['public.employee', '8'], ['public.playlist', '1'],
      ['public.customer', '7'], ['public.artist', '25'], ['public.genre', '25'], ['public.track', '1']]) {
      assert.equal(await mismatches(table, key), [], `deleting ${table} ${key} does what its plan says`);
    }

    // The team's decisions: catalogue trees cascade, a sold track restricts, employees cascade down
    // the reporting line and leave their customers without a support rep, a customer takes its invoices.
    await migration(su, `${CATALOG_TREE} ${EMPLOYEE_TREE} ${CUSTOMER_TREE_CASCADE} ${PLAYLIST_TRACKS_CASCADE}`);
    assert.equal(await plan('public.artist', '90'), [
      '0 public.artist delete 1', '1 public.album delete 21 album_artist_id_fkey', '2 public.track delete 213 track_album_id_fkey',
      '3 public.invoice_line blocked by restrict 140 invoice_line_track_id_fkey', '3 public.playlist_track delete 516 playlist_track_track_id_fkey',
    ], 'Iron Maiden\'s sold tracks block the whole delete');
    assert.equal(await plan('public.artist', '197'), [
      '0 public.artist delete 1', '1 public.album delete 1 album_artist_id_fkey', '2 public.track delete 2 track_album_id_fkey',
      '3 public.playlist_track delete 4 playlist_track_track_id_fkey',
    ], 'an artist who sold nothing goes with its album, tracks and their places in playlists');
    assert.equal(await plan('public.employee', '1'), ['0 public.employee delete 8 employee_reports_to_fkey', '1 public.customer set null 59 customer_support_rep_id_fkey'],
      'the general manager takes the whole reporting tree (the self-reference counted at depth 0), and every customer loses its rep');
    assert.equal(await plan('public.customer', '7'), [
      '0 public.customer delete 1', '1 public.invoice delete 7 invoice_customer_id_fkey', '2 public.invoice_line delete 38 invoice_line_invoice_id_fkey',
    ]);
    for (const [table, key] of [['public.artist', '90'], ['public.artist', '197'], ['public.album', '1'], ['public.employee', '1'], ['public.employee', '2'],
      ['public.employee', '3'], ['public.customer', '7'], ['public.playlist', '1'], ['public.track', '1'], ['public.media_type', '5']]) {
      assert.equal(await mismatches(table, key), [], `deleting ${table} ${key} does what its plan says`);
    }
    assert.equal(await rowCounts(su), counts, 'planning and the measured (rolled back) deletes changed nothing');
  });
});

it('a deletion job on Chinook done exactly: a customer\'s invoices and the whole reporting tree of employees, in many small chunks; exactly the planned rows go', async () => {
  await onCopy(async ({ su, admin }) => {
    await migration(su, `${CUSTOMER_TREE_CASCADE} ${EMPLOYEE_TREE}`);
    await registerTables(su);

    // A customer: 1 + 7 invoices + 38 lines, 5 rows a chunk at most.
    assert.equal(await planLines(admin, 'public.customer', '7'), ['0 public.customer delete 1', '1 public.invoice delete 7 invoice_customer_id_fkey',
      '2 public.invoice_line delete 38 invoice_line_invoice_id_fkey'], 'the plan, as the admin sees it');
    const planned = [{ t: 'public.customer', rows: 1 }, { t: 'public.invoice', rows: 7 }, { t: 'public.invoice_line', rows: 38 }];
    let before = await rowCounts(su);
    const job = Number((await one(admin, `SELECT deletion.schedule('public.customer', '7', hard => true, reason => 'account closed') AS id`)).id);
    let chunks = await workJob(admin, job, 5);
    assert.is(chunks.at(-1)!.status, 'done', 'the job is done');
    assert.ok(chunks.length >= 8, `in many chunks (${chunks.length}) of at most 5 rows`);
    assert.ok(chunks.every((ch) => Number(ch.deleted) <= 5), 'none deleting more than 5 rows');
    assert.equal(countChanges(before, await rowCounts(su)), Object.fromEntries(planned.map((p) => [p.t, -p.rows])),
      'exactly the planned rows are gone, and nothing else');
    assert.is(await count(su, 'SELECT count(*) FROM public.invoice WHERE customer_id = 7'), 0, 'they are the customer\'s');
    assert.equal(await one(su, `SELECT status, rows_deleted::int FROM deletion.deletion_jobs WHERE id = $1`, [job]), { status: 'done', rows_deleted: 46 });

    // The general manager: the self-reference walked down, 2 rows a chunk, customers' reps set to NULL.
    before = await rowCounts(su);
    const repsBefore = await count(su, 'SELECT count(*) FROM public.customer WHERE support_rep_id IS NOT NULL');
    const job2 = Number((await one(admin, `SELECT deletion.schedule('public.employee', '1', hard => true) AS id`)).id);
    chunks = await workJob(admin, job2, 2);
    assert.is(chunks.at(-1)!.status, 'done');
    assert.ok(chunks.length >= 4, `in ${chunks.length} chunks of at most 2 rows`);
    assert.equal(countChanges(before, await rowCounts(su)), { 'public.employee': -8 }, 'every employee is gone and nothing else');
    assert.is(repsBefore, 58, 'Chinook\'s remaining customers had a support rep');
    assert.is(await count(su, 'SELECT count(*) FROM public.customer WHERE support_rep_id IS NOT NULL'), 0, 'now none has: SET NULL');
  });
});

/** Tables visible to SQL (every schema but PostgreSQL's own and pgTAP's) with a row whose text holds the value. */
async function tablesHolding(c: pg.Client, value: string): Promise<string[]> {
  const { rows } = await c.query(`SELECT c.oid::regclass::text AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                   WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'tap')
                                     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' ORDER BY 1`);
  const found: string[] = [];
  for (const r of rows) {
    if (await count(c, `SELECT count(*) FROM ${r.t} t WHERE strpos(t::text, $1) > 0`, [value])) found.push(r.t);
  }
  return found;
}

it('erasure on Chinook: a customer is erased; their invoices stay for the books, re-pointed to a tombstone customer with the billing address redacted; no table holds their email, phone or street', async () => {
  await onCopy(async ({ su, admin }) => {
    await registerTables(su);
    // The adopting team's erasure decisions, a migration of theirs.
    await migration(su, `
      SELECT deletion.declare_erasure_subject('public.customer', tombstone_row => '{"customer_id": 0, "first_name": "Erased", "last_name": "Customer", "email": "erased@invalid"}');
      SELECT deletion.declare_personal_data('public.customer', c, cat, r)
        FROM (VALUES ('first_name', 'identity', '[erased]'), ('last_name', 'identity', '[erased]'), ('company', 'other', NULL), ('address', 'location', NULL),
                     ('city', 'location', NULL), ('state', 'location', NULL), ('country', 'location', NULL), ('postal_code', 'location', NULL),
                     ('phone', 'contact', NULL), ('fax', 'contact', NULL), ('email', 'contact', '[erased]')) v(c, cat, r);
      SELECT deletion.declare_personal_data('public.invoice', c, 'location')
        FROM unnest(ARRAY['billing_address', 'billing_city', 'billing_state', 'billing_country', 'billing_postal_code']) c;
      SELECT deletion.declare_erasure_rule('public.invoice', '{customer_id}', 'tombstone', true, 'invoices are kept for the books; the billing address goes');`);
    assert.equal((await su.query(`SELECT rule, object FROM deletion.lint() WHERE rule IN ('personal_data_undeclared', 'erasure_rule_missing')`)).rows, [],
      'lint: every personal-looking column of customer and invoice declared, the one key to customer ruled');
    const person = await one(su, 'SELECT email, phone, address FROM public.customer WHERE customer_id = 7');
    for (const v of Object.values(person) as string[]) assert.ok((await tablesHolding(su, v)).length > 0, `${v} is in the database before`);
    const before = await rowCounts(su);

    const report = (await admin.query(`SELECT deletion.erase('public.customer', '{"customer_id": 7}', 'request 2024-11', 'chinook-erasure-key-0123456789') AS r`)).rows[0].r;
    assert.equal(countChanges(before, await rowCounts(su)), {}, 'the customer is replaced by the tombstone: every table keeps its row count');
    assert.is(await count(su, 'SELECT count(*) FROM public.customer WHERE customer_id = 7'), 0, 'the customer is gone');
    assert.equal(await one(su, `SELECT count(*)::int AS n, count(billing_address)::int AS addressed FROM public.invoice WHERE customer_id = 0`), { n: 7, addressed: 0 },
      'their 7 invoices are kept, re-pointed to the tombstone, the billing address redacted');
    assert.is(await count(su, 'SELECT count(*) FROM public.invoice_line l JOIN public.invoice i USING (invoice_id) WHERE i.customer_id = 0'), 38, 'with their 38 lines');
    assert.equal(report.rules.map((r: { table: string; rows: number }) => [r.table, r.rows]), [['public.invoice', 7]], 'the report names the rule and its rows');
    assert.equal(report.tables['public.customer'], { deleted: 1, updated: 0, inserted: 1 }, 'and the customer deleted, the tombstone inserted');
    for (const v of Object.values(person) as string[]) assert.equal(await tablesHolding(su, v), [], `after the erasure, no table holds ${v}`);
    assert.ok((await admin.query('SELECT deletion.verify_erasure_report($1, $2) AS ok', [report, 'chinook-erasure-key-0123456789'])).rows[0].ok, 'the report verifies');
    const refused = await admin.query(`SELECT * FROM audit.restore_deleted('public.customer', '7')`).then(() => null, (e) => e.code);
    assert.is(refused, 'PD605', 'an audit restore of the erased customer is refused');
  });
});

test.run();

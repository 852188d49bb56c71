// A new row under a parent that another session is soft-deleting at that moment. The application
// inserts a comment on an issue whose soft delete has run its UPDATE but not committed: the
// live-parent check locks the issue first (and waits for the soft delete), then reads it, sees it
// deleted and refuses the comment, as a missing issue would be refused. Read before the lock, the
// issue looked active, and the comment went in under an issue deleted a moment later, outside the
// operation that restores it. The other order (the comment first) is the cascade's: the soft
// delete waits for the comment's transaction and takes the comment with the issue.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { client, freshDatabase } from './helpers.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until the session with this pid waits on a lock. */
async function untilWaiting(c: import('pg').Client, pid: number) {
  for (let i = 0; i < 200; i++) {
    const { rows } = await c.query(`SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1`, [pid]);
    if (rows[0]?.wait_event_type === 'Lock') return;
    await sleep(25);
  }
  throw new Error(`session ${pid} never waited on a lock`);
}

test('a comment inserted while its issue\'s soft delete is under way waits for it and is refused; one inserted first goes with the issue', async () => {
  const db = await freshDatabase();
  const owner = await client(db.url);
  const deleting = await client(db.url);
  const app = await client(db.url);
  try {
    await owner.query(`INSERT INTO users (id, email, name) OVERRIDING SYSTEM VALUE VALUES (1, 'ann@example.com', 'Ann');
                       INSERT INTO workspaces (id, name, slug) OVERRIDING SYSTEM VALUE VALUES (1, 'Acme', 'acme');
                       INSERT INTO issues (id, workspace_id, creator_id, title, status) OVERRIDING SYSTEM VALUE
                       VALUES (1, 1, 1, 'first', 'todo'), (2, 1, 1, 'second', 'todo')`);
    await app.query('SET ROLE deletion_app');
    const appPid: number = (await app.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;

    // The soft delete first: its UPDATE is done, its transaction open.
    await deleting.query('BEGIN');
    const op: string = (await deleting.query(`SELECT deletion.soft_delete('public.issues', '1', 'race') AS op`)).rows[0].op;
    const inserting = app.query(`INSERT INTO comments (issue_id, author_id, body) VALUES (1, 1, 'too late')`).then(() => null, (e) => e);
    await untilWaiting(owner, appPid);
    await deleting.query('COMMIT');
    const refused = await inserting;
    assert.is(refused?.code, '23503', `the comment is refused once the soft delete commits (${refused?.message ?? 'it went in'})`);
    assert.is(refused?.message, 'insert or update on table "comments" violates foreign key constraint "fk_comments_issue_id"',
      'in the foreign key\'s own words');
    assert.is(Number((await owner.query('SELECT count(*) FROM comments WHERE issue_id = 1')).rows[0].count), 0, 'no comment is under the deleted issue');
    assert.is(Number((await owner.query('SELECT deletion.restore($1) AS n', [op])).rows[0].n), 1, 'restoring the operation brings back the issue alone');

    // The comment first: its transaction open, the soft delete waits for it and takes the comment.
    await app.query('BEGIN');
    await app.query(`INSERT INTO comments (issue_id, author_id, body) VALUES (2, 1, 'in time')`);
    const deletingPid: number = (await deleting.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    const softDelete = deleting.query(`SELECT deletion.soft_delete('public.issues', '2', 'race') AS op`);
    await untilWaiting(owner, deletingPid);
    await app.query('COMMIT');
    const op2: string = (await softDelete).rows[0].op;
    assert.equal((await owner.query(`SELECT body, deletion_op FROM comments WHERE issue_id = 2`)).rows, [{ body: 'in time', deletion_op: op2 }],
      'the comment committed first is soft-deleted with its issue, under the same operation');
  } finally {
    for (const c of [owner, deleting, app]) await c.end();
    await db.drop();
  }
});

test.run();

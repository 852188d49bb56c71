// The direct chunked delete (sql/45_jobs_direct.sql) from application code: the caller holds the loop,
//   const task = deleteTree(pool, { table: 'public.workspaces', key: 42 });
//   let work = true;
//   while (work) work = (await task.chunk()).more;
// and each chunk is one short transaction of its own (or a savepoint of the caller's transaction).
import { keyText, setActing, transaction, type Acting, type Db, type Key } from './db.ts';

export interface TreeChunk {
  /** Rows this chunk deleted. */
  deleted: number;
  /** Whether the tree still has rows (false once the root is gone). */
  more: boolean;
  /** The table the chunk deleted from, and its depth below the root. */
  table: string;
  depth: number;
  seconds: number;
}

export interface TreeDelete {
  /** Deletes the next chunk (at most chunkRows rows, leaves first). */
  chunk(): Promise<TreeChunk>;
  /** Rows deleted by this task's chunks so far. */
  readonly deleted: number;
}

/** A direct chunked hard delete of one row's cascade tree, with no job row: call chunk() while it says more. */
export function deleteTree(db: Db, options: { table: string; key: Key; chunkRows?: number } & Acting): TreeDelete {
  let deleted = 0;
  return {
    get deleted() {
      return deleted;
    },
    async chunk() {
      const started = performance.now();
      const r = await transaction(db, async (c) => {
        await setActing(c, options.actor);
        return (await c.query('SELECT deletion.delete_tree_chunk($1::text::regclass, $2, $3) AS r', [options.table, keyText(options.key), options.chunkRows ?? 1000])).rows[0].r;
      });
      deleted += Number(r.deleted);
      return { deleted: Number(r.deleted), more: Boolean(r.more), table: r.table, depth: Number(r.depth), seconds: (performance.now() - started) / 1000 };
    },
  };
}

// How the API talks to the application's own database: a pg Pool (a connection is taken for each
// call and given back) or a connected Client / PoolClient (used as it is). Calls that need a
// transaction of their own open one; inside withTransaction they use a savepoint instead, so the
// caller's transaction decides what is kept.
import type pg from 'pg';
import { asDeletionKitError } from './errors.ts';

/** What every API function takes: the application's pg Pool, or one of its connected clients. */
export type Db = pg.Pool | pg.PoolClient | pg.Client | pg.ClientBase;

/** A row's primary key: its value, or the values of a composite key in key order. */
export type Key = string | number | bigint | (string | number | bigint)[];

/** Who acts and why, recorded on soft deletes, jobs and the audit log (deletion.actor / deletion.reason). */
export interface Acting {
  /** The product's user id of who acts (a label for the record, never a right). */
  actor?: string | number;
}

const inTransaction = new WeakSet<object>();
let savepoints = 0;

/** The key as the engine's functions take it: text, or a JSON array for a composite key. */
export function keyText(key: Key): string {
  return Array.isArray(key) ? JSON.stringify(key.map((k) => (typeof k === 'bigint' ? k.toString() : k))) : String(key);
}

function isPool(db: Db): db is pg.Pool {
  return typeof (db as pg.Pool).totalCount === 'number';
}

/** Runs work on one connection (taken from the pool and given back, or the client itself). */
export async function withConnection<T>(db: Db, work: (c: pg.ClientBase) => Promise<T>): Promise<T> {
  const client = isPool(db) ? await db.connect() : db;
  try {
    return await work(client);
  } catch (err) {
    throw asDeletionKitError(err);
  } finally {
    if (isPool(db)) (client as pg.PoolClient).release();
  }
}

/**
 * Runs work in a transaction: committed when it returns (rolled back when `rollback` is set or it
 * throws). On a client already inside withTransaction, a savepoint plays the transaction's part.
 */
export async function transaction<T>(db: Db, work: (c: pg.ClientBase) => Promise<T>, options: { rollback?: boolean } = {}): Promise<T> {
  return withConnection(db, async (c) => {
    const nested = inTransaction.has(c);
    const name = `deletion_kit_${++savepoints}`;
    await c.query(nested ? `SAVEPOINT ${name}` : 'BEGIN');
    if (!nested) inTransaction.add(c);
    try {
      const result = await work(c);
      await c.query(options.rollback ? (nested ? `ROLLBACK TO SAVEPOINT ${name}` : 'ROLLBACK') : (nested ? `RELEASE SAVEPOINT ${name}` : 'COMMIT'));
      return result;
    } catch (err) {
      await c.query(nested ? `ROLLBACK TO SAVEPOINT ${name}` : 'ROLLBACK').catch(() => {});
      throw err;
    } finally {
      if (!nested) inTransaction.delete(c);
    }
  });
}

/**
 * Runs work in one transaction of the caller's: every API call given the client inside it joins it
 * (with a savepoint where it needs one), and it commits when work returns. The HTTP API runs each
 * request this way, under SET LOCAL ROLE.
 */
export async function withTransaction<T>(db: Db, work: (client: pg.ClientBase) => Promise<T>): Promise<T> {
  return transaction(db, work);
}

/** SET LOCAL deletion.actor / deletion.reason for the transaction in hand. */
export async function setActing(c: pg.ClientBase, actor: string | number | undefined, reason?: string | null) {
  if (actor !== undefined && actor !== null) await c.query("SELECT set_config('deletion.actor', $1, true)", [String(actor)]);
  if (reason) await c.query("SELECT set_config('deletion.reason', $1, true)", [reason]);
}

// Shared by the file-cleanup tests (files*.test.ts, serve*.test.ts): a tracked table of photos whose
// rows name real files in a temporary directory, and helpers to read the queue.
import { mkdirSync, mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';

/** A table of our own naming files, tracked like public.attachments. */
export async function createPhotoTable(c: pg.Client) {
  await c.query(`
    CREATE TABLE public.test_albums (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, title text NOT NULL);
    CREATE TABLE public.test_photos (
      id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      album_id    bigint NOT NULL REFERENCES public.test_albums (id) ON DELETE CASCADE,
      storage_key text
    );
    CREATE INDEX ON public.test_photos (album_id);
    CREATE INDEX ON public.test_photos (storage_key);
    SELECT deletion.track_files('public.test_photos', 'storage_key');`);
}

export function tempRoot(label: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `dk-files-${label}-`));
}

/** Writes one small file per key under root. */
export function writeFiles(root: string, keys: string[]) {
  for (const key of keys) {
    const file = path.join(root, key);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, `contents of ${key}`);
  }
}

export function existing(root: string, keys: string[]): string[] {
  return keys.filter((k) => existsSync(path.join(root, k)));
}

/** Creates an album with a photo (and its file) per key, then deletes the album: the cascade queues every key. */
export async function queuePhotos(c: pg.Client, root: string | null, keys: string[]): Promise<void> {
  if (root) writeFiles(root, keys);
  const { rows } = await c.query(`INSERT INTO public.test_albums (title) VALUES ('album') RETURNING id`);
  await c.query('INSERT INTO public.test_photos (album_id, storage_key) SELECT $1, unnest($2::text[])', [rows[0].id, keys]);
  await c.query('DELETE FROM public.test_albums WHERE id = $1', [rows[0].id]);
}

export async function queueRows(c: pg.Client) {
  const { rows } = await c.query(`SELECT id::text, storage_key, attempts, last_error, failed_at, lease_owner FROM deletion.pending_file_deletions ORDER BY id`);
  return rows as { id: string; storage_key: string; attempts: number; last_error: string | null; failed_at: Date | null; lease_owner: string | null }[];
}

export async function stats(c: pg.Client) {
  const { rows } = await c.query('SELECT * FROM deletion.vw_file_cleanup_stats');
  const s = rows[0];
  return { pending: Number(s.pending), inProgress: Number(s.in_progress), retrying: Number(s.retrying), failed: Number(s.failed), attempts: Number(s.attempts) };
}

export const keysFor = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}/${String(i).padStart(4, '0')}.jpg`);

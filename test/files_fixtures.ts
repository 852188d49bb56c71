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

/** A workspace with `issues` issues (some in a project, some sub-issues) and two attachments on most issues; returns its keys. */
export async function workspaceWithFiles(c: pg.Client, slug: string, issues: number): Promise<{ id: string; keys: string[] }> {
  const user = (await c.query(`INSERT INTO public.users (email, name) VALUES ($1, 'Ann') RETURNING id`, [`${slug}@example.com`])).rows[0].id;
  const ws = (await c.query(`INSERT INTO public.workspaces (name, slug) VALUES ($1, $1) RETURNING id`, [slug])).rows[0].id;
  const project = (await c.query(`INSERT INTO public.projects (workspace_id, name) VALUES ($1, 'p') RETURNING id`, [ws])).rows[0].id;
  await c.query(
    `INSERT INTO public.issues (workspace_id, project_id, title, creator_id)
     SELECT $1, CASE WHEN i % 2 = 0 THEN $2::bigint END, 'issue ' || i, $3 FROM generate_series(1, $4::int) i`,
    [ws, project, user, issues],
  );
  await c.query(`WITH root AS (SELECT min(id) AS id FROM public.issues WHERE workspace_id = $1)
                 UPDATE public.issues i SET parent_issue_id = root.id FROM root
                  WHERE i.workspace_id = $1 AND i.id % 3 = 0 AND i.id <> root.id`, [ws]);
  const { rows } = await c.query(
    `INSERT INTO public.attachments (issue_id, storage_key, file_name)
     SELECT i.id, format('%s/%s/%s.png', $2::text, i.id, f), 'f.png'
       FROM public.issues i, generate_series(1, 2) f
      WHERE i.workspace_id = $1 AND i.id % 7 <> 0
     RETURNING storage_key`,
    [ws, slug],
  );
  return { id: ws, keys: rows.map((r) => r.storage_key) };
}

// Deferred file cleanup (issue 7, seed 002), with storage that answers each delete after 30 ms:
//  1. the user-facing delete of 1,000 attachments: ours deletes the rows in one statement (the
//     deletion_60_files trigger queues the keys); the reference is seed 002's "before": delete each
//     file from storage inline, one after another, then delete the rows. Goal: reference / ours >= 30.
//  2. cleaner throughput (files per second) at concurrency 16 vs concurrency 1, same batch size,
//     same storage. Goal: >= 10.
// Real files on local disk behind the 30 ms latency; the product dataset from bench.generate_product_data.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { runCleanup } from '../src/files/cleaner.ts';
import { LocalStorage, withLatency } from '../src/files/storage.ts';
import { timed, type Bench } from './harness.ts';

const LATENCY_MS = 30;

function writeFiles(root: string, keys: string[]) {
  for (const key of keys) {
    const file = path.join(root, key);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, 'x');
  }
}

/** `count` attachments of the generated dataset (skipping `offset`), with a real file for each storage key. */
async function pickAttachments(c: pg.Client, root: string, count: number, offset: number) {
  const { rows } = await c.query<{ id: string; storage_key: string }>(
    'SELECT id::text, storage_key FROM public.attachments ORDER BY id LIMIT $1 OFFSET $2',
    [count, offset],
  );
  if (rows.length < count) throw new Error(`the dataset has too few attachments (${rows.length} of ${count} after ${offset})`);
  writeFiles(root, rows.map((r) => r.storage_key));
  return rows;
}

export default {
  name: 'files',
  description: 'deferred file cleanup: user-facing delete with the queue vs inline file deletes; cleaner concurrency 16 vs 1 (30 ms storage)',
  async run(ctx) {
    const attachments = ctx.scale === 'small' ? 200 : 1000;
    const cleanerFiles = ctx.scale === 'small' ? 160 : 800;
    const batchSize = 100;
    const db = await ctx.database();
    const c = await db.client();
    const root = mkdtempSync(path.join(os.tmpdir(), 'dk-bench-files-'));
    const storage = withLatency(new LocalStorage(root), LATENCY_MS);
    try {
      // The generator makes one attachment per ten issues; two sets of `attachments` are needed.
      const rows = await ctx.generate(c, attachments * 20, 1);
      ctx.log(`dataset: ${rows.attachments ?? '?'} attachments; ${attachments} deleted each way; storage answers after ${LATENCY_MS} ms`);

      // 1. The user-facing delete.
      const ours = await pickAttachments(c, root, attachments, 0);
      const reference = await pickAttachments(c, root, attachments, attachments);
      await c.query('DELETE FROM deletion.pending_file_deletions');
      await c.query('VACUUM ANALYZE public.attachments');

      const oursMs = await timed(() => c.query('DELETE FROM public.attachments WHERE id = ANY ($1::bigint[])', [ours.map((r) => r.id)]));
      const queued = Number((await c.query('SELECT count(*) FROM deletion.pending_file_deletions')).rows[0].count);
      if (queued !== attachments) throw new Error(`expected ${attachments} queued keys, found ${queued}`);

      // The reference has no queue: the file trigger is off while it runs, as in seed 002's old system.
      await c.query('ALTER TABLE public.attachments DISABLE TRIGGER deletion_60_files');
      const referenceMs = await timed(async () => {
        for (const r of reference) await storage.delete(r.storage_key);
        await c.query('DELETE FROM public.attachments WHERE id = ANY ($1::bigint[])', [reference.map((r) => r.id)]);
      });
      await c.query('ALTER TABLE public.attachments ENABLE TRIGGER deletion_60_files');
      ctx.log(`user-facing delete of ${attachments}: queue ${oursMs.toFixed(1)} ms, inline ${referenceMs.toFixed(0)} ms`);
      // Recorded as a rate (attachments deleted per second of the user's wait), so the ratio is the speed-up.
      ctx.record(`user-facing delete of ${attachments} attachments: queue vs inline file deletes`,
                 (attachments / oursMs) * 1000, (attachments / referenceMs) * 1000, 'attachments/s', '>= 30');

      // 2. Cleaner throughput: the same number of queued files, concurrency 1 then 16.
      await c.query('DELETE FROM deletion.pending_file_deletions');
      const throughput = async (concurrency: number) => {
        const keys = Array.from({ length: cleanerFiles }, (_, i) => `cleaner/c${concurrency}/${i}.bin`);
        writeFiles(root, keys);
        await c.query(
          `INSERT INTO deletion.pending_file_deletions (storage_key, source_schema, source_table) SELECT k, 'public', 'attachments' FROM unnest($1::text[]) k`,
          [keys],
        );
        let deleted = 0;
        const ms = await timed(async () => {
          deleted = (await runCleanup(c, storage, { batchSize, concurrency, untilEmpty: true })).deleted;
        });
        if (deleted !== cleanerFiles) throw new Error(`concurrency ${concurrency}: deleted ${deleted} of ${cleanerFiles}`);
        return (cleanerFiles / ms) * 1000;
      };
      const single = await throughput(1);
      const sixteen = await throughput(16);
      ctx.log(`cleaner, batches of ${batchSize}, ${cleanerFiles} files: concurrency 1 ${single.toFixed(1)} files/s, concurrency 16 ${sixteen.toFixed(1)} files/s`);
      ctx.record(`cleaner throughput, concurrency 16 vs 1 (${cleanerFiles} files, batches of ${batchSize})`, sixteen, single, 'files/s', '>= 10');
    } finally {
      await c.end();
      await db.drop();
      rmSync(root, { recursive: true, force: true });
    }
  },
} satisfies Bench;

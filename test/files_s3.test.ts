// The S3 adapter over real HTTP against a local S3-compatible server (@20minutes/s3rver): queued
// objects are deleted, a missing object counts as deleted, a refusal (no such bucket) stays queued
// with S3's error, and the CLI cleans an S3 bucket given on the command line.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import S3rver from '@20minutes/s3rver';
import { HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCleanup } from '../src/files/cleaner.ts';
import { S3Storage } from '../src/files/storage.ts';
import { client } from './helpers.ts';
import { createPhotoTable, keysFor, queuePhotos, queueRows, tempRoot } from './files_fixtures.ts';

const run = promisify(execFile);
const CLI = path.resolve('bin/deletion-kit.js');
const BUCKET = 'photos';
const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

let c: pg.Client;
let server: S3rver;
let endpoint: string;
let s3: S3Client;

test.before(async () => {
  c = await client();
  await createPhotoTable(c);
  server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: tempRoot('s3rver'), configureBuckets: [{ name: BUCKET }] });
  const { port } = await server.run();
  endpoint = `http://127.0.0.1:${port}`;
  s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials, requestChecksumCalculation: 'WHEN_REQUIRED' });
});

test.after(async () => {
  s3.destroy();
  await server.close();
  await c.end();
});

async function put(keys: string[]) {
  for (const key of keys) await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: `contents of ${key}` }));
}

/** The keys that still exist in the bucket. */
async function present(keys: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const key of keys) {
    try {
      await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
      found.push(key);
    } catch (err) {
      if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode !== 404) throw err;
    }
  }
  return found;
}

test('the S3 adapter deletes queued objects over HTTP; a missing object counts as deleted', async () => {
  await c.query('DELETE FROM deletion.pending_file_deletions');
  const keys = keysFor('s3', 12);
  await put(keys.slice(1)); // the first key was never uploaded
  assert.is((await present(keys)).length, 11, 'eleven objects are in the bucket');
  await queuePhotos(c, null, keys);

  const storage = new S3Storage({ bucket: BUCKET, endpoint, credentials });
  try {
    const report = await runCleanup(c, storage, { batchSize: 5, concurrency: 4, untilEmpty: true });
    assert.is(report.deleted, 12, 'all twelve confirmed, the missing one included');
  } finally {
    storage.close();
  }
  assert.equal(await present(keys), [], 'the bucket no longer holds them');
  assert.equal(await queueRows(c), []);
});

test('an S3 refusal (no such bucket) keeps the keys queued with S3\'s error', async () => {
  await c.query('DELETE FROM deletion.pending_file_deletions');
  await queuePhotos(c, null, ['refused/1.jpg', 'refused/2.jpg']);
  const storage = new S3Storage({ bucket: 'no-such-bucket', endpoint, credentials });
  try {
    const report = await runCleanup(c, storage, { once: true, backoffSeconds: 0 });
    assert.is(report.retrying, 2);
  } finally {
    storage.close();
  }
  const rows = await queueRows(c);
  assert.is(rows.length, 2, 'both stay queued');
  assert.ok(rows.every((r) => r.attempts === 1 && /NoSuchBucket/.test(r.last_error ?? '')), 'each with S3\'s error');
});

test('CLI: files cleanup --storage s3 against an S3-compatible endpoint', async () => {
  await c.query('DELETE FROM deletion.pending_file_deletions');
  const keys = keysFor('cli-s3', 6).map((k) => k.replace('cli-s3/', ''));
  await put(keys.map((k) => `uploads/${k}`));
  await queuePhotos(c, null, keys);
  const { stdout } = await run(process.execPath, [CLI, 'files', 'cleanup', '--storage', 's3', '--bucket', BUCKET, '--prefix', 'uploads/', '--endpoint', endpoint, '--until-empty'], {
    env: { ...process.env, AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey },
  });
  assert.match(stdout, /cleaning s3 bucket photos at http:\/\/127\.0\.0\.1/);
  assert.match(stdout, /done: 6 deleted/);
  assert.equal(await present(keys.map((k) => `uploads/${k}`)), [], 'the prefixed objects are gone');
  const noBucket = await run(process.execPath, [CLI, 'files', 'cleanup', '--storage', 's3', '--once'], { env: { ...process.env, DELETION_KIT_S3_BUCKET: '' } }).catch((e) => e);
  assert.is(noBucket.code, 1);
  assert.match(noBucket.stderr, /s3 storage needs a bucket/);
});

test.run();

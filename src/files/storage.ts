// Where files live. The cleaner needs one thing from storage: delete this key, and say whether that
// worked. A key that is already gone counts as deleted (deleting is idempotent: a cleaner that died
// after deleting but before reporting deletes again and succeeds).
import { lstat, readlink, realpath, rm } from 'node:fs/promises';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';

export interface FileStorage {
  /** A short description for logs ("local /srv/files", "s3 bucket photos"). */
  readonly description: string;
  /** Deletes the object; resolves when storage confirms it is gone (or was never there), rejects otherwise. */
  delete(key: string): Promise<void>;
  /** Releases connections. */
  close?(): Promise<void> | void;
}

/**
 * A storage key that cannot name a file under the root: absolute, climbing out with "..", or reaching
 * a place outside the root through a symbolic link. Retrying cannot help, so the cleaner marks such a
 * key failed at once, with this error's message as the key's error.
 */
export class UnsafeKeyError extends Error {
  override name = 'UnsafeKeyError';
}

const missing = (err: unknown) => (err as NodeJS.ErrnoException)?.code === 'ENOENT';

/** Whether `target` is `dir` itself or lies below it (both absolute and normalized). */
function within(dir: string, target: string): boolean {
  const rel = path.relative(dir, target);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/**
 * The local filesystem: key `a/b.png` is the file `<root>/a/b.png`.
 *
 * Symbolic links. Keys are written by the application, so a key is not trusted to stay in the root
 * just because it reads so: before deleting, the key's directory is resolved to its real location
 * (every link followed) and must lie in the real root (the root's own path resolved once, so a root
 * that is itself a link works). A directory link inside the root that leads to another directory of
 * the root is fine; one that leads outside makes the key refused (UnsafeKeyError), and nothing is
 * touched. A key that is itself a link: deleting it removes the link only, never what it points to;
 * a link whose target lies outside the root (or, when the target is gone, would) is refused all the
 * same, so the attempt is recorded instead of passing unnoticed. A key whose directory does not
 * exist, like a key whose file does not exist, counts as deleted.
 */
export class LocalStorage implements FileStorage {
  readonly root: string;
  readonly description: string;
  private realRootOnce?: Promise<string>;

  constructor(root: string) {
    this.root = path.resolve(root);
    this.description = `local ${this.root}`;
  }

  /** The file a key names, refusing keys that would reach outside the root as written (no links followed). */
  pathOf(key: string): string {
    const target = path.resolve(this.root, key);
    if (path.isAbsolute(key) || target === this.root || !within(this.root, target)) {
      throw new UnsafeKeyError(`storage key "${key}" points outside the storage root ${this.root}`);
    }
    return target;
  }

  /**
   * The root's real path, resolved on first use and kept. A root that is not there is an error (the
   * delete is retried later) rather than "every file already gone": a volume not mounted must not
   * empty the queue. A failed resolution is not kept, so the next delete tries again.
   */
  realRoot(): Promise<string> {
    this.realRootOnce ??= realpath(this.root).catch((err) => {
      this.realRootOnce = undefined;
      throw err;
    });
    return this.realRootOnce;
  }

  async delete(key: string): Promise<void> {
    const target = this.pathOf(key);
    const realRoot = await this.realRoot();
    const refuse = (where: string) =>
      new UnsafeKeyError(`storage key "${key}" is refused: it leads through a symbolic link to ${where}, outside the storage root ${realRoot}`);

    // 1. The real directory the key's file is in: every link on the way followed.
    let dir: string;
    try {
      dir = await realpath(path.dirname(target));
    } catch (err) {
      if (missing(err)) return; // no such directory, so no such file: already deleted
      throw err;
    }
    if (!within(realRoot, dir)) throw refuse(dir);
    const file = path.join(dir, path.basename(target));

    // 2. The key itself may be a link: it may be removed (that removes the link only), unless it
    //    leads outside the root.
    let stats;
    try {
      stats = await lstat(file);
    } catch (err) {
      if (missing(err)) return; // already deleted
      throw err;
    }
    if (stats.isSymbolicLink()) {
      let leadsTo: string;
      try {
        leadsTo = await realpath(file);
      } catch (err) {
        if (!missing(err)) throw err;
        // A dangling link: judge it by where it says it leads.
        leadsTo = path.resolve(dir, await readlink(file));
      }
      if (!within(realRoot, leadsTo)) throw refuse(leadsTo);
    }

    // 3. Delete the entry by its real directory, so no link the check did not see is followed.
    //    rm does not follow a link in the last component (it removes the link), and without
    //    `recursive` it refuses a directory. force: a file gone meanwhile is not an error.
    //
    //    What remains: between the check (1) and this rm, a process that can write inside the root
    //    could replace a directory on `dir`'s path with a link; rm would then follow it and remove
    //    the entry of the same name wherever that link leads. Closing that needs deleting relative
    //    to a directory handle opened without following links (unlinkat with O_NOFOLLOW), which
    //    Node does not offer. The window is one lstat and one unlink long, and it needs write
    //    access to the storage directories, not just control of a key.
    await rm(file, { force: true });
  }
}

export interface S3Options {
  bucket: string;
  /** Prepended to every key (e.g. "uploads/"). */
  prefix?: string;
  /** For S3-compatible services (MinIO, R2, a local test server); omit for AWS. */
  endpoint?: string;
  region?: string;
  /** Path-style URLs (http://host/bucket/key), which most S3-compatible servers need. */
  forcePathStyle?: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/** S3 or S3-compatible object storage. S3 answers 204 for a key that does not exist: that is "deleted". */
export class S3Storage implements FileStorage {
  readonly description: string;
  // The AWS SDK is loaded on first use, not when the CLI starts (it is a third of its start-up time).
  private client?: Promise<{ client: S3Client; DeleteObjectCommand: typeof import('@aws-sdk/client-s3').DeleteObjectCommand }>;

  constructor(private readonly options: S3Options) {
    this.description = `s3 bucket ${options.bucket}${options.endpoint ? ` at ${options.endpoint}` : ''}`;
  }

  private sdk() {
    this.client ??= import('@aws-sdk/client-s3').then(({ S3Client, DeleteObjectCommand }) => ({
      client: new S3Client({
        endpoint: this.options.endpoint,
        region: this.options.region ?? 'us-east-1',
        forcePathStyle: this.options.forcePathStyle ?? Boolean(this.options.endpoint),
        credentials: this.options.credentials,
        // DeleteObject has no body; send checksums only when an operation requires them, which keeps
        // older S3-compatible servers happy.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      }),
      DeleteObjectCommand,
    }));
    return this.client;
  }

  async delete(key: string): Promise<void> {
    const { client, DeleteObjectCommand } = await this.sdk();
    await client.send(new DeleteObjectCommand({ Bucket: this.options.bucket, Key: `${this.options.prefix ?? ''}${key}` }));
  }

  async close() {
    (await this.client?.catch(() => undefined))?.client.destroy();
  }
}

/** Storage whose every delete takes `ms` longer (the benchmarks' slow object storage). */
export function withLatency(storage: FileStorage, ms: number): FileStorage {
  return {
    description: `${storage.description} (+${ms} ms a delete)`,
    async delete(key) {
      await new Promise((r) => setTimeout(r, ms));
      await storage.delete(key);
    },
    close: () => storage.close?.(),
  };
}

export interface StorageConfig {
  storage?: string;
  root?: string;
  bucket?: string;
  prefix?: string;
  endpoint?: string;
  region?: string;
}

/**
 * The storage the command line and the environment describe:
 *   local (default): --root or DELETION_KIT_FILES_ROOT
 *   s3: --bucket or DELETION_KIT_S3_BUCKET, --endpoint / DELETION_KIT_S3_ENDPOINT, --prefix /
 *       DELETION_KIT_S3_PREFIX, --region / AWS_REGION; credentials from the usual AWS environment.
 */
export function storageFrom(config: StorageConfig, env: NodeJS.ProcessEnv = process.env): FileStorage {
  const kind = config.storage ?? env.DELETION_KIT_STORAGE ?? 'local';
  if (kind === 'local') {
    const root = config.root ?? env.DELETION_KIT_FILES_ROOT;
    if (!root) throw new StorageConfigError('local storage needs a root directory: --root DIR or DELETION_KIT_FILES_ROOT');
    return new LocalStorage(root);
  }
  if (kind === 's3') {
    const bucket = config.bucket ?? env.DELETION_KIT_S3_BUCKET;
    if (!bucket) throw new StorageConfigError('s3 storage needs a bucket: --bucket NAME or DELETION_KIT_S3_BUCKET');
    return new S3Storage({
      bucket,
      prefix: config.prefix ?? env.DELETION_KIT_S3_PREFIX,
      endpoint: config.endpoint ?? env.DELETION_KIT_S3_ENDPOINT,
      region: config.region ?? env.AWS_REGION,
    });
  }
  throw new StorageConfigError(`unknown storage "${kind}": use local or s3`);
}

export class StorageConfigError extends Error {}

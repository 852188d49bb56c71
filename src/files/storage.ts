// Where files live. The cleaner needs one thing from storage: delete this key, and say whether that
// worked. A key that is already gone counts as deleted (deleting is idempotent: a cleaner that died
// after deleting but before reporting deletes again and succeeds).
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';

export interface FileStorage {
  /** A short description for logs ("local /srv/files", "s3 bucket photos"). */
  readonly description: string;
  /** Deletes the object; resolves when storage confirms it is gone (or was never there), rejects otherwise. */
  delete(key: string): Promise<void>;
  /** Releases connections. */
  close?(): Promise<void> | void;
}

/** A storage key that cannot name a file under the root (absolute, or climbing out with ".."). */
export class UnsafeKeyError extends Error {}

/** The local filesystem: key `a/b.png` is the file `<root>/a/b.png`. */
export class LocalStorage implements FileStorage {
  readonly root: string;
  readonly description: string;

  constructor(root: string) {
    this.root = path.resolve(root);
    this.description = `local ${this.root}`;
  }

  /** The file a key names, refusing keys that would reach outside the root. */
  pathOf(key: string): string {
    const target = path.resolve(this.root, key);
    if (path.isAbsolute(key) || !target.startsWith(this.root + path.sep)) {
      throw new UnsafeKeyError(`storage key "${key}" points outside the storage root ${this.root}`);
    }
    return target;
  }

  async delete(key: string): Promise<void> {
    // force: a missing file is not an error. Not recursive: a key naming a directory is refused.
    await rm(this.pathOf(key), { force: true });
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
  private readonly client: S3Client;

  constructor(private readonly options: S3Options) {
    this.description = `s3 bucket ${options.bucket}${options.endpoint ? ` at ${options.endpoint}` : ''}`;
    this.client = new S3Client({
      endpoint: options.endpoint,
      region: options.region ?? 'us-east-1',
      forcePathStyle: options.forcePathStyle ?? Boolean(options.endpoint),
      credentials: options.credentials,
      // DeleteObject has no body; send checksums only when an operation requires them, which keeps
      // older S3-compatible servers happy.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.options.bucket, Key: `${this.options.prefix ?? ''}${key}` }));
  }

  close() {
    this.client.destroy();
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

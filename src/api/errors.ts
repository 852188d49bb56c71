// The one error class of the TypeScript API: what PostgreSQL (or the engine, with its PDxxx codes)
// said, with the SQLSTATE, the hint that says what to do, and the detail.

/** An error from the database or from the API's own checks, carrying the SQLSTATE and the engine's hint. */
export class DeletionKitError extends Error {
  /** The SQLSTATE: the engine's PDxxx codes, PostgreSQL's own (42501 insufficient privilege, ...), or null. */
  readonly sqlstate: string | null;
  readonly hint: string | null;
  readonly detail: string | null;
  constructor(message: string, fields: { sqlstate?: string | null; hint?: string | null; detail?: string | null; cause?: unknown } = {}) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.name = 'DeletionKitError';
    this.sqlstate = fields.sqlstate ?? null;
    this.hint = fields.hint ?? null;
    this.detail = fields.detail ?? null;
  }

  /** The SQLSTATE under the name pg's own errors give it (err.code), so code written for pg's errors keeps working. */
  get code(): string | undefined {
    return this.sqlstate ?? undefined;
  }

  /** The error as a plain object (what the HTTP API sends). */
  toJSON() {
    return { sqlstate: this.sqlstate, message: this.message, hint: this.hint, detail: this.detail };
  }
}

/** A database error (pg's DatabaseError has code, hint, detail) as a DeletionKitError; others unchanged. */
export function asDeletionKitError(err: unknown): unknown {
  if (err instanceof DeletionKitError) return err;
  const e = err as { code?: unknown; message?: string; hint?: string; detail?: string };
  if (err instanceof Error && typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) {
    return new DeletionKitError(err.message, { sqlstate: e.code, hint: e.hint ?? null, detail: e.detail ?? null, cause: err });
  }
  return err;
}

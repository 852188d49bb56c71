// Errors meant for the user: cli.ts prints their message as one line (no stack) and exits 1.

/** A user-facing error: printed as one line, exit code 1, no stack. */
export class UserError extends Error {}

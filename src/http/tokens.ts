// Who may call the HTTP API: tokens, each with a name (recorded as the actor of what it changes) and
// a role (viewer < operator < admin), and the database role each HTTP role runs as. Tokens come from
// the environment only (never from the command line, where ps would show them):
//   DELETION_KIT_TOKENS_FILE  a JSON file {"tokens": [{"name": "alice", "role": "admin", "token": "<secret>"}]}
//                             ("token" may be "sha256:<hex>" of the secret instead of the secret)
//   DELETION_KIT_TOKENS       role:secret or role:name:secret, comma-separated
//   DELETION_KIT_TOKEN        one token, named "default", role admin (what `serve` has always taken)
// The database roles: deletion-kit.config.json's "serve": {"roles": {"viewer": ..., "operator": ...,
// "admin": ..., "restorer": ...}}; defaults below. The serving login must be a member of each.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { UserError } from '../errors.ts';

export type Role = 'viewer' | 'operator' | 'admin';
export const ROLES: Role[] = ['viewer', 'operator', 'admin'];

export interface Token {
  name: string;
  role: Role;
  /** sha256 of the secret. */
  digest: Buffer;
}

/**
 * The database role each HTTP role runs as. viewer and operator act as deletion_restorer (the
 * application's role that may also see and restore deleted rows); admin as deletion_admin. A list
 * with include_deleted runs as the restorer role whatever the token's role (deletion_admin sees no
 * deleted row directly: row-level security shows them to deletion_restorer only).
 */
export interface DbRoles { viewer: string; operator: string; admin: string; restorer: string }
export const DEFAULT_DB_ROLES: DbRoles = { viewer: 'deletion_restorer', operator: 'deletion_restorer', admin: 'deletion_admin', restorer: 'deletion_restorer' };

export const MIN_SECRET_LENGTH = 16;

const digest = (secret: string) => createHash('sha256').update(secret).digest();

function token(name: string, role: string, secret: string, where: string): Token {
  if (!ROLES.includes(role as Role)) throw new UserError(`${where}: a token's role is viewer, operator or admin, not "${role}"`);
  if (!name) throw new UserError(`${where}: a token needs a name`);
  const hashed = /^sha256:([0-9a-f]{64})$/i.exec(secret);
  if (!hashed && secret.length < MIN_SECRET_LENGTH) throw new UserError(`${where}: the token of "${name}" is shorter than ${MIN_SECRET_LENGTH} characters`);
  return { name, role: role as Role, digest: hashed ? Buffer.from(hashed[1], 'hex') : digest(secret) };
}

/** The tokens the environment gives; an empty list when it gives none. */
export function loadTokens(env: NodeJS.ProcessEnv = process.env): Token[] {
  const tokens: Token[] = [];
  if (env.DELETION_KIT_TOKENS_FILE) {
    const file = env.DELETION_KIT_TOKENS_FILE;
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new UserError(`DELETION_KIT_TOKENS_FILE ${file}: ${(err as Error).message}`);
    }
    const list = (raw as { tokens?: unknown }).tokens;
    if (!Array.isArray(list)) throw new UserError(`DELETION_KIT_TOKENS_FILE ${file}: must hold {"tokens": [{"name", "role", "token"}, ...]}`);
    for (const t of list as { name?: string; role?: string; token?: string }[]) tokens.push(token(String(t.name ?? ''), String(t.role ?? ''), String(t.token ?? ''), file));
  }
  if (env.DELETION_KIT_TOKENS) {
    for (const entry of env.DELETION_KIT_TOKENS.split(',').map((s) => s.trim()).filter(Boolean)) {
      const parts = entry.split(':');
      if (parts.length < 2) throw new UserError('DELETION_KIT_TOKENS: each entry is role:secret or role:name:secret');
      const [role, name, ...rest] = parts.length === 2 ? [parts[0], parts[0], parts[1]] : parts;
      tokens.push(token(name, role, rest.join(':'), 'DELETION_KIT_TOKENS'));
    }
  }
  if (env.DELETION_KIT_TOKEN !== undefined) tokens.push(token('default', 'admin', env.DELETION_KIT_TOKEN, 'DELETION_KIT_TOKEN'));
  const names = new Set<string>();
  for (const t of tokens) {
    if (names.has(t.name)) throw new UserError(`two tokens are named "${t.name}": each token needs a name of its own (it is the actor of what it changes)`);
    names.add(t.name);
  }
  return tokens;
}

/** Equal strings, in time that does not depend on where they differ (both are hashed to 32 bytes first). */
export function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** The token a secret belongs to, compared in constant time against every token. */
export function findToken(tokens: Token[], secret: string): Token | undefined {
  const d = digest(secret);
  let found: Token | undefined;
  for (const t of tokens) if (timingSafeEqual(d, t.digest)) found = t;
  return found;
}

export const rank = (role: Role) => ROLES.indexOf(role);

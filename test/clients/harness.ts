// The client suite's common ground: one database per client (a clone of the migrated template with
// the example product), a fixture of rows each scenario works on alone, the application's login role
// (a member of deletion_app, granted deletion_restorer), and the checks that decide, from the database
// itself as an administrator, what a scenario did. Each client module only drives its ORM and
// reports what the ORM told it (rows reported, rows returned, the error it raised).
import pg from 'pg';
import { client, freshDatabase } from '../helpers.ts';

export interface LoginRole { name: string; password: string }

/** The URL of a database for a login role. */
export function loginUrl(dbUrl: string, role: LoginRole): string {
  const url = new URL(dbUrl);
  url.username = role.name;
  url.password = role.password;
  return url.toString();
}

/** The operations every client is put through, in the order of the table in docs/clients.md. */
export const SCENARIOS = [
  'delete_entity',
  'delete_returning',
  'soft_delete_update',
  'restore_granted_role',
  'upsert_new_key',
  'upsert_active_duplicate',
  'upsert_deleted_key',
  'recreate_deleted_unique',
  'upsert_partial_index',
  'load_child_of_deleted_parent',
  'hard_delete',
  'reflect_unique_key',
  'archive_delete_entity',
  'archive_delete_returning',
  'orm_cascade_default',
  'orm_cascade_recommended',
] as const;
export type Scenario = (typeof SCENARIOS)[number];

export const SCENARIO_TITLES: Record<Scenario, string> = {
  delete_entity: 'delete a loaded entity (soft-delete table)',
  delete_returning: 'DELETE ... RETURNING',
  soft_delete_update: 'soft delete by UPDATE deleted_at',
  restore_granted_role: 'restore as deletion_restorer',
  upsert_new_key: 'upsert, new key',
  upsert_active_duplicate: 'upsert, active duplicate',
  upsert_deleted_key: 'upsert, key held by a deleted row',
  recreate_deleted_unique: 're-create a deleted row\'s unique value',
  upsert_partial_index: 'upsert through a partial unique index, predicate given (new, duplicate, deleted key)',
  load_child_of_deleted_parent: 'load a child whose parent is deleted',
  hard_delete: 'delete in a hard-delete table',
  reflect_unique_key: 'schema reflection sees users.email as unique',
  archive_delete_entity: 'delete a loaded entity (archived table)',
  archive_delete_returning: 'DELETE ... RETURNING (archived table)',
  orm_cascade_default: 'delete a parent whose children the ORM knows, default relationship settings (archived table)',
  orm_cascade_recommended: 'the same with passive_deletes=True / on_delete=DO_NOTHING (archived table)',
};

/** The rows of one client's database; every scenario has rows of its own. */
export interface Fixture {
  workspaceId: number;
  creatorId: number;
  projects: { deleteEntity: number; deleteReturning: number; softDeleteUpdate: number; restore: number; parent: number };
  childIssueId: number;
  linkId: number;
  emails: { fresh: string; active: string; held: string; recreate: string };
  users: { active: number; held: number; recreate: number };
  /** public.seats: a soft-delete table whose unique integer key stays a partial unique index. */
  seats: { fresh: number; active: number; held: number; activeId: number; heldId: number };
  /** public.wiki_pages (archive storage), each with one revision (CASCADE): one page per scenario. */
  pages: { deleteEntity: number; deleteReturning: number; cascadeDefault: number; cascadeRecommended: number };
  /** The revision of each page, by the page's scenario. */
  revisions: { cascadeDefault: number; cascadeRecommended: number };
}

/** What a client reports for one scenario: what its ORM told it, and the error it raised. */
export interface Observed {
  /** Rows the client says the statement changed (affected rows, rowCount, count), when it says. */
  reported?: number | null;
  /** Keys of the rows the client got back (RETURNING, the record an upsert or delete returns). */
  returned?: number[] | null;
  /** The id the upserted or inserted row has, as the client saw it. */
  id?: number | null;
  /** For reflect_unique_key: whether the client's schema reflection reports users.email unique. */
  reflectsUnique?: boolean | null;
  /** For load_child_of_deleted_parent: whether the client handed back the (deleted) parent. */
  parentLoaded?: boolean | null;
  /** The client has no API for this operation (the reason, in a few words). */
  unsupported?: string;
  /** The error the client raised: SQLSTATE (or the ORM's own code) and the first line of its message. */
  error?: { code: string | null; name: string; message: string; hint?: string | null } | null;
  /** Anything else the client showed that a reader of docs/clients.md needs (a warning, a note). */
  note?: string;
}

export interface ScenarioResult extends Observed {
  client: string;
  scenario: Scenario;
  /** The behaviour required held (checked by the suite against the database). */
  passed: boolean;
  /** Why not, when it did not. */
  failure?: string;
  /** A known failure (test/clients/known_failing.ts): not held, reported, not failing the suite. */
  knownFailing?: string;
}

export interface ClientContext {
  /** The application's login (a member of deletion_app, granted deletion_restorer). */
  appUrl: string;
  fixture: Fixture;
}

/** The application login role of one suite run: deletion_app, and deletion_restorer when the engine has it. */
export async function appLoginRole(prefix: string): Promise<{ role: LoginRole; hasRestorer: boolean; drop(): Promise<void> }> {
  const role: LoginRole = { name: `${prefix}_app`, password: `pw_${prefix}_${process.pid}` };
  const a = await client(process.env.TEST_ADMIN_URL);
  let hasRestorer = false;
  try {
    await a.query(`DROP ROLE IF EXISTS ${role.name}`);
    await a.query(`CREATE ROLE ${role.name} LOGIN PASSWORD '${role.password}' IN ROLE deletion_app`);
    hasRestorer = (await a.query(`SELECT 1 FROM pg_roles WHERE rolname = 'deletion_restorer'`)).rowCount === 1;
    if (hasRestorer) await a.query(`GRANT deletion_restorer TO ${role.name}`);
  } finally {
    await a.end();
  }
  return {
    role,
    hasRestorer,
    drop: async () => {
      const d = await client(process.env.TEST_ADMIN_URL);
      try {
        await d.query(`DROP ROLE IF EXISTS ${role.name}`).catch(() => {});
      } finally {
        await d.end();
      }
    },
  };
}

/** A fresh database for one client, its fixture loaded by the administrator. */
export async function clientDatabase(role: LoginRole, tag: string) {
  const db = await freshDatabase();
  const admin = await client(db.url);
  try {
    const fixture = await loadFixture(admin, tag);
    return { ...db, admin: db.url, ctx: { appUrl: loginUrl(db.url, role), fixture } satisfies ClientContext };
  } finally {
    await admin.end();
  }
}

async function one(c: pg.Client, sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await c.query(sql, params);
  return Number(rows[0].id);
}

/** Soft-deletes a row the way the engine documents for every table: UPDATE ... SET deleted_at. */
async function softDelete(c: pg.Client, table: string, id: number): Promise<void> {
  await c.query(`UPDATE ${table} SET deleted_at = now() WHERE id = $1`, [id]);
  const { rows } = await c.query(`SELECT 1 FROM ${table} WHERE id = $1 AND deleted_at IS NULL`, [id]);
  if (rows.length) throw new Error(`fixture: ${table} ${id} did not become soft-deleted`);
}

async function loadFixture(c: pg.Client, tag: string): Promise<Fixture> {
  const workspaceId = await one(c, `INSERT INTO workspaces (name, slug) VALUES ($1, $1) RETURNING id`, [`clients-${tag}`]);
  const creatorId = await one(c, `INSERT INTO users (email, name) VALUES ($1, 'Creator') RETURNING id`, [`creator-${tag}@example.test`]);
  const project = (name: string) => one(c, `INSERT INTO projects (workspace_id, name) VALUES ($1, $2) RETURNING id`, [workspaceId, name]);
  const projects = {
    deleteEntity: await project('delete-entity'),
    deleteReturning: await project('delete-returning'),
    softDeleteUpdate: await project('soft-delete-update'),
    restore: await project('restore-me'),
    parent: await project('parent'),
  };
  const childIssueId = await one(c, `INSERT INTO issues (workspace_id, project_id, creator_id, title) VALUES ($1, $2, $3, 'child of a deleted project') RETURNING id`,
    [workspaceId, projects.parent, creatorId]);
  const hostIssue = await one(c, `INSERT INTO issues (workspace_id, creator_id, title) VALUES ($1, $2, 'has a link') RETURNING id`, [workspaceId, creatorId]);
  const linkId = await one(c, `INSERT INTO issue_links (issue_id, url) VALUES ($1, 'https://example.test/') RETURNING id`, [hostIssue]);
  const emails = {
    fresh: `fresh-${tag}@example.test`,
    active: `active-${tag}@example.test`,
    held: `held-${tag}@example.test`,
    recreate: `recreate-${tag}@example.test`,
  };
  const user = (email: string, name: string) => one(c, `INSERT INTO users (email, name) VALUES ($1, $2) RETURNING id`, [email, name]);
  const users = { active: await user(emails.active, 'Active'), held: await user(emails.held, 'Held'), recreate: await user(emails.recreate, 'Recreate') };
  await softDelete(c, 'public.projects', projects.restore);
  await softDelete(c, 'public.projects', projects.parent);
  await softDelete(c, 'public.users', users.held);
  await softDelete(c, 'public.users', users.recreate);
  // A unique key that cannot step aside (an integer): it stays a partial unique index, and an upsert
  // must repeat the index's predicate.
  await c.query(`
    CREATE TABLE public.seats (
      id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      seat_no integer NOT NULL,
      holder  text    NOT NULL,
      CONSTRAINT seats_seat_no_key UNIQUE (seat_no)
    );
    SELECT deletion.register_table('public.seats', 'client suite: a unique integer key');
    SELECT deletion.enable_soft_delete('public.seats');
    GRANT SELECT, INSERT, UPDATE, DELETE ON public.seats TO deletion_app;`);
  const seat = (no: number, holder: string) => one(c, `INSERT INTO seats (seat_no, holder) VALUES ($1, $2) RETURNING id`, [no, holder]);
  const seats = { fresh: 10, active: 20, held: 30, activeId: await seat(20, 'Active'), heldId: await seat(30, 'Held') };
  await softDelete(c, 'public.seats', seats.heldId);
  // The archived wiki: a page per scenario, each with one revision that its DELETE cascades to.
  const page = (slug: string) => one(c, `INSERT INTO wiki_pages (workspace_id, slug, title) VALUES ($1, $2, $2) RETURNING id`, [workspaceId, slug]);
  const revision = (pageId: number) => one(c, `INSERT INTO wiki_page_revisions (page_id, body) VALUES ($1, 'text') RETURNING id`, [pageId]);
  const pages = { deleteEntity: await page('delete-entity'), deleteReturning: await page('delete-returning'),
                  cascadeDefault: await page('cascade-default'), cascadeRecommended: await page('cascade-recommended') };
  for (const id of [pages.deleteEntity, pages.deleteReturning]) await revision(id);
  const revisions = { cascadeDefault: await revision(pages.cascadeDefault), cascadeRecommended: await revision(pages.cascadeRecommended) };
  return { workspaceId, creatorId, projects, childIssueId, linkId, emails, users, seats, pages, revisions };
}

/** What became of a row, seen by the administrator: still active, soft-deleted (kept, restorable), or gone. */
export async function rowState(admin: pg.Client, table: string, id: number): Promise<'active' | 'soft-deleted' | 'gone'> {
  const { rows } = await admin.query(`SELECT to_jsonb(t) ->> 'deleted_at' AS deleted_at FROM ${table} t WHERE id = $1`, [id]);
  if (rows.length) return rows[0].deleted_at === null ? 'active' : 'soft-deleted';
  const kept = await admin.query(`SELECT 1 FROM deletion.trash() WHERE root_table IN ($1, $2)
                                     AND (root_key = jsonb_build_object('id', $3::bigint) OR root_key = jsonb_build_array(jsonb_build_object('id', $3::bigint)))`,
    [table, table.replace(/^public\./, ''), id]);
  return kept.rowCount ? 'soft-deleted' : 'gone';
}

/**
 * What a delete of an archived page did to the page and its revision, seen by the administrator:
 * whether each is still in its table, and which of them the page's operation in the trash holds
 * (what deletion.restore of it would bring back).
 */
export async function archivedState(admin: pg.Client, pageId: number, revisionId: number) {
  const live = async (table: string, id: number) => (await admin.query(`SELECT 1 FROM ${table} WHERE id = $1`, [id])).rowCount === 1;
  const { rows } = await admin.query(
    `SELECT o.rows_per_table FROM deletion.trash() o WHERE o.root_table = 'public.wiki_pages' AND o.root_key = jsonb_build_array(jsonb_build_object('id', $1::bigint))`,
    [pageId]);
  const counts = (rows[0]?.rows_per_table ?? {}) as Record<string, number>;
  return {
    pageLive: await live('public.wiki_pages', pageId),
    revisionLive: await live('public.wiki_page_revisions', revisionId),
    inTrash: rows.length === 1,
    revisionInOperation: (counts['public.wiki_page_revisions'] ?? 0) >= 1,
  };
}

/** Whether the application role sees the row (row-level security hides soft-deleted rows from it). */
export async function appSees(appUrl: string, table: string, id: number): Promise<boolean> {
  const c = await client(appUrl);
  try {
    return (await c.query(`SELECT 1 FROM ${table} WHERE id = $1`, [id])).rowCount === 1;
  } finally {
    await c.end();
  }
}

/** Active users with this email, seen by the administrator. */
export async function activeUsers(admin: pg.Client, email: string): Promise<Array<{ id: number; name: string }>> {
  const { rows } = await admin.query(`SELECT id, name FROM users WHERE email = $1 AND deleted_at IS NULL ORDER BY id`, [email]);
  return rows.map((r) => ({ id: Number(r.id), name: r.name }));
}

/** Reads an error the way the suite records it: SQLSTATE (pg's `code`, an ORM's wrapped cause) or the ORM's code. */
export function describeError(e: unknown): NonNullable<Observed['error']> {
  const err = e as { code?: unknown; name?: string; message?: string; hint?: unknown; cause?: unknown; original?: unknown; parent?: unknown; driverError?: unknown };
  const nested = [err.cause, err.original, err.parent, err.driverError] as Array<{ code?: unknown; hint?: unknown } | undefined>;
  const hint = [err, ...nested].map((n) => n?.hint).find((h) => typeof h === 'string') as string | undefined;
  const sqlstate = nested.map((n) => n?.code).find((c) => typeof c === 'string' && /^[0-9A-Z]{5}$/.test(c));
  const own = typeof err.code === 'string' ? err.code : null;
  const code = own && /^[0-9A-Z]{5}$/.test(own) ? own : (sqlstate as string | undefined) ?? own;
  // The message without what differs between checkouts and edits: source paths with line numbers, and
  // the code frames Prisma prints (numbered source lines, arrows).
  const lines = String(err.message ?? e).replace(/\s+in\s+\S+:\d+:\d+/g, '').split('\n').map((l) => l.trim())
    .filter((l) => l && !/^(→\s*)?\d+\s/.test(l) && !l.startsWith('→'));
  return { code: code ?? null, name: err.name ?? 'Error', message: lines.slice(0, 2).join(' ').slice(0, 300), hint: hint ?? null };
}

/** Runs one scenario of a client: what the ORM said, or the error it raised. */
export async function observe(work: () => Promise<Observed>): Promise<Observed> {
  try {
    return await work();
  } catch (e) {
    return { error: describeError(e) };
  }
}

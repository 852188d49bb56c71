// Drizzle ORM (node-postgres driver): a schema declared the way a Drizzle user would, then each
// scenario through Drizzle's own calls (delete/update ... returning, onConflictDoUpdate, a left join).
import { and, eq, isNotNull, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { bigint, integer, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { UPSERTED_NAME } from './expectations.ts';
import { observe, type ClientContext, type Observed, type Scenario } from './harness.ts';

export const name = 'Drizzle';
export const pkg = 'drizzle-orm';

const projects = pgTable('projects', {
  id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  workspaceId: bigint('workspace_id', { mode: 'number' }).notNull(),
  name: text('name').notNull(),
  deletedAt: timestamp('deleted_at', { withTimezone: true }),
});
const users = pgTable('users', {
  id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  email: text('email').notNull().unique('users_email_key'),
  name: text('name').notNull(),
});
const seats = pgTable('seats', {
  id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  seatNo: integer('seat_no').notNull(),
  holder: text('holder').notNull(),
  deletedAt: timestamp('deleted_at', { withTimezone: true }),
}, (t) => [uniqueIndex('seats_seat_no_key').on(t.seatNo).where(sql`deleted_at IS NULL`)]);
const issues = pgTable('issues', {
  id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  projectId: bigint('project_id', { mode: 'number' }).references(() => projects.id, { onDelete: 'set null' }),
  title: text('title').notNull(),
});
const wikiPages = pgTable('wiki_pages', {
  id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  workspaceId: bigint('workspace_id', { mode: 'number' }).notNull(),
  slug: text('slug').notNull(),
  title: text('title').notNull(),
});
const issueLinks = pgTable('issue_links', {
  id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  issueId: bigint('issue_id', { mode: 'number' }).notNull(),
  url: text('url').notNull(),
});

export async function run(ctx: ClientContext): Promise<Record<Scenario, Observed>> {
  const pool = new pg.Pool({ connectionString: ctx.appUrl, max: 2 });
  const db = drizzle(pool);
  const f = ctx.fixture;
  const upsert = (email: string) => observe(async () => {
    const rows = await db.insert(users).values({ email, name: UPSERTED_NAME })
      .onConflictDoUpdate({ target: users.email, set: { name: UPSERTED_NAME } }).returning({ id: users.id });
    return { returned: rows.map((r) => r.id), id: rows[0]?.id ?? null };
  });
  try {
    return {
      delete_entity: await observe(async () => {
        const [row] = await db.select().from(projects).where(eq(projects.id, f.projects.deleteEntity));
        if (!row) throw new Error('the project to delete is not visible');
        const res = await db.delete(projects).where(eq(projects.id, row.id));
        return { reported: res.rowCount };
      }),
      delete_returning: await observe(async () => {
        const rows = await db.delete(projects).where(eq(projects.id, f.projects.deleteReturning)).returning({ id: projects.id });
        return { returned: rows.map((r) => r.id) };
      }),
      soft_delete_update: await observe(async () => {
        // With RETURNING: the soft-deleted row comes back to the role that can no longer see it.
        const rows = await db.update(projects).set({ deletedAt: sql`now()` }).where(eq(projects.id, f.projects.softDeleteUpdate)).returning({ id: projects.id });
        return { returned: rows.map((r) => r.id) };
      }),
      restore_granted_role: await observe(() => db.transaction(async (tx) => {
        await tx.execute(sql`SET LOCAL ROLE deletion_restorer`);
        const [row] = await tx.select().from(projects).where(and(eq(projects.id, f.projects.restore), isNotNull(projects.deletedAt)));
        if (!row) throw new Error('the deleted project is not visible to deletion_restorer');
        const res = await tx.update(projects).set({ deletedAt: null }).where(eq(projects.id, row.id));
        return { reported: res.rowCount };
      })),
      upsert_new_key: await upsert(f.emails.fresh),
      upsert_active_duplicate: await upsert(f.emails.active),
      upsert_deleted_key: await upsert(f.emails.held),
      recreate_deleted_unique: await observe(async () => {
        const rows = await db.insert(users).values({ email: f.emails.recreate, name: 'Recreated' }).returning({ id: users.id });
        return { id: rows[0].id, reported: rows.length };
      }),
      upsert_partial_index: await observe(async () => {
        for (const seatNo of [f.seats.fresh, f.seats.active, f.seats.held]) {
          await db.insert(seats).values({ seatNo, holder: UPSERTED_NAME })
            .onConflictDoUpdate({ target: seats.seatNo, targetWhere: sql`deleted_at IS NULL`, set: { holder: UPSERTED_NAME } });
        }
        return { note: 'onConflictDoUpdate({ target, targetWhere: sql`deleted_at IS NULL`, set })' };
      }),
      reflect_unique_key: { unsupported: 'drizzle-kit pull is a separate tool, not run here' },
      load_child_of_deleted_parent: await observe(async () => {
        const [row] = await db.select({ id: issues.id, projectId: issues.projectId, parent: projects.id }).from(issues)
          .leftJoin(projects, eq(projects.id, issues.projectId)).where(eq(issues.id, f.childIssueId));
        if (!row) throw new Error('the child issue is not visible');
        return { parentLoaded: row.parent !== null };
      }),
      hard_delete: await observe(async () => ({ reported: (await db.delete(issueLinks).where(eq(issueLinks.id, f.linkId))).rowCount })),
      archive_delete_entity: await observe(async () => {
        const [row] = await db.select().from(wikiPages).where(eq(wikiPages.id, f.pages.deleteEntity));
        if (!row) throw new Error('the page to delete is not visible');
        return { reported: (await db.delete(wikiPages).where(eq(wikiPages.id, row.id))).rowCount };
      }),
      archive_delete_returning: await observe(async () => {
        const rows = await db.delete(wikiPages).where(eq(wikiPages.id, f.pages.deleteReturning)).returning({ id: wikiPages.id });
        return { returned: rows.map((r) => r.id), reported: rows.length };
      }),
      orm_cascade_default: { unsupported: 'the ORM leaves cascades to the database (no ORM-side collector)' },
      orm_cascade_recommended: { unsupported: 'the ORM leaves cascades to the database (no ORM-side collector)' },
    };
  } finally {
    await pool.end();
  }
}

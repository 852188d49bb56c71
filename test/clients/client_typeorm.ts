// TypeORM: entities as EntitySchema (no decorators), synchronize off (it would rebuild the engine's
// unique index as a plain constraint), and each scenario through TypeORM's own calls: Repository
// delete/softDelete/restore/upsert, a DELETE ... RETURNING query builder, a relation load.
import 'reflect-metadata';
import { DataSource, EntitySchema, IsNull, Not } from 'typeorm';
import { UPSERTED_NAME } from './expectations.ts';
import { observe, type ClientContext, type Observed, type Scenario } from './harness.ts';

export const name = 'TypeORM';
export const pkg = 'typeorm';

interface Project { id: number; workspaceId: number; name: string; deletedAt: Date | null }
interface User { id: number; email: string; name: string }
interface Issue { id: number; title: string; project: Project | null }
interface Seat { id: number; seatNo: number; holder: string; deletedAt: Date | null }
interface IssueLink { id: number; issueId: number; url: string }

const bigintId = { type: 'bigint', primary: true, generated: 'increment', transformer: { from: (v: string) => Number(v), to: (v: number) => v } } as const;
const ProjectSchema = new EntitySchema<Project>({
  name: 'Project', tableName: 'projects',
  columns: {
    id: bigintId,
    workspaceId: { type: 'bigint', name: 'workspace_id' },
    name: { type: 'text' },
    deletedAt: { type: 'timestamptz', name: 'deleted_at', nullable: true, deleteDate: true },
  },
});
const UserSchema = new EntitySchema<User>({
  name: 'User', tableName: 'users',
  columns: { id: bigintId, email: { type: 'text', unique: true }, name: { type: 'text' } },
});
const IssueSchema = new EntitySchema<Issue>({
  name: 'Issue', tableName: 'issues',
  columns: { id: bigintId, title: { type: 'text' } },
  relations: { project: { type: 'many-to-one', target: 'Project', joinColumn: { name: 'project_id' }, nullable: true, onDelete: 'SET NULL' } },
});
const SeatSchema = new EntitySchema<Seat>({
  name: 'Seat', tableName: 'seats',
  columns: {
    id: bigintId,
    seatNo: { type: 'integer', name: 'seat_no' },
    holder: { type: 'text' },
    deletedAt: { type: 'timestamptz', name: 'deleted_at', nullable: true, deleteDate: true },
  },
});
interface WikiPage { id: number; workspaceId: number; slug: string; title: string }
const WikiPageSchema = new EntitySchema<WikiPage>({
  name: 'WikiPage', tableName: 'wiki_pages',
  columns: { id: bigintId, workspaceId: { type: 'bigint', name: 'workspace_id' }, slug: { type: 'text' }, title: { type: 'text' } },
});
const IssueLinkSchema = new EntitySchema<IssueLink>({
  name: 'IssueLink', tableName: 'issue_links',
  columns: { id: bigintId, issueId: { type: 'bigint', name: 'issue_id' }, url: { type: 'text' } },
});

export async function run(ctx: ClientContext): Promise<Record<Scenario, Observed>> {
  const ds = new DataSource({
    type: 'postgres', url: ctx.appUrl, synchronize: false, migrationsRun: false, logging: false,
    entities: [ProjectSchema, UserSchema, IssueSchema, IssueLinkSchema, SeatSchema, WikiPageSchema], extra: { max: 2 },
  });
  await ds.initialize();
  const projects = ds.getRepository(ProjectSchema);
  const users = ds.getRepository(UserSchema);
  const f = ctx.fixture;
  const upsert = (email: string) => observe(async () => {
    const res = await users.upsert({ email, name: UPSERTED_NAME }, { conflictPaths: ['email'] });
    const id = res.identifiers[0]?.id;
    return { id: id == null ? null : Number(id) };
  });
  try {
    return {
      delete_entity: await observe(async () => {
        const row = await projects.findOneBy({ id: f.projects.deleteEntity });
        if (!row) throw new Error('the project to delete is not visible');
        return { reported: (await projects.delete({ id: row.id })).affected ?? null };
      }),
      delete_returning: await observe(async () => {
        const res = await projects.createQueryBuilder().delete().from(ProjectSchema)
          .where('id = :id', { id: f.projects.deleteReturning }).returning('id').execute();
        return { returned: (res.raw as Array<{ id: string }>).map((r) => Number(r.id)), reported: res.affected ?? null };
      }),
      soft_delete_update: await observe(async () => ({
        reported: (await projects.softDelete({ id: f.projects.softDeleteUpdate })).affected ?? null,
        note: 'Repository.softDelete (the deleteDate column)',
      })),
      restore_granted_role: await observe(() => ds.transaction(async (em) => {
        await em.query('SET LOCAL ROLE deletion_restorer');
        const repo = em.getRepository(ProjectSchema);
        const row = await repo.findOne({ where: { id: f.projects.restore, deletedAt: Not(IsNull()) }, withDeleted: true });
        if (!row) throw new Error('the deleted project is not visible to deletion_restorer');
        return { reported: (await repo.restore({ id: row.id })).affected ?? null };
      })),
      upsert_new_key: await upsert(f.emails.fresh),
      upsert_active_duplicate: await upsert(f.emails.active),
      upsert_deleted_key: await upsert(f.emails.held),
      recreate_deleted_unique: await observe(async () => ({ id: (await users.save(users.create({ email: f.emails.recreate, name: 'Recreated' }))).id })),
      upsert_partial_index: await observe(async () => {
        for (const seatNo of [f.seats.fresh, f.seats.active, f.seats.held]) {
          await ds.getRepository(SeatSchema).upsert({ seatNo, holder: UPSERTED_NAME }, { conflictPaths: ['seatNo'], indexPredicate: 'deleted_at IS NULL' });
        }
        return { note: "upsert(values, { conflictPaths: ['seatNo'], indexPredicate: 'deleted_at IS NULL' })" };
      }),
      reflect_unique_key: await observe(async () => {
        const qr = ds.createQueryRunner();
        try {
          const table = await qr.getTable('users');
          const unique = !!table && (table.uniques.some((u) => u.columnNames.join() === 'email')
            || table.indices.some((i) => i.isUnique && i.columnNames.join() === 'email' && !i.where));
          const plan = await ds.driver.createSchemaBuilder().log();
          return { reflectsUnique: unique, note: `synchronize would run ${plan.upQueries.length} statements on these ${ds.entityMetadatas.length} tables` };
        } finally {
          await qr.release();
        }
      }),
      load_child_of_deleted_parent: await observe(async () => {
        const row = await ds.getRepository(IssueSchema).findOne({ where: { id: f.childIssueId }, relations: { project: true }, withDeleted: true });
        if (!row) throw new Error('the child issue is not visible');
        return { parentLoaded: row.project != null };
      }),
      hard_delete: await observe(async () => ({ reported: (await ds.getRepository(IssueLinkSchema).delete({ id: f.linkId })).affected ?? null })),
      archive_delete_entity: await observe(async () => {
        const pages = ds.getRepository(WikiPageSchema);
        const row = await pages.findOneBy({ id: f.pages.deleteEntity });
        if (!row) throw new Error('the page to delete is not visible');
        return { reported: (await pages.delete({ id: row.id })).affected ?? null };
      }),
      archive_delete_returning: await observe(async () => {
        const r = await ds.createQueryBuilder().delete().from(WikiPageSchema).where('id = :id', { id: f.pages.deleteReturning }).returning('id').execute();
        return { returned: (r.raw as Array<{ id: string }>).map((x) => Number(x.id)), reported: r.affected ?? null };
      }),
      orm_cascade_default: { unsupported: 'the ORM leaves cascades to the database (no ORM-side collector)' },
      orm_cascade_recommended: { unsupported: 'the ORM leaves cascades to the database (no ORM-side collector)' },
    };
  } finally {
    await ds.destroy();
  }
}

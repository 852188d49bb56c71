// Prisma 7: the query-compiler client generated from test/clients/prisma/schema.prisma (no query
// engine binary, nothing downloaded), talking to PostgreSQL through @prisma/adapter-pg; each
// scenario through Prisma's own calls (delete, update, upsert, create, include).
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { PrismaPg } from '@prisma/adapter-pg';
import { UPSERTED_NAME } from './expectations.ts';
import { observe, type ClientContext, type Observed, type Scenario } from './harness.ts';

export const name = 'Prisma';
export const pkg = 'prisma';

const DIR = path.resolve('test/clients/prisma');

/** `prisma generate`, offline: the schema engine it looks for is a stub, telemetry off. */
async function generate(): Promise<void> {
  await promisify(execFile)(process.execPath, [path.resolve('node_modules/prisma/build/index.js'), 'generate', '--schema', path.join(DIR, 'schema.prisma')], {
    env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: path.join(DIR, 'schema-engine-stub'), CHECKPOINT_DISABLE: '1', PRISMA_HIDE_UPDATE_MESSAGE: '1' },
  });
}

export async function run(ctx: ClientContext): Promise<Record<Scenario, Observed>> {
  await generate();
  const { PrismaClient } = await import(path.join(DIR, 'generated', 'client.ts'));
  const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: ctx.appUrl, max: 2 }) });
  const f = ctx.fixture;
  const big = (n: number) => BigInt(n);
  const upsert = (email: string) => observe(async () => {
    const row = await prisma.user.upsert({ where: { email }, create: { email, name: UPSERTED_NAME }, update: { name: UPSERTED_NAME } });
    return { id: Number(row.id) };
  });
  try {
    return {
      delete_entity: await observe(async () => {
        const row = await prisma.project.findUnique({ where: { id: big(f.projects.deleteEntity) } });
        if (!row) throw new Error('the project to delete is not visible');
        const gone = await prisma.project.delete({ where: { id: row.id } });
        return { returned: [Number(gone.id)] };
      }),
      delete_returning: await observe(async () => {
        const rows: Array<{ id: bigint }> = await prisma.$queryRaw`DELETE FROM projects WHERE id = ${big(f.projects.deleteReturning)} RETURNING id`;
        return { returned: rows.map((r) => Number(r.id)), note: 'raw SQL ($queryRaw): Prisma has no deleteManyAndReturn' };
      }),
      soft_delete_update: await observe(async () => {
        const row = await prisma.project.update({ where: { id: big(f.projects.softDeleteUpdate) }, data: { deletedAt: new Date() } });
        return { returned: [Number(row.id)] };
      }),
      restore_granted_role: await observe(() => prisma.$transaction(async (tx: typeof prisma) => {
        await tx.$executeRaw`SET LOCAL ROLE deletion_restorer`;
        const row = await tx.project.findFirst({ where: { id: big(f.projects.restore), deletedAt: { not: null } } });
        if (!row) throw new Error('the deleted project is not visible to deletion_restorer');
        const back = await tx.project.update({ where: { id: row.id }, data: { deletedAt: null } });
        return { returned: [Number(back.id)] };
      })),
      upsert_new_key: await upsert(f.emails.fresh),
      upsert_active_duplicate: await upsert(f.emails.active),
      upsert_deleted_key: await upsert(f.emails.held),
      recreate_deleted_unique: await observe(async () => ({ id: Number((await prisma.user.create({ data: { email: f.emails.recreate, name: 'Recreated' } })).id) })),
      upsert_partial_index: { unsupported: 'upsert cannot name an index predicate; use $executeRaw' },
      reflect_unique_key: { unsupported: 'prisma db pull needs the schema engine binary, not on npm' },
      load_child_of_deleted_parent: await observe(async () => {
        const row = await prisma.issue.findUnique({ where: { id: big(f.childIssueId) }, include: { project: true } });
        if (!row) throw new Error('the child issue is not visible');
        return { parentLoaded: row.project != null };
      }),
      hard_delete: await observe(async () => {
        const gone = await prisma.issueLink.delete({ where: { id: big(f.linkId) } });
        return { returned: [Number(gone.id)] };
      }),
      archive_delete_entity: await observe(async () => {
        const row = await prisma.wikiPage.findUnique({ where: { id: big(f.pages.deleteEntity) } });
        if (!row) throw new Error('the page to delete is not visible');
        const gone = await prisma.wikiPage.delete({ where: { id: row.id } });
        return { returned: [Number(gone.id)] };
      }),
      archive_delete_returning: await observe(async () => {
        const rows: Array<{ id: bigint }> = await prisma.$queryRaw`DELETE FROM wiki_pages WHERE id = ${big(f.pages.deleteReturning)} RETURNING id`;
        return { returned: rows.map((r) => Number(r.id)), note: 'raw SQL ($queryRaw): Prisma has no deleteManyAndReturn' };
      }),
      orm_cascade_default: { unsupported: 'the ORM leaves cascades to the database (no ORM-side collector)' },
      orm_cascade_recommended: { unsupported: 'the ORM leaves cascades to the database (no ORM-side collector)' },
    };
  } finally {
    await prisma.$disconnect();
  }
}

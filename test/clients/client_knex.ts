// Knex: the query builder's own calls for each scenario (del, update, onConflict().merge(), a left join).
import knexFactory from 'knex';
import { UPSERTED_NAME } from './expectations.ts';
import { observe, type ClientContext, type Observed, type Scenario } from './harness.ts';

export const name = 'Knex';
export const pkg = 'knex';

export async function run(ctx: ClientContext): Promise<Record<Scenario, Observed>> {
  const k = knexFactory({ client: 'pg', connection: ctx.appUrl, pool: { min: 0, max: 2 } });
  const f = ctx.fixture;
  const upsert = (email: string) => observe(async () => {
    const rows = await k('users').insert({ email, name: UPSERTED_NAME }).onConflict('email').merge(['name']).returning('id');
    return { returned: rows.map((r: { id: string }) => Number(r.id)), id: rows.length ? Number(rows[0].id) : null };
  });
  try {
    return {
      delete_entity: await observe(async () => {
        const row = await k('projects').where({ id: f.projects.deleteEntity }).first();
        if (!row) throw new Error('the project to delete is not visible');
        return { reported: await k('projects').where({ id: row.id }).del() };
      }),
      delete_returning: await observe(async () => {
        const rows = await k('projects').where({ id: f.projects.deleteReturning }).del(['id']) as unknown as Array<{ id: string }>;
        return { returned: rows.map((r) => Number(r.id)), reported: rows.length };
      }),
      soft_delete_update: await observe(async () => ({
        reported: await k('projects').where({ id: f.projects.softDeleteUpdate }).update({ deleted_at: k.fn.now() }),
      })),
      restore_granted_role: await observe(() => k.transaction(async (trx) => {
        await trx.raw('SET LOCAL ROLE deletion_restorer');
        const row = await trx('projects').where({ id: f.projects.restore }).whereNotNull('deleted_at').first();
        if (!row) throw new Error('the deleted project is not visible to deletion_restorer');
        return { reported: await trx('projects').where({ id: row.id }).update({ deleted_at: null }) };
      })),
      upsert_new_key: await upsert(f.emails.fresh),
      upsert_active_duplicate: await upsert(f.emails.active),
      upsert_deleted_key: await upsert(f.emails.held),
      recreate_deleted_unique: await observe(async () => {
        const rows = await k('users').insert({ email: f.emails.recreate, name: 'Recreated' }).returning('id');
        return { id: Number(rows[0].id), reported: rows.length };
      }),
      upsert_partial_index: await observe(async () => {
        for (const seat_no of [f.seats.fresh, f.seats.active, f.seats.held]) {
          await k('seats').insert({ seat_no, holder: UPSERTED_NAME })
            .onConflict(k.raw('(seat_no) WHERE deleted_at IS NULL') as unknown as string).merge(['holder']);
        }
        return { note: "onConflict(knex.raw('(seat_no) WHERE deleted_at IS NULL')).merge()" };
      }),
      reflect_unique_key: { unsupported: 'no schema reflection' },
      load_child_of_deleted_parent: await observe(async () => {
        const row = await k('issues').leftJoin('projects', 'projects.id', 'issues.project_id')
          .where('issues.id', f.childIssueId).first('issues.id', 'issues.project_id', { parent: 'projects.id' });
        if (!row) throw new Error('the child issue is not visible');
        return { parentLoaded: row.parent !== null };
      }),
      hard_delete: await observe(async () => ({ reported: await k('issue_links').where({ id: f.linkId }).del() })),
      archive_delete_entity: await observe(async () => {
        const row = await k('wiki_pages').where({ id: f.pages.deleteEntity }).first();
        if (!row) throw new Error('the page to delete is not visible');
        return { reported: await k('wiki_pages').where({ id: row.id }).del() };
      }),
      archive_delete_returning: await observe(async () => {
        const rows = await k('wiki_pages').where({ id: f.pages.deleteReturning }).del(['id']) as unknown as Array<{ id: string }>;
        return { returned: rows.map((r) => Number(r.id)), reported: rows.length };
      }),
      orm_cascade_default: { unsupported: 'the ORM leaves cascades to the database (no ORM-side collector)' },
      orm_cascade_recommended: { unsupported: 'the ORM leaves cascades to the database (no ORM-side collector)' },
    };
  } finally {
    await k.destroy();
  }
}

// What every client must see, scenario by scenario: the behaviour the engine promises any client of
// a soft-delete table (a delete or an UPDATE that soft-deletes reports its rows and returns them, a
// restore by the granted role works, upserts on the original unique column work, a deleted row's
// unique value is free again, a hidden parent loads as absent, a hard delete is a plain delete).
// Checked against the database as the administrator, never taken from the client's word alone.
import pg from 'pg';
import { activeUsers, appSees, archivedState, rowState, type ClientContext, type Observed, type Scenario } from './harness.ts';

/** The name every upsert writes, so an upsert that updated is told from one that did nothing. */
export const UPSERTED_NAME = 'Upserted';

function reportedOne(o: Observed): string | null {
  if (o.reported === undefined || o.reported === null) return null;
  return o.reported === 1 ? null : `the client was told ${o.reported} rows changed, not 1`;
}

/** When the client got rows back (RETURNING, the record an ORM returns): exactly the row it changed. */
function returnedOnly(o: Observed, id: number): string | null {
  if (o.returned === undefined || o.returned === null) return null;
  return JSON.stringify(o.returned) === JSON.stringify([id]) ? null : `the client got back ${JSON.stringify(o.returned)}, not [${id}]`;
}

/**
 * The refusal a table that keeps deleted rows in place gives a plain DELETE: its own SQLSTATE and a
 * message naming the soft-delete route (UPDATE ... SET deleted_at, deletion.soft_delete).
 */
export const DELETE_REFUSED = 'PD104';

export function isRefusal(e: NonNullable<Observed['error']>): boolean {
  return e.code === DELETE_REFUSED || e.message.includes(DELETE_REFUSED);
}

/** Returns null when the scenario did what is required, or what went wrong. */
export async function check(scenario: Scenario, o: Observed, admin: pg.Client, ctx: ClientContext): Promise<string | null> {
  if (o.unsupported) return null;
  const f = ctx.fixture;
  if (o.error && isRefusal(o.error) && (scenario === 'delete_entity' || scenario === 'delete_returning')) {
    // A table whose rows stay in place may refuse a plain DELETE, naming the soft-delete route;
    // then nothing may have changed.
    const id = scenario === 'delete_entity' ? f.projects.deleteEntity : f.projects.deleteReturning;
    if (o.error.hint != null && !/SET deleted_at/.test(o.error.hint)) return `the refusal's hint does not name UPDATE ... SET deleted_at: ${o.error.hint}`;
    const state = await rowState(admin, 'public.projects', id);
    return state === 'active' ? null : `the DELETE was refused (${o.error.code}) but project ${id} is ${state}`;
  }
  if (o.error) return `raised ${o.error.code ?? o.error.name}: ${o.error.message}`;
  const softDeleted = async (id: number) => {
    const state = await rowState(admin, 'public.projects', id);
    if (state !== 'soft-deleted') return `project ${id} is ${state}, not soft-deleted`;
    if (await appSees(ctx.appUrl, 'public.projects', id)) return `the application still sees project ${id}`;
    return null;
  };
  switch (scenario) {
    case 'delete_entity':
      return returnedOnly(o, f.projects.deleteEntity) ?? reportedOne(o) ?? (await softDeleted(f.projects.deleteEntity));
    case 'delete_returning': {
      const got = JSON.stringify(o.returned ?? []);
      if (got !== JSON.stringify([f.projects.deleteReturning])) return `RETURNING gave ${got}, not [${f.projects.deleteReturning}]`;
      return reportedOne(o) ?? (await softDeleted(f.projects.deleteReturning));
    }
    case 'soft_delete_update':
      return returnedOnly(o, f.projects.softDeleteUpdate) ?? reportedOne(o) ?? (await softDeleted(f.projects.softDeleteUpdate));
    case 'restore_granted_role': {
      const bad = returnedOnly(o, f.projects.restore) ?? reportedOne(o);
      if (bad) return bad;
      const state = await rowState(admin, 'public.projects', f.projects.restore);
      if (state !== 'active') return `project ${f.projects.restore} is ${state}, not active again`;
      return (await appSees(ctx.appUrl, 'public.projects', f.projects.restore)) ? null : 'the application does not see the restored project';
    }
    case 'upsert_new_key': {
      const rows = await activeUsers(admin, f.emails.fresh);
      if (rows.length !== 1) return `${rows.length} active users hold the new email, not 1`;
      return o.id == null || o.id === rows[0].id ? null : `the client got id ${o.id}, the row has ${rows[0].id}`;
    }
    case 'upsert_active_duplicate': {
      const rows = await activeUsers(admin, f.emails.active);
      const want = JSON.stringify([{ id: f.users.active, name: UPSERTED_NAME }]);
      return JSON.stringify(rows) === want ? null : `active users with the email: ${JSON.stringify(rows)}, expected ${want} (the existing row updated)`;
    }
    case 'upsert_deleted_key':
    case 'recreate_deleted_unique': {
      const [email, oldId] = scenario === 'upsert_deleted_key' ? [f.emails.held, f.users.held] : [f.emails.recreate, f.users.recreate];
      const rows = await activeUsers(admin, email);
      if (rows.length !== 1 || rows[0].id === oldId) return `active users with the email: ${JSON.stringify(rows)}, expected one new row (the deleted one is absent)`;
      const old = await rowState(admin, 'public.users', oldId);
      return old === 'soft-deleted' ? null : `the deleted user ${oldId} is ${old}, not still soft-deleted`;
    }
    case 'upsert_partial_index': {
      const { rows } = await admin.query(`SELECT id, seat_no, holder FROM seats WHERE deleted_at IS NULL ORDER BY seat_no`);
      const seats = rows.map((r) => ({ id: Number(r.id), seat: r.seat_no, holder: r.holder }));
      const by = (n: number) => seats.filter((x) => x.seat === n);
      const s = f.seats;
      if (by(s.fresh).length !== 1 || by(s.fresh)[0].holder !== UPSERTED_NAME) return `new key: ${JSON.stringify(by(s.fresh))}`;
      if (JSON.stringify(by(s.active)) !== JSON.stringify([{ id: s.activeId, seat: s.active, holder: UPSERTED_NAME }])) return `active duplicate: ${JSON.stringify(by(s.active))}, expected the existing row updated`;
      if (by(s.held).length !== 1 || by(s.held)[0].id === s.heldId) return `deleted key: ${JSON.stringify(by(s.held))}, expected one new row`;
      const old = await rowState(admin, 'public.seats', s.heldId);
      return old === 'soft-deleted' ? null : `the deleted seat ${s.heldId} is ${old}, not still soft-deleted`;
    }
    case 'reflect_unique_key':
      return o.reflectsUnique === true ? null : 'the reflected schema does not show users.email as unique';
    case 'load_child_of_deleted_parent':
      return o.parentLoaded === false ? null : `the client ${o.parentLoaded ? 'handed back the deleted parent' : 'did not say whether it loaded the parent'}`;
    case 'archive_delete_entity':
    case 'archive_delete_returning': {
      const id = scenario === 'archive_delete_entity' ? f.pages.deleteEntity : f.pages.deleteReturning;
      if (scenario === 'archive_delete_returning' && JSON.stringify(o.returned ?? []) !== JSON.stringify([id])) {
        return `RETURNING gave ${JSON.stringify(o.returned ?? [])}, not [${id}]`;
      }
      const bad = returnedOnly(o, id) ?? reportedOne(o);
      if (bad) return bad;
      const state = await rowState(admin, 'public.wiki_pages', id);
      if (state !== 'soft-deleted') return `page ${id} is ${state}, not archived (gone from its table, its operation in the trash)`;
      return (await appSees(ctx.appUrl, 'public.wiki_pages', id)) ? `the application still sees page ${id}` : null;
    }
    case 'orm_cascade_default':
    case 'orm_cascade_recommended': {
      // Required: the page and its revision leave together as one operation, which restore brings
      // back whole (an ORM that deletes or unlinks the children itself, before the database sees
      // the parent's DELETE, breaks this).
      const [pageId, revisionId] = scenario === 'orm_cascade_default'
        ? [f.pages.cascadeDefault, f.revisions.cascadeDefault] : [f.pages.cascadeRecommended, f.revisions.cascadeRecommended];
      const s = await archivedState(admin, pageId, revisionId);
      if (s.pageLive) return `page ${pageId} is still in its table`;
      if (s.revisionLive) return `revision ${revisionId} is still in its table (unlinked, not deleted)`;
      if (!s.inTrash) return `page ${pageId} is gone, but no operation in the trash holds it`;
      return s.revisionInOperation ? null
        : `the ORM deleted revision ${revisionId} in a statement of its own: the page's operation does not hold it, so restoring the page does not bring it back`;
    }
    case 'hard_delete': {
      const bad = returnedOnly(o, f.linkId) ?? reportedOne(o);
      if (bad) return bad;
      const state = await rowState(admin, 'public.issue_links', f.linkId);
      return state === 'gone' ? null : `issue link ${f.linkId} is ${state}, not gone`;
    }
  }
}

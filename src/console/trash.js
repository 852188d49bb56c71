// The trash: every soft-delete operation not yet restored or purged (GET /api/trash), searched by
// table, actor, reason and time. A restore is always shown first as a dry run, a diff of what is in
// the trash against what would come back and what stands in the way, before it is done.
import { actionButton, dialog, fill, fmt, h, table, tableSelect } from './dom.js';

/** `datetime-local` text (the browser's zone) as an ISO instant, or undefined. */
const iso = (local) => (local ? new Date(local).toISOString() : undefined);

function perTable(rowsPerTable) {
  return Object.entries(rowsPerTable ?? {}).map(([t, n]) => h('span', { class: 'chip' }, `${t.replace(/^public\./, '')} ${fmt.num(n)}`));
}

function diff(op, preview) {
  const tables = [...new Set([...Object.keys(op.rows_per_table ?? {}), ...Object.keys(preview.rows_per_table ?? {})])].sort();
  return [
    h('p', {}, preview.restored || !preview.conflicts?.length
      ? `Dry run: ${fmt.num(preview.rows)} rows would come back. Nothing has changed yet.`
      : 'Dry run: the restore would be refused as a whole; nothing would come back:'),
    table([
      { label: 'table', cell: (t) => h('code', {}, t) },
      { label: 'in the trash', class: 'num', cell: (t) => fmt.num(op.rows_per_table?.[t] ?? 0) },
      { label: 'would come back', class: 'num', cell: (t) => {
        if (!Object.keys(preview.rows_per_table ?? {}).length) return '—';
        const before = Number(op.rows_per_table?.[t] ?? 0);
        const after = Number(preview.rows_per_table?.[t] ?? 0);
        return h('span', { class: after === before ? 'same' : 'differs' }, `+${fmt.num(after)}`);
      } },
    ], tables, { empty: 'No rows.', rowAttrs: (t) => ({ dataset: { table: t } }) }),
    preview.conflicts?.length
      ? h('div', { class: 'conflicts', id: 'restore-conflicts' }, h('h3', {}, 'In the way'), h('ul', {}, preview.conflicts.map((c) => h('li', {}, c))))
      : null,
  ];
}

async function restore(ctx, op, refresh) {
  let preview;
  try {
    preview = await ctx.api('POST', `/api/trash/${op.op}/restore`, { query: { dry_run: true } });
  } catch (err) {
    ctx.toast(`The dry run failed: ${ctx.describe(err)}`, 'error');
    return;
  }
  const possible = !preview.conflicts?.length;
  const buttons = [{ label: 'Close', value: undefined }];
  if (possible) buttons.push({ label: `Restore ${fmt.num(preview.rows)} rows`, value: 'restore', class: 'primary' });
  const answer = await dialog(`Restore ${op.root_table} ${fmt.key(op.root_key)}`, diff(op, preview), buttons);
  if (answer !== 'restore') return;
  try {
    const r = await ctx.api('POST', `/api/trash/${op.op}/restore`, { query: { dry_run: false } });
    ctx.toast(`Restored ${fmt.num(r.rows)} rows of ${op.root_table} ${fmt.key(op.root_key)}.`, 'ok');
  } catch (err) {
    ctx.toast(`Not restored: ${ctx.describe(err)}`, 'error');
  }
  refresh();
}

export async function render(view, ctx, params) {
  const tables = await ctx.tables();
  const form = h('form', { class: 'card form-row', id: 'trash-search' },
    h('label', { for: 'f-table' }, 'Table'), tableSelect(tables.filter((t) => t.soft_delete), { any: true, value: params.get('table') }),
    h('label', { for: 'f-actor' }, 'Actor'), h('input', { name: 'actor', id: 'f-actor', value: params.get('actor') ?? '', size: 12 }),
    h('label', { for: 'f-reason' }, 'Reason'), h('input', { name: 'reason', id: 'f-reason', value: params.get('reason') ?? '', size: 14, placeholder: 'contains' }),
    h('label', { for: 'f-since' }, 'From'), h('input', { type: 'datetime-local', name: 'since', id: 'f-since' }),
    h('label', { for: 'f-until' }, 'to'), h('input', { type: 'datetime-local', name: 'until', id: 'f-until' }),
    h('button', { type: 'submit', class: 'primary', id: 'search' }, 'Search'));
  const list = h('div', { id: 'trash-list' });

  async function refresh() {
    const f = new FormData(form);
    try {
      const data = await ctx.api('GET', '/api/trash', { query: {
        table: f.get('table'), actor: f.get('actor'), reason: f.get('reason'), since: iso(f.get('since')), until: iso(f.get('until')), limit: 100,
      } });
      fill(list, table([
        { label: 'deleted', cell: (o) => fmt.time(o.deleted_at) },
        { label: 'row', cell: (o) => h('span', {}, h('code', {}, o.root_table), ' ', h('code', {}, fmt.key(o.root_key))) },
        { label: 'by', cell: (o) => o.deleted_by ?? '' },
        { label: 'reason', class: 'wrap', cell: (o) => o.reason ?? '' },
        { label: 'rows', class: 'num', cell: (o) => fmt.num(o.rows) },
        { label: 'per table', class: 'wrap', cell: (o) => perTable(o.rows_per_table) },
        { label: 'restorable', class: 'wrap', cell: (o) => (o.restorable ? h('span', { class: 'tag ok' }, 'yes') : h('span', { class: 'error-text' }, (o.not_restorable_because ?? []).join('; ') || 'no')) },
        { label: '', class: 'actions', cell: (o) => actionButton(ctx, 'operator', 'Restore…', () => restore(ctx, o, refresh), { class: 'small', dataset: { action: 'restore', op: o.op } }) },
      ], data.operations ?? [], { empty: 'The trash is empty (for this search).', rowAttrs: (o) => ({ dataset: { op: o.op, table: o.root_table } }) }));
    } catch (err) {
      fill(list, h('p', { class: 'error', role: 'alert' }, ctx.describe(err)));
    }
  }
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    refresh();
  });
  fill(view, h('div', { class: 'page-head' }, h('h1', {}, 'Trash'), h('p', { class: 'muted' }, 'Soft-deleted rows, each delete one operation with its cascade, restorable all or nothing.')), form, list);
  await refresh();
}

// Plan: what deleting one row would do, before anything is deleted (the engine's deletion.plan
// through GET /api/tables/{table}/rows/{key}/plan): rows per table and action, the cascade as a
// graph, whether something blocks it. From here the row's deletion is scheduled as a job.
import { seg } from './api.js';
import { actionButton, fill, fmt, h, stat, table, tableSelect } from './dom.js';
import { actionClass, cascadeGraph } from './graph.js';

// "blocked by soft delete" is a note, not a blocker: a plain DELETE of a soft-delete table is refused
// (PD104), and the soft delete the plan previews goes through all the same.
const NOTE = 'blocked by soft delete';
const blocking = (action) => action.startsWith('blocked') && action !== NOTE;

function summary(plan) {
  const sum = (pred) => plan.rows.filter((r) => pred(r.action)).reduce((n, r) => n + Number(r.rows), 0);
  const blocked = plan.rows.some((r) => blocking(r.action));
  return h('section', { class: 'stats', id: 'plan-summary' },
    h('div', { class: `stat health ${blocked ? 'bad' : 'ok'}`, dataset: { stat: 'verdict' } },
      h('span', { class: 'stat-value' }, blocked ? 'blocked' : 'would go through'),
      h('span', { class: 'stat-label' }, `a direct ${plan.hard ? 'hard ' : ''}delete`)),
    stat('Tables', fmt.num(new Set(plan.rows.map((r) => r.table_name)).size)),
    stat('Deleted', fmt.num(sum((a) => a === 'delete')), 'bad'),
    stat('Soft-deleted', fmt.num(sum((a) => a === 'soft delete')), 'warn'),
    stat('Set to NULL/default', fmt.num(sum((a) => a.startsWith('set '))), 'info'),
    stat('Blocking', fmt.num(sum(blocking)), blocked ? 'bad' : ''));
}

function rowsTable(plan) {
  return table([
    { label: 'depth', class: 'num', cell: (r) => String(r.depth) },
    { label: 'table', cell: (r) => h('code', {}, r.table_name) },
    { label: 'action', cell: (r) => h('span', { class: `tag ${actionClass(r.action)}` }, r.action) },
    { label: 'rows', class: 'num', cell: (r) => fmt.num(r.rows) },
    { label: 'via', cell: (r) => (r.via ?? []).join(', ') },
    { label: 'detail', class: 'wrap', cell: (r) => r.detail ?? '' },
  ], plan.rows, { rowAttrs: (r) => ({ dataset: { table: r.table_name, action: r.action } }) });
}

function scheduleForm(ctx, plan) {
  const reason = h('input', { name: 'reason', id: 'f-reason', placeholder: 'why (kept with the job and in the audit log)', maxlength: 500 });
  const delay = h('select', { name: 'in_seconds', id: 'f-when' },
    [['0', 'now'], ['3600', 'in 1 hour'], ['86400', 'in 1 day'], ['604800', 'in 7 days'], ['2592000', 'in 30 days']].map(([v, l]) => h('option', { value: v }, l)));
  const button = actionButton(ctx, 'operator', plan.hard ? 'Schedule the hard delete' : 'Schedule the delete', async () => {
    button.disabled = true;
    try {
      const job = await ctx.api('POST', '/api/jobs', { body: { table: plan.table, key: plan.key, hard: plan.hard, reason: reason.value || undefined, in_seconds: Number(delay.value) } });
      ctx.toast(`Job ${job.id} scheduled (${job.status}).`, 'ok');
      ctx.go(`#/jobs/?job=${job.id}`);
    } catch (err) {
      ctx.toast(`Not scheduled: ${ctx.describe(err)}`, 'error');
      button.disabled = false;
    }
  }, { class: 'primary', id: 'schedule', dataset: { action: 'schedule' } });
  // A job is checked when it is scheduled: a bulk-delete rule that stops a direct delete asks for a
  // job, while a RESTRICT key or a protection rule on a row of the tree refuses the job too.
  const blockedNote = plan.rows.some((r) => blocking(r.action))
    ? h('p', { class: 'muted' }, 'A direct delete would be blocked (see the rows above). A job is checked when it is scheduled: the server refuses it when its tree is blocked too, and says why.')
    : null;
  const hardNote = plan.hard && !ctx.can('admin') ? h('p', { class: 'muted' }, 'Only an admin may schedule a hard delete; the server refuses it for other roles.') : null;
  return h('section', { class: 'card schedule', 'aria-label': 'schedule' },
    h('h2', {}, 'Schedule this deletion as a job'),
    h('p', { class: 'muted' }, 'A worker deletes the row and its cascade in short chunks, leaves first; the job shows its progress on the Jobs page and can be cancelled, and undone when done.'),
    h('div', { class: 'form-row' }, h('label', { for: 'f-when' }, 'When'), delay, h('label', { for: 'f-reason' }, 'Reason'), reason, button),
    blockedNote,
    hardNote);
}

export async function render(view, ctx, params) {
  const tables = await ctx.tables();
  const select = tableSelect(tables, { value: params.get('table') ?? tables.find((t) => t.table === 'public.workspaces')?.table });
  const key = h('input', { name: 'key', id: 'f-key', placeholder: 'primary key, e.g. 42 or ["a", 7]', value: params.get('key') ?? '', required: true });
  const hard = h('input', { type: 'checkbox', name: 'hard', id: 'f-hard', checked: params.get('hard') === 'true' });
  const out = h('div', { id: 'plan-result' });

  async function preview() {
    if (!key.value.trim()) return;
    fill(out, h('p', { class: 'loading' }, 'Planning…'));
    try {
      const plan = await ctx.api('GET', `/api/tables/${seg(select.value)}/rows/${seg(key.value.trim())}/plan`, { query: { hard: hard.checked || undefined } });
      plan.table ??= select.value;
      plan.key ??= key.value.trim();
      fill(out,
        summary(plan),
        h('section', { class: 'card graph-card', 'aria-label': 'cascade graph' },
          h('h2', {}, 'Cascade'),
          h('div', { class: 'legend' }, ['delete', 'soft delete', 'set null', 'blocked'].map((a) => h('span', { class: `tag ${actionClass(a)}` }, a))),
          h('div', { class: 'graph-wrap' }, cascadeGraph(plan.rows.filter((r) => r.action !== NOTE), plan.edges))),
        h('section', { class: 'card', 'aria-label': 'rows per table' }, h('h2', {}, 'Rows per table'), rowsTable(plan)),
        scheduleForm(ctx, plan));
    } catch (err) {
      fill(out, h('p', { class: 'error', role: 'alert' }, ctx.describe(err)));
    }
  }

  fill(view,
    h('div', { class: 'page-head' }, h('h1', {}, 'Plan a delete')),
    h('form', { class: 'card form-row', id: 'plan-form', onsubmit: (e) => { e.preventDefault(); preview(); } },
      h('label', { for: 'f-table' }, 'Table'), select,
      h('label', { for: 'f-key' }, 'Key'), key,
      h('label', { class: 'check' }, hard, ' hard delete (what a hard job does)'),
      h('button', { type: 'submit', class: 'primary', id: 'preview' }, 'Preview')),
    out);
  if (key.value) await preview();
}

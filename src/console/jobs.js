// Jobs: the backlog's health (GET /api/jobs's status), each job with its live progress (the page
// polls every second while it is open), cancel of a pending or running job, and undo of a finished
// hard job after a dry run shows what the audit log would bring back (a soft job's rows are in the
// trash, restored from there).
import { actionButton, dialog, fill, fmt, h, stat, table } from './dom.js';

const POLL_MS = 1000;

function health(status) {
  const s = status ?? {};
  return h('section', { class: 'stats', id: 'health', 'aria-label': 'backlog health' },
    h('div', { class: `stat health ${s.healthy ? 'ok' : 'bad'}`, dataset: { stat: 'healthy' } },
      h('span', { class: 'stat-value' }, s.healthy ? 'healthy' : 'unhealthy'),
      h('span', { class: 'stat-label' }, 'backlog')),
    stat('Pending', fmt.num(s.pending)),
    stat('Running', fmt.num(s.running), s.running ? 'info' : ''),
    stat('Due', fmt.num(s.due)),
    stat('Overdue', fmt.num(s.overdue), s.overdue ? 'warn' : ''),
    stat('Stuck', fmt.num(s.stuck), s.stuck ? 'bad' : ''),
    stat('Retrying', fmt.num(s.retrying), s.retrying ? 'warn' : ''),
    stat('Failed', fmt.num(s.failed), s.failed ? 'bad' : ''),
    stat('Blocked', fmt.num(s.blocked), s.blocked ? 'bad' : ''),
    stat('Rows left', fmt.num(s.rows_remaining)),
    stat('Oldest pending', fmt.dur(s.oldest_pending_seconds)),
    stat('Drains in', s.time_to_drain_seconds === null || s.time_to_drain_seconds === undefined ? '—' : fmt.dur(s.time_to_drain_seconds)));
}

function progress(job) {
  const pct = Math.max(0, Math.min(100, Number(job.percent_done ?? 0)));
  // The width through the CSSOM: the console's CSP allows no inline style attributes.
  const bar = h('div', { class: 'bar' });
  bar.style.width = `${pct}%`;
  return h('div', { class: 'progress-cell' },
    h('div', { class: `progress ${job.status}`, role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': pct }, bar),
    h('span', { class: 'progress-text' }, `${pct}% · ${fmt.num(job.rows_deleted)} of ${fmt.num(job.rows_planned)} rows`));
}

async function cancel(ctx, job, refresh) {
  const answer = await dialog(`Cancel job ${job.id}?`,
    [h('p', {}, `${job.entity_table} ${fmt.key(job.entity_pk)} (${job.status}).`),
     h('p', {}, job.status === 'running'
       ? 'A running job stops after its current chunk; what it deleted so far stays deleted (undo it afterwards if needed).'
       : 'The job will not run; the row stays as it is.')],
    [{ label: 'Keep it', value: undefined }, { label: 'Cancel the job', value: 'cancel', class: 'danger' }]);
  if (answer !== 'cancel') return;
  try {
    const r = await ctx.api('POST', `/api/jobs/${job.id}/cancel`);
    ctx.toast(`Job ${job.id}: ${r.status === 'cancelled' ? 'cancelled' : 'cancel requested; it stops after its current chunk'}.`, 'ok');
  } catch (err) {
    ctx.toast(`Job ${job.id} was not cancelled: ${ctx.describe(err)}`, 'error');
  }
  refresh();
}

function steps(result) {
  return table([
    { label: 'step', cell: (r) => r.kind },
    { label: 'table', cell: (r) => r.table ?? '' },
    { label: 'rows', class: 'num', cell: (r) => fmt.num(r.rows) },
    { label: 'detail', cell: (r) => r.detail ?? '' },
  ], result.steps ?? [], { empty: 'Nothing to bring back.' });
}

async function undo(ctx, job, refresh) {
  let preview;
  try {
    preview = await ctx.api('POST', `/api/jobs/${job.id}/undo`, { query: { dry_run: true } });
  } catch (err) {
    ctx.toast(`Job ${job.id} cannot be undone: ${ctx.describe(err)}`, 'error');
    return;
  }
  const body = [
    h('p', {}, preview.refused
      ? 'The undo would be refused (see the steps): nothing would change.'
      : `Dry run: ${fmt.num(preview.rows_restored)} rows would come back. Nothing has changed yet.`),
    steps(preview),
  ];
  const buttons = [{ label: 'Close', value: undefined }];
  if (!preview.refused) buttons.push({ label: `Undo job ${job.id}`, value: 'undo', class: 'danger' });
  if ((await dialog(`Undo job ${job.id}`, body, buttons)) !== 'undo') return;
  try {
    const r = await ctx.api('POST', `/api/jobs/${job.id}/undo`, { query: { dry_run: false } });
    ctx.toast(`Job ${job.id} undone: ${fmt.num(r.rows_restored)} rows restored.`, 'ok');
  } catch (err) {
    ctx.toast(`Job ${job.id} was not undone: ${ctx.describe(err)}`, 'error');
  }
  refresh();
}

function jobsTable(ctx, jobs, refresh, highlight) {
  return table([
    { label: 'job', class: 'num', cell: (j) => String(j.id) },
    { label: 'row', cell: (j) => h('span', {}, h('code', {}, j.entity_table), ' ', h('code', {}, fmt.key(j.entity_pk)), j.hard_delete ? h('span', { class: 'tag hard' }, 'hard') : h('span', { class: 'tag' }, 'soft')) },
    { label: 'status', cell: (j) => h('span', { class: `status ${j.status}${j.stuck ? ' stuck' : ''}${j.overdue ? ' overdue' : ''}` }, j.status, j.stuck ? ' (stuck)' : '', j.overdue ? ' (overdue)' : '', j.phase && j.status === 'running' ? ` · ${j.phase}` : '') },
    { label: 'progress', cell: progress },
    { label: 'chunks', class: 'num', cell: (j) => fmt.num(j.chunks) },
    { label: 'scheduled', cell: (j) => fmt.time(j.scheduled_at) },
    { label: 'by', cell: (j) => j.created_by ?? '' },
    { label: 'reason / error', class: 'wrap', cell: (j) => (j.error ? h('span', { class: 'error-text' }, j.error) : j.reason ?? '') },
    { label: '', class: 'actions', cell: (j) => [
      ['pending', 'running'].includes(j.status)
        ? actionButton(ctx, 'operator', 'Cancel', () => cancel(ctx, j, refresh), { class: 'danger small', dataset: { action: 'cancel', job: j.id } })
        : null,
      j.status === 'done' && j.hard_delete
        ? actionButton(ctx, 'operator', 'Undo…', () => undo(ctx, j, refresh), { class: 'small', dataset: { action: 'undo', job: j.id } })
        : null,
    ] },
  ], jobs, { empty: 'No deletion jobs.', rowAttrs: (j) => ({ dataset: { job: j.id, status: j.status }, class: String(j.id) === highlight ? 'highlight' : undefined }) });
}

export async function render(view, ctx, params) {
  const statusFilter = h('select', { name: 'status', id: 'f-status' },
    ['', 'pending', 'running', 'done', 'failed', 'cancelled'].map((s) => h('option', { value: s, selected: s === (params.get('status') ?? '') }, s || 'every status')));
  const healthBox = h('div', {});
  const listBox = h('div', {});
  const updated = h('span', { class: 'muted', id: 'updated' });
  let timer = null;
  let busy = false;
  let gone = false;
  let last = '';

  async function refresh() {
    if (busy || gone) return;
    busy = true;
    try {
      const data = await ctx.api('GET', '/api/jobs', { query: { status: statusFilter.value, limit: 50 } });
      if (gone) return;
      // Redrawn only when something changed, and not under an open dialog (it keeps the rows it was
      // opened on; the next poll redraws), so a button is not replaced while someone reaches for it.
      const text = JSON.stringify(data, (k, v) => (/_seconds$/.test(k) ? undefined : v));
      if (text !== last && !document.querySelector('dialog[open]')) {
        last = text;
        fill(healthBox, health(data.status));
        fill(listBox, jobsTable(ctx, data.jobs ?? [], refresh, params.get('job')));
      }
      updated.textContent = `updated ${fmt.time(new Date().toISOString())}`;
    } catch (err) {
      fill(listBox, h('p', { class: 'error', role: 'alert' }, ctx.describe(err)));
    } finally {
      busy = false;
    }
  }
  statusFilter.addEventListener('change', refresh);

  fill(view,
    h('div', { class: 'page-head' },
      h('h1', {}, 'Deletion jobs'),
      h('div', { class: 'head-tools' }, h('label', { for: 'f-status' }, 'Show '), statusFilter, updated,
        h('a', { class: 'button', href: '#/plan' }, 'Plan and schedule a deletion…'))),
    healthBox,
    listBox);
  await refresh();
  timer = setInterval(refresh, POLL_MS);
  return () => {
    gone = true;
    clearInterval(timer);
  };
}

// The file queue: files whose rows are gone and that must leave storage (GET /api/cleanup/stats and
// /api/files), the pending and the failed ones, a retry of the failed files, and one
// cleanup batch run on demand.
import { actionButton, fill, fmt, h, stat, table } from './dom.js';

export async function render(view, ctx, params) {
  let status = params.get('status') === 'failed' ? 'failed' : 'pending';
  const statsBox = h('div', {});
  const list = h('div', { id: 'file-list' });
  const tabs = h('div', { class: 'tabs', role: 'tablist' });

  async function retry(body, what) {
    try {
      const r = await ctx.api('POST', '/api/files/retry', { body });
      ctx.toast(`${what}: ${fmt.num(r.files_due)} files due again.`, 'ok');
    } catch (err) {
      ctx.toast(`Not retried: ${ctx.describe(err)}`, 'error');
    }
    refresh();
  }

  async function runBatch() {
    try {
      const r = await ctx.api('POST', '/api/cleanup/run');
      ctx.toast(`Cleanup batch: ${fmt.num(r.claimed)} claimed, ${fmt.num(r.deleted)} deleted, ${fmt.num(r.retrying)} to retry, ${fmt.num(r.failed)} failed.`, r.failed ? 'error' : 'ok');
    } catch (err) {
      ctx.toast(`The batch did not run: ${ctx.describe(err)}`, 'error');
    }
    refresh();
  }

  async function refresh() {
    fill(tabs, ['pending', 'failed'].map((s) => h('button', { type: 'button', role: 'tab', 'aria-selected': String(s === status), class: s === status ? 'active' : '', dataset: { tab: s }, onclick: () => { status = s; refresh(); } }, s)));
    try {
      const [stats, files] = await Promise.all([
        ctx.api('GET', '/api/cleanup/stats'),
        ctx.api('GET', '/api/files', { query: { status, limit: 100 } }),
      ]);
      fill(statsBox, h('section', { class: 'stats', id: 'file-stats' },
        stat('Pending', fmt.num(stats.pending)),
        stat('In progress', fmt.num(stats.in_progress), stats.in_progress ? 'info' : ''),
        stat('Retrying', fmt.num(stats.retrying), stats.retrying ? 'warn' : ''),
        stat('Failed', fmt.num(stats.failed), stats.failed ? 'bad' : ''),
        stat('Oldest pending', fmt.dur(stats.oldest_pending_age_seconds)),
        stat('Attempts', fmt.num(stats.attempts))));
      fill(list,
        h('div', { class: 'toolbar' },
          status === 'failed'
            ? actionButton(ctx, 'operator', 'Retry all failed', () => retry({ failed: true }, 'All failed files'), { id: 'retry-all', disabled: !files.files?.length, dataset: { action: 'retry-all' } })
            : null,
          actionButton(ctx, 'operator', 'Run a cleanup batch now', runBatch, { id: 'run-batch', dataset: { action: 'run-batch' } })),
        table([
          { label: 'file', class: 'wrap', cell: (f) => h('code', {}, f.storage_key) },
          { label: 'from', cell: (f) => f.source_table ?? '' },
          { label: 'attempts', class: 'num', cell: (f) => fmt.num(f.attempts) },
          { label: 'queued', cell: (f) => fmt.time(f.queued_at) },
          { label: status === 'failed' ? 'failed' : 'next attempt', cell: (f) => fmt.time(status === 'failed' ? f.failed_at ?? f.next_attempt_at : f.next_attempt_at) },
          { label: 'last error', class: 'wrap', cell: (f) => (f.last_error ? h('span', { class: 'error-text' }, f.last_error) : '') },
        ], files.files ?? [], { empty: status === 'failed' ? 'No failed files.' : 'No files waiting.', rowAttrs: (f) => ({ dataset: { file: f.id } }) }));
    } catch (err) {
      fill(list, h('p', { class: 'error', role: 'alert' }, ctx.describe(err)));
    }
  }

  fill(view, h('div', { class: 'page-head' }, h('h1', {}, 'File queue'), h('p', { class: 'muted' }, 'Files of deleted rows, removed from storage after their rows by the cleaner.')), statsBox, tabs, list);
  await refresh();
}

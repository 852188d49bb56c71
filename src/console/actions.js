// The action log (GET /api/actions): every change made through the HTTP API, the console's included,
// as the database recorded it: who (the token's name and role), what, when, and the result.
import { fill, fmt, h, table } from './dom.js';

export async function render(view, ctx) {
  const data = await ctx.api('GET', '/api/actions', { query: { limit: 100 } });
  fill(view,
    h('div', { class: 'page-head' }, h('h1', {}, 'Action log'),
      h('p', { class: 'muted' }, 'Every change made through this server, newest first, those the database refused included.')),
    table([
      { label: 'when', cell: (a) => fmt.time(a.at) },
      { label: 'who', cell: (a) => h('span', {}, a.actor ?? '', ' ', h('span', { class: `badge role-${a.role}` }, a.role ?? '')) },
      { label: 'what', class: 'wrap', cell: (a) => h('span', {}, h('strong', {}, a.action ?? ''), ' ', h('code', {}, `${a.method} ${a.path}`)) },
      { label: 'row', cell: (a) => (a.target_table ? h('code', {}, `${a.target_table} ${a.target_key ?? ''}`) : '') },
      { label: 'result', class: 'wrap', cell: (a) => h('span', { class: Number(a.status) < 400 ? 'ok-text' : 'error-text' },
        String(a.status), a.sqlstate ? ` ${a.sqlstate}` : '', summary(a.result)) },
    ], data.actions ?? [], { empty: 'Nothing has been changed through this server yet.', rowAttrs: (a) => ({ dataset: { action: a.action ?? '', status: a.status } }) }));
}

/** A short line of a result: its error message, or its first few fields. */
function summary(result) {
  if (!result || typeof result !== 'object') return result ? ` · ${result}` : '';
  if (result.error) return ` · ${result.error.message ?? result.error}`;
  const parts = Object.entries(result).filter(([, v]) => v === null || typeof v !== 'object').slice(0, 4).map(([k, v]) => `${k}: ${v}`);
  return parts.length ? ` · ${parts.join(', ')}` : '';
}

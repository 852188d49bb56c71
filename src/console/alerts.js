// Monitoring alerts (GET /api/alerts): the deletion patterns of the last 24 hours worth a look
// (deletion rate, bulk deletions, deep cascades), newest first. The job backlog's health is on the
// Jobs page.
import { fill, fmt, h, table } from './dom.js';

const KNOWN = ['severity', 'kind', 'rule', 'subject', 'object', 'problem', 'detail', 'seen_at'];

function cell(value, key) {
  if (value === null || value === undefined) return '';
  if (/(_at|^at)$/.test(key)) return fmt.time(value);
  if (typeof value === 'object') return h('code', {}, JSON.stringify(value));
  return String(value);
}

export async function render(view, ctx) {
  let alerts;
  try {
    alerts = (await ctx.api('GET', '/api/alerts')).alerts ?? [];
  } catch (err) {
    // The monitoring views read the audit log, which only deletion_admin may read.
    if (err.status !== 403) throw err;
    fill(view, h('div', { class: 'page-head' }, h('h1', {}, 'Monitoring alerts')),
      h('p', { class: 'empty', id: 'alerts-refused' }, `Your role (${ctx.session.role}) may not read the monitoring alerts: they come from the audit log, which only an admin reads. ${ctx.describe(err)}`));
    return;
  }
  // The columns the alerts carry, the well-known ones first (the monitoring views may add more).
  const keys = [...new Set(alerts.flatMap((a) => Object.keys(a)))].sort((a, b) => {
    const ia = KNOWN.indexOf(a), ib = KNOWN.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
  fill(view,
    h('div', { class: 'page-head' }, h('h1', {}, 'Monitoring alerts'),
      h('p', { class: 'muted' }, 'What the monitoring views raised in the last 24 hours: deletion rates above their threshold, bulk deletions, deep cascades. The job backlog\'s health is on the Jobs page.')),
    table(keys.map((k) => ({ label: k.replace(/_/g, ' '), class: ['problem', 'detail'].includes(k) ? 'wrap' : undefined, cell: (a) => (k === 'severity' ? h('span', { class: `tag sev-${a[k]}` }, a[k]) : cell(a[k], k)) })),
      alerts, { empty: 'No alerts: nothing unusual in the last 24 hours.', rowAttrs: (a) => ({ class: 'alert-row', dataset: { severity: a.severity ?? '' } }) }));
}

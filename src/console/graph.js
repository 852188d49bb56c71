// The cascade of a planned delete, drawn as inline SVG: one box per (table, action) of the plan, in
// columns by foreign-key depth (the target on the left), and one arrow per foreign key that brought
// rows from a parent to a child (the plan's edges). Colour says the action: deleted, soft-deleted,
// set to NULL or default, or blocking the delete.
import { s } from './dom.js';

const W = 196;
const H = 46;
const GAP_X = 56;
const GAP_Y = 14;
const PAD = 12;

export function actionClass(action) {
  if (action.startsWith('blocked')) return 'blocked';
  if (action === 'soft delete') return 'soft';
  if (action.startsWith('set ')) return 'setnull';
  return 'delete';
}

function shortName(table) {
  return table.startsWith('public.') ? table.slice('public.'.length) : table;
}

/** The SVG of the plan rows and edges ({parent, child, via}). */
export function cascadeGraph(rows, edges) {
  const nodes = rows.map((r, i) => ({ ...r, id: i, depth: Number(r.depth) }));
  const columns = new Map();
  for (const n of [...nodes].sort((a, b) => a.depth - b.depth || String(a.table_name).localeCompare(String(b.table_name)) || a.action.localeCompare(b.action))) {
    if (!columns.has(n.depth)) columns.set(n.depth, []);
    columns.get(n.depth).push(n);
  }
  const depths = [...columns.keys()].sort((a, b) => a - b);
  // Each column ordered by where its parents sit in the columns before it (the mean of their
  // places), so that arrows cross as little as they easily can.
  const place = new Map();
  const parentsOf = (n) => (edges ?? []).filter((e) => e.child === n.table_name && (n.via ?? []).includes(e.via ?? e.constraint)).map((e) => e.parent);
  for (const d of depths) {
    const list = columns.get(d);
    const weight = (n) => {
      const ps = parentsOf(n).map((t) => place.get(t)).filter((x) => x !== undefined);
      return ps.length ? ps.reduce((a, b) => a + b, 0) / ps.length : 0;
    };
    list.sort((a, b) => weight(a) - weight(b) || a.action.localeCompare(b.action) || String(a.table_name).localeCompare(String(b.table_name)));
    list.forEach((n, i) => {
      if (!place.has(n.table_name) || ['delete', 'soft delete'].includes(n.action)) place.set(n.table_name, i);
    });
  }
  const tallest = Math.max(...[...columns.values()].map((c) => c.length));
  const height = PAD * 2 + tallest * H + (tallest - 1) * GAP_Y;
  depths.forEach((d, col) => {
    const list = columns.get(d);
    const top = (height - (list.length * H + (list.length - 1) * GAP_Y)) / 2;
    list.forEach((n, i) => {
      n.x = PAD + col * (W + GAP_X);
      n.y = top + i * (H + GAP_Y);
    });
  });
  const width = PAD * 2 + depths.length * W + (depths.length - 1) * GAP_X;

  // The node an edge starts from is the parent table's reached rows (deleted or soft-deleted); the
  // node it ends at is the child's row whose `via` names the edge's foreign key.
  const reached = (table) => nodes.find((n) => n.table_name === table && ['delete', 'soft delete'].includes(n.action));
  const target = (edge) => nodes.find((n) => n.table_name === edge.child && (n.via ?? []).includes(edge.via)) ?? nodes.find((n) => n.table_name === edge.child);
  // An edge names its foreign key as `constraint` (GET .../plan); `via` is the plan rows' word for it.
  const named = (edges ?? []).map((e) => ({ ...e, via: e.via ?? e.constraint }));
  const arrows = [];
  for (const e of named) {
    const from = reached(e.parent);
    const to = target(e);
    if (!from || !to) continue;
    const cls = `edge ${actionClass(to.action)}`;
    let d;
    if (to.x > from.x) {
      const x1 = from.x + W, y1 = from.y + H / 2, x2 = to.x - 4, y2 = to.y + H / 2;
      const mid = (x1 + x2) / 2;
      d = `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`;
    } else {
      // A key back to the same or an earlier column (a self-reference, a cycle): a loop over the top.
      const x1 = from.x + W * 0.7, y1 = from.y, x2 = to.x + W * 0.3, y2 = to.y - 4;
      const lift = Math.min(from.y, to.y) - 24;
      d = `M${x1},${y1} C${x1},${lift} ${x2},${lift} ${x2},${y2}`;
    }
    arrows.push(s('path', { d, class: cls, 'marker-end': 'url(#arrow)', dataset: { via: e.via } },
      s('title', {}, `${e.via}: ${e.parent} → ${e.child}`)));
  }

  const boxes = nodes.map((n) => s('g', { class: `node ${actionClass(n.action)}`, transform: `translate(${n.x},${n.y})`, dataset: { table: n.table_name, action: n.action } },
    s('title', {}, `${n.table_name}: ${n.action}, ${n.rows} rows${n.via?.length ? ` via ${n.via.join(', ')}` : ''}${n.detail ? `\n${n.detail}` : ''}`),
    s('rect', { width: W, height: H, rx: 6 }),
    s('text', { x: 10, y: 19, class: 'node-name' }, shortName(String(n.table_name)).slice(0, 26)),
    s('text', { x: 10, y: 36, class: 'node-detail' }, `${n.action} · ${Number(n.rows).toLocaleString('en')} rows`)));

  return s('svg', { class: 'cascade', id: 'cascade-graph', viewBox: `0 ${-30} ${width} ${height + 30}`, width, height: height + 30, role: 'img', 'aria-label': 'the cascade of the delete' },
    s('defs', {}, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      s('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }))),
    arrows,
    boxes);
}

// Building the page: every element through h(), every value from the API as a text node, never as
// HTML, so a reason or a key that holds markup shows as the text it is.

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value);
    else if (name === 'dataset') Object.assign(el.dataset, value);
    else if (name === 'value' && 'value' in el) el.value = value;
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** An HTML element: h('button', { class: 'primary', onclick }, 'Restore'). */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** An SVG element (the cascade graph). */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const number = new Intl.NumberFormat('en');

export const fmt = {
  num: (n) => (n === null || n === undefined || Number.isNaN(Number(n)) ? '—' : number.format(Number(n))),
  /** A time as "2026-12-02 04:10:07" in the browser's zone, with the ISO text as its tooltip. */
  time(iso) {
    if (!iso) return '—';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    const p = (x) => String(x).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  },
  /** Seconds as "42 s", "3 min", "2.5 h", "4 d". */
  dur(seconds) {
    if (seconds === null || seconds === undefined) return '—';
    const x = Number(seconds);
    if (x < 60) return `${Math.round(x)} s`;
    if (x < 3600) return `${Math.round(x / 60)} min`;
    if (x < 86400) return `${(x / 3600).toFixed(1)} h`;
    return `${(x / 86400).toFixed(1)} d`;
  },
  /** A key for display: JSON arrays and objects as JSON, the rest as text. */
  key(k) {
    // The trash names a root by its key columns ([{"id": 1}]): shown as the values alone.
    if (Array.isArray(k) && k.length === 1 && k[0] && typeof k[0] === 'object') {
      const values = Object.values(k[0]);
      return values.length === 1 ? String(values[0]) : JSON.stringify(values);
    }
    return k !== null && typeof k === 'object' ? JSON.stringify(k) : String(k ?? '');
  },
};

/** A table: columns [{ label, cell: (row) => node|text, class? }], rows, and what to say when empty. */
export function table(columns, rows, { empty = 'Nothing here.', rowAttrs } = {}) {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  return h('div', { class: 'table-wrap' },
    h('table', {},
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { class: c.class === 'wrap' ? undefined : c.class }, c.label)))),
      h('tbody', {}, rows.map((r) => h('tr', rowAttrs?.(r) ?? {}, columns.map((c) => h('td', { class: c.class }, c.cell(r))))))));
}

/** A labelled figure for a summary strip: stat('Pending', 3, 'warn'). */
export function stat(label, value, tone) {
  return h('div', { class: `stat ${tone ?? ''}`, dataset: { stat: label.toLowerCase().replace(/\s+/g, '-') } },
    h('span', { class: 'stat-value' }, value),
    h('span', { class: 'stat-label' }, label));
}

/** A button an action needs `role` for: disabled, with the reason as its tooltip, when the session's role is lower. */
export function actionButton(ctx, role, label, onclick, attrs = {}) {
  const allowed = ctx.can(role);
  return h('button', {
    type: 'button',
    ...attrs,
    onclick: allowed ? onclick : undefined,
    disabled: !allowed || attrs.disabled,
    title: allowed ? attrs.title : `needs the ${role} role (you are ${ctx.session.role})`,
    dataset: { needs: role, ...(attrs.dataset ?? {}) },
  }, label);
}

/**
 * A modal dialog (the native <dialog>): title, body nodes, and buttons [{ label, value, class }].
 * Resolves with the value of the button pressed (undefined on Escape).
 */
export function dialog(title, body, buttons) {
  return new Promise((resolve) => {
    const dlg = h('dialog', { class: 'modal', 'aria-label': title },
      h('h2', {}, title),
      h('div', { class: 'modal-body' }, body),
      h('div', { class: 'modal-actions' },
        buttons.map((b) => h('button', { type: 'button', class: b.class, dataset: { value: b.value ?? '' }, onclick: () => { dlg.close(); resolve(b.value); } }, b.label))));
    dlg.addEventListener('cancel', () => resolve(undefined));
    dlg.addEventListener('close', () => dlg.remove());
    document.body.append(dlg);
    dlg.showModal();
  });
}

/** A select of the registered tables (from GET /api/tables), with an optional "any table" entry. */
export function tableSelect(tables, { name = 'table', any = false, value } = {}) {
  return h('select', { name, id: `f-${name}` },
    any ? h('option', { value: '' }, 'any table') : null,
    tables.map((t) => h('option', { value: t.table, selected: t.table === value }, t.table)));
}

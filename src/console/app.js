// The console's shell: sign-in with a token, the session (GET /api/whoami says the token's name and
// role), the page router (#/jobs, #/trash, ...) and the messages strip. Each page is a module with
// render(view, ctx) that may return a function to call when the page is left (to stop its polling).
import { api, ApiError, forgetToken, saveToken, token } from './api.js';
import { fill, h } from './dom.js';
import * as jobs from './jobs.js';
import * as trash from './trash.js';
import * as plan from './plan.js';
import * as files from './files.js';
import * as alerts from './alerts.js';
import * as actions from './actions.js';

const PAGES = { jobs, trash, plan, files, alerts, actions };
const RANK = { viewer: 1, operator: 2, admin: 3 };

const view = document.getElementById('view');
let session = null;
let tables = null;
let leave = null;

/** A message in the strip at the top right; errors stay until clicked, the rest for 6 s. */
export function toast(message, kind = 'info') {
  const el = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status', onclick: () => el.remove() }, message);
  document.getElementById('toasts').append(el);
  if (kind !== 'error') setTimeout(() => el.remove(), 6000);
}

/** An API error as one line: the message, its SQLSTATE and the hint. */
export function describe(err) {
  if (!(err instanceof ApiError)) return String(err?.message ?? err);
  return [err.message, err.sqlstate ? `(SQLSTATE ${err.sqlstate})` : `(HTTP ${err.status})`, err.hint ? `— ${err.hint}` : ''].filter(Boolean).join(' ');
}

const ctx = {
  get session() {
    return session;
  },
  /** Whether the session's role is at least `role`. */
  can: (role) => Boolean(session && RANK[session.role] >= RANK[role]),
  toast,
  describe,
  api,
  /** The registered tables, fetched once a session. */
  async tables() {
    tables ??= (await api('GET', '/api/tables')).tables;
    return tables;
  },
  go: (hash) => {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
};

function signInPage(message) {
  document.getElementById('nav').hidden = true;
  document.getElementById('session').hidden = true;
  const input = h('input', { type: 'password', name: 'token', id: 'token', autocomplete: 'off', required: true, placeholder: 'token', 'aria-label': 'token' });
  const error = h('p', { class: 'error', id: 'sign-in-error', role: 'alert' }, message ?? '');
  const form = h('form', { class: 'sign-in card', id: 'sign-in', onsubmit: async (e) => {
    e.preventDefault();
    saveToken(input.value.trim());
    await start();
  } },
    h('h1', {}, 'Sign in'),
    h('p', {}, 'Paste the token you were given for this server (a viewer, operator or admin token). It is kept in this tab only and sent with each request.'),
    input,
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
    error);
  fill(view, form);
  input.focus();
}

async function start() {
  if (!token()) return signInPage();
  try {
    session = await api('GET', '/api/whoami');
  } catch (err) {
    forgetToken();
    session = null;
    return signInPage(err instanceof ApiError && err.status === 401 ? 'That token is not valid here.' : describe(err));
  }
  tables = null;
  document.getElementById('who').textContent = session.name;
  const badge = document.getElementById('role');
  badge.textContent = session.role;
  badge.className = `badge role-${session.role}`;
  document.body.dataset.role = session.role;
  document.getElementById('nav').hidden = false;
  document.getElementById('session').hidden = false;
  route();
}

async function route() {
  if (!session) return;
  leave?.();
  leave = null;
  const [, name = 'jobs', rest = ''] = /^#\/([a-z]+)\/?(.*)$/.exec(location.hash) ?? [];
  const page = PAGES[name] ?? jobs;
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.page === name);
  document.body.dataset.page = name;
  const params = new URLSearchParams(rest.startsWith('?') ? rest.slice(1) : rest);
  fill(view, h('p', { class: 'loading' }, 'Loading…'));
  try {
    leave = (await page.render(view, ctx, params)) ?? null;
  } catch (err) {
    fill(view, h('p', { class: 'error', role: 'alert' }, describe(err)));
  }
}

document.getElementById('sign-out').addEventListener('click', () => {
  leave?.();
  leave = null;
  forgetToken();
  session = null;
  delete document.body.dataset.role;
  signInPage('Signed out.');
});
window.addEventListener('hashchange', route);
window.addEventListener('deletion-kit:unauthorized', () => {
  if (!session) return;
  leave?.();
  leave = null;
  forgetToken();
  session = null;
  signInPage('The server no longer accepts your token: sign in again.');
});

start();

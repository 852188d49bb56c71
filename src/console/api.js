// The console's only way to the database: the HTTP API of `deletion-kit serve`, with the token the
// person signed in with. The token lives in sessionStorage (this tab only, gone when it closes) and
// travels as a bearer header, never as a cookie: a page of another origin cannot make the browser
// send it, so a forged cross-origin POST arrives without a token and is refused.

const KEY = 'deletion-kit.token';

export const token = () => sessionStorage.getItem(KEY);
export const saveToken = (t) => sessionStorage.setItem(KEY, t);
export const forgetToken = () => sessionStorage.removeItem(KEY);

/** An error answered by the API: HTTP status, SQLSTATE, message and hint (the body's `error`). */
export class ApiError extends Error {
  constructor(status, error) {
    super(error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.sqlstate = error?.sqlstate ?? null;
    this.hint = error?.hint ?? null;
    this.detail = error?.detail ?? null;
  }
}

/**
 * One API call: api('GET', '/api/jobs', { query: { status: 'running' } }), or with a JSON body.
 * A 401 signs the tab out (the token is wrong or was revoked) and tells the app.
 */
export async function api(method, path, { query, body } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
  }
  const headers = { accept: 'application/json' };
  const t = token();
  if (t) headers.authorization = `Bearer ${t}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'omit', cache: 'no-store' });
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { error: { message: text } };
  }
  if (!res.ok) {
    const err = new ApiError(res.status, typeof data?.error === 'string' ? { message: data.error } : data?.error);
    if (res.status === 401) window.dispatchEvent(new CustomEvent('deletion-kit:unauthorized', { detail: err }));
    throw err;
  }
  return data;
}

/** A path segment: a table name or a key, URL-encoded (a composite key is a JSON array). */
export const seg = (x) => encodeURIComponent(typeof x === 'object' ? JSON.stringify(x) : String(x));

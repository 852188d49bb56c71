// The web console's static files, served by `deletion-kit serve`: GET / is the page, GET /console/*
// its scripts and styles (plain HTML, CSS and ES modules in this folder; no build step, nothing is
// downloaded at run time). The console is a client of the HTTP API like any other: it holds the
// token the person signs in with (sessionStorage) and sends it as a bearer header, so the server
// decides what each role may do; the page only hides or disables what the role may not do.
//
// consoleHandler(req, res) answers the console's own paths and returns true, or returns false and
// touches nothing, so the API router calls it first and falls through.
import { existsSync, readFileSync, statSync } from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// The folder of the page and its assets: this one when run from source (tsx), and the package's
// src/console when this module runs compiled from dist/console (the static files are not compiled).
const HERE = path.dirname(fileURLToPath(import.meta.url));
const DIR = existsSync(path.join(HERE, 'index.html')) ? HERE : path.resolve(HERE, '..', '..', 'src', 'console');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

// Scripts and styles only from this origin, no inline script, no framing (clickjacking), no
// referrer (the page's address carries no secret, but there is no reason to send it anywhere).
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

/** The console's files by URL path: `/` is index.html, `/console/<name>` a file of this folder (no sub-paths). */
function fileFor(pathname: string): string | undefined {
  if (pathname === '/' || pathname === '/console' || pathname === '/console/') return path.join(DIR, 'index.html');
  const m = /^\/console\/([a-z][a-z0-9_-]*\.(?:js|css|svg|html))$/.exec(pathname);
  if (!m) return undefined;
  return path.join(DIR, m[1]);
}

/** Serves the console's page and assets; false (nothing written) for every other request. */
export function consoleHandler(req: http.IncomingMessage, res: http.ServerResponse): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
  const file = fileFor(pathname);
  if (!file) return false;
  let body: Buffer;
  try {
    if (!statSync(file).isFile()) return false;
    body = readFileSync(file);
  } catch {
    if (pathname.startsWith('/console/')) {
      res.writeHead(404, { 'content-type': 'application/json; charset=utf-8', ...SECURITY_HEADERS });
      res.end(JSON.stringify({ error: `no such console file: ${pathname}` }) + '\n');
      return true;
    }
    return false;
  }
  res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'content-length': body.length, ...SECURITY_HEADERS });
  res.end(req.method === 'HEAD' ? undefined : body);
  return true;
}

/** Whether a path is the console's (the API router need not know which files exist). */
export function isConsolePath(pathname: string): boolean {
  return fileFor(pathname) !== undefined;
}

// The "Account Overview" page of the daemon's HTTP port (GET /): per mailbox its state, the
// most recent sync, pending changes, errors and the next retry, updated every 2 s by polling
// GET /api/status; "Sync now" / "Retry" POST /api/mailboxes/<login>/sync with the status token.
//
// What protects it (docs/security.md, D50, D51):
// - Reading needs no token (what `sync-cli status` and /healthz show anyway); acting does: an
//   `Authorization: Bearer <token>` header, which a page of another origin cannot send without a
//   CORS preflight this server never answers. An Origin or Sec-Fetch-Site header of another
//   origin is refused as well.
// - The token lives in a 0600 file (or env) and never appears in what the server sends: the
//   admin pastes it into the page, which keeps it in sessionStorage of this origin only.
// - Static HTML/JS/CSS with a strict Content-Security-Policy (no inline script, no framing);
//   every value is inserted with textContent, so a hostile server's error text stays text.
import crypto from 'node:crypto';
import type http from 'node:http';
import path from 'node:path';
import type { Paths } from '../config/paths.js';
import type { Config } from '../config/schema.js';
import { registerSecret } from '../log/redact.js';
import { loadSecretFile } from './webhook.js';

export const STATUS_TOKEN_ENV = 'SYNC_CLI_STATUS_TOKEN';

export function statusTokenFile(config: Config, paths: Paths): string {
  return config.daemon.statusTokenFile ? path.resolve(paths.configDir, config.daemon.statusTokenFile) : path.join(paths.dataDir, 'status-token');
}

/** The token of the page's buttons: env SYNC_CLI_STATUS_TOKEN, else the 0600 file (created on first start). */
export function loadStatusToken(config: Config, paths: Paths, env: NodeJS.ProcessEnv = process.env): { token: string; source: string; created: boolean } {
  const fromEnv = env[STATUS_TOKEN_ENV];
  if (fromEnv) {
    registerSecret(fromEnv);
    return { token: fromEnv, source: `env ${STATUS_TOKEN_ENV}`, created: false };
  }
  const file = statusTokenFile(config, paths);
  const { secret, created } = loadSecretFile(file, 'the status page token');
  return { token: secret, source: file, created };
}

export interface StatusPageMailbox {
  user: string;
  state: string;
  /** A sync of it runs right now. */
  running: boolean;
  /** Sync now / Retry was pressed (or a push arrived) and the sync has not started yet. */
  queued: boolean;
  lastSync: string | null;
  lastSuccess: string | null;
  pending: number;
  lastError: string | null;
  /** Items whose last write failed and that are retried on the next sync. */
  itemErrors: number;
  nextRun: string | null;
  /** A hard failure (auth, configuration…): not retried until its settings change; lastError says the fix. */
  held?: boolean;
}

export interface StatusPageDocument {
  daemon: { status: 'ok' | 'stopping'; uptimeSeconds: number };
  /** Whether this request carried the right token (the buttons work). */
  authorized: boolean;
  /** Whether the buttons can work at all (a token is configured). */
  actionsEnabled: boolean;
  mailboxes: StatusPageMailbox[];
  now: string;
}

export interface StatusPageHandlers {
  /** Undefined: the buttons are off (the token could not be loaded). */
  token: string | undefined;
  status(): Omit<StatusPageDocument, 'authorized' | 'actionsEnabled' | 'now'> | Promise<Omit<StatusPageDocument, 'authorized' | 'actionsEnabled' | 'now'>>;
  /** Queues a sync of the mailbox of this login (a held one too); false when there is no such mailbox. */
  syncNow(login: string): boolean | Promise<boolean>;
}

function tokenMatches(expected: string, header: string | undefined): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) return false;
  // Compare digests: equal length, constant time, whatever was sent.
  const a = crypto.createHash('sha256').update(m[1]!).digest();
  const b = crypto.createHash('sha256').update(expected).digest();
  return crypto.timingSafeEqual(a, b);
}

/** A request from another origin (a web page in a local browser) is refused for actions. */
function crossOrigin(req: http.IncomingMessage): string | null {
  const site = req.headers['sec-fetch-site'];
  if (site && site !== 'same-origin') return `Sec-Fetch-Site: ${site}`;
  const origin = req.headers.origin;
  if (origin !== undefined) {
    let host: string;
    try {
      host = new URL(origin).host;
    } catch {
      return `Origin: ${origin}`;
    }
    if (host.toLowerCase() !== String(req.headers.host ?? '').toLowerCase()) return `Origin: ${origin}`;
  }
  return null;
}

const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

function reply(res: http.ServerResponse, status: number, body: string, type: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), ...extra });
  res.end(body);
}
const json = (res: http.ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}) => reply(res, status, JSON.stringify(body) + '\n', 'application/json', extra);

/** Handles GET /, /status.js, /status.css, /api/status and POST /api/mailboxes/<login>/sync; false for other paths. */
export function handleStatusPage(req: http.IncomingMessage, res: http.ServerResponse, pathname: string, h: StatusPageHandlers): boolean {
  const get = req.method === 'GET' || req.method === 'HEAD';
  if (pathname === '/' || pathname === '/status') {
    if (!get) return (json(res, 405, { error: 'use GET' }), true);
    return (reply(res, 200, STATUS_HTML, 'text/html; charset=utf-8'), true);
  }
  if (pathname === '/status.js') return (reply(res, 200, STATUS_JS, 'text/javascript; charset=utf-8'), true);
  if (pathname === '/status.css') return (reply(res, 200, STATUS_CSS, 'text/css; charset=utf-8'), true);
  if (pathname === '/favicon.ico') return (reply(res, 200, FAVICON, 'image/svg+xml'), true);
  if (pathname === '/api/status') {
    if (!get) return (json(res, 405, { error: 'use GET' }), true);
    const authorized = h.token !== undefined && tokenMatches(h.token, req.headers.authorization);
    // The status is read from the state store (async); the request is answered when it is there.
    void Promise.resolve(h.status()).then(
      (status) => json(res, 200, { ...status, authorized, actionsEnabled: h.token !== undefined, now: new Date().toISOString() } satisfies StatusPageDocument),
      (err: Error) => json(res, 500, { error: `cannot read the status: ${err.message}` }),
    );
    return true;
  }
  const m = /^\/api\/mailboxes\/([^/]+)\/sync$/.exec(pathname);
  if (m) {
    if (req.method !== 'POST') return (json(res, 405, { error: 'use POST' }), true);
    const foreign = crossOrigin(req);
    if (foreign) return (json(res, 403, { error: `refused: the request comes from another web page (${foreign})` }), true);
    if (h.token === undefined) return (json(res, 503, { error: 'the buttons are off: no status token (see the daemon log and docs/operations.md)' }), true);
    if (!tokenMatches(h.token, req.headers.authorization)) {
      return (json(res, 401, { error: 'missing or wrong token: send Authorization: Bearer <the token in the status-token file>' }, { 'WWW-Authenticate': 'Bearer realm="sync-cli"' }), true);
    }
    let login: string;
    try {
      login = decodeURIComponent(m[1]!);
    } catch {
      return (json(res, 400, { error: 'bad mailbox name in the path' }), true);
    }
    // On a cluster queueing is a database write (D91): answered when it is done.
    void Promise.resolve()
      .then(() => h.syncNow(login))
      .then(
        (found) => (found ? json(res, 202, { queued: [login] }) : json(res, 404, { error: `no mailbox is assigned to '${login}'` })),
        (err: Error) => json(res, 503, { error: `cannot queue the sync of '${login}': ${err.message}; try again` }),
      );
    return true;
  }
  return false;
}

const STATUS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sync-cli — Account Overview</title>
<link rel="icon" href="/favicon.ico" type="image/svg+xml">
<link rel="stylesheet" href="/status.css">
<script src="/status.js" defer></script>
</head>
<body>
<header>
  <h1>Account Overview</h1>
  <p id="daemon" aria-live="polite">Loading…</p>
</header>
<form id="auth" autocomplete="off">
  <label for="token">Status token</label>
  <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" placeholder="paste the content of the status-token file">
  <button id="signin" type="submit">Unlock buttons</button>
  <button id="signout" type="button" hidden>Lock</button>
  <span id="authstate" role="status"></span>
</form>
<table id="mailboxes">
  <thead><tr><th>Mailbox</th><th>State</th><th>Most recent sync</th><th>Pending</th><th>Errors</th><th>Next retry / run</th><th></th></tr></thead>
  <tbody></tbody>
</table>
<p id="error" role="alert"></p>
<footer>Updates every 2 seconds. Reading needs no token; Sync now and Retry do (docs/operations.md, "Status page").</footer>
</body>
</html>
`;

// A small round "sync" mark, so that browsers do not log a 404 for the icon.
const FAVICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="#116329"/><path d="M4 8a4 4 0 0 1 7-2.6M12 8a4 4 0 0 1-7 2.6" stroke="#fff" stroke-width="1.6" fill="none"/></svg>';

const STATUS_CSS = `body { font: 15px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1b1f24; background: #fafbfc; }
h1 { font-size: 1.4rem; margin: 0 0 .2rem; }
header p { margin: 0 0 1rem; color: #57606a; }
form { margin: 0 0 1rem; display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; }
input { font: inherit; padding: .25rem .4rem; width: 22rem; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; padding: .45rem .6rem; border-bottom: 1px solid #d0d7de; vertical-align: top; }
th { background: #f0f3f6; font-weight: 600; }
td.error { color: #a40e26; max-width: 28rem; overflow-wrap: anywhere; }
.state { font-weight: 600; padding: .1rem .45rem; border-radius: .6rem; background: #eaeef2; }
.state.success { background: #dafbe1; color: #116329; }
.state.failed { background: #ffebe9; color: #a40e26; }
.state.running, .state.queued { background: #fff8c5; color: #7d4e00; }
button { font: inherit; padding: .25rem .7rem; cursor: pointer; white-space: nowrap; }
.sub { display: block; color: #57606a; font-size: .85rem; }
button:disabled { cursor: not-allowed; }
#error { color: #a40e26; }
footer { margin-top: 1rem; color: #57606a; font-size: .85rem; }
`;

const STATUS_JS = `'use strict';
(function () {
  var KEY = 'sync-cli-status-token';
  var tbody = document.querySelector('#mailboxes tbody');
  var last = null;
  var pressed = {};
  function token() { return sessionStorage.getItem(KEY); }
  function headers() { var t = token(); return t ? { Authorization: 'Bearer ' + t } : {}; }
  function el(tag, text, cls) { var e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; }
  function ago(iso, now) {
    if (!iso) return '—';
    var s = Math.round((Date.parse(iso) - now) / 1000), a = Math.abs(s);
    var t = a < 90 ? a + ' s' : a < 5400 ? Math.round(a / 60) + ' min' : a < 129600 ? Math.round(a / 3600) + ' h' : Math.round(a / 86400) + ' d';
    return (s <= 0 ? t + ' ago' : 'in ' + t) + ' (' + new Date(iso).toLocaleString() + ')';
  }
  function render(doc) {
    last = doc;
    var now = Date.parse(doc.now);
    document.getElementById('daemon').textContent = 'Daemon ' + (doc.daemon.status === 'ok' ? 'running' : 'stopping') + ', up ' + Math.round(doc.daemon.uptimeSeconds) + ' s; ' + doc.mailboxes.length + ' mailbox(es).';
    var signedIn = doc.authorized;
    document.getElementById('signout').hidden = !token();
    document.getElementById('authstate').textContent = !doc.actionsEnabled ? 'Buttons are off: the daemon has no status token.' : signedIn ? 'Buttons unlocked.' : token() ? 'Token not accepted.' : 'Read-only: paste the token to use the buttons.';
    tbody.textContent = '';
    doc.mailboxes.forEach(function (m) {
      var tr = el('tr');
      tr.dataset.user = m.user;
      var shown = m.running ? 'running' : m.queued ? 'queued' : m.state;
      tr.appendChild(el('td', m.user));
      var st = el('td'); st.appendChild(el('span', shown, 'state ' + shown)); tr.appendChild(st);
      var synced = el('td', ago(m.lastSync, now));
      if (m.state === 'failed') synced.appendChild(el('span', 'last success: ' + (m.lastSuccess ? ago(m.lastSuccess, now) : 'never'), 'sub'));
      tr.appendChild(synced);
      tr.appendChild(el('td', String(m.pending)));
      var errors = m.lastError && m.state === 'failed' ? m.lastError : '';
      if (m.itemErrors) errors = (errors ? errors + ' — ' : '') + m.itemErrors + ' item(s) failed, retried next sync';
      tr.appendChild(el('td', errors || '—', errors ? 'error' : undefined));
      tr.appendChild(el('td', m.held ? 'when fixed (see the error)' : ago(m.nextRun, now)));
      var td = el('td');
      var b = el('button', m.state === 'failed' ? 'Retry' : 'Sync now');
      b.type = 'button';
      b.disabled = !signedIn || m.running || m.queued || pressed[m.user] === true;
      if (!signedIn) b.title = 'needs the status token';
      b.addEventListener('click', function () { act(m.user, b); });
      td.appendChild(b);
      tr.appendChild(td);
      tbody.appendChild(tr);
    });
  }
  function showError(text) { document.getElementById('error').textContent = text || ''; }
  function refresh() {
    return fetch('/api/status', { headers: headers(), cache: 'no-store' })
      .then(function (r) { if (!r.ok) throw new Error('status ' + r.status); return r.json(); })
      .then(function (doc) { showError(''); render(doc); })
      .catch(function (e) { showError('Cannot reach the daemon (' + e.message + '); retrying.'); });
  }
  function act(user, button) {
    pressed[user] = true;
    button.disabled = true;
    fetch('/api/mailboxes/' + encodeURIComponent(user) + '/sync', { method: 'POST', headers: headers(), cache: 'no-store' })
      .then(function (r) { return r.json().then(function (body) { if (!r.ok) throw new Error(body.error || ('status ' + r.status)); }); })
      .then(function () { showError(''); })
      .catch(function (e) { showError(user + ': ' + e.message); })
      .then(function () { delete pressed[user]; return refresh(); });
  }
  document.getElementById('auth').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var input = document.getElementById('token');
    var t = input.value.trim();
    input.value = '';
    if (t) sessionStorage.setItem(KEY, t);
    refresh();
  });
  document.getElementById('signout').addEventListener('click', function () { sessionStorage.removeItem(KEY); refresh(); });
  refresh();
  setInterval(refresh, 2000);
})();
`;

// The status page (#14 B) in a real browser: Debian's chromium driven by playwright-core,
// against the daemon as admins run it (`node bin/sync-cli --home … daemon`) and a real Radicale.
// Read-only without the token; with it, "Sync now" and "Retry" queue a sync and the page shows
// the state change without a reload. A page of another origin cannot press the buttons or read
// the status, and the token never appears in what the server sends.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resolvePaths } from '../../src/config/paths.js';
import { startDaemonHttpServer } from '../../src/daemon/http-server.js';
import { DaemonMetrics } from '../../src/daemon/metrics.js';
import type { StatusPageMailbox } from '../../src/daemon/status-page.js';
import { createLogger } from '../../src/log/logger.js';
import type { Config } from '../../src/config/schema.js';
import { runCli } from '../helpers/cli.js';
import { Scenario } from '../helpers/scenario.js';
import { freePort } from '../helpers/servers.js';
import { DaemonProcess, waitFor, waitForStates } from './daemon-process.js';

const CHROMIUM = process.env.SYNC_CLI_CHROMIUM ?? '/usr/bin/chromium';
const hasChromium = fs.existsSync(CHROMIUM);
if (!hasChromium) console.log(`skipped the status page browser tests: no chromium at ${CHROMIUM} (apt-get install chromium, or set SYNC_CLI_CHROMIUM)`);

/** Set SYNC_CLI_SCREENSHOT=1 to refresh docs/status-page.png; otherwise it goes to a temp file. */
const SCREENSHOT = process.env.SYNC_CLI_SCREENSHOT ? path.resolve('docs/status-page.png') : path.join(os.tmpdir(), `sync-cli-status-page-${process.pid}.png`);

let browser: Browser | undefined;
let sc: Scenario | undefined;
let daemon: DaemonProcess | undefined;
let foreign: http.Server | undefined;

beforeAll(async () => {
  if (!hasChromium) return;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
}, 60_000);
afterAll(async () => {
  await browser?.close();
});
afterEach(async () => {
  await daemon?.stop('SIGKILL');
  daemon = undefined;
  await sc?.stop();
  sc = undefined;
  await new Promise<void>((r) => (foreign ? foreign.close(() => r()) : r()));
  foreign = undefined;
});

async function startDaemon(): Promise<{ url: string; token: string; s: Scenario; d: DaemonProcess }> {
  const port = await freePort();
  const s = await Scenario.create();
  sc = s;
  // No automatic sync after the first ones: every later sync is one the page asked for.
  s.setConfig((c: Config) => {
    Object.assign(c.daemon, { httpPort: port, intervalSeconds: 3600, retrySeconds: 3600, maxBackoffSeconds: 3600 });
    c.dav.retries = 0;
    c.dav.timeoutMs = 3000;
  });
  const d = DaemonProcess.start(s.home);
  daemon = d;
  await waitForStates(s.home, (st) => st.mailboxes.length > 0 && st.mailboxes.every((m) => m.state === 'success'), 30_000).catch((err: Error) => {
    throw new Error(`${err.message}\n${d.output().slice(-3000)}`);
  });
  const tokenFile = path.join(resolvePaths(s.home).dataDir, 'status-token');
  expect(fs.statSync(tokenFile).mode & 0o777).toBe(0o600);
  return { url: `http://127.0.0.1:${port}`, token: fs.readFileSync(tokenFile, 'utf8').trim(), s, d };
}

/** A POST with exactly these headers (fetch would not send Host or Origin as given). */
function rawPost(target: string, headers: Record<string, string>): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = http.request(target, { method: 'POST', headers: { 'Content-Length': '0', ...headers } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as unknown) : null }));
    });
    req.on('error', reject);
    req.end();
  });
}

const row = (page: Page, user: string) => page.locator(`#mailboxes tbody tr[data-user="${user}"]`);
const cell = (page: Page, user: string, n: number) => row(page, user).locator('td').nth(n);

describe.skipIf(!hasChromium)('status page in chromium', () => {
  it('read-only without the token; with it, Sync now and Retry queue syncs and the states change live', async () => {
    const { url, token, s, d } = await startDaemon();
    // `sync-cli status` points the admin to the page.
    expect(runCli(['--home', s.home, 'status']).stdout).toContain(`status page: ${url}/ (Sync now / Retry need the token in the status-token file)`);
    const page = await browser!.newPage({ viewport: { width: 1180, height: 420 } });
    const consoleErrors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    await page.goto(url + '/');
    await expect.poll(() => row(page, 'mmueller').count(), { timeout: 10_000 }).toBe(1);
    expect(await page.locator('h1').textContent()).toBe('Account Overview');
    expect(await cell(page, 'mmueller', 1).textContent()).toBe('success');
    expect(await cell(page, 'sschmidt', 1).textContent()).toBe('success');
    expect(await cell(page, 'mmueller', 3).textContent()).toBe('0');
    // Without the token the buttons are there but off.
    const button = row(page, 'mmueller').locator('button');
    expect(await button.textContent()).toBe('Sync now');
    expect(await button.isDisabled()).toBe(true);
    expect(await page.locator('#authstate').textContent()).toContain('Read-only');

    // A wrong token is not accepted; the right one unlocks the buttons.
    await page.fill('#token', 'not-the-token-0123456789');
    await page.click('#signin');
    await expect.poll(() => page.locator('#authstate').textContent()).toBe('Token not accepted.');
    expect(await button.isDisabled()).toBe(true);
    await page.fill('#token', token);
    await page.click('#signin');
    await expect.poll(() => page.locator('#authstate').textContent()).toBe('Buttons unlocked.');
    expect(await page.inputValue('#token')).toBe('');
    await expect.poll(() => button.isDisabled()).toBe(false);

    // Sync now while the mailbox server is down: the row turns failed, with the reason and Retry.
    const server = s.server as unknown as { halt(): Promise<void>; resume(): Promise<void> };
    await server.halt();
    const lastSyncBefore = await cell(page, 'mmueller', 2).textContent();
    await button.click();
    await expect.poll(() => cell(page, 'mmueller', 1).textContent(), { timeout: 20_000 }).toBe('failed');
    expect(await cell(page, 'mmueller', 4).textContent()).toMatch(/refused|ECONNREFUSED|fetch failed|unreachable|connect/i);
    expect(await cell(page, 'sschmidt', 1).textContent()).toBe('success'); // only the pressed mailbox synced
    await expect.poll(() => button.textContent()).toBe('Retry');
    expect(await cell(page, 'mmueller', 5).textContent()).toMatch(/^in \d+ (min|h)/); // the next retry, in the backoff
    expect(d.logs().some((l) => l.message === 'status page: sync of mmueller queued')).toBe(true);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    // Retry once the server is back: success again, the error gone, a newer most recent sync.
    await server.resume();
    await expect.poll(() => button.isDisabled()).toBe(false);
    await button.click();
    await expect.poll(() => cell(page, 'mmueller', 1).textContent(), { timeout: 20_000 }).toBe('success');
    expect(await cell(page, 'mmueller', 4).textContent()).toBe('—');
    expect(await button.textContent()).toBe('Sync now');
    expect(await cell(page, 'mmueller', 2).textContent()).not.toBe(lastSyncBefore);

    // The token is in none of what the server sent, nor left in the page.
    for (const p of ['/', '/status.js', '/status.css']) expect(await (await fetch(url + p)).text()).not.toContain(token);
    expect(await (await fetch(url + '/api/status', { headers: { Authorization: `Bearer ${token}` } })).text()).not.toContain(token);
    expect(await page.content()).not.toContain(token);
    expect(d.output()).not.toContain(token);
    expect(consoleErrors, consoleErrors.join("\n")).toEqual([]);
  }, 120_000);

  it('a web page of another origin can neither press Sync now (form, fetch) nor read the status; API requests without the token are refused', async () => {
    const { url, token, d } = await startDaemon();
    const queued = () => d.logs().filter((l) => /^status page: sync of/.test(l.message)).length;
    // The attacker's page, on another local port, tries a cross-site form POST and fetches.
    const fport = await freePort();
    const evil = `<!doctype html><html><body>
<form id="f" method="POST" action="${url}/api/mailboxes/mmueller/sync" target="sink"><input name="x" value="1"></form>
<iframe name="sink"></iframe>
<script>
window.results = {};
fetch('${url}/api/mailboxes/mmueller/sync', { method: 'POST', mode: 'no-cors' }).then(() => (window.results.noCors = 'sent'), () => (window.results.noCors = 'blocked'));
fetch('${url}/api/mailboxes/mmueller/sync', { method: 'POST', headers: { Authorization: 'Bearer guess' } }).then(() => (window.results.bearer = 'answered'), () => (window.results.bearer = 'blocked'));
fetch('${url}/api/status').then((r) => r.text()).then((t) => (window.results.read = t), () => (window.results.read = 'blocked'));
document.getElementById('f').submit();
</script></body></html>`;
    foreign = http.createServer((_req, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end(evil));
    await new Promise<void>((r) => foreign!.listen(fport, '127.0.0.1', () => r()));
    const page = await browser!.newPage();
    await page.goto(`http://127.0.0.1:${fport}/`);
    await expect.poll(() => page.evaluate<number>('Object.keys(window.results).length'), { timeout: 10_000 }).toBe(3);
    const results = await page.evaluate<Record<string, string>>('window.results');
    // CORS: the preflight for the Authorization header is never answered, the status not readable.
    expect(results.bearer).toBe('blocked');
    expect(results.read).toBe('blocked');
    await new Promise((r) => setTimeout(r, 1500));
    expect(queued()).toBe(0);

    // The same requests outside a browser: no token 401, a wrong one 401, another Origin 403.
    const post = (headers: Record<string, string>, user = 'mmueller') => rawPost(`${url}/api/mailboxes/${user}/sync`, headers);
    expect((await post({})).status).toBe(401);
    expect((await post({ Authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await post({ Authorization: `Bearer ${token}`, Origin: `http://127.0.0.1:${fport}` })).status).toBe(403);
    expect((await post({ Authorization: `Bearer ${token}`, 'Sec-Fetch-Site': 'cross-site' })).status).toBe(403);
    expect((await post({ Authorization: `Bearer ${token}`, Host: 'evil.example' })).status).toBe(421);
    expect(queued()).toBe(0);
    const ok = await post({ Authorization: `Bearer ${token}`, Origin: url, 'Sec-Fetch-Site': 'same-origin' });
    expect(ok).toEqual({ status: 202, body: { queued: ['mmueller'] } });
    expect((await post({ Authorization: `Bearer ${token}` })).status).toBe(202);
    expect((await post({ Authorization: `Bearer ${token}` }, 'nobody')).status).toBe(404);
    await waitFor(() => queued() === 2, 5000, () => 'two queued syncs in the log');
    // The page may not be framed by another site, and runs no inline script.
    const head = await fetch(url + '/');
    expect(head.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(head.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(head.headers.get('x-frame-options')).toBe('DENY');
  }, 120_000);

  it('a hostile error text from a mailbox server is shown as text, never run as HTML', async () => {
    const hostile = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>Bad Gateway';
    const mailbox: StatusPageMailbox = { user: 'mmueller', state: 'failed', running: false, queued: false, lastSync: new Date().toISOString(), lastSuccess: null, pending: 3, lastError: hostile, itemErrors: 2, nextRun: null };
    const server = await startDaemonHttpServer(
      0,
      {
        health: () => ({ ok: true, body: {} }),
        metrics: new DaemonMetrics(),
        webhookSecret: undefined,
        onWebhook: async () => [],
        statusPage: { token: 'a-token-of-sixteen-chars', status: () => ({ daemon: { status: 'ok', uptimeSeconds: 1 }, mailboxes: [mailbox] }), syncNow: () => true },
      },
      createLogger({ level: 'error', stream: fs.createWriteStream('/dev/null') }),
    );
    try {
      const page = await browser!.newPage();
      await page.goto(`http://127.0.0.1:${server.port}/`);
      await expect.poll(() => row(page, 'mmueller').count(), { timeout: 10_000 }).toBe(1);
      expect(await cell(page, 'mmueller', 4).textContent()).toBe(`${hostile} — 2 item(s) failed, retried next sync`);
      expect(await cell(page, 'mmueller', 2).textContent()).toContain('last success: never');
      expect(await cell(page, 'mmueller', 3).textContent()).toBe('3');
      expect(await page.locator('#mailboxes img, #mailboxes script').count()).toBe(0);
      expect(await page.evaluate<unknown>('window.pwned')).toBeUndefined();
      expect(await row(page, 'mmueller').locator('button').textContent()).toBe('Retry');
    } finally {
      await server.close();
    }
  }, 60_000);
});

// The daemon as admins run it (`node bin/sync-cli --home … daemon`, built dist/) against a real
// Radicale and the embedded CRM: push latency, interval pickup of device edits, outage and
// recovery, SIGTERM in the middle of a sync, one daemon per home, the webhook, health/metrics,
// config reloads and systemd notifications.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.js';
import { signedWebhookHeaders, signWebhookBody } from '../../src/daemon/webhook.js';
import { runCli } from '../helpers/cli.js';
import { Scenario, type ScenarioOptions } from '../helpers/scenario.js';
import { freePort } from '../helpers/servers.js';
import { smallCrm } from '../helpers/small-crm.js';
import { DaemonProcess, statusJson, waitFor, waitForStates } from './daemon-process.js';

let sc: Scenario | undefined;
const daemons: DaemonProcess[] = [];
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.stop('SIGKILL');
  await sc?.stop();
  sc = undefined;
});

const unfold = (s: string) => s.replace(/\r?\n[ \t]/g, '');
const allSuccess = (s: { mailboxes: { state: string }[] }) => s.mailboxes.length > 0 && s.mailboxes.every((m) => m.state === 'success');

async function setup(daemon: Partial<Config['daemon']>, opts: ScenarioOptions = {}): Promise<Scenario> {
  sc = await Scenario.create(opts);
  sc.setConfig((c) => {
    Object.assign(c.daemon, { intervalSeconds: 300, ...daemon });
    // Outage tests: fail fast instead of retrying inside one sync.
    c.dav.retries = 0;
    c.dav.timeoutMs = 3000;
  });
  return sc;
}

function start(s: Scenario, args: string[] = [], env: NodeJS.ProcessEnv = {}): DaemonProcess {
  const d = DaemonProcess.start(s.home, args, env);
  daemons.push(d);
  return d;
}

async function timeUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const t0 = Date.now();
  await waitFor(check, timeoutMs, () => what);
  return Date.now() - t0;
}

describe('status', () => {
  it('R22: status --json lists every assigned mailbox as not-started before the first sync, with exactly the contract keys', async () => {
    const s = await setup({});
    const r = runCli(['--home', s.home, 'status', '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { mailboxes: Record<string, unknown>[] };
    expect(Object.keys(doc)).toEqual(['mailboxes']);
    expect(doc.mailboxes).toEqual([
      { user: 'mmueller', state: 'not-started', lastSuccess: null, lastError: null, pending: 0, nextRun: null, attention: [] },
      { user: 'sschmidt', state: 'not-started', lastSuccess: null, lastError: null, pending: 0, nextRun: null, attention: [] },
    ]);
    const human = runCli(['--home', s.home, 'status']);
    expect(human.stdout).toContain('daemon: not running');
    expect(human.stdout).toMatch(/mmueller\s+not-started/);
  });
});

describe('push and interval', () => {
  it('a CRM edit (provider write or `crm import`) reaches the mailbox within 2 s', async () => {
    const s = await setup({ intervalSeconds: 300 });
    const d = start(s);
    await waitForStates(s.home, allSuccess);
    const dev = await s.device('mmueller');

    const [a1] = await s.crm.getAddresses(['a1']);
    await s.crm.updateAddress('a1', { city: 'Augsburg' }, a1!.version);
    const viaProvider = await timeUntil(async () => unfold((await dev.find('contacts', 'Mustermann'))?.data ?? '').includes('Augsburg'), 5000, 'a1 in Augsburg on the device');
    expect(viaProvider).toBeLessThan(2000);

    const doc = smallCrm();
    doc.addresses.find((a) => a.id === 'a2')!.city = 'Straubing';
    const file = path.join(s.home, 'change.json');
    fs.writeFileSync(file, JSON.stringify(doc));
    const imp = runCli(['--home', s.home, 'crm', 'import', file]);
    expect(imp.code, imp.stderr).toBe(0);
    const viaImport = await timeUntil(async () => unfold((await dev.find('contacts', 'Größl'))?.data ?? '').includes('Straubing'), 5000, 'a2 in Straubing on the device');
    expect(viaImport).toBeLessThan(2000);
    expect(d.logs().some((l) => /CRM change \(crm-feed\)/.test(l.message))).toBe(true);
  });

  it('a device edit reaches the CRM within one interval', async () => {
    const s = await setup({ intervalSeconds: 10 });
    start(s);
    await waitForStates(s.home, allSuccess);
    const dev = await s.device('mmueller');
    const item = (await dev.find('contacts', 'Mustermann'))!;
    expect(await dev.put(item.href, item.data.replace('München', 'Passau'), item.etag)).toBeLessThan(300);
    const ms = await timeUntil(async () => (await s.crm.getAddresses(['a1']))[0]!.city === 'Passau', 15_000, 'a1 in Passau in the CRM');
    expect(ms).toBeLessThan(10_000 + 2000); // one interval plus the sync itself
  });
});

describe('outages', () => {
  it('R22 R23: mailbox server down → failed with reason and next retry; back on the same port → success, nothing lost', async () => {
    const s = await setup({ intervalSeconds: 10, retrySeconds: 1, maxBackoffSeconds: 10 });
    start(s);
    await waitForStates(s.home, allSuccess);
    const server = s.server as unknown as { halt(): Promise<void>; resume(): Promise<void> };
    await server.halt();
    const [a1] = await s.crm.getAddresses(['a1']);
    await s.crm.updateAddress('a1', { city: 'Ingolstadt' }, a1!.version); // pushed while the server is down
    const failed = await waitForStates(s.home, (st) => st.mailboxes.find((m) => m.user === 'mmueller')?.state === 'failed', 15_000);
    const mm = failed.mailboxes.find((m) => m.user === 'mmueller')!;
    expect(mm.lastError).toMatch(/refused|ECONNREFUSED|fetch failed|unreachable|connect/i);
    expect(Date.parse(mm.nextRun!)).toBeGreaterThan(Date.now() - 1000);
    expect(mm.lastSuccess).not.toBeNull(); // the earlier success is kept
    expect(runCli(['--home', s.home, 'status']).code).toBe(1);

    await new Promise((r) => setTimeout(r, 2000)); // down for a while: several retries fail
    await server.resume();
    await waitForStates(s.home, allSuccess, 20_000);
    const dev = await s.device('mmueller');
    expect(unfold((await dev.find('contacts', 'Mustermann'))!.data)).toContain('Ingolstadt');
  });

  it('R23: SIGTERM during a sync exits 0 within the stop timeout, leaves no lock, and the next start converges', async () => {
    const doc = smallCrm();
    const base = doc.addresses.find((a) => a.id === 'a2')!;
    for (let i = 0; i < 250; i++) doc.addresses.push({ ...base, id: `x${i}`, company: `Extra ${i} GmbH`, lastName: `Extra${i}`, phones: [], tags: ['MM'] });
    const s = await setup({ shutdownGraceSeconds: 1 }, { exchange: doc, logins: ['mmueller'] });
    const d = start(s);
    await d.waitForLog(/^mmueller: writing$/, 30_000);
    await new Promise((r) => setTimeout(r, 300));
    const stopped = await d.stop('SIGTERM');
    expect(stopped.code).toBe(0);
    expect(stopped.ms).toBeLessThan(10_000);
    expect(d.logs().some((l) => /abandoned the running sync of mmueller|daemon stopped/.test(l.message))).toBe(true);
    expect(fs.existsSync(s.paths.lockDir) ? fs.readdirSync(s.paths.lockDir) : []).toEqual([]);

    const again = start(s);
    await waitForStates(s.home, allSuccess, 60_000);
    await again.stop();
    const dev = await s.device('mmueller');
    const contacts = await dev.list('contacts');
    const uids = contacts.map((c) => /^UID:(.*)$/m.exec(c.data)?.[1]?.trim());
    expect(new Set(uids).size).toBe(uids.length); // nothing duplicated
    expect(contacts.filter((c) => c.data.includes('Extra')).length).toBe(250); // nothing lost
    for (const r of await s.syncOk({ full: true })) expect(r).toMatchObject({ created: 0, updated: 0, deleted: 0, crmUpdates: 0 });
  });
});

describe('one daemon per home', () => {
  it('a second daemon exits 2 and names the pid of the first', async () => {
    const s = await setup({});
    const d = start(s);
    await d.waitForLog(/daemon started/);
    const second = runCli(['--home', s.home, 'daemon']);
    expect(second.code).toBe(2);
    expect(second.stderr).toContain(`pid ${d.pid}`);
    expect(runCli(['--home', s.home, 'status']).stdout).toContain(`daemon: running (pid ${d.pid})`);
  });

  it('a config.json that is invalid at startup exits 2 naming the key', async () => {
    const s = await setup({});
    const raw = JSON.parse(fs.readFileSync(s.paths.configFile, 'utf8')) as Record<string, Record<string, unknown>>;
    raw.daemon!.intervalSeconds = 'often';
    fs.writeFileSync(s.paths.configFile, JSON.stringify(raw));
    const r = runCli(['--home', s.home, 'daemon']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('daemon.intervalSeconds');
  });
});

describe('HTTP endpoint', () => {
  it('webhook: bad signature 401, oversize 413, malformed 400, unknown user 422 — nothing synced; a signed push syncs within 2 s', async () => {
    const port = await freePort();
    const secret = 'test-webhook-secret-0123456789';
    const s = await setup({ httpPort: port });
    const d = start(s, [], { SYNC_CLI_WEBHOOK_SECRET: secret });
    await waitForStates(s.home, allSuccess).catch((err: Error) => {
      throw new Error(`${err.message}\n${d.output().slice(-3000)}`);
    });
    const url = `http://127.0.0.1:${port}`;
    const syncs = () => d.logs().filter((l) => /^synced /.test(l.message)).length;
    const ts = () => Math.floor(Date.now() / 1000);
    const postRaw = (body: string, signature: string | undefined, timestamp: number) =>
      fetch(`${url}/hooks/crm`, { method: 'POST', body, headers: { 'Content-Type': 'application/json', 'X-Sync-Timestamp': String(timestamp), ...(signature ? { 'X-Sync-Signature': signature } : {}) } });
    /** Signed with `key` at the current time (no signature when key is undefined). */
    const post = (body: string, key?: string) => {
      const at = ts();
      return postRaw(body, key === undefined ? undefined : signWebhookBody(key, body, at), at);
    };

    await waitFor(() => syncs() >= 2, 5000, () => 'the first two sync log lines');
    await new Promise((r) => setTimeout(r, 1200)); // a push from the scenario's own import may still land
    const before = syncs();
    const body = JSON.stringify({ users: ['sschmidt'] });
    expect((await post(body)).status).toBe(401);
    expect((await post(body, 'wrong-secret-wrong-secret')).status).toBe(401);
    const big = JSON.stringify({ users: ['x'.repeat(70_000)] });
    expect((await post(big, secret)).status).toBe(413);
    const broken = '{"users": [';
    expect((await post(broken, secret)).status).toBe(400);
    const unknown = JSON.stringify({ users: ['nobody'] });
    const r422 = await post(unknown, secret);
    expect(r422.status).toBe(422);
    expect(((await r422.json()) as { error: string }).error).toContain("'nobody'");
    await new Promise((r) => setTimeout(r, 1500));
    expect(syncs()).toBe(before);

    const at = ts();
    const signed = signWebhookBody(secret, body, at);
    const ok = await postRaw(body, signed, at);
    expect(ok.status).toBe(202);
    // The same signed request again (a replay): refused.
    expect((await postRaw(body, signed, at)).status).toBe(409);
    expect(await ok.json()).toEqual({ mailboxes: ['sschmidt'] });
    await waitFor(() => syncs() > before, 2000, () => 'a sync after the signed webhook');
    const byRecord = JSON.stringify({ addresses: ['a4'] });
    expect(await (await fetch(`${url}/hooks/crm`, { method: 'POST', body: byRecord, headers: signedWebhookHeaders(secret, byRecord) })).json()).toEqual({ mailboxes: ['sschmidt'] });

    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', mailboxes: 2, failed: [] });
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/sync_cli_syncs_total\{user="mmueller",result="success"\} [1-9]/);
    expect(metrics).toMatch(/sync_cli_webhook_rejected_total\{status="401"\} 2/);
    expect(metrics).toContain('sync_cli_sync_duration_seconds_bucket');
    expect(JSON.stringify(d.logs())).not.toContain(secret); // R25
  });
});

describe('configuration changes', () => {
  it('an invalid edit is logged with the file and kept out; a valid one (unassign) and SIGHUP are picked up without a restart', async () => {
    const s = await setup({});
    const d = start(s);
    await waitForStates(s.home, allSuccess);
    const good = fs.readFileSync(s.paths.configFile, 'utf8');
    fs.writeFileSync(s.paths.configFile, good.replace('"intervalSeconds": 300', '"intervalSeconds": "soon"'));
    const err = await d.waitForLog(/config change ignored/);
    expect(err.message).toContain(s.paths.configFile);
    expect(err.message).toContain('daemon.intervalSeconds');
    expect(err.message).toContain('fix:');
    expect(d.child.exitCode).toBeNull();

    const fixed = JSON.parse(good) as Config;
    fixed.mailboxes = fixed.mailboxes.filter((m) => m.user !== 'u2');
    fs.writeFileSync(s.paths.configFile, JSON.stringify(fixed, null, 2));
    await d.waitForLog(/configuration reloaded .*removed sschmidt/);
    expect(statusJson(s.home).mailboxes.map((m) => m.user)).toEqual(['mmueller']);
    d.child.kill('SIGHUP');
    await d.waitForLog(/^SIGHUP: configuration reloaded/);
    expect(d.child.exitCode).toBeNull();
  });
});

describe('systemd notification', () => {
  it('sends READY=1, WATCHDOG=1 when WATCHDOG_USEC is set, and STOPPING=1 on SIGTERM', async () => {
    let dgram: { createSocket(type: 'unix_dgram', cb: (msg: Buffer) => void): { bind(p: string): void; close(): void } };
    try {
      dgram = createRequire(import.meta.url)('unix-dgram') as typeof dgram;
    } catch {
      console.warn('skipped: the optional unix-dgram package is not installed (the systemd-notify fallback is used then)');
      return;
    }
    const s = await setup({});
    const sockPath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'notify-')), 'notify.sock');
    const messages: string[] = [];
    const server = dgram.createSocket('unix_dgram', (msg) => messages.push(msg.toString()));
    server.bind(sockPath);
    try {
      const d = start(s, [], { NOTIFY_SOCKET: sockPath, WATCHDOG_USEC: '1000000' });
      await waitFor(() => messages.some((m) => m.includes('READY=1')), 10_000, () => `READY=1; got ${JSON.stringify(messages)}`);
      await waitFor(() => messages.some((m) => m.includes('WATCHDOG=1')), 3000, () => `WATCHDOG=1; got ${JSON.stringify(messages)}`);
      expect((await d.stop()).code).toBe(0);
      expect(messages.some((m) => m.includes('STOPPING=1'))).toBe(true);
    } finally {
      server.close();
    }
  });
});

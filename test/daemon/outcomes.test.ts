// D63: the daemon reads the typed outcome of each sync — the server's Retry-After sets the next
// try, a rejected password holds the mailbox until its settings change — as an admin sees it in
// `status --json` and the log, against a real Radicale (behind a fault-injecting proxy).
import { afterEach, describe, expect, it } from 'vitest';
import { storeMailboxPassword } from '../../src/secrets/index.js';
import { startFaultyProxy, type FaultyProxy } from '../helpers/faulty-proxy.js';
import { Scenario } from '../helpers/scenario.js';
import { DaemonProcess, statusJson, waitForStates } from './daemon-process.js';

let sc: Scenario | undefined;
let proxy: FaultyProxy | undefined;
const daemons: DaemonProcess[] = [];
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.stop('SIGKILL');
  await proxy?.stop();
  proxy = undefined;
  await sc?.stop();
  sc = undefined;
});

async function setup(daemon: { intervalSeconds: number; retrySeconds: number; maxBackoffSeconds: number }): Promise<Scenario> {
  sc = await Scenario.create({ logins: ['mmueller'] });
  sc.setConfig((c) => {
    Object.assign(c.daemon, daemon);
    c.dav.retries = 0;
    c.dav.timeoutMs = 3000;
  });
  return sc;
}

function start(s: Scenario): DaemonProcess {
  const d = DaemonProcess.start(s.home);
  daemons.push(d);
  return d;
}

const mm = (s: ReturnType<typeof statusJson>) => s.mailboxes.find((m) => m.user === 'mmueller');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('D63: the scheduler follows the typed outcome', () => {
  it("R22 D63: 503 with Retry-After: 30 → the next try is scheduled at least 30 s later (status nextRun), not after the 1 s backoff", async () => {
    const s = await setup({ intervalSeconds: 300, retrySeconds: 1, maxBackoffSeconds: 10 });
    proxy = await startFaultyProxy(s.server.url);
    proxy.inject({ kind: 'status', status: 503, retryAfter: '30' }, Infinity);
    s.setConfig((c) => (c.mailboxes[0]!.url = proxy!.url + '/'));
    const before = Date.now();
    const d = start(s);
    const failed = await waitForStates(s.home, (st) => mm(st)?.state === 'failed', 20_000);
    expect(mm(failed)!.lastError).toMatch(/rate limiting|retry after 30 s/);
    expect(Date.parse(mm(failed)!.nextRun!) - before).toBeGreaterThanOrEqual(30_000);
    const requests = proxy.seen.length;
    await sleep(3000); // three backoff periods: nothing is sent
    expect(proxy.seen.length).toBe(requests);
    expect(d.logs().filter((l) => /^sync of mmueller failed/.test(l.message))).toHaveLength(1);
  });

  it('R25 D63: a rejected password is not retried (no next run, the fix in lastError) until the password is changed; then it syncs', async () => {
    const s = await setup({ intervalSeconds: 10, retrySeconds: 1, maxBackoffSeconds: 10 });
    const mailbox = s.config().mailboxes[0]!;
    await storeMailboxPassword(mailbox, 'falsch-1234', s.paths);
    const d = start(s);
    const failed = await waitForStates(s.home, (st) => mm(st)?.state === 'failed', 20_000);
    expect(mm(failed)!.lastError).toMatch(/rejected the credentials.*fix: .*users passwd/);
    await sleep(4000); // several backoffs of 1 s
    const held = statusJson(s.home);
    expect(mm(held)!.nextRun).toBeNull();
    expect(d.logs().filter((l) => /^sync of mmueller failed/.test(l.message))).toHaveLength(1);
    expect(d.logs().some((l) => /mmueller: not retried until its settings change/.test(l.message))).toBe(true);

    // An unrelated config edit re-checks at once, but the mailbox's settings did not change: still held.
    s.setConfig((c) => (c.daemon.pushPollMs = 900));
    await d.waitForLog(/configuration reloaded; checking mmueller again/);
    await sleep(1000);
    expect(d.logs().filter((l) => /^sync of mmueller failed/.test(l.message))).toHaveLength(1);

    // `users passwd` only changes the credential store: the held mailbox's check, once per
    // interval, notices it without any config edit.
    await storeMailboxPassword(mailbox, s.passwords.mmueller!, s.paths);
    await waitForStates(s.home, (st) => mm(st)?.state === 'success', 15_000);
    expect(mm(statusJson(s.home))!.nextRun).not.toBeNull();
    expect(d.output()).not.toContain('falsch-1234');
    expect(d.output()).not.toContain(s.passwords.mmueller!);
  });
});

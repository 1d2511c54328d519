// #14: every hint tells the truth. Each error an admin meets on the first day, provoked for real
// (a loopback server, a real Radicale, a closed port, a name that does not resolve), with the
// cause that is actually known and a fix that works when typed.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempHome } from '../helpers/cli.js';
import { startRadicale, type RadicaleServer } from '../helpers/servers.js';

let radicale: RadicaleServer;
let home: string;
const pw = 'hint-pw-0123';

beforeAll(async () => {
  radicale = await startRadicale({ users: { mmueller: pw } });
  home = tempHome('sync-cli-hints-');
  expect(runCli(['--home', home, 'crm', 'init', '--demo']).code).toBe(0);
}, 60_000);
afterAll(async () => {
  await radicale?.stop();
  fs.rmSync(home, { recursive: true, force: true });
});

const assign = (url: string, password = pw, extra: string[] = []) =>
  runCli(['--home', home, 'users', 'assign', 'mmueller', '--url', url, '--username', 'mmueller', '--password-stdin', '--credential-store', 'file', ...extra], { input: password });

describe('connection errors at assign name the real cause', () => {
  it('https against a plain http port: no OpenSSL text, and the http:// URL that works', () => {
    const port = new URL(radicale.url).port;
    const r = assign(`https://127.0.0.1:${port}/`);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`127.0.0.1:${port} does not answer with TLS (https)`);
    expect(r.stderr).toContain(`use http://127.0.0.1:${port}/`);
    expect(r.stderr).not.toMatch(/ssl3_get_record|deps\/openssl/);
    // The hint, typed: it works.
    expect(assign(`http://127.0.0.1:${port}/`).code).toBe(0);
  });

  it('a closed port, a name that does not resolve: said so; "nothing was saved" instead of "the next sync retries"', () => {
    const refused = assign('http://127.0.0.1:9/');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('nothing accepts connections on 127.0.0.1:9');
    expect(refused.stderr).toContain('nothing was saved');
    expect(refused.stderr).not.toContain('the next sync retries');
    const dns = assign('http://no-such-host.invalid/');
    expect(dns.code).toBe(2);
    expect(dns.stderr).toContain('the host name no-such-host.invalid does not resolve');
  });

  it('403 on a wrong URL path (another user\'s folder on Radicale) points at the path, not at the password', () => {
    const r = assign(`${radicale.url}/someone-else/`);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('HTTP 403');
    expect(r.stderr).toContain('check the path of the mailbox URL');
    expect(r.stderr).not.toContain('check the username and password');
  });

  it('a URL with another scheme, and a web server that is no DAV server: each said as it is, with the addresses tried', async () => {
    const scheme = assign('ftp://127.0.0.1/');
    expect(scheme.code).toBe(2);
    expect(scheme.stderr).toContain('must start with http:// or https:// (or file:/// for a vdir folder; got ftp:)');
    // A plain web server (Python's http.server: PROPFIND → 501) in its own process.
    const { freePort } = await import('../helpers/servers.js');
    const { spawn } = await import('node:child_process');
    const port = await freePort();
    const web = spawn('python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', home], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 50; i++) {
        const up = await fetch(`http://127.0.0.1:${port}/`).then(() => true, () => false);
        if (up) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const r = assign(`http://127.0.0.1:${port}/`);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`no CardDAV/CalDAV principal found at http://127.0.0.1:${port}`);
      expect(r.stderr).toContain('/.well-known/carddav');
      expect(r.stderr).toContain('nothing was saved');
    } finally {
      web.kill();
    }
  });

  it('a bad --past-days echoes the value given', () => {
    const r = assign(radicale.url + '/', pw, ['--past-days=-5']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('pastDays: must be a whole number of days from 0 to 3650 (got "-5")');
  });
});

describe('users passwd replaces only the password', () => {
  it('a wrong password is fixed without re-assigning: the 401 hint names users passwd, which then works', () => {
    expect(assign(radicale.url + '/', 'wrong-password', ['--no-verify', '--address-tags', 'MM,VIP']).code).toBe(0);
    const before = JSON.parse(fs.readFileSync(path.join(home, 'config.json'), 'utf8')) as { mailboxes: unknown[] };
    const failed = runCli(['--home', home, 'run', '--once', '--user', 'mmueller']);
    expect(failed.code).toBe(2); // a wrong password needs a human: exit 2 (D63)
    // The hint is the command to type, with this mailbox's login in it.
    expect(failed.stdout + failed.stderr).toContain('sync-cli users passwd mmueller --password-stdin');
    const wrongAgain = runCli(['--home', home, 'users', 'passwd', 'mmueller', '--password-stdin'], { input: 'still-wrong' });
    expect(wrongAgain.code).toBe(2);
    expect(wrongAgain.stderr).toContain('nothing was saved');
    const ok = runCli(['--home', home, 'users', 'passwd', 'mmueller', '--password-stdin'], { input: pw });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('tested: the server accepted it');
    // Nothing else of the assignment changed.
    expect(JSON.parse(fs.readFileSync(path.join(home, 'config.json'), 'utf8'))).toEqual(before);
    const run = runCli(['--home', home, 'run', '--once', '--user', 'mmueller']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
  });
});

describe('counts and states say what happened', () => {
  it('a dry run counts what it would do and says "planned"; status without a daemon says so instead of a past "next run"', () => {
    const h = tempHome('sync-cli-hints-dry-');
    expect(runCli(['--home', h, 'crm', 'init', '--demo']).code).toBe(0);
    expect(runCli(['--home', h, 'users', 'assign', 'mmueller', '--url', `file://${h}/vdir`, '--username', 'm']).code).toBe(0);
    const dry = runCli(['--home', h, 'run', '--once', '--dry-run']);
    expect(dry.code).toBe(0);
    const row = dry.stdout.split('\n').find((l) => l.startsWith('mmueller '))!;
    const cells = row.split(/\s{2,}/);
    expect(cells[1]).toBe('planned');
    expect(Number(cells[2])).toBeGreaterThan(0); // created
    const json = JSON.parse(runCli(['--home', h, 'run', '--once', '--dry-run', '--json']).stdout) as { mailboxes: { dryRun: boolean; created: number }[] };
    expect(json.mailboxes[0]).toMatchObject({ dryRun: true, created: Number(cells[2]) });
    expect(runCli(['--home', h, 'run', '--once']).code).toBe(0);
    const status = runCli(['--home', h, 'status']);
    expect(status.stdout).toContain('daemon: not running');
    expect(status.stdout).toContain('no daemon');
    expect(status.stdout).not.toMatch(/ago\s*$/m);
    fs.rmSync(h, { recursive: true, force: true });
  });

  it('--log-format json makes the progress JSON lines on stderr; --log-level debug shows each action', () => {
    const h = tempHome('sync-cli-hints-log-');
    expect(runCli(['--home', h, 'crm', 'init', '--demo']).code).toBe(0);
    expect(runCli(['--home', h, 'users', 'assign', 'mmueller', '--url', `file://${h}/vdir`, '--username', 'm']).code).toBe(0);
    const r = runCli(['--home', h, '--log-format', 'json', '--log-level', 'debug', 'run', '--once', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.trim().split('\n').map((l) => JSON.parse(l) as { level: string; message: string; user?: string; action?: string; created?: number });
    expect(lines.some((l) => l.level === 'info' && l.message === 'mmueller: writing')).toBe(true);
    expect(lines.some((l) => l.level === 'debug' && l.action === 'device-create')).toBe(true);
    expect(lines.find((l) => l.message === 'mmueller: success')?.created).toBeGreaterThan(0);
    // stdout is still the one JSON document.
    expect(() => JSON.parse(r.stdout)).not.toThrow();
    fs.rmSync(h, { recursive: true, force: true });
  });
});

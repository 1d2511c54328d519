// `sync-cli users list|assign|unassign`, `doctor` and `configure` without a TTY, run as an
// admin would (bin/sync-cli), against a real embedded CRM and a real Radicale.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolvePaths } from '../../src/config/paths.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { startRadicale, type RadicaleServer } from '../helpers/servers.js';
import { ensureBuilt } from './build.js';
import { createCrmHome, type CrmHome } from './crm-home.js';

const PASSWORDS = { anna: 'Anna-Mailbox-Pw-4711', bernd: 'Bernd-Mailbox-Pw-0815' };
let radicale: RadicaleServer;
let crm: CrmHome;
const captured: string[] = [];
// No Secret Service in these runs: the default store is the 0600 file.
const env = { DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/bus' };

function cli(args: string[], opts: { input?: string; env?: Record<string, string> } = {}): CliResult {
  const r = runCli(['--home', crm.home, ...args], { ...(opts.input !== undefined ? { input: opts.input } : {}), env: { ...env, ...(opts.env ?? {}) } });
  captured.push(r.stdout, r.stderr);
  return r;
}

beforeAll(async () => {
  ensureBuilt();
  [radicale, crm] = await Promise.all([startRadicale({ users: PASSWORDS }), createCrmHome()]);
  console.log(`CRM for the CLI tests made by: ${crm.how}`);
});
afterAll(async () => {
  await radicale?.stop();
});

const anna = () => crm.users[0]!;
const bernd = () => crm.users[1]!;

describe('users assign', () => {
  it('assigns with --password-stdin after testing the connection; the password only goes to the 0600 file', () => {
    const r = cli(['users', 'assign', anna().login, '--url', radicale.url + '/', '--username', 'anna', '--password-stdin'], { input: PASSWORDS.anna + '\n' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`to ${anna().login}`);
    expect(r.stdout).toMatch(/contacts\s+CRM Kontakte → http:\/\/127\.0\.0\.1:\d+\/anna\//);
    const paths = resolvePaths(crm.home);
    const config = JSON.parse(fs.readFileSync(paths.configFile, 'utf8'));
    expect(config.mailboxes[0]).toMatchObject({ user: anna().id, username: 'anna', credentialStore: 'file' });
    expect(config.mailboxes[0].collections.tasks).toContain('/anna/');
    expect(fs.statSync(paths.secretsFile).mode & 0o777).toBe(0o600);
    expect(JSON.parse(fs.readFileSync(paths.secretsFile, 'utf8'))).toEqual({ [`mailbox:${anna().id}`]: PASSWORDS.anna });
  });

  it('assigns with --password-env and per-user settings', () => {
    const tag = crm.tags.find((t) => t === 'VIP') ?? crm.tags[0]!;
    const r = cli(
      ['users', 'assign', bernd().id, '--url', radicale.url + '/', '--username', 'bernd', '--password-env', 'BERND_PW', '--address-tags', tag, '--past-days', '7', '--sync-private', '--import-task-type', 'Rückruf', '--json'],
      { env: { BERND_PW: PASSWORDS.bernd } },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ id: bernd().id, mailbox: { addressTags: [tag], pastDays: 7, syncPrivate: true, importTaskType: 'Rückruf' } });
  });

  it.each([
    ['an unknown user', ['users', 'assign', 'niemand', '--url', 'https://dav.example.com/', '--username', 'x', '--password-env', 'PW'], /no CRM user with login or id "niemand"/],
    ['a bad URL', ['users', 'assign', 'USER', '--url', 'dav.example.com', '--username', 'x', '--password-env', 'PW'], /url: is not a URL/],
    ['a URL with credentials', ['users', 'assign', 'USER', '--url', 'https://x:Url-Secret-99@dav.example.com/', '--username', 'x', '--password-env', 'PW'], /url: must not contain a user name or password/],
    ['a tag the CRM does not have', ['users', 'assign', 'USER', '--url', 'https://dav.example.com/', '--username', 'x', '--password-env', 'PW', '--activity-tags', 'Gibtsnicht'], /activityTags: "Gibtsnicht" does not exist in the CRM/],
    ['two password sources', ['users', 'assign', 'USER', '--url', 'https://dav.example.com/', '--username', 'x', '--password-env', 'PW', '--password-stdin'], /either with --password-stdin or with --password-env/],
    ['no password source', ['users', 'assign', 'USER', '--url', 'https://dav.example.com/', '--username', 'x'], /No password given/],
    ['an empty password', ['users', 'assign', 'USER', '--url', 'https://dav.example.com/', '--username', 'x', '--password-env', 'EMPTY_PW'], /EMPTY_PW is empty/],
    ['a bad past-days value', ['users', 'assign', 'USER', '--url', 'https://dav.example.com/', '--username', 'x', '--password-env', 'PW', '--past-days', 'viele'], /pastDays: must be a whole number/],
  ])('exits 2 with the reason for %s, and changes nothing', (_what, args, reason) => {
    const before = fs.readFileSync(resolvePaths(crm.home).configFile, 'utf8');
    const r = cli(args.map((a) => (a === 'USER' ? anna().login : a)), { env: { PW: 'Some-Pw-123', EMPTY_PW: '' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(reason);
    expect(r.stderr).not.toContain('Url-Secret-99');
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
    expect(fs.readFileSync(resolvePaths(crm.home).configFile, 'utf8')).toBe(before);
  });

  it('exits 2 with the server\'s answer when the password is wrong', () => {
    const r = cli(['users', 'assign', anna().login, '--url', radicale.url + '/', '--username', 'anna', '--password-stdin'], { input: 'Wrong-Pw-31337' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Test connection to http:\/\/127\.0\.0\.1:\d+\/ failed/);
    expect(r.stderr).toMatch(/rejected the credentials[\s\S]*fix: check the username and password/);
    expect(r.stderr).not.toContain('Wrong-Pw-31337');
  });
});

describe('users list', () => {
  it('shows the assignments (never a password) and the effective settings', () => {
    const r = cli(['users', 'list', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { users: Array<{ id: string; login: string; assigned: boolean; mailbox: Record<string, unknown> | null; settings: { addressTags: string[]; pastDays: number } }> };
    const a = doc.users.find((u) => u.id === anna().id)!;
    expect(a.assigned).toBe(true);
    expect(a.mailbox).toMatchObject({ url: radicale.url + '/', username: 'anna', credentialStore: 'file' });
    expect(a.settings.addressTags[0]).toBe(anna().userTag);
    expect(a.settings.pastDays).toBe(30);
    const b = doc.users.find((u) => u.id === bernd().id)!;
    expect(b.settings.addressTags).toContain(bernd().userTag);
    expect(b.settings.pastDays).toBe(7);
    expect(r.stdout).not.toContain(PASSWORDS.anna);
    const human = cli(['users', 'list']);
    expect(human.stdout).toContain(`${anna().login} (${anna().name}, id ${anna().id})`);
    expect(human.stdout).toMatch(/mailbox {2}anna @ http/);
  });
});

describe('doctor', () => {
  it('passes for working mailboxes, each check with ✓', () => {
    const r = cli(['doctor']);
    expect(r.stdout).toMatch(/✓ CRM connection/);
    expect(r.stdout).toMatch(new RegExp(`✓ mailbox of ${anna().login}: login and discovery`));
    expect(r.stdout).toMatch(new RegExp(`✓ mailbox of ${anna().login}: contacts collection`));
    expect(r.stdout).toMatch(/✓ credential store file/);
    expect(r.stdout).toContain('All checks passed.');
    expect(r.code).toBe(0);
    const json = cli(['doctor', '--json']);
    const doc = JSON.parse(json.stdout) as { ok: boolean; checks: Array<{ id: string; status: string; user?: string }> };
    expect(doc.ok).toBe(true);
    expect(doc.checks.filter((c) => c.user === anna().id && c.id === 'mailbox.clock')).toEqual([expect.objectContaining({ status: 'ok' })]);
  });

  it('fails with ✗ and the fix when a stored password no longer works', () => {
    const paths = resolvePaths(crm.home);
    const secrets = JSON.parse(fs.readFileSync(paths.secretsFile, 'utf8')) as Record<string, string>;
    fs.writeFileSync(paths.secretsFile, JSON.stringify({ ...secrets, [`mailbox:${bernd().id}`]: 'Stale-Pw-2024' }), { mode: 0o600 });
    try {
      const r = cli(['doctor']);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(new RegExp(`✗ mailbox of ${bernd().login}: login and discovery`));
      expect(r.stdout).toMatch(/fix: .*password/);
      expect(r.stdout).not.toContain('Stale-Pw-2024');
    } finally {
      fs.writeFileSync(paths.secretsFile, JSON.stringify(secrets), { mode: 0o600 });
    }
  });
});

describe('configure without a terminal', () => {
  it('says to use users assign and exits 2', () => {
    const r = cli(['configure'], { input: '' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('configure needs a terminal; use `sync-cli users assign …`');
  });
});

describe('users unassign', () => {
  it('removes the assignment and its stored password', () => {
    const r = cli(['users', 'unassign', bernd().login]);
    expect(r.code, r.stderr).toBe(0);
    const paths = resolvePaths(crm.home);
    expect(JSON.parse(fs.readFileSync(paths.configFile, 'utf8')).mailboxes.map((m: { user: string }) => m.user)).toEqual([anna().id]);
    expect(Object.keys(JSON.parse(fs.readFileSync(paths.secretsFile, 'utf8')))).toEqual([`mailbox:${anna().id}`]);
    expect(cli(['users', 'unassign', bernd().login]).code).toBe(2);
  });
});

describe('R25 after the whole scenario', () => {
  it('R25: no password in config.json, the state store, any other file under --home or any output', () => {
    const paths = resolvePaths(crm.home);
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else files.push(p);
      }
    };
    walk(crm.home);
    expect(files).toContain(paths.configFile);
    for (const file of files.filter((f) => f !== paths.secretsFile)) {
      const bytes = fs.readFileSync(file);
      for (const pw of [...Object.values(PASSWORDS), 'Wrong-Pw-31337', 'Stale-Pw-2024']) expect(bytes.includes(Buffer.from(pw)), `${pw} found in ${file}`).toBe(false);
    }
    for (const text of captured) for (const pw of [...Object.values(PASSWORDS), 'Wrong-Pw-31337', 'Stale-Pw-2024', 'Url-Secret-99']) expect(text).not.toContain(pw);
    // The secrets file: 0600, and nothing but `mailbox:<id>` → password.
    expect(fs.statSync(paths.secretsFile).mode & 0o777).toBe(0o600);
    const secrets = JSON.parse(fs.readFileSync(paths.secretsFile, 'utf8')) as Record<string, unknown>;
    expect(secrets).toEqual({ [`mailbox:${anna().id}`]: PASSWORDS.anna });
  });
});

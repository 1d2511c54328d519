// The real `sync-cli configure` in a real 80×24 terminal (tmux), driven with send-keys and
// read with capture-pane: assign a mailbox on a real Radicale, test the connection, save;
// then `users list --json` shows it and `doctor` passes for it.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolvePaths } from '../../src/config/paths.js';
import { cliPath, runCli } from '../helpers/cli.js';
import { startRadicale, type RadicaleServer } from '../helpers/servers.js';
import { ensureBuilt } from '../users/build.js';
import { createCrmHome, type CrmHome } from '../users/crm-home.js';

const hasTmux = spawnSync('tmux', ['-V']).status === 0;
if (!hasTmux) console.log('skipped the tmux e2e test: tmux is not installed');

const PASSWORD = 'Tmux-Mailbox-Pw-2718';
const FAST_PASSWORD = 'Fast-Typist-Pw-3141';
const socket = `sync-cli-e2e-${process.pid}`;
const session = 'configure';
let radicale: RadicaleServer;
let crm: CrmHome;
const screens: string[] = [];

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
}
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

function capture(): string {
  const screen = tmux('capture-pane', '-p', '-t', session);
  screens.push(screen);
  return screen;
}

async function waitForScreen(text: string | RegExp, timeoutMs = 15_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const screen = capture();
    if (typeof text === 'string' ? screen.includes(text) : text.test(screen)) {
      await pause(150); // the new screen's key handler attaches just after it is drawn
      return screen;
    }
    if (Date.now() > end) throw new Error(`the terminal never showed ${String(text)}; it shows:\n${screen}`);
    await pause(100);
  }
}

/** Sends keys (tmux key names) one at a time, like a person typing. */
async function keys(...names: string[]): Promise<void> {
  for (const k of names) {
    tmux('send-keys', '-t', session, k);
    await pause(120);
  }
}
async function type(text: string): Promise<void> {
  tmux('send-keys', '-t', session, '-l', text);
  await pause(150);
}

describe.skipIf(!hasTmux)('configure in tmux', () => {
  beforeAll(async () => {
    ensureBuilt();
    [radicale, crm] = await Promise.all([startRadicale({ users: { anna: PASSWORD, speedy: FAST_PASSWORD } }), createCrmHome()]);
  });
  afterAll(async () => {
    spawnSync('tmux', ['-L', socket, 'kill-server']);
    await radicale?.stop();
  });

  it('assigns a mailbox, tests the connection and saves; users list and doctor agree', async () => {
    const anna = crm.users.find((u) => u.login === 'anna') ?? crm.users[0]!;
    const index = crm.users.indexOf(anna);
    // No Secret Service: the password goes to the 0600 file.
    // A person at a terminal: no CI variable (Ink renders only the last frame when it sees one).
    const command = `env -u CI -u CONTINUOUS_INTEGRATION DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus ${process.execPath} ${cliPath} --home ${crm.home} configure; sleep 30`;
    tmux('new-session', '-d', '-s', session, '-x', '80', '-y', '24', command);

    // The first screen waits for node, the CRM and Ink to start: generous under a loaded CI.
    let screen = await waitForScreen('mailbox assignments', 60_000);
    expect(screen).toContain('q quit');
    expect(screen).toMatch(new RegExp(`${anna.login}\\s+.*not assigned`));
    for (let i = 0; i < index; i++) await keys('Down');
    await keys('Enter');
    await waitForScreen(`Mailbox of ${anna.login}`);
    // Like a person: look that the cursor moved before typing into the next field.
    await type(radicale.url + '/');
    await keys('Tab');
    await waitForScreen('› Username');
    await type('anna');
    await keys('Tab');
    await waitForScreen('› Password');
    await type(PASSWORD);
    screen = capture();
    expect(screen).not.toContain(PASSWORD);
    expect(screen).toContain('*'.repeat(PASSWORD.length));
    // Down past tags, days, private, import types to "Test connection".
    await keys('Down', 'Down', 'Down', 'Down', 'Down', 'Down', 'Down', 'Enter');
    screen = await waitForScreen('Connection works');
    expect(screen).toMatch(/contacts\s+CRM Kontakte → \/anna\/\S+\//);
    expect(screen).toMatch(/appointments\s+CRM Termine/);
    expect(screen).toMatch(/tasks\s+CRM Aufgaben/);
    await keys('Right', 'Enter');
    screen = await waitForScreen('Saved:');
    expect(screen).toMatch(new RegExp(`${anna.login}\\s+.*anna@127\\.0\\.0\\.1:\\d+\\s+not-started`));
    for (const line of screen.split('\n')) expect([...line.trimEnd()].length).toBeLessThanOrEqual(80);
    await keys('q');

    const list = runCli(['--home', crm.home, 'users', 'list', '--json'], { env: { DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/bus' } });
    expect(list.code, list.stderr).toBe(0);
    const user = (JSON.parse(list.stdout) as { users: Array<{ id: string; mailbox: { url: string; username: string; credentialStore: string; collections: Record<string, string> } | null }> }).users.find((u) => u.id === anna.id)!;
    expect(user.mailbox).toMatchObject({ url: radicale.url + '/', username: 'anna', credentialStore: 'file' });
    expect(Object.keys(user.mailbox!.collections)).toEqual(['contacts', 'appointments', 'tasks']);

    const doctor = runCli(['--home', crm.home, 'doctor', '--json']);
    const checks = (JSON.parse(doctor.stdout) as { checks: Array<{ id: string; status: string; user?: string; detail: string }> }).checks;
    const mailboxChecks = checks.filter((c) => c.user === anna.id);
    expect(mailboxChecks.map((c) => c.id)).toEqual(expect.arrayContaining(['mailbox.credential', 'mailbox.auth', 'mailbox.collection.contacts', 'mailbox.collection.appointments', 'mailbox.collection.tasks']));
    expect(mailboxChecks.filter((c) => c.status === 'fail')).toEqual([]);
    expect(doctor.code, doctor.stdout).toBe(0);

    // R25: the password is in the 0600 secrets file and nowhere else.
    const paths = resolvePaths(crm.home);
    expect(fs.statSync(paths.secretsFile).mode & 0o777).toBe(0o600);
    expect(JSON.parse(fs.readFileSync(paths.secretsFile, 'utf8'))).toEqual({ [`mailbox:${anna.id}`]: PASSWORD });
    for (const f of fs.readdirSync(crm.home).map((n) => path.join(crm.home, n)).filter((p) => fs.statSync(p).isFile() && p !== paths.secretsFile)) {
      expect(fs.readFileSync(f).includes(Buffer.from(PASSWORD)), `password in ${f}`).toBe(false);
    }
    for (const s of [...screens, list.stdout, list.stderr, doctor.stdout, doctor.stderr]) expect(s).not.toContain(PASSWORD);
  }, 150_000);

  it('#14: keys sent without any delay (a whole URL, three Backspaces, Tab, more text) are stored exactly as typed', async () => {
    const anna = crm.users.find((u) => u.login === 'anna') ?? crm.users[0]!;
    const other = crm.users.find((u) => u.id !== anna.id)!;
    const index = crm.users.indexOf(other);
    const fast = 'fast';
    const command = `env -u CI -u CONTINUOUS_INTEGRATION DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus ${process.execPath} ${cliPath} --home ${crm.home} configure; sleep 30`;
    tmux('new-session', '-d', '-s', fast, '-x', '80', '-y', '24', command);
    const send = (...args: string[]) => tmux('send-keys', '-t', fast, ...args);
    const waitFast = async (text: string | RegExp, timeoutMs = 15_000): Promise<string> => {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const screen = tmux('capture-pane', '-p', '-t', fast);
        screens.push(screen);
        if (typeof text === 'string' ? screen.includes(text) : text.test(screen)) return screen;
        if (Date.now() > end) throw new Error(`the terminal never showed ${String(text)}; it shows:\n${screen}`);
        await pause(100);
      }
    };
    await waitFast('mailbox assignments', 60_000);
    await pause(150);
    send(...Array<string>(index).fill('Down'), 'Enter');
    await waitFast(`Mailbox of ${other.login}`);
    await pause(150);
    // From here on no pause at all: each send-keys right after the other, as fast as tmux
    // takes them. Up twice first: on the server URL it must stay there (it wrapped to Cancel).
    send('Up', 'Up');
    send('-l', `${radicale.url}/abc`);
    send('BSpace', 'BSpace', 'BSpace');
    send('Tab');
    send('-l', 'speedy');
    send('Tab');
    send('-l', FAST_PASSWORD);
    // Password → past the tags, days, private, import types and Test connection → Save.
    send(...Array<string>(8).fill('Down'), 'Enter');
    const screen = await waitFast('Saved:', 30_000);
    expect(screen).toContain(`Saved: speedy @ ${radicale.url}/ for ${other.login}.`);
    send('q');

    // What was stored: exactly the typed URL without the three erased characters (no DEL
    // characters, no %7F), the login, and the password in the 0600 secrets file only.
    const paths = resolvePaths(crm.home);
    const config = JSON.parse(fs.readFileSync(paths.configFile, 'utf8')) as { mailboxes: Array<{ user: string; url: string; username: string }> };
    const stored = config.mailboxes.find((m) => m.user === other.id)!;
    expect(stored).toMatchObject({ url: `${radicale.url}/`, username: 'speedy' });
    expect(fs.readFileSync(paths.configFile, 'utf8')).not.toMatch(/\\u007f|%7F|\x7f/i);
    expect((JSON.parse(fs.readFileSync(paths.secretsFile, 'utf8')) as Record<string, string>)[`mailbox:${other.id}`]).toBe(FAST_PASSWORD);
    for (const sc of screens) expect(sc).not.toContain(FAST_PASSWORD);
  }, 150_000);
});

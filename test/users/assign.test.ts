// The shared assign/unassign logic (used by `users assign` and `configure`) against a real
// Radicale, with an in-memory CRM directory.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AssignmentInvalidError,
  ConnectionTestError,
  UnknownUserError,
  assignMailbox,
  davConnector,
  effectiveSettings,
  unassignMailbox,
  type AdminDeps,
} from '../../src/assignments/index.js';
import { loadConfig, saveConfig } from '../../src/config/load.js';
import { resolvePaths } from '../../src/config/paths.js';
import type { Config } from '../../src/config/schema.js';
import { getMailboxPassword } from '../../src/secrets/index.js';
import { startRadicale, type RadicaleServer } from '../helpers/servers.js';
import { demoUsers, memoryCrm } from './fake-crm.js';

let radicale: RadicaleServer;
beforeAll(async () => {
  radicale = await startRadicale({ users: { anna: 'anna-secret-pw', bernd: 'bernd-secret-pw' } });
});
afterAll(async () => {
  await radicale?.stop();
});

function deps(): AdminDeps & { home: string } {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'sync-cli-assign-'));
  const paths = resolvePaths(home);
  return {
    home,
    paths,
    crm: async () => memoryCrm(),
    config: () => loadConfig(paths.configFile),
    saveConfig: (c: Config) => saveConfig(paths.configFile, c),
    connect: davConnector,
    defaultStore: async () => 'file',
  };
}

describe('assign', () => {
  it('tests the connection, stores the collection URLs in config.json and the password only in the store', async () => {
    const d = deps();
    const result = await assignMailbox(d, { user: 'anna', url: radicale.url + '/', username: 'anna', password: 'anna-secret-pw', addressTags: ['VIP'] }, { verify: true });
    expect(Object.keys(result.collections!)).toEqual(['contacts', 'appointments', 'tasks']);
    const config = loadConfig(d.paths.configFile);
    expect(config.mailboxes).toHaveLength(1);
    const m = config.mailboxes[0]!;
    expect(m).toMatchObject({ user: 'u1', url: radicale.url + '/', username: 'anna', credentialStore: 'file', addressTags: ['VIP'] });
    expect(m.collections?.contacts).toMatch(new RegExp('^' + radicale.url + '/anna/'));
    expect(result.collections!.appointments.displayName).toBe('CRM Termine');
    expect(fs.readFileSync(d.paths.configFile, 'utf8')).not.toContain('anna-secret-pw');
    expect(fs.statSync(d.paths.configFile).mode & 0o777).toBe(0o600);
    expect(await getMailboxPassword(m, d.paths)).toBe('anna-secret-pw');
  });

  it('R25: a wrong password fails with the server\'s answer, saves nothing and never echoes the password', async () => {
    const d = deps();
    const err = (await assignMailbox(d, { user: 'anna', url: radicale.url + '/', username: 'anna', password: 'wrong-pw-123' }, { verify: true }).catch((e: unknown) => e)) as ConnectionTestError;
    expect(err).toBeInstanceOf(ConnectionTestError);
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(/401|auth|rejected|password/i);
    expect(err.message + err.remedy).not.toContain('wrong-pw-123');
    expect(fs.existsSync(d.paths.configFile)).toBe(false);
    expect(fs.existsSync(d.paths.secretsFile)).toBe(false);
  });

  it('names every problem of a bad draft and writes nothing', async () => {
    const d = deps();
    const err = (await assignMailbox(
      d,
      { user: 'bernd', url: 'ftp://dav.example.com', username: ' ', password: '', addressTags: ['VIP', 'Nope'], activityTags: ['Gibtsnicht'], pastDays: '-3' },
      { verify: true },
    ).catch((e: unknown) => e)) as AssignmentInvalidError;
    expect(err).toBeInstanceOf(AssignmentInvalidError);
    expect(err.exitCode).toBe(2);
    expect(err.problems.map((p) => p.field).sort()).toEqual(['activityTags', 'addressTags', 'password', 'pastDays', 'url', 'username']);
    expect(err.message).toContain('"Nope" does not exist in the CRM');
    expect(err.message).not.toContain('"VIP"');
    expect(fs.existsSync(d.paths.configFile)).toBe(false);
  });

  it('R25: refuses a URL with credentials in it without repeating them', async () => {
    const d = deps();
    const err = (await assignMailbox(d, { user: 'anna', url: 'https://anna:url-pw-999@dav.example.com/', username: 'anna', password: 'x-pw' }, { verify: false }).catch((e: unknown) => e)) as AssignmentInvalidError;
    expect(err.problems).toEqual([{ field: 'url', message: expect.stringContaining('must not contain a user name or password') }]);
    expect(err.message).not.toContain('url-pw-999');
  });

  it('rejects an unknown CRM user', async () => {
    await expect(assignMailbox(deps(), { user: 'nobody', url: 'https://dav.example.com/', username: 'x', password: 'y-pw' }, { verify: false })).rejects.toBeInstanceOf(UnknownUserError);
  });

  it('keeps the stored password when an assignment is edited without a new one', async () => {
    const d = deps();
    await assignMailbox(d, { user: 'bernd', url: radicale.url + '/', username: 'bernd', password: 'bernd-secret-pw' }, { verify: true });
    const edited = await assignMailbox(d, { user: 'u2', url: radicale.url + '/', username: 'bernd', pastDays: 7, syncPrivate: true }, { verify: true });
    expect(edited.replaced).toBe(true);
    expect(loadConfig(d.paths.configFile).mailboxes).toEqual([expect.objectContaining({ user: 'u2', pastDays: 7, syncPrivate: true })]);
    expect(await getMailboxPassword(edited.mailbox, d.paths)).toBe('bernd-secret-pw');
  });

  it('unassign removes the assignment and its secret', async () => {
    const d = deps();
    await assignMailbox(d, { user: 'anna', url: 'https://dav.example.com/', username: 'anna', password: 'pw-anna-1' }, { verify: false });
    await assignMailbox(d, { user: 'bernd', url: 'https://dav.example.com/', username: 'bernd', password: 'pw-bernd-1' }, { verify: false });
    await unassignMailbox(d, 'anna');
    expect(loadConfig(d.paths.configFile).mailboxes.map((m) => m.user)).toEqual(['u2']);
    expect(JSON.parse(fs.readFileSync(d.paths.secretsFile, 'utf8'))).toEqual({ 'mailbox:u2': 'pw-bernd-1' });
    await expect(unassignMailbox(d, 'anna')).rejects.toThrow(/has no mailbox assigned/);
  });
});

describe('effective settings', () => {
  it('R1, R2: overrides win over CRM values, and the user tag is always included', () => {
    const config = loadConfig('/nonexistent/config.json');
    const anna = demoUsers[0]!;
    expect(effectiveSettings(anna, undefined, config)).toEqual({
      addressTags: ['MA-Anna', 'Kunde'],
      activityTags: ['MA-Anna'],
      pastDays: 30,
      syncPrivate: false,
      importAppointmentType: 'Termin',
      importTaskType: 'Aufgabe',
    });
    const mailbox = { user: 'u1', url: 'https://x/', username: 'a', auth: 'basic' as const, credentialStore: 'file' as const, addressTags: ['VIP'], pastDays: 5, importTaskType: 'Rückruf' };
    expect(effectiveSettings(anna, mailbox, config)).toMatchObject({ addressTags: ['MA-Anna', 'VIP'], pastDays: 5, importTaskType: 'Rückruf' });
  });
});

// `sync-cli run --once` as a user runs it: the built CLI against a real Radicale.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { Scenario } from '../helpers/scenario.js';

let sc: Scenario;
beforeAll(async () => {
  sc = await Scenario.create();
});
afterAll(async () => {
  await sc?.stop();
});

describe('run --once (CLI)', () => {
  it('--dry-run prints the plan in plain words and writes nothing', async () => {
    const r = runCli(['--home', sc.home, 'run', '--once', '--dry-run', '--user', 'mmueller']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Plan for mmueller \(dry run, nothing written\)/);
    expect(r.stdout).toMatch(/create contact "Erika Mustermann" \(a1\) on the device/);
    const dev = await sc.device('mmueller');
    expect(await dev.list('contacts')).toEqual([]);
  });

  it('D54: --dry-run --json gives each planned action the arm of the decision table that planned it; --log-level debug prints it', () => {
    const r = runCli(['--home', sc.home, '--json', 'run', '--once', '--dry-run', '--user', 'mmueller']);
    expect(r.code).toBe(0);
    const m = JSON.parse(r.stdout).mailboxes[0];
    expect(m.arms).toHaveLength(m.plan.length);
    const i = m.plan.findIndex((p: string) => /create contact "Erika Mustermann" \(a1\) on the device/.test(p));
    expect(m.arms[i]).toBe('none/crm-present/device-absent/by-scope → device-create (R1)');
    const human = runCli(['--home', sc.home, '--log-level', 'debug', 'run', '--once', '--dry-run', '--user', 'mmueller']);
    expect(human.stdout).not.toMatch(/→ device-create/);
    expect(human.stderr).toMatch(/create contact "Erika Mustermann" \(a1\) on the device \[none\/crm-present\/device-absent\/by-scope → device-create \(R1\)\]/);
  });

  it('--json prints one document with the documented keys and exits 0; stdout holds nothing else', async () => {
    const r = runCli(['--home', sc.home, '--json', 'run', '--once']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.mailboxes).toHaveLength(2);
    for (const m of doc.mailboxes) {
      expect(Object.keys(m)).toEqual(expect.arrayContaining(['user', 'state', 'created', 'updated', 'deleted', 'crmUpdates', 'conflicts', 'errors']));
      expect(m.state).toBe('success');
      expect(m.errors).toEqual([]);
    }
    expect(doc.mailboxes.find((m: { user: string }) => m.user === 'mmueller').created).toBeGreaterThan(3);
  });

  it('plain progress lines go to stderr when not a terminal, a summary table to stdout', () => {
    const r = runCli(['--home', sc.home, 'run', '--once']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/mmueller: reading/);
    expect(r.stdout).toMatch(/user\s+state\s+created\s+updated\s+deleted/);
    expect(r.stdout).toMatch(/mmueller\s+success\s+0\s+0\s+0/);
  });

  it('an unknown --user is a usage error (exit 2) naming the user', () => {
    const r = runCli(['--home', sc.home, 'run', '--once', '--user', 'niemand']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown CRM user 'niemand'/);
  });

  it('run without --once says how to run (exit 2)', () => {
    const r = runCli(['--home', sc.home, 'run']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--once/);
  });

  it('D63: a wrong password is a hard failure: run --once exits 2, names the mailbox and the fix, never the password; the other mailbox syncs', async () => {
    const { storeMailboxPassword } = await import('../../src/secrets/index.js');
    await storeMailboxPassword({ user: 'u2', credentialStore: 'file' }, 'falsch-1234', sc.paths);
    try {
      const r = runCli(['--home', sc.home, '--json', 'run', '--once']);
      expect(r.code).toBe(2);
      const doc = JSON.parse(r.stdout);
      const ss = doc.mailboxes.find((m: { user: string }) => m.user === 'sschmidt');
      expect(ss.state).toBe('failed');
      expect(ss.errors[0]).toMatchObject({ item: 'mailbox', message: expect.stringMatching(/credentials/) });
      expect(ss.outcome).toMatchObject({ kind: 'hard', reason: 'auth', remedy: expect.stringContaining('sync-cli users passwd sschmidt --password-stdin') });
      expect(doc.mailboxes.find((m: { user: string }) => m.user === 'mmueller')).toMatchObject({ state: 'success', outcome: { kind: 'ok' } });
      expect(r.stdout + r.stderr).not.toContain('falsch-1234');

      const human = runCli(['--home', sc.home, 'run', '--once']);
      expect(human.code).toBe(2);
      expect(human.stdout).toMatch(/^sschmidt: needs you: the server rejected the credentials of sschmidt \(http:\/\/127\.0\.0\.1:\d+\/.*\(fix: check the username and password of this mailbox/m);
      expect(human.stdout + human.stderr).not.toContain('falsch-1234');
    } finally {
      await storeMailboxPassword({ user: 'u2', credentialStore: 'file' }, sc.passwords.sschmidt!, sc.paths);
    }
  });

  it('R24 D63: a mailbox another process is syncing is reported busy (exit 1, nothing written to its status); the others sync', async () => {
    const fs = await import('node:fs');
    const path = await import('node:path');
    const u1 = await sc.userId('mmueller');
    fs.mkdirSync(sc.paths.lockDir, { recursive: true });
    const lockFile = path.join(sc.paths.lockDir, `${encodeURIComponent(`mailbox-${u1}`)}.lock`);
    fs.writeFileSync(lockFile, String(process.pid)); // this test process: alive, not the CLI
    try {
      const r = runCli(['--home', sc.home, '--json', 'run', '--once']);
      expect(r.code).toBe(1);
      const doc = JSON.parse(r.stdout);
      const mm = doc.mailboxes.find((m: { user: string }) => m.user === 'mmueller');
      expect(mm.outcome).toMatchObject({ kind: 'busy' });
      expect(mm.errors[0].message).toMatch(new RegExp(`being synced by another sync-cli process \\(pid ${process.pid}\\)`));
      expect(doc.mailboxes.find((m: { user: string }) => m.user === 'sschmidt').outcome).toEqual({ kind: 'ok' });
      const status = JSON.parse(runCli(['--home', sc.home, 'status', '--json']).stdout);
      expect(status.mailboxes.find((m: { user: string }) => m.user === 'mmueller').state).toBe('success'); // the earlier run's
    } finally {
      fs.rmSync(lockFile, { force: true });
    }
  });
});

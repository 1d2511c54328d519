// Two hosts (two --home folders) on one PostgreSQL state (#16 part 2): what every host must share.
// The built CLI as admins run it; a real Radicale; the CRM on the real PostgreSQL so both homes
// read the same CRM; the state in a schema of its own, dropped afterwards.
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateClusterKey } from '../../src/secrets/cluster-key.js';
import { runCli, tempHome } from '../helpers/cli.js';
import { Scenario, type Device } from '../helpers/scenario.js';
import { DaemonProcess, waitFor } from '../daemon/daemon-process.js';

const ADMIN = 'postgres://postgres@127.0.0.1:5432/test';
const schema = `sync_cli_cluster_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const url = `${ADMIN}`;
const key = generateClusterKey();
const unfold = (s: string) => s.replace(/\r?\n[ \t]/g, '');

let sc: Scenario;
let homeB = '';
let device: Device;
const admin = new pg.Client({ connectionString: ADMIN });

beforeAll(async () => {
  await admin.connect();
  sc = await Scenario.create({ crm: 'postgres' });
  homeB = tempHome('sync-cli-host-b-');
}, 120_000);
afterAll(async () => {
  await sc?.stop();
  fs.rmSync(homeB, { recursive: true, force: true });
  for (const s of [schema, `${schema}_2`]) await admin.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  await admin.end();
});

const env = (k: string | null) => ({ env: { SYNC_CLI_CLUSTER_KEY: k ?? '', CREDENTIALS_DIRECTORY: '' } });
const onA = (...args: string[]) => runCli(['--home', sc.home, ...args], env(key));
const onB = (args: string[], k: string | null = key, input?: string) => runCli(['--home', homeB, ...args], { ...env(k), ...(input !== undefined ? { input } : {}) });
const rows = async () => {
  const q = async (t: string) => (await admin.query(`SELECT * FROM ${schema}.${t} ORDER BY 1, 2`)).rows;
  return { item: await q('item'), assignment: await q('assignment'), sealed: await q('sealed_secret'), collection: await q('collection') };
};
const mailboxesOf = (r: { stdout: string }) => (JSON.parse(r.stdout) as { mailboxes: Record<string, unknown>[] }).mailboxes;

describe('two hosts on one PostgreSQL state', () => {
  it('R25, R23: state connect postgres moves the mailboxes and the file-store passwords (sealed, ciphertext only); the next sync writes nothing', async () => {
    expect(onA('--json', 'run', '--once').code).toBe(0);
    device = await sc.device('mmueller');
    const r = onA('--json', 'state', 'connect', 'postgres', '--url', url, '--schema', schema);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ mailboxes: 2, assignments: 2, movedPasswords: 2, passwordsLeft: null });
    const config = JSON.parse(fs.readFileSync(sc.paths.configFile, 'utf8'));
    expect(config.mailboxes).toEqual([]);
    // The passwords left the file store, and the database holds ciphertext only.
    const secrets = fs.readFileSync(sc.paths.secretsFile, 'utf8');
    const db = await rows();
    for (const pw of Object.values(sc.passwords)) {
      expect(secrets).not.toContain(pw);
      expect(JSON.stringify(db)).not.toContain(pw);
    }
    expect(db.assignment.map((a: { mailbox: { credentialStore: string } }) => a.mailbox.credentialStore)).toEqual(['cluster', 'cluster']);
    for (const m of mailboxesOf(onA('--json', 'run', '--once'))) expect(m).toMatchObject({ state: 'success', created: 0, updated: 0, deleted: 0, crmUpdates: 0, errors: [] });
  });

  it('R22: a second home joins with state connect (it brings nothing) and sees the assignments; unassign on B is seen on A, assign on B too', () => {
    fs.writeFileSync(path.join(homeB, 'config.json'), JSON.stringify({ crm: sc.config().crm }));
    const join = onB(['--json', 'state', 'connect', 'postgres', '--url', url, '--schema', schema]);
    expect(join.code).toBe(0);
    expect(JSON.parse(join.stdout)).toMatchObject({ mailboxes: 0, assignments: 2 });
    const listB = JSON.parse(onB(['--json', 'users', 'list']).stdout) as { users: { login: string; assigned: boolean; mailbox: { credentialStore: string } | null }[] };
    expect(listB.users.filter((u) => u.assigned).map((u) => [u.login, u.mailbox!.credentialStore])).toEqual([
      ['mmueller', 'cluster'],
      ['sschmidt', 'cluster'],
    ]);

    // A host-local store is allowed, with a warning: the other hosts cannot read that password.
    const local = onB(['users', 'assign', 'mmueller', '--url', sc.server.url + '/', '--username', sc.usernames.mmueller!, '--credential-store', 'file', '--password-stdin', '--no-verify'], null, sc.passwords.mmueller);
    expect(local.code).toBe(0);
    expect(local.stdout).toMatch(/warning: the file store is on this host only: the other hosts of the cluster cannot sync this mailbox/);
    expect(onB(['users', 'assign', 'mmueller', '--url', sc.server.url + '/', '--username', sc.usernames.mmueller!, '--credential-store', 'cluster', '--password-stdin', '--no-verify'], key, sc.passwords.mmueller).code).toBe(0);
    expect(onB(['users', 'unassign', 'sschmidt']).code).toBe(0);
    const listA = JSON.parse(onA('--json', 'users', 'list').stdout) as { users: { login: string; assigned: boolean }[] };
    expect(listA.users.find((u) => u.login === 'sschmidt')!.assigned).toBe(false);

    const assign = onB(['users', 'assign', 'sschmidt', '--url', sc.server.url + '/', '--username', sc.usernames.sschmidt!, '--password-stdin'], key, sc.passwords.sschmidt);
    expect(assign.stderr).toBe('');
    expect(assign.code).toBe(0);
    expect(assign.stdout).toContain('state database');
    const after = JSON.parse(onA('--json', 'users', 'list').stdout) as { users: { login: string; assigned: boolean; mailbox: { credentialStore: string } | null }[] };
    expect(after.users.find((u) => u.login === 'sschmidt')).toMatchObject({ assigned: true, mailbox: { credentialStore: 'cluster' } });
    // B syncs the mailbox assigned on B, with the password sealed on B, and A's mailbox too.
    const run = onB(['--json', 'run', '--once']);
    expect(run.code).toBe(0);
    expect(mailboxesOf(run).map((m) => [m.user, m.state])).toEqual([
      ['mmueller', 'success'],
      ['sschmidt', 'success'],
    ]);
  });

  it('R20: a device edit synced by host A is merged, not overwritten, by host B (one field-hash key)', async () => {
    const item = (await device.find('contacts', 'Mustermann'))!;
    await device.put(item.href, unfold(item.data).replace(/^NOTE:.*$/m, 'NOTE:Handy-Notiz'), item.etag);
    expect(mailboxesOf(onA('--json', 'run', '--once', '--user', 'mmueller'))[0]).toMatchObject({ state: 'success', crmUpdates: 1 });
    // The CRM changes another field; host B's sync merges: the device's note stays, the city comes.
    const [a1] = await sc.crm.getAddresses(['a1']);
    expect(a1!.note).toBe('Handy-Notiz');
    await sc.crm.updateAddress('a1', { city: 'Passau' }, a1!.version);
    const b = mailboxesOf(onB(['--json', 'run', '--once', '--user', 'mmueller']))[0]!;
    expect(b).toMatchObject({ state: 'success', updated: 1, conflicts: 0, crmUpdates: 0 });
    const card = unfold((await device.find('contacts', 'Mustermann'))!.data);
    expect(card).toContain('Passau');
    expect(card).toContain('Handy-Notiz');
    expect((await sc.crm.getAddresses(['a1']))[0]).toMatchObject({ city: 'Passau', note: 'Handy-Notiz' });
  });

  it('D87: a daemon on host B, whose config.json lists no mailbox, syncs the cluster\'s mailboxes from the shared assignments', async () => {
    expect(JSON.parse(fs.readFileSync(path.join(homeB, 'config.json'), 'utf8')).mailboxes ?? []).toEqual([]);
    const { id: _id, version: _v, updatedAt: _u, ...base } = (await sc.crm.getAddresses(['a1']))[0]!;
    await sc.crm.createAddress({ ...base, company: 'Daemon Neu GmbH', lastName: 'Neumann', phones: [], tags: ['MM'] });
    const daemon = DaemonProcess.start(homeB, [], { SYNC_CLI_CLUSTER_KEY: key, CREDENTIALS_DIRECTORY: '' });
    try {
      // A new leader enqueues every mailbox once (D80): the new address arrives without any push.
      await waitFor(async () => (await device.find('contacts', 'Daemon Neu GmbH')) !== undefined, 60_000, () => `the new contact on the device; daemon output:\n${daemon.output().slice(-3000)}`);
    } finally {
      await daemon.stop();
    }
    expect(daemon.output()).not.toContain(sc.passwords.mmueller!);
  }, 90_000);

  it('R25, R22: a host with a wrong cluster key: each mailbox fails hard naming the key source, exit 2, no secret in any output, nothing written', async () => {
    const before = await rows();
    const wrong = generateClusterKey();
    const r = onB(['--json', '--log-format', 'json', 'run', '--once'], wrong);
    expect(r.code).toBe(2);
    for (const m of mailboxesOf(r)) {
      expect(m).toMatchObject({ state: 'failed', created: 0, updated: 0, crmUpdates: 0, outcome: { kind: 'hard' } });
      expect(JSON.stringify(m)).toMatch(/sealed under cluster key \w+, but the key this host read from environment variable SYNC_CLI_CLUSTER_KEY is/);
    }
    const all = r.stdout + r.stderr;
    for (const secret of [wrong, key, ...Object.values(sc.passwords), ...before.sealed.map((s: { sealed: string }) => s.sealed)]) expect(all).not.toContain(secret);
    expect(all).not.toMatch(/\n\s+at /);
    const after = await rows();
    expect(after).toEqual(before);

    // doctor says why, and how to fix it.
    const doctor = onB(['doctor'], wrong);
    expect(doctor.code).toBe(1);
    expect(doctor.stdout).toMatch(/✗ mailbox of mmueller: password: The secret for mailbox:u1 was sealed under cluster key/);
    expect(doctor.stdout).toMatch(/fix: Give this host the cluster's key/);
    expect(doctor.stdout + doctor.stderr).not.toContain(wrong);
  });

  it('R25, R22: a host without any cluster key: fails hard saying where it looked and how to make one; assign writes nothing', async () => {
    const before = await rows();
    const r = onB(['run', '--once'], null);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/No cluster key on this host; looked in: .*SYNC_CLI_CLUSTER_KEY: not set/);
    const doctor = onB(['doctor'], null);
    expect(doctor.stdout).toMatch(/✗ credential store cluster: this host cannot open the mailbox passwords sealed in the state database: No cluster key on this host/);
    expect(doctor.stdout).toMatch(/sync-cli cluster key generate/);
    const assign = onB(['users', 'passwd', 'sschmidt', '--password-stdin', '--no-verify'], null, 'new-secret-pw');
    expect(assign.code).toBe(2);
    expect(assign.stderr).toMatch(/No cluster key on this host/);
    expect(await rows()).toEqual(before);
  });

  it('R25: state connect postgres into another schema takes the sealed passwords along as they are; the next sync writes nothing', () => {
    expect(onA('run', '--once').code).toBe(0);
    const r = onA('--json', 'state', 'connect', 'postgres', '--url', url, '--schema', `${schema}_2`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ mailboxes: 2, assignments: 2 });
    for (const m of mailboxesOf(onA('--json', 'run', '--once'))) expect(m).toMatchObject({ state: 'success', created: 0, updated: 0, deleted: 0, crmUpdates: 0, errors: [] });
  });

  it('R25: state connect sqlite takes the assignments back into config.json and the sealed passwords into the 0600 file; the next sync writes nothing', () => {
    // Catch up first (the CRM edit above concerns sschmidt's mailbox too), so the sync after the move has nothing to do.
    expect(onA('run', '--once').code).toBe(0);
    const r = onA('--json', 'state', 'connect', 'sqlite');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ kind: 'sqlite', assignments: 2, movedPasswords: 2 });
    const config = JSON.parse(fs.readFileSync(sc.paths.configFile, 'utf8')) as { mailboxes: { credentialStore: string }[] };
    expect(config.mailboxes.map((m) => m.credentialStore)).toEqual(['file', 'file']);
    expect(fs.statSync(sc.paths.secretsFile).mode & 0o777).toBe(0o600);
    for (const m of mailboxesOf(onA('--json', 'run', '--once'))) expect(m).toMatchObject({ state: 'success', created: 0, updated: 0, deleted: 0, crmUpdates: 0, errors: [] });
  });
});

// `sync-cli crm …` as an admin runs it: the built CLI (npm run build) in a temp --home.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportExchange } from '../../src/providers/crm/exchange.js';
import { SqlCrmProvider } from '../../src/providers/crm/sql-provider.js';
import { postgresTarget, type TestDatabase } from './databases.js';

const root = path.resolve(import.meta.dirname, '../..');
const bin = path.join(root, 'bin/sync-cli');

function cli(home: string, args: string[], input?: string) {
  const r = spawnSync(process.execPath, [bin, '--home', home, ...args], { input, encoding: 'utf8', env: { ...process.env, SYNC_CLI_CRM_PASSWORD: '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** What `crm export` prints, read in-process (a spawn per check would make this file slow). */
async function exportOf(home: string): Promise<string> {
  const crm = await SqlCrmProvider.open({ dialect: 'sqlite', url: path.join(home, 'crm.sqlite') });
  try {
    return JSON.stringify(await exportExchange(crm), null, 2) + '\n';
  } finally {
    await crm.close();
  }
}

const homes: string[] = [];
function tempHome(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-cli-'));
  homes.push(dir);
  return dir;
}

beforeAll(() => {
  if (!fs.existsSync(path.join(root, 'dist/commands/crm.js'))) throw new Error('dist/ is missing: run `npm run build` before these tests');
});
afterAll(() => {
  for (const h of homes) fs.rmSync(h, { recursive: true, force: true });
});

interface DemoActivity { kind: string; allDay: boolean; done: boolean; private: boolean; start: string | null; end: string | null; participants: string[] }
interface DemoDoc {
  users: { userTag: string; addressTags: string[] }[];
  addresses: { company: string; lastName: string; phones: { number: string; remark: string }[]; private: boolean; owner: string | null }[];
  activities: DemoActivity[];
}

describe('crm init / export / import', () => {
  const home = tempHome();
  let exported = '';

  it('crm init --demo creates a realistic German sample under --home (0600)', () => {
    const r = cli(home, ['crm', 'init', '--demo']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Created the embedded CRM');
    expect(fs.statSync(path.join(home, 'crm.sqlite')).mode & 0o777).toBe(0o600);
    const e = cli(home, ['crm', 'export']);
    expect(e.code).toBe(0);
    exported = e.stdout;
    const doc = JSON.parse(exported) as DemoDoc;
    expect(doc.users.length).toBeGreaterThanOrEqual(3);
    expect(new Set(doc.users.map((u) => u.userTag)).size).toBe(doc.users.length);
    expect(doc.users.filter((u) => u.addressTags.includes('VIP')).length).toBeGreaterThanOrEqual(2);
    expect(doc.users.filter((u) => u.addressTags.includes('Team Süd')).length).toBeGreaterThanOrEqual(2);
    expect(doc.addresses.length).toBeGreaterThanOrEqual(60);
    expect(doc.addresses.some((a) => /[äöüß]/i.test(a.company + a.lastName))).toBe(true);
    const phoneCounts = doc.addresses.map((a) => a.phones.length);
    expect(Math.min(...phoneCounts)).toBe(0);
    expect(Math.max(...phoneCounts)).toBe(10);
    expect(doc.addresses.some((a) => a.private && a.owner)).toBe(true);
    const appts = doc.activities.filter((a) => a.kind === 'appointment');
    expect(appts.length).toBeGreaterThanOrEqual(40);
    expect(doc.activities.filter((a) => a.kind === 'task').length).toBeGreaterThanOrEqual(10);
    expect(appts.some((a) => a.allDay) && appts.some((a) => !a.allDay)).toBe(true);
    expect(appts.some((a) => a.done) && appts.some((a) => a.private)).toBe(true);
    expect(appts.some((a) => a.participants.length > 1)).toBe(true);
    // Around now: something in the past two weeks and in the next two weeks.
    const now = Date.now();
    const starts = appts.map((a) => Date.parse(a.start ?? ''));
    expect(starts.some((t) => t < now && t > now - 14 * 86400_000)).toBe(true);
    expect(starts.some((t) => t > now && t < now + 14 * 86400_000)).toBe(true);
    // Across a DST change: start and end carry different offsets.
    expect(appts.some((a) => !a.allDay && a.start?.slice(-6) !== a.end?.slice(-6))).toBe(true);
  });

  it('refuses to overwrite a CRM with data unless --force', async () => {
    const r = cli(home, ['crm', 'init']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/already holds data/);
    expect(r.stderr).toContain('--force');
    expect(await exportOf(home)).toBe(exported);
  });

  it('crm export | crm import - touches nothing', () => {
    const r = cli(home, ['crm', 'import', '-'], exported);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/addresses: 0 created, 0 updated, 0 deleted, 64 unchanged/);
    expect(r.stdout).toMatch(/activities: 0 created, 0 updated, 0 deleted, \d+ unchanged/);
    // Byte-identical, updatedAt included: nothing was touched.
    expect(cli(home, ['crm', 'export']).stdout).toBe(exported);
  });

  it('imports a file, and a second import of it changes nothing', () => {
    const file = path.join(root, 'test/fixtures/crm/small.json');
    const first = cli(home, ['--json', 'crm', 'import', file]);
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ addresses: { created: 0, updated: 6 }, users: { created: 0 } });
    const after = cli(home, ['crm', 'export']).stdout;
    const second = cli(home, ['--json', 'crm', 'import', file]);
    expect(JSON.parse(second.stdout)).toMatchObject({ addresses: { created: 0, updated: 0, unchanged: 6 }, activities: { updated: 0 } });
    expect(cli(home, ['crm', 'export']).stdout).toBe(after);
    exported = after;
  });

  const bad: [string, string, RegExp][] = [
    ['malformed JSON', '{"addresses": [', /stdin is not valid JSON/],
    ['phone without number', JSON.stringify({ addresses: [{ id: 'x0' }, { id: 'x1', phones: [{ number: '1' }, { remark: 'Zentrale' }] }] }), /addresses\[1\] \(id x1\)\.phones\[1\]\.number: required/],
    ['invalid timestamp', JSON.stringify({ activities: [{ id: 'e1', kind: 'appointment', type: 'Termin', start: '25.11.2026 10:00', end: '2026-11-25T11:00:00+01:00' }] }), /activities\[0\] \(id e1\)\.start: must be a date/],
    ['duplicate ids', JSON.stringify({ addresses: [{ id: 'd1' }, { id: 'd1' }] }), /addresses\[1\] \(id d1\)\.id: duplicate of addresses\[0\]/],
    ['unknown owner', JSON.stringify({ addresses: [{ id: 'n1', company: 'Neu', owner: 'u99' }] }), /addresses\[0\] \(id n1\)\.owner: unknown user "u99"/],
    ['unknown participant', JSON.stringify({ activities: [{ id: 'n2', kind: 'task', type: 'Aufgabe', participants: ['u1', 'ghost'] }] }), /activities\[0\] \(id n2\)\.participants\[1\]: unknown user "ghost"/],
    ['missing id', JSON.stringify({ users: [{ login: 'x', name: 'X', userTag: 'X' }] }), /users\[0\]\.id: required/],
  ];
  for (const [name, input, message] of bad) {
    it(`bad input (${name}): exit 2, names record and field, nothing written`, async () => {
      const r = cli(home, ['crm', 'import', '-'], input);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(await exportOf(home)).toBe(exported);
    });
  }

  it('bad input: shape and reference problems are listed together', async () => {
    const r = cli(home, ['crm', 'import', '-'], JSON.stringify({ addresses: [{ id: 'p1', phones: [{}] }, { id: 'p2', owner: 'nobody' }] }));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/2 problems, nothing was imported/);
    expect(r.stderr).toContain('addresses[0] (id p1).phones[0].number: required');
    expect(r.stderr).toContain('addresses[1] (id p2).owner: unknown user "nobody"');
    expect(await exportOf(home)).toBe(exported);
  });

  it('keeps unknown keys of the exchange file in the embedded CRM', () => {
    const r = cli(home, ['crm', 'import', '-'], JSON.stringify({ addresses: [{ id: 'k1', company: 'Extra GmbH', ffNummer: 4711, custom: { a: 1 } }] }));
    expect(r.code).toBe(0);
    const doc = JSON.parse(cli(home, ['crm', 'export']).stdout) as { addresses: Record<string, unknown>[] };
    expect(doc.addresses.find((a) => a.id === 'k1')).toMatchObject({ company: 'Extra GmbH', ffNummer: 4711, custom: { a: 1 } });
  });

  it('--force replaces it', () => {
    const r = cli(home, ['crm', 'init', '--force']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(cli(home, ['crm', 'export']).stdout) as DemoDoc;
    expect(doc.addresses).toEqual([]);
  });
});

describe('crm without a CRM, and crm connect', () => {
  it('crm init does not delete a file that is not an embedded CRM', () => {
    const home = tempHome();
    fs.writeFileSync(path.join(home, 'crm.sqlite'), 'not a database');
    const r = cli(home, ['crm', 'init']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is not an embedded CRM/);
    expect(fs.readFileSync(path.join(home, 'crm.sqlite'), 'utf8')).toBe('not a database');
  });

  it('import without an embedded CRM says to run crm init (exit 2)', () => {
    const r = cli(tempHome(), ['crm', 'import', path.join(root, 'test/fixtures/crm/small.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/crm init/);
  });

  it('an unreachable database: exit 2, one line with the URL, no password', () => {
    const home = tempHome();
    const r = cli(home, ['crm', 'connect', 'postgres', '--url', 'postgres://sync:Sup3rGeheim@127.0.0.1:1/crm']);
    expect(r.code).toBe(2);
    // The CLI's redaction layer masks the whole userinfo.
    expect(r.stderr).toMatch(/^error: Cannot reach the CRM database postgres:\/\/(sync:)?\*\*\*@127\.0\.0\.1:1\/crm: connection refused[^\n]*\n {2}fix: [^\n]+\n$/);
    expect(r.stderr + r.stdout).not.toContain('Sup3rGeheim');
    expect(fs.existsSync(path.join(home, 'config.json'))).toBe(false);
  });

  describe.skipIf(postgresTarget.unavailable !== null)('on PostgreSQL', () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await postgresTarget.create();
      await SqlCrmProvider.createTables(db.options);
    });
    afterAll(async () => db?.drop());

    it('R25: tests the contract, saves dialect/url without the password, keeps the password in the 0600 secrets file', () => {
      const home = tempHome();
      const url = db.options.url.replace('@', ':Pa55wort@');
      const r = cli(home, ['crm', 'connect', 'postgres', '--url', url, '--schema', db.options.schema!]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('view contract is complete');
      expect(r.stdout).not.toContain('Pa55wort');
      const configText = fs.readFileSync(path.join(home, 'config.json'), 'utf8');
      expect(configText).not.toContain('Pa55wort');
      expect(JSON.parse(configText)).toMatchObject({ crm: { dialect: 'postgres', url: db.options.url, schema: db.options.schema } });
      const secrets = path.join(home, 'secrets.json');
      expect(fs.statSync(secrets).mode & 0o777).toBe(0o600);
      expect(JSON.parse(fs.readFileSync(secrets, 'utf8'))).toEqual({ 'crm:database': 'Pa55wort' });
      // The configured CRM now answers through the CLI.
      const imp = cli(home, ['crm', 'import', path.join(root, 'test/fixtures/crm/small.json')]);
      expect(imp.code).toBe(0);
      expect(imp.stdout).toMatch(/addresses: 6 created/);
    });

    it('a schema that does not exist is refused as such, with the schemas there and a hint that is not "run crm connect"', () => {
      const r = cli(tempHome(), ['crm', 'connect', 'postgres', '--url', db.options.url, '--schema', 'public_nothing_here']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('The schema "public_nothing_here" does not exist');
      expect(r.stderr).toMatch(/docs\/crm-views\.md/);
      expect(r.stderr).not.toMatch(/run `sync-cli crm connect`/);
    });
  });
});

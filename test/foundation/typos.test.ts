// #14: every typo is refused — in config.json at any depth, and in exchange files — with the key
// that was meant; unknown record keys that are no typo are kept, as the exchange format says.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, tempHome } from '../helpers/cli.js';

function demoHome(): string {
  const home = tempHome('sync-cli-typos-');
  expect(runCli(['--home', home, 'crm', 'init', '--demo']).code).toBe(0);
  return home;
}

describe('config.json typos', () => {
  it('a mistyped key inside any section is an error naming the path and the closest key; doctor lists it as a failed check', () => {
    const home = demoHome();
    fs.writeFileSync(
      path.join(home, 'config.json'),
      JSON.stringify({ sync: { maxDeletePrecent: 5, pastDay: 3 }, daemon: { intervalSecond: 60 }, crm: { dialect: 'sqlite', overlapSecs: 10 } }),
      { mode: 0o600 },
    );
    const r = runCli(['--home', home, 'users', 'list']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('sync.maxDeletePrecent: unknown key (did you mean "maxDeletePercent"?)');
    expect(r.stderr).toContain('sync.pastDay: unknown key (did you mean "pastDays"?)');
    expect(r.stderr).toContain('daemon.intervalSecond: unknown key (did you mean "intervalSeconds"?)');
    expect(r.stderr).toContain('crm.overlapSecs: unknown key (did you mean "overlapSeconds"?)');
    const d = runCli(['--home', home, 'doctor', '--json']);
    expect(d.code).toBe(1);
    const doc = JSON.parse(d.stdout) as { checks: { id: string; status: string; detail: string }[] };
    const failed = doc.checks.filter((c) => c.id === 'config' && c.status === 'fail').map((c) => c.detail);
    expect(failed).toContain('sync.maxDeletePrecent: unknown key (did you mean "maxDeletePercent"?)');
    expect(failed).toHaveLength(4);
    fs.rmSync(home, { recursive: true, force: true });
  });
});

describe('exchange file typos', () => {
  const addr = { id: 'x1', company: 'Tippfehler GmbH', lastName: 'Fehler', owner: 'u1', tags: ['MM'] };

  it('an unknown top-level key ("adresses") is an error: exit 2, nothing imported', () => {
    const home = demoHome();
    const file = path.join(home, 'in.json');
    fs.writeFileSync(file, JSON.stringify({ adresses: [addr] }));
    const before = runCli(['--home', home, 'crm', 'export']).stdout;
    const r = runCli(['--home', home, 'crm', 'import', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('adresses: unknown top-level key (did you mean "addresses"?)');
    expect(r.stderr).toContain('nothing was imported');
    expect(runCli(['--home', home, 'crm', 'export']).stdout).toBe(before);
    fs.rmSync(home, { recursive: true, force: true });
  });

  it('a record key that looks like a misspelt known key is an error; another unknown key is kept and exported again', () => {
    const home = demoHome();
    const file = path.join(home, 'in.json');
    fs.writeFileSync(file, JSON.stringify({ addresses: [{ ...addr, fristName: 'Fritz' }] }));
    const r = runCli(['--home', home, 'crm', 'import', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('addresses[0] (id x1).fristName: unknown key (did you mean "firstName"?)');
    fs.writeFileSync(file, JSON.stringify({ addresses: [{ ...addr, firstName: 'Fritz', crmNumber: 'K-4711' }] }));
    const ok = runCli(['--home', home, 'crm', 'import', file]);
    expect(ok.code, ok.stderr).toBe(0);
    const exported = JSON.parse(runCli(['--home', home, 'crm', 'export']).stdout) as { addresses: Record<string, unknown>[] };
    expect(exported.addresses.find((a) => a.id === 'x1')).toMatchObject({ firstName: 'Fritz', crmNumber: 'K-4711' });
    fs.rmSync(home, { recursive: true, force: true });
  });
});

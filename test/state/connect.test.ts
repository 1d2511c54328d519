// `sync-cli state connect postgres` as an admin runs it (#16): the built CLI moves a populated
// SQLite state into a real PostgreSQL; the next sync against the real Radicale writes nothing.
import fs from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { Scenario } from '../helpers/scenario.js';

const schema = `sync_cli_move_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const other = `${schema}_b`;
// Trust auth ignores the password, which lets the test prove where a password ends up.
const password = `geheim-${Math.random().toString(36).slice(2, 10)}`;
const url = `postgres://postgres:${password}@127.0.0.1:5432/test`;

let sc: Scenario;
beforeAll(async () => {
  sc = await Scenario.create();
});
afterAll(async () => {
  await sc?.stop();
  const c = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/test' });
  await c.connect();
  for (const s of [schema, other]) await c.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  await c.end();
});

const run = (...args: string[]) => runCli(['--home', sc.home, ...args]);

describe('state connect postgres (CLI)', () => {
  it('moves a populated SQLite state; the next sync writes nothing; the password stays out of config.json', () => {
    const first = JSON.parse(run('--json', 'run', '--once').stdout) as { mailboxes: { created: number }[] };
    expect(first.mailboxes.reduce((n, m) => n + m.created, 0)).toBeGreaterThan(3);

    const r = run('--json', 'state', 'connect', 'postgres', '--url', url, '--schema', schema);
    expect(r.stderr).not.toContain(password);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { mailboxes: number; items: number; keptAs: string; assignments: number; movedPasswords: number; passwordsLeft: { count: number; fix: string } | null };
    expect(doc.mailboxes).toBe(2);
    // The assignments go along (D87); without a cluster key the file-store passwords stay and the fix is said (D88).
    expect(doc.assignments).toBe(2);
    expect(doc.movedPasswords).toBe(0);
    expect(doc.passwordsLeft).toMatchObject({ count: 2, fix: expect.stringMatching(/sync-cli cluster key generate/) });
    expect(doc.items).toBeGreaterThan(3);
    expect(fs.existsSync(sc.paths.stateDb)).toBe(false);
    expect(fs.existsSync(doc.keptAs)).toBe(true);
    const config = fs.readFileSync(sc.paths.configFile, 'utf8');
    expect(config).not.toContain(password);
    expect(JSON.parse(config).state).toMatchObject({ kind: 'postgres', schema });
    expect(JSON.parse(config).mailboxes).toEqual([]);
    const users = JSON.parse(run('--json', 'users', 'list').stdout) as { users: { assigned: boolean; mailbox: { credentialStore: string } | null }[] };
    expect(users.users.filter((u) => u.assigned).map((u) => u.mailbox!.credentialStore)).toEqual(['file', 'file']);

    const next = run('--json', 'run', '--once');
    expect(next.code).toBe(0);
    for (const m of (JSON.parse(next.stdout) as { mailboxes: Record<string, unknown>[] }).mailboxes) {
      expect(m).toMatchObject({ state: 'success', created: 0, updated: 0, deleted: 0, crmUpdates: 0, errors: [] });
    }
    expect(fs.existsSync(sc.paths.stateDb)).toBe(false); // nothing went back to SQLite
  });

  it('again with the same target: nothing to do (exit 0)', () => {
    const r = run('state', 'connect', 'postgres', '--url', url, '--schema', schema);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/already/);
  });

  it('a schema that already holds a state is refused, nothing changed (exit 2)', () => {
    // Move back to SQLite, then try to move into the schema that still holds the old copy.
    expect(run('state', 'connect', 'sqlite').code).toBe(0);
    // …which brings the assignments back into config.json.
    expect(JSON.parse(fs.readFileSync(sc.paths.configFile, 'utf8')).mailboxes).toHaveLength(2);
    const r = run('state', 'connect', 'postgres', '--url', url, '--schema', schema);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/already holds the state of 2 mailbox/);
    expect(r.stderr).toMatch(/--schema/);
    expect(JSON.parse(fs.readFileSync(sc.paths.configFile, 'utf8')).state.kind).toBe('sqlite');
  });

  it('an unreachable PostgreSQL: a clear error naming the host, no password, nothing changed (exit 2)', () => {
    const r = run('state', 'connect', 'postgres', '--url', `postgres://postgres:${password}@127.0.0.1:1/test`, '--schema', other);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/127\.0\.0\.1:1/);
    expect(r.stderr + r.stdout).not.toContain(password);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(JSON.parse(fs.readFileSync(sc.paths.configFile, 'utf8')).state.kind).toBe('sqlite');
  });
});

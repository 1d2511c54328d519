// The state store contract on SQLite (R22–R25, R24: the lease between two stores on one file),
// plus what only SQLite has: the migration of existing stores.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { beforeEach, describe, expect, it } from 'vitest';
import { HOLDERS_SQL, MIGRATIONS, openSqliteStateStore } from '../../src/sync/state/sqlite.js';
import { describeStateStore } from './contract.js';

let dir = '';
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'state-sqlite-'));
});

describeStateStore('sqlite', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'state-contract-'));
  const opened: { close(): Promise<void> }[] = [];
  return {
    async open() {
      const s = await openSqliteStateStore(path.join(dir, 'state.sqlite'), { lockDir: path.join(dir, 'locks') });
      opened.push(s);
      return s;
    },
    async destroy() {
      await Promise.all(opened.map((s) => s.close().catch(() => undefined)));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('sqlite state store: files', () => {
  it('R25: the database and the key file are 0600, the key lives next to the database, not in it', async () => {
    const file = path.join(dir, 'state.sqlite');
    const s = await openSqliteStateStore(file);
    const key = await s.fieldHashKey();
    await s.close();
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(path.join(dir, 'state.key'), 'utf8').trim()).toBe(key);
    expect(fs.statSync(path.join(dir, 'state.key')).mode & 0o777).toBe(0o600);
  });

  it('R20: an existing state.key is kept (installations keep their field hashes)', async () => {
    fs.writeFileSync(path.join(dir, 'state.key'), 'ab'.repeat(32) + '\n', { mode: 0o600 });
    const s = await openSqliteStateStore(path.join(dir, 'state.sqlite'));
    expect(await s.fieldHashKey()).toBe('ab'.repeat(32));
    await s.close();
  });
});

describe('sqlite state store: migration v3 (one table per meaning)', () => {
  it('R22, R23: the retry rows of a v2 store move into their own tables, nothing lost', async () => {
    const file = path.join(dir, 'state.sqlite');
    const old = new Database(file);
    for (const m of MIGRATIONS.slice(0, 2)) old.exec(m);
    old.pragma('user_version = 2');
    const put = old.prepare('INSERT INTO retry (user, side, key, message) VALUES (?, ?, ?, ?)');
    put.run('u1', 'crm', 'address:id:with:colons', 'HTTP 503');
    put.run('u1', 'crm', 'https://dav.example/c/x.vcf', 'CRM address a1 could not be read');
    put.run('u1', 'device', 'https://dav.example/c/y.vcf', 'cannot parse');
    put.run('u1', 'import', 'https://dav.example/c/new.vcf', 'import from the device in progress');
    put.run('u1', 'create', 'activity:e:1', JSON.stringify({ subject: 'h1' }));
    put.run('u1', 'attention', 'https://dav.example/c/bad.vcf', JSON.stringify({ etag: '"b"', collection: 'contacts', message: 'needs a name' }));
    put.run('u1', 'attention', 'https://dav.example/c/old.vcf', 'a message from before it was JSON');
    put.run('u2', 'create', 'address:ü', '{}');
    old.prepare("INSERT INTO item VALUES ('u1', 'address', 'a1', 'contacts', '/c/a1.vcf', '\"1\"', 'v1', 'h', '{}', 'scope', '[]')").run();
    old.close();

    const s = await openSqliteStateStore(file);
    const head = await s.loadMailbox('u1');
    expect([...head.failedRecords.values()]).toEqual([{ ref: { kind: 'address', crmId: 'id:with:colons' }, message: 'HTTP 503' }]);
    expect(Object.fromEntries(head.failedItems)).toEqual({
      'https://dav.example/c/x.vcf': 'CRM address a1 could not be read',
      'https://dav.example/c/y.vcf': 'cannot parse',
    });
    expect([...head.pendingImports]).toEqual(['https://dav.example/c/new.vcf']);
    expect([...head.pendingCreates.values()]).toEqual([{ ref: { kind: 'activity', crmId: 'e:1' }, fieldHashes: { subject: 'h1' } }]);
    expect((await s.loadMailbox('u2')).pendingCreates.get('address:ü')).toEqual({ ref: { kind: 'address', crmId: 'ü' }, fieldHashes: {} });
    expect(await s.listAttention('u1')).toEqual([
      { href: 'https://dav.example/c/bad.vcf', etag: '"b"', collection: 'contacts', message: 'needs a name' },
      { href: 'https://dav.example/c/old.vcf', etag: '', collection: '', message: 'a message from before it was JSON' },
    ]);
    expect((await s.loadRecords('u1')).items.map((i) => i.crmId)).toEqual(['a1']);
    await s.close();
    const db = new Database(file, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    expect(db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'retry'").pluck().get()).toBe(0);
    db.close();
  });

  it('finds the holders of a changed record by an index lookup, not a scan of every mailbox (v4)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'state-holders-'));
    const file = path.join(dir, 'state.sqlite');
    const s = await openSqliteStateStore(file, { lockDir: path.join(dir, 'locks') });
    await s.close();
    const db = new Database(file, { readonly: true });
    const plan = (db.prepare(`EXPLAIN QUERY PLAN ${HOLDERS_SQL}`).all('[["address","a1"]]') as { detail: string }[]).map((r) => r.detail).join(' | ');
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
    expect(plan).toMatch(/SEARCH item USING (COVERING )?INDEX item_record/);
    expect(plan).not.toMatch(/SCAN item/);
  });
});

// The StateStore on the real PostgreSQL (127.0.0.1:5432, trust, db `test`): the contract suite,
// plus what only a shared store has to prove — migrations that two hosts start at once, a
// schema of its own, errors that name the database without its password. Every run uses its own
// schema (random name) and drops it afterwards.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { LeaseLostError, PostgresStateStore, StateStoreUnavailableError } from '../../src/sync/state/postgres.js';
import { describeStateStore } from './contract.js';
import { DatabaseAssignments } from '../../src/assignments/store.js';
import { mailboxSchema } from '../../src/config/schema.js';

const BASE = 'postgres://postgres@127.0.0.1:5432/test';
const admin = new pg.Pool({ connectionString: BASE, max: 2 });
const reachable = await admin.query('select 1').then(() => null, (err: Error) => err.message || 'unreachable');
if (reachable) console.warn(`skipping the PostgreSQL state store tests: ${reachable}`);
const schemas: string[] = [];
const newSchema = () => {
  const s = `state_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  schemas.push(s);
  return s;
};

afterAll(async () => {
  if (!reachable) for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  await admin.end();
});

if (!reachable) {
  describeStateStore('postgres', async () => {
    const schema = newSchema();
    const opened: PostgresStateStore[] = [];
    return {
      async open() {
        const s = await PostgresStateStore.open({ url: BASE, schema });
        opened.push(s);
        return s;
      },
      async killLeaseHolder(store) {
        const pid = await (store as unknown as PostgresStateStore).leaseBackendPid();
        await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      },
      async destroy() {
        await Promise.all(opened.map((s) => s.close()));
      },
    };
  });
}

describe.skipIf(reachable !== null)('PostgreSQL state store: schema and migrations', () => {
  it('two hosts opening a fresh schema at once migrate it once (one schema version, no lost data)', async () => {
    const schema = newSchema();
    const stores = await Promise.all([1, 2, 3].map(() => PostgresStateStore.open({ url: BASE, schema })));
    try {
      const { rows } = await admin.query(`SELECT version FROM ${schema}.schema_migration ORDER BY version`);
      expect(rows.map((r: { version: number }) => r.version)).toEqual(Array.from({ length: PostgresStateStore.schemaVersion }, (_v, i) => i + 1));
      // Re-opening finds nothing to do and keeps the data.
      await stores[0]!.apply('u', [{ op: 'identity-put', identity: 'i' }]);
      const again = await PostgresStateStore.open({ url: BASE, schema });
      expect((await again.loadMailbox('u')).identity).toBe('i');
      await again.close();
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('keeps its tables in its own schema, one table per meaning', async () => {
    const schema = newSchema();
    const store = await PostgresStateStore.open({ url: BASE, schema });
    await store.close();
    const { rows } = await admin.query<{ table_name: string }>('SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name', [schema]);
    expect(rows.map((r) => r.table_name)).toEqual([
      'assignment', 'attention', 'collection', 'device_only_item', 'exclusion', 'failed_item', 'failed_record', 'item', 'mailbox',
      'pending_create', 'pending_import', 'schema_migration', 'sealed_secret', 'setting',
    ]);
    expect(store.describe).toBe(`postgres ${BASE} schema ${schema}`);
  });

  it('a schema newer than this build is refused with the fix, nothing changed', async () => {
    const schema = newSchema();
    (await PostgresStateStore.open({ url: BASE, schema })).close();
    await admin.query(`INSERT INTO ${schema}.schema_migration (version) VALUES (999)`);
    const err = (await PostgresStateStore.open({ url: BASE, schema }).catch((e: unknown) => e)) as StateStoreUnavailableError;
    expect(err).toBeInstanceOf(StateStoreUnavailableError);
    expect(err.message).toContain('version 999');
    expect(err.remedy).toContain('Upgrade sync-cli');
  });

  it('an unreachable database: the message names it without the password', async () => {
    const err = (await PostgresStateStore.open({ url: 'postgres://sync:hunter2-secret@127.0.0.1:1/state', schema: newSchema() }).catch((e: unknown) => e)) as StateStoreUnavailableError;
    expect(err).toBeInstanceOf(StateStoreUnavailableError);
    expect(err.message).toContain('127.0.0.1:1/state');
    expect(err.message).toContain('connection refused');
    expect(err.message).not.toContain('hunter2-secret');
    expect(err.remedy).toContain('state.url');
  });

  it('R24: a sync whose lease died with its session writes no state until it leases the mailbox again', async () => {
    const schema = newSchema();
    const holder = await PostgresStateStore.open({ url: BASE, schema });
    const other = await PostgresStateStore.open({ url: BASE, schema });
    try {
      const lease = await holder.lease('u');
      await holder.apply('u', [{ op: 'identity-put', identity: 'before' }]);
      await admin.query('SELECT pg_terminate_backend($1)', [await holder.leaseBackendPid()]);
      const taken = await (async () => {
        for (let i = 0; i < 50; i++) {
          try {
            return await other.lease('u');
          } catch {
            await new Promise((r) => setTimeout(r, 100));
          }
        }
        throw new Error('the lease was not freed');
      })();
      expect(lease.lost?.aborted).toBe(true);
      const err = await holder.apply('u', [{ op: 'identity-put', identity: 'late write' }]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LeaseLostError);
      expect((err as Error).message).toContain('nothing was written');
      expect((await other.loadMailbox('u')).identity).toBe('before');
      await other.apply('u', [{ op: 'identity-put', identity: 'new holder' }]);
      await taken.release();
      // Leased again, the first store writes again.
      const again = await holder.lease('u');
      await holder.apply('u', [{ op: 'identity-put', identity: 'after' }]);
      await again.release();
      expect((await other.loadMailbox('u')).identity).toBe('after');
    } finally {
      await holder.close();
      await other.close();
    }
  });

  it('D87: the shared assignments: a change writes only its own rows, the revision moves with every write, a bad row is named with its fix', async () => {
    const schema = newSchema();
    const a = await PostgresStateStore.open({ url: BASE, schema });
    const b = await PostgresStateStore.open({ url: BASE, schema });
    try {
      const onA = new DatabaseAssignments(a, 'db');
      const onB = new DatabaseAssignments(b, 'db');
      const m = (user: string, over = {}) => mailboxSchema.parse({ user, url: 'https://dav.example/', username: `n-${user}`, credentialStore: 'cluster', ...over });
      expect(await onB.revision()).toBe('0');
      await onA.change([m('u:1'), m('u-2', { addressTags: ['MM'] })], []);
      expect(await onB.list()).toEqual([m('u-2', { addressTags: ['MM'] }), m('u:1')].sort((x, y) => (x.user < y.user ? -1 : 1)));
      const r1 = await onB.revision();
      expect(r1).not.toBe('0');
      const { rows: before } = await admin.query(`SELECT user_id, updated_at FROM ${schema}.assignment ORDER BY user_id`);
      await onB.change([m('u-2', { addressTags: ['SS'] })], []);
      const { rows: after } = await admin.query(`SELECT user_id, updated_at FROM ${schema}.assignment ORDER BY user_id`);
      // u:1 did not change, so it was not written.
      expect(after.find((r: { user_id: string }) => r.user_id === 'u:1')).toEqual(before.find((r: { user_id: string }) => r.user_id === 'u:1'));
      expect((await onA.list()).find((x) => x.user === 'u-2')!.addressTags).toEqual(['SS']);
      await onA.change([], ['u:1']);
      expect((await onB.list()).map((x) => x.user)).toEqual(['u-2']);
      expect(await onB.revision()).not.toBe(r1);
      // Retention on a host whose list is empty or older never purges what the shared assignments hold.
      await a.setStatus('u-2', { state: 'success', lastSuccess: '2020-01-01T00:00:00.000Z' });
      await a.setStatus('gone', { state: 'success', lastSuccess: '2026-01-01T00:00:00.000Z' });
      expect(await a.staleUsers(new Set(), '2026-06-01T00:00:00.000Z')).toEqual(['gone']);
      expect(await a.staleUsers(new Set(['u-2']), '2026-06-01T00:00:00.000Z')).toEqual(['gone', 'u-2']);
      await admin.query(`UPDATE ${schema}.assignment SET mailbox = '{"user":"u-2","url":"ftp://x"}'`);
      const err = (await onB.list().catch((e: unknown) => e)) as Error & { remedy?: string };
      expect(err.message).toMatch(/The assignment of CRM user u-2 in db is not valid/);
      expect(err.message).toMatch(/url/);
      expect(err.remedy).toMatch(/sync-cli users assign u-2/);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a schema name that is not a plain identifier is refused before anything is sent', async () => {
    await expect(PostgresStateStore.open({ url: BASE, schema: 'x; drop table y' })).rejects.toThrow(/plain lower-case identifier/);
  });
});

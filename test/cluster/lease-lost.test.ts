// D93: a sync whose mailbox lease dies with its PostgreSQL session (pg_terminate_backend of the
// lease's backend, what a dropped connection looks like) stops at once: no DAV write after the
// loss, one soft outcome naming the lost lease, and the next sync (leased again) finishes the
// mailbox without a duplicate (R23). Real PostgreSQL (own schema, dropped after), real Radicale
// behind a loopback proxy that slows every PUT down so the loss lands mid-write.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MailboxConfig } from '../../src/config/schema.js';
import { openMailbox } from '../../src/providers/dav/index.js';
import type { MailboxProvider } from '../../src/providers/dav/types.js';
import { runOnce, transportOptions } from '../../src/sync/engine.js';
import { PostgresStateStore } from '../../src/sync/state/postgres.js';
import type { MailboxLease, StateStore } from '../../src/sync/state/store.js';
import { startFaultyProxy, type FaultyProxy } from '../helpers/faulty-proxy.js';
import { Device, Scenario } from '../helpers/scenario.js';

const URL_ = `postgres://${process.env.PGUSER ?? 'postgres'}@127.0.0.1:5432/test`;
const schema = `lease_feat_${process.pid}_${randomBytes(3).toString('hex')}`;
const admin = new pg.Pool({ connectionString: URL_, max: 2 });
const reachable = await admin.query('select 1').then(() => null, (err: Error) => err.message || 'unreachable');
if (reachable) console.warn(`skipping the lease-loss test: ${reachable}`);

const CONTACTS = 60;
function exchange() {
  const base = { salutation: '', title: '', street: '', postalCode: '', city: 'Passau', country: 'Deutschland', fax: '', email: '', note: '', phones: [], private: false, deleted: false, company: '' };
  return {
    users: [{ id: 'u1', login: 'mmueller', name: 'Max Müller', email: 'm@example.de', userTag: 'MM', addressTags: ['MM'], activityTags: ['MM'], importAppointmentType: 'Termin', importTaskType: 'Aufgabe' }],
    addresses: Array.from({ length: CONTACTS }, (_, i) => ({ ...base, id: `a${i}`, firstName: 'Anna', lastName: `Nummer${i}`, owner: 'u1', tags: ['MM'] })),
    activities: [],
  };
}

describe.skipIf(reachable !== null)('R24 D93: the engine stops when its mailbox lease is lost', () => {
  let sc: Scenario;
  let proxy: FaultyProxy;
  let store: PostgresStateStore;

  beforeAll(async () => {
    sc = await Scenario.create({ exchange: exchange(), config: { concurrency: 2 } });
    proxy = await startFaultyProxy(sc.server.url);
    sc.setConfig((c) => {
      c.mailboxes[0]!.url = proxy.url + '/';
      c.dav.retries = 0;
    });
    store = await PostgresStateStore.open({ url: URL_, schema });
  }, 60_000);

  afterAll(async () => {
    await store?.close();
    await proxy?.stop();
    await sc?.stop();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
    await admin.end();
  });

  it('pg_terminate_backend of the lease mid-sync → no DAV write after it, outcome soft "lease … was lost"; the next sync completes without duplicates', async () => {
    // Every write the engine asks of the mailbox, and where the lease was lost among them.
    const writes: string[] = [];
    let lease: MailboxLease | undefined;
    let atLoss: { writes: number; seen: number } | undefined;
    const watched = new Proxy(store, {
      get(target, key) {
        if (key === 'lease') {
          return async (user: string) => {
            lease = await target.lease(user);
            lease.lost?.addEventListener('abort', () => (atLoss = { writes: writes.length, seen: proxy.seen.length }));
            return lease;
          };
        }
        const v = Reflect.get(target, key, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    }) as StateStore;
    const open = (m: MailboxConfig, password: string): MailboxProvider => {
      const real = openMailbox({ url: m.url, username: m.username, password, auth: m.auth }, transportOptions(sc.config()));
      return new Proxy(real, {
        get(target, key) {
          const v = Reflect.get(target, key, target) as unknown;
          if (typeof v !== 'function') return v;
          const fn = (v as (...a: unknown[]) => unknown).bind(target);
          return ['create', 'update', 'remove'].includes(String(key)) ? (...a: unknown[]) => (writes.push(String(key)), fn(...a)) : fn;
        },
      });
    };
    proxy.inject({ kind: 'delay', ms: 150 }, Infinity, 'PUT');
    const puts = () => proxy.seen.filter((s) => s.method === 'PUT').length;
    const sync = runOnce({ config: sc.config(), paths: sc.paths, crm: sc.crm, state: watched, openMailbox: open }, {});
    // The loss lands while the creates are being written.
    for (let i = 0; puts() < 5; i++) {
      if (i > 300) throw new Error(`no PUT reached the server: ${JSON.stringify(proxy.seen.slice(-5))}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const backend = await store.leaseBackendPid();
    const t0 = performance.now();
    let lostMs = NaN;
    lease?.lost?.addEventListener('abort', () => (lostMs = performance.now() - t0));
    await admin.query('SELECT pg_terminate_backend($1)', [backend]);
    const [result] = await sync;
    // What a reader of a failure (or of the report) wants to know: how quickly it stopped.
    console.info(`lease lost ${lostMs.toFixed(1)} ms after pg_terminate_backend; the sync returned after ${(performance.now() - t0).toFixed(1)} ms; PUTs: ${puts()} of ${CONTACTS}`);
    proxy.clear();

    expect(lease?.lost?.aborted).toBe(true);
    expect(atLoss).toBeDefined();
    // Not one write asked of the mailbox after the loss; on the wire at most the ones in flight then (sync.concurrency 2).
    expect(writes.length).toBe(atLoss!.writes);
    expect(proxy.seen.length - atLoss!.seen).toBeLessThanOrEqual(2);
    expect(puts()).toBeLessThan(CONTACTS / 2);
    expect(result!.outcome.kind).toBe('soft');
    expect(result!.error).toMatch(/The lease of mailbox mmueller was lost .*; the sync stopped at once, nothing more was sent to the mailbox server/);
    expect(result!.error).toContain(`schema ${schema}`);

    // Leased again (a new session), the next sync finishes the mailbox: every contact once.
    const [again] = await runOnce({ config: sc.config(), paths: sc.paths, crm: sc.crm, state: store }, {});
    expect(again!.outcome.kind, again!.error).toBe('ok');
    const cols = (await store.loadMailbox('u1')).collections;
    const dev = new Device(sc.server.url, sc.usernames.mmueller!, sc.passwords.mmueller!, { contacts: cols.contacts!.url, appointments: cols.appointments!.url, tasks: cols.tasks!.url });
    const names = (await dev.list('contacts')).map((i) => /Nummer\d+/.exec(i.data)?.[0]).sort();
    expect(names).toEqual(Array.from({ length: CONTACTS }, (_, i) => `Nummer${i}`).sort());
  }, 60_000);
});

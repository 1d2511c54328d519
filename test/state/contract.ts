// The StateStore contract (src/sync/state/store.ts) as ONE suite, run against every
// implementation through the interface only: test/state/sqlite.test.ts and
// test/state/postgres.test.ts call `describeStateStore(name, setup)`. `setup` gives each test an
// empty state of its own; `open()` returns another store over that SAME state (what a second
// process or host would open — how the lease and the shared field-hash key are tested).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MailboxLockedError } from '../../src/sync/lock.js';
import type { ItemState, RecordRef, StateChange, StateStore } from '../../src/sync/state/store.js';

export interface StoreFixture {
  /** Another store over the same state (what a second process or host would open). */
  open(): Promise<StateStore>;
  /** Makes this store's lease holder die as a crash would; omitted where that cannot be played. */
  killLeaseHolder?(store: StateStore): Promise<void>;
  /** Closes what the fixture opened and removes the state. */
  destroy(): Promise<void>;
}

export function item(user: string, crmId: string, over: Partial<ItemState> = {}): ItemState {
  return {
    user,
    kind: 'address',
    crmId,
    collection: 'contacts',
    href: `/dav/${user}/contacts/${encodeURIComponent(crmId)}.vcf`,
    etag: `"e-${crmId}"`,
    crmVersion: 'v1',
    contentHash: 'h',
    fieldHashes: { name: 'x' },
    reason: 'scope',
    links: [],
    ...over,
  };
}

const pgItem = (user: string, crmId: string, href: string, over: Partial<ItemState> = {}): ItemState =>
  item(user, crmId, { href, crmVersion: '1', contentHash: `h-${crmId}`, fieldHashes: { lastName: `fh-${crmId}`, city: 'x' }, ...over });

const addr = (crmId: string): RecordRef => ({ kind: 'address', crmId });

async function waitFor<T>(fn: () => Promise<T>, ms: number): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export function describeStateStore(name: string, setup: () => Promise<StoreFixture>): void {
  describe(`StateStore contract: ${name}`, () => {
    let fx: StoreFixture;
    let store: StateStore;
    let n = 0;
    // Mailbox names with ':', '/' and unicode, as CRM user ids may be.
    const fresh = () => `user:${++n}:Zoë/ü`;
    const run = (fn: (s: StateStore) => Promise<void>) => () => fn(store);

    beforeEach(async () => {
      fx = await setup();
      store = await fx.open();
    }, 60_000);
    afterEach(async () => {
      await store?.close();
      await fx?.destroy();
    });

    it('R22: an unknown mailbox reads as not-started with nothing stored', run(async (s) => {
        const head = await s.loadMailbox('nobody');
        expect(head.status).toMatchObject({ user: 'nobody', state: 'not-started', lastSuccess: null, pending: 0 });
        expect(head).toMatchObject({ identity: null, serverQuirks: null, lastFull: null, collections: {}, deviceOnlyPrivate: 0 });
        expect(head.cursors).toEqual({ addresses: null, activities: null, tombstones: null });
        expect([head.failedRecords.size, head.failedItems.size, head.pendingImports.size, head.pendingCreates.size]).toEqual([0, 0, 0, 0]);
        const rec = await s.loadRecords('nobody');
        expect([rec.items, rec.deviceOnly, rec.exclusions.size, rec.attention.size]).toEqual([[], [], 0, 0]);
        expect(typeof s.describe).toBe('string');
      }));

    it('R22: status is patched field by field, listed per mailbox, and a huge error is cut', run(async (s) => {
        await s.setStatus('u1', { state: 'in-progress', startedAt: '2026-01-01T00:00:00Z' });
        await s.setStatus('u1', { state: 'failed', lastError: 'x'.repeat(100_000) });
        const st = await s.getStatus('u1');
        expect(st).toMatchObject({ state: 'failed', startedAt: '2026-01-01T00:00:00Z' });
        expect(st.lastError!.length).toBeLessThanOrEqual(1100);
        await s.setStatus('u0', { state: 'success', pending: 2 });
        expect((await s.listStatuses()).map((x) => [x.user, x.state])).toEqual([
          ['u0', 'success'],
          ['u1', 'failed'],
        ]);
      }));

    it('D94: a status written with the last write group, with a lease, and for many mailboxes at once', run(async (s) => {
        const odd = "it's:Zoë\\ü";
        await s.apply(odd, [{ op: 'last-full-put', at: '2026-01-02T00:00:00Z' }], { state: 'failed', lastError: `x'${'y'.repeat(100_000)}`, pending: 3, finishedAt: '2026-01-02T00:00:01Z' });
        const head = await s.loadMailbox(odd);
        expect(head.lastFull).toBe('2026-01-02T00:00:00Z');
        expect(head.status).toMatchObject({ state: 'failed', pending: 3, finishedAt: '2026-01-02T00:00:01Z' });
        expect(head.status.lastError!.startsWith("x'y")).toBe(true);
        expect(head.status.lastError!.length).toBeLessThanOrEqual(1100);
        // Only the status, no change: written all the same.
        await s.apply(odd, [], { state: 'success', lastError: null });
        expect(await s.getStatus(odd)).toMatchObject({ state: 'success', lastError: null, pending: 3 });

        const lease = await s.lease('u-leased', { state: 'in-progress', startedAt: '2026-01-03T00:00:00Z' });
        expect(await s.getStatus('u-leased')).toMatchObject({ state: 'in-progress', startedAt: '2026-01-03T00:00:00Z' });
        const other = await fx.open();
        try {
          // Refused: the holder's status stays as it is.
          await expect(other.lease('u-leased', { state: 'in-progress', startedAt: '2026-01-04T00:00:00Z' })).rejects.toBeInstanceOf(MailboxLockedError);
          expect((await other.getStatus('u-leased')).startedAt).toBe('2026-01-03T00:00:00Z');
          await lease.release();
          await (await other.lease('u-leased', { state: 'in-progress', startedAt: '2026-01-05T00:00:00Z' })).release();
          expect((await s.getStatus('u-leased')).startedAt).toBe('2026-01-05T00:00:00Z');
        } finally {
          await other.close();
        }

        await s.setStatuses(new Map([[odd, { nextRun: '2026-01-06T00:00:00Z' }], ['u-new', { nextRun: null, state: 'not-started' }]]));
        expect(await s.getStatus(odd)).toMatchObject({ state: 'success', nextRun: '2026-01-06T00:00:00Z', pending: 3 });
        expect((await s.listStatuses()).map((x) => x.user)).toContain('u-new');
        await s.setStatuses(new Map());
      }));

    it('every change of the union round-trips through loadMailbox / loadRecords', run(async (s) => {
        const odd = 'id:with:colons-ü-日本-🙂';
        const changes: StateChange[] = [
          { op: 'identity-put', identity: 'https://dav.example/ mm' },
          { op: 'cursors-put', cursors: { addresses: { ts: '2026-01-01T00:00:00Z', id: 'a' }, activities: null, tombstones: null, settings: 'f', syncStart: '2026-01-01T00:00:00Z' } },
          { op: 'quirks-put', quirks: { ignoresIfNoneMatch: true } },
          { op: 'last-full-put', at: '2026-01-02T00:00:00Z' },
          { op: 'collection-put', kind: 'contacts', url: 'https://dav.example/c/', token: 't1' },
          { op: 'collection-put', kind: 'tasks', url: 'https://dav.example/t/', token: null },
          { op: 'item-put', item: item('u1', odd, { links: ['l:1'], fieldHashes: { 'ä:b': 'c' } }) },
          { op: 'item-put', item: item('u1', 'ev1', { kind: 'activity', collection: 'appointments', href: '/a/ev1.ics', reason: 'linked' }) },
          { op: 'device-only-put', item: { user: 'u1', collection: 'contacts', href: '/c/p.vcf', etag: '"p"', reason: 'private (syncPrivate off)' } },
          { op: 'device-only-put', item: { user: 'u1', collection: 'contacts', href: '/c/o.vcf', etag: '"o"', reason: 'other' } },
          { op: 'exclusion-put', ref: addr(odd), since: '2026-01-03T00:00:00Z' },
          { op: 'record-failed', ref: addr(odd), message: 'HTTP 503' },
          { op: 'item-failed', href: '/c/broken.vcf', message: 'cannot parse' },
          { op: 'import-pending', href: '/c/new.vcf' },
          { op: 'create-pending', ref: addr('n:1'), fieldHashes: { city: 'h' } },
          { op: 'attention-put', item: { href: '/c/bad.vcf', etag: '"b"', collection: 'contacts', message: 'needs a name' } },
        ];
        await s.apply('u1', changes);
        const head = await s.loadMailbox('u1');
        expect(head.identity).toBe('https://dav.example/ mm');
        expect(head.cursors.addresses).toEqual({ ts: '2026-01-01T00:00:00Z', id: 'a' });
        expect(head.cursors.settings).toBe('f');
        expect(head.serverQuirks).toEqual({ ignoresIfNoneMatch: true });
        expect(head.lastFull).toBe('2026-01-02T00:00:00Z');
        expect(head.collections).toEqual({ contacts: { url: 'https://dav.example/c/', token: 't1' }, tasks: { url: 'https://dav.example/t/', token: null } });
        expect(head.failedRecords.get(`address:${odd}`)).toEqual({ ref: addr(odd), message: 'HTTP 503' });
        expect([...head.failedItems]).toEqual([['/c/broken.vcf', 'cannot parse']]);
        expect([...head.pendingImports]).toEqual(['/c/new.vcf']);
        expect(head.pendingCreates.get('address:n:1')).toEqual({ ref: addr('n:1'), fieldHashes: { city: 'h' } });
        expect(head.deviceOnlyPrivate).toBe(1);
        const rec = await s.loadRecords('u1');
        expect(rec.items.find((i) => i.crmId === odd)).toEqual(item('u1', odd, { links: ['l:1'], fieldHashes: { 'ä:b': 'c' } }));
        expect(rec.items).toHaveLength(2);
        expect(rec.deviceOnly.map((f) => f.href).sort()).toEqual(['/c/o.vcf', '/c/p.vcf']);
        expect(rec.exclusions.get(`address:${odd}`)).toEqual({ kind: 'address', crmId: odd, since: '2026-01-03T00:00:00Z' });
        expect(rec.attention.get('/c/bad.vcf')).toEqual({ href: '/c/bad.vcf', etag: '"b"', collection: 'contacts', message: 'needs a name' });
        expect(await s.listAttention('u1')).toEqual([{ href: '/c/bad.vcf', etag: '"b"', collection: 'contacts', message: 'needs a name' }]);
        expect((await s.pendingCounts()).get('u1')).toBe(3);
        // Another mailbox sees none of it.
        expect((await s.loadRecords('u2')).items).toEqual([]);

        // …and every settling change takes its row away again.
        await s.apply('u1', [
          { op: 'item-delete', ref: addr(odd) },
          { op: 'device-only-delete', href: '/c/o.vcf' },
          { op: 'exclusion-delete', ref: addr(odd) },
          { op: 'record-settled', ref: addr(odd) },
          { op: 'item-settled', href: '/c/broken.vcf' },
          { op: 'import-settled', href: '/c/new.vcf' },
          { op: 'create-settled', ref: addr('n:1') },
          { op: 'attention-delete', href: '/c/bad.vcf' },
        ]);
        const h2 = await s.loadMailbox('u1');
        expect([h2.failedRecords.size, h2.failedItems.size, h2.pendingImports.size, h2.pendingCreates.size]).toEqual([0, 0, 0, 0]);
        const r2 = await s.loadRecords('u1');
        expect(r2.items.map((i) => i.crmId)).toEqual(['ev1']);
        expect(r2.deviceOnly.map((f) => f.href)).toEqual(['/c/p.vcf']);
        expect([r2.exclusions.size, r2.attention.size]).toEqual([0, 0]);
      }));

    it('item-put replaces the agreed item of a record (href and ETag move with it) and touches no other table', run(async (s) => {
        await s.apply('u1', [
          { op: 'create-pending', ref: addr('a1'), fieldHashes: {} },
          { op: 'device-only-put', item: { user: 'u1', collection: 'contacts', href: '/c/new.vcf', etag: '"x"', reason: 'other' } },
        ]);
        await s.apply('u1', [{ op: 'item-put', item: item('u1', 'a1') }]);
        await s.apply('u1', [{ op: 'item-put', item: item('u1', 'a1', { href: '/c/new.vcf', etag: '"2"' }) }]);
        const rec = await s.loadRecords('u1');
        expect(rec.items).toEqual([item('u1', 'a1', { href: '/c/new.vcf', etag: '"2"' })]);
        // No hidden deletes: settling the pending create and the device-only row are changes of their own.
        expect(rec.deviceOnly).toHaveLength(1);
        expect((await s.loadMailbox('u1')).pendingCreates.size).toBe(1);
        await s.apply('u1', [{ op: 'creates-settled' }]);
        expect((await s.loadMailbox('u1')).pendingCreates.size).toBe(0);
      }));

    it('R23: apply is all or nothing — a change failing mid-list leaves nothing of the list', run(async (s) => {
        await s.apply('u1', [{ op: 'item-put', item: item('u1', 'keep') }]);
        const bad = { op: 'no-such-change' } as unknown as StateChange;
        await expect(
          s.apply('u1', [{ op: 'item-put', item: item('u1', 'a1') }, { op: 'item-delete', ref: addr('keep') }, { op: 'cursors-put', cursors: { addresses: null, activities: null, tombstones: null, settings: 'x' } }, bad]),
        ).rejects.toThrow();
        expect((await s.loadRecords('u1')).items.map((i) => i.crmId)).toEqual(['keep']);
        expect((await s.loadMailbox('u1')).cursors.settings).toBeUndefined();
        // A second item on the same href violates the store's uniqueness: nothing of that list either.
        await expect(s.apply('u1', [{ op: 'record-failed', ref: addr('z'), message: 'm' }, { op: 'item-put', item: item('u1', 'other', { href: item('u1', 'keep').href }) }])).rejects.toThrow();
        expect((await s.loadMailbox('u1')).failedRecords.size).toBe(0);
      }));

    it('lookup reads the agreed items of a list of records and hrefs in batches (ids with ":" and unicode)', run(async (s) => {
        const ids = Array.from({ length: 1200 }, (_, i) => `k:${i}:ü`);
        await s.apply('u1', ids.map((id) => ({ op: 'item-put' as const, item: item('u1', id) })));
        await s.apply('u2', [{ op: 'item-put', item: item('u2', 'k:1:ü') }]);
        await s.apply('u1', [{ op: 'device-only-put', item: { user: 'u1', collection: 'contacts', href: '/c/f.vcf', etag: '"f"', reason: 'other' } }]);
        const want = [...ids.filter((_, i) => i % 2 === 0), 'missing'];
        const got = await s.lookup('u1', { records: want.map(addr) });
        expect(got.items.map((i) => i.crmId).sort()).toEqual(ids.filter((_, i) => i % 2 === 0).sort());
        expect(got.items.every((i) => i.user === 'u1')).toBe(true);
        const byHref = await s.lookup('u1', { hrefs: [item('u1', 'k:7:ü').href, '/c/f.vcf', '/nowhere'] });
        expect(byHref.items.map((i) => i.crmId)).toEqual(['k:7:ü']);
        expect(byHref.deviceOnly.map((f) => f.href)).toEqual(['/c/f.vcf']);
        expect(await s.lookup('u1', {})).toEqual({ items: [], deviceOnly: [], excluded: new Set() });
        await s.apply('u1', [{ op: 'exclusion-put', ref: addr('x:1'), since: '2026-01-01T00:00:00Z' }, { op: 'exclusion-put', ref: addr('x:2'), since: '2026-01-01T00:00:00Z' }]);
        expect([...(await s.lookup('u1', { records: [addr('x:1'), addr('k:1:ü')] })).excluded]).toEqual(['address:x:1']);
        // The kind is part of the key.
        expect((await s.lookup('u1', { records: [{ kind: 'activity', crmId: 'k:1:ü' }] })).items).toEqual([]);
      }));

    it('R1: heldIds lists the CRM ids of the records one mailbox holds, per kind (the scoped feed filters by them)', run(async (s) => {
      expect(await s.heldIds('u1')).toEqual({ address: [], activity: [] });
      await s.apply('u1', [{ op: 'item-put', item: item('u1', 'a:1') }, { op: 'item-put', item: item('u1', 'ü') }, { op: 'item-put', item: item('u1', 'v', { kind: 'activity', collection: 'appointments', href: '/v.ics' }) }]);
      await s.apply('u1', [{ op: 'device-only-put', item: { user: 'u1', collection: 'contacts', href: '/c/f.vcf', etag: '"f"', reason: 'other' } }, { op: 'exclusion-put', ref: addr('x'), since: '2026-01-01T00:00:00Z' }]);
      await s.apply('u2', [{ op: 'item-put', item: item('u2', 'b') }]);
      const got = await s.heldIds('u1');
      expect({ address: [...got.address].sort(), activity: got.activity }).toEqual({ address: ['a:1', 'ü'], activity: ['v'] });
    }));

    it('holders: the mailboxes that hold any of these records', run(async (s) => {
        await s.apply('u1', [{ op: 'item-put', item: item('u1', 'a:1') }]);
        await s.apply('u2', [{ op: 'item-put', item: item('u2', 'a:1') }, { op: 'item-put', item: item('u2', 'b') }]);
        await s.apply('u3', [{ op: 'item-put', item: item('u3', 'a:1', { kind: 'activity', collection: 'appointments', href: '/a.ics' }) }]);
        expect([...(await s.holders([addr('a:1')]))].sort()).toEqual(['u1', 'u2']);
        expect([...(await s.holders([addr('b'), { kind: 'activity', crmId: 'a:1' }]))].sort()).toEqual(['u2', 'u3']);
        expect((await s.holders([])).size).toBe(0);
      }));

    it('staleUsers, reset and forget (retention, pointed elsewhere)', run(async (s) => {
        for (const [u, at] of [
          ['gone', '2026-01-10T00:00:00Z'],
          ['old', '2025-01-01T00:00:00Z'],
          ['fresh', '2026-01-10T00:00:00Z'],
        ] as const) {
          await s.setStatus(u, { state: 'success', lastSuccess: at });
          await s.apply(u, [{ op: 'item-put', item: item(u, 'a1') }, { op: 'identity-put', identity: `id-${u}` }, { op: 'last-full-put', at }]);
        }
        expect((await s.staleUsers(new Set(['old', 'fresh']), '2026-01-01T00:00:00Z')).sort()).toEqual(['gone', 'old']);
        await s.apply('old', [{ op: 'reset' }]);
        const old = await s.loadMailbox('old');
        expect(old.status.lastSuccess).toBe('2025-01-01T00:00:00Z');
        expect(old.lastFull).toBeNull();
        expect((await s.loadRecords('old')).items).toEqual([]);
        await s.forget('gone');
        expect((await s.getStatus('gone')).state).toBe('not-started');
        expect((await s.listStatuses()).map((x) => x.user).sort()).toEqual(['fresh', 'old']);
        expect((await s.loadRecords('fresh')).items).toHaveLength(1);
      }));

    it('R24: a lease excludes a second store on the same database until it is released', async () => {
      const a = store;
      const b = await fx.open();
      try {
        const lease = await a.lease('u1');
        await expect(b.lease('u1')).rejects.toBeInstanceOf(MailboxLockedError);
        const other = await b.lease('u2'); // another mailbox is free
        await other.release();
        await lease.release();
        const again = await b.lease('u1');
        await again.release();
      } finally {
        await b.close();
      }
    });

    it('R20: the field-hash key is created once and shared by every store of the database', async () => {
      const a = store;
      const b = await fx.open();
      try {
        const k = await a.fieldHashKey();
        expect(k).toMatch(/^[0-9a-f]{32,}$/);
        expect(await b.fieldHashKey()).toBe(k);
      } finally {
        await b.close();
      }
    });

    it('R22, R23: every kind of change reads back as written, ids with ":", quotes and unicode included', async () => {
      const u = fresh();
      const crmId = "crm:42:ä€😀'\\$1";
      const href = "/dav/u/contacts/a:b ü'; DROP TABLE item; --.vcf";
      const changes: StateChange[] = [
        { op: 'identity-put', identity: 'https://dav.example/ anna' },
        { op: 'collection-put', kind: 'contacts', url: 'https://dav.example/c/', token: 'tok:1' },
        { op: 'collection-put', kind: 'appointments', url: 'https://dav.example/e/', token: null },
        { op: 'cursors-put', cursors: { addresses: { ts: '2026-12-01T10:00:00.000Z', id: 'a:1' }, activities: null, tombstones: null, settings: '["MM"]', syncStart: '2026-12-01T10:00:00.000Z' } },
        { op: 'quirks-put', quirks: { ignoresIfMatch: true } },
        { op: 'last-full-put', at: '2026-12-01T09:00:00.000Z' },
        { op: 'item-put', item: pgItem(u, crmId, href, { links: ['l:1', 'l:2'] }) },
        { op: 'item-put', item: pgItem(u, 'act:1', '/dav/u/events/1.ics', { kind: 'activity', collection: 'appointments', reason: 'linked' }) },
        { op: 'device-only-put', item: { user: u, collection: 'appointments', href: '/dav/u/events/private.ics', etag: '"p"', reason: 'private (syncPrivate off)' } },
        { op: 'device-only-put', item: { user: u, collection: 'contacts', href: '/dav/u/contacts/other.vcf', etag: '"o"', reason: 'no name' } },
        { op: 'exclusion-put', ref: { kind: 'address', crmId: 'x:ü' }, since: '2026-11-30T00:00:00.000Z' },
        { op: 'record-failed', ref: { kind: 'activity', crmId: 'f:1' }, message: 'the CRM refused: ü' },
        { op: 'item-failed', href: '/dav/u/contacts/bad.vcf', message: '412' },
        { op: 'import-pending', href: '/dav/u/contacts/new.vcf' },
        { op: 'create-pending', ref: { kind: 'address', crmId: 'new:1' }, fieldHashes: { lastName: 'n' } },
        { op: 'attention-put', item: { href: '/dav/u/contacts/unreadable.vcf', etag: '"u"', collection: 'contacts', message: 'not a vCard' } },
      ];
      await store.apply(u, changes);

      const head = await store.loadMailbox(u);
      expect(head.identity).toBe('https://dav.example/ anna');
      expect(head.collections).toEqual({ contacts: { url: 'https://dav.example/c/', token: 'tok:1' }, appointments: { url: 'https://dav.example/e/', token: null } });
      expect(head.cursors).toEqual((changes[3] as { cursors: unknown }).cursors);
      expect(head.serverQuirks).toEqual({ ignoresIfMatch: true });
      expect(head.lastFull).toBe('2026-12-01T09:00:00.000Z');
      expect([...head.failedRecords.entries()]).toEqual([['activity:f:1', { ref: { kind: 'activity', crmId: 'f:1' }, message: 'the CRM refused: ü' }]]);
      expect([...head.failedItems.entries()]).toEqual([['/dav/u/contacts/bad.vcf', '412']]);
      expect([...head.pendingImports]).toEqual(['/dav/u/contacts/new.vcf']);
      expect([...head.pendingCreates.entries()]).toEqual([['address:new:1', { ref: { kind: 'address', crmId: 'new:1' }, fieldHashes: { lastName: 'n' } }]]);
      expect(head.deviceOnlyPrivate).toBe(1);

      const rec = await store.loadRecords(u);
      const byId = new Map(rec.items.map((i) => [i.crmId, i]));
      expect(byId.get(crmId)).toEqual(pgItem(u, crmId, href, { links: ['l:1', 'l:2'] }));
      expect(byId.get('act:1')?.reason).toBe('linked');
      expect(rec.deviceOnly.map((d) => d.href).sort()).toEqual(['/dav/u/contacts/other.vcf', '/dav/u/events/private.ics']);
      expect([...rec.exclusions.entries()]).toEqual([['address:x:ü', { kind: 'address', crmId: 'x:ü', since: '2026-11-30T00:00:00.000Z' }]]);
      expect([...rec.attention.values()]).toEqual([{ href: '/dav/u/contacts/unreadable.vcf', etag: '"u"', collection: 'contacts', message: 'not a vCard' }]);
      expect(await store.listAttention(u)).toEqual([...rec.attention.values()]);

      // …and every settle/delete takes its row away again.
      await store.apply(u, [
        { op: 'item-delete', ref: { kind: 'activity', crmId: 'act:1' } },
        { op: 'device-only-delete', href: '/dav/u/contacts/other.vcf' },
        { op: 'exclusion-delete', ref: { kind: 'address', crmId: 'x:ü' } },
        { op: 'record-settled', ref: { kind: 'activity', crmId: 'f:1' } },
        { op: 'item-settled', href: '/dav/u/contacts/bad.vcf' },
        { op: 'import-settled', href: '/dav/u/contacts/new.vcf' },
        { op: 'create-pending', ref: { kind: 'address', crmId: 'new:2' }, fieldHashes: {} },
        { op: 'create-settled', ref: { kind: 'address', crmId: 'new:1' } },
        { op: 'attention-delete', href: '/dav/u/contacts/unreadable.vcf' },
      ]);
      const after = await store.loadMailbox(u);
      expect(after.failedRecords.size + after.failedItems.size + after.pendingImports.size).toBe(0);
      expect([...after.pendingCreates.keys()]).toEqual(['address:new:2']);
      await store.apply(u, [{ op: 'creates-settled' }]);
      expect((await store.loadMailbox(u)).pendingCreates.size).toBe(0);
      const rec2 = await store.loadRecords(u);
      expect(rec2.items.map((i) => i.crmId)).toEqual([crmId]);
      expect(rec2.deviceOnly.map((d) => d.href)).toEqual(['/dav/u/events/private.ics']);
      expect(rec2.exclusions.size + rec2.attention.size).toBe(0);
    });

    it('R23: apply is all or nothing: a change that fails takes the whole group with it', async () => {
      const u = fresh();
      await store.apply(u, [{ op: 'item-put', item: pgItem(u, 'a1', '/c/a1.vcf') }]);
      // Two records on one device item is refused (one href, one record): nothing of the group lands.
      const failing = store.apply(u, [
        { op: 'item-put', item: pgItem(u, 'a2', '/c/a2.vcf') },
        { op: 'collection-put', kind: 'contacts', url: 'https://x/', token: 't2' },
        { op: 'item-delete', ref: { kind: 'address', crmId: 'a1' } },
        { op: 'item-put', item: pgItem(u, 'a3', '/c/a2.vcf') },
      ]);
      await expect(failing).rejects.toThrow();
      const rec = await store.loadRecords(u);
      expect(rec.items.map((i) => i.crmId)).toEqual(['a1']);
      expect((await store.loadMailbox(u)).collections).toEqual({});
    });

    it('R23: apply takes a first sync\'s thousands of writes in one group', async () => {
      const u = fresh();
      const many: StateChange[] = Array.from({ length: 3000 }, (_v, i) => ({ op: 'item-put', item: pgItem(u, `bulk:${i}`, `/c/bulk-${i}.vcf`) }));
      await store.apply(u, many);
      expect((await store.loadRecords(u)).items).toHaveLength(3000);
      expect((await store.lookup(u, { records: many.slice(0, 1000).map((_c, i) => ({ kind: 'address' as const, crmId: `bulk:${i}` })) })).items).toHaveLength(1000);
    });

    it('a fresh mailbox reads as not started and empty', async () => {
      const u = fresh();
      const head = await store.loadMailbox(u);
      expect(head.status).toMatchObject({ user: u, state: 'not-started', lastSuccess: null, pending: 0 });
      expect(head.identity).toBeNull();
      expect(head.cursors).toEqual({ addresses: null, activities: null, tombstones: null });
      expect(head.collections).toEqual({});
      expect(await store.loadRecords(u)).toEqual({ items: [], deviceOnly: [], exclusions: new Map(), attention: new Map() });
    });

    it('lookup finds the agreed items of a list of records and hrefs in one call', async () => {
      const u = fresh();
      await store.apply(u, [
        { op: 'item-put', item: pgItem(u, 'k:1', '/c/1.vcf') },
        { op: 'item-put', item: pgItem(u, 'k:2', '/c/2.vcf') },
        { op: 'item-put', item: pgItem(u, 'k:1', '/e/1.ics', { kind: 'activity', collection: 'appointments' }) },
        { op: 'device-only-put', item: { user: u, collection: 'contacts', href: '/c/own.vcf', etag: '"x"', reason: 'no name' } },
      ]);
      const got = await store.lookup(u, { records: [{ kind: 'address', crmId: 'k:1' }, { kind: 'address', crmId: 'missing' }], hrefs: ['/e/1.ics', '/c/own.vcf', '/nothing'] });
      expect(got.items.map((i) => `${i.kind}/${i.crmId}`).sort()).toEqual(['activity/k:1', 'address/k:1']);
      expect(got.deviceOnly.map((d) => d.href)).toEqual(['/c/own.vcf']);
      expect(await store.lookup(u, {})).toEqual({ items: [], deviceOnly: [], excluded: new Set() });
      // Another mailbox's rows are not this one's.
      expect((await store.lookup(fresh(), { records: [{ kind: 'address', crmId: 'k:1' }] })).items).toEqual([]);
    });

    it('holders names the mailboxes that hold any of the records', async () => {
      const [a, b, c] = [fresh(), fresh(), fresh()];
      await store.apply(a, [{ op: 'item-put', item: pgItem(a, 'shared:ü', '/a/1.vcf') }]);
      await store.apply(b, [{ op: 'item-put', item: pgItem(b, 'shared:ü', '/b/1.vcf') }, { op: 'item-put', item: pgItem(b, 'only-b', '/b/2.vcf') }]);
      await store.apply(c, [{ op: 'item-put', item: pgItem(c, 'only-b', '/c/2.ics', { kind: 'activity', collection: 'appointments' }) }]);
      expect([...(await store.holders([{ kind: 'address', crmId: 'shared:ü' }]))].sort()).toEqual([a, b].sort());
      expect([...(await store.holders([{ kind: 'address', crmId: 'only-b' }]))]).toEqual([b]);
      expect([...(await store.holders([{ kind: 'activity', crmId: 'only-b' }, { kind: 'address', crmId: 'nobody' }]))]).toEqual([c]);
      expect((await store.holders([])).size).toBe(0);
    });

    it('R22: status set in parts, read, listed; pending counts and stale users', async () => {
      const [a, b, c] = [fresh(), fresh(), fresh()];
      await store.setStatus(a, { state: 'in-progress', startedAt: '2026-12-01T10:00:00.000Z' });
      await store.setStatus(a, { state: 'success', lastSuccess: '2026-12-01T10:01:00.000Z', finishedAt: '2026-12-01T10:01:00.000Z', nextRun: '2026-12-01T10:06:00.000Z' });
      expect(await store.getStatus(a)).toEqual({
        user: a, state: 'success', lastSuccess: '2026-12-01T10:01:00.000Z', lastError: null, nextRun: '2026-12-01T10:06:00.000Z', pending: 0,
        startedAt: '2026-12-01T10:00:00.000Z', finishedAt: '2026-12-01T10:01:00.000Z',
      });
      await store.setStatus(b, { state: 'failed', lastError: 'x'.repeat(100_000), finishedAt: '2026-01-01T00:00:00.000Z', pending: 2 });
      const sb = await store.getStatus(b);
      expect(sb.lastError!.length).toBeLessThan(2000);
      expect(sb.pending).toBe(2);
      await store.apply(c, [
        { op: 'record-failed', ref: { kind: 'address', crmId: '1' }, message: 'm' },
        { op: 'item-failed', href: '/h', message: 'm' },
      ]);
      const statuses = await store.listStatuses();
      expect(statuses.filter((s) => [a, b, c].includes(s.user)).map((s) => s.user)).toEqual([a, b, c].sort());
      expect((await store.pendingCounts()).get(c)).toBe(2);
      const stale = await store.staleUsers(new Set([a, b, c]), '2026-06-01T00:00:00.000Z');
      expect(stale).toContain(b);
      expect(stale).not.toContain(a);
      expect(stale).not.toContain(c); // never finished: not stale by age
      expect(await store.staleUsers(new Set([a, b]), '2020-01-01T00:00:00.000Z')).toContain(c); // unassigned
    });

    it('reset forgets the mailbox but its status; forget removes everything', async () => {
      const u = fresh();
      await store.setStatus(u, { state: 'success', lastSuccess: '2026-12-01T10:00:00.000Z' });
      await store.apply(u, [
        { op: 'identity-put', identity: 'old' },
        { op: 'item-put', item: pgItem(u, 'r1', '/r1.vcf') },
        { op: 'collection-put', kind: 'contacts', url: 'u', token: 't' },
        { op: 'exclusion-put', ref: { kind: 'address', crmId: 'r2' }, since: 's' },
      ]);
      await store.apply(u, [{ op: 'reset' }, { op: 'identity-put', identity: 'new' }]);
      const head = await store.loadMailbox(u);
      expect(head.identity).toBe('new');
      expect(head.status.lastSuccess).toBe('2026-12-01T10:00:00.000Z');
      expect(head.collections).toEqual({});
      const rec = await store.loadRecords(u);
      expect(rec.items.length + rec.exclusions.size).toBe(0);
      await store.forget(u);
      expect((await store.getStatus(u)).state).toBe('not-started');
      expect((await store.listStatuses()).map((s) => s.user)).not.toContain(u);
      expect((await store.loadMailbox(u)).identity).toBeNull();
    });

    it('R24: a lease excludes every other holder, across store instances, until released', async () => {
      const u = fresh();
      const other = await fx.open();
      try {
        const lease = await store.lease(u);
        await expect(other.lease(u)).rejects.toBeInstanceOf(MailboxLockedError);
        await expect(store.lease(u)).rejects.toBeInstanceOf(MailboxLockedError);
        const err = (await other.lease(u).catch((e: unknown) => e)) as Error;
        expect(err.message).toContain(u);
        // Another mailbox is free meanwhile.
        const second = await other.lease(fresh());
        await lease.release();
        const taken = await other.lease(u);
        await expect(store.lease(u)).rejects.toBeInstanceOf(MailboxLockedError);
        await taken.release();
        await second.release();
        await (await store.lease(u)).release();
      } finally {
        await other.close();
      }
    });

    it('R24: a dead holder loses its lease within seconds; a live one never does', async (ctx) => {
      if (!fx.killLeaseHolder) {
        console.warn(`${name}: no lease holder to kill from a test; the takeover test does not apply`);
        return ctx.skip();
      }
      const u = fresh();
      const holder = await fx.open();
      const other = await fx.open();
      try {
        const lease = await holder.lease(u);
        // Held while alive, however long we ask.
        await new Promise((r) => setTimeout(r, 1500));
        await expect(other.lease(u)).rejects.toBeInstanceOf(MailboxLockedError);
        const t0 = Date.now();
        await fx.killLeaseHolder(holder);
        const taken = await waitFor(() => other.lease(u), 5000);
        expect(Date.now() - t0).toBeLessThan(5000);
        // The dead holder is told: its lease is gone, and it cannot take it back while the other holds it.
        await waitFor(async () => expect(lease.lost?.aborted).toBe(true), 2000);
        await expect(holder.lease(u)).rejects.toBeInstanceOf(MailboxLockedError);
        await taken.release();
      } finally {
        await holder.close();
        await other.close();
      }
    });

    it('R20: the field-hash key is created once and is the same for every instance', async () => {
      const others = await Promise.all([fx.open(), fx.open()]);
      try {
        const keys = await Promise.all([store.fieldHashKey(), ...others.map((o) => o.fieldHashKey())]);
        expect(keys[0]).toMatch(/^\S{32,}$/);
        expect(new Set(keys).size).toBe(1);
        expect(await store.fieldHashKey()).toBe(keys[0]);
      } finally {
        await Promise.all(others.map((o) => o.close()));
      }
    });
  });
}

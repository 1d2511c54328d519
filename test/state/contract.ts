// The StateStore contract (src/sync/state/store.ts) as one suite, run against every
// implementation: `describeStateStore('sqlite', open)` here, PostgreSQL by its own test file.
// `open` must return a store on the SAME database each time it is called within one test (two
// stores on one file/db are how the lease is tested), and an empty one for each new test.
import { describe, expect, it } from 'vitest';
import { MailboxLockedError } from '../../src/sync/lock.js';
import type { ItemState, RecordRef, StateChange, StateStore } from '../../src/sync/state/store.js';

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

const addr = (crmId: string): RecordRef => ({ kind: 'address', crmId });

export function describeStateStore(name: string, open: () => Promise<StateStore>): void {
  describe(`StateStore contract: ${name}`, () => {
    const withStore = async (fn: (s: StateStore) => Promise<void>) => {
      const s = await open();
      try {
        await fn(s);
      } finally {
        await s.close();
      }
    };

    it('R22: an unknown mailbox reads as not-started with nothing stored', () =>
      withStore(async (s) => {
        const head = await s.loadMailbox('nobody');
        expect(head.status).toMatchObject({ user: 'nobody', state: 'not-started', lastSuccess: null, pending: 0 });
        expect(head).toMatchObject({ identity: null, serverQuirks: null, lastFull: null, collections: {}, deviceOnlyPrivate: 0 });
        expect(head.cursors).toEqual({ addresses: null, activities: null, tombstones: null });
        expect([head.failedRecords.size, head.failedItems.size, head.pendingImports.size, head.pendingCreates.size]).toEqual([0, 0, 0, 0]);
        const rec = await s.loadRecords('nobody');
        expect([rec.items, rec.deviceOnly, rec.exclusions.size, rec.attention.size]).toEqual([[], [], 0, 0]);
        expect(typeof s.describe).toBe('string');
      }));

    it('R22: status is patched field by field, listed per mailbox, and a huge error is cut', () =>
      withStore(async (s) => {
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

    it('every change of the union round-trips through loadMailbox / loadRecords', () =>
      withStore(async (s) => {
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

    it('item-put replaces the agreed item of a record (href and ETag move with it) and touches no other table', () =>
      withStore(async (s) => {
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

    it('R23: apply is all or nothing — a change failing mid-list leaves nothing of the list', () =>
      withStore(async (s) => {
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

    it('lookup reads the agreed items of a list of records and hrefs in batches (ids with ":" and unicode)', () =>
      withStore(async (s) => {
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

    it('R1: heldIds lists the CRM ids of the records one mailbox holds, per kind (the scoped feed filters by them)', () =>
      withStore(async (s) => {
        expect(await s.heldIds('u1')).toEqual({ address: [], activity: [] });
        await s.apply('u1', [{ op: 'item-put', item: item('u1', 'a:1') }, { op: 'item-put', item: item('u1', 'ü') }, { op: 'item-put', item: item('u1', 'v', { kind: 'activity', collection: 'appointments', href: '/v.ics' }) }]);
        await s.apply('u1', [{ op: 'device-only-put', item: { user: 'u1', collection: 'contacts', href: '/c/f.vcf', etag: '"f"', reason: 'other' } }, { op: 'exclusion-put', ref: addr('x'), since: '2026-01-01T00:00:00Z' }]);
        await s.apply('u2', [{ op: 'item-put', item: item('u2', 'b') }]);
        const got = await s.heldIds('u1');
        expect({ address: [...got.address].sort(), activity: got.activity }).toEqual({ address: ['a:1', 'ü'], activity: ['v'] });
      }));

    it('holders: the mailboxes that hold any of these records', () =>
      withStore(async (s) => {
        await s.apply('u1', [{ op: 'item-put', item: item('u1', 'a:1') }]);
        await s.apply('u2', [{ op: 'item-put', item: item('u2', 'a:1') }, { op: 'item-put', item: item('u2', 'b') }]);
        await s.apply('u3', [{ op: 'item-put', item: item('u3', 'a:1', { kind: 'activity', collection: 'appointments', href: '/a.ics' }) }]);
        expect([...(await s.holders([addr('a:1')]))].sort()).toEqual(['u1', 'u2']);
        expect([...(await s.holders([addr('b'), { kind: 'activity', crmId: 'a:1' }]))].sort()).toEqual(['u2', 'u3']);
        expect((await s.holders([])).size).toBe(0);
      }));

    it('staleUsers, reset and forget (retention, pointed elsewhere)', () =>
      withStore(async (s) => {
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
      const a = await open();
      const b = await open();
      try {
        const lease = await a.lease('u1');
        await expect(b.lease('u1')).rejects.toBeInstanceOf(MailboxLockedError);
        const other = await b.lease('u2'); // another mailbox is free
        await other.release();
        await lease.release();
        const again = await b.lease('u1');
        await again.release();
      } finally {
        await a.close();
        await b.close();
      }
    });

    it('R20: the field-hash key is created once and shared by every store of the database', async () => {
      const a = await open();
      const b = await open();
      try {
        const k = await a.fieldHashKey();
        expect(k).toMatch(/^[0-9a-f]{32,}$/);
        expect(await b.fieldHashKey()).toBe(k);
      } finally {
        await a.close();
        await b.close();
      }
    });
  });
}

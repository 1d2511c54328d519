// The daemon's CRM feed watcher (src/daemon/crm-feed.ts, D108): each change is reported once, and
// once the CRM's clock has moved OVERLAP_MS past the last change, a check is one probe again —
// a bulk change is not read again on every poll (before, a 230,000-record import was re-read
// every second, for as long as no later change moved the watermark).
import { afterEach, describe, expect, it } from 'vitest';
import { CrmFeedWatcher, OVERLAP_MS } from '../../src/daemon/crm-feed.js';
import { importExchange, parseExchangeText } from '../../src/providers/crm/exchange.js';
import type { CrmProvider } from '../../src/providers/crm/model.js';
import { openWithTables, sqliteTarget, type TestDatabase } from '../crm/databases.js';
import { smallCrm } from '../helpers/small-crm.js';

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

/** The real provider, counting the records its change pages return; `ahead` moves its clock on. */
function counting(provider: CrmProvider) {
  const seen = { records: 0, ahead: 0 };
  const wrapped = new Proxy(provider, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop === 'now') return async () => new Date(Date.parse(await target.now()) + seen.ahead).toISOString();
      if (prop === 'addressChangesSince' || prop === 'activityChangesSince' || prop === 'tombstonesSince') {
        return async (...args: unknown[]) => {
          const page = await (value as (...a: unknown[]) => Promise<{ items: unknown[] }>).apply(target, args);
          seen.records += page.items.length;
          return page;
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { crm: wrapped, seen };
}

describe('CrmFeedWatcher', () => {
  it('D108: reports a bulk change once and stops reading it when the CRM clock is past the overlap', async () => {
    const { db, provider } = await openWithTables(sqliteTarget);
    cleanup = async () => {
      await provider.close();
      await (db as TestDatabase).drop();
    };
    const crm = smallCrm();
    await importExchange(provider, parseExchangeText(JSON.stringify(crm), 'fixture'), 'fixture');
    const { crm: counted, seen } = counting(provider);
    const feed = new CrmFeedWatcher(counted);
    await feed.init();

    // A "bulk" change: every address at once (as one `crm import` does).
    const bulk = { ...crm, addresses: crm.addresses.map((a: { city?: string }) => ({ ...a, city: `${a.city ?? ''} Nord` })) };
    await importExchange(provider, parseExchangeText(JSON.stringify(bulk), 'bulk'), 'bulk');
    const first = await feed.check();
    expect(first.filter((c) => c.kind === 'address').map((c) => c.id).sort()).toEqual(crm.addresses.map((a: { id: string }) => a.id).sort());

    // Within the overlap the records may be read again, but nothing is reported twice.
    expect(await feed.check()).toEqual([]);

    // The CRM's clock is past the last change by more than the overlap: one probe, no pages.
    seen.ahead = OVERLAP_MS + 1000;
    await feed.check(); // the read that notes the CRM's later clock
    seen.records = 0;
    expect(await feed.check()).toEqual([]);
    expect(await feed.check()).toEqual([]);
    expect(seen.records).toBe(0);

    // A later change is still reported, once.
    const [a1] = await provider.getAddresses([crm.addresses[0]!.id]);
    await provider.updateAddress(a1!.id, { city: 'Augsburg' }, a1!.version);
    const later = await feed.check();
    expect(later.map((c) => `${c.kind}:${c.id}`)).toEqual([`address:${a1!.id}`]);
  });
});

// The scope of a mailbox is written once (src/sync/scope.ts). The CRM's SQL form of it
// (scopeIds: tags ∧ visibility, R1, R2, R4) must select exactly the records the predicate
// accepts: checked as a property over random records on every CRM database that runs here.
// So must the scoped change feed (issue #16): what `taggedFor` accepts, plus what the mailbox
// holds, paged, with the watermark moved to the end of the feed.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importExchange, parseExchangeText } from '../../src/providers/crm/exchange.js';
import { SqlCrmProvider } from '../../src/providers/crm/index.js';
import type { ChangePage, CrmCursor } from '../../src/providers/crm/model.js';
import { FEED_PLAN } from '../../src/providers/crm/store.js';
import { taggedFor, visibleTo } from '../../src/sync/scope.js';
import { targets, type TestDatabase } from '../crm/databases.js';

const TAGS = ['MM', 'SS', 'VIP', 'Notar', 'Team Süd'];

type RandomRecord = { tags: string[]; private: boolean; owner: string | null };

/** The three users and these random addresses and tasks, into the CRM by the exchange import. */
async function importRecords(crm: SqlCrmProvider, addrs: RandomRecord[], acts: RandomRecord[], aId: (i: number) => string, tId: (i: number) => string): Promise<void> {
  const doc = {
    users: USERS.map((id, i) => ({ id, login: `user${i}`, name: `User ${i}`, userTag: `UT${i}` })),
    addresses: addrs.map((a, i) => ({ id: aId(i), lastName: `L${i}`, ...a })),
    activities: acts.map((a, i) => ({ id: tId(i), kind: 'task', type: 'Aufgabe', subject: `S${i}`, due: '2026-12-24T10:00:00+01:00', ...a })),
  };
  await importExchange(crm, parseExchangeText(JSON.stringify(doc), 'property'), 'property');
}

/** Every page of a feed from the start, as the snapshot reads it (small pages: paging is tested too). */
async function readAll<T>(read: (c: CrmCursor | null, limit: number) => Promise<ChangePage<T>>, limit = 4): Promise<{ items: T[]; last: CrmCursor | null }> {
  let cursor: CrmCursor | null = null;
  const items: T[] = [];
  for (;;) {
    const p = await read(cursor, limit);
    items.push(...p.items);
    if (p.next) cursor = p.next;
    if (!p.more || !p.next) break;
  }
  return { items, last: cursor };
}
const USERS = ['u1', 'u2', 'u3'];
const BY_TAG_MAX = FEED_PLAN.byTagMax;

// A private record always has an owner (the CRM's own rule, D32).
const recordArb = fc.oneof(
  fc.record({ tags: fc.subarray(TAGS), private: fc.constant(false), owner: fc.option(fc.constantFrom(...USERS), { nil: null }) }),
  fc.record({ tags: fc.subarray(TAGS), private: fc.constant(true), owner: fc.constantFrom(...USERS) as fc.Arbitrary<string | null> }),
);

describe('R4: visibility', () => {
  it('a private record is visible to its owner only; a public one to everybody', () => {
    expect(visibleTo({ private: true, owner: 'u1' }, 'u1')).toBe(true);
    expect(visibleTo({ private: true, owner: 'u1' }, 'u2')).toBe(false);
    expect(visibleTo({ private: true, owner: null }, 'u2')).toBe(false);
    expect(visibleTo({ private: false, owner: 'u1' }, 'u2')).toBe(true);
  });
});

for (const target of targets) {
  describe.skipIf(target.unavailable !== null)(`R1, R2, R4: the SQL scope and the scoped change feed on ${target.name} equal the predicate`, () => {
    if (target.unavailable) console.warn(`skipping ${target.name}: ${target.unavailable}`);
    let db: TestDatabase;
    let crm: SqlCrmProvider;
    beforeAll(async () => {
      db = await target.create();
      await SqlCrmProvider.createTables(db.options);
      crm = await SqlCrmProvider.open(db.options);
    }, 60_000);
    afterAll(async () => {
      await crm?.close();
      await db?.drop();
    });

    it('for random addresses and activities (tags, private, owner) and every user and tag set', async () => {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(recordArb, { minLength: 1, maxLength: 12 }), fc.array(recordArb, { minLength: 1, maxLength: 12 }), fc.subarray(TAGS, { minLength: 1 }), async (addrs, acts, userTags) => {
          run++;
          const aId = (i: number) => `r${run}a${i}`;
          const tId = (i: number) => `r${run}t${i}`;
          await importRecords(crm, addrs, acts, aId, tId);
          for (const userId of USERS) {
            const s = { userId, userTag: 'UT', addressTags: userTags, activityTags: userTags };
            const got = await crm.scopeIds({ userId, addressTags: userTags, activityTags: userTags });
            const mine = (prefix: string) => (id: string) => id.startsWith(prefix);
            const wantA = addrs.flatMap((a, i) => (taggedFor('address', a, s) ? [aId(i)] : [])).sort();
            const wantT = acts.flatMap((a, i) => (taggedFor('activity', a, s) ? [tId(i)] : [])).sort();
            expect(got.addresses.filter(mine(`r${run}a`)).sort()).toEqual(wantA);
            expect(got.activities.filter(mine(`r${run}t`)).sort()).toEqual(wantT);
          }
        }),
        { numRuns: 15 },
      );
    });

    it('R1, R2, R4: the scoped change feed is the predicate plus the held records, for random records, tags, held records and deletions', async () => {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(recordArb, { minLength: 1, maxLength: 10 }),
          fc.array(recordArb, { minLength: 1, maxLength: 10 }),
          fc.subarray(TAGS, { minLength: 0 }),
          fc.array(fc.boolean(), { minLength: 10, maxLength: 10 }),
          fc.array(fc.boolean(), { minLength: 10, maxLength: 10 }),
          async (addrs, acts, userTags, heldMask, deleteMask) => {
            run++;
            const aId = (i: number) => `s${run}a${i}:ü`;
            const tId = (i: number) => `s${run}t${i}`;
            await importRecords(crm, addrs, acts, aId, tId);
            const gone = {
              addresses: addrs.flatMap((_a, i) => (deleteMask[i] ? [{ id: aId(i), deleted: true }] : [])),
              activities: acts.flatMap((_a, i) => (deleteMask[i] ? [{ id: tId(i), deleted: true }] : [])),
            };
            await importExchange(crm, parseExchangeText(JSON.stringify(gone), 'property'), 'property');
            const heldA = addrs.flatMap((_a, i) => (heldMask[i] ? [aId(i)] : []));
            const heldT = acts.flatMap((_a, i) => (heldMask[i] ? [tId(i)] : []));
            const mine = (prefix: string) => (id: string) => id.startsWith(prefix);
            const all = {
              a: await readAll((c, l) => crm.addressChangesSince(c, l), 50),
              t: await readAll((c, l) => crm.activityChangesSince(c, l), 50),
              d: await readAll((c, l) => crm.tombstonesSince(c, l), 50),
            };
            // Both forms of the scoped page (D109): read by the tag index, and by the change index.
            for (const [userId, byTagMax] of USERS.flatMap((u) => [[u, BY_TAG_MAX], [u, 0]] as const)) {
              FEED_PLAN.byTagMax = byTagMax;
              const s = { userId, userTag: 'UT', addressTags: userTags, activityTags: userTags };
              const a = await readAll((c, l) => crm.addressChangesSince(c, l, { userId, tags: userTags, held: heldA }));
              const t = await readAll((c, l) => crm.activityChangesSince(c, l, { userId, tags: userTags, held: heldT }));
              FEED_PLAN.byTagMax = BY_TAG_MAX;
              const d = await readAll((c, l) => crm.tombstonesSince(c, l, { held: { address: heldA, activity: heldT } }));
              const alive = (i: number) => !deleteMask[i];
              const wantA = addrs.flatMap((r, i) => (alive(i) && (taggedFor('address', r, s) || heldMask[i]) ? [aId(i)] : [])).sort();
              const wantT = acts.flatMap((r, i) => (alive(i) && (taggedFor('activity', r, s) || heldMask[i]) ? [tId(i)] : [])).sort();
              expect(a.items.map((r) => r.id).filter(mine(`s${run}a`)).sort()).toEqual(wantA);
              expect(t.items.map((r) => r.id).filter(mine(`s${run}t`)).sort()).toEqual(wantT);
              const wantD = [
                ...addrs.flatMap((_r, i) => (deleteMask[i] && heldMask[i] ? [`address:${aId(i)}`] : [])),
                ...acts.flatMap((_r, i) => (deleteMask[i] && heldMask[i] ? [`activity:${tId(i)}`] : [])),
              ].sort();
              expect(d.items.map((x) => `${x.kind}:${x.id}`).filter((k) => k.includes(`s${run}`)).sort()).toEqual(wantD);
              // The watermark ends where the whole feed ends, however little passed the filter.
              expect([a.last, t.last, d.last]).toEqual([all.a.last, all.t.last, all.d.last]);
            }
          },
        ),
        { numRuns: 10 },
      );
    }, 120_000);

    it('R6: a scoped read after the end of the feed reads nothing; hasChangesSince says whether anything came since', async () => {
      const end = {
        addresses: (await readAll((c, l) => crm.addressChangesSince(c, l), 100)).last,
        activities: (await readAll((c, l) => crm.activityChangesSince(c, l), 100)).last,
        tombstones: (await readAll((c, l) => crm.tombstonesSince(c, l), 100)).last,
      };
      const page = await crm.addressChangesSince(end.addresses, 10, { userId: 'u1', tags: TAGS, held: ['x'] });
      expect(page).toEqual({ items: [], next: null, more: false });
      expect(await crm.hasChangesSince(end)).toBe(false);
      expect(await crm.hasChangesSince({ ...end, activities: null })).toBe(true);
      await crm.createAddress({ ...(await crm.getAddresses([(await crm.addressChangesSince(null, 1)).items[0]!.id]))[0]!, tags: ['MM'] });
      expect(await crm.hasChangesSince(end)).toBe(true);
    });
  });
}

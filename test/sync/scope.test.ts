// The scope of a mailbox is written once (src/sync/scope.ts). The CRM's SQL form of it
// (scopeIds: tags ∧ visibility, R1, R2, R4) must select exactly the records the predicate
// accepts: checked as a property over random records on every CRM database that runs here.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importExchange, parseExchangeText } from '../../src/providers/crm/exchange.js';
import { SqlCrmProvider } from '../../src/providers/crm/index.js';
import { taggedFor, visibleTo } from '../../src/sync/scope.js';
import { targets, type TestDatabase } from '../crm/databases.js';

const TAGS = ['MM', 'SS', 'VIP', 'Notar', 'Team Süd'];
const USERS = ['u1', 'u2', 'u3'];

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
  describe.skipIf(target.unavailable !== null)(`R1, R2, R4: the SQL scope on ${target.name} equals the predicate`, () => {
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
          const doc = {
            users: USERS.map((id, i) => ({ id, login: `user${i}`, name: `User ${i}`, userTag: `UT${i}` })),
            addresses: addrs.map((a, i) => ({ id: aId(i), lastName: `L${i}`, ...a })),
            activities: acts.map((a, i) => ({ id: tId(i), kind: 'task', type: 'Aufgabe', subject: `S${i}`, due: '2026-12-24T10:00:00+01:00', ...a })),
          };
          await importExchange(crm, parseExchangeText(JSON.stringify(doc), 'property'), 'property');
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
  });
}

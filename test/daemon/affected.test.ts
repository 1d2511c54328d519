// Which mailboxes a pushed CRM change goes to (src/daemon/affected.ts): the routing by tag must
// pick exactly the mailboxes the scope predicate picks when asked mailbox by mailbox (R1, R2, R4),
// plus every mailbox that holds a record (it may have left its scope).
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { affectedUsers, type ChangedRecord } from '../../src/daemon/affected.js';
import type { Activity, Address, CrmUser } from '../../src/providers/crm/model.js';
import { effectiveSettings } from '../../src/sync/engine.js';
import { mayConcern } from '../../src/sync/scope.js';
import type { StateStore } from '../../src/sync/state/store.js';

const user = (id: string, tags: string[] = []): CrmUser => ({
  id, login: `login-${id}`, name: id, userTag: `T-${id}`, addressTags: [`T-${id}`, ...tags], activityTags: [`T-${id}`, ...tags], importAppointmentType: 'Termin', importTaskType: 'Aufgabe',
});
const users = [user('u1', ['TEAM']), user('u2', ['TEAM']), user('u3'), user('u4', ['NORD']), user('u5')];
const config = parseConfig({
  mailboxes: [
    ...['u1', 'u2', 'u3', 'u5'].map((u) => ({ user: u, url: `https://dav.example.com/${u}/`, username: u })),
    // u4's mailbox narrows its address tags to NORD (its user tag stays part of them, R1).
    { user: 'u4', url: 'https://dav.example.com/u4/', username: 'u4', addressTags: ['NORD'] },
    // a mailbox of a user the CRM no longer knows: never routed to
    { user: 'gone', url: 'https://dav.example.com/gone/', username: 'gone' },
  ],
}, 'test');
const address = (id: string, tags: string[], extra: Partial<Address> = {}): ChangedRecord => ({ kind: 'address', id, record: { id, private: false, owner: null, tags, ...extra } as Address });
const activity = (id: string, tags: string[], extra: Partial<Activity> = {}): ChangedRecord => ({ kind: 'activity', id, record: { id, kind: 'appointment', private: false, owner: null, tags, addresses: [], ...extra } as unknown as Activity });
const holding = (holders: string[]) => ({ holders: async () => new Set(holders) }) as unknown as StateStore;

/** The predicate asked for every record and every mailbox: what routing must equal. */
function oneByOne(changes: ChangedRecord[], holders: string[]): Set<string> {
  const out = new Set(holders);
  for (const c of changes) {
    if (!c.record) continue;
    for (const m of config.mailboxes) {
      const u = users.find((x) => x.id === m.user);
      if (u && mayConcern(c.kind, c.record, effectiveSettings(config, m, u))) out.add(u.id);
    }
  }
  return out;
}

describe('affectedUsers (daemon push routing)', () => {
  const cases: [string, ChangedRecord[], string[], string[]][] = [
    ['R1: a shared tag reaches every mailbox that syncs it', [address('a1', ['TEAM'])], [], ['u1', 'u2']],
    ['R1: a user tag reaches its own mailbox only', [address('a2', ['T-u3'])], [], ['u3']],
    ['R1: the user tag stays part of a narrowed mailbox\'s tags', [address('a3', ['T-u4'])], [], ['u4']],
    ['a narrowed mailbox is not reached by a tag it left out', [address('a3b', ['TEAM-X'])], [], []],
    ['the narrowed mailbox is reached by its own tag', [address('a4', ['NORD'])], [], ['u4']],
    ['R4: a private record reaches only its owner, tagged for it', [address('a5', ['TEAM'], { private: true, owner: 'u2' })], [], ['u2']],
    ['R4: a private record of an owner without the tag reaches no one', [address('a6', ['TEAM'], { private: true, owner: 'u3' })], [], []],
    ['R2: activity tags route activities (u4 keeps its user tag there)', [activity('e1', ['T-u4']), activity('e2', ['TEAM'])], [], ['u4', 'u1', 'u2']],
    ['a deleted record reaches its holders only', [{ kind: 'address', id: 'gone-1' }], ['u5'], ['u5']],
    ['holders and tagged mailboxes together', [address('a7', ['T-u1']), { kind: 'activity', id: 'x' }], ['u3'], ['u3', 'u1']],
    ['many records with one shared tag, and untagged ones', [...Array.from({ length: 50 }, (_, i) => address(`b${i}`, i % 2 ? ['TEAM'] : [])), address('c', ['T-u5'])], [], ['u1', 'u2', 'u5']],
  ];
  for (const [name, changes, holders, want] of cases) {
    it(name, async () => {
      const got = await affectedUsers(changes, config, users, holding(holders));
      expect([...got].sort()).toEqual([...want].sort());
      expect([...got].sort()).toEqual([...oneByOne(changes, holders)].sort());
    });
  }
});

// D60: new contacts planned in parts give exactly the plan made in one piece, and R21 still sees
// every deletion before anything is written.
import { describe, expect, it } from 'vitest';
import { loadPhoneSlots, type MapperOptions } from '../../src/mappers/index.js';
import type { Activity, Address } from '../../src/providers/crm/model.js';
import type { CollectionKind } from '../../src/providers/dav/types.js';
import { PART_SIZE, newContactsPart, splitOffNewContacts, touchedContacts } from '../../src/sync/parts.js';
import { crmFieldHashes, planMailboxSync, type Action } from '../../src/sync/plan.js';
import type { MailboxSnapshot, SyncSettings } from '../../src/sync/snapshot-types.js';
import type { ItemState } from '../../src/sync/state/store.js';

const opts: MapperOptions = { phoneSlots: loadPhoneSlots(), subjectFormat: '{type}: {subject}', vcardVersion: '3.0', hashKey: 'k' };
const settings: SyncSettings = {
  userId: 'u1', login: 'mm', userTag: 'MM', addressTags: ['MM'], activityTags: ['MM'], pastDays: 30, syncPrivate: false,
  importAppointmentType: 'Termin', importTaskType: 'Aufgabe', conflict: 'crm-wins', maxDeletePercent: 50,
};
const address = (id: string, patch: Partial<Address> = {}): Address => ({
  id, company: 'Firma', salutation: '', title: '', firstName: 'Vor', lastName: `Name${id}`, street: 'Weg 1', postalCode: '12345', city: 'Köln',
  country: 'Deutschland', fax: '', email: '', note: '', phones: [], private: false, owner: 'u1', tags: ['MM'], version: '1', updatedAt: '2026-11-20T10:00:00Z', ...patch,
});
const appointment = (id: string, links: string[]): Activity => ({
  id, kind: 'appointment', type: 'Termin extern', subject: `Termin ${id}`, start: '2026-11-25T09:00:00+00:00', end: '2026-11-25T10:00:00+00:00', allDay: false,
  timeZone: 'Europe/Berlin', due: null, alarmMinutes: 15, note: '', done: false, private: false, owner: 'u1', participants: ['u1'], addresses: links, tags: ['MM'],
  version: '1', updatedAt: '2026-11-20T10:00:00Z',
});
const held = (rec: Address): ItemState => ({
  user: 'u1', kind: 'address', crmId: rec.id, collection: 'contacts', href: `http://dav/contacts/${rec.id}.vcf`, etag: '"e1"', crmVersion: rec.version,
  contentHash: 'h', fieldHashes: crmFieldHashes('address', rec, opts), reason: 'scope', links: [],
});

function snapshotOf(n: number, heldIds: string[]): MailboxSnapshot {
  const addresses = new Map<string, Address>();
  for (let i = 0; i < n; i++) addresses.set(`a${i}`, address(`a${i}`, i % 7 === 0 ? { tags: ['XY'] } : {}));
  addresses.set('linked', address('linked', { tags: ['Notar'] })); // R5: on the device by its appointment only
  const col = (kind: CollectionKind) => ({ ref: { kind, url: `http://dav/${kind}/`, displayName: kind, supportsSyncToken: true }, full: false, token: 't', changed: [], deleted: [] });
  const items = heldIds.map((id) => held(address(id)));
  for (const id of heldIds) addresses.delete(id); // deleted in the CRM: the device copies go
  return {
    settings, now: '2026-11-23T12:00:00.000Z', addresses, activities: new Map([['t1', appointment('t1', ['linked', 'a3'])]]),
    deleted: new Set(heldIds.map((id) => `address:${id}`)), device: { contacts: col('contacts'), appointments: col('appointments'), tasks: col('tasks') },
    state: { items, foreign: [], exclusions: new Set() }, ffdata: { users: new Map(), addresses }, users: new Map(),
  };
}

const sorted = (actions: Action[]) => actions.map((a) => JSON.stringify(a)).sort();

describe('the plan in parts (D60)', () => {
  it('R1, R5: one piece plus the parts is exactly the plan made in one piece', () => {
    const snap = snapshotOf(2 * PART_SIZE + 17, []);
    const whole = planMailboxSync(snap, opts);
    const { rest, newContacts } = splitOffNewContacts(snap);
    expect(newContacts.length).toBeGreaterThan(2 * PART_SIZE);
    expect(newContacts).not.toContain('linked'); // R5: decided with its appointment
    expect(newContacts).not.toContain('a3');
    const parts = planMailboxSync(rest, opts).actions;
    for (let i = 0; i < newContacts.length; i += PART_SIZE) parts.push(...planMailboxSync(newContactsPart(snap, newContacts.slice(i, i + PART_SIZE)), opts).actions);
    expect(sorted(parts)).toEqual(sorted(whole.actions));
    expect(parts.find((a) => a.type === 'device-create' && a.crmId === 'linked')).toMatchObject({ item: { reason: 'linked' } });
  });

  it('R21: the one piece holds every deletion, so the guard blocks before any part is written', () => {
    const heldIds = Array.from({ length: 10 }, (_, i) => `h${i}`);
    const snap = snapshotOf(PART_SIZE + 5, heldIds);
    const { rest, newContacts } = splitOffNewContacts(snap);
    expect(newContacts.some((id) => id.startsWith('h'))).toBe(false);
    const plan = planMailboxSync(rest, opts);
    expect(plan.blocked).toEqual(planMailboxSync(snap, opts).blocked);
    expect(plan.blocked).toEqual([expect.objectContaining({ side: 'device', collection: 'contacts', deletes: 10, total: 10 })]);
  });

  it('R1, R21 (D76): contacts left unread by the snapshot are planned apart, read part by part, and the result is the one-piece plan', () => {
    const snap = snapshotOf(2 * PART_SIZE + 17, ['h1', 'h2']);
    const whole = planMailboxSync(snap, opts);
    const touched = touchedContacts(snap);
    const unreadIds = [...snap.addresses.keys()].filter((id) => !touched.has(id));
    const records = new Map(unreadIds.map((id) => [id, snap.addresses.get(id)!]));
    const lean: MailboxSnapshot = { ...snap, addresses: new Map([...snap.addresses].filter(([id]) => touched.has(id))) };
    const { rest, newContacts } = splitOffNewContacts(lean, unreadIds);
    expect(newContacts).toEqual([...unreadIds].sort());
    const restPlan = planMailboxSync(rest, opts);
    expect(restPlan.blocked).toEqual(whole.blocked); // R21 sees every deletion in the one piece
    const parts = restPlan.actions;
    for (let i = 0; i < newContacts.length; i += PART_SIZE) {
      const ids = newContacts.slice(i, i + PART_SIZE);
      parts.push(...planMailboxSync(newContactsPart(lean, [...ids, 'gone-meanwhile'], records), opts).actions);
    }
    expect(sorted(parts)).toEqual(sorted(whole.actions));
  });

  it('a small plan is not split', () => {
    const snap = snapshotOf(10, []);
    expect(splitOffNewContacts(snap)).toEqual({ rest: snap, newContacts: [] });
  });
});

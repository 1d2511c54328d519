// Planner unit tests: the pure decision table, asserted on the planned actions.
import { describe, expect, it } from 'vitest';
import { addressToVCard, activityToICal, contentHash, loadPhoneSlots, type MapperOptions } from '../../src/mappers/index.js';
import type { Activity, Address } from '../../src/providers/crm/model.js';
import type { CollectionKind } from '../../src/providers/dav/types.js';
import { crmFieldHashes, planMailboxSync, type Action } from '../../src/sync/plan.js';
import { feedStart, parseDeviceItem } from '../../src/sync/snapshot.js';
import type { MailboxSnapshot, SyncSettings } from '../../src/sync/snapshot-types.js';
import type { ItemState } from '../../src/sync/state/store.js';

const opts: MapperOptions = { phoneSlots: loadPhoneSlots(), subjectFormat: '{type}: {subject}', vcardVersion: '3.0' };
const NOW = '2026-11-23T12:00:00.000Z';
const settings: SyncSettings = {
  userId: 'u1', login: 'mm', userTag: 'MM', addressTags: ['MM'], activityTags: ['MM'], pastDays: 30, syncPrivate: false,
  importAppointmentType: 'Termin', importTaskType: 'Aufgabe', conflict: 'crm-wins', maxDeletePercent: 50,
};

function address(id: string, patch: Partial<Address> = {}): Address {
  return {
    id, company: 'Firma', salutation: '', title: '', firstName: 'Vor', lastName: `Name${id}`, street: 'Weg 1', postalCode: '12345', city: 'Köln',
    country: 'Deutschland', fax: '', email: '', note: '', phones: [], private: false, owner: 'u1', tags: ['MM'], version: '1', updatedAt: '2026-11-20T10:00:00Z', ...patch,
  };
}

function appointment(id: string, patch: Partial<Activity> = {}): Activity {
  return {
    id, kind: 'appointment', type: 'Termin extern', subject: `Termin ${id}`, start: '2026-11-25T09:00:00+00:00', end: '2026-11-25T10:00:00+00:00', allDay: false,
    timeZone: 'Europe/Berlin', due: null, alarmMinutes: 15, note: '', done: false, private: false, owner: 'u1', participants: ['u1'], addresses: [], tags: ['MM'],
    version: '1', updatedAt: '2026-11-20T10:00:00Z', ...patch,
  };
}

function emptyDevice(): MailboxSnapshot['device'] {
  const col = (kind: CollectionKind) => ({ ref: { kind, url: `http://dav/${kind}/`, displayName: kind, supportsSyncToken: true }, full: false, token: 't', changed: [], deleted: [] });
  return { contacts: col('contacts'), appointments: col('appointments'), tasks: col('tasks') };
}

function snapshot(p: Partial<MailboxSnapshot> = {}): MailboxSnapshot {
  const addresses = p.addresses ?? new Map();
  return {
    settings, now: NOW, crmFull: false, addresses, activities: new Map(), deleted: new Set(), scope: null, device: emptyDevice(),
    state: { items: [], foreign: [], exclusions: new Set() }, ffdata: { users: new Map(), addresses }, users: new Map(), ...p,
  };
}

function stateOf(kind: 'address' | 'activity', rec: Address | Activity, href: string, reason: ItemState['reason'] = 'scope'): ItemState {
  return {
    user: 'u1', kind, crmId: rec.id, collection: kind === 'address' ? 'contacts' : 'appointments', href, etag: '"e1"', crmVersion: rec.version,
    contentHash: 'h', fieldHashes: crmFieldHashes(kind, rec, opts), reason, links: kind === 'activity' ? (rec as Activity).addresses : [],
  };
}

const types = (actions: Action[]) => actions.map((a) => a.type);

describe('planMailboxSync', () => {
  it('R1: a new in-scope address is created on the device; one without the user\'s tags is not', () => {
    const plan = planMailboxSync(snapshot({ addresses: new Map([['a1', address('a1')], ['a2', address('a2', { tags: ['XY'] })]]) }), opts);
    expect(plan.actions).toHaveLength(1);
    expect(plan.actions[0]).toMatchObject({ type: 'device-create', crmId: 'a1', collection: 'contacts' });
  });

  it('R4: a private address of another owner is never planned for this mailbox', () => {
    const plan = planMailboxSync(snapshot({ addresses: new Map([['a1', address('a1', { private: true, owner: 'u2' })]]) }), opts);
    expect(plan.actions).toEqual([]);
  });

  it('R3: an appointment ended more than pastDays ago is not created; one on the device is kept', () => {
    const old = appointment('t1', { start: '2026-09-01T09:00:00Z', end: '2026-09-01T10:00:00Z' });
    expect(planMailboxSync(snapshot({ activities: new Map([['t1', old]]) }), opts).actions).toEqual([]);
    const changed = { ...old, version: '2', subject: 'neu' };
    const dev = parseDeviceItem('appointments', 'http://dav/appointments/t1.ics', '"e1"', activityToICal(old, { users: new Map(), addresses: new Map() }, opts), opts);
    const snap = snapshot({ activities: new Map([['t1', changed]]), state: { items: [stateOf('activity', old, dev.href)], foreign: [], exclusions: new Set() } });
    snap.device.appointments.changed = [dev];
    expect(types(planMailboxSync(snap, opts).actions)).toEqual(['device-update']);
  });

  it('R5: a linked address without the user\'s tags is created with reason "linked"', () => {
    const a5 = address('a5', { tags: ['Notar'] });
    const t1 = appointment('t1', { addresses: ['a5'] });
    const plan = planMailboxSync(snapshot({ addresses: new Map([['a5', a5]]), activities: new Map([['t1', t1]]) }), opts);
    const create = plan.actions.find((a) => a.type === 'device-create' && a.kind === 'address');
    expect(create).toMatchObject({ crmId: 'a5', item: { reason: 'linked' } });
  });

  it('R7/D3: a device deletion untags and excludes; an exclusion keeps the address away until the user tag is back, and then ends', () => {
    const a1 = address('a1', { tags: ['MM', 'VIP'] });
    const st = stateOf('address', a1, 'http://dav/contacts/a1.vcf');
    const snap = snapshot({ addresses: new Map(), state: { items: [st], foreign: [], exclusions: new Set() } });
    snap.device.contacts.deleted = [st.href];
    expect(planMailboxSync(snap, opts).actions).toEqual([expect.objectContaining({ type: 'crm-untag', crmId: 'a1', tag: 'MM', exclude: true })]);
    // Later: in scope through VIP, excluded, user tag missing → nothing; with MM back → created.
    const vipSettings = { ...settings, addressTags: ['MM', 'VIP'] };
    const excluded = snapshot({ settings: vipSettings, addresses: new Map([['a1', { ...a1, tags: ['VIP'] }]]), state: { items: [], foreign: [], exclusions: new Set(['address:a1']) } });
    expect(planMailboxSync(excluded, opts).actions).toEqual([]);
    const back = snapshot({ settings: vipSettings, addresses: new Map([['a1', a1]]), state: { items: [], foreign: [], exclusions: new Set(['address:a1']) } });
    expect(types(planMailboxSync(back, opts).actions)).toEqual(['exclusion-end', 'device-create']);
  });

  it('R7/R9: deleted in the CRM or out of scope → deleted on the device, nothing to the CRM', () => {
    const a1 = address('a1');
    const a2 = address('a2');
    const snap = snapshot({
      addresses: new Map([['a2', { ...a2, tags: [], version: '2' }]]),
      deleted: new Set(['address:a1']),
      state: { items: [stateOf('address', a1, 'http://dav/contacts/a1.vcf'), stateOf('address', a2, 'http://dav/contacts/a2.vcf')], foreign: [], exclusions: new Set() },
    });
    expect(types(planMailboxSync(snap, opts).actions)).toEqual(['device-delete', 'device-delete']);
  });

  it('R20: one-sided changes merge per field; a field changed on both sides follows the policy', () => {
    const a1 = address('a1', { note: 'alt', city: 'Köln' });
    const raw = addressToVCard(a1, opts);
    const st = { ...stateOf('address', a1, 'http://dav/contacts/a1.vcf'), contentHash: contentHash(raw) };
    const devRaw = raw.replace('NOTE:alt', 'NOTE:vom Handy').replace(/EMAIL[^\r\n]*\r\n/, '') .replace('END:VCARD', 'EMAIL;TYPE=work:neu@x.de\r\nEND:VCARD');
    const dev = parseDeviceItem('contacts', st.href, '"e2"', devRaw, opts);
    const crm = { ...a1, note: 'vom CRM', city: 'Bonn', version: '2' };
    const base = snapshot({ addresses: new Map([['a1', crm]]), state: { items: [st], foreign: [], exclusions: new Set() } });
    base.device.contacts.changed = [dev];
    const plan = planMailboxSync(base, opts);
    expect(plan.conflicts).toEqual([{ key: 'address:a1', fields: ['note'] }]);
    expect(plan.actions[0]).toMatchObject({ type: 'crm-update', patch: { email: 'neu@x.de' }, expectedVersion: '2' });
    const deviceWins = planMailboxSync({ ...base, settings: { ...settings, conflict: 'device-wins' } }, opts);
    expect(deviceWins.actions[0]).toMatchObject({ type: 'crm-update', patch: { email: 'neu@x.de', note: 'vom Handy' } });
  });

  it('R13/R19: device-created items become CRM creates; private ones stay device-only with syncPrivate off', () => {
    const snap = snapshot();
    const card = (uid: string, extra = '') => `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:${uid}\r\nFN:X ${uid}\r\nN:${uid};X;;;\r\n${extra}END:VCARD\r\n`;
    snap.device.contacts.changed = [
      parseDeviceItem('contacts', 'http://dav/contacts/p1.vcf', '"1"', card('p1'), opts),
      parseDeviceItem('contacts', 'http://dav/contacts/p2.vcf', '"1"', card('p2', 'CATEGORIES:private\r\n'), opts),
    ];
    const plan = planMailboxSync(snap, opts);
    expect(plan.actions[0]).toMatchObject({ type: 'crm-create', kind: 'address', input: { tags: ['MM'], owner: 'u1', private: false } });
    expect(plan.actions[1]).toMatchObject({ type: 'foreign' });
  });

  it('R21: deleting more than maxDeletePercent of 10+ items is blocked unless forced', () => {
    const items = Array.from({ length: 12 }, (_, i) => stateOf('address', address(`a${i}`), `http://dav/contacts/a${i}.vcf`));
    const snap = snapshot({ deleted: new Set(items.slice(0, 7).map((i) => `address:${i.crmId}`)), state: { items, foreign: [], exclusions: new Set() } });
    expect(planMailboxSync(snap, opts).blocked).toEqual([{ side: 'device', collection: 'contacts', deletes: 7, total: 12 }]);
    expect(planMailboxSync(snap, opts, { forceDelete: true }).blocked).toEqual([]);
    const six = snapshot({ deleted: new Set(items.slice(0, 6).map((i) => `address:${i.crmId}`)), state: { items, foreign: [], exclusions: new Set() } });
    expect(planMailboxSync(six, opts).blocked).toEqual([]);
  });

  it('R23: a device item with our UID and no state is adopted, not created twice', () => {
    const a1 = address('a1');
    const dev = parseDeviceItem('contacts', 'http://dav/contacts/x.vcf', '"1"', addressToVCard(a1, opts), opts);
    const snap = snapshot({ addresses: new Map([['a1', a1]]) });
    snap.device.contacts.changed = [dev];
    expect(types(planMailboxSync(snap, opts).actions)).toEqual(['state-update']);
  });
});

describe('feedStart (R6 overlap)', () => {
  const mark = { ts: '2026-11-23T10:00:00.000Z', id: 'a9' };
  it('R6: right after a change, the overlap before the watermark is read again', () => {
    expect(feedStart(mark, '2026-11-23T10:00:30.000Z', 120)).toEqual({ ts: '2026-11-23T09:58:30.000Z', id: '' });
  });
  it('R6: once a sync started more than the overlap after the watermark, nothing is read twice', () => {
    expect(feedStart(mark, '2026-11-23T10:05:00.000Z', 120)).toEqual(mark);
  });
  it('R6: without an earlier start the overlap is counted back from the watermark; no cursor reads everything', () => {
    expect(feedStart(mark, undefined, 60)).toEqual({ ts: '2026-11-23T09:59:00.000Z', id: '' });
    expect(feedStart(null, undefined, 60)).toBeNull();
  });
});

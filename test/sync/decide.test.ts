// The decision table (src/sync/decide.ts), arm by arm, at plan level: a snapshot goes in, and the
// test asserts what a user would check — what is written to the device or the CRM, what is kept —
// and which arm of the table took the decision (what `--dry-run --json` shows).
import { describe, expect, it } from 'vitest';
import { addressToVCard, stableUid } from '../../src/mappers/index.js';
import { decide, type Decision } from '../../src/sync/decide.js';
import {
  CRM_SINCE_AGREED,
  CRM_UNKNOWN,
  DEVICE_SINCE_AGREED,
  DEVICE_UNKNOWN,
  WANTED,
  type Facts,
} from '../../src/sync/facts.js';
import { planMailboxSync, type Action } from '../../src/sync/plan.js';
import { parseDeviceItem } from '../../src/sync/snapshot.js';
import type { MailboxSnapshot } from '../../src/sync/snapshot-types.js';
import type { ItemState } from '../../src/sync/state/store.js';
import { address, appointment, deviceItemOf, opts, settings, snapshot, stateOf, types } from './plan-snapshot.js';

const A1 = 'http://dav/contacts/a1.vcf';
const T1 = 'http://dav/appointments/t1.ics';

/** A mailbox that holds these items from the last sync. */
function held(items: ItemState[], p: Partial<MailboxSnapshot> = {}): MailboxSnapshot {
  return snapshot({ ...p, state: { items, foreign: [], exclusions: new Set(), ...p.state } });
}

const plan = (snap: MailboxSnapshot) => planMailboxSync(snap, opts);
const arms = (actions: Action[]) => actions.map((a) => a.arm);

describe('decide: records agreed on by the last sync', () => {
  it('R7: deleted on both sides → only the state is forgotten', () => {
    const a1 = address('a1');
    const snap = held([stateOf('address', a1, A1)], { deleted: new Set(['address:a1']) });
    snap.device.contacts.deleted = [A1];
    const p = plan(snap);
    expect(types(p.actions)).toEqual(['state-forget']);
    expect(p.actions[0]!.arm).toBe('agreed/crm-deleted/device-deleted/by-scope → state-forget (R7)');
  });

  it('R7: deleted on the device while the CRM changed it → the user tag comes off, an exclusion starts', () => {
    const a1 = address('a1', { tags: ['MM', 'VIP'] });
    const snap = held([stateOf('address', a1, A1)], { addresses: new Map([['a1', { ...a1, version: '2', city: 'Bonn' }]]) });
    snap.device.contacts.deleted = [A1];
    const p = plan(snap);
    expect(p.actions).toEqual([expect.objectContaining({ type: 'crm-untag', crmId: 'a1', tag: 'MM' })]);
    expect(p.actions[0]!.arm).toMatch(/crm-changed\/device-deleted\/by-scope → crm-untag \(R7\)$/);
  });

  it('R8: an appointment deleted on the device loses the user tag in the CRM; one deleted in the CRM leaves the device', () => {
    const t1 = appointment('t1');
    const t2 = appointment('t2');
    const snap = held([stateOf('activity', t1, T1), stateOf('activity', t2, 'http://dav/appointments/t2.ics')], { deleted: new Set(['activity:t2']) });
    snap.device.appointments.deleted = [T1];
    const p = plan(snap);
    expect(p.actions).toEqual([
      expect.objectContaining({ type: 'crm-untag', kind: 'activity', crmId: 't1', tag: 'MM', arm: expect.stringMatching(/crm-unread\/device-deleted.* → crm-untag \(R8\)$/) }),
      expect.objectContaining({ type: 'device-delete', kind: 'activity', crmId: 't2', ref: { href: 'http://dav/appointments/t2.ics', etag: '"e1"' }, arm: expect.stringMatching(/crm-deleted\/device-absent.* → device-delete \(R8\)$/) }),
    ]);
  });

  it('R9: deleted on the device after it left the scope in the CRM → forgotten, no tag removed', () => {
    const a1 = address('a1');
    const snap = held([stateOf('address', a1, A1)], { addresses: new Map([['a1', { ...a1, tags: [] }]]) });
    snap.device.contacts.deleted = [A1];
    const p = plan(snap);
    expect(types(p.actions)).toEqual(['state-forget']);
    expect(p.actions[0]!.arm).toMatch(/crm-same\/device-deleted\/out-of-scope → state-forget \(R9\)$/);
  });

  it('R7: deleted in the CRM → deleted on the device, whatever the device did (unchanged, edited, unreadable)', () => {
    const recs = ['a1', 'a2', 'a3'].map((id) => address(id));
    const items = recs.map((r) => stateOf('address', r, `http://dav/contacts/${r.id}.vcf`));
    const snap = held(items, { deleted: new Set(['address:a1', 'address:a2', 'address:a3']) });
    snap.device.contacts.changed = [
      deviceItemOf('address', recs[0]!, items[0]!.href, '"e1"'),
      deviceItemOf('address', recs[1]!, items[1]!.href, '"e2"', (r) => r.replace('ORG:Firma', 'ORG:Neu')),
      parseDeviceItem('contacts', items[2]!.href, '"e2"', 'BEGIN:VCARD\r\nbroken', opts),
    ];
    const p = plan(snap);
    expect(types(p.actions)).toEqual(['device-delete', 'device-delete', 'device-delete']);
    expect(p.actions.map((a) => a.type === 'device-delete' && a.ref)).toEqual([
      { href: items[0]!.href, etag: '"e1"' },
      { href: items[1]!.href, etag: '"e2"' },
      { href: items[2]!.href, etag: '"e2"' },
    ]);
    expect(arms(p.actions)).toEqual([
      expect.stringMatching(/crm-deleted\/device-same\/.* → device-delete \(R7\)$/),
      expect.stringMatching(/crm-deleted\/device-changed\/.* → device-delete \(R7\)$/),
      expect.stringMatching(/crm-deleted\/device-unreadable\/.* → device-delete \(R7\)$/),
    ]);
  });

  it('R9 and R4: out of scope in the CRM (tag removed, made private by another user) → off the device, nothing to the CRM', () => {
    const a1 = address('a1');
    const a2 = address('a2');
    const snap = held([stateOf('address', a1, A1), stateOf('address', a2, 'http://dav/contacts/a2.vcf')], {
      addresses: new Map([['a1', { ...a1, tags: ['XY'], version: '2' }], ['a2', { ...a2, private: true, owner: 'u2', version: '2' }]]),
    });
    const p = plan(snap);
    expect(types(p.actions)).toEqual(['device-delete', 'device-delete']);
    expect(arms(p.actions)).toEqual([
      expect.stringMatching(/crm-changed\/device-absent\/out-of-scope → device-delete \(R9\)$/),
      expect.stringMatching(/crm-changed\/device-absent\/private-elsewhere → device-delete \(R4\)$/),
    ]);
  });

  it('R6: nothing new on either side → nothing planned', () => {
    const a1 = address('a1');
    const snap = held([stateOf('address', a1, A1)], { addresses: new Map([['a1', a1]]) });
    snap.device.contacts.changed = [deviceItemOf('address', a1, A1, '"e1"')];
    expect(plan(snap).actions).toEqual([]);
    expect(plan(held([stateOf('address', a1, A1)])).actions).toEqual([]);
  });

  it('R5: a contact held as linked that no appointment links any more leaves the device; one in scope by tag stays', () => {
    const a1 = address('a1', { tags: ['Notar'] });
    const a2 = address('a2');
    const snap = held([stateOf('address', a1, A1, 'linked'), stateOf('address', a2, 'http://dav/contacts/a2.vcf')]);
    const p = plan(snap);
    expect(p.actions).toEqual([expect.objectContaining({ type: 'device-delete', crmId: 'a1', summary: expect.stringContaining('no appointment links it any more, R5') })]);
    expect(p.actions[0]!.arm).toMatch(/crm-unread\/device-absent\/unlinked → device-delete \(R5\)$/);
  });

  it('R5: a linked contact stays while an appointment on the device links it, even when neither changed', () => {
    const a1 = address('a1', { tags: ['Notar'] });
    const t1 = appointment('t1', { addresses: ['a1'] });
    expect(plan(held([stateOf('address', a1, A1, 'linked'), stateOf('activity', t1, T1)])).actions).toEqual([]);
  });

  it('R5: a linked contact that gets the user tag is noted as on the device by scope', () => {
    const a1 = address('a1', { tags: ['Notar'] });
    const p = plan(held([stateOf('address', { ...a1, tags: ['Notar', 'MM'] }, A1, 'linked')], { addresses: new Map([['a1', { ...a1, tags: ['Notar', 'MM'] }]]) }));
    expect(p.actions).toEqual([expect.objectContaining({ type: 'state-update', item: expect.objectContaining({ crmId: 'a1', reason: 'scope' }) })]);
    expect(p.actions[0]!.arm).toMatch(/crm-same\/device-absent\/by-scope → note-reason \(R5\)$/);
  });

  it('R22: the CRM changed but its device item was not fetched → retried, nothing written', () => {
    const a1 = address('a1');
    const p = plan(held([stateOf('address', a1, A1)], { addresses: new Map([['a1', { ...a1, version: '2', city: 'Bonn' }]]) }));
    expect(p.actions).toEqual([expect.objectContaining({ type: 'item-error', key: A1, side: 'device' })]);
    expect(p.actions[0]!.arm).toMatch(/crm-changed\/device-absent\/by-scope → device-unfetched \(R22\)$/);
  });

  it('R22: the device changed but its CRM record was not read → retried, nothing written', () => {
    const a1 = address('a1');
    const snap = held([stateOf('address', a1, A1)]);
    snap.device.contacts.changed = [deviceItemOf('address', a1, A1, '"e2"', (r) => r.replace('ORG:Firma', 'ORG:Neu'))];
    const p = plan(snap);
    expect(p.actions).toEqual([expect.objectContaining({ type: 'item-error', key: A1, side: 'crm' })]);
    expect(p.actions[0]!.arm).toMatch(/crm-unread\/device-changed\/by-scope → crm-unread \(R22\)$/);
  });

  it('R11: only the CRM changed → the device contact is updated at the ETag read', () => {
    const a1 = address('a1');
    const snap = held([stateOf('address', a1, A1)], { addresses: new Map([['a1', { ...a1, city: 'Bonn', version: '2' }]]) });
    snap.device.contacts.changed = [deviceItemOf('address', a1, A1, '"e1"')];
    const p = plan(snap);
    expect(p.actions).toEqual([expect.objectContaining({ type: 'device-update', ref: { href: A1, etag: '"e1"' }, data: expect.stringContaining('Bonn') })]);
    expect(p.actions[0]!.arm).toBe('agreed/crm-changed/device-same/by-scope → device-update (R11)');
  });

  it('R14: only the CRM changed, and the device already shows it → only the new CRM version is noted', () => {
    const t1 = appointment('t1');
    const snap = held([stateOf('activity', t1, T1)], { activities: new Map([['t1', { ...t1, version: '2' }]]) });
    snap.device.appointments.changed = [deviceItemOf('activity', t1, T1, '"e1"')];
    const p = plan(snap);
    expect(p.actions).toEqual([expect.objectContaining({ type: 'state-update', item: expect.objectContaining({ crmVersion: '2', etag: '"e1"' }) })]);
    expect(p.actions[0]!.arm).toMatch(/→ device-update \(R14\)$/);
  });

  it('R17: done in the CRM → the appointment loses its alarm on the device', () => {
    const t1 = appointment('t1');
    const snap = held([stateOf('activity', t1, T1)], { activities: new Map([['t1', { ...t1, done: true, version: '2' }]]) });
    snap.device.appointments.changed = [deviceItemOf('activity', t1, T1, '"e1"')];
    expect(snap.device.appointments.changed[0]!.raw).toContain('BEGIN:VALARM');
    const p = plan(snap);
    expect(types(p.actions)).toEqual(['device-update']);
    const update = p.actions[0] as Extract<Action, { type: 'device-update' }>;
    expect(update.data).not.toContain('BEGIN:VALARM');
    expect(update.data).toContain('SUMMARY:Termin extern: Termin t1');
  });

  it('R20: both sides changed → merged per field; crm-wins by default on a field changed on both', () => {
    const a1 = address('a1', { note: 'alt' });
    const snap = held([stateOf('address', a1, A1)], { addresses: new Map([['a1', { ...a1, note: 'vom CRM', version: '2' }]]) });
    snap.device.contacts.changed = [deviceItemOf('address', a1, A1, '"e2"', (r) => r.replace('NOTE:alt', 'NOTE:vom Handy').replace('ORG:Firma', 'ORG:Neu'))];
    const p = plan(snap);
    expect(p.conflicts).toEqual([{ key: 'address:a1', fields: ['note'] }]);
    expect(p.actions).toEqual([expect.objectContaining({ type: 'crm-update', patch: { company: 'Neu' }, expectedVersion: '2', ref: { href: A1, etag: '"e2"' } })]);
    expect(p.actions[0]!.arm).toBe('agreed/crm-changed/device-changed/by-scope → merge (R20)');
  });

  it('R20: newest-wins takes the device value of a field changed on both sides when the device edit is newer, the CRM value when it is older', () => {
    const a1 = address('a1', { note: 'alt' });
    const run = (deviceTime: string) => {
      const snap = held([stateOf('address', a1, A1)], {
        settings: { ...settings, conflict: 'newest-wins' },
        addresses: new Map([['a1', { ...a1, note: 'vom CRM', version: '2', updatedAt: '2026-11-22T10:00:00Z' }]]),
      });
      const dev = deviceItemOf('address', a1, A1, '"e2"', (r) => r.replace('NOTE:alt', 'NOTE:vom Handy'));
      snap.device.contacts.changed = [{ ...dev, lastModified: deviceTime }];
      return plan(snap);
    };
    const newer = run('2026-11-23T08:00:00Z');
    expect(newer.conflicts).toEqual([{ key: 'address:a1', fields: ['note'] }]);
    expect(newer.actions).toEqual([expect.objectContaining({ type: 'crm-update', patch: { note: 'vom Handy' } })]);
    const older = run('2026-11-21T08:00:00Z');
    expect(older.conflicts).toEqual([{ key: 'address:a1', fields: ['note'] }]);
    expect(older.actions).toEqual([expect.objectContaining({ type: 'device-update', data: expect.stringContaining('NOTE:vom CRM') })]);
  });

  it('R12: a number edited on the device updates its CRM position; the other positions and their remarks stay', () => {
    const a1 = address('a1', { phones: [{ number: '0221 111', remark: 'Zentrale' }, { number: '0171 222', remark: 'mobil' }] });
    const snap = held([stateOf('address', a1, A1)], { addresses: new Map([['a1', a1]]) });
    snap.device.contacts.changed = [deviceItemOf('address', a1, A1, '"e2"', (r) => r.replace('0171 222', '0171 999'))];
    const p = plan(snap);
    expect(p.actions).toEqual([
      expect.objectContaining({ type: 'crm-update', patch: { phones: expect.arrayContaining([{ number: '0221 111', remark: 'Zentrale' }, { number: '0171 999', remark: 'mobil' }]) } }),
    ]);
    const phones = (p.actions[0] as Extract<Action, { type: 'crm-update' }>).patch as { phones: { number: string }[] };
    expect(phones.phones.slice(0, 2).map((x) => x.number)).toEqual(['0221 111', '0171 999']);
  });

  it('R18: the alarm removed on the device from an appointment that ended → done in the CRM, the alarm kept there', () => {
    const ended = appointment('t1', { start: '2026-11-20T09:00:00Z', end: '2026-11-20T10:00:00Z' });
    const future = appointment('t2');
    const T2 = 'http://dav/appointments/t2.ics';
    const snap = held([stateOf('activity', ended, T1), stateOf('activity', future, T2)], { activities: new Map([['t1', ended], ['t2', future]]) });
    const noAlarm = (r: string) => r.replace(/BEGIN:VALARM[\s\S]*?END:VALARM\r\n/, '');
    snap.device.appointments.changed = [deviceItemOf('activity', ended, T1, '"e2"', noAlarm), deviceItemOf('activity', future, T2, '"e2"', noAlarm)];
    const p = plan(snap);
    expect(p.actions).toEqual([
      expect.objectContaining({ type: 'crm-update', crmId: 't1', patch: { done: true } }),
      expect.objectContaining({ type: 'crm-update', crmId: 't2', patch: { alarmMinutes: null } }),
    ]);
  });

  it('D30: a changed device item that cannot be read is reported once and kept; the CRM change waits', () => {
    const a1 = address('a1');
    const snap = held([stateOf('address', a1, A1)], { addresses: new Map([['a1', { ...a1, version: '2' }]]) });
    snap.device.contacts.changed = [parseDeviceItem('contacts', A1, '"e2"', 'BEGIN:VCARD\r\nbroken', opts)];
    const p = plan(snap);
    expect(p.actions).toEqual([expect.objectContaining({ type: 'attention', href: A1, etag: '"e2"' })]);
    expect(p.actions[0]!.arm).toMatch(/crm-changed\/device-unreadable\/by-scope → attention \(D30\)$/);
    // Reported already at this ETag: nothing again.
    const again = plan({ ...snap, state: { ...snap.state, attention: new Map([[A1, { href: A1, etag: '"e2"', collection: 'contacts', message: 'x' }]]) } });
    expect(again.actions).toEqual([]);
  });

  it('D30: an item at the agreed ETag that cannot be read holds back a CRM change; unchanged on both sides, nothing happens', () => {
    const a1 = address('a1');
    const broken = parseDeviceItem('contacts', A1, '"e1"', 'BEGIN:VCARD\r\nbroken', opts);
    const changed = held([stateOf('address', a1, A1)], { addresses: new Map([['a1', { ...a1, version: '2' }]]) });
    changed.device.contacts.changed = [broken];
    expect(types(plan(changed).actions)).toEqual(['attention']);
    expect(plan(changed).actions[0]!.arm).toMatch(/device-same-unreadable\/by-scope → attention \(D30\)$/);
    const same = held([stateOf('address', a1, A1)], { addresses: new Map([['a1', a1]]) });
    same.device.contacts.changed = [broken];
    expect(plan(same).actions).toEqual([]);
  });

  it('R22: a device item the server did not hand over is a failure retried next sync, not an item needing attention', () => {
    const a1 = address('a1');
    const snap = held([stateOf('address', a1, A1)], { addresses: new Map([['a1', { ...a1, version: '2' }]]) });
    snap.device.contacts.changed = [{ collection: 'contacts', href: A1, etag: '"e2"', raw: '', error: '503 from the server', unreadable: 'fetch' }];
    expect(plan(snap).actions).toEqual([expect.objectContaining({ type: 'item-error', key: A1, side: 'device', message: '503 from the server' })]);
  });
});

describe('decide: records without agreement (new, left over, adoptable)', () => {
  it('R1/R2: new in scope → created on the device under our UID', () => {
    const p = plan(snapshot({ addresses: new Map([['a1', address('a1')]]), activities: new Map([['t1', appointment('t1')]]) }));
    expect(p.actions).toEqual([
      expect.objectContaining({ type: 'device-create', crmId: 't1', collection: 'appointments', name: stableUid('activity', 't1'), arm: 'none/crm-present/device-absent/by-scope → device-create (R2)' }),
      expect.objectContaining({ type: 'device-create', crmId: 'a1', collection: 'contacts', name: stableUid('address', 'a1'), arm: 'none/crm-present/device-absent/by-scope → device-create (R1)' }),
    ]);
  });

  it('R5: an address linked to an in-scope appointment is created as linked; linked to one outside the window (R3), it is not', () => {
    const a5 = address('a5', { tags: ['Notar'] });
    const a6 = address('a6', { tags: ['Notar'] });
    const t1 = appointment('t1', { addresses: ['a5'] });
    const old = appointment('t2', { addresses: ['a6'], start: '2026-09-01T09:00:00Z', end: '2026-09-01T10:00:00Z' });
    const p = plan(snapshot({ addresses: new Map([['a5', a5], ['a6', a6]]), activities: new Map([['t1', t1], ['t2', old]]) }));
    expect(p.actions).toEqual([
      expect.objectContaining({ type: 'device-create', crmId: 't1' }),
      expect.objectContaining({ type: 'device-create', crmId: 'a5', item: expect.objectContaining({ reason: 'linked' }), arm: expect.stringMatching(/by-link → device-create \(R5\)$/) }),
    ]);
  });

  it('R3, R4, R7: outside the window, another user\'s private record, excluded → nothing planned', () => {
    const old = appointment('t1', { start: '2026-09-01T09:00:00Z', end: '2026-09-01T10:00:00Z' });
    const snap = snapshot({
      settings: { ...settings, addressTags: ['MM', 'VIP'] },
      activities: new Map([['t1', old]]),
      addresses: new Map([['a1', address('a1', { private: true, owner: 'u2' })], ['a2', address('a2', { tags: ['VIP'] })]]),
      state: { items: [], foreign: [], exclusions: new Set(['address:a2']) },
    });
    expect(plan(snap).actions).toEqual([]);
  });

  it('R7/D3: the user tag back on an excluded address ends the exclusion and brings the contact back', () => {
    const a2 = address('a2', { tags: ['VIP', 'MM'] });
    const p = plan(snapshot({ settings: { ...settings, addressTags: ['MM', 'VIP'] }, addresses: new Map([['a2', a2]]), state: { items: [], foreign: [], exclusions: new Set(['address:a2']) } }));
    expect(types(p.actions)).toEqual(['exclusion-end', 'device-create']);
    expect(p.actions.every((a) => a.arm === 'none/crm-present/device-absent/by-scope → device-create (R1) + exclusion-end (D3)')).toBe(true);
  });

  it('R23: an item of ours found without state is adopted, not created twice; a lost state makes differences conflicts (crm-wins)', () => {
    const a1 = address('a1', { note: 'CRM' });
    const snap = snapshot({ addresses: new Map([['a1', a1]]) });
    snap.device.contacts.changed = [deviceItemOf('address', a1, 'http://dav/contacts/x.vcf', '"1"', (r) => r.replace('NOTE:CRM', 'NOTE:Handy'))];
    const p = plan(snap);
    expect(p.conflicts).toEqual([{ key: 'address:a1', fields: ['note'] }]);
    expect(p.actions).toEqual([expect.objectContaining({ type: 'device-update', ref: { href: 'http://dav/contacts/x.vcf', etag: '"1"' }, data: expect.stringContaining('NOTE:CRM') })]);
    expect(p.actions[0]!.arm).toBe('none/crm-present/device-adoptable/by-scope → adopt (R23)');
  });

  it('R23: with the base of a create cut short by a crash, a later device edit is no conflict and goes to the CRM', () => {
    const a1 = address('a1', { note: 'CRM' });
    const snap = snapshot({ addresses: new Map([['a1', a1]]) });
    snap.state.pendingCreates = new Map([['address:a1', stateOf('address', a1, '').fieldHashes]]);
    snap.device.contacts.changed = [deviceItemOf('address', a1, 'http://dav/contacts/x.vcf', '"1"', (r) => r.replace('NOTE:CRM', 'NOTE:Handy'))];
    const p = plan(snap);
    expect(p.conflicts).toEqual([]);
    expect(p.actions).toEqual([expect.objectContaining({ type: 'crm-update', patch: { note: 'Handy' }, expectedVersion: '1' })]);
    expect(p.actions[0]!.arm).toBe('pending-create/crm-present/device-adoptable/by-scope → adopt (R23)');
  });

  it('R23: a leftover item of ours whose record is deleted or out of scope is removed; an unreadable one is reported', () => {
    const a1 = address('a1');
    const a2 = address('a2', { tags: ['XY'] });
    const snap = snapshot({ addresses: new Map([['a2', a2]]), deleted: new Set(['address:a1']) });
    const broken = `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:${stableUid('address', 'a3')}\r\nBDAY:kaputt\r\nbroken`;
    snap.device.contacts.changed = [
      deviceItemOf('address', a1, 'http://dav/contacts/x1.vcf', '"1"'),
      deviceItemOf('address', a2, 'http://dav/contacts/x2.vcf', '"1"'),
      parseDeviceItem('contacts', 'http://dav/contacts/x3.vcf', '"1"', broken, opts),
    ];
    const p = plan(snap);
    const deletes = p.actions.filter((a) => a.type === 'device-delete');
    expect(deletes).toEqual([
      expect.objectContaining({ crmId: 'a1', ref: { href: 'http://dav/contacts/x1.vcf', etag: '"1"' }, arm: expect.stringMatching(/none\/crm-deleted\/device-adoptable\/.* → device-delete \(R23\)$/) }),
      expect.objectContaining({ crmId: 'a2', ref: { href: 'http://dav/contacts/x2.vcf', etag: '"1"' }, arm: expect.stringMatching(/none\/crm-present\/device-adoptable\/out-of-scope → device-delete \(R23\)$/) }),
    ]);
    expect(p.actions.filter((a) => a.type === 'attention').map((a) => a.type === 'attention' && a.href)).toEqual(['http://dav/contacts/x3.vcf']);
  });

  it('R7/R8: a CRM deletion of a record this mailbox never held plans nothing', () => {
    expect(plan(snapshot({ deleted: new Set(['address:zz', 'activity:yy']) })).actions).toEqual([]);
  });

  it('R13/R19: device items that are no one\'s record yet name their arm too', () => {
    const snap = snapshot();
    snap.device.contacts.changed = [parseDeviceItem('contacts', 'http://dav/contacts/p1.vcf', '"1"', 'BEGIN:VCARD\r\nVERSION:3.0\r\nUID:p1\r\nFN:X p1\r\nN:p1;X;;;\r\nEND:VCARD\r\n', opts)];
    expect(plan(snap).actions).toEqual([expect.objectContaining({ type: 'crm-create', arm: 'device-new/contact → crm-create (R13)' })]);
  });
});

describe('decide: guard and keys', () => {
  it('R21: a plan that deletes more than maxDeletePercent of a collection of 10+ is blocked, the deletes named by their arm', () => {
    const items = Array.from({ length: 10 }, (_, i) => stateOf('address', address(`a${i}`), `http://dav/contacts/a${i}.vcf`));
    const snap = held(items);
    snap.device.contacts.deleted = items.slice(0, 6).map((i) => i.href);
    const p = plan(snap);
    expect(p.blocked).toEqual([{ side: 'crm', collection: 'contacts', deletes: 6, total: 10 }]);
    expect(p.actions.every((a) => a.type === 'crm-untag' && /→ crm-untag \(R7\)$/.test(a.arm ?? ''))).toBe(true);
    expect(planMailboxSync(snap, opts, { forceDelete: true }).blocked).toEqual([]);
  });

  it('R1, R7, R23: a CRM id containing ":" goes through plan — created, matched to its state, deleted, adopted', () => {
    const odd = address('ext:42:a');
    const create = plan(snapshot({ addresses: new Map([[odd.id, odd]]) }));
    expect(create.actions).toEqual([expect.objectContaining({ type: 'device-create', crmId: 'ext:42:a' })]);
    const href = 'http://dav/contacts/odd.vcf';
    const deleted = plan(held([stateOf('address', odd, href)], { deleted: new Set(['address:ext:42:a']) }));
    expect(deleted.actions).toEqual([expect.objectContaining({ type: 'device-delete', crmId: 'ext:42:a', ref: { href, etag: '"e1"' } })]);
    const untag = held([stateOf('address', odd, href)]);
    untag.device.contacts.deleted = [href];
    expect(plan(untag).actions).toEqual([expect.objectContaining({ type: 'crm-untag', crmId: 'ext:42:a' })]);
    const adopt = snapshot({ addresses: new Map([[odd.id, odd]]) });
    adopt.device.contacts.changed = [parseDeviceItem('contacts', href, '"1"', addressToVCard(odd, opts), opts)];
    const adopted = plan(adopt);
    expect(adopted.actions).toEqual([expect.objectContaining({ type: 'state-update', item: expect.objectContaining({ crmId: 'ext:42:a', href }) })]);
  });
});

describe('decide: the table is exhaustive', () => {
  /** Every combination of facts the types allow. */
  function allFacts(): Facts[] {
    const out: Facts[] = [];
    for (const kind of ['address', 'activity'] as const)
      for (const wanted of WANTED)
        for (const exclusionEnds of [false, true]) {
          for (const heldAs of ['scope', 'linked'] as const)
            for (const crm of CRM_SINCE_AGREED) for (const device of DEVICE_SINCE_AGREED) out.push({ kind, wanted, exclusionEnds, previous: 'agreed', heldAs, crm, device });
          for (const previous of ['none', 'pending-create'] as const)
            for (const crm of CRM_UNKNOWN) for (const device of DEVICE_UNKNOWN) out.push({ kind, wanted, exclusionEnds, previous, crm, device });
        }
    return out;
  }

  it('R1–R23: every combination of facts has an arm that names a rule and prints its facts', () => {
    const facts = allFacts();
    expect(facts.length).toBe(2 * 7 * 2 * (2 * 4 * 6 + 2 * 3 * 3));
    const seen = new Set<string>();
    for (const f of facts) {
      const d: Decision = decide(f);
      expect(d.rule).toMatch(/^(R\d+|D\d+)$/);
      expect(d.arm).toContain(`${f.previous}/crm-${f.crm}/device-${f.device}/${f.wanted} → ${d.kind} (${d.rule})`);
      // Only what stays on or comes to the device keeps R5 links alive.
      if (['device-delete', 'crm-untag', 'state-forget'].includes(d.kind)) expect(d.onDevice).toBe(false);
      seen.add(`${d.kind} (${d.rule})`);
    }
    // Every kind of decision is reachable.
    expect(new Set([...seen].map((s) => s.split(' ')[0]))).toEqual(
      new Set(['nothing', 'note-reason', 'device-create', 'device-update', 'device-delete', 'crm-untag', 'state-forget', 'merge', 'adopt', 'attention', 'crm-unread', 'device-unfetched']),
    );
  });
});

// Snapshots for planner tests (plan.test.ts, decide.test.ts): a mailbox of user u1 with user tag
// MM, CRM records, device items and the last agreed state, built by hand — no I/O.
import { activityToICal, addressToVCard, loadPhoneSlots, type MapperOptions } from '../../src/mappers/index.js';
import type { Activity, Address } from '../../src/providers/crm/model.js';
import type { CollectionKind } from '../../src/providers/dav/types.js';
import { crmFieldHashes, type Action } from '../../src/sync/plan.js';
import { parseDeviceItem } from '../../src/sync/snapshot.js';
import type { DeviceEntry, MailboxSnapshot, SyncSettings } from '../../src/sync/snapshot-types.js';
import type { ItemState } from '../../src/sync/state/store.js';

export const opts: MapperOptions = { phoneSlots: loadPhoneSlots(), subjectFormat: '{type}: {subject}', vcardVersion: '3.0' };
export const NOW = '2026-11-23T12:00:00.000Z';
export const settings: SyncSettings = {
  userId: 'u1', login: 'mm', userTag: 'MM', addressTags: ['MM'], activityTags: ['MM'], pastDays: 30, syncPrivate: false,
  importAppointmentType: 'Termin', importTaskType: 'Aufgabe', conflict: 'crm-wins', maxDeletePercent: 50,
};

export function address(id: string, patch: Partial<Address> = {}): Address {
  return {
    id, company: 'Firma', salutation: '', title: '', firstName: 'Vor', lastName: `Name${id}`, street: 'Weg 1', postalCode: '12345', city: 'Köln',
    country: 'Deutschland', fax: '', email: '', note: '', phones: [], private: false, owner: 'u1', tags: ['MM'], version: '1', updatedAt: '2026-11-20T10:00:00Z', ...patch,
  };
}

export function appointment(id: string, patch: Partial<Activity> = {}): Activity {
  return {
    id, kind: 'appointment', type: 'Termin extern', subject: `Termin ${id}`, start: '2026-11-25T09:00:00+00:00', end: '2026-11-25T10:00:00+00:00', allDay: false,
    timeZone: 'Europe/Berlin', due: null, alarmMinutes: 15, note: '', done: false, private: false, owner: 'u1', participants: ['u1'], addresses: [], tags: ['MM'],
    version: '1', updatedAt: '2026-11-20T10:00:00Z', ...patch,
  };
}

export function emptyDevice(): MailboxSnapshot['device'] {
  const col = (kind: CollectionKind) => ({ ref: { kind, url: `http://dav/${kind}/`, displayName: kind, supportsSyncToken: true }, full: false, token: 't', changed: [], deleted: [] });
  return { contacts: col('contacts'), appointments: col('appointments'), tasks: col('tasks') };
}

export function snapshot(p: Partial<MailboxSnapshot> = {}): MailboxSnapshot {
  const addresses = p.addresses ?? new Map();
  return {
    settings, now: NOW, addresses, activities: new Map(), deleted: new Set(), device: emptyDevice(),
    state: { items: [], foreign: [], exclusions: new Set() }, ffdata: { users: new Map(), addresses }, users: new Map(), ...p,
  };
}

export function stateOf(kind: 'address' | 'activity', rec: Address | Activity, href: string, reason: ItemState['reason'] = 'scope'): ItemState {
  return {
    user: 'u1', kind, crmId: rec.id, collection: kind === 'address' ? 'contacts' : 'appointments', href, etag: '"e1"', crmVersion: rec.version,
    contentHash: 'h', fieldHashes: crmFieldHashes(kind, rec, opts), reason, links: kind === 'activity' ? (rec as Activity).addresses : [],
  };
}

/** The device item sync-cli would have written for a record (optionally edited), as read back. */
export function deviceItemOf(kind: 'address' | 'activity', rec: Address | Activity, href: string, etag: string, edit: (raw: string) => string = (r) => r): DeviceEntry {
  const raw = kind === 'address' ? addressToVCard(rec as Address, opts) : activityToICal(rec as Activity, { users: new Map(), addresses: new Map() }, opts);
  return parseDeviceItem(kind === 'address' ? 'contacts' : 'appointments', href, etag, edit(raw), opts);
}

export const types = (actions: Action[]) => actions.map((a) => a.type);

// The plan in parts (D60), so a large first upload never holds every rendered item at once:
// contacts that are new to the mailbox and touch nothing else are planned — and rendered — in
// groups right before they are written; everything else is planned in one piece first.
//
// A contact is planned apart only when no decision about another record depends on it, and its
// own decision depends on nothing but itself: not held by this mailbox (so no deletion, no R21
// count), not on the device (no adoption, R23), not linked by any appointment (R5), not deleted,
// no pending create. Then the one-piece plan over the rest sees every deletion the sync can make,
// and R21 judges it before anything is written. Pure functions over the snapshot.
import type { Address } from '../providers/crm/model.js';
import type { MailboxSnapshot } from './snapshot-types.js';
import { crmRefOf } from './scope.js';

/** Contacts per part: small enough to bound memory, large enough that parts cost nothing. */
export const PART_SIZE = 1000;

/** Ids of the contacts some other decision depends on, or whose own decision does: never planned apart. */
export function touchedContacts(snap: MailboxSnapshot): Set<string> {
  const touched = new Set<string>();
  for (const i of snap.state.items) {
    if (i.kind === 'address') touched.add(i.crmId);
    else i.links.forEach((id) => touched.add(id));
  }
  for (const a of snap.activities.values()) a.addresses.forEach((id) => touched.add(id));
  for (const col of Object.values(snap.device)) {
    for (const e of col.changed) {
      const ref = crmRefOf(e);
      if (ref?.kind === 'address') touched.add(ref.id);
    }
  }
  for (const k of snap.deleted) if (k.startsWith('address:')) touched.add(k.slice('address:'.length));
  for (const k of snap.state.pendingCreates?.keys() ?? []) if (k.startsWith('address:')) touched.add(k.slice('address:'.length));
  return touched;
}

/**
 * Splits the snapshot into the one-piece remainder and the ids of contacts planned in parts.
 * `unread`: new contacts in scope the snapshot left unread (D76: read part by part); always apart.
 */
export function splitOffNewContacts(snap: MailboxSnapshot, unread: string[] = []): { rest: MailboxSnapshot; newContacts: string[] } {
  const touched = touchedContacts(snap);
  const newContacts = [...snap.addresses.keys()].filter((id) => !touched.has(id)).concat(unread).sort();
  if (newContacts.length <= PART_SIZE) return { rest: snap, newContacts: [] };
  const apart = new Set(newContacts);
  // [FFDATA] of appointments (R16) still reads every address: ffdata keeps the whole map.
  const rest: MailboxSnapshot = { ...snap, addresses: new Map([...snap.addresses].filter(([id]) => !apart.has(id))) };
  return { rest, newContacts };
}

/**
 * The snapshot one part of new contacts is planned on: those records alone, nothing held.
 * `read`: the part's records read apart (D76); an id found in neither was deleted meanwhile.
 */
export function newContactsPart(snap: MailboxSnapshot, ids: string[], read?: Map<string, Address>): MailboxSnapshot {
  const none = (k: keyof MailboxSnapshot['device']) => ({ ref: snap.device[k].ref, full: false, token: null, changed: [], deleted: [] });
  return {
    ...snap,
    addresses: new Map(ids.flatMap((id) => { const r = read?.get(id) ?? snap.addresses.get(id); return r ? [[id, r] as const] : []; })),
    activities: new Map(),
    deleted: new Set(),
    device: { contacts: none('contacts'), appointments: none('appointments'), tasks: none('tasks') },
    state: { items: [], foreign: [], exclusions: snap.state.exclusions, pendingCreates: new Map(), attention: new Map() },
  };
}

// The plan in parts (D60), so a large first upload never holds every rendered item at once:
// contacts that are new to the mailbox and touch nothing else are planned — and rendered — in
// groups right before they are written; everything else is planned in one piece first.
//
// A contact is planned apart only when no decision about another record depends on it, and its
// own decision depends on nothing but itself: not held by this mailbox (so no deletion, no R21
// count), not on the device (no adoption, R23), not linked by any appointment (R5), not deleted,
// no pending create. Then the one-piece plan over the rest sees every deletion the sync can make,
// and R21 judges it before anything is written. Pure functions over the snapshot.
import type { MailboxSnapshot } from './snapshot-types.js';
import { crmRefOf } from './scope.js';

/** Contacts per part: small enough to bound memory, large enough that parts cost nothing. */
export const PART_SIZE = 1000;

/** Splits the snapshot into the one-piece remainder and the ids of contacts planned in parts. */
export function splitOffNewContacts(snap: MailboxSnapshot): { rest: MailboxSnapshot; newContacts: string[] } {
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
  const newContacts = [...snap.addresses.keys()].filter((id) => !touched.has(id)).sort();
  if (newContacts.length <= PART_SIZE) return { rest: snap, newContacts: [] };
  const apart = new Set(newContacts);
  // [FFDATA] of appointments (R16) still reads every address: ffdata keeps the whole map.
  const rest: MailboxSnapshot = { ...snap, addresses: new Map([...snap.addresses].filter(([id]) => !apart.has(id))) };
  return { rest, newContacts };
}

/** The snapshot one part of new contacts is planned on: those records alone, nothing held. */
export function newContactsPart(snap: MailboxSnapshot, ids: string[]): MailboxSnapshot {
  const none = (k: keyof MailboxSnapshot['device']) => ({ ref: snap.device[k].ref, full: false, token: null, changed: [], deleted: [] });
  return {
    ...snap,
    addresses: new Map(ids.map((id) => [id, snap.addresses.get(id)!])),
    activities: new Map(),
    deleted: new Set(),
    device: { contacts: none('contacts'), appointments: none('appointments'), tasks: none('tasks') },
    state: { items: [], foreign: [], exclusions: snap.state.exclusions, pendingCreates: new Map(), attention: new Map() },
  };
}

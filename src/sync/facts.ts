// What is true of one record in one mailbox, read off the snapshot: plain values, no decisions.
// `decide` (./decide.ts) maps these facts to what happens; the planner (./plan.ts) gathers them.
import { contentHash } from '../mappers/index.js';
import type { Activity, Address, RecordKind } from '../providers/crm/model.js';
import { recordKey } from './state/store.js';
import { addressInScope, activityInScope, excluded, visibleTo, withinWindow } from './scope.js';
import type { DeviceEntry, MailboxSnapshot } from './snapshot-types.js';
import type { ItemState } from './state/store.js';

/** Whether, and why, the record belongs on this mailbox's device (R1–R5, R7, R9). */
export type Wanted =
  | 'by-scope' // R1/R2: one of the user's tags, visible to the user
  | 'by-link' // R5: an address linked to an appointment that stays on the device
  | 'outside-window' // in scope, but an appointment ended more than pastDays ago (R3)
  | 'excluded' // R7: deleted on the device earlier, in scope only through another tag
  | 'private-elsewhere' // R4: private to another user
  | 'out-of-scope' // R9: none of the user's tags
  | 'unlinked'; // R5: held as linked (CRM record not read) and no appointment links it any more

/** The CRM side of a record that the last sync agreed on. */
export type CrmSinceAgreed = 'unread' | 'same' | 'changed' | 'deleted';
/** The device side of a record that the last sync agreed on. */
export type DeviceSinceAgreed =
  | 'absent' // not listed this sync (unchanged, or not fetched)
  | 'same' // listed with the agreed ETag (and content, where ETags are counters)
  | 'changed'
  | 'deleted'
  | 'unreadable' // changed, and cannot be read (D30) or fetched (R22)
  | 'same-unreadable'; // the agreed ETag, but cannot be read: it matters only when the CRM changed

/** The CRM side of a record this mailbox holds no agreement on. */
export type CrmUnknown = 'unread' | 'present' | 'deleted';
/** The device side of such a record: an item of ours by UID or marker (R23) may be there. */
export type DeviceUnknown = 'absent' | 'adoptable' | 'unreadable';

interface Common {
  kind: RecordKind;
  wanted: Wanted;
  /** D3: an exclusion of R7 ends because the record carries the user tag again. */
  exclusionEnds: boolean;
}

export type Facts =
  | (Common & { previous: 'agreed'; heldAs: ItemState['reason']; crm: CrmSinceAgreed; device: DeviceSinceAgreed })
  /** `pending-create`: a device create may have happened before a crash; its merge base is known (R23). */
  | (Common & { previous: 'none' | 'pending-create'; crm: CrmUnknown; device: DeviceUnknown });

export const WANTED: readonly Wanted[] = ['by-scope', 'by-link', 'outside-window', 'excluded', 'private-elsewhere', 'out-of-scope', 'unlinked'];
export const CRM_SINCE_AGREED: readonly CrmSinceAgreed[] = ['unread', 'same', 'changed', 'deleted'];
export const DEVICE_SINCE_AGREED: readonly DeviceSinceAgreed[] = ['absent', 'same', 'changed', 'deleted', 'unreadable', 'same-unreadable'];
export const CRM_UNKNOWN: readonly CrmUnknown[] = ['unread', 'present', 'deleted'];
export const DEVICE_UNKNOWN: readonly DeviceUnknown[] = ['absent', 'adoptable', 'unreadable'];

/** A record of this mailbox with the inputs its facts were read from (the planner needs them to act). */
export interface RecordView {
  kind: RecordKind;
  id: string;
  rec: Address | Activity | undefined;
  state: ItemState | undefined;
  /** The device item: the agreed one as listed this sync, or one to adopt (R23). */
  device: DeviceEntry | undefined;
  facts: Facts;
}

/** The device side of a mailbox, sorted by record: what the planner reads facts from. */
export interface DeviceByRecord {
  /** Items of agreed records listed this sync, by record key. */
  listed: Map<string, DeviceEntry>;
  /** Items of ours (UID or marker) that no agreed record holds, by record key (R23). */
  adoptable: Map<string, DeviceEntry>;
  /** Record keys whose agreed item was deleted on the device. */
  deleted: Set<string>;
}

export function isWanted(w: Wanted): boolean {
  return w === 'by-scope' || w === 'by-link' || w === 'outside-window';
}

function wantedOf(kind: RecordKind, rec: Address | Activity | undefined, st: ItemState | undefined, byLink: boolean, snap: MailboxSnapshot): Wanted {
  const s = snap.settings;
  const exclusions = snap.state.exclusions;
  // Not read this sync = unchanged = as before.
  if (!rec) return st?.reason === 'scope' ? 'by-scope' : kind === 'address' && byLink ? 'by-link' : st ? 'unlinked' : 'out-of-scope';
  const inScope = kind === 'address' ? addressInScope(rec as Address, s, exclusions) : activityInScope(rec as Activity, s, exclusions);
  if (inScope) return kind === 'activity' && !withinWindow(rec as Activity, snap.now, s.pastDays) ? 'outside-window' : 'by-scope';
  if (!visibleTo(rec, s.userId)) return 'private-elsewhere';
  if (excluded(kind, rec, s, exclusions)) return 'excluded';
  return kind === 'address' && byLink ? 'by-link' : 'out-of-scope';
}

/** Changed on the device: another ETag, or — where ETags are counters (SOGo) — other content. */
function deviceChanged(dev: DeviceEntry, st: ItemState, snap: MailboxSnapshot): boolean {
  return dev.etag !== st.etag || (snap.device[dev.collection].etagsUnreliable === true && contentHash(dev.raw) !== st.contentHash);
}

export function factsOf(
  kind: RecordKind,
  id: string,
  byLink: boolean,
  snap: MailboxSnapshot,
  state: Map<string, ItemState>,
  device: DeviceByRecord,
): RecordView {
  const k = recordKey({ kind, crmId: id });
  const st = state.get(k);
  const rec = kind === 'address' ? snap.addresses.get(id) : snap.activities.get(id);
  const crmDeleted = snap.deleted.has(k);
  const common: Common = {
    kind,
    wanted: wantedOf(kind, rec, st, byLink, snap),
    exclusionEnds: rec !== undefined && snap.state.exclusions.has(k) && rec.tags.includes(snap.settings.userTag),
  };
  if (st) {
    const dev = device.listed.get(k);
    const crm: CrmSinceAgreed = crmDeleted ? 'deleted' : !rec ? 'unread' : rec.version !== st.crmVersion ? 'changed' : 'same';
    const changed = dev !== undefined && deviceChanged(dev, st, snap);
    const dv: DeviceSinceAgreed = device.deleted.has(k)
      ? 'deleted'
      : !dev
        ? 'absent'
        : changed
          ? dev.error
            ? 'unreadable'
            : 'changed'
          : dev.error
            ? 'same-unreadable'
            : 'same';
    return { kind, id, rec, state: st, device: dev, facts: { ...common, previous: 'agreed', heldAs: st.reason, crm, device: dv } };
  }
  const adopt = device.adoptable.get(k);
  const crm: CrmUnknown = crmDeleted ? 'deleted' : rec ? 'present' : 'unread';
  const dv: DeviceUnknown = !adopt ? 'absent' : adopt.error ? 'unreadable' : 'adoptable';
  const previous = snap.state.pendingCreates?.has(k) ? 'pending-create' : 'none';
  return { kind, id, rec, state: undefined, device: adopt, facts: { ...common, previous, crm, device: dv } };
}

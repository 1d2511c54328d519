// The decision table: ONE exhaustive match from a record's facts (./facts.ts) to what happens to
// it, each arm one line naming its rule (docs/sync-rules.md). Pure; the planner (./plan.ts) turns
// the decision into actions and renders what goes to the device.
import { isWanted, type Facts, type Wanted } from './facts.js';

export type DecisionKind =
  | 'nothing' // nothing to write; the record stays as it is
  | 'note-reason' // state only: on the device by another reason now (scope ↔ linked, R5)
  | 'device-create'
  | 'device-update' // or, when the device already shows it, a state note
  | 'device-delete'
  | 'crm-untag' // the user tag comes off the CRM record, and an exclusion starts (R7/R8)
  | 'state-forget'
  | 'merge' // both sides changed: merged per field against the agreed base (R20)
  | 'adopt' // an item of ours without agreement: merged against the pending base or none (R23)
  | 'attention' // the device item cannot be read (D30) or fetched (R22): kept untouched
  | 'crm-unread' // the device changed but the CRM record was not read: retried (R22)
  | 'device-unfetched'; // the CRM changed but the device item was not fetched: retried (R22)

export interface Decision {
  kind: DecisionKind;
  /** The rule (or decision) that makes this arm, e.g. `R20`, `D30`. */
  rule: string;
  /** Does the record stay on (or come to) the device after this sync? R5 keeps what such an appointment links. */
  onDevice: boolean;
  /** D3: the R7 exclusion ends (the user tag is back). */
  endsExclusion: boolean;
  /** Printable: the facts and the arm taken, e.g. `agreed/crm-changed/device-same/by-scope → device-update (R14)`. */
  arm: string;
}

function label(f: Facts, kind: DecisionKind, rule: string, endsExclusion: boolean): string {
  return `${f.previous}/crm-${f.crm}/device-${f.device}/${f.wanted} → ${kind} (${rule})${endsExclusion ? ' + exclusion-end (D3)' : ''}`;
}

const reasonOf = (w: Wanted) => (w === 'by-link' ? 'linked' : 'scope');

export function decide(f: Facts): Decision {
  const stays = (kind: DecisionKind, rule: string): Decision => ({ kind, rule, onDevice: true, endsExclusion: f.exclusionEnds, arm: label(f, kind, rule, f.exclusionEnds) });
  const leaves = (kind: DecisionKind, rule: string): Decision => ({ kind, rule, onDevice: false, endsExclusion: f.exclusionEnds, arm: label(f, kind, rule, f.exclusionEnds) });
  const wanted = isWanted(f.wanted);
  const byKind = f.kind === 'address' ? 'R7' : 'R8';

  if (f.previous === 'agreed') {
    // A CRM record read this sync that is not wanted leaves the device; nothing goes to the CRM (R9).
    const ifWanted = (d: Decision) => (wanted ? d : leaves('device-delete', f.wanted === 'excluded' ? 'R7' : f.wanted === 'private-elsewhere' ? 'R4' : 'R9'));
    const noteReason = () => (f.heldAs === reasonOf(f.wanted) ? stays('nothing', 'R6') : stays('note-reason', 'R5'));
    const k = `${f.device}/${f.crm}` as const;
    switch (k) {
      case 'deleted/deleted': return leaves('state-forget', byKind); // gone on both sides
      case 'deleted/same': case 'deleted/changed': return wanted ? leaves('crm-untag', byKind) : leaves('state-forget', 'R9'); // R7/R8: a device deletion only removes the user tag
      case 'deleted/unread': return leaves('crm-untag', byKind); // R7/R8: a device deletion only removes the user tag
      case 'absent/deleted': case 'same/deleted': case 'changed/deleted': case 'unreadable/deleted': case 'same-unreadable/deleted': return leaves('device-delete', byKind); // deleted in the CRM → off the device
      case 'absent/unread': return wanted ? stays('nothing', 'R6') : leaves('device-delete', 'R5'); // R5: no appointment links it any more
      case 'absent/same': return ifWanted(noteReason()); // nothing new on either side
      case 'absent/changed': return ifWanted(stays('device-unfetched', 'R22')); // the item to update was not fetched: retried
      case 'same/unread': return stays('nothing', 'R6'); // nothing new on either side
      case 'same/same': return ifWanted(noteReason()); // nothing new on either side
      case 'same/changed': return ifWanted(stays('device-update', f.kind === 'address' ? 'R11' : 'R14')); // only the CRM changed (R17 inside: done → no alarm)
      case 'changed/unread': return stays('crm-unread', 'R22'); // the CRM record to merge with was not read: retried
      case 'changed/same': case 'changed/changed': return ifWanted(stays('merge', 'R20')); // per-field merge, conflicts by policy (R18 inside)
      case 'unreadable/unread': return stays('attention', 'D30'); // kept untouched; the agreed state stays the base
      case 'unreadable/same': case 'unreadable/changed': return ifWanted(stays('attention', 'D30')); // kept untouched; the agreed state stays the base
      case 'same-unreadable/unread': return stays('nothing', 'R6'); // nothing new on either side
      case 'same-unreadable/same': return ifWanted(noteReason()); // nothing new on either side
      case 'same-unreadable/changed': return ifWanted(stays('attention', 'D30')); // the CRM change waits until the item can be read
      default: return unreachable(k);
    }
  }

  const k = `${f.device}/${f.crm}` as const;
  switch (k) {
    case 'unreadable/unread': case 'unreadable/present': case 'unreadable/deleted': return leaves('attention', 'D30'); // an item of ours that cannot be read: kept untouched
    case 'adoptable/unread': case 'adoptable/deleted': return leaves('device-delete', 'R23'); // a leftover of ours whose record is gone
    case 'adoptable/present': return wanted ? stays('adopt', 'R23') : leaves('device-delete', 'R23'); // adopted by UID, not duplicated; a leftover out of scope goes
    case 'absent/present': return createOrNot(f.wanted, f.kind, stays, leaves); // new in scope → created on the device
    case 'absent/deleted': return leaves('nothing', byKind); // deleted in the CRM, never on this device
    case 'absent/unread': return leaves('nothing', 'R5'); // linked, but not readable this sync
    default: return unreachable(k);
  }
}

function createOrNot(w: Wanted, kind: Facts['kind'], stays: (k: DecisionKind, r: string) => Decision, leaves: (k: DecisionKind, r: string) => Decision): Decision {
  switch (w) {
    case 'by-scope': return stays('device-create', kind === 'address' ? 'R1' : 'R2'); // one of the user's tags
    case 'by-link': return stays('device-create', 'R5'); // travels with an appointment in scope
    case 'outside-window': return leaves('nothing', 'R3'); // ended more than pastDays ago: not sent
    case 'excluded': return leaves('nothing', 'R7'); // deleted on this device until the user tag is back
    case 'private-elsewhere': return leaves('nothing', 'R4'); // another user's private record
    case 'out-of-scope': case 'unlinked': return leaves('nothing', kind === 'address' ? 'R1' : 'R2'); // none of the user's tags
    default: return unreachable(w);
  }
}

function unreachable(x: never): never {
  throw new Error(`decide: no arm for ${JSON.stringify(x)}`);
}

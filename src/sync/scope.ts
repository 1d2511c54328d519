// Who gets what — the scope of a mailbox (R1–R5, R7, R9) — as ONE set of predicates. The planner
// decides with them, the snapshot drops feed records with them, the daemon routes pushed changes
// with them, and the CRM's SQL form (`scopeAddressIds`/`scopeActivityIds` in
// src/providers/crm/store.ts) is tested against them (test/sync/scope.test.ts).
import { crmIdFromUid } from '../mappers/index.js';
import type { Activity, Address, RecordKind } from '../providers/crm/model.js';
import type { DeviceEntry } from './snapshot-types.js';
import { recordKey } from './state/store.js';

const DAY_MS = 86_400_000;

/** What scope needs of a mailbox's settings. */
export interface ScopeSettings {
  userId: string;
  userTag: string;
  addressTags: string[];
  activityTags: string[];
}

/** R4: a private record is visible to its owner only. */
export function visibleTo(rec: { private: boolean; owner: string | null }, userId: string): boolean {
  return !rec.private || rec.owner === userId;
}

/** R1/R2 with R4: carries one of the user's tags for its kind and is visible to the user (the SQL form of scope). */
export function taggedFor(kind: RecordKind, rec: { private: boolean; owner: string | null; tags: string[] }, s: ScopeSettings): boolean {
  const tags = kind === 'address' ? s.addressTags : s.activityTags;
  return visibleTo(rec, s.userId) && rec.tags.some((t) => tags.includes(t));
}

/** R7: deleted on the device while in scope by another tag; back only when the user tag is back. */
export function excluded(kind: RecordKind, rec: { id: string; tags: string[] }, s: ScopeSettings, exclusions: Set<string>): boolean {
  return exclusions.has(recordKey({ kind, crmId: rec.id })) && !rec.tags.includes(s.userTag);
}

export function addressInScope(a: Address, s: ScopeSettings, exclusions: Set<string>): boolean {
  return taggedFor('address', a, s) && !excluded('address', a, s, exclusions); // R1, R4, R7
}

export function activityInScope(a: Activity, s: ScopeSettings, exclusions: Set<string>): boolean {
  return taggedFor('activity', a, s) && !excluded('activity', a, s, exclusions); // R2, R4, R8
}

/** R3: an appointment that ended more than pastDays ago is not sent (tasks have no window). */
export function withinWindow(a: Activity, now: string, pastDays: number): boolean {
  if (a.kind !== 'appointment') return true;
  const endIso = a.end ?? a.start;
  if (!endIso) return true;
  return Date.parse(endIso) >= Date.parse(now) - pastDays * DAY_MS;
}

/**
 * Could a changed CRM record concern this mailbox, held or not? Its tags and visibility say so
 * (exclusions and the window are the planner's to judge: over-approximating only costs a sync
 * that finds nothing, so a pushed change goes wherever `taggedFor` holds, plus to every mailbox
 * that holds the record — see src/daemon/affected.ts).
 */
export function mayConcern(kind: RecordKind, rec: Address | Activity, s: ScopeSettings): boolean {
  return taggedFor(kind, rec, s);
}

/** The CRM record a device item is ours for: by the UID sync-cli gave it, or by the marker of an import (R23). */
export function crmRefOf(e: Pick<DeviceEntry, 'contact' | 'activity' | 'crmRef'>): { kind: RecordKind; id: string } | null {
  const uid = e.contact?.uid ?? e.activity?.uid;
  return (uid ? crmIdFromUid(uid) : null) ?? e.crmRef ?? null;
}

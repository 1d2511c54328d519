// What the planner sees: both sides read (I/O done), device items already parsed, and the state
// the last sync agreed on. Plain data, so the planner stays pure and testable.
import type { DeviceActivity, DeviceContact, FfdataContext } from '../mappers/index.js';
import type { Activity, Address, CrmUser } from '../providers/crm/model.js';
import type { CollectionKind, CollectionRef } from '../providers/dav/types.js';
import type { ConflictPolicy } from '../config/schema.js';
import type { EffectiveSettings } from '../assignments/assign.js';
import type { AttentionItem, ForeignItem, ItemState } from './state/store.js';

/** One mailbox's effective settings: assignment overrides, else the CRM user's values (R1–R4, R13, R19–R21). */
export interface SyncSettings extends EffectiveSettings {
  userId: string;
  login: string;
  userTag: string;
  conflict: ConflictPolicy;
  maxDeletePercent: number;
}

export interface DeviceEntry {
  collection: CollectionKind;
  href: string;
  etag: string;
  raw: string;
  /** Parsed; null when `error` is set. */
  contact?: DeviceContact;
  activity?: DeviceActivity;
  error?: string;
  /** Why `error` is set: the item could not be fetched (a server answer, retried next sync). */
  unreadable?: 'fetch';
  /** What the user can do about `error`. */
  remedy?: string;
  /** The CRM record this item belongs to when its UID is not ours: the X-SYNC-CLI-ID marker of
   *  an item imported from the device, or a pending import recovered after a crash (R23). */
  crmRef?: { kind: 'address' | 'activity'; id: string };
  /** REV / LAST-MODIFIED of the item, for `newest-wins` (R20). */
  lastModified?: string;
}

export interface DeviceCollectionSnapshot {
  ref: CollectionRef;
  /** True when `changed` lists every item (first sync, lost token, --full). */
  full: boolean;
  token: string | null;
  changed: DeviceEntry[];
  /** Hrefs gone since the last sync (for full listings: diffed against the state). */
  deleted: string[];
  /** hrefs the server listed that are never requested (another origin): reported, not retried. */
  refused?: { href: string; message: string }[];
  /** A full listing whose ETags are counters (SOGo): an equal ETag does not prove equal content. */
  etagsUnreliable?: boolean;
}

export interface MailboxSnapshot {
  settings: SyncSettings;
  /** ISO time of the start of this sync (CRM clock). */
  now: string;
  /** CRM records read this sync: changed since the watermark, needed by device changes, linked, retried. */
  addresses: Map<string, Address>;
  activities: Map<string, Activity>;
  /** `address:id` / `activity:id` of records gone from the CRM (tombstones, or missing when fetched). */
  deleted: Set<string>;
  device: Record<CollectionKind, DeviceCollectionSnapshot>;
  state: {
    items: ItemState[];
    foreign: ForeignItem[];
    exclusions: Set<string>;
    /** `kind:id` → field hashes of a device create that may have happened before a crash (R23). */
    pendingCreates?: Map<string, Record<string, string>>;
    /** href → device items reported as needing attention, with the ETag reported (D30). */
    attention?: Map<string, AttentionItem>;
  };
  /** Users (participants) and linked addresses, for the [FFDATA] block (R16). */
  ffdata: FfdataContext;
  users: Map<string, CrmUser>;
}

// Reading both sides of one mailbox (the only I/O before planning). Reads only what changed:
// the CRM feed since the watermark (R6) and each collection's delta since its sync token; it
// fetches device items only when they changed, or when the CRM changed and they must be patched.
import { iCalToActivity, vCardToAddress, type MapperOptions } from '../mappers/index.js';
import type { Activity, Address, ChangePage, CrmCursor, CrmProvider, CrmUser, RecordKind } from '../providers/crm/model.js';
import type { CollectionDelta, CollectionKind, CollectionRef, MailboxProvider } from '../providers/dav/types.js';
import { COLLECTION_KINDS } from '../providers/dav/types.js';
import { LimitExceededError } from '../providers/dav/errors.js';
import type { DeviceCollectionSnapshot, DeviceEntry, MailboxSnapshot, SyncSettings } from './snapshot-types.js';
import { parseRecordKey, recordKey, type AttentionItem, type CrmCursors, type ItemState, type MailboxHead, type MailboxRecords, type RecordRef, type StateStore } from './state/store.js';
import { syncMarkerOf } from './marker.js';
import { PART_SIZE, newContactsPart, touchedContacts } from './parts.js';
import { activityInScope, addressInScope, crmRefOf, withinWindow } from './scope.js';
import { addressFieldHashes, activityFieldHashes } from '../mappers/index.js';

const PAGE = 500;
const BATCH = 200;

export interface SnapshotInput {
  crm: CrmProvider;
  mailbox: MailboxProvider;
  state: StateStore;
  /** What the sync read of the mailbox's state first (tokens, cursors, failures, pending writes). */
  head: MailboxHead;
  settings: SyncSettings;
  collections: Record<CollectionKind, CollectionRef>;
  mapper: MapperOptions;
  users: CrmUser[];
  full: boolean;
  overlapSeconds: number;
  /** limits.maxItemsPerMailbox: items all collections of the mailbox may list together. */
  maxItems?: number;
  /** The plan will be made in parts (D60, not a dry run): new contacts may be left unread (D76). */
  partsApart?: boolean;
}

export interface SnapshotResult {
  snapshot: MailboxSnapshot;
  /** Nothing changed on either side: there is nothing to plan. */
  unchanged?: boolean;
  /** What to store once the plan has been carried out. */
  nextCursors: CrmCursors;
  nextTokens: Record<CollectionKind, string | null>;
  /** New contacts in scope whose records were not read (D76): planned and read part by part. */
  unread?: string[];
}

/**
 * Where to start reading a change feed (R6). A record committed late carries a stamp older than
 * its commit, but not older than the previous sync's start minus the overlap (the longest
 * transaction we allow for): only [lastSyncStart − overlap, watermark] can hold records the last
 * read did not see. So the overlap is re-read once after a burst of changes, not on every sync.
 */
export function feedStart(from: CrmCursor | null, lastSyncStart: string | undefined, overlapSeconds: number): CrmCursor | null {
  if (!from) return null;
  const mark = Date.parse(from.ts);
  const since = Math.max(mark, lastSyncStart ? Date.parse(lastSyncStart) : mark) - overlapSeconds * 1000;
  return since >= mark ? from : { ts: new Date(since).toISOString(), id: '' };
}

async function readFeed<T>(
  read: (c: CrmCursor | null, limit: number) => Promise<ChangePage<T>>,
  from: CrmCursor | null,
  lastSyncStart: string | undefined,
  overlapSeconds: number,
): Promise<{ items: T[]; last: CrmCursor | null }> {
  let cursor = feedStart(from, lastSyncStart, overlapSeconds);
  const items: T[] = [];
  let last = from;
  for (;;) {
    const page = await read(cursor, PAGE);
    items.push(...page.items);
    if (page.next) {
      cursor = page.next;
      if (!last || page.next.ts > last.ts || (page.next.ts === last.ts && page.next.id > last.id)) last = page.next;
    }
    if (!page.more || !page.next) break;
  }
  return { items, last };
}

async function inBatches<T>(ids: string[], get: (ids: string[]) => Promise<T[]>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < ids.length; i += BATCH) out.push(...(await get(ids.slice(i, i + BATCH))));
  return out;
}

function lastModifiedOf(raw: string): string | undefined {
  const m = /^(?:REV|LAST-MODIFIED)(?:;[^:\r\n]*)?:(\S+)/m.exec(raw);
  if (!m) return undefined;
  const v = m[1]!;
  // 20261120T091500Z → ISO
  const b = /^(\d{4})-?(\d{2})-?(\d{2})T(\d{2}):?(\d{2}):?(\d{2})/.exec(v);
  return b ? `${b[1]}-${b[2]}-${b[3]}T${b[4]}:${b[5]}:${b[6]}Z` : undefined;
}

/**
 * Could a record this mailbox does not hold matter to it? In scope (R1, R2, R4, R7), within the
 * window for appointments (R3), or an address that an appointment links (R5 — the activity then
 * changes too, and its links are read with it).
 */
function relevant(kind: RecordKind, rec: Address | Activity, s: SyncSettings, exclusions: Set<string>, now: string): boolean {
  if (kind === 'address') return addressInScope(rec as Address, s, exclusions);
  return activityInScope(rec as Activity, s, exclusions) && withinWindow(rec as Activity, now, s.pastDays);
}

export function parseDeviceItem(collection: CollectionKind, href: string, etag: string, raw: string, mapper: MapperOptions): DeviceEntry {
  const entry: DeviceEntry = { collection, href, etag, raw, lastModified: lastModifiedOf(raw) };
  const marker = syncMarkerOf(raw);
  if (marker) entry.crmRef = marker;
  try {
    if (collection === 'contacts') entry.contact = vCardToAddress(raw, mapper);
    else entry.activity = iCalToActivity(raw, mapper);
  } catch (err) {
    entry.error = (err as Error).message;
    const remedy = (err as { remedy?: unknown }).remedy;
    if (typeof remedy === 'string') entry.remedy = remedy;
  }
  return entry;
}

/** The CRM side as read: records that may matter, tombstones, and where the feed stands now. */
interface CrmRead {
  now: string;
  crmFull: boolean;
  addresses: Map<string, Address>;
  activities: Map<string, Activity>;
  deleted: Set<string>;
  nextCursors: CrmCursors;
  /** Read already on the full path (it needs every known record); the delta path reads it later, if at all. */
  records?: MailboxRecords;
  /** Reads records by id into the maps (missing ones count as deleted when asked). */
  fetchInto(kind: RecordKind, ids: string[], markMissingDeleted: boolean): Promise<void>;
  /** Address ids in scope not read yet: new to the mailbox, maybe planned in parts (D76). */
  deferred?: string[];
}

export async function readMailboxSnapshot(input: SnapshotInput): Promise<SnapshotResult> {
  const crmRead = await readCrmSide(input);
  const { deltas, nextTokens } = await readDeltas(input);
  const attention = lazyAttention(input);
  if (await isQuiet(input, crmRead, deltas, attention)) {
    const empty = (kind: CollectionKind): DeviceCollectionSnapshot => ({ ref: input.collections[kind], full: false, token: null, changed: [], deleted: [], refused: [] });
    const device = { contacts: empty('contacts'), appointments: empty('appointments'), tasks: empty('tasks') };
    return { unchanged: true, nextCursors: crmRead.nextCursors, nextTokens, snapshot: snapshotOf(input, crmRead, device, { items: [], foreign: [], exclusions: new Set() }, new Map()) };
  }
  const records = crmRead.records ?? (await input.state.loadRecords(input.settings.userId));
  const reported = (href: string, etag: string) => records.attention.get(href)?.etag === etag;
  const byHref = new Map(records.items.map((i) => [i.href, i]));
  const device = {} as Record<CollectionKind, DeviceCollectionSnapshot>;
  for (const kind of COLLECTION_KINDS) device[kind] = await readCollection(input, kind, deltas[kind], records, byHref, crmRead, reported);
  await readRecordsDeviceNeeds(input, crmRead, device, records, byHref);
  const usersById = new Map(input.users.map((u) => [u.id, u]));
  const pendingCreates = new Map([...input.head.pendingCreates].map(([k, v]) => [k, v.fieldHashes]));
  const state = { items: records.items, foreign: records.deviceOnly, exclusions: new Set(records.exclusions.keys()), pendingCreates, attention: records.attention };
  const snapshot = snapshotOf(input, crmRead, device, state, usersById);
  const unread = await settleDeferred(crmRead, snapshot);
  return { snapshot, nextCursors: crmRead.nextCursors, nextTokens, ...(unread.length ? { unread } : {}) };
}

/**
 * D76: the full read leaves the addresses in scope that the mailbox does not hold unread until
 * the rest is known. Those some decision depends on (R5 links, device items, pending creates) are
 * read now; the others stay unread — planned and read part by part (D60), never all at once —
 * unless they are few enough to be planned in one piece anyway.
 */
async function settleDeferred(c: CrmRead, snapshot: MailboxSnapshot): Promise<string[]> {
  if (!c.deferred?.length) return [];
  const touched = touchedContacts(snapshot);
  const left = c.deferred.filter((id) => !c.addresses.has(id));
  await c.fetchInto('address', left.filter((id) => touched.has(id)), true);
  const unread = left.filter((id) => !touched.has(id));
  const untouchedRead = [...c.addresses.keys()].filter((id) => !touched.has(id)).length;
  if (unread.length + untouchedRead > PART_SIZE) return unread;
  await c.fetchInto('address', unread, true);
  return [];
}

/** The records of one part of new contacts (D60) the snapshot left unread (D76). */
export async function readNewContactsPart(crm: CrmProvider, snap: MailboxSnapshot, ids: string[]): Promise<MailboxSnapshot> {
  const missing = ids.filter((id) => !snap.addresses.has(id));
  const read = new Map((await inBatches(missing, (b) => crm.getAddresses(b))).map((r) => [r.id, r]));
  return newContactsPart(snap, ids, read);
}

function snapshotOf(input: SnapshotInput, c: CrmRead, device: MailboxSnapshot['device'], state: MailboxSnapshot['state'], usersById: Map<string, CrmUser>): MailboxSnapshot {
  return { settings: input.settings, now: c.now, addresses: c.addresses, activities: c.activities, deleted: c.deleted, device, state, ffdata: { users: usersById, addresses: c.addresses }, users: usersById };
}

/** The CRM side: everything in scope and known (first sync, --full, lost watermark, R6), or the feed since the watermark. */
async function readCrmSide(input: SnapshotInput): Promise<CrmRead> {
  const { crm, state, settings: s, head } = input;
  const user = s.userId;
  const now = await crm.now();
  const stored = head.cursors;
  // Scope settings changed since the watermark (e.g. a tag added to the user): records that did
  // not change in the CRM may enter or leave the scope, so the CRM side is read completely.
  const fingerprint = JSON.stringify([s.addressTags, s.activityTags, s.pastDays, s.syncPrivate, s.userTag]);
  const crmFull = input.full || stored.addresses === null || stored.activities === null || stored.settings !== fingerprint;
  const nowCursor: CrmCursor = { ts: now, id: '' };
  const c: CrmRead = {
    now,
    crmFull,
    addresses: new Map(),
    activities: new Map(),
    deleted: new Set(),
    nextCursors: { addresses: nowCursor, activities: nowCursor, tombstones: nowCursor, settings: fingerprint, syncStart: now },
    async fetchInto(kind, ids, markMissingDeleted) {
      const map = kind === 'address' ? c.addresses : c.activities;
      const want = [...new Set(ids)].filter((id) => !map.has(id));
      if (!want.length) return;
      const got = kind === 'address' ? await inBatches(want, (b) => crm.getAddresses(b)) : await inBatches(want, (b) => crm.getActivities(b));
      for (const r of got) (map as Map<string, Address | Activity>).set(r.id, r);
      if (markMissingDeleted) for (const id of want) if (!map.has(id)) c.deleted.add(`${kind}:${id}`);
    },
  };
  if (crmFull) {
    c.records = await state.loadRecords(user);
    const known = (kind: RecordKind) => c.records!.items.filter((i) => i.kind === kind).map((i) => i.crmId);
    const ids = await crm.scopeIds({ userId: user, addressTags: s.addressTags, activityTags: s.activityTags });
    const held = new Set(known('address'));
    c.deferred = input.partsApart ? ids.addresses.filter((id) => !held.has(id)) : [];
    await c.fetchInto('address', input.partsApart ? [...held] : [...ids.addresses, ...held], true);
    await c.fetchInto('activity', [...ids.activities, ...known('activity')], true);
  } else {
    await readCrmFeed(input, c);
  }
  for (const { ref } of head.failedRecords.values()) await c.fetchInto(ref.kind, [ref.crmId], true);
  return c;
}

/** The feed since the watermark, reduced to what can change something in this mailbox. */
async function readCrmFeed(input: SnapshotInput, c: CrmRead): Promise<void> {
  const { crm, state, settings: s, head } = input;
  const stored = head.cursors;
  const o = input.overlapSeconds;
  const starts = { addresses: feedStart(stored.addresses, stored.syncStart, o), activities: feedStart(stored.activities, stored.syncStart, o), tombstones: feedStart(stored.tombstones, stored.syncStart, o) };
  // Nothing after any cursor (one index probe per feed): the feeds are empty, the cursors stay,
  // and the held ids are not read (D16's quiet path).
  if (!(await crm.hasChangesSince(starts))) {
    c.nextCursors.addresses = stored.addresses;
    c.nextCursors.activities = stored.activities;
    c.nextCursors.tombstones = stored.tombstones;
    return;
  }
  // The feeds scoped to this mailbox in the database (D72, issue #16): records tagged for the
  // user or held by the mailbox, tombstones of held records. A bulk change of other users' records
  // is no longer read and filtered here, once per mailbox.
  const heldIds = await state.heldIds(s.userId);
  const a = await readFeed((cur, l) => crm.addressChangesSince(cur, l, { userId: s.userId, tags: s.addressTags, held: heldIds.address }), stored.addresses, stored.syncStart, o);
  const v = await readFeed((cur, l) => crm.activityChangesSince(cur, l, { userId: s.userId, tags: s.activityTags, held: heldIds.activity }), stored.activities, stored.syncStart, o);
  const t = await readFeed((cur, l) => crm.tombstonesSince(cur, l, { held: heldIds }), stored.tombstones, stored.syncStart, o);
  for (const r of a.items) c.addresses.set(r.id, r);
  for (const r of v.items) c.activities.set(r.id, r);
  for (const tb of t.items) c.deleted.add(`${tb.kind}:${tb.id}`);
  c.nextCursors.addresses = a.last;
  c.nextCursors.activities = v.last;
  c.nextCursors.tombstones = t.last;
  // A record deleted and then seen again (re-created by import) is alive.
  for (const id of c.addresses.keys()) c.deleted.delete(`address:${id}`);
  for (const id of c.activities.keys()) c.deleted.delete(`activity:${id}`);
  // The feed is every user's and re-reads the overlap: drop what concerns this mailbox not at
  // all — records it already holds at this version, and records outside its scope that it does
  // not hold (R1, R2, R4). Only what is left can change something here. One lookup for all.
  const refs: RecordRef[] = [
    ...[...c.addresses.keys()].map((crmId) => ({ kind: 'address' as const, crmId })),
    ...[...c.activities.keys()].map((crmId) => ({ kind: 'activity' as const, crmId })),
    ...[...c.deleted].map(parseRecordKey),
  ];
  if (!refs.length) return;
  const held = await state.lookup(s.userId, { records: refs });
  const versions = new Map(held.items.map((i) => [recordKey(i), i.crmVersion]));
  const exclusions = held.excluded;
  const settle = <T extends Address | Activity>(map: Map<string, T>, kind: RecordKind) => {
    for (const [id, rec] of map) {
      const version = versions.get(`${kind}:${id}`);
      if (version === undefined ? !relevant(kind, rec, s, exclusions, c.now) : version === rec.version && !c.deleted.has(`${kind}:${id}`)) map.delete(id);
    }
  };
  settle(c.addresses, 'address');
  settle(c.activities, 'activity');
  // Tombstones of records this mailbox never held change nothing here either.
  for (const k of [...c.deleted]) if (!versions.has(k)) c.deleted.delete(k);
}

/** Device side: one delta per collection (when nothing changed, one token probe or a REPORT each: D100). */
async function readDeltas(input: SnapshotInput): Promise<{ deltas: Record<CollectionKind, CollectionDelta>; nextTokens: Record<CollectionKind, string | null> }> {
  const deltas = {} as Record<CollectionKind, CollectionDelta>;
  const nextTokens = {} as Record<CollectionKind, string | null>;
  const answers = await input.mailbox.deltas(
    COLLECTION_KINDS.map((kind) => ({ collection: input.collections[kind], token: input.full ? null : (input.head.collections[kind]?.token ?? null) })),
  );
  COLLECTION_KINDS.forEach((kind, i) => {
    deltas[kind] = answers[i]!;
    nextTokens[kind] = deltas[kind].token;
  });
  const listed = COLLECTION_KINDS.reduce((n, k) => n + deltas[k].changed.length, 0);
  if (input.maxItems !== undefined && listed > input.maxItems) {
    throw new LimitExceededError(input.collections.contacts.url, 'limits.maxItemsPerMailbox', input.maxItems, `the mailbox lists ${listed} items in its three collections`);
  }
  return { deltas, nextTokens };
}

/** D30: an item reported as needing attention is read again only once it changed; read lazily. */
function lazyAttention(input: SnapshotInput): () => Promise<Map<string, AttentionItem>> {
  let cache: Promise<Map<string, AttentionItem>> | undefined;
  return () => (cache ??= input.state.listAttention(input.settings.userId).then((list) => new Map(list.map((a) => [a.href, a]))));
}

/**
 * Nothing new on either side (our own writes coming back with the ETag we stored do not count):
 * the plan would be empty, so it is not made (R6: a no-change sync costs the feed queries and
 * a token probe, and a REPORT only where a token moved: D100).
 */
async function isQuiet(input: SnapshotInput, c: CrmRead, deltas: Record<CollectionKind, CollectionDelta>, attention: () => Promise<Map<string, AttentionItem>>): Promise<boolean> {
  const { head, settings: s } = input;
  const crmQuiet = !c.crmFull && c.addresses.size === 0 && c.activities.size === 0 && c.deleted.size === 0 && head.failedRecords.size === 0;
  const stateQuiet = head.failedItems.size === 0 && head.pendingImports.size === 0 && head.pendingCreates.size === 0 && !(s.syncPrivate && head.deviceOnlyPrivate > 0);
  if (!crmQuiet || !stateQuiet) return false;
  if (!COLLECTION_KINDS.every((k) => !deltas[k].full && deltas[k].deleted.length === 0 && !deltas[k].refused?.length)) return false;
  const listed = COLLECTION_KINDS.flatMap((k) => deltas[k].changed);
  if (!listed.length) return true;
  const known = await input.state.lookup(s.userId, { hrefs: listed.map((r) => r.href) });
  const etags = new Map<string, string>([...known.items, ...known.deviceOnly].map((i) => [i.href, i.etag]));
  const reported = await attention();
  return listed.every((r) => etags.get(r.href) === r.etag || reported.get(r.href)?.etag === r.etag);
}

/** One collection's changed items, fetched and parsed: what the device holds that the plan must see. */
async function readCollection(
  input: SnapshotInput,
  kind: CollectionKind,
  delta: CollectionDelta,
  records: MailboxRecords,
  byHref: Map<string, ItemState>,
  c: CrmRead,
  reported: (href: string, etag: string) => boolean,
): Promise<DeviceCollectionSnapshot> {
  const { head, settings: s } = input;
  const ref = input.collections[kind];
  const failed = head.failedItems;
  const foreign = records.deviceOnly;
  const foreignByHref = new Map(foreign.map((f) => [f.href, f]));
  const known = records.items.filter((i) => i.collection === kind);
  let gone = delta.deleted;
  if (delta.full) {
    const listed = new Set(delta.changed.map((r) => r.href));
    gone = [...known.map((i) => i.href), ...foreign.filter((f) => f.collection === kind).map((f) => f.href)].filter((h) => !listed.has(h));
  }
  // Our own writes come back in the delta with the ETag we stored: not a change — unless the
  // server's ETags are counters (SOGo) and this is a full listing: then the content decides.
  const trustEtags = !(delta.full && delta.etagsUnreliable);
  const changed = delta.changed.filter((r) => {
    if (reported(r.href, r.etag) && !failed.has(r.href)) return false;
    const st = byHref.get(r.href) ?? foreignByHref.get(r.href);
    return !st || !trustEtags || st.etag !== r.etag || failed.has(r.href);
  });
  const toFetch = new Set(changed.map((r) => r.href));
  for (const href of failed.keys()) if (known.some((i) => i.href === href) || href.startsWith(ref.url)) toFetch.add(href);
  // Items whose CRM record changed must be patched, not rebuilt (R10, R11): fetch them too.
  for (const st of known) {
    const rec = st.kind === 'address' ? c.addresses.get(st.crmId) : c.activities.get(st.crmId);
    if (rec && rec.version !== st.crmVersion) toFetch.add(st.href);
  }
  // Device-only private items are imported once syncPrivate is switched on (R13, R19).
  if (s.syncPrivate) for (const f of foreign) if (f.collection === kind && f.reason.startsWith('private')) toFetch.add(f.href);
  for (const href of gone) toFetch.delete(href);
  const fetched = toFetch.size ? await input.mailbox.fetch(ref, [...toFetch]) : { items: [], missing: [] };
  const entries = fetched.items.map((it) => parseDeviceItem(kind, it.href, it.etag, it.data, input.mapper));
  // An item that could not be read is its own item error (retried next sync), never a deletion.
  for (const f of fetched.failed ?? []) {
    const listedEtag = changed.find((r) => r.href === f.href)?.etag ?? byHref.get(f.href)?.etag ?? '';
    entries.push({ collection: kind, href: f.href, etag: listedEtag, raw: '', error: `cannot read it: ${f.message}`, unreadable: 'fetch' });
  }
  return { ref, full: delta.full, token: delta.token, changed: entries, deleted: [...new Set([...gone, ...fetched.missing])], refused: delta.refused ?? [], ...(trustEtags ? {} : { etagsUnreliable: true }) };
}

/** CRM records that device changes, adoptions (R20, R23), R5 links and [FFDATA] (R16) need, read by id. */
async function readRecordsDeviceNeeds(input: SnapshotInput, c: CrmRead, device: Record<CollectionKind, DeviceCollectionSnapshot>, records: MailboxRecords, byHref: Map<string, ItemState>): Promise<void> {
  const needAddr: string[] = [];
  const needAct: string[] = [];
  for (const col of Object.values(device)) {
    for (const e of col.changed) {
      const st = byHref.get(e.href);
      if (st) {
        (st.kind === 'address' ? needAddr : needAct).push(st.crmId);
        continue;
      }
      const ours = crmRefOf(e);
      if (ours) (ours.kind === 'address' ? needAddr : needAct).push(ours.id);
    }
  }
  await c.fetchInto('address', needAddr, true);
  await c.fetchInto('activity', needAct, true);
  await recoverPendingImports(input, device, records, byHref, c.addresses, c.activities);
  const links = new Set<string>();
  for (const a of c.activities.values()) a.addresses.forEach((id) => links.add(id));
  await c.fetchInto('address', [...links], false);
}

/**
 * The one-item snapshot a lost race is planned again on (R20): both sides of one record re-read
 * (the device item at `at`, the CRM record), on top of the mailbox's snapshot.
 */
export async function readItemSnapshot(
  base: MailboxSnapshot,
  deps: { crm: CrmProvider; mailbox: MailboxProvider; collections: Record<CollectionKind, CollectionRef>; mapper: MapperOptions },
  record: RecordRef,
  at: { href: string; collection: CollectionKind },
  agreed: ItemState | undefined,
  pendingCreate: Record<string, string> | undefined,
): Promise<MailboxSnapshot> {
  const fetched = await deps.mailbox.fetch(deps.collections[at.collection], [at.href]);
  const rec = record.kind === 'address' ? (await deps.crm.getAddresses([record.crmId]))[0] : (await deps.crm.getActivities([record.crmId]))[0];
  return {
    ...base,
    addresses: new Map(record.kind === 'address' && rec ? [[rec.id, rec as Address]] : []),
    activities: new Map(record.kind === 'activity' && rec ? [[rec.id, rec as Activity]] : []),
    deleted: new Set(rec ? [] : [recordKey(record)]),
    device: Object.fromEntries(
      COLLECTION_KINDS.map((k) => [
        k,
        {
          ref: deps.collections[k],
          full: false,
          token: null,
          changed: k === at.collection ? fetched.items.map((it) => parseDeviceItem(k, it.href, it.etag, it.data, deps.mapper)) : [],
          deleted: k === at.collection ? fetched.missing : [],
        },
      ]),
    ) as MailboxSnapshot['device'],
    state: {
      ...base.state,
      items: agreed ? [agreed] : [],
      foreign: [],
      pendingCreates: pendingCreate ? new Map([[recordKey(record), pendingCreate]]) : base.state.pendingCreates,
    },
  };
}

/**
 * A crash between creating a CRM record from a device item and writing the state leaves a
 * pending import (R23). Find the record it created — in the user's scope, not linked to any
 * device item, with the same CRM-owned fields — and link the device item to it instead of
 * importing it again.
 */
async function recoverPendingImports(
  input: SnapshotInput,
  device: Record<CollectionKind, DeviceCollectionSnapshot>,
  records: MailboxRecords,
  byHref: Map<string, ItemState>,
  addresses: Map<string, Address>,
  activities: Map<string, Activity>,
): Promise<void> {
  const { crm, settings: s } = input;
  const pending = input.head.pendingImports;
  if (!pending.size) return;
  const entries = Object.values(device).flatMap((c) => c.changed).filter((e) => pending.has(e.href) && !byHref.has(e.href) && !e.crmRef && !e.error);
  if (!entries.length) return;
  const mapped = new Set(records.items.map(recordKey));
  const scope = await crm.scopeIds({ userId: s.userId, addressTags: [s.userTag], activityTags: [s.userTag] });
  const free = (kind: 'address' | 'activity', ids: string[]) => ids.filter((id) => !mapped.has(`${kind}:${id}`));
  const candAddr = await inBatches(free('address', scope.addresses), (b) => crm.getAddresses(b));
  const candAct = await inBatches(free('activity', scope.activities), (b) => crm.getActivities(b));
  const same = (a: Record<string, string>, b: Record<string, string>) => Object.keys(a).every((k) => a[k] === b[k]);
  const taken = new Set<string>();
  for (const e of entries) {
    if (e.contact) {
      const want = addressFieldHashes(e.contact.fields, input.mapper.hashKey);
      const hit = candAddr.find((a) => !taken.has(a.id) && same(want, addressFieldHashes(a, input.mapper.hashKey)));
      if (hit) {
        taken.add(hit.id);
        addresses.set(hit.id, hit);
        e.crmRef = { kind: 'address', id: hit.id };
      }
    } else if (e.activity) {
      const want = activityFieldHashes(e.activity.fields, input.mapper.hashKey);
      const hit = candAct.find((a) => !taken.has(a.id) && a.kind === e.activity!.kind && same({ ...want, subject: '' }, { ...activityFieldHashes(a, input.mapper.hashKey), subject: '' }));
      if (hit) {
        taken.add(hit.id);
        activities.set(hit.id, hit);
        e.crmRef = { kind: 'activity', id: hit.id };
      }
    }
  }
}

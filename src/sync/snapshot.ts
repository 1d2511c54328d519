// Reading both sides of one mailbox (the only I/O before planning). Reads only what changed:
// the CRM feed since the watermark (R6) and each collection's delta since its sync token; it
// fetches device items only when they changed, or when the CRM changed and they must be patched.
import { iCalToActivity, vCardToAddress, type MapperOptions } from '../mappers/index.js';
import type { Activity, Address, ChangePage, CrmCursor, CrmProvider, CrmUser } from '../providers/crm/model.js';
import type { CollectionDelta, CollectionKind, CollectionRef, MailboxProvider } from '../providers/dav/types.js';
import { COLLECTION_KINDS } from '../providers/dav/types.js';
import { LimitExceededError } from '../providers/dav/errors.js';
import type { DeviceCollectionSnapshot, DeviceEntry, MailboxSnapshot, SyncSettings } from './snapshot-types.js';
import type { AttentionItem, CrmCursors, ItemState, StateStore } from './state.js';
import { parseAttention } from './state.js';
import { syncMarkerOf } from './marker.js';
import { parseRecordKey } from './state/store.js';
import { activityInScope, addressInScope, crmRefOf, withinWindow } from './scope.js';
import { addressFieldHashes, activityFieldHashes } from '../mappers/index.js';

const PAGE = 500;
const BATCH = 200;

export interface SnapshotInput {
  crm: CrmProvider;
  mailbox: MailboxProvider;
  state: StateStore;
  settings: SyncSettings;
  collections: Record<CollectionKind, CollectionRef>;
  mapper: MapperOptions;
  users: CrmUser[];
  full: boolean;
  overlapSeconds: number;
  /** limits.maxItemsPerMailbox: items all collections of the mailbox may list together. */
  maxItems?: number;
}

export interface SnapshotResult {
  snapshot: MailboxSnapshot;
  /** Nothing changed on either side: there is nothing to plan. */
  unchanged?: boolean;
  /** What to store once the plan has been carried out. */
  nextCursors: CrmCursors;
  nextTokens: Record<CollectionKind, string | null>;
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
function relevant(kind: 'address' | 'activity', rec: Address | Activity, s: SyncSettings, exclusions: Set<string>, now: string): boolean {
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

export async function readMailboxSnapshot(input: SnapshotInput): Promise<SnapshotResult> {
  const { crm, mailbox, state, settings: s, mapper } = input;
  const user = s.userId;
  const now = await crm.now();
  const stored = state.getCursors(user);
  // Scope settings changed since the watermark (e.g. a tag added to the user): records that did
  // not change in the CRM may enter or leave the scope, so the CRM side is read completely.
  const fingerprint = JSON.stringify([s.addressTags, s.activityTags, s.pastDays, s.syncPrivate, s.userTag]);
  const crmFull = input.full || stored.addresses === null || stored.activities === null || stored.settings !== fingerprint;

  const addresses = new Map<string, Address>();
  const activities = new Map<string, Activity>();
  const deleted = new Set<string>();
  const nowCursor: CrmCursor = { ts: now, id: '' };
  const nextCursors: CrmCursors = { addresses: nowCursor, activities: nowCursor, tombstones: nowCursor, settings: fingerprint, syncStart: now };

  // The state of every item is read only when something changed (a no-change sync reads none).
  let itemsCache: ItemState[] | undefined;
  const loadItems = () => (itemsCache ??= state.listItems(user));
  const stateIds = (kind: 'address' | 'activity') => loadItems().filter((i) => i.kind === kind).map((i) => i.crmId);
  const crmRetries = [...state.listRetries(user, 'crm').keys()];

  const fetchInto = async (kind: 'address' | 'activity', ids: string[], markMissingDeleted: boolean) => {
    const map = kind === 'address' ? addresses : activities;
    const want = [...new Set(ids)].filter((id) => !map.has(id));
    if (!want.length) return;
    const got = kind === 'address' ? await inBatches(want, (b) => crm.getAddresses(b)) : await inBatches(want, (b) => crm.getActivities(b));
    for (const r of got) (map as Map<string, Address | Activity>).set(r.id, r);
    if (markMissingDeleted) for (const id of want) if (!map.has(id)) deleted.add(`${kind}:${id}`);
  };

  const snapshotOf = (device: MailboxSnapshot['device'], stateParts: MailboxSnapshot['state'], usersById: Map<string, CrmUser>): MailboxSnapshot => ({
    settings: s,
    now,
    addresses,
    activities,
    deleted,
    device,
    state: stateParts,
    ffdata: { users: usersById, addresses },
    users: usersById,
  });

  if (crmFull) {
    // First sync, --full or lost watermark (R6): compare everything in scope and everything known.
    const ids = await crm.scopeIds({ userId: user, addressTags: s.addressTags, activityTags: s.activityTags });
    await fetchInto('address', [...ids.addresses, ...stateIds('address')], true);
    await fetchInto('activity', [...ids.activities, ...stateIds('activity')], true);
  } else {
    const a = await readFeed((c, l) => crm.addressChangesSince(c, l), stored.addresses, stored.syncStart, input.overlapSeconds);
    const v = await readFeed((c, l) => crm.activityChangesSince(c, l), stored.activities, stored.syncStart, input.overlapSeconds);
    const t = await readFeed((c, l) => crm.tombstonesSince(c, l), stored.tombstones, stored.syncStart, input.overlapSeconds);
    for (const r of a.items) addresses.set(r.id, r);
    for (const r of v.items) activities.set(r.id, r);
    for (const tb of t.items) deleted.add(`${tb.kind}:${tb.id}`);
    nextCursors.addresses = a.last;
    nextCursors.activities = v.last;
    nextCursors.tombstones = t.last;
    // A record deleted and then seen again (re-created by import) is alive.
    for (const id of addresses.keys()) deleted.delete(`address:${id}`);
    for (const id of activities.keys()) deleted.delete(`activity:${id}`);
    // The feed is every user's and re-reads the overlap: drop what concerns this mailbox not at
    // all — records it already holds at this version, and records outside its scope that it does
    // not hold (R1, R2, R4). Only what is left can change something here.
    const exclusions = state.listExclusions(user);
    const settle = <T extends Address | Activity>(map: Map<string, T>, kind: 'address' | 'activity') => {
      for (const [id, rec] of map) {
        const held = state.crmVersionOf(user, kind, id);
        if (held === undefined ? !relevant(kind, rec, s, exclusions, now) : held === rec.version && !tombstoned(kind, id)) map.delete(id);
      }
    };
    const tombstoned = (kind: string, id: string) => deleted.has(`${kind}:${id}`);
    settle(addresses, 'address');
    settle(activities, 'activity');
    // Tombstones of records this mailbox never held change nothing here either.
    for (const k of [...deleted]) {
      const { kind, crmId } = parseRecordKey(k);
      if (state.crmVersionOf(user, kind, crmId) === undefined) deleted.delete(k);
    }
  }
  for (const k of crmRetries) {
    const { kind, crmId } = parseRecordKey(k);
    await fetchInto(kind, [crmId], true);
  }

  // Device side: one delta per collection (a single REPORT each when nothing changed).
  const storedCollections = state.getCollections(user);
  const deviceRetries = state.listRetries(user, 'device');
  // D30: an item reported as needing attention is read again only once it changed. Read lazily:
  // a sync whose deltas are empty (the no-change sync, D16) does not look at it.
  let attentionCache: Map<string, AttentionItem> | undefined;
  const attention = () => (attentionCache ??= parseAttention(state.listRetries(user, 'attention')));
  const reported = (href: string, etag: string) => attention().get(href)?.etag === etag;
  const deltas = {} as Record<CollectionKind, CollectionDelta>;
  const nextTokens = {} as Record<CollectionKind, string | null>;
  for (const kind of COLLECTION_KINDS) {
    const token = input.full ? null : (storedCollections[kind]?.token ?? null);
    deltas[kind] = await mailbox.delta(input.collections[kind], token);
    nextTokens[kind] = deltas[kind].token;
  }
  const listed = COLLECTION_KINDS.reduce((n, k) => n + deltas[k].changed.length, 0);
  if (input.maxItems !== undefined && listed > input.maxItems) {
    throw new LimitExceededError(input.collections.contacts.url, 'limits.maxItemsPerMailbox', input.maxItems, `the mailbox lists ${listed} items in its three collections`);
  }

  // Nothing new on either side (our own writes coming back with the ETag we stored do not
  // count): the plan would be empty, so it is not made (R6: a no-change sync costs the feed
  // queries and one REPORT per collection).
  const quiet =
    !crmFull &&
    addresses.size === 0 &&
    activities.size === 0 &&
    deleted.size === 0 &&
    crmRetries.length === 0 &&
    deviceRetries.size === 0 &&
    state.listRetries(user, 'import').size === 0 &&
    state.listRetries(user, 'create').size === 0 &&
    !(s.syncPrivate && state.listForeign(user).some((f) => f.reason.startsWith('private'))) &&
    COLLECTION_KINDS.every((k) => !deltas[k].full && deltas[k].deleted.length === 0 && !deltas[k].refused?.length && deltas[k].changed.every((r) => state.etagOf(user, r.href) === r.etag || reported(r.href, r.etag)));
  if (quiet) {
    const empty = (kind: CollectionKind): DeviceCollectionSnapshot => ({ ref: input.collections[kind], full: false, token: null, changed: [], deleted: [], refused: [] });
    const device = { contacts: empty('contacts'), appointments: empty('appointments'), tasks: empty('tasks') };
    return { unchanged: true, nextCursors, nextTokens, snapshot: snapshotOf(device, { items: [], foreign: [], exclusions: new Set() }, new Map()) };
  }

  const items = loadItems();
  const foreign = state.listForeign(user);
  const exclusions = state.listExclusions(user);
  const byHref = new Map(items.map((i) => [i.href, i]));
  const foreignByHref = new Map(foreign.map((f) => [f.href, f]));
  const device = {} as Record<CollectionKind, DeviceCollectionSnapshot>;
  for (const kind of COLLECTION_KINDS) {
    const ref = input.collections[kind];
    const delta = deltas[kind];
    const known = items.filter((i) => i.collection === kind);
    let changed = delta.changed;
    let gone = delta.deleted;
    if (delta.full) {
      const listed = new Set(delta.changed.map((r) => r.href));
      gone = [...known.map((i) => i.href), ...foreign.filter((f) => f.collection === kind).map((f) => f.href)].filter((h) => !listed.has(h));
    }
    // Our own writes come back in the delta with the ETag we stored: not a change — unless the
    // server's ETags are counters (SOGo) and this is a full listing: then the content decides.
    const trustEtags = !(delta.full && delta.etagsUnreliable);
    changed = changed.filter((r) => {
      if (reported(r.href, r.etag) && !deviceRetries.has(r.href)) return false;
      const st = byHref.get(r.href) ?? foreignByHref.get(r.href);
      return !st || !trustEtags || st.etag !== r.etag || deviceRetries.has(r.href);
    });
    const toFetch = new Set(changed.map((r) => r.href));
    for (const href of deviceRetries.keys()) if (known.some((i) => i.href === href) || href.startsWith(ref.url)) toFetch.add(href);
    // Items whose CRM record changed must be patched, not rebuilt (R10, R11): fetch them too.
    for (const st of known) {
      const rec = st.kind === 'address' ? addresses.get(st.crmId) : activities.get(st.crmId);
      if (rec && rec.version !== st.crmVersion) toFetch.add(st.href);
    }
    // Device-only private items are imported once syncPrivate is switched on (R13, R19).
    if (s.syncPrivate) for (const f of foreign) if (f.collection === kind && f.reason.startsWith('private')) toFetch.add(f.href);
    for (const href of gone) toFetch.delete(href);
    const fetched = toFetch.size ? await mailbox.fetch(ref, [...toFetch]) : { items: [], missing: [] };
    const entries = fetched.items.map((it) => parseDeviceItem(kind, it.href, it.etag, it.data, mapper));
    // An item that could not be read is its own item error (retried next sync), never a deletion.
    for (const f of fetched.failed ?? []) {
      const listedEtag = changed.find((r) => r.href === f.href)?.etag ?? byHref.get(f.href)?.etag ?? '';
      entries.push({ collection: kind, href: f.href, etag: listedEtag, raw: '', error: `cannot read it: ${f.message}`, unreadable: 'fetch' });
    }
    device[kind] = { ref, full: delta.full, token: delta.token, changed: entries, deleted: [...new Set([...gone, ...fetched.missing])], refused: delta.refused ?? [], ...(trustEtags ? {} : { etagsUnreliable: true }) };
  }

  // CRM records that device changes or adoptions need (R20, R23), read by id.
  const needAddr: string[] = [];
  const needAct: string[] = [];
  for (const col of Object.values(device)) {
    for (const e of col.changed) {
      const st: ItemState | undefined = byHref.get(e.href);
      if (st) {
        (st.kind === 'address' ? needAddr : needAct).push(st.crmId);
        continue;
      }
      const ours = crmRefOf(e);
      if (ours) (ours.kind === 'address' ? needAddr : needAct).push(ours.id);
    }
  }
  await fetchInto('address', needAddr, true);
  await fetchInto('activity', needAct, true);
  await recoverPendingImports(input, device, byHref, addresses, activities);

  // Linked addresses of the activities read: R5 contacts and the [FFDATA] block (R16).
  const links = new Set<string>();
  for (const a of activities.values()) a.addresses.forEach((id) => links.add(id));
  await fetchInto('address', [...links], false);

  const usersById = new Map(input.users.map((u) => [u.id, u]));
  const pendingCreates = new Map([...state.listRetries(user, 'create')].map(([k, v]) => [k, JSON.parse(v) as Record<string, string>]));
  const snapshot = snapshotOf(device, { items, foreign, exclusions, pendingCreates, attention: attention() }, usersById);
  return { snapshot, nextCursors, nextTokens };
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
  byHref: Map<string, ItemState>,
  addresses: Map<string, Address>,
  activities: Map<string, Activity>,
): Promise<void> {
  const { crm, state, settings: s } = input;
  const pending = state.listRetries(s.userId, 'import');
  if (!pending.size) return;
  const entries = Object.values(device).flatMap((c) => c.changed).filter((e) => pending.has(e.href) && !byHref.has(e.href) && !e.crmRef && !e.error);
  if (!entries.length) return;
  const mapped = new Set(state.listItems(s.userId).map((i) => `${i.kind}:${i.crmId}`));
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

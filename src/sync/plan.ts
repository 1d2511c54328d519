// The planner: a pure, synchronous function from a snapshot (both sides + last agreed state) to
// a list of actions. Per record: its facts (./facts.ts) → the decision table (./decide.ts) →
// actions, rendered here for the device; then the delete guard (R21). Only the executor
// (./execute.ts) performs the actions.
import { crmRefOf } from './scope.js';
import { decide, type Decision } from './decide.js';
import { factsOf, type DeviceByRecord, type RecordView } from './facts.js';
import { parseRecordKey, recordKey } from './state/store.js';
import {
  contentHash,
  activityFieldHashes,
  activityToICal,
  addressFieldHashes,
  addressToVCard,
  mergeDevicePhones,
  patchICal,
  patchVCard,
  stableUid,
  stripSubjectPrefix,
  type DeviceContact,
  type MapperOptions,
} from '../mappers/index.js';
import type {
  Activity,
  ActivityFields,
  Address,
  AddressFields,
  NewActivity,
  NewAddress,
  RecordKind,
} from '../providers/crm/model.js';
import type { CollectionKind, ItemRef } from '../providers/dav/types.js';
import { crmRecordProblems } from '../providers/crm/exchange.js';
import type { DeviceEntry, MailboxSnapshot, SyncSettings } from './snapshot-types.js';
import type { ForeignItem, ItemState } from './state/store.js';

export const CONTENT_TYPE: Record<CollectionKind, string> = {
  contacts: 'text/vcard; charset=utf-8',
  appointments: 'text/calendar; charset=utf-8',
  tasks: 'text/calendar; charset=utf-8',
};

/** State of an item minus what only the write tells (href, etag, content hash, new CRM version). */
export type ItemBase = Omit<ItemState, 'href' | 'etag' | 'contentHash'>;

/** The arm of the decision table that produced an action (`--dry-run --json` shows it). */
interface FromArm {
  arm?: string;
}

export type Action = (
  | { type: 'device-create'; kind: RecordKind; crmId: string; collection: CollectionKind; name: string; data: string; item: ItemBase; summary: string }
  | { type: 'device-update'; kind: RecordKind; crmId: string; ref: ItemRef; data: string; item: ItemBase; summary: string }
  | { type: 'device-delete'; kind: RecordKind; crmId: string; ref: ItemRef; summary: string }
  | {
      type: 'crm-update';
      kind: RecordKind;
      crmId: string;
      patch: Partial<AddressFields> | Partial<ActivityFields>;
      expectedVersion: string;
      /** The device item as read, and what it must become (null: already right). */
      ref: ItemRef;
      data: string | null;
      /** With `data` null: the content hash of the device item as read, which then stays (R20). */
      deviceHash: string | null;
      item: ItemBase;
      conflicts: string[];
      summary: string;
    }
  /** R7/R8: the user tag comes off the record, which is excluded from this mailbox until it is back (D3). */
  | { type: 'crm-untag'; kind: RecordKind; crmId: string; tag: string; summary: string }
  | {
      type: 'crm-create';
      kind: RecordKind;
      collection: CollectionKind;
      ref: ItemRef;
      raw: string;
      input: NewAddress | NewActivity;
      summary: string;
    }
  | { type: 'state-update'; item: ItemState; summary: string }
  | { type: 'state-forget'; kind: RecordKind; crmId: string; summary: string }
  | { type: 'foreign'; item: ForeignItem; summary: string }
  | { type: 'foreign-forget'; href: string; summary: string }
  | { type: 'item-error'; key: string; side: 'device' | 'crm'; message: string; summary: string }
  /** D30: a device item that cannot be read or cannot go into the CRM; kept untouched, not a failure. */
  | { type: 'attention'; href: string; etag: string; collection: CollectionKind; message: string; summary: string }
  | { type: 'attention-clear'; href: string; summary: string }
  /** D3: the user tag is back on a record excluded after a device deletion (R7). */
  | { type: 'exclusion-end'; kind: RecordKind; crmId: string; summary: string }
) &
  FromArm;

export interface DeleteGuardHit {
  side: 'device' | 'crm';
  collection: string;
  deletes: number;
  total: number;
}

export interface MailboxPlan {
  user: string;
  actions: Action[];
  /** R21: set when the plan would delete more than maxDeletePercent of a collection. */
  blocked: DeleteGuardHit[];
  conflicts: { key: string; fields: string[] }[];
}

// ---------- scope (R1–R5, R7, R9) ----------

// The predicates live in ./scope.ts (one definition for planner, snapshot, push routing and SQL).
export { activityInScope, addressInScope, withinWindow } from './scope.js';

function ended(a: Activity, now: string): boolean {
  const endIso = a.end ?? a.start;
  return endIso !== null && Date.parse(endIso) < Date.parse(now);
}

// ---------- field values as the device sees them ----------

/** R17: a done appointment shows no alarm on the device, so its alarm is compared as "none". */
export function deviceVisibleActivityFields(a: Activity): ActivityFields {
  const f = pickActivityFields(a);
  if (a.kind === 'appointment' && a.done) f.alarmMinutes = null;
  return f;
}

function pickActivityFields(a: ActivityFields): ActivityFields {
  return {
    subject: a.subject,
    start: a.start,
    end: a.end,
    allDay: a.allDay,
    timeZone: a.timeZone,
    due: a.due,
    alarmMinutes: a.alarmMinutes,
    note: a.note,
    done: a.done,
  };
}

function pickAddressFields(a: AddressFields): AddressFields {
  return {
    company: a.company,
    salutation: a.salutation,
    title: a.title,
    firstName: a.firstName,
    lastName: a.lastName,
    street: a.street,
    postalCode: a.postalCode,
    city: a.city,
    country: a.country,
    fax: a.fax,
    email: a.email,
    note: a.note,
    phones: a.phones.map((p) => ({ ...p })),
  };
}

/** Per-field hashes of the CRM-owned fields, keyed (HMAC) so the state store holds no personal data. */
export function crmFieldHashes(kind: RecordKind, rec: Address | Activity, opts: Pick<MapperOptions, 'hashKey'>): Record<string, string> {
  return kind === 'address'
    ? addressFieldHashes(pickAddressFields(rec as Address), opts.hashKey)
    : activityFieldHashes(deviceVisibleActivityFields(rec as Activity), opts.hashKey);
}

function displayName(kind: RecordKind, rec: Address | Activity | undefined, id: string): string {
  if (!rec) return `${kind} ${id}`;
  if (kind === 'address') {
    const a = rec as Address;
    const name = [a.firstName, a.lastName].filter(Boolean).join(' ') || a.company || id;
    return `contact "${name}" (${id})`;
  }
  const act = rec as Activity;
  return `${act.kind} "${act.subject}" (${id})`;
}

// ---------- the per-field merge (R20) ----------

interface MergeResult {
  /** For each field: take the device value? */
  fromDevice: Set<string>;
  conflicts: string[];
}

function mergeFields(
  base: Record<string, string> | null,
  crm: Record<string, string>,
  dev: Record<string, string>,
  policy: SyncSettings['conflict'],
  crmNewer: boolean,
): MergeResult {
  const fromDevice = new Set<string>();
  const conflicts: string[] = [];
  for (const k of new Set([...Object.keys(crm), ...Object.keys(dev)])) {
    if (crm[k] === dev[k]) continue; // both agree
    const crmChanged = !base || crm[k] !== base[k];
    const devChanged = !base || dev[k] !== base[k];
    if (devChanged && !crmChanged) fromDevice.add(k);
    else if (devChanged && crmChanged) {
      conflicts.push(k); // R20: changed on both sides, the policy decides
      if (policy === 'device-wins' || (policy === 'newest-wins' && !crmNewer)) fromDevice.add(k);
    }
  }
  return { fromDevice, conflicts };
}

function applyAddressMerge(crm: Address, dev: DeviceContact, fromDevice: Set<string>, slotCount: number): Partial<AddressFields> {
  const patch: Partial<AddressFields> = {};
  const d = dev.fields;
  for (const k of Object.keys(d) as (keyof AddressFields)[]) {
    if (k === 'phones') continue;
    if (fromDevice.has(k)) (patch as Record<string, unknown>)[k] = d[k];
  }
  const phoneKeys = [...fromDevice].filter((k) => /^phone\d+$/.test(k));
  if (phoneKeys.length) {
    // Device numbers for the positions the device wins, CRM numbers elsewhere (R12).
    const slots = Math.max(d.phones.length, slotCount);
    const chosen = Array.from({ length: slots }, (_, i) => {
      const k = `phone${i + 1}`;
      const src = fromDevice.has(k) ? d.phones[i] : crm.phones[i];
      return { number: src?.number ?? '', remark: '' };
    });
    patch.phones = mergeDevicePhones(crm.phones, chosen, slotCount);
  }
  return patch;
}

function applyActivityMerge(crm: Activity, d: ActivityFields, fromDevice: Set<string>, now: string): Partial<ActivityFields> {
  const patch: Partial<ActivityFields> = {};
  for (const k of Object.keys(d) as (keyof ActivityFields)[]) {
    if (!fromDevice.has(k)) continue;
    if (k === 'done' && crm.kind === 'appointment') continue; // appointments: done never comes from the device except R18
    (patch as Record<string, unknown>)[k] = d[k];
  }
  if (crm.kind === 'appointment' && 'alarmMinutes' in patch && patch.alarmMinutes === null && crm.alarmMinutes !== null) {
    const endsAt = { ...crm, ...patch } as Activity;
    if (ended(endsAt, now)) {
      // R18: removing the alarm of an appointment that has ended marks it done (alarm kept in the CRM).
      delete patch.alarmMinutes;
      patch.done = true;
    }
  }
  return patch;
}

// ---------- rendering for the device ----------

function render(
  kind: RecordKind,
  rec: Address | Activity,
  existing: string | null,
  snap: MailboxSnapshot,
  opts: MapperOptions,
): string {
  if (kind === 'address') {
    return existing === null ? addressToVCard(rec as Address, opts) : patchVCard(existing, rec as Address, opts);
  }
  return existing === null ? activityToICal(rec as Activity, snap.ffdata, opts) : patchICal(existing, rec as Activity, snap.ffdata, opts);
}

/** Renders a CRM record onto a device item after the executor created it in the CRM. */
export function renderForDevice(kind: RecordKind, rec: Address | Activity, existing: string | null, snap: Pick<MailboxSnapshot, 'ffdata'>, opts: MapperOptions): string {
  return render(kind, rec, existing, snap as MailboxSnapshot, opts);
}

function collectionOf(kind: RecordKind, rec: Address | Activity): CollectionKind {
  return kind === 'address' ? 'contacts' : (rec as Activity).kind === 'task' ? 'tasks' : 'appointments';
}

function itemBase(kind: RecordKind, rec: Address | Activity, s: SyncSettings, reason: ItemState['reason'], fieldHashes: Record<string, string>): ItemBase {
  return {
    user: s.userId,
    kind,
    crmId: rec.id,
    collection: collectionOf(kind, rec),
    crmVersion: rec.version,
    fieldHashes,
    reason,
    links: kind === 'activity' ? [...(rec as Activity).addresses] : [],
  };
}

// ---------- the plan ----------

/** D30/D32: device items reported to the user, once per change of the item (its ETag). */
function deviceReports(snap: MailboxSnapshot, actions: Action[]) {
  const attention = snap.state.attention ?? new Map();
  /** The item stays as the device wrote it. */
  const attend = (e: DeviceEntry, message: string, remedy: string) => {
    if (attention.get(e.href)?.etag === e.etag) return;
    const text = `${message} — ${remedy}`;
    actions.push({ type: 'attention', href: e.href, etag: e.etag, collection: e.collection, message: text, summary: `needs attention: ${e.href}: ${text}` });
  };
  return {
    attention,
    unreadable(e: DeviceEntry): void {
      // A server that did not hand the item over is a failure to retry (R22), not the user's item.
      if (e.unreadable === 'fetch') {
        actions.push({ type: 'item-error', key: e.href, side: 'device', message: e.error ?? 'cannot be fetched', summary: `skip device item ${e.href}: ${e.error}` });
        return;
      }
      attend(e, e.error ?? 'cannot be read', `${e.remedy ?? 'Open the item on the device and save it again.'} It stays on the device unchanged and is read again once it changes.`);
    },
    /** D32: what the sync writes to the CRM must pass the CRM's own rules (crm import). */
    refused(e: DeviceEntry, kind: RecordKind, record: object): boolean {
      const problems = crmRecordProblems(kind, record as Record<string, unknown>);
      if (!problems.length) return false;
      attend(e, `cannot go into the CRM: ${problems.join('; ')}`, 'Correct the item on the device; it stays there unchanged and is read again once it changes.');
      return true;
    },
  };
}

/**
 * The device side sorted by record: changes of agreed items, items of ours to adopt (R23),
 * deletions; items that are no record's yet are returned for the CRM (R13, R19).
 */
function sortDevice(snap: MailboxSnapshot, stateByKey: Map<string, ItemState>, actions: Action[], reports: ReturnType<typeof deviceReports>): { device: DeviceByRecord; newEntries: DeviceEntry[] } {
  const s = snap.settings;
  const { attention } = reports;
  const stateByHref = new Map(snap.state.items.map((i) => [i.href, i]));
  const foreignByHref = new Map(snap.state.foreign.map((f) => [f.href, f]));
  const device: DeviceByRecord = { listed: new Map(), adoptable: new Map(), deleted: new Set() };
  const newEntries: DeviceEntry[] = [];
  for (const col of Object.values(snap.device)) {
    for (const e of col.changed) {
      if (!e.error && attention.has(e.href)) actions.push({ type: 'attention-clear', href: e.href, summary: `${e.href} can be read again`, arm: 'device-readable → attention-clear (D30)' });
      const st = stateByHref.get(e.href);
      if (st) {
        device.listed.set(recordKey(st), e);
        continue;
      }
      const foreign = foreignByHref.get(e.href);
      if (foreign && foreign.etag === e.etag && !(s.syncPrivate && foreign.reason.startsWith('private'))) continue;
      if (e.error) {
        const before = actions.length;
        reports.unreadable(e); // D30
        armFrom(actions, before, 'device-new/unreadable → attention (D30)');
        continue;
      }
      // Ours by UID (created by sync-cli) or by marker (imported from the device), R23.
      const ours = crmRefOf(e);
      const k = ours ? recordKey({ kind: ours.kind, crmId: ours.id }) : '';
      if (ours && (ours.kind === 'address') === (e.collection === 'contacts') && !stateByKey.has(k)) device.adoptable.set(k, e);
      else newEntries.push(e);
    }
    for (const href of col.deleted) {
      if (attention.has(href)) actions.push({ type: 'attention-clear', href, summary: `${href} was deleted on the device`, arm: 'device-deleted → attention-clear (D30)' });
      const st = stateByHref.get(href);
      if (st) device.deleted.add(recordKey(st));
      else if (foreignByHref.has(href)) actions.push({ type: 'foreign-forget', href, summary: `forget device-only item ${href} (deleted on the device)`, arm: 'device-only/deleted → foreign-forget (R13, R19)' });
    }
  }
  return { device, newEntries };
}

export function planMailboxSync(snap: MailboxSnapshot, opts: MapperOptions, flags: { forceDelete?: boolean } = {}): MailboxPlan {
  const s = snap.settings;
  const actions: Action[] = [];
  const conflicts: MailboxPlan['conflicts'] = [];
  const reports = deviceReports(snap, actions);
  const { unreadable, refused } = reports;
  const stateByKey = new Map(snap.state.items.map((i) => [recordKey(i), i]));
  const { device, newEntries } = sortDevice(snap, stateByKey, actions, reports);
  const ctx: PlanContext = { snap, opts, actions, conflicts, refused };

  /** Turns one decision of the table into actions; every action it makes carries the arm. */
  const act = (v: RecordView, d: Decision) => {
    const before = actions.length;
    const { kind, id, rec, state: st, device: dev, facts } = v;
    const name = displayName(kind, rec, id);
    const reason: ItemState['reason'] = facts.wanted === 'by-link' ? 'linked' : 'scope';
    if (d.endsExclusion) actions.push({ type: 'exclusion-end', kind, crmId: id, summary: `${name} carries ${s.userTag} again: no longer excluded (R7, D3)` });
    switch (d.kind) {
      case 'nothing':
        break;
      case 'note-reason':
        actions.push({ type: 'state-update', item: { ...st!, reason }, summary: `${name} is now on the device by ${reason}` });
        break;
      case 'device-create':
        actions.push({
          type: 'device-create',
          kind,
          crmId: id,
          collection: collectionOf(kind, rec!),
          name: stableUid(kind, id),
          data: render(kind, rec!, null, snap, opts),
          item: itemBase(kind, rec!, s, reason, crmFieldHashes(kind, rec!, opts)),
          summary: `create ${name} on the device${reason === 'linked' ? ' (linked to an appointment, R5)' : ''}`,
        });
        break;
      case 'device-update': {
        const data = render(kind, rec!, dev!.raw, snap, opts);
        const base = itemBase(kind, rec!, s, reason, crmFieldHashes(kind, rec!, opts));
        if (data === dev!.raw) actions.push({ type: 'state-update', item: { ...base, href: st!.href, etag: dev!.etag, contentHash: contentHash(dev!.raw) }, summary: `note new CRM version of ${name} (device already right)` });
        else actions.push({ type: 'device-update', kind, crmId: id, ref: { href: st!.href, etag: dev!.etag }, data, item: base, summary: `update ${name} on the device` });
        break;
      }
      case 'device-delete': {
        const ref = st ? { href: st.href, etag: dev?.etag ?? st.etag } : { href: dev!.href, etag: dev!.etag };
        const why = !st
          ? 'left over, not in scope'
          : facts.crm === 'deleted'
            ? `deleted in the CRM, ${d.rule}`
            : d.rule === 'R5'
              ? 'no appointment links it any more, R5'
              : "no longer in this user's scope";
        actions.push({ type: 'device-delete', kind, crmId: id, ref, summary: `delete ${name} on the device (${why})` });
        break;
      }
      case 'crm-untag':
        actions.push({ type: 'crm-untag', kind, crmId: id, tag: s.userTag, summary: `remove tag ${s.userTag} from ${name} (deleted on the device)` });
        break;
      case 'state-forget':
        actions.push({ type: 'state-forget', kind, crmId: id, summary: `forget ${name}: gone on both sides` });
        break;
      case 'merge':
        planMerge(ctx, kind, rec!, st!.fieldHashes, dev!, reason, name);
        break;
      case 'adopt':
        // The base is what a create cut short by a crash wrote; without one (state store lost)
        // differences are conflicts.
        planMerge(ctx, kind, rec!, snap.state.pendingCreates?.get(recordKey({ kind, crmId: id })) ?? null, dev!, reason, name);
        break;
      case 'attention':
        unreadable(dev!); // D30: the last agreed state stays the merge base for when it is readable again
        break;
      case 'crm-unread':
        actions.push({ type: 'item-error', key: dev!.href, side: 'crm', message: `CRM ${kind} ${id} could not be read`, summary: `skip ${name}: CRM record not read` });
        break;
      case 'device-unfetched':
        actions.push({ type: 'item-error', key: st!.href, side: 'device', message: 'device item was not fetched', summary: `skip ${name}` });
        break;
      default:
        return unreachableKind(d.kind);
    }
    armFrom(actions, before, d.arm);
  };

  const recordIds = (kind: RecordKind, crm: Map<string, unknown>, extra: Iterable<string> = []) => {
    const ids = new Set<string>(extra);
    for (const i of snap.state.items) if (i.kind === kind) ids.add(i.crmId);
    for (const id of crm.keys()) ids.add(id);
    for (const k of [...device.adoptable.keys(), ...snap.deleted]) {
      const ref = parseRecordKey(k);
      if (ref.kind === kind) ids.add(ref.crmId);
    }
    return [...ids].sort();
  };

  // Activities first: the appointments that stay on the device decide which addresses R5 keeps there.
  const linkedIds = new Set<string>();
  for (const id of recordIds('activity', snap.activities)) {
    const v = factsOf('activity', id, false, snap, stateByKey, device);
    const d = decide(v.facts);
    act(v, d);
    if (!d.onDevice) continue;
    const rec = v.rec as Activity | undefined;
    const isAppointment = rec ? rec.kind === 'appointment' : v.state?.collection === 'appointments';
    if (isAppointment) for (const a of rec ? rec.addresses : (v.state?.links ?? [])) linkedIds.add(a); // R5
  }
  for (const id of recordIds('address', snap.addresses, linkedIds)) {
    const v = factsOf('address', id, linkedIds.has(id), snap, stateByKey, device);
    act(v, decide(v.facts));
  }

  // Items created on the device (R13, R19); what the CRM would refuse stays on the device (D32).
  for (const e of newEntries) {
    const before = actions.length;
    planDeviceCreated(e, s, actions);
    const a = actions[before];
    if (a?.type === 'crm-create' && refused(e, a.kind, a.input)) {
      actions.splice(before, 1);
      armFrom(actions, before, 'device-new/refused-by-crm → attention (D32)');
    }
  }

  return { user: s.userId, actions, blocked: flags.forceDelete ? [] : deleteGuard(snap, actions), conflicts };
}

interface PlanContext {
  snap: MailboxSnapshot;
  opts: MapperOptions;
  actions: Action[];
  conflicts: MailboxPlan['conflicts'];
  refused: (e: DeviceEntry, kind: RecordKind, record: object) => boolean;
}

/** R20 (R23 without agreement): both sides of one record merged per field into one action. */
function planMerge(
  p: PlanContext,
  kind: RecordKind,
  rec: Address | Activity,
  base: Record<string, string> | null,
  dev: DeviceEntry,
  reason: ItemState['reason'],
  name: string,
): void {
  const { snap, opts, actions } = p;
  const s = snap.settings;
  const crmHashes = crmFieldHashes(kind, rec, opts);
  let devFields: AddressFields | ActivityFields;
  if (kind === 'address') devFields = dev.contact!.fields;
  else {
    const f: ActivityFields = { ...dev.activity!.fields };
    // R15: the device shows "type: subject"; only the subject travels back.
    f.subject = stripSubjectPrefix(f.subject, (rec as Activity).type, opts.subjectFormat);
    // Appointments cannot express "done" on the device; it only changes by R18.
    if ((rec as Activity).kind === 'appointment') f.done = (rec as Activity).done;
    devFields = f;
  }
  const devHashes = kind === 'address' ? addressFieldHashes(devFields as AddressFields, opts.hashKey) : activityFieldHashes(devFields as ActivityFields, opts.hashKey);
  const crmNewer = dev.lastModified ? Date.parse(rec.updatedAt) >= Date.parse(dev.lastModified) : true;
  const m = mergeFields(base, crmHashes, devHashes, s.conflict, crmNewer);
  if (m.conflicts.length) p.conflicts.push({ key: recordKey({ kind, crmId: rec.id }), fields: m.conflicts });
  const patch =
    kind === 'address'
      ? applyAddressMerge(rec as Address, dev.contact!, m.fromDevice, opts.phoneSlots.length)
      : applyActivityMerge(rec as Activity, devFields as ActivityFields, m.fromDevice, snap.now);
  const merged = { ...rec, ...patch } as Address | Activity;
  if (Object.keys(patch).length && p.refused(dev, kind, merged)) return;
  const data = render(kind, merged, dev.raw, snap, opts);
  const item = itemBase(kind, merged, s, reason, crmFieldHashes(kind, merged, opts));
  const conflictNote = m.conflicts.length ? `; conflict on ${m.conflicts.join(', ')} decided ${s.conflict}` : '';
  if (Object.keys(patch).length) {
    actions.push({
      type: 'crm-update',
      kind,
      crmId: rec.id,
      patch,
      expectedVersion: rec.version,
      ref: { href: dev.href, etag: dev.etag },
      data: data === dev.raw ? null : data,
      deviceHash: data === dev.raw ? contentHash(dev.raw) : null,
      item,
      conflicts: m.conflicts,
      summary: `update ${name} in the CRM from the device (${Object.keys(patch).join(', ')})${conflictNote}`,
    });
  } else if (data !== dev.raw) {
    actions.push({ type: 'device-update', kind, crmId: rec.id, ref: { href: dev.href, etag: dev.etag }, data, item, summary: `update ${name} on the device${conflictNote}` });
  } else {
    // The content hash of what the device holds now: where ETags are counters (SOGo) a full
    // comparison compares content, and an empty hash would count the item changed every time.
    actions.push({ type: 'state-update', item: { ...item, href: dev.href, etag: dev.etag, contentHash: contentHash(dev.raw) }, summary: `note device change of ${name} (nothing the CRM owns)` });
  }
}

/** Marks the actions from `from` on with the arm that produced them (kept where one is set). */
function armFrom(actions: Action[], from: number, arm: string): void {
  for (let i = from; i < actions.length; i++) actions[i]!.arm ??= arm;
}

function unreachableKind(x: never): never {
  throw new Error(`plan: no action for decision ${JSON.stringify(x)}`);
}

function planDeviceCreated(e: DeviceEntry, s: SyncSettings, actions: Action[]): void {
  const ref = { href: e.href, etag: e.etag };
  if (e.collection === 'contacts' && e.contact) {
    const c = e.contact;
    if (c.isPrivate && !s.syncPrivate) {
      actions.push({ type: 'foreign', item: { user: s.userId, collection: e.collection, href: e.href, etag: e.etag, reason: 'private contact, syncPrivate off (R13)' }, summary: `keep private device contact ${e.href} on the device only (R13)`, arm: 'device-new/private-contact → foreign (R13)' });
      return;
    }
    const input: NewAddress = { ...c.fields, private: c.isPrivate, owner: s.userId, tags: [s.userTag] };
    const name = [c.fields.firstName, c.fields.lastName].filter(Boolean).join(' ') || c.fields.company;
    actions.push({ type: 'crm-create', kind: 'address', collection: e.collection, ref, raw: e.raw, input, summary: `create CRM address "${name}" from the device (R13)`, arm: 'device-new/contact → crm-create (R13)' });
    return;
  }
  const a = e.activity;
  if (!a) return;
  if (a.recurring) {
    actions.push({ type: 'foreign', item: { user: s.userId, collection: e.collection, href: e.href, etag: e.etag, reason: 'recurring series are not imported' }, summary: `keep recurring device event ${e.href} on the device only`, arm: 'device-new/recurring → foreign (D4)' });
    return;
  }
  if (a.isPrivate && !s.syncPrivate) {
    actions.push({ type: 'foreign', item: { user: s.userId, collection: e.collection, href: e.href, etag: e.etag, reason: 'private, syncPrivate off (R19)' }, summary: `keep private device ${a.kind} ${e.href} on the device only (R19)`, arm: 'device-new/private-activity → foreign (R19)' });
    return;
  }
  const input: NewActivity = {
    ...a.fields,
    kind: a.kind,
    type: a.kind === 'task' ? s.importTaskType : s.importAppointmentType,
    private: a.isPrivate,
    owner: s.userId,
    participants: [s.userId],
    addresses: [],
    tags: [s.userTag],
  };
  actions.push({ type: 'crm-create', kind: 'activity', collection: e.collection, ref, raw: e.raw, input, summary: `create CRM ${a.kind} "${a.fields.subject}" from the device (R19)`, arm: 'device-new/activity → crm-create (R19)' });
}

/** R21: more than maxDeletePercent of a collection with ≥ 10 items, on either side. */
function deleteGuard(snap: MailboxSnapshot, actions: Action[]): DeleteGuardHit[] {
  const s = snap.settings;
  const totals = new Map<string, number>();
  for (const i of snap.state.items) totals.set(i.collection, (totals.get(i.collection) ?? 0) + 1);
  const byCollection = new Map<string, number>();
  const crmByKind = new Map<string, number>();
  const collectionOfKey = new Map(snap.state.items.map((i) => [recordKey(i), i.collection]));
  for (const a of actions) {
    if (a.type === 'device-delete') {
      const c = collectionOfKey.get(recordKey({ kind: a.kind, crmId: a.crmId })) ?? (a.kind === 'address' ? 'contacts' : 'appointments');
      byCollection.set(c, (byCollection.get(c) ?? 0) + 1);
    } else if (a.type === 'crm-untag') {
      const c = collectionOfKey.get(recordKey({ kind: a.kind, crmId: a.crmId })) ?? 'contacts';
      crmByKind.set(c, (crmByKind.get(c) ?? 0) + 1);
    }
  }
  const hits: DeleteGuardHit[] = [];
  const check = (side: 'device' | 'crm', counts: Map<string, number>) => {
    for (const [collection, deletes] of counts) {
      const total = totals.get(collection) ?? 0;
      if (total >= 10 && deletes > (total * s.maxDeletePercent) / 100) hits.push({ side, collection, deletes, total });
    }
  };
  check('device', byCollection);
  check('crm', crmByKind);
  return hits;
}

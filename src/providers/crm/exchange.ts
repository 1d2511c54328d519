// The CRM exchange file (docs/exchange-format.md): its zod schema, validation with
// messages that name record and field, the one-transaction import and the export.
import * as z from 'zod';
import { closestKey, didYouMean } from '../../config/did-you-mean.js';
import { InputError } from '../../errors.js';
import type { CrmStore, Extra, StoredActivity, StoredAddress } from './store.js';
import { userToRow } from './store.js';
import type { SqlCrmProvider } from './sql-provider.js';

const required = (what = 'required') => ({ error: (iss: { input?: unknown }) => (iss.input === undefined ? 'required' : what) });
const text = z.string(required('must be a string')).default('');
const id = z.string(required('must be a string')).min(1, 'required');
const tagList = z.array(z.string().min(1, 'a tag cannot be empty'), required('must be a list of strings')).default([]);
const idList = z.array(z.string().min(1, 'an id cannot be empty'), required('must be a list of ids')).default([]);
const isoDateTime = z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time with offset, e.g. 2026-11-25T10:00:00+01:00' });
const isoDate = z.iso.date({ error: 'must be a date YYYY-MM-DD' });
const dateOrDateTime = z.union([isoDate, isoDateTime], { error: 'must be a date YYYY-MM-DD or an ISO 8601 date-time with offset' });
const timeZone = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'must be an IANA time zone such as Europe/Berlin');

export const exchangeUserSchema = z.looseObject({
  id,
  login: z.string(required('must be a string')).min(1, 'required'),
  name: z.string(required('must be a string')).min(1, 'required'),
  email: z.string().nullable().optional(),
  userTag: z.string(required('must be a string')).min(1, 'required').refine((t) => !t.includes(','), 'must not contain a comma'),
  addressTags: tagList.refine((l) => l.every((t) => !t.includes(',')), 'user tags must not contain a comma'),
  activityTags: tagList.refine((l) => l.every((t) => !t.includes(',')), 'user tags must not contain a comma'),
  importAppointmentType: z.string().min(1).default('Termin'),
  importTaskType: z.string().min(1).default('Aufgabe'),
});

// A position without a number is `"number": ""` (its remark may still be set): positions are
// what R12 keeps, so the empty ones before a number are part of the record (D31).
export const exchangePhoneSchema = z.looseObject({
  number: z.string(required('must be a string')).trim(),
  remark: text,
});

const updatedAt = isoDateTime.optional();

export const exchangeAddressSchema = z.looseObject({
  id,
  company: text, salutation: text, title: text, firstName: text, lastName: text, street: text,
  postalCode: text, city: text, country: text, fax: text, email: text, note: text,
  phones: z.array(exchangePhoneSchema, required('must be a list')).default([]),
  private: z.boolean().default(false),
  owner: z.string().min(1).nullable().default(null),
  tags: tagList,
  updatedAt,
  deleted: z.literal(false).optional(),
});

export const exchangeActivitySchema = z
  .looseObject({
    id,
    kind: z.enum(['appointment', 'task'], required('must be "appointment" or "task"')),
    type: z.string(required('must be a string')).min(1, 'required'),
    subject: text,
    start: dateOrDateTime.nullable().default(null),
    end: dateOrDateTime.nullable().default(null),
    allDay: z.boolean().default(false),
    timeZone: timeZone.nullable().default(null),
    due: dateOrDateTime.nullable().default(null),
    alarmMinutes: z.number().int('must be a whole number of minutes').nullable().default(null),
    note: text,
    done: z.boolean().default(false),
    private: z.boolean().default(false),
    owner: z.string().min(1).nullable().default(null),
    participants: idList,
    addresses: idList,
    tags: tagList,
    updatedAt,
    deleted: z.literal(false).optional(),
  })
  .superRefine((a, ctx) => {
    if (a.kind !== 'appointment') return;
    for (const key of ['start', 'end'] as const) {
      const v = a[key];
      if (v === null) ctx.addIssue({ code: 'custom', path: [key], message: 'required for an appointment' });
      else if (a.allDay && !/^\d{4}-\d{2}-\d{2}$/.test(v)) ctx.addIssue({ code: 'custom', path: [key], message: 'must be a date YYYY-MM-DD for an all-day appointment' });
      else if (!a.allDay && /^\d{4}-\d{2}-\d{2}$/.test(v)) ctx.addIssue({ code: 'custom', path: [key], message: 'must be a date-time for a timed appointment (or set allDay: true)' });
    }
    if (a.start && a.end && a.start.length === a.end.length && a.allDay && a.end <= a.start) {
      ctx.addIssue({ code: 'custom', path: ['end'], message: 'must be after start (all-day end is exclusive)' });
    } else if (a.start && a.end && !a.allDay && Date.parse(a.end) < Date.parse(a.start)) {
      ctx.addIssue({ code: 'custom', path: ['end'], message: 'must not be before start' });
    }
  });

const deletedSchema = z.looseObject({ id, deleted: z.literal(true), updatedAt });

export type ExchangeUser = z.output<typeof exchangeUserSchema>;
export type ExchangeAddress = z.output<typeof exchangeAddressSchema>;
export type ExchangeActivity = z.output<typeof exchangeActivitySchema>;
export interface ExchangeDeleted { id: string; deleted: true; updatedAt?: string }

export interface ExchangeFile {
  users: ExchangeUser[];
  addresses: (ExchangeAddress | ExchangeDeleted)[];
  activities: (ExchangeActivity | ExchangeDeleted)[];
}

/** The exchange file as written by `crm export` (and accepted by `crm import`). */
export interface ExchangeDocument {
  users: Record<string, unknown>[];
  addresses: Record<string, unknown>[];
  activities: Record<string, unknown>[];
}

const USER_KEYS = new Set(['id', 'login', 'name', 'email', 'userTag', 'addressTags', 'activityTags', 'importAppointmentType', 'importTaskType']);
const ADDRESS_KEYS = new Set([
  'id', 'company', 'salutation', 'title', 'firstName', 'lastName', 'street', 'postalCode', 'city', 'country', 'fax', 'email',
  'note', 'phones', 'private', 'owner', 'tags', 'updatedAt', 'deleted', 'version',
]);
const ACTIVITY_KEYS = new Set([
  'id', 'kind', 'type', 'subject', 'start', 'end', 'allDay', 'timeZone', 'due', 'alarmMinutes', 'note', 'done', 'private',
  'owner', 'participants', 'addresses', 'tags', 'updatedAt', 'deleted', 'version',
]);

const TOP_LEVEL_KEYS = ['users', 'addresses', 'activities'];
const RECORD_KEYS: Record<'users' | 'addresses' | 'activities', Set<string>> = { users: USER_KEYS, addresses: ADDRESS_KEYS, activities: ACTIVITY_KEYS };

function extraOf(record: Record<string, unknown>, known: Set<string>): Extra | null {
  const extra: Extra = {};
  for (const [k, v] of Object.entries(record)) if (!known.has(k)) extra[k] = v;
  return Object.keys(extra).length ? extra : null;
}

function formatPath(path: PropertyKey[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
}

/** Position of each validated record in the file, so messages name it even when others were invalid. */
const sourceIndex = new WeakMap<object, number>();
const at = (record: object, fallback: number) => sourceIndex.get(record) ?? fallback;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Validates a parsed exchange document. Every problem is listed as
 * `addresses[3] (id a17).phones[1].number: required` (indexes count from 0).
 */
export function validateExchange(raw: unknown): { file: ExchangeFile; problems: string[] } {
  const problems: string[] = [];
  const file: ExchangeFile = { users: [], addresses: [], activities: [] };
  if (!isRecord(raw)) return { file, problems: ['(top level): must be a JSON object with users, addresses and activities'] };
  // An unknown top-level key would import nothing of it and exit 0 ("adresses"): refused.
  for (const key of Object.keys(raw)) {
    if (!TOP_LEVEL_KEYS.includes(key)) problems.push(`${key}: unknown top-level key${didYouMean(key, TOP_LEVEL_KEYS)}; an exchange file has ${TOP_LEVEL_KEYS.join(', ')}`);
  }
  const sections = [
    ['users', exchangeUserSchema, false],
    ['addresses', exchangeAddressSchema, true],
    ['activities', exchangeActivitySchema, true],
  ] as const;
  for (const [name, schema, deletable] of sections) {
    const list = raw[name];
    if (list === undefined) continue;
    if (!Array.isArray(list)) {
      problems.push(`${name}: must be a list`);
      continue;
    }
    const seen = new Map<string, number>();
    list.forEach((item: unknown, i) => {
      const rid = isRecord(item) && typeof item.id === 'string' ? item.id : undefined;
      const where = `${name}[${i}]${rid ? ` (id ${rid})` : ''}`;
      // Other keys are kept with the record, but one that looks like a misspelt known key
      // (`fristName`) would silently lose that field: refused with the key that was meant.
      if (isRecord(item)) {
        const known = RECORD_KEYS[name];
        for (const key of Object.keys(item)) {
          if (known.has(key)) continue;
          const meant = closestKey(key, [...known]);
          if (meant) problems.push(`${where}.${key}: unknown key (did you mean "${meant}"?)`);
        }
      }
      const result = deletable && isRecord(item) && item.deleted === true ? deletedSchema.safeParse(item) : schema.safeParse(item);
      if (!result.success) {
        for (const issue of result.error.issues) problems.push(`${where}${formatPath(issue.path)}: ${issue.message}`);
        return;
      }
      if (rid !== undefined) {
        const first = seen.get(rid);
        if (first !== undefined) problems.push(`${where}.id: duplicate of ${name}[${first}]`);
        else seen.set(rid, i);
      }
      sourceIndex.set(result.data, i);
      (file[name] as unknown[]).push(result.data);
    });
  }
  return { file, problems };
}

/**
 * The CRM's own rules for one record the engine is about to write (D32): the same schema
 * `crm import` applies, so whatever the sync writes can be exported and imported again.
 * Returns `field: message` lines, empty when the record is fine.
 */
export function crmRecordProblems(kind: 'address' | 'activity', record: Record<string, unknown>): string[] {
  const schema = kind === 'address' ? exchangeAddressSchema : exchangeActivitySchema;
  const r = schema.safeParse({ id: 'new', ...record, updatedAt: undefined, version: undefined });
  return r.success ? [] : r.error.issues.map((i) => `${i.path.map(String).join('.') || '(record)'}: ${i.message}`);
}

/** Parses the text of an exchange file; InputError names the source and every problem. */
export function parseExchangeText(textIn: string, source: string): ExchangeFile {
  const { file, problems } = parseExchangeTextLenient(textIn, source);
  if (problems.length) throw importProblems(source, problems);
  return file;
}

/** Like parseExchangeText, but returns the valid records with the shape problems (malformed JSON still throws). */
export function parseExchangeTextLenient(textIn: string, source: string): { file: ExchangeFile; problems: string[] } {
  let raw: unknown;
  try {
    raw = JSON.parse(textIn);
  } catch (err) {
    throw new InputError(`${source} is not valid JSON: ${(err as Error).message}`, 'Fix the JSON syntax; the format is described in docs/exchange-format.md.');
  }
  return validateExchange(raw);
}

function importProblems(source: string, problems: string[]): InputError {
  const shown = problems.slice(0, 25);
  const more = problems.length > shown.length ? `\n  … and ${problems.length - shown.length} more` : '';
  return new InputError(
    `${source}: ${problems.length} problem${problems.length === 1 ? '' : 's'}, nothing was imported:\n  ${shown.join('\n  ')}${more}`,
    'Fix the listed records and fields and import again (the format is described in docs/exchange-format.md).',
  );
}

export interface ImportCounts { created: number; updated: number; deleted: number; unchanged: number }
export interface ImportSummary { users: ImportCounts; addresses: ImportCounts; activities: ImportCounts }

const counts = (): ImportCounts => ({ created: 0, updated: 0, deleted: 0, unchanged: 0 });

function isDeleted(r: ExchangeAddress | ExchangeActivity | ExchangeDeleted): r is ExchangeDeleted {
  return r.deleted === true;
}

function addressContent(a: Omit<StoredAddress, 'id' | 'version' | 'updatedAt'>, withExtra: boolean): string {
  return JSON.stringify([
    a.company, a.salutation, a.title, a.firstName, a.lastName, a.street, a.postalCode, a.city, a.country, a.fax, a.email,
    a.note, a.phones.map((p) => [p.number, p.remark]), a.private, a.owner, [...new Set(a.tags)].sort(), withExtra ? a.extra ?? {} : null,
  ]);
}

function activityContent(a: Omit<StoredActivity, 'id' | 'version' | 'updatedAt'>, withExtra: boolean): string {
  return JSON.stringify([
    a.kind, a.type, a.subject, a.start, a.end, a.allDay, a.timeZone, a.due, a.alarmMinutes, a.note, a.done, a.private, a.owner,
    [...new Set(a.participants)].sort(), [...new Set(a.addresses)].sort(), [...new Set(a.tags)].sort(), withExtra ? a.extra ?? {} : null,
  ]);
}

function toAddressData(r: ExchangeAddress) {
  return {
    company: r.company, salutation: r.salutation, title: r.title, firstName: r.firstName, lastName: r.lastName,
    street: r.street, postalCode: r.postalCode, city: r.city, country: r.country, fax: r.fax, email: r.email, note: r.note,
    phones: r.phones.map((p) => ({ number: p.number, remark: p.remark })),
    private: r.private, owner: r.owner, tags: [...new Set(r.tags)], extra: extraOf(r, ADDRESS_KEYS),
  };
}

function toActivityData(r: ExchangeActivity) {
  return {
    kind: r.kind, type: r.type, subject: r.subject, start: r.start, end: r.end, allDay: r.allDay, timeZone: r.timeZone,
    due: r.due, alarmMinutes: r.alarmMinutes, note: r.note, done: r.done, private: r.private, owner: r.owner,
    participants: [...new Set(r.participants)], addresses: [...new Set(r.addresses)], tags: [...new Set(r.tags)],
    extra: extraOf(r, ACTIVITY_KEYS),
  };
}

/** Checks references against the file and the CRM: owners and participants are users, links are addresses. */
async function crossCheck(store: CrmStore, file: ExchangeFile): Promise<string[]> {
  const problems: string[] = [];
  const dbUsers = await store.listUsers();
  const fileUserIds = new Set(file.users.map((u) => u.id));
  const userIds = new Set([...dbUsers.map((u) => u.id), ...fileUserIds]);
  const byLogin = new Map<string, string>();
  const byTag = new Map<string, string>();
  for (const u of dbUsers) if (!fileUserIds.has(u.id)) {
    byLogin.set(u.login, u.id);
    byTag.set(u.userTag, u.id);
  }
  file.users.forEach((u, i) => {
    const where = `users[${at(u, i)}] (id ${u.id})`;
    const loginOwner = byLogin.get(u.login);
    if (loginOwner !== undefined && loginOwner !== u.id) problems.push(`${where}.login: "${u.login}" is already the login of user ${loginOwner}`);
    else byLogin.set(u.login, u.id);
    const tagOwner = byTag.get(u.userTag);
    if (tagOwner !== undefined && tagOwner !== u.id) problems.push(`${where}.userTag: "${u.userTag}" is already the user tag of user ${tagOwner}`);
    else byTag.set(u.userTag, u.id);
  });
  const deletedAddresses = new Set(file.addresses.filter(isDeleted).map((a) => a.id));
  const fileAddresses = new Set(file.addresses.filter((a) => !isDeleted(a)).map((a) => a.id));
  const linkedIds = [...new Set(file.activities.flatMap((a) => (isDeleted(a) ? [] : a.addresses)))].filter((x) => !fileAddresses.has(x));
  const dbAddresses = new Set((await store.getAddresses(linkedIds)).map((a) => a.id));
  // A link to an address deleted in the same file (or earlier) is dropped with the deletion (D31).
  const addressKnown = (x: string) => fileAddresses.has(x) || dbAddresses.has(x) || deletedAddresses.has(x);
  file.addresses.forEach((a, i) => {
    if (isDeleted(a)) return;
    const where = `addresses[${at(a, i)}] (id ${a.id})`;
    if (a.owner !== null && !userIds.has(a.owner)) problems.push(`${where}.owner: unknown user "${a.owner}"`);
    if (a.private && a.owner === null) problems.push(`${where}.owner: required for a private address (R4)`);
  });
  file.activities.forEach((a, i) => {
    if (isDeleted(a)) return;
    const where = `activities[${at(a, i)}] (id ${a.id})`;
    if (a.owner !== null && !userIds.has(a.owner)) problems.push(`${where}.owner: unknown user "${a.owner}"`);
    if (a.private && a.owner === null) problems.push(`${where}.owner: required for a private activity (R4)`);
    a.participants.forEach((p, j) => {
      if (!userIds.has(p)) problems.push(`${where}.participants[${j}]: unknown user "${p}"`);
    });
    a.addresses.forEach((x, j) => {
      if (!addressKnown(x)) problems.push(`${where}.addresses[${j}]: unknown address "${x}"`);
    });
  });
  return problems;
}

/**
 * Upserts the file in ONE transaction, idempotent by id: a record whose content is unchanged is
 * not touched (no version or updatedAt bump); `deleted: true` deletes and leaves a tombstone.
 * Any problem → InputError, nothing written.
 */
export async function importExchange(provider: SqlCrmProvider, file: ExchangeFile, source: string, shapeProblems: string[] = []): Promise<ImportSummary> {
  const summary: ImportSummary = { users: counts(), addresses: counts(), activities: counts() };
  const withExtra = provider.hasExtra;
  await provider.transaction(async (store) => {
    // Shape problems and reference problems are reported together, so one round of fixes suffices.
    const problems = [...shapeProblems, ...(await crossCheck(store, file))];
    if (problems.length) throw importProblems(source, problems);

    const users = new Map((await store.listUsers()).map((u) => [u.id, u]));
    for (const u of file.users) {
      const data = { ...u, email: u.email ?? null, extra: withExtra ? extraOf(u, USER_KEYS) : null };
      const before = users.get(u.id);
      if (before) {
        const same = JSON.stringify(userToRow({ ...before, extra: withExtra ? before.extra : null })) === JSON.stringify(userToRow(data));
        if (same) {
          summary.users.unchanged++;
          continue;
        }
      }
      await store.upsertUser(data, Boolean(before));
      summary.users[before ? 'updated' : 'created']++;
    }

    const addresses = new Map((await store.getAddresses(file.addresses.map((a) => a.id))).map((a) => [a.id, a]));
    for (const a of file.addresses) {
      const before = addresses.get(a.id);
      if (isDeleted(a)) {
        if (before) {
          await store.deleteRecord('address', a.id);
          summary.addresses.deleted++;
        } else if (await store.recordTombstone('address', a.id)) summary.addresses.deleted++;
        else summary.addresses.unchanged++;
        continue;
      }
      const data = toAddressData(a);
      if (!before) {
        await store.insertAddress(a.id, data);
        summary.addresses.created++;
      } else if (addressContent(before, withExtra) !== addressContent(data, withExtra)) {
        await store.updateAddress(a.id, data, before, null);
        summary.addresses.updated++;
      } else summary.addresses.unchanged++;
    }

    const gone = new Set(file.addresses.filter(isDeleted).map((a) => a.id));
    const activities = new Map((await store.getActivities(file.activities.map((a) => a.id))).map((a) => [a.id, a]));
    for (const a of file.activities) {
      const before = activities.get(a.id);
      if (isDeleted(a)) {
        if (before) {
          await store.deleteRecord('activity', a.id);
          summary.activities.deleted++;
        } else if (await store.recordTombstone('activity', a.id)) summary.activities.deleted++;
        else summary.activities.unchanged++;
        continue;
      }
      const data = toActivityData(a);
      data.addresses = data.addresses.filter((x) => !gone.has(x));
      if (!before) {
        await store.insertActivity(a.id, data);
        summary.activities.created++;
      } else if (activityContent(before, withExtra) !== activityContent(data, withExtra)) {
        await store.updateActivity(a.id, data, before, null);
        summary.activities.updated++;
      } else summary.activities.unchanged++;
    }
  });
  return summary;
}

/** The whole CRM as an exchange document; tombstones appear as `{ id, deleted: true }`. */
export async function exportExchange(provider: SqlCrmProvider): Promise<ExchangeDocument> {
  const store = provider.store();
  const users = (await store.listUsers()).map(({ extra, ...u }) => ({ ...u, ...(extra ?? {}) }));
  const addresses: Record<string, unknown>[] = [];
  for (const a of await store.getAddresses(await store.allIds('sync_addresses'))) {
    const { extra, version: _v, ...rest } = a;
    addresses.push({ ...rest, deleted: false, ...(extra ?? {}) });
  }
  const activities: Record<string, unknown>[] = [];
  for (const a of await store.getActivities(await store.allIds('sync_activities'))) {
    const { extra, version: _v, ...rest } = a;
    activities.push({ ...rest, deleted: false, ...(extra ?? {}) });
  }
  for (const t of await store.allTombstones()) {
    (t.kind === 'address' ? addresses : activities).push({ id: t.id, deleted: true, updatedAt: t.deletedAt });
  }
  return { users, addresses, activities };
}


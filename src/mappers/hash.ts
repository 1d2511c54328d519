// Content and per-field hashes for change detection and three-way merges (R20) without keeping
// personal data in the state store.
import * as crypto from 'node:crypto';
import type { ActivityFields, AddressFields } from '../providers/crm/model.js';
import { type ComponentNode, type ContentLine, isComponent, parseItem, stripControl } from './content-lines.js';

/**
 * Properties that servers and clients rewrite without a change the user made. They do not take
 * part in the content hash, so such a rewrite does not count as a device change.
 */
const IGNORED = new Set([
  'PRODID', // every writer stamps its own (iOS, DAVx5/ez-vcard, Thunderbird, SabreDAV/Nextcloud on import)
  'REV', // vCard: iOS and Nextcloud Contacts bump it on every save, DAVx5 on every upload
  'DTSTAMP', // iCalendar: "time the object was serialized" (RFC 5545 §3.8.7.2) — Thunderbird, Google and SabreDAV rewrite it on every write
  'LAST-MODIFIED', // set by Thunderbird, iOS and Nextcloud on any save, also when nothing changed
  'SEQUENCE', // Thunderbird and iOS increment it on save; Google on every server-side touch
  'X-MOZ-GENERATION', // Thunderbird: write counter
  'X-MOZ-LASTACK', // Thunderbird: when an alarm was last dismissed
  'ACKNOWLEDGED', // VALARM (RFC 9074): iOS and Thunderbird set it when the user dismisses the alarm
]);

// Parameters whose values are case-insensitive (RFC 6350 §5, RFC 5545 §3.2).
const CASELESS_PARAMS = new Set(['TYPE', 'VALUE', 'ENCODING', 'RELATED', 'CHARSET', 'ROLE', 'PARTSTAT', 'CUTYPE', 'RSVP', 'FBTYPE', 'RANGE', 'RELTYPE']);

function canonicalParam(name: string, values: string[]): string {
  if (!CASELESS_PARAMS.has(name)) return `${name}=${values.join(',')}`;
  if (values.length === 1 && values[0]!.indexOf(',') < 0) return `${name}=${values[0]!.trim().toLowerCase()}`;
  const all: string[] = [];
  for (const v of values) for (const part of v.split(',')) all.push(part.trim().toLowerCase());
  return `${name}=${all.sort().join(',')}`;
}

function canonicalLine(l: ContentLine): string {
  let s = l.group ? `${l.group.toLowerCase()}.${l.name}` : l.name;
  if (l.params.length === 1) s += `;${canonicalParam(l.params[0]!.name, l.params[0]!.values)}`;
  else if (l.params.length > 1) {
    const params = l.params.map((p) => canonicalParam(p.name, p.values)).sort();
    for (const p of params) s += `;${p}`;
  }
  return `${s}:${l.value}`;
}

function canonicalComponent(node: ComponentNode): string {
  const lines: ContentLine[] = [];
  const comps: string[] = [];
  for (const c of node.children) {
    if (isComponent(c)) comps.push(canonicalComponent(c));
    else if (!IGNORED.has(c.name)) lines.push(c);
  }
  // Property order carries no meaning, except among properties of the same name (the n-th TEL of
  // a type fills the n-th slot, R12): a stable sort by name keeps that order.
  lines.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // Component order (VTIMEZONE before or after VEVENT, order of VALARMs) carries no meaning.
  comps.sort();
  return `BEGIN:${node.name}\n${lines.map(canonicalLine).join('\n')}\n${comps.join('')}END:${node.name}\n`;
}

/** Hash of an item that is stable under re-serialization: folding, line endings, property order where safe, ignored properties. */
export function contentHash(raw: string): string {
  let canonical: string;
  try {
    const root = parseItem(raw);
    canonical = root.children.map((c) => (isComponent(c) ? canonicalComponent(c) : '')).join('');
  } catch {
    // A malformed item still gets a hash (of its text) so that a later fix is seen as a change.
    canonical = `raw\n${raw.replace(/\r\n?/g, '\n')}`;
  }
  return sha256Hex(canonical);
}

/** Text as both sides can hold it: CR LF as LF, control characters dropped (see content-lines). */
export function normalizeText(s: string): string {
  const t = stripControl(s);
  return t.indexOf('\r') >= 0 ? t.replace(/\r\n?/g, '\n') : t;
}

// One-shot crypto.hash (Node ≥ 20.12) is cheaper than a Hash object per value.
const oneShot = (crypto as { hash?: (alg: string, data: string, enc: 'hex') => string }).hash;
function sha256Hex(v: string): string {
  return oneShot ? oneShot('sha256', v, 'hex') : crypto.createHash('sha256').update(v).digest('hex');
}
const EMPTY_HASH = sha256Hex('').slice(0, 32);

// Short field values repeat across records (empty phone slots, "false", a country, a
// salutation): their hashes are kept, per key and bounded, instead of one HMAC each (D77).
const MEMO_MAX = 4096;
const MEMO_VALUE_MAX = 40;
const memos = new Map<string, Map<string, string>>();

function hasher(key?: string): (v: string) => string {
  // Without a key, short field values (a phone number) could be recovered by trying them all;
  // the engine passes a per-installation secret when it has one.
  const hash = key ? (v: string) => crypto.createHmac('sha256', key).update(v).digest('hex').slice(0, 32) : (v: string) => (v === '' ? EMPTY_HASH : sha256Hex(v).slice(0, 32));
  let memo = memos.get(key ?? '');
  if (!memo) memos.set(key ?? '', (memo = new Map()));
  const known = memo;
  return (v) => {
    if (v.length > MEMO_VALUE_MAX) return hash(v);
    let h = known.get(v);
    if (h === undefined) {
      if (known.size >= MEMO_MAX) known.clear();
      known.set(v, (h = hash(v)));
    }
    return h;
  };
}

export const ADDRESS_HASH_KEYS = [
  'company',
  'salutation',
  'title',
  'firstName',
  'lastName',
  'street',
  'postalCode',
  'city',
  'country',
  'fax',
  'email',
  'note',
] as const;

/** Keys: company … note, phone1..phone8 (number only; remarks never leave the CRM, R12). */
export function addressFieldHashes(fields: AddressFields, key?: string): Record<string, string> {
  const h = hasher(key);
  const out: Record<string, string> = {};
  for (const k of ADDRESS_HASH_KEYS) {
    const v = normalizeText(fields[k] ?? '');
    out[k] = h(k === 'fax' || k === 'email' ? v.trim() : v);
  }
  for (let i = 0; i < 8; i++) out[`phone${i + 1}`] = h(normalizeText(fields.phones[i]?.number ?? '').trim());
  return out;
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

/** Dates as dates, date-times as instants: a zone change that keeps the instant is no change. */
function timeKey(v: string | null, asDate: boolean): string {
  if (v === null || v === '') return '';
  if (asDate || DATE_ONLY.test(v)) return `d:${v.slice(0, 10)}`;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? `raw:${v}` : `t:${ms}`;
}

/**
 * Keys: subject, start, end, allDay, due, alarmMinutes, note, done. For a done activity the alarm
 * hashes as a constant: the device carries no alarm then (R17), which is not a device change.
 * An alarm without start and due cannot exist on the device and hashes as "no alarm".
 */
export function activityFieldHashes(fields: ActivityFields, key?: string): Record<string, string> {
  const h = hasher(key);
  // All-day as the device can show it: a date-only start or due makes the item all-day there.
  // Without start and due there is nothing to be all-day (a task without dates).
  const allDay =
    (fields.start !== null || fields.due !== null) &&
    (fields.allDay || (fields.start !== null && DATE_ONLY.test(fields.start)) || (fields.due !== null && DATE_ONLY.test(fields.due)));
  const alarm = fields.done ? '#done' : fields.start === null && fields.due === null ? '' : fields.alarmMinutes === null ? '' : String(fields.alarmMinutes);
  return {
    subject: h(normalizeText(fields.subject)),
    start: h(timeKey(fields.start, allDay)),
    end: h(timeKey(fields.end, allDay)),
    allDay: h(String(allDay)),
    due: h(timeKey(fields.due, allDay)),
    alarmMinutes: h(alarm),
    note: h(normalizeText(fields.note)),
    done: h(String(fields.done)),
  };
}

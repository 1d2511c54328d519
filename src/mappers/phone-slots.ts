// R12 phone slots: the table (config/phone-slots.json) and the classification of device TEL lines.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as z from 'zod';
import { ConfigError } from '../errors.js';
import { type ContentLine, typesOf, unescapeText } from './content-lines.js';

export interface PhoneSlot {
  /** Label shown in docs and messages, e.g. "work 2". */
  name: string;
  /** TYPE values written for a number in this slot (vCard 3.0 and 4.0 alike). */
  types: string[];
  /** TYPE sets recognized on read (lower case, generic types removed); defaults to `types`. */
  match: string[][];
  /** Apple `itemN.X-ABLabel` texts that mean this slot (compared case-insensitively). */
  labels: string[];
  /**
   * Written as `itemN.X-ABLabel` next to a new number of this slot, so that a second number of
   * the same TYPE ("work 2") is told apart by its label and not only by its order.
   */
  writeLabel?: string;
}

const slotSchema = z.object({
  name: z.string().min(1),
  types: z.array(z.string().min(1)).min(1),
  match: z.array(z.array(z.string())).optional(),
  labels: z.array(z.string()).optional(),
  writeLabel: z.string().min(1).optional(),
});
const tableSchema = z.object({ slots: z.array(slotSchema).min(1).max(8) });

export const DEFAULT_PHONE_SLOTS_PATH = fileURLToPath(new URL('../../config/phone-slots.json', import.meta.url));

/** Loads the slot table; a bad file is a ConfigError naming the file and the fields. */
export function loadPhoneSlots(path: string = DEFAULT_PHONE_SLOTS_PATH): PhoneSlot[] {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ConfigError(`Cannot read the phone-slot table ${path}: ${(e as Error).message}`, [], 'Point mappers.phoneSlots at a JSON file shaped like config/phone-slots.json.');
  }
  const parsed = tableSchema.safeParse(json);
  if (!parsed.success) {
    throw new ConfigError(
      `The phone-slot table ${path} is invalid`,
      parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
      'Each slot needs a name and at least one vCard TYPE; at most 8 slots (R12).',
    );
  }
  return parsed.data.slots.map((s) => ({
    name: s.name,
    types: s.types.map((t) => t.toLowerCase()),
    match: (s.match ?? [s.types]).map((m) => m.map((t) => t.toLowerCase())),
    labels: [...(s.labels ?? []), ...(s.writeLabel ? [s.writeLabel] : [])],
    writeLabel: s.writeLabel,
  }));
}

// Types that say how a number can be used, not which number it is; clients add or drop them
// freely (DAVx5 drops VOICE, iOS adds IPHONE/PREF), so they do not take part in recognition.
const GENERIC_TYPES = new Set(['voice', 'pref', 'iphone', 'text', 'msg', 'video', 'internet']);

export function typeKey(types: Iterable<string>): string {
  const set = new Set<string>();
  for (const t of types) if (!GENERIC_TYPES.has(t)) set.add(t);
  return [...set].sort().join(',');
}

/** Apple label `_$!<Mobile>!$_` → "mobile"; a custom label is returned as written (trimmed). */
function appleLabelType(label: string): string {
  const m = /^_\$!<(.+)>!\$_$/.exec(label.trim());
  return (m ? m[1]! : label.trim()).toLowerCase();
}

export interface TelLineInfo {
  index: number;
  line: ContentLine;
  /** Lower-cased TYPE values plus the type an Apple label stands for. */
  types: string[];
  isFax: boolean;
  /** Slot named by the line's Apple label, if any. */
  labelSlot: number;
}

/** TEL lines of a card with their effective types (Apple itemN.X-ABLabel of the same group included). */
export function telLines(lines: ContentLine[], slots: PhoneSlot[]): TelLineInfo[] {
  const labels = new Map<string, string>();
  for (const l of lines) if (l.group && l.name === 'X-ABLABEL') labels.set(l.group.toLowerCase(), unescapeText(l.value));
  const out: TelLineInfo[] = [];
  lines.forEach((line, index) => {
    if (line.name !== 'TEL') return;
    const types = typesOf(line);
    const label = line.group ? labels.get(line.group.toLowerCase()) : undefined;
    let labelSlot = -1;
    if (label !== undefined) {
      labelSlot = slots.findIndex((s) => s.labels.some((x) => x.toLowerCase() === label.trim().toLowerCase()));
      if (labelSlot >= 0) types.push(...slots[labelSlot]!.match[0]!);
      else types.push(appleLabelType(label));
    }
    out.push({ index, line, types, isFax: types.some((t) => t.includes('fax')), labelSlot });
  });
  return out;
}

/** The TEL line that holds the CRM fax: the first fax line that is not a home fax. */
export function faxLine(tels: TelLineInfo[]): TelLineInfo | undefined {
  return tels.find((t) => t.isFax && !t.types.includes('home'));
}

// The slot table's keys, computed once per table (assignSlots runs for every card read or patched).
const slotIndexCache = new WeakMap<PhoneSlot[], { slotKeys: Set<string>[]; slotSets: string[][][] }>();
function slotIndex(slots: PhoneSlot[]): { slotKeys: Set<string>[]; slotSets: string[][][] } {
  let idx = slotIndexCache.get(slots);
  if (!idx) {
    idx = {
      slotKeys: slots.map((s) => new Set(s.match.map((m) => typeKey(m)))),
      slotSets: slots.map((s) => s.match.map((m) => typeKey(m).split(',').filter(Boolean))),
    };
    slotIndexCache.set(slots, idx);
  }
  return idx;
}

/**
 * Assigns non-fax TEL lines to slots (R12, M12), in three passes: (1) the n-th line of a TYPE
 * set fills the n-th free slot matching that set; (2) a line whose TYPE set *contains* a slot's
 * set (`TYPE=voice,home,pref,x-useless` → home) takes the first free such slot; (3) any other
 * number (assistant, main, a custom label, a second mobile) takes the first free position, as a
 * number added on the device does. Only lines that do not fit into the slots are device-only.
 */
export function assignSlots(tels: TelLineInfo[], slots: PhoneSlot[]): { bySlot: Array<TelLineInfo | undefined>; unslotted: TelLineInfo[] } {
  const bySlot: Array<TelLineInfo | undefined> = new Array(slots.length).fill(undefined);
  const { slotKeys, slotSets } = slotIndex(slots);
  const placed = new Set<TelLineInfo>();
  // A line whose label names a slot takes that slot first; the others fill by type and order.
  for (const t of tels) {
    if (!t.isFax && t.labelSlot >= 0 && bySlot[t.labelSlot] === undefined) {
      bySlot[t.labelSlot] = t;
      placed.add(t);
    }
  }
  // Each line's key once (this runs for every device card read and patched).
  const keys = new Map<TelLineInfo, string>();
  for (const t of tels) if (!t.isFax && !placed.has(t)) keys.set(t, typeKey(t.types));
  const pass = (fits: (key: string, slot: number) => boolean) => {
    for (const [t, key] of keys) {
      if (placed.has(t)) continue;
      for (let i = 0; i < slots.length; i++) {
        if (bySlot[i] === undefined && fits(key, i)) {
          bySlot[i] = t;
          placed.add(t);
          break;
        }
      }
    }
  };
  pass((key, i) => slotKeys[i]!.has(key));
  if ([...keys.keys()].some((t) => !placed.has(t))) {
    pass((key, i) => {
      const have = key.split(',');
      return slotSets[i]!.some((set) => set.length > 0 && set.every((x) => have.includes(x)));
    });
    pass(() => true);
  }
  const unslotted = tels.filter((t) => !t.isFax && !placed.has(t));
  return { bySlot, unslotted };
}

/** The number a TEL line holds: vCard 4.0 `tel:` URIs are turned back into the plain number. */
export function telNumber(line: ContentLine): string {
  const v = unescapeText(line.value).trim();
  if (/^tel:/i.test(v)) {
    let n = v.slice(4);
    try {
      n = decodeURIComponent(n);
    } catch {
      /* keep as written */
    }
    return n;
  }
  return v;
}

// Round-trip properties (fast-check): CRM → device → CRM is the identity on CRM-owned fields,
// patching keeps every property the CRM does not own, hashes survive re-serialization.
import { readFileSync, readdirSync } from 'node:fs';
import fc from 'fast-check';
import ICAL from 'ical.js';
import { describe, expect, it } from 'vitest';
import type { Activity, Address } from '../../src/providers/crm/model.js';
import {
  MappingError,
  activityFieldHashes,
  activityToICal,
  addressFieldHashes,
  addressToVCard,
  contentHash,
  iCalToActivity,
  patchICal,
  patchVCard,
  vCardToAddress,
} from '../../src/mappers/index.js';
import { address, appointment, ctx, options } from './helpers.js';

const RUNS = 300;

/** Timed DTSTART/DTEND/DUE of an item as ical.js evaluates them with the item's own VTIMEZONE. */
function seenByIcalJs(text: string): Array<[string, number]> {
  const cal = new ICAL.Component(ICAL.parse(text));
  const zones = new Map(cal.getAllSubcomponents('vtimezone').map((c) => [String(c.getFirstPropertyValue('tzid')), new ICAL.Timezone(c)]));
  const comp = cal.getFirstSubcomponent('vevent') ?? cal.getFirstSubcomponent('vtodo')!;
  const out: Array<[string, number]> = [];
  for (const prop of ['dtstart', 'dtend', 'due']) {
    const p = comp.getFirstProperty(prop);
    const t = p?.getFirstValue() as ICAL.Time | undefined;
    if (!p || !t || t.isDate) continue;
    const tzid = p.getParameter('tzid');
    if (tzid) {
      // RFC 5545 §3.6.5: every TZID used needs its VTIMEZONE in the object.
      expect(zones.has(String(tzid)), `VTIMEZONE for ${String(tzid)}`).toBe(true);
      t.zone = zones.get(String(tzid))!;
    }
    out.push([prop, t.toUnixTime() * 1000]);
  }
  return out;
}

/** Instants (ms) at which a zone's UTC offset changes in a year, found with Intl alone. */
function clockChanges(zone: string, year: number): number[] {
  const f = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' });
  const offset = (ms: number) => f.formatToParts(ms).find((p) => p.type === 'timeZoneName')!.value;
  const out: number[] = [];
  for (let day = Date.UTC(year, 0, 1); day < Date.UTC(year + 1, 0, 1); day += 86400_000) {
    let [lo, hi] = [day, day + 86400_000];
    if (offset(lo) === offset(hi)) continue;
    while (hi - lo > 60_000) {
      const mid = lo + Math.floor((hi - lo) / 120_000) * 60_000;
      if (offset(mid) === offset(lo)) lo = mid;
      else hi = mid;
    }
    out.push(hi);
  }
  return out;
}
const opts3 = options();
const opts4 = options({ vcardVersion: '4.0' });

// Text with everything that needs escaping or care: separators, backslash, line breaks, quotes,
// umlauts, emoji (4-byte UTF-8, folding), tabs, control characters, leading/trailing spaces.
const tricky = fc.string({
  unit: fc.constantFrom('a', 'Z', ' ', ';', ',', ':', '\\', '\n', '\r\n', '"', 'ä', 'ß', '€', '😀', '\t', '\u0007', '=', '.', '[FFDATA]', '-', '1'),
  maxLength: 40,
});
const phoneNumber = fc.string({ unit: fc.constantFrom('+', '4', '9', ' ', '-', '(', ')', '0', '7', '/', 'x', ';', ','), maxLength: 20 });

const addressArb: fc.Arbitrary<Address> = fc
  .record({
    company: tricky,
    // Salutation and title share the N prefix component; a lone value is told apart by its form
    // (docs/mappers.md), so they are drawn from what CRMs hold.
    salutation: fc.constantFrom('', 'Herr', 'Frau', 'Firma', 'Familie', 'Mr', 'Ms'),
    title: fc.constantFrom('', 'Dr.', 'Prof. Dr.', 'Dipl.-Ing.', 'Mag.'),
    firstName: tricky,
    lastName: tricky,
    street: tricky,
    postalCode: tricky,
    city: tricky,
    country: tricky,
    fax: phoneNumber,
    email: fc.oneof(fc.constant(''), fc.emailAddress()),
    note: tricky,
    phones: fc.array(fc.record({ number: phoneNumber, remark: tricky }), { maxLength: 11 }),
    private: fc.boolean(),
    id: fc.string({ minLength: 1, maxLength: 12 }),
  })
  .map((r) => address(r));

function sameAddressFields(a: Address, opts = opts3): void {
  const dev = vCardToAddress(addressToVCard(a, opts), opts);
  expect(addressFieldHashes(dev.fields)).toEqual(addressFieldHashes(a));
  expect(dev.isPrivate).toBe(a.private);
}

describe('CRM → device → CRM is the identity on CRM-owned fields', () => {
  it('R11/R12: addresses through a new vCard 3.0 and 4.0', () => {
    fc.assert(
      fc.property(addressArb, (a) => {
        sameAddressFields(a, opts3);
        sameAddressFields(a, opts4);
      }),
      { numRuns: RUNS },
    );
  });

  it('R11: patching a card with the address it already shows changes nothing (no needless upload)', () => {
    fc.assert(
      fc.property(addressArb, fc.constantFrom(opts3, opts4), (a, o) => {
        const v = addressToVCard(a, o);
        expect(patchVCard(v, a, o)).toBe(v);
      }),
      { numRuns: RUNS },
    );
  });

  it('R11/R12: addresses through a patch of an existing card', () => {
    fc.assert(
      fc.property(addressArb, addressArb, (first, second) => {
        const patched = patchVCard(addressToVCard(first, opts3), second, opts3);
        const dev = vCardToAddress(patched, opts3);
        expect(addressFieldHashes(dev.fields)).toEqual(addressFieldHashes(second));
        expect(dev.isPrivate).toBe(second.private);
      }),
      { numRuns: RUNS },
    );
  });

  const zoneNames = ['Europe/Berlin', 'Europe/London', 'Europe/Dublin', 'America/New_York', 'America/St_Johns', 'Asia/Kolkata', 'Australia/Sydney', 'Australia/Lord_Howe', 'America/Sao_Paulo'];
  const zones = fc.constantFrom(...zoneNames, 'UTC', null);
  // Times near a zone's clock changes, where wall time and instant part (D110): a uniform instant
  // lands within an hour of one about once in 4,000 draws, so a third of the draws are put there.
  const transitions = zoneNames.flatMap((z) => [2026, 2038].flatMap((y) => clockChanges(z, y)));
  const instant = fc.oneof(
    { weight: 2, arbitrary: fc.integer({ min: Date.UTC(2000, 0, 1) / 1000, max: Date.UTC(2040, 0, 1) / 1000 }).map((s) => s * 1000) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...transitions), fc.integer({ min: -150, max: 150 })).map(([t, m]) => t + m * 60_000) },
  );
  const activityArb: fc.Arbitrary<Activity> = fc
    .record({
      kind: fc.constantFrom('appointment' as const, 'task' as const),
      type: fc.constantFrom('Termin extern', 'Aufgabe', 'Anruf: intern', ''),
      subject: tricky,
      start: instant,
      durationMin: fc.oneof(fc.integer({ min: 0, max: 60 * 24 * 3 }), fc.integer({ min: 0, max: 150 })),
      allDay: fc.boolean(),
      zone: zones,
      alarm: fc.option(fc.integer({ min: 0, max: 20000 }), { nil: null }),
      note: tricky,
      done: fc.boolean(),
      private: fc.boolean(),
      hasDue: fc.boolean(),
      participants: fc.subarray(['u1', 'u9']),
      addresses: fc.subarray(['a1', 'a9']),
    })
    .map((r) => {
      const iso = (ms: number) => (r.allDay ? new Date(ms).toISOString().slice(0, 10) : new Date(ms).toISOString());
      const endMs = r.start + (r.allDay ? Math.max(1, Math.ceil(r.durationMin / 1440)) * 86400_000 : r.durationMin * 60000);
      const base = {
        type: r.type,
        subject: r.subject,
        allDay: r.allDay,
        timeZone: r.zone,
        alarmMinutes: r.alarm,
        note: r.note,
        done: r.done,
        private: r.private,
        participants: r.participants,
        addresses: r.addresses,
      };
      return r.kind === 'appointment'
        ? appointment({ ...base, kind: 'appointment', start: iso(r.start), end: iso(endMs), due: null })
        : appointment({ ...base, id: 't2', kind: 'task', start: null, end: null, due: r.hasDue ? iso(r.start) : null });
    });

  it('R14–R17: appointments and tasks through a new item', () => {
    fc.assert(
      fc.property(activityArb, (a) => {
        const text = activityToICal(a, ctx(), opts3);
        const dev = iCalToActivity(text, opts3, a.type);
        expect(dev.kind).toBe(a.kind);
        // A client that evaluates the item's own VTIMEZONE (not our Intl) sees the CRM's instants.
        for (const [prop, want] of seenByIcalJs(text)) expect(want, `${prop} of ${a.start ?? a.due} in ${a.timeZone}`).toBe(Date.parse((a as unknown as Record<string, string>)[prop === 'dtstart' ? 'start' : prop === 'dtend' ? 'end' : 'due']!));
        expect(activityFieldHashes(dev.fields)).toEqual(activityFieldHashes(a));
        expect(dev.isPrivate).toBe(a.private);
      }),
      { numRuns: RUNS },
    );
  });

  it('R14: patching an item with the activity it already shows changes nothing', () => {
    fc.assert(
      fc.property(activityArb, (a) => {
        const text = activityToICal(a, ctx(), opts3);
        expect(patchICal(text, a, ctx(), opts3)).toBe(text);
      }),
      { numRuns: RUNS },
    );
  });

  it('R14–R17: appointments and tasks through a patch of an existing item', () => {
    fc.assert(
      fc.property(activityArb, activityArb, (first, second0) => {
        const second = { ...second0, kind: first.kind, id: first.id, due: first.kind === 'task' ? second0.due ?? second0.start : null };
        if (first.kind === 'task') Object.assign(second, { start: null, end: null });
        else if (second.start === null) return;
        const patched = patchICal(activityToICal(first, ctx(), opts3), second, ctx(), opts3);
        const dev = iCalToActivity(patched, opts3, second.type);
        expect(activityFieldHashes(dev.fields)).toEqual(activityFieldHashes(second));
        for (const [prop, want] of seenByIcalJs(patched)) expect(want, `${prop} of ${second.start ?? second.due} in ${second.timeZone}`).toBe(Date.parse((second as unknown as Record<string, string>)[prop === 'dtstart' ? 'start' : prop === 'dtend' ? 'end' : 'due']!));
        expect(dev.isPrivate).toBe(second.private);
      }),
      { numRuns: RUNS },
    );
  });
});

const fixtureDir = new URL('../fixtures/vcard/', import.meta.url);
const deviceCards = readdirSync(fixtureDir)
  .filter((f) => f.endsWith('.vcf') && !f.startsWith('malformed') && !f.startsWith('latin1') && !f.includes('v21'))
  .map((f) => ({ name: f, text: readFileSync(new URL(f, fixtureDir), 'utf8') }));

// Properties the CRM owns on a card (R11, R12) plus the bookkeeping a patch rewrites.
const OWNED_CARD = new Set(['FN', 'N', 'ORG', 'ADR', 'EMAIL', 'TEL', 'NOTE', 'CATEGORIES', 'REV', 'PRODID', 'UID', 'VERSION', 'BEGIN', 'END']);

/** Physical text (with original folding) of every logical line of the card the CRM does not own. */
function notOwnedLines(text: string): string[] {
  const physical = text.split('\r\n');
  const logical: string[] = [];
  for (const l of physical) {
    if ((l.startsWith(' ') || l.startsWith('\t')) && logical.length) logical[logical.length - 1] += `\r\n${l}`;
    else if (l) logical.push(l);
  }
  const telGroups = new Set(logical.filter((l) => /^[^:;]+\.TEL[;:]/i.test(l)).map((l) => l.split('.')[0]!.toLowerCase()));
  return logical.filter((l) => {
    const head = l.split(/[;:]/)[0]!;
    const [group, name] = head.includes('.') ? [head.split('.')[0]!.toLowerCase(), head.split('.')[1]!.toUpperCase()] : [null, head.toUpperCase()];
    if (OWNED_CARD.has(name)) return /^(item\d+\.)?(ADR|EMAIL)[;:].*type=home/i.test(l.replace(/\r\n[ \t]/g, ''));
    if (name === 'X-ABLABEL' && group && telGroups.has(group)) return false;
    if (name === 'X-ABADR') return false; // Apple's country code of an address; harmless either way
    return true;
  });
}

const xProp = fc
  .record({
    name: fc.stringMatching(/^[A-Z]{1,8}$/),
    value: fc.string({ unit: fc.constantFrom('a', 'b', ' ', 'ä', '\\,', '\\;', '\\n', ':', '='), maxLength: 90 }),
  })
  .map((x) => `X-TEST-${x.name}:${x.value}`);

describe('device → patch → device keeps every property the CRM does not own', () => {
  it('R11: client fixtures patched with any CRM address keep their foreign lines byte for byte', () => {
    fc.assert(
      fc.property(fc.constantFrom(...deviceCards), addressArb, (card, a) => {
        const after = patchVCard(card.text, a, opts3);
        for (const l of notOwnedLines(card.text)) expect(after, `${card.name}: ${l}`).toContain(`${l}\r\n`);
      }),
      { numRuns: RUNS },
    );
  });

  it('R11: unknown X- properties at any position survive a patch', () => {
    fc.assert(
      fc.property(addressArb, addressArb, fc.array(fc.tuple(xProp, fc.nat()), { maxLength: 5 }), (first, second, extras) => {
        const lines = addressToVCard(first, opts3).split('\r\n');
        for (const [x, pos] of extras) lines.splice(2 + (pos % (lines.length - 3)), 0, x);
        const after = patchVCard(lines.join('\r\n'), second, opts3);
        for (const [x] of extras) expect(after).toContain(`${x}\r\n`);
      }),
      { numRuns: RUNS },
    );
  });

  it('R14: unknown properties of an event (X-, ATTENDEE, LOCATION, URL) survive a patch', () => {
    const foreign = fc.constantFrom('ATTENDEE;CN=Gast:mailto:gast@example.org', 'LOCATION:Büro 3\\, 2. OG', 'URL:https://example.org/x', 'CATEGORIES:Kunde', 'TRANSP:TRANSPARENT');
    fc.assert(
      fc.property(fc.array(fc.oneof(xProp, foreign), { maxLength: 6 }), fc.integer({ min: 0, max: 600 }), fc.boolean(), (extras, alarm, done) => {
        const text = activityToICal(appointment(), ctx(), opts3).replace('END:VEVENT', `${extras.join('\r\n')}${extras.length ? '\r\n' : ''}END:VEVENT`);
        const after = patchICal(text, appointment({ alarmMinutes: alarm, done, subject: 'neu', start: '2026-12-01T08:00:00Z', end: '2026-12-01T09:00:00Z' }), ctx(), opts3);
        for (const x of extras) expect(after).toContain(`${x}\r\n`);
      }),
      { numRuns: RUNS },
    );
  });
});

/** Re-serializations a server or client may do without changing content. */
function reserialize(text: string, how: { width: number; lf: boolean; typeCase: 'upper' | 'lower'; restamp: boolean; rotate: boolean }): string {
  let lines = text.replace(/\r\n[ \t]/g, '').split('\r\n').filter(Boolean);
  lines = lines.map((l) => l.replace(/;TYPE=([^:;]+)/gi, (_m, v: string) => `;TYPE=${how.typeCase === 'upper' ? v.toUpperCase() : v.toLowerCase()}`));
  if (how.restamp) {
    lines = lines.map((l) => l.replace(/^(REV|DTSTAMP|LAST-MODIFIED):.*/, '$1:20300101T000000Z').replace(/^PRODID:.*/, 'PRODID:-//Other//Client//EN'));
    lines.splice(2, 0, 'X-MOZ-GENERATION:9');
  }
  if (how.rotate) {
    // Move the first property after BEGIN:VCARD/VEVENT behind its next different-named sibling.
    const i = lines.findIndex((l) => l === 'BEGIN:VCARD' || l === 'BEGIN:VEVENT');
    const a = lines[i + 2];
    const b = lines[i + 3];
    if (a && b && !/^(BEGIN|END)/.test(a) && !/^(BEGIN|END)/.test(b) && a.split(/[;:]/)[0] !== b.split(/[;:]/)[0]) {
      lines[i + 2] = b;
      lines[i + 3] = a;
    }
  }
  const folded = lines.map((l) => {
    const chars = [...l];
    if (chars.length <= how.width) return l;
    const parts: string[] = [];
    for (let k = 0; k < chars.length; k += how.width) parts.push(chars.slice(k, k + how.width).join(''));
    return parts.join(how.lf ? '\n ' : '\r\n ');
  });
  return folded.join(how.lf ? '\n' : '\r\n') + (how.lf ? '\n' : '\r\n');
}

const reserializeArb = fc.record({ width: fc.integer({ min: 10, max: 120 }), lf: fc.boolean(), typeCase: fc.constantFrom('upper' as const, 'lower' as const), restamp: fc.boolean(), rotate: fc.boolean() });

describe('hashing is stable under re-serialization', () => {
  it('R20: contentHash of a vCard ignores folding, line ends, TYPE case, REV/PRODID/X-MOZ-GENERATION and property order', () => {
    fc.assert(
      fc.property(addressArb, reserializeArb, (a, how) => {
        const v = addressToVCard(a, opts3);
        expect(contentHash(reserialize(v, how))).toBe(contentHash(v));
        const dev = vCardToAddress(reserialize(v, how), opts3);
        expect(addressFieldHashes(dev.fields)).toEqual(addressFieldHashes(a));
      }),
      { numRuns: RUNS },
    );
  });

  it('R20: contentHash of an event ignores folding, line ends, DTSTAMP/LAST-MODIFIED/PRODID and property order', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10000 }), tricky, reserializeArb, (alarm, note, how) => {
        const e = activityToICal(appointment({ alarmMinutes: alarm, note }), ctx(), opts3);
        expect(contentHash(reserialize(e, how))).toBe(contentHash(e));
      }),
      { numRuns: RUNS },
    );
  });

  it('R20: contentHash changes when content changes, including the order of two numbers of the same type', () => {
    const v = addressToVCard(address(), opts3);
    expect(contentHash(v.replace('Kundin seit 2019', 'Kundin seit 2020'))).not.toBe(contentHash(v));
    const two = addressToVCard(address({ phones: [{ number: '+49 1', remark: '' }, { number: '', remark: '' }, { number: '', remark: '' }, { number: '+49 2', remark: '' }] }), opts3);
    const v2 = two.replace('TEL;TYPE=home,voice:+49 2', 'TEL;TYPE=work,voice:+49 2');
    const swapped = v2.replace('TEL;TYPE=work,voice:+49 1\r\n', '').replace('TEL;TYPE=work,voice:+49 2\r\n', 'TEL;TYPE=work,voice:+49 2\r\nTEL;TYPE=work,voice:+49 1\r\n');
    expect(contentHash(swapped)).not.toBe(contentHash(v2));
    expect(contentHash(v.replace('BEGIN:VCARD\r\n', 'BEGIN:VCARD\r\nIMPP:xmpp:x@example.org\r\n'))).not.toBe(contentHash(v));
  });

  it('R20: field hashes use the same keys on both sides and an optional key makes them unguessable', () => {
    expect(Object.keys(addressFieldHashes(address()))).toEqual([
      'company', 'salutation', 'title', 'firstName', 'lastName', 'street', 'postalCode', 'city', 'country', 'fax', 'email', 'note',
      'phone1', 'phone2', 'phone3', 'phone4', 'phone5', 'phone6', 'phone7', 'phone8',
    ]);
    expect(Object.keys(activityFieldHashes(appointment()))).toEqual(['subject', 'start', 'end', 'allDay', 'due', 'alarmMinutes', 'note', 'done']);
    expect(addressFieldHashes(address(), 'secret').phone1).not.toBe(addressFieldHashes(address()).phone1);
  });
});

describe('any input: a result or a MappingError, never another exception', () => {
  const noise = fc.oneof(
    fc.string({ maxLength: 300 }),
    fc.array(fc.constantFrom('BEGIN:VCARD', 'END:VCARD', 'VERSION:3.0', 'VERSION:2.1', 'N:a;b', 'FN:x', 'TEL;TYPE=work:1', 'TEL;WORK;ENCODING=QUOTED-PRINTABLE:=', ' folded', 'ADR:;;;', 'X:', ':', ';;', 'BEGIN:VCALENDAR', 'BEGIN:VEVENT', 'END:VEVENT', 'END:VCALENDAR', 'DTSTART:20261125T100000Z', 'DTSTART;TZID=X:1', 'DTSTART;VALUE=DATE:2026', 'BEGIN:VALARM', 'TRIGGER:-PTXM', 'ACTION:DISPLAY', 'END:VALARM', 'DURATION:P', 'RRULE:FREQ=', 'DUE:0'), { maxLength: 14 }).map((ls) => ls.join('\r\n')),
    fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
  );
  it('vCardToAddress, iCalToActivity, patch and contentHash on random input', () => {
    fc.assert(
      fc.property(noise, (raw) => {
        for (const fn of [
          () => vCardToAddress(raw, opts3),
          () => iCalToActivity(raw, opts3, 'Termin'),
          () => patchVCard(raw.toString(), address(), opts3),
          () => patchICal(raw.toString(), appointment(), ctx(), opts3),
        ]) {
          try {
            fn();
          } catch (e) {
            if (!(e instanceof MappingError)) throw e;
          }
        }
        expect(contentHash(raw.toString())).toMatch(/^[0-9a-f]{64}$/);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('folding (RFC 5545 §3.1 / RFC 6350 §3.2)', () => {
  it('every physical line is at most 75 octets, no UTF-8 sequence is split, unfolding gives the line back', async () => {
    const { fold } = await import('../../src/mappers/content-lines.js');
    const line = fc.string({ unit: fc.constantFrom('a', 'ä', '€', '😀', ' ', ':', 'ß'), minLength: 20, maxLength: 300, size: 'max' }).map((v) => `NOTE:${v}`);
    fc.assert(
      fc.property(line, (l) => {
        const folded = fold(l);
        const physical = folded.split('\r\n');
        for (const p of physical) {
          expect(Buffer.byteLength(p, 'utf8')).toBeLessThanOrEqual(75);
          expect(p).not.toMatch(/[\uD800-\uDBFF]$|^ ?[\uDC00-\uDFFF]/); // no surrogate pair cut in two
        }
        expect(physical.slice(1).every((p) => p.startsWith(' '))).toBe(true);
        expect(folded.replace(/\r\n /g, '')).toBe(l);
      }),
      { numRuns: RUNS },
    );
  });
});

import { readFileSync } from 'node:fs';
import ICAL from 'ical.js';
import { describe, expect, it } from 'vitest';
import { activityFieldHashes, activityToICal, iCalToActivity, patchICal } from '../../src/mappers/index.js';
import { appointment, ctx, options, task, mappingError, unfoldedLines } from './helpers.js';

const fixtureText = (name: string) => readFileSync(new URL(`../fixtures/ical/${name}`, import.meta.url), 'utf8');
const opts = options();

function instant(iso: string | null): number {
  return Date.parse(iso!);
}

describe('R14: start, end, all-day, time zones, alarm and note travel 1:1', () => {
  it('R14: a timed appointment is written with TZID and a VTIMEZONE that ical.js evaluates to the same instants as Intl', () => {
    const summer = appointment({ start: '2026-07-01T10:00:00+02:00', end: '2026-07-01T11:00:00+02:00' });
    const text = activityToICal(summer, ctx(), opts);
    const lines = unfoldedLines(text);
    expect(lines).toContain('DTSTART;TZID=Europe/Berlin:20260701T100000');
    expect(lines).toContain('DTEND;TZID=Europe/Berlin:20260701T110000');
    // Evaluate the generated VTIMEZONE with ical.js itself (not our code) in winter and summer.
    const cal = new ICAL.Component(ICAL.parse(text));
    const tz = new ICAL.Timezone(cal.getFirstSubcomponent('vtimezone')!);
    for (const [y, mo, d, h, expectedUtcHour] of [
      [2026, 7, 1, 10, 8],
      [2027, 1, 15, 10, 9],
      [2030, 3, 31, 3, 1],
    ] as const) {
      const t = ICAL.Time.fromData({ year: y, month: mo, day: d, hour: h, minute: 0, second: 0 }, tz);
      expect(new Date(t.toUnixTime() * 1000).getUTCHours()).toBe(expectedUtcHour);
    }
    const back = iCalToActivity(text, opts, summer.type);
    expect(back.fields.start).toBe('2026-07-01T10:00:00+02:00');
    expect(back.fields.timeZone).toBe('Europe/Berlin');
  });

  it('R14: an iOS event across the spring DST change keeps both instants', () => {
    const a = iCalToActivity(fixtureText('berlin-dst-crossing.ics'), opts, 'Termin extern');
    expect(a.fields.start).toBe('2026-03-28T22:00:00+01:00');
    expect(a.fields.end).toBe('2026-03-29T04:00:00+02:00');
    expect(instant(a.fields.end) - instant(a.fields.start)).toBe(5 * 3600_000);
    expect(a.fields.alarmMinutes).toBe(30); // ACTION:AUDIO counts as an alarm
    expect(a.fields.subject).toBe('Nachtumzug');
  });

  it('R14: an instant in the hour repeated when clocks go back is written in UTC, where readers disagree on a TZID time (D110)', () => {
    // Berlin falls back at 01:00Z on 2026-10-25: 02:30 local happens at 00:30Z (CEST) and again at
    // 01:30Z (CET). RFC 5545 reads such a TZID time as the first pass, ical.js as the second.
    const a = appointment({ start: '2026-10-25T00:30:00Z', end: '2026-10-25T01:30:00Z', timeZone: 'Europe/Berlin' });
    const text = activityToICal(a, ctx(), opts);
    expect(unfoldedLines(text)).toEqual(expect.arrayContaining(['DTSTART:20261025T003000Z', 'DTEND:20261025T013000Z']));
    const back = iCalToActivity(text, opts, a.type);
    expect([instant(back.fields.start), instant(back.fields.end)]).toEqual([instant(a.start), instant(a.end)]);
    // Next to the repeated hour the zone's wall time is kept, and ical.js agrees on the instant.
    const b = appointment({ start: '2026-10-24T23:30:00Z', end: '2026-10-25T02:00:00Z', timeZone: 'Europe/Berlin' });
    const textB = activityToICal(b, ctx(), opts);
    expect(unfoldedLines(textB)).toEqual(expect.arrayContaining(['DTSTART;TZID=Europe/Berlin:20261025T013000', 'DTEND;TZID=Europe/Berlin:20261025T030000']));
    const cal = new ICAL.Component(ICAL.parse(textB));
    const tz = new ICAL.Timezone(cal.getFirstSubcomponent('vtimezone')!);
    const ev = cal.getFirstSubcomponent('vevent')!;
    for (const [prop, want] of [['dtstart', b.start], ['dtend', b.end]] as const) {
      const t = ev.getFirstPropertyValue(prop) as ICAL.Time;
      t.zone = tz;
      expect(t.toUnixTime() * 1000).toBe(instant(want));
    }
    // The same through a patch of an item that was elsewhere.
    const patched = patchICal(activityToICal(appointment({ timeZone: 'Europe/Berlin' }), ctx(), opts), a, ctx(), opts);
    const again = iCalToActivity(patched, opts, a.type);
    expect([instant(again.fields.start), instant(again.fields.end)]).toEqual([instant(a.start), instant(a.end)]);
  });

  it('R14: a patched time keeps the device\'s VTIMEZONE when it gives the right instant, and replaces one that does not (D111)', () => {
    const vtz = (text: string) => /BEGIN:VTIMEZONE[\s\S]*?END:VTIMEZONE\r\n/.exec(text)![0];
    const ios = fixtureText('berlin-dst-crossing.ics');
    const moved = appointment({ start: '2026-07-01T10:00:00+02:00', end: '2026-07-01T11:00:00+02:00', timeZone: 'Europe/Berlin' });
    const patched = patchICal(ios, moved, ctx(), opts);
    expect(unfoldedLines(patched)).toContain('DTSTART;TZID=Europe/Berlin:20260701T100000');
    expect(vtz(patched)).toBe(vtz(ios)); // iOS's own (TZNAME MESZ/MEZ), byte for byte
    // São Paulo kept daylight saving time until 2019: a VTIMEZONE made for 2025 does not know it.
    const first = activityToICal(appointment({ start: '2025-06-01T10:00:00-03:00', end: '2025-06-01T11:00:00-03:00', timeZone: 'America/Sao_Paulo' }), ctx(), opts);
    const back = appointment({ start: '2014-02-01T10:00:00-02:00', end: '2014-02-01T11:00:00-02:00', timeZone: 'America/Sao_Paulo' });
    const old = patchICal(first, back, ctx(), opts);
    expect(vtz(old)).not.toBe(vtz(first));
    const cal = new ICAL.Component(ICAL.parse(old));
    expect(cal.getAllSubcomponents('vtimezone')).toHaveLength(1);
    const t = cal.getFirstSubcomponent('vevent')!.getFirstPropertyValue('dtstart') as ICAL.Time;
    t.zone = new ICAL.Timezone(cal.getFirstSubcomponent('vtimezone')!);
    expect(t.toUnixTime() * 1000).toBe(instant(back.start));
  });

  it('R14: all-day events use VALUE=DATE with an exclusive end, both ways', () => {
    const a = iCalToActivity(fixtureText('allday.ics'), opts);
    expect(a.fields).toMatchObject({ allDay: true, start: '2026-11-25', end: '2026-11-27', timeZone: null });
    const text = activityToICal(appointment({ allDay: true, start: '2026-11-25', end: '2026-11-26', timeZone: null }), ctx(), opts);
    expect(unfoldedLines(text)).toEqual(expect.arrayContaining(['DTSTART;VALUE=DATE:20261125', 'DTEND;VALUE=DATE:20261126']));
    expect(text).not.toContain('VTIMEZONE');
  });

  it('R14: Outlook Windows zone names, a zone defined only by its VTIMEZONE, and old Lightning TZID paths', () => {
    const outlook = iCalToActivity(fixtureText('vtimezone-outlook-windows-name.ics'), opts);
    expect(outlook.fields).toMatchObject({ start: '2026-07-01T10:00:00+02:00', end: '2026-07-01T11:30:00+02:00', timeZone: 'Europe/Berlin', alarmMinutes: 15 });
    const custom = iCalToActivity(fixtureText('vtimezone-custom-only.ics'), opts);
    expect(custom.fields.start).toBe('2026-12-01T09:00:00+01:00');
    expect(custom.fields.timeZone).toBeNull();
    const moz = iCalToActivity(fixtureText('vtimezone-mozilla-prefix.ics'), opts);
    expect(moz.fields).toMatchObject({ start: '2026-12-10T14:00:00+01:00', timeZone: 'Europe/Berlin' });
  });

  it('R14: DURATION instead of DTEND, and floating times read in the configured default zone', () => {
    const utc = iCalToActivity(fixtureText('duration-and-floating.ics'), opts);
    expect(utc.fields.start).toBe('2026-12-03T08:30:00+00:00');
    expect(utc.fields.end).toBe('2026-12-03T10:00:00+00:00');
    const berlin = iCalToActivity(fixtureText('duration-and-floating.ics'), options({ defaultTimeZone: 'Europe/Berlin' }));
    expect(berlin.fields.start).toBe('2026-12-03T08:30:00+01:00');
  });

  it('R14: a device zone change that keeps the instant is not a change (hash and patch)', () => {
    const a = appointment();
    const text = activityToICal(a, ctx(), opts);
    const inUtc = text.replace('DTSTART;TZID=Europe/Berlin:20261125T100000', 'DTSTART:20261125T090000Z');
    const dev = iCalToActivity(inUtc, opts, a.type);
    expect(activityFieldHashes(dev.fields).start).toBe(activityFieldHashes(a).start);
    expect(patchICal(inUtc, a, ctx(), opts)).toBe(inUtc);
  });

  it('R14: alarm minutes ↔ VALARM TRIGGER, none when alarmMinutes is null', () => {
    const text = activityToICal(appointment({ alarmMinutes: 90 }), ctx(), opts);
    expect(unfoldedLines(text)).toEqual(expect.arrayContaining(['BEGIN:VALARM', 'ACTION:DISPLAY', 'TRIGGER:-PT90M']));
    expect(iCalToActivity(text, opts).fields.alarmMinutes).toBe(90);
    expect(activityToICal(appointment({ alarmMinutes: null }), ctx(), opts)).not.toContain('VALARM');
  });

  it('R14: a patch moves the start and keeps what the CRM does not own', () => {
    const before = fixtureText('ios-alarm-none-acknowledged.ics');
    const a = appointment({ start: '2026-11-25T11:00:00+01:00', end: '2026-11-25T12:00:00+01:00', alarmMinutes: 15, participants: [], addresses: [], note: '' });
    const after = patchICal(before, a, ctx(), opts);
    const lines = unfoldedLines(after);
    expect(lines).toContain('DTSTART;TZID=Europe/Berlin:20261125T110000');
    expect(after).toContain('BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin');
    // The owned relative alarm kept its minutes, so it stays as the device wrote it.
    expect(after).toContain('X-WR-ALARMUID:11111111-AAAA\r\n');
    expect(after).toContain('ACKNOWLEDGED:20261125T084500Z\r\n');
    // Apple's ACTION:NONE placeholder and the e-mail alarm are not ours and stay.
    expect(after).toContain('ACTION:NONE\r\nX-APPLE-DEFAULT-ALARM:TRUE\r\n');
    expect(after).toContain('ACTION:EMAIL\r\n');
    expect(iCalToActivity(after, opts, a.type).fields.start).toBe('2026-11-25T11:00:00+01:00');
  });
});

describe('R15: type prefix in the subject', () => {
  it('R15: the subject carries the type prefix from subjectFormat and comes back without it', () => {
    const text = activityToICal(appointment(), ctx(), opts);
    expect(unfoldedLines(text)).toContain('SUMMARY:Termin extern: Besichtigung Hauptstraße 5');
    const edited = text.replace('SUMMARY:Termin extern: Besichtigung Hauptstraße 5', 'SUMMARY:Termin extern: Besichtigung Hauptstraße 7');
    expect(iCalToActivity(edited, opts, 'Termin extern').fields.subject).toBe('Besichtigung Hauptstraße 7');
  });

  it('R15: only the exact prefix of the known type is stripped; a device that dropped the prefix gives the subject as is', () => {
    const text = activityToICal(appointment(), ctx(), opts);
    const otherType = text.replace('SUMMARY:Termin extern: ', 'SUMMARY:Termin intern: ');
    expect(iCalToActivity(otherType, opts, 'Termin extern').fields.subject).toBe('Termin intern: Besichtigung Hauptstraße 5');
    const noPrefix = text.replace('SUMMARY:Termin extern: ', 'SUMMARY:');
    expect(iCalToActivity(noPrefix, opts, 'Termin extern').fields.subject).toBe('Besichtigung Hauptstraße 5');
  });

  it('R15: a custom subjectFormat is honoured both ways', () => {
    const o = options({ subjectFormat: '[{type}] {subject}' });
    const text = activityToICal(appointment(), ctx(), o);
    expect(unfoldedLines(text)).toContain('SUMMARY:[Termin extern] Besichtigung Hauptstraße 5');
    expect(iCalToActivity(text, o, 'Termin extern').fields.subject).toBe('Besichtigung Hauptstraße 5');
  });
});

describe('R16: [FFDATA] block', () => {
  it('R16: the note is followed by the block listing participants and linked addresses (name, company, phone)', () => {
    const dev = iCalToActivity(activityToICal(appointment(), ctx(), opts), opts, 'Termin extern');
    expect(dev.fields.note).toBe('Schlüssel beim Hausmeister');
    const ical = new ICAL.Component(ICAL.parse(activityToICal(appointment(), ctx(), opts)));
    expect(ical.getFirstSubcomponent('vevent')!.getFirstPropertyValue('description')).toBe(
      'Schlüssel beim Hausmeister\n\n[FFDATA]\nTeilnehmer: Max Müller\nKontakt: Frau Dr. Erika Mustermann, Muster Immobilien GmbH, Tel. +49 89 1234-0',
    );
  });

  it('R16: what the device changes in or after the block is not read back; the block is rebuilt on a CRM change', () => {
    const text = fixtureText('thunderbird-vtodo-completed.ics');
    const dev = iCalToActivity(text, opts, 'Aufgabe');
    expect(dev.fields.note).toBe('Mit Grundriss');
    const after = patchICal(text, task({ note: 'Mit Grundriss', done: true }), ctx(), opts);
    const desc = new ICAL.Component(ICAL.parse(after)).getFirstSubcomponent('vtodo')!.getFirstPropertyValue('description');
    expect(desc).toBe('Mit Grundriss\n\n[FFDATA]\nTeilnehmer: Max Müller\nKontakt: Frau Dr. Erika Mustermann, Muster Immobilien GmbH, Tel. +49 89 1234-0');
  });

  it('R16: a note that itself contains a [FFDATA] line survives the round trip', () => {
    const note = 'oben\n[FFDATA]\nvom Nutzer getippt';
    const a = appointment({ note, participants: [], addresses: [] });
    expect(iCalToActivity(activityToICal(a, ctx(), opts), opts).fields.note).toBe(note);
  });
});

describe('R17: done', () => {
  it('R17: a done appointment has no VALARM on the device; the event stays', () => {
    const text = activityToICal(appointment({ done: true, alarmMinutes: 15 }), ctx(), opts);
    expect(text).not.toContain('VALARM');
    expect(text).toContain('BEGIN:VEVENT');
    const dev = iCalToActivity(text, opts, 'Termin extern');
    expect(dev.fields.done).toBe(true);
    // The missing alarm is not a device-side change of alarmMinutes.
    expect(activityFieldHashes(dev.fields)).toEqual(activityFieldHashes(appointment({ done: true, alarmMinutes: 15 })));
  });

  it('R17: marking done in the CRM removes the alarm from the existing device event', () => {
    const text = activityToICal(appointment(), ctx(), opts);
    const after = patchICal(text, appointment({ done: true }), ctx(), opts);
    expect(after).not.toContain('VALARM');
    expect(after).toContain('SUMMARY:Termin extern: Besichtigung Hauptstraße 5');
  });

  it('R17: task done ↔ STATUS:COMPLETED with COMPLETED timestamp, both ways', () => {
    const done = activityToICal(task({ done: true }), ctx(), opts);
    expect(unfoldedLines(done)).toEqual(expect.arrayContaining(['STATUS:COMPLETED', 'COMPLETED:20261120T082000Z', 'PERCENT-COMPLETE:100']));
    expect(iCalToActivity(done, opts, 'Aufgabe').fields.done).toBe(true);
    const open = activityToICal(task({ done: false }), ctx(), opts);
    expect(unfoldedLines(open)).toContain('STATUS:NEEDS-ACTION');
    expect(iCalToActivity(open, opts, 'Aufgabe').fields.done).toBe(false);
    // Device completes, CRM reopens: the patch removes COMPLETED and PERCENT-COMPLETE:100.
    const reopened = patchICal(fixtureText('thunderbird-vtodo-completed.ics'), task({ done: false, note: 'Mit Grundriss' }), ctx(), opts);
    expect(reopened).toContain('STATUS:NEEDS-ACTION\r\n');
    expect(reopened).not.toContain('COMPLETED:');
    expect(reopened).not.toContain('PERCENT-COMPLETE');
    expect(reopened).toContain('X-MOZ-GENERATION:4\r\n');
  });

  it('R17: a Thunderbird task completed on the device reads as done with its due time', () => {
    const dev = iCalToActivity(fixtureText('thunderbird-vtodo-completed.ics'), opts, 'Aufgabe');
    expect(dev).toMatchObject({ kind: 'task', fields: { done: true, subject: 'Exposé schicken', due: '2026-11-27T17:00:00+01:00' } });
  });
});

describe('R18: alarm removed on the device', () => {
  it('R18: an event whose alarm the device removed reads as alarmMinutes null', () => {
    const text = activityToICal(appointment({ start: '2026-01-10T10:00:00+01:00', end: '2026-01-10T11:00:00+01:00' }), ctx(), opts);
    const without = text.replace(/BEGIN:VALARM[\s\S]*?END:VALARM\r\n/, '');
    const dev = iCalToActivity(without, opts, 'Termin extern');
    expect(dev.fields.alarmMinutes).toBeNull();
    expect(dev.fields.end).toBe('2026-01-10T11:00:00+01:00'); // the engine compares this with now (ended → done)
    expect(activityFieldHashes(dev.fields).alarmMinutes).not.toBe(activityFieldHashes(appointment()).alarmMinutes);
  });
});

describe('R19: device-created events and tasks', () => {
  it('R19: CLASS:PRIVATE and CONFIDENTIAL make the item private; without a known type the subject is kept whole', () => {
    const outlook = iCalToActivity(fixtureText('vtimezone-outlook-windows-name.ics'), opts);
    expect(outlook.isPrivate).toBe(true);
    expect(outlook.fields.subject).toBe('Sommertermin');
    expect(iCalToActivity(fixtureText('vtimezone-custom-only.ics'), opts).isPrivate).toBe(true);
    expect(iCalToActivity(fixtureText('allday.ics'), opts).isPrivate).toBe(false);
    expect(activityToICal(appointment({ private: true }), ctx(), opts)).toContain('CLASS:PRIVATE\r\n');
  });

  it('R19: a recurring event created on the device is flagged; patching keeps RRULE, EXDATE, attendees, X- props and the override', () => {
    const text = fixtureText('device-recurring.ics');
    const dev = iCalToActivity(text, opts);
    expect(dev.recurring).toBe(true);
    expect(dev.fields).toMatchObject({ subject: 'Jour fixe', start: '2026-11-02T09:00:00+01:00', alarmMinutes: 10 });
    const after = patchICal(text, appointment({ subject: 'Jour fixe neu', type: 'Termin', start: dev.fields.start, end: dev.fields.end, alarmMinutes: 10, note: '', participants: [], addresses: [] }), ctx(), opts);
    for (const l of [
      'RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10',
      'EXDATE;TZID=Europe/Berlin:20261109T090000',
      'ORGANIZER;CN=Max Müller:mailto:m.mueller@example.de',
      'ATTENDEE;CN=Erika Mustermann;PARTSTAT=ACCEPTED;ROLE=REQ-PARTICIPANT:mailto:e.mustermann@example.de',
      'X-APPLE-STRUCTURED-LOCATION;VALUE=URI;X-TITLE=Büro:geo:48.137,11.575',
      'LOCATION:Büro',
      'RECURRENCE-ID;TZID=Europe/Berlin:20261116T090000',
      'SUMMARY:Jour fixe (verschoben)',
    ]) {
      expect(after).toContain(`${l}\r\n`);
    }
    expect(after).toContain('SUMMARY:Termin: Jour fixe neu\r\n');
  });
});

describe('bad input → MappingError, never a crash', () => {
  it('a malformed DTSTART names the line', () => {
    const e = mappingError(() => iCalToActivity(fixtureText('malformed-bad-dtstart.ics'), opts));
    expect(e.lineText).toBe('DTSTART:2026-11-25 10:00');
    expect(e.line).toBe(7);
  });

  it('an unknown TZID without VTIMEZONE is a typed error', () => {
    expect(mappingError(() => iCalToActivity(fixtureText('malformed-unknown-tzid.ics'), opts)).message).toMatch(/Mars Standard Time/);
  });

  it('a calendar without VEVENT/VTODO, a vCard and an unclosed component are rejected', () => {
    mappingError(() => iCalToActivity('BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n', opts));
    mappingError(() => iCalToActivity('BEGIN:VCARD\r\nVERSION:3.0\r\nFN:x\r\nEND:VCARD\r\n', opts));
    mappingError(() => iCalToActivity('BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:20261125T100000Z\r\nEND:VCALENDAR\r\n', opts));
  });

  it('a CRM appointment without start or with a bad date is a typed error naming the record', () => {
    expect(mappingError(() => activityToICal(appointment({ start: null }), ctx(), opts)).message).toMatch(/t1/);
    expect(mappingError(() => activityToICal(appointment({ end: 'tomorrow' }), ctx(), opts)).message).toMatch(/end "tomorrow"/);
  });

  it('patching a VTODO with an appointment is refused', () => {
    mappingError(() => patchICal(fixtureText('thunderbird-vtodo-completed.ics'), appointment(), ctx(), opts));
  });

  it('an event with a huge attachment (> 1 MB) is read', () => {
    const attach = Buffer.alloc(1_200_000, 3).toString('base64');
    const text = activityToICal(appointment(), ctx(), opts).replace('END:VEVENT', `ATTACH;ENCODING=BASE64;VALUE=BINARY:${attach}\r\nEND:VEVENT`);
    expect(iCalToActivity(text, opts, 'Termin extern').fields.subject).toBe('Besichtigung Hauptstraße 5');
    expect(patchICal(text, appointment({ subject: 'x' }), ctx(), opts)).toContain(attach);
  });
});

// Issue #12: the device's alarms, parameters and series are the user's.
describe('R14/M7: the CRM owns one alarm; the device keeps the others', () => {
  const event = (alarms: string[], extra: string[] = []) =>
    [
      'BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Apple Inc.//iOS 17//EN', 'BEGIN:VEVENT', 'UID:dev-ev-1', 'DTSTAMP:20261101T000000Z',
      'DTSTART:20261125T090000Z', 'DTEND:20261125T100000Z', 'SUMMARY;LANGUAGE=en-us:Team Meeting', ...extra, ...alarms, 'END:VEVENT', 'END:VCALENDAR', '',
    ].join('\r\n');
  const alarm = (trigger: string, desc: string) => ['BEGIN:VALARM', 'ACTION:DISPLAY', `DESCRIPTION:${desc}`, trigger, 'END:VALARM'];
  const three = event([...alarm('TRIGGER:-PT15M', 'first'), ...alarm('TRIGGER:-PT1H', 'second'), ...alarm('TRIGGER:-P1D', 'third')]);
  const crmOf = (raw: string, over: Record<string, unknown> = {}) => {
    const f = iCalToActivity(raw, opts).fields;
    return appointment({ ...f, type: 'Termin', subject: 'Team Meeting', timeZone: null, participants: [], addresses: [], ...over });
  };
  const fmt = { ...opts, subjectFormat: '{subject}' };

  it('R14/M7: an event with three alarms keeps all three at import; the CRM reads the first', () => {
    expect(iCalToActivity(three, opts).fields.alarmMinutes).toBe(15);
    expect(patchICal(three, crmOf(three), ctx(), fmt)).toBe(three);
  });

  it('R14/M7: a CRM alarm change rewrites the first alarm\'s TRIGGER only; its DESCRIPTION and the other alarms stay', () => {
    const after = patchICal(three, crmOf(three, { alarmMinutes: 30, participants: [], addresses: [] }), ctx(), fmt);
    const lines = unfoldedLines(after);
    expect(lines.filter((l) => l.startsWith('TRIGGER'))).toEqual(['TRIGGER:-PT30M', 'TRIGGER:-PT1H', 'TRIGGER:-P1D']);
    expect(lines.filter((l) => l.startsWith('DESCRIPTION'))).toEqual(['DESCRIPTION:first', 'DESCRIPTION:second', 'DESCRIPTION:third']);
    expect(iCalToActivity(after, opts).fields.alarmMinutes).toBe(30);
  });

  it('R14/M7: "no alarm" in the CRM removes the CRM\'s alarm alone', () => {
    const after = patchICal(three, crmOf(three, { alarmMinutes: null, participants: [], addresses: [] }), ctx(), fmt);
    expect(unfoldedLines(after).filter((l) => l.startsWith('TRIGGER'))).toEqual(['TRIGGER:-PT1H', 'TRIGGER:-P1D']);
  });

  it('R14: an absolute alarm (TRIGGER;VALUE=DATE-TIME, iOS Reminders) is the CRM alarm in minutes; a change keeps it absolute', () => {
    const abs = event(alarm('TRIGGER;VALUE=DATE-TIME:20261125T084500Z', 'abs'));
    expect(iCalToActivity(abs, opts).fields.alarmMinutes).toBe(15);
    const after = patchICal(abs, crmOf(abs, { alarmMinutes: 60, participants: [], addresses: [] }), ctx(), fmt);
    expect(unfoldedLines(after)).toContain('TRIGGER;VALUE=DATE-TIME:20261125T080000Z');
    const todo = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'BEGIN:VTODO', 'UID:r1', 'DUE:20261127T170000Z', 'SUMMARY:x', 'BEGIN:VALARM', 'ACTION:DISPLAY', 'DESCRIPTION:Reminder', 'TRIGGER;VALUE=DATE-TIME:20261127T160000Z', 'END:VALARM', 'END:VTODO', 'END:VCALENDAR', ''].join('\r\n');
    expect(iCalToActivity(todo, opts).fields.alarmMinutes).toBe(60);
  });

  it('M7/M13: a replaced line keeps its parameters (SUMMARY;LANGUAGE=en-us)', () => {
    const after = patchICal(three, crmOf(three, { subject: 'Team Meeting 2', participants: [], addresses: [] }), ctx(), fmt);
    expect(unfoldedLines(after)).toContain('SUMMARY;LANGUAGE=en-us:Team Meeting 2');
  });
});

describe('D4: device series stay on the device', () => {
  it('D4: overrides without a master (RECURRENCE-ID only, as Apple writes invitations) are a series', () => {
    const raw = [
      'BEGIN:VCALENDAR', 'VERSION:2.0', 'BEGIN:VEVENT', 'UID:series-1', 'RECURRENCE-ID:20261125T090000Z', 'DTSTAMP:20261101T000000Z',
      'DTSTART:20261125T090000Z', 'DTEND:20261125T100000Z', 'SUMMARY:Weekly', 'END:VEVENT',
      'BEGIN:VEVENT', 'UID:series-1', 'RECURRENCE-ID:20261202T090000Z', 'DTSTAMP:20261101T000000Z',
      'DTSTART:20261202T100000Z', 'DTEND:20261202T110000Z', 'SUMMARY:Weekly', 'END:VEVENT', 'END:VCALENDAR', '',
    ].join('\r\n');
    expect(iCalToActivity(raw, opts).recurring).toBe(true);
    const single = raw.split('BEGIN:VEVENT').slice(0, 2).join('BEGIN:VEVENT').replace(/END:VEVENT\r\n$/, 'END:VEVENT\r\nEND:VCALENDAR\r\n');
    expect(iCalToActivity(single, opts).recurring).toBe(true);
  });
});

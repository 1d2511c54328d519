// A custom VTIMEZONE (Outlook's "Customized Time Zone", any TZID that is not an IANA name) is
// evaluated by ical.js, which expands its rules from their DTSTART up to the year asked for. A
// rule that repeats every second (FREQ=SECONDLY, or YEARLY with BYHOUR/BYMINUTE/BYSECOND lists)
// makes that expansion run for ever and fill the memory. Real time zones change their offset at
// most a few times a year, so only rules of that shape are evaluated; any other is refused and
// the item fails alone with this message (docs/security.md). A TZID that is an IANA name never
// gets here: the IANA zone of that name is used instead of the item's rules.
import { childComponents, childLines, type ComponentNode } from './content-lines.js';
import { MappingError } from './errors.js';

/** RRULE parts a real time zone uses (RFC 5545 §3.6.5; Outlook, Exchange, iOS, Google). */
const ALLOWED_PARTS = new Set(['FREQ', 'INTERVAL', 'BYMONTH', 'BYDAY', 'BYMONTHDAY', 'BYSETPOS', 'UNTIL', 'COUNT', 'WKST']);
const ALLOWED_FREQ = new Set(['YEARLY', 'MONTHLY']);
/** Observances (STANDARD/DAYLIGHT) and RDATE values: a zone's whole history fits well within. */
const MAX_OBSERVANCES = 200;
const MAX_RDATES = 2000;
/** Values in one BY list (Outlook writes BYMONTHDAY=8,9,10,11,12,13,14). */
const MAX_LIST = 31;

export function assertEvaluableVTimezone(tz: ComponentNode, tzid: string): void {
  const refuse = (why: string, line?: { lineNo: number; name: string; value: string }) =>
    new MappingError(`the time zone "${tzid}" defined in the item ${why}; sync-cli does not evaluate such a zone`, {
      ...(line ? { line: line.lineNo || undefined, lineText: `${line.name}:${line.value}` } : {}),
      remedy: 'save the event again on the device with a standard time zone (e.g. Europe/Berlin); the other items sync normally',
    });
  const observances = childComponents(tz).filter((c) => c.name === 'STANDARD' || c.name === 'DAYLIGHT');
  if (observances.length > MAX_OBSERVANCES) throw refuse(`has ${observances.length} STANDARD/DAYLIGHT parts (at most ${MAX_OBSERVANCES})`);
  let rdates = 0;
  for (const o of observances) {
    for (const line of childLines(o)) {
      if (line.name === 'RDATE') {
        rdates += line.value.split(',').length;
        if (rdates > MAX_RDATES) throw refuse(`lists more than ${MAX_RDATES} RDATE values`, line);
      }
      if (line.name !== 'RRULE') continue;
      for (const part of line.value.trim().split(';')) {
        const [key = '', value = ''] = part.split('=');
        const name = key.trim().toUpperCase();
        if (!ALLOWED_PARTS.has(name)) throw refuse(`repeats with ${name}, which no real time zone uses`, line);
        if (name === 'FREQ' && !ALLOWED_FREQ.has(value.trim().toUpperCase())) throw refuse(`repeats ${value.trim().toUpperCase() || 'without FREQ'} (a real zone changes at most monthly)`, line);
        if (name.startsWith('BY') && value.split(',').length > MAX_LIST) throw refuse(`has ${value.split(',').length} values in ${name}`, line);
      }
    }
  }
}

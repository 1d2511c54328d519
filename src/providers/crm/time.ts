// Timestamps between the CRM databases and the model: the databases hand back their change
// stamps in their own text formats; the model speaks ISO 8601.

/**
 * Normalizes a database timestamp (`2026-11-23 01:51:39.123+00`, `2026-11-23 01:51:39.12`,
 * `2026-11-23T01:51:39Z`, a Date) to ISO 8601 with exactly six fraction digits. Values without a
 * zone are UTC (the contract says change stamps are UTC). The fixed width matters: feed cursors
 * are compared as strings, and PostgreSQL drops trailing zeros (`.34` is 340 ms, and must sort
 * after `.339`). Sub-millisecond digits are kept so a cursor compares exactly.
 */
export function dbTimestampToIso(value: unknown): string {
  if (value instanceof Date) return withMicros(value.toISOString().slice(0, -1)) + 'Z';
  let s = String(value).trim().replace(' ', 'T');
  const zone = /([+-]\d{2})(?::?(\d{2}))?$|Z$/.exec(s.slice(19));
  if (!zone) return withMicros(s) + 'Z';
  s = s.slice(0, s.length - zone[0].length);
  if (zone[0] === 'Z') return withMicros(s) + 'Z';
  const offset = `${zone[1]}:${zone[2] ?? '00'}`;
  return withMicros(s) + (offset === '+00:00' || offset === '-00:00' ? 'Z' : offset);
}

/** `…T01:51:39` / `…T01:51:39.12` → `…T01:51:39.000000` / `…T01:51:39.120000` (more digits kept). */
function withMicros(local: string): string {
  const m = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d*))?$/.exec(local);
  if (!m) return local;
  const frac = m[2] ?? '';
  return `${m[1]}.${frac.length >= 6 ? frac : frac.padEnd(6, '0')}`;
}

/** A calendar value of the model: a date (`YYYY-MM-DD`) for all-day items, else ISO 8601. */
export function dbCalendarValue(value: unknown, allDay: boolean): string | null {
  if (value === null || value === undefined || value === '') return null;
  if (value instanceof Date) return allDay ? value.toISOString().slice(0, 10) : value.toISOString();
  const s = String(value).trim();
  if (allDay || /^\d{4}-\d{2}-\d{2}$/.test(s)) return s.slice(0, 10);
  return /[T ]\d{2}:\d{2}/.test(s) && !/T\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)$/.test(s) ? dbTimestampToIso(s) : s;
}

const offsetFormatters = new Map<string, Intl.DateTimeFormat>();

/** Offset of an IANA zone at an instant, in minutes east of UTC. */
export function zoneOffsetMinutes(timeZone: string, instant: Date): number {
  let fmt = offsetFormatters.get(timeZone);
  if (!fmt) {
    fmt = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' });
    offsetFormatters.set(timeZone, fmt);
  }
  const name = fmt.formatToParts(instant).find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
  const m = /GMT([+-])(\d{2}):?(\d{2})?/.exec(name);
  if (!m) return 0;
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3] ?? 0));
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/**
 * ISO 8601 with the zone's offset for a wall-clock time in an IANA zone. A wall time that does
 * not exist (spring-forward gap) is moved forward by the gap, as calendar clients do.
 */
export function wallTimeToIso(timeZone: string, y: number, mo: number, d: number, h: number, mi: number): string {
  const asUtc = Date.UTC(y, mo - 1, d, h, mi);
  let offset = zoneOffsetMinutes(timeZone, new Date(asUtc - 60 * 60_000 * 3));
  let instant = asUtc - offset * 60_000;
  const after = zoneOffsetMinutes(timeZone, new Date(instant));
  if (after !== offset) {
    offset = after;
    instant = asUtc - offset * 60_000;
  }
  const local = new Date(instant + offset * 60_000);
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  return (
    `${local.getUTCFullYear()}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())}` +
    `T${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:00${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
  );
}

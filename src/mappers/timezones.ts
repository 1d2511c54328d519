// Time zones for iCalendar: wall time ↔ instant through Intl (the IANA database Node ships), and
// VTIMEZONE components generated from it. A hand-kept table of zones would go stale; Intl is
// updated with Node. The generated VTIMEZONE states the zone's current yearly rule (e.g.
// Europe/Berlin: last Sunday of March 02:00 → +0200, last Sunday of October 03:00 → +0100) and
// falls back to explicit RDATEs when a zone's transitions do not follow a "n-th weekday" rule.

export interface WallTime {
  y: number;
  mo: number;
  d: number;
  h: number;
  mi: number;
  s: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, f);
  }
  return f;
}

const validZones = new Map<string, boolean>();
export function isIanaZone(zone: string): boolean {
  let ok = validZones.get(zone);
  if (ok === undefined) {
    try {
      formatter(zone);
      ok = true;
    } catch {
      ok = false;
    }
    validZones.set(zone, ok);
  }
  return ok;
}

export function wallTime(ms: number, zone: string): WallTime {
  if (zone === 'UTC') {
    const dt = new Date(ms);
    return { y: dt.getUTCFullYear(), mo: dt.getUTCMonth() + 1, d: dt.getUTCDate(), h: dt.getUTCHours(), mi: dt.getUTCMinutes(), s: dt.getUTCSeconds() };
  }
  const w: WallTime = { y: 0, mo: 0, d: 0, h: 0, mi: 0, s: 0 };
  for (const p of formatter(zone).formatToParts(new Date(ms))) {
    if (p.type === 'year') w.y = Number(p.value);
    else if (p.type === 'month') w.mo = Number(p.value);
    else if (p.type === 'day') w.d = Number(p.value);
    else if (p.type === 'hour') w.h = Number(p.value);
    else if (p.type === 'minute') w.mi = Number(p.value);
    else if (p.type === 'second') w.s = Number(p.value);
  }
  return w;
}

function wallAsUtc(w: WallTime): number {
  return Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s);
}

/** Offset of the zone at an instant, in minutes east of UTC. */
export function offsetMinutes(ms: number, zone: string): number {
  if (zone === 'UTC') return 0;
  const whole = Math.floor(ms / 1000) * 1000;
  return Math.round((wallAsUtc(wallTime(whole, zone)) - whole) / 60000);
}

/**
 * Wall time in a zone → instant. A wall time in the spring gap is read with the offset before
 * the gap (RFC 5545 §3.3.5: 02:30 on the day clocks jump to 03:00 means 03:30); in the autumn
 * overlap the first (daylight) occurrence wins.
 */
export function wallToInstant(w: WallTime, zone: string): number {
  const asUtc = wallAsUtc(w);
  if (zone === 'UTC') return asUtc;
  const before = offsetMinutes(asUtc - 36 * 3600_000, zone);
  const after = offsetMinutes(asUtc + 36 * 3600_000, zone);
  const candidates = [asUtc - Math.max(before, after) * 60000, asUtc - Math.min(before, after) * 60000];
  for (const c of candidates) if (wallAsUtc(wallTime(c, zone)) === asUtc) return c;
  return asUtc - before * 60000;
}

export function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

export function formatOffset(min: number, colon = true): string {
  const sign = min < 0 ? '-' : '+';
  const a = Math.abs(min);
  return `${sign}${pad(Math.floor(a / 60))}${colon ? ':' : ''}${pad(a % 60)}`;
}

export function icalWall(w: WallTime): string {
  return `${pad(w.y, 4)}${pad(w.mo)}${pad(w.d)}T${pad(w.h)}${pad(w.mi)}${pad(w.s)}`;
}

export function isoWithOffset(ms: number, zone: string): string {
  const w = wallTime(ms, zone);
  const off = offsetMinutes(ms, zone);
  return `${pad(w.y, 4)}-${pad(w.mo)}-${pad(w.d)}T${pad(w.h)}:${pad(w.mi)}:${pad(w.s)}${formatOffset(off)}`;
}

interface Transition {
  at: number;
  from: number;
  to: number;
}

const transitionCache = new Map<string, Transition[]>();

function transitionsInYear(zone: string, year: number): Transition[] {
  const key = `${zone}@${year}`;
  let hit = transitionCache.get(key);
  if (!hit) {
    hit = scanYear(zone, year);
    if (transitionCache.size >= 4096) transitionCache.clear(); // bounded, whatever years items hold
    transitionCache.set(key, hit);
  }
  return hit;
}

/**
 * Whether the instant's wall time in the zone is shown at another instant too (the hour repeated
 * when clocks go back). Readers disagree on such a TZID time: RFC 5545 §3.3.5 takes the first
 * pass, ical.js (Thunderbird) the second; so it is written in UTC (D110).
 */
export function wallRepeats(ms: number, zone: string): boolean {
  if (zone === 'UTC') return false;
  const year = new Date(ms).getUTCFullYear();
  for (let y = year - 1; y <= year + 1; y++) {
    for (const t of transitionsInYear(zone, y)) {
      const back = (t.from - t.to) * 60000;
      if (back > 0 && ms >= t.at - back && ms < t.at + back) return true;
    }
  }
  return false;
}

function scanYear(zone: string, year: number): Transition[] {
  const out: Transition[] = [];
  const start = Date.UTC(year, 0, 1);
  const end = Date.UTC(year + 1, 0, 1);
  const step = 86400_000;
  let prev = offsetMinutes(start, zone);
  for (let t = start + step; t <= end; t += step) {
    const cur = offsetMinutes(t, zone);
    if (cur !== prev) {
      let lo = t - step;
      let hi = t;
      while (hi - lo > 60000) {
        const mid = Math.floor((lo + hi) / 2 / 60000) * 60000;
        if (offsetMinutes(mid, zone) === prev) lo = mid;
        else hi = mid;
      }
      out.push({ at: hi, from: prev, to: cur });
      prev = cur;
    }
  }
  return out;
}

const DAYS = ['SU', 'MO', 'TU', 'WE', 'TH', 'FR', 'SA'];

interface YearlyRule {
  month: number;
  weekday: number;
  /** 1..4 or -1 (last). */
  nth: number;
  h: number;
  mi: number;
}

function ruleOf(t: Transition): YearlyRule {
  const local = new Date(t.at + t.from * 60000);
  const day = local.getUTCDate();
  const month = local.getUTCMonth() + 1;
  const daysInMonth = new Date(Date.UTC(local.getUTCFullYear(), month, 0)).getUTCDate();
  return { month, weekday: local.getUTCDay(), nth: day + 7 > daysInMonth ? -1 : Math.ceil(day / 7), h: local.getUTCHours(), mi: local.getUTCMinutes() };
}

function ruleDate(rule: YearlyRule, year: number): number {
  if (rule.nth > 0) {
    const first = new Date(Date.UTC(year, rule.month - 1, 1)).getUTCDay();
    const day = 1 + ((rule.weekday - first + 7) % 7) + (rule.nth - 1) * 7;
    return Date.UTC(year, rule.month - 1, day, rule.h, rule.mi);
  }
  const lastDay = new Date(Date.UTC(year, rule.month, 0));
  const day = lastDay.getUTCDate() - ((lastDay.getUTCDay() - rule.weekday + 7) % 7);
  return Date.UTC(year, rule.month - 1, day, rule.h, rule.mi);
}

function wallOfUtcMs(ms: number): string {
  const d = new Date(ms);
  return icalWall({ y: d.getUTCFullYear(), mo: d.getUTCMonth() + 1, d: d.getUTCDate(), h: d.getUTCHours(), mi: d.getUTCMinutes(), s: d.getUTCSeconds() });
}

const vtimezoneCache = new Map<string, string>();

/**
 * A VTIMEZONE (CRLF lines) for an IANA zone that is right for every instant from the start of
 * `fromYear` to the end of `toYear` (and, with a yearly rule, as long as the rule holds).
 */
export function vtimezone(zone: string, fromYear: number, toYear: number = fromYear): string {
  const cacheKey = `${zone}@${fromYear}-${toYear}`;
  const hit = vtimezoneCache.get(cacheKey);
  if (hit) return hit;
  const years = Array.from({ length: toYear - fromYear + 6 }, (_, i) => fromYear - 1 + i);
  const byYear = new Map(years.map((y) => [y, transitionsInYear(zone, y)]));
  const trans = byYear.get(fromYear)!;
  let body: string;
  if ([...byYear.values()].every((t) => t.length === 0)) {
    const off = formatOffset(offsetMinutes(Date.UTC(fromYear, 0, 1), zone), false);
    body = `BEGIN:STANDARD\r\nDTSTART:19700101T000000\r\nTZOFFSETFROM:${off}\r\nTZOFFSETTO:${off}\r\nEND:STANDARD\r\n`;
  } else {
    const rules = trans.map(ruleOf);
    // The yearly rule must reproduce what Intl says for every year asked for, the one before and
    // the four after; else the transitions are listed one by one.
    let yearly = trans.length === 2 && rules.every((r) => r.weekday === 0);
    for (const y of years) {
      if (!yearly) break;
      const actual = byYear.get(y)!;
      yearly = actual.length === trans.length && actual.every((t, i) => ruleDate(rules[i]!, y) === t.at + t.from * 60000 && t.from === trans[i]!.from && t.to === trans[i]!.to);
    }
    body = '';
    if (yearly) {
      trans.forEach((t, i) => {
        const r = rules[i]!;
        const kind = t.to > t.from ? 'DAYLIGHT' : 'STANDARD';
        body +=
          `BEGIN:${kind}\r\nDTSTART:${wallOfUtcMs(ruleDate(r, 1970))}\r\n` +
          `RRULE:FREQ=YEARLY;BYMONTH=${r.month};BYDAY=${r.nth}${DAYS[r.weekday]}\r\n` +
          `TZOFFSETFROM:${formatOffset(t.from, false)}\r\nTZOFFSETTO:${formatOffset(t.to, false)}\r\nEND:${kind}\r\n`;
      });
    } else {
      const all: Transition[] = [];
      for (let y = fromYear - 1; y <= toYear + 10; y++) all.push(...(byYear.get(y) ?? transitionsInYear(zone, y)));
      const groups = new Map<string, Transition[]>();
      for (const t of all) {
        const k = `${t.from}/${t.to}`;
        groups.set(k, [...(groups.get(k) ?? []), t]);
      }
      for (const list of groups.values()) {
        const t0 = list[0]!;
        const kind = t0.to > t0.from ? 'DAYLIGHT' : 'STANDARD';
        // The first onset is listed as an RDATE too: RFC 5545 counts DTSTART as an onset, but
        // ical.js (Thunderbird's evaluator) reads only the RDATEs once there are any (D111).
        body += `BEGIN:${kind}\r\nDTSTART:${wallOfUtcMs(t0.at + t0.from * 60000)}\r\n`;
        for (const t of list) body += `RDATE:${wallOfUtcMs(t.at + t.from * 60000)}\r\n`;
        body += `TZOFFSETFROM:${formatOffset(t0.from, false)}\r\nTZOFFSETTO:${formatOffset(t0.to, false)}\r\nEND:${kind}\r\n`;
      }
    }
  }
  const out = `BEGIN:VTIMEZONE\r\nTZID:${zone}\r\n${body}END:VTIMEZONE\r\n`;
  vtimezoneCache.set(cacheKey, out);
  return out;
}

// Outlook / Exchange write Windows zone names; the common ones of our users' region.
const WINDOWS_ZONES: Record<string, string> = {
  'W. Europe Standard Time': 'Europe/Berlin',
  'Romance Standard Time': 'Europe/Paris',
  'Central Europe Standard Time': 'Europe/Budapest',
  'Central European Standard Time': 'Europe/Warsaw',
  'GMT Standard Time': 'Europe/London',
  'E. Europe Standard Time': 'Europe/Chisinau',
  'FLE Standard Time': 'Europe/Kiev',
  'Eastern Standard Time': 'America/New_York',
  'Pacific Standard Time': 'America/Los_Angeles',
  UTC: 'UTC',
};

/** TZID as clients write it → IANA name, or null when it is not one we recognize. */
export function ianaFromTzid(tzid: string): string | null {
  const t = tzid.trim();
  if (WINDOWS_ZONES[t]) return WINDOWS_ZONES[t]!;
  if (isIanaZone(t) && t.includes('/')) return t;
  if (t === 'UTC' || t === 'GMT' || t === 'Etc/UTC') return 'UTC';
  // Old Thunderbird/Lightning: "/mozilla.org/20050126_1/Europe/Berlin"; some exporters quote a path.
  const m = /([A-Za-z]+\/[A-Za-z_+-]+(?:\/[A-Za-z_+-]+)?)$/.exec(t);
  if (m && isIanaZone(m[1]!)) return m[1]!;
  return null;
}

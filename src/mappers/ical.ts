// CRM appointment ↔ VEVENT, task ↔ VTODO (R14–R19).
import { assertEvaluableVTimezone } from './vtimezone-guard.js';
import ICAL from 'ical.js';
import type { Activity, ActivityFields } from '../providers/crm/model.js';
import {
  type ComponentNode,
  type ContentLine,
  builtLine,
  childComponents,
  childLines,
  escapeText,
  formatLine,
  isComponent,
  paramValues,
  parseItem,
  serializeComponent,
  serializeRoot,
  stripControl,
  unescapeText,
} from './content-lines.js';
import { MappingError } from './errors.js';
import { ianaFromTzid, icalWall, isIanaZone, isoWithOffset, formatOffset, pad, vtimezone, wallRepeats, wallTime, wallToInstant } from './timezones.js';
import type { DeviceActivity, FfdataContext, MapperOptions } from './types.js';
import { stableUid } from './uid.js';

export const DEFAULT_PRODID = '-//sync-cli//sync-cli//EN';
export const FFDATA_MARKER = '[FFDATA]';
/** Marks a VEVENT whose CRM appointment is done (VEVENT has no such status; R17). */
const DONE_MARKER = 'X-SYNC-CLI-DONE';
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

// --- subject prefix (R15) ---

export function deviceSubject(type: string, subject: string, format: string): string {
  return format.replace('{type}', () => type).replace('{subject}', () => subject);
}

/** Strips exactly the prefix/suffix of the known type; a subject without them is taken as is. */
export function stripSubjectPrefix(summary: string, type: string | undefined, format: string): string {
  if (type === undefined) return summary;
  const at = format.indexOf('{subject}');
  if (at < 0) return summary;
  const pre = format.slice(0, at).replace('{type}', () => type);
  const post = format.slice(at + '{subject}'.length).replace('{type}', () => type);
  if (summary.length >= pre.length + post.length && summary.startsWith(pre) && summary.endsWith(post)) {
    return summary.slice(pre.length, summary.length - post.length);
  }
  return summary;
}

// --- note + [FFDATA] block (R16) ---

function oneLine(s: string): string {
  return stripControl(s).replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

export function ffdataLines(activity: Pick<Activity, 'participants' | 'addresses'>, ctx: FfdataContext, opts: MapperOptions): string[] {
  const labels = opts.ffdataLabels ?? { participant: 'Teilnehmer', address: 'Kontakt' };
  const lines: string[] = [];
  for (const id of activity.participants) {
    const u = ctx.users.get(id);
    lines.push(`${labels.participant}: ${oneLine(u ? u.name : id)}`);
  }
  for (const id of activity.addresses) {
    const a = ctx.addresses.get(id);
    if (!a) continue;
    const name = oneLine([a.salutation, a.title, a.firstName, a.lastName].filter(Boolean).join(' '));
    const phone = a.phones.find((p) => p.number.trim() !== '')?.number;
    const parts = [name, oneLine(a.company), phone ? `Tel. ${oneLine(phone)}` : ''].filter(Boolean);
    lines.push(`${labels.address}: ${parts.join(', ')}`);
  }
  return lines;
}

export function buildDescription(note: string, lines: string[]): string {
  const n = stripControl(note).replace(/\r\n?/g, '\n');
  const needsBlock = lines.length > 0 || n.startsWith(FFDATA_MARKER) || n.includes(`\n${FFDATA_MARKER}`);
  if (!needsBlock) return n;
  const block = [FFDATA_MARKER, ...lines].join('\n');
  return n === '' ? block : `${n}\n\n${block}`;
}

/** The note part of a DESCRIPTION: everything before the last line that starts with [FFDATA]. */
export function cutAtFfdata(description: string): string {
  const d = description.replace(/\r\n?/g, '\n');
  const idx = d.lastIndexOf(`\n${FFDATA_MARKER}`);
  if (idx >= 0) {
    const note = d.slice(0, idx);
    return note.endsWith('\n') ? note.slice(0, -1) : note;
  }
  return d.startsWith(FFDATA_MARKER) ? '' : d;
}

// --- times ---

function utcStamp(ms: number): string {
  return `${new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')}`;
}

function stampOf(iso: string): string {
  const t = Date.parse(iso);
  return utcStamp(Number.isNaN(t) ? 0 : t);
}

interface TimeValue {
  date: string | null; // all-day
  ms: number;
}

function parseCrmTime(activity: Activity, field: 'start' | 'end' | 'due', asDate: boolean): TimeValue | null {
  const v = activity[field];
  if (v === null || v === '') return null;
  if (asDate || DATE_ONLY.test(v)) {
    const d = v.slice(0, 10);
    if (!DATE_ONLY.test(d) || Number.isNaN(Date.parse(d))) throw crmFieldError(activity, field, v);
    return { date: d, ms: Date.parse(d) };
  }
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) throw crmFieldError(activity, field, v);
  return { date: null, ms };
}

function crmFieldError(activity: Activity, field: string, value: string): MappingError {
  return new MappingError(`${field} "${value}" is not an ISO 8601 date or date-time`, {
    item: `CRM activity ${activity.id}`,
    remedy: `Correct the ${field} of activity ${activity.id} in the CRM.`,
  });
}

function zoneOf(activity: Activity): string {
  const z = activity.timeZone;
  return z && isIanaZone(z) ? z : 'UTC';
}

function timeLine(name: string, t: TimeValue, zone: string): ContentLine {
  if (t.date) return builtLine(name, t.date.replace(/-/g, ''), [{ name: 'VALUE', values: ['DATE'] }]);
  // An instant in the hour repeated when clocks go back is written in UTC: as a TZID wall time
  // readers take it for different instants (D110).
  if (zone === 'UTC' || wallRepeats(t.ms, zone)) return builtLine(name, utcStamp(t.ms));
  return builtLine(name, icalWall(wallTime(t.ms, zone)), [{ name: 'TZID', values: [zone] }]);
}

function triggerValue(minutes: number): string {
  return minutes >= 0 ? `-PT${minutes}M` : `PT${-minutes}M`;
}

// --- what the CRM owns on the master component ---

interface Owned {
  compName: 'VEVENT' | 'VTODO';
  summary: string;
  description: string;
  start: TimeValue | null;
  end: TimeValue | null;
  due: TimeValue | null;
  zone: string;
  alarmMinutes: number | null;
  isPrivate: boolean;
  done: boolean;
}

function owned(activity: Activity, ctx: FfdataContext, opts: MapperOptions): Owned {
  const isTask = activity.kind === 'task';
  const start = parseCrmTime(activity, 'start', activity.allDay);
  if (!isTask && !start) {
    throw new MappingError('an appointment needs a start', { item: `CRM activity ${activity.id}`, remedy: `Give appointment ${activity.id} a start in the CRM.` });
  }
  const end = isTask ? null : parseCrmTime(activity, 'end', activity.allDay);
  const due = isTask ? parseCrmTime(activity, 'due', activity.allDay) : null;
  // R17: a done activity carries no alarm; an alarm needs a time to be relative to.
  const anchor = isTask ? (due ?? start) : start;
  const alarmMinutes = activity.done || !anchor ? null : activity.alarmMinutes;
  return {
    compName: isTask ? 'VTODO' : 'VEVENT',
    summary: deviceSubject(activity.type, activity.subject, opts.subjectFormat),
    description: buildDescription(activity.note, ffdataLines(activity, ctx, opts)),
    start,
    end,
    due,
    zone: zoneOf(activity),
    alarmMinutes,
    isPrivate: activity.private,
    done: activity.done,
  };
}

function alarmComponent(minutes: number, summary: string, task: boolean, hasDue: boolean): string {
  const trigger = task && hasDue ? `TRIGGER;RELATED=END:${triggerValue(minutes)}` : `TRIGGER:${triggerValue(minutes)}`;
  return `BEGIN:VALARM\r\nACTION:DISPLAY\r\n${formatLine(builtLine('DESCRIPTION', escapeText(summary)))}\r\n${trigger}\r\nEND:VALARM\r\n`;
}

/** The VTIMEZONE the zoned times of `ms` need: right from the first's year to the last's. */
function vtimezoneFor(zone: string, ms: number[]): string {
  const years = ms.map((t) => new Date(t).getUTCFullYear());
  return vtimezone(zone, Math.min(...years), Math.max(...years));
}

/** The instants of the owned times written with TZID (not dates, not UTC: timeLine). */
function zonedInstants(o: Owned, times: Array<TimeValue | null> = [o.start, o.end, o.due]): number[] {
  if (o.zone === 'UTC') return [];
  return times.filter((t): t is TimeValue => t !== null && !t.date && !wallRepeats(t.ms, o.zone)).map((t) => t.ms);
}

export function activityToICal(activity: Activity, ctx: FfdataContext, opts: MapperOptions): string {
  const o = owned(activity, ctx, opts);
  const task = o.compName === 'VTODO';
  let out = `BEGIN:VCALENDAR\r\nVERSION:2.0\r\n${formatLine(builtLine('PRODID', escapeText(opts.prodId ?? DEFAULT_PRODID)))}\r\n`;
  const zoned = zonedInstants(o);
  if (zoned.length) out += vtimezoneFor(o.zone, zoned);
  out += `BEGIN:${o.compName}\r\nUID:${stableUid('activity', activity.id)}\r\nDTSTAMP:${stampOf(activity.updatedAt)}\r\n`;
  out += `${formatLine(builtLine('SUMMARY', escapeText(o.summary)))}\r\n`;
  if (o.start) out += `${formatLine(timeLine('DTSTART', o.start, o.zone))}\r\n`;
  if (o.end) out += `${formatLine(timeLine('DTEND', o.end, o.zone))}\r\n`;
  if (o.due) out += `${formatLine(timeLine('DUE', o.due, o.zone))}\r\n`;
  if (o.description) out += `${formatLine(builtLine('DESCRIPTION', escapeText(o.description)))}\r\n`;
  if (o.isPrivate) out += 'CLASS:PRIVATE\r\n';
  if (task) {
    out += o.done ? `STATUS:COMPLETED\r\nCOMPLETED:${stampOf(activity.updatedAt)}\r\nPERCENT-COMPLETE:100\r\n` : 'STATUS:NEEDS-ACTION\r\n';
  } else if (o.done) out += `${DONE_MARKER}:TRUE\r\n`;
  if (o.alarmMinutes !== null) out += alarmComponent(o.alarmMinutes, o.summary, task, o.due !== null);
  return `${out}END:${o.compName}\r\nEND:VCALENDAR\r\n`;
}

// --- reading ---

interface ParsedCal {
  root: ComponentNode;
  cal: ComponentNode;
  master: ComponentNode;
  tzs: Map<string, ComponentNode>;
  series: boolean;
}

function parseCal(raw: string | Buffer): ParsedCal {
  const root = parseItem(raw);
  const cal = root.children.find((c): c is ComponentNode => isComponent(c) && c.name === 'VCALENDAR');
  if (!cal) throw new MappingError('no BEGIN:VCALENDAR component', { line: 1 });
  const items = childComponents(cal).filter((c) => c.name === 'VEVENT' || c.name === 'VTODO');
  // The master is the component without RECURRENCE-ID; overrides of device series stay untouched.
  const master = items.find((c) => !childLines(c).some((l) => l.name === 'RECURRENCE-ID')) ?? items[0];
  if (!master) throw new MappingError('the calendar holds no VEVENT or VTODO', { line: cal.begin.lineNo });
  // D4: a series is a master with RRULE/RDATE, a master with overrides, or overrides without a
  // master (Apple writes invitations to single occurrences so): the CRM has no recurrence.
  const series =
    items.length > 1 ||
    childLines(master).some((l) => l.name === 'RRULE' || l.name === 'RDATE' || l.name === 'RECURRENCE-ID');
  const tzs = new Map<string, ComponentNode>();
  for (const tz of childComponents(cal, 'VTIMEZONE')) {
    const id = childLines(tz).find((l) => l.name === 'TZID');
    if (id) tzs.set(unescapeText(id.value).trim(), tz);
  }
  validateWithIcal(serializeRoot(root));
  return { root, cal, master, tzs, series };
}

function validateWithIcal(text: string): void {
  try {
    ICAL.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    const q = /"([^"]*)"|'([^']*)'/.exec(msg);
    const needle = q ? (q[1] ?? q[2] ?? '') : '';
    const lines = text.split('\r\n');
    const idx = needle ? lines.findIndex((l) => l.includes(needle)) : -1;
    throw new MappingError(`rejected by the iCalendar parser: ${msg}`, idx >= 0 ? { line: idx + 1, lineText: lines[idx], cause: e } : { cause: e });
  }
}

interface ReadTime {
  date: string | null;
  ms: number;
  iso: string;
  /** IANA zone of the value; null for UTC, floating read as UTC, or a zone known only by its VTIMEZONE. */
  zone: string | null;
}

const icalTzCache = new WeakMap<ComponentNode, ICAL.Timezone>();

/** ical.js's evaluator of a VTIMEZONE from the item, once it is known to be bounded. */
function icalTimezone(tzComp: ComponentNode, tzid: string): ICAL.Timezone {
  let tz = icalTzCache.get(tzComp);
  if (!tz) {
    assertEvaluableVTimezone(tzComp, tzid); // bounded: no rule that repeats every second (docs/security.md)
    tz = new ICAL.Timezone(new ICAL.Component(ICAL.parse(serializeComponent(tzComp))));
    icalTzCache.set(tzComp, tz);
  }
  return tz;
}

/**
 * Whether a client that evaluates the item's VTIMEZONE (ical.js: Thunderbird) reads the zone's
 * wall time of `ms` as `ms`. A VTIMEZONE that cannot be evaluated safely does not agree.
 */
function icalJsAgrees(tzComp: ComponentNode, zone: string, ms: number): boolean {
  try {
    const w = wallTime(ms, zone);
    const t = ICAL.Time.fromData({ year: w.y, month: w.mo, day: w.d, hour: w.h, minute: w.mi, second: w.s, isDate: false }, icalTimezone(tzComp, zone));
    return t.toUnixTime() * 1000 === Math.floor(ms / 1000) * 1000;
  } catch {
    return false;
  }
}

function readTime(line: ContentLine, tzs: Map<string, ComponentNode>, opts: MapperOptions): ReadTime {
  const v = line.value.trim();
  const bad = (why: string) => new MappingError(`${line.name} ${why}`, { line: line.lineNo || undefined, lineText: `${line.name}:${line.value}` });
  const dm = /^(\d{4})(\d{2})(\d{2})$/.exec(v);
  if (dm || paramValues(line, 'VALUE').some((x) => x.toUpperCase() === 'DATE')) {
    if (!dm) throw bad('is not a date (YYYYMMDD)');
    const date = `${dm[1]}-${dm[2]}-${dm[3]}`;
    const ms = Date.parse(date);
    if (Number.isNaN(ms)) throw bad('is not a valid date');
    return { date, ms, iso: date, zone: null };
  }
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(Z?)$/.exec(v);
  if (!m) throw bad('is not a date-time (YYYYMMDDTHHMMSS[Z])');
  const w = { y: +m[1]!, mo: +m[2]!, d: +m[3]!, h: +m[4]!, mi: +m[5]!, s: +m[6]! };
  if (w.mo < 1 || w.mo > 12 || w.d < 1 || w.d > 31 || w.h > 23 || w.mi > 59 || w.s > 60) throw bad('is not a valid date-time');
  if (m[7]) {
    const ms = Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s);
    return { date: null, ms, iso: isoWithOffset(ms, 'UTC'), zone: null };
  }
  const tzid = paramValues(line, 'TZID')[0];
  if (tzid === undefined) {
    const zone = opts.defaultTimeZone && isIanaZone(opts.defaultTimeZone) ? opts.defaultTimeZone : 'UTC';
    const ms = wallToInstant(w, zone);
    return { date: null, ms, iso: isoWithOffset(ms, zone), zone: zone === 'UTC' ? null : zone };
  }
  const iana = ianaFromTzid(tzid);
  if (iana) {
    const ms = wallToInstant(w, iana);
    return { date: null, ms, iso: isoWithOffset(ms, iana), zone: iana === 'UTC' ? null : iana };
  }
  const tzComp = tzs.get(tzid.trim());
  if (!tzComp) throw bad(`uses time zone "${tzid}", which is neither an IANA name nor defined by a VTIMEZONE in the item`);
  // Custom zone (Outlook/Exchange names not in our table): ical.js evaluates the VTIMEZONE rules.
  const tz = icalTimezone(tzComp, tzid);
  const t = ICAL.Time.fromData({ year: w.y, month: w.mo, day: w.d, hour: w.h, minute: w.mi, second: w.s, isDate: false }, tz);
  const ms = t.toUnixTime() * 1000;
  const off = Math.round(tz.utcOffset(t) / 60);
  return { date: null, ms, iso: `${pad(w.y, 4)}-${pad(w.mo)}-${pad(w.d)}T${pad(w.h)}:${pad(w.mi)}:${pad(w.s)}${formatOffset(off)}`, zone: null };
}

function durationSeconds(line: ContentLine): number {
  try {
    return ICAL.Duration.fromString(line.value.trim()).toSeconds();
  } catch (e) {
    throw new MappingError(`${line.name} is not a duration`, { line: line.lineNo || undefined, lineText: `${line.name}:${line.value}`, cause: e });
  }
}

/** A DISPLAY or AUDIO alarm with a trigger: one that can be the CRM's alarm (M7). */
function isDisplayAlarm(c: ComponentNode): boolean {
  if (c.name !== 'VALARM') return false;
  const lines = childLines(c);
  const action = lines.find((l) => l.name === 'ACTION')?.value.trim().toUpperCase() ?? '';
  return (action === 'DISPLAY' || action === 'AUDIO') && lines.some((l) => l.name === 'TRIGGER');
}

function isAbsoluteTrigger(trigger: ContentLine): boolean {
  return paramValues(trigger, 'VALUE').some((v) => v.toUpperCase() === 'DATE-TIME');
}

/**
 * M7: the CRM owns exactly one alarm: the first DISPLAY/AUDIO alarm of the master, with a relative
 * or an absolute trigger. Every other alarm (further reminders, e-mail alarms, Apple's
 * ACTION:NONE placeholder) is the device's and is never touched.
 */
function ownedAlarm(master: ComponentNode): ComponentNode | undefined {
  return childComponents(master).find(isDisplayAlarm);
}

interface MasterTimes {
  start: ReadTime | null;
  end: ReadTime | null;
  due: ReadTime | null;
}

function readMasterTimes(master: ComponentNode, tzs: Map<string, ComponentNode>, opts: MapperOptions): MasterTimes {
  const lines = childLines(master);
  const get = (n: string) => lines.find((l) => l.name === n);
  const dtstart = get('DTSTART');
  const start = dtstart ? readTime(dtstart, tzs, opts) : null;
  let end: ReadTime | null = null;
  let due: ReadTime | null = null;
  if (master.name === 'VEVENT') {
    const dtend = get('DTEND');
    const dur = get('DURATION');
    if (dtend) end = readTime(dtend, tzs, opts);
    else if (dur && start) {
      const ms = start.ms + durationSeconds(dur) * 1000;
      if (start.date) {
        const date = new Date(ms).toISOString().slice(0, 10);
        end = { date, ms, iso: date, zone: null };
      } else {
        const zone = start.zone ?? 'UTC';
        end = { date: null, ms, iso: isoWithOffset(ms, zone), zone: start.zone };
      }
    } else if (start) {
      // RFC 5545 §3.6.1: without DTEND or DURATION an event on a date lasts that day, a timed one
      // ends when it starts. Read so, the CRM gets an end its own rules accept (D32) and a patch
      // does not add a DTEND the device never wrote.
      if (start.date) {
        const ms = start.ms + 86_400_000;
        const date = new Date(ms).toISOString().slice(0, 10);
        end = { date, ms, iso: date, zone: null };
      } else end = { ...start };
    }
  } else {
    const d = get('DUE');
    if (d) due = readTime(d, tzs, opts);
  }
  return { start, end, due };
}

function readAlarmMinutes(master: ComponentNode, t: MasterTimes, opts: MapperOptions): number | null {
  const alarm = ownedAlarm(master);
  if (!alarm) return null;
  return alarmMinutesOf(alarm, master.name === 'VTODO', t, opts);
}

/** Minutes before start (appointments) or due (tasks) at which the alarm fires. */
function alarmMinutesOf(alarm: ComponentNode, task: boolean, t: { start: { ms: number } | null; end: { ms: number } | null; due: { ms: number } | null }, opts: MapperOptions): number | null {
  const trigger = childLines(alarm).find((l) => l.name === 'TRIGGER')!;
  const reference = task ? (t.due ?? t.start) : t.start;
  if (isAbsoluteTrigger(trigger)) {
    // iOS Reminders, Outlook: a fixed time (R14). Without a start or due it cannot be "before".
    const at = readTime(trigger, new Map(), opts);
    return reference ? Math.round((reference.ms - at.ms) / 60000) : null;
  }
  const secs = durationSeconds(trigger);
  const relEnd = paramValues(trigger, 'RELATED').some((v) => v.toUpperCase() === 'END');
  const anchor = relEnd ? (task ? t.due : (t.end ?? t.start)) : t.start;
  if (!reference || !anchor) return Math.round(-secs / 60);
  return Math.round((reference.ms - (anchor.ms + secs * 1000)) / 60000);
}

export function iCalToActivity(raw: string | Buffer, opts: MapperOptions, knownType?: string): DeviceActivity {
  const { master, tzs, series } = parseCal(raw);
  const lines = childLines(master);
  const get = (n: string) => lines.find((l) => l.name === n);
  const task = master.name === 'VTODO';
  const t = readMasterTimes(master, tzs, opts);
  if (!task && !t.start) throw new MappingError('the VEVENT has no DTSTART', { line: master.begin.lineNo });
  const status = get('STATUS')?.value.trim().toUpperCase();
  const done = task ? status === 'COMPLETED' || (status === undefined && get('COMPLETED') !== undefined) : get(DONE_MARKER)?.value.trim().toUpperCase() === 'TRUE';
  const alarmMinutes = readAlarmMinutes(master, t, opts);
  const cls = get('CLASS')?.value.trim().toUpperCase();
  const summary = unescapeText(get('SUMMARY')?.value ?? '');
  const fields: ActivityFields = {
    subject: stripSubjectPrefix(summary, knownType, opts.subjectFormat),
    start: t.start?.iso ?? null,
    end: t.end?.iso ?? null,
    allDay: task ? (t.due ?? t.start)?.date != null : t.start?.date != null,
    timeZone: (t.start ?? t.due)?.zone ?? null,
    due: t.due?.iso ?? null,
    alarmMinutes,
    note: cutAtFfdata(unescapeText(get('DESCRIPTION')?.value ?? '')),
    done,
  };
  return {
    uid: unescapeText(get('UID')?.value ?? '').trim(),
    kind: task ? 'task' : 'appointment',
    fields,
    isPrivate: cls === 'PRIVATE' || cls === 'CONFIDENTIAL',
    recurring: series,
  };
}

// --- patching (R14–R18): only the properties the CRM owns change ---

export function patchICal(existing: string, activity: Activity, ctx: FfdataContext, opts: MapperOptions): string {
  const { root, cal, master, tzs } = parseCal(existing);
  const o = owned(activity, ctx, opts);
  if (master.name !== o.compName) {
    throw new MappingError(`the device item is a ${master.name} but CRM activity ${activity.id} is a ${activity.kind}`, { line: master.begin.lineNo });
  }
  const task = o.compName === 'VTODO';
  let changed = false;
  const lines = () => childLines(master);
  const find = (n: string) => lines().filter((l) => l.name === n);

  /** Sets a single-instance property (null removes it); inserted before the first subcomponent. */
  const set = (name: string, line: ContentLine | null) => {
    const present = find(name);
    if (line === null) {
      if (present.length) {
        master.children = master.children.filter((c) => isComponent(c) || c.name !== name);
        changed = true;
      }
      return;
    }
    // A replaced line keeps the device's group and parameters (SUMMARY;LANGUAGE=en-us stays so);
    // for times only the parameters that carry the value's form (TZID, VALUE) are ours.
    const dev = present[0];
    if (dev) line = keepDeviceParams(dev, line);
    if (present.length === 1 && present[0]!.value === line.value && sameParams(present[0]!, line)) return;
    const idx = master.children.findIndex((c) => !isComponent(c) && c.name === name);
    master.children = master.children.filter((c) => isComponent(c) || c.name !== name);
    const at = idx >= 0 ? idx : firstComponentIndex(master);
    master.children.splice(at, 0, line);
    changed = true;
  };

  const times = readMasterTimes(master, tzs, opts);
  const sameTime = (have: ReadTime | null, want: TimeValue | null) =>
    have === null || want === null ? have === want : want.date !== null ? have.date === want.date : have.date === null && have.ms === want.ms;
  const written: Array<TimeValue | null> = [];
  const setTime = (name: string, have: ReadTime | null, want: TimeValue | null) => {
    // A device that shows the same instant in another zone is left alone (R14 compares instants).
    if (sameTime(have, want)) return;
    set(name, want ? timeLine(name, want, o.zone) : null);
    written.push(want);
  };

  const summaryLine = find('SUMMARY')[0];
  if (!summaryLine || unescapeText(summaryLine.value) !== stripControl(o.summary).replace(/\r\n?/g, '\n')) set('SUMMARY', builtLine('SUMMARY', escapeText(o.summary)));
  setTime('DTSTART', times.start, o.start);
  if (task) setTime('DUE', times.due, o.due);
  else {
    const endSame = sameTime(times.end, o.end);
    if (!endSame || (find('DURATION').length > 0 && o.end !== null && !sameTime(times.start, o.start))) {
      set('DURATION', null);
      set('DTEND', o.end ? timeLine('DTEND', o.end, o.zone) : null);
      written.push(o.end);
    }
  }
  const descLine = find('DESCRIPTION')[0];
  const curDesc = descLine ? unescapeText(descLine.value).replace(/\r\n?/g, '\n') : '';
  if (curDesc !== o.description) set('DESCRIPTION', o.description ? builtLine('DESCRIPTION', escapeText(o.description)) : null);

  const cls = find('CLASS')[0]?.value.trim().toUpperCase();
  const devPrivate = cls === 'PRIVATE' || cls === 'CONFIDENTIAL';
  if (o.isPrivate && !devPrivate) set('CLASS', builtLine('CLASS', 'PRIVATE'));
  else if (!o.isPrivate && devPrivate) set('CLASS', null);

  // Done as the device held it before this patch: R17 silences the alarm when the CRM marks the
  // item done; an item the device already holds as done keeps its alarms (M7).
  const wasDone = task
    ? (() => {
        const st = find('STATUS')[0]?.value.trim().toUpperCase();
        return st === 'COMPLETED' || (st === undefined && find('COMPLETED').length > 0);
      })()
    : find(DONE_MARKER)[0]?.value.trim().toUpperCase() === 'TRUE';
  if (task) {
    const status = find('STATUS')[0]?.value.trim().toUpperCase();
    const devDone = status === 'COMPLETED' || (status === undefined && find('COMPLETED').length > 0);
    if (o.done !== devDone) {
      set('STATUS', builtLine('STATUS', o.done ? 'COMPLETED' : 'NEEDS-ACTION'));
      set('COMPLETED', o.done ? builtLine('COMPLETED', stampOf(activity.updatedAt)) : null);
      const pct = find('PERCENT-COMPLETE')[0];
      if (o.done) set('PERCENT-COMPLETE', builtLine('PERCENT-COMPLETE', '100'));
      else if (pct && pct.value.trim() === '100') set('PERCENT-COMPLETE', null);
    }
  } else {
    const devDone = find(DONE_MARKER)[0]?.value.trim().toUpperCase() === 'TRUE';
    if (o.done !== devDone) set(DONE_MARKER, o.done ? builtLine(DONE_MARKER, 'TRUE') : null);
  }

  // Alarm (M7): the CRM owns one alarm. A change rewrites that alarm's TRIGGER alone (its
  // DESCRIPTION, UID, sound, ACKNOWLEDGED stay); "no alarm" removes that one; the device's further
  // alarms (and e-mail or ACTION:NONE alarms) are never touched.
  const mine = ownedAlarm(master);
  // Compared against the times the item will have: a relative trigger moves with its anchor, an
  // absolute one does not.
  const target = { start: o.start, end: o.end, due: o.due };
  const curMinutes = mine ? alarmMinutesOf(mine, task, target, opts) : null;
  if (o.done && wasDone) {
    // already done on the device: nothing of the alarm is the CRM's to change
  } else if (o.alarmMinutes === null) {
    if (mine) {
      master.children = master.children.filter((c) => c !== mine);
      changed = true;
    }
  } else if (!mine) {
    const alarmRoot = parseItem(alarmComponent(o.alarmMinutes, o.summary, task, o.due !== null));
    master.children.push(...childComponents(alarmRoot));
    changed = true;
  } else if (curMinutes !== o.alarmMinutes) {
    const old = childLines(mine).find((l) => l.name === 'TRIGGER')!;
    const reference = task ? (o.due ?? o.start) : o.start;
    let trigger: ContentLine;
    if (isAbsoluteTrigger(old) && reference) trigger = { ...old, value: utcStamp(reference.ms - o.alarmMinutes * 60000), params: [{ name: 'VALUE', values: ['DATE-TIME'] }], head: null, original: null };
    else if (task && o.due !== null) trigger = builtLine('TRIGGER', triggerValue(o.alarmMinutes), [{ name: 'RELATED', values: ['END'] }]);
    else trigger = builtLine('TRIGGER', triggerValue(o.alarmMinutes));
    mine.children = mine.children.map((c) => (c === old ? trigger : c));
    changed = true;
  }

  if (!changed) return existing;

  // Times written with our TZID need its VTIMEZONE, and one that gives them their instants: the
  // device's own is kept when it does (byte for byte), else replaced by one right for the years of
  // the item's times before and after the patch (D111).
  const zoned = zonedInstants(o, written);
  const have = tzs.get(o.zone);
  if (zoned.length && (!have || !zoned.every((ms) => icalJsAgrees(have, o.zone, ms)))) {
    const before = [times.start, times.end, times.due].filter((t): t is ReadTime => t !== null && t.date === null).map((t) => t.ms);
    const tzRoot = parseItem(vtimezoneFor(o.zone, [...zoned, ...before]));
    const at = have ? cal.children.indexOf(have) : cal.children.findIndex((c) => isComponent(c) && (c.name === 'VEVENT' || c.name === 'VTODO'));
    cal.children.splice(at < 0 ? cal.children.length : at, have ? 1 : 0, ...childComponents(tzRoot));
  }
  const stamp = stampOf(activity.updatedAt);
  set('DTSTAMP', builtLine('DTSTAMP', stamp));
  if (find('LAST-MODIFIED').length) set('LAST-MODIFIED', builtLine('LAST-MODIFIED', stamp));
  const seq = find('SEQUENCE')[0];
  if (seq && /^\d+$/.test(seq.value.trim())) set('SEQUENCE', builtLine('SEQUENCE', String(Number(seq.value.trim()) + 1)));
  if (opts.prodId) {
    const idx = cal.children.findIndex((c) => !isComponent(c) && c.name === 'PRODID');
    const line = builtLine('PRODID', escapeText(opts.prodId));
    if (idx >= 0) cal.children[idx] = line;
    else cal.children.unshift(line);
  }
  return serializeRoot(root);
}

const VALUE_FORM_PARAMS = new Set(['TZID', 'VALUE']);
// Parameters describing a value that is replaced: they would be wrong for the new value.
const VALUE_BOUND_PARAMS = new Set(['ALTREP', 'ENCODING', 'FMTTYPE']);

function keepDeviceParams(dev: ContentLine, line: ContentLine): ContentLine {
  const timeLike = VALUE_FORM_PARAMS.has(line.params[0]?.name ?? '') || /^(DTSTART|DTEND|DUE|COMPLETED|DTSTAMP|LAST-MODIFIED)$/.test(line.name);
  const kept = dev.params.filter((p) => !VALUE_BOUND_PARAMS.has(p.name) && !(timeLike && VALUE_FORM_PARAMS.has(p.name)) && !line.params.some((q) => q.name === p.name));
  if (kept.length === dev.params.length && line.params.length === 0 && dev.head !== null) return { ...line, group: dev.group, head: dev.head };
  return { ...line, group: dev.group, params: [...kept, ...line.params], head: null };
}

function sameParams(a: ContentLine, b: ContentLine): boolean {
  const f = (l: ContentLine) => l.params.map((p) => `${p.name}=${p.values.join(',')}`.toUpperCase()).sort().join(';');
  return f(a) === f(b);
}

function firstComponentIndex(node: ComponentNode): number {
  const i = node.children.findIndex((c) => isComponent(c));
  return i < 0 ? node.children.length : i;
}

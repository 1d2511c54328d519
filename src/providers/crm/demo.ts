// The demo CRM of `crm init --demo`: a realistic German sample, deterministic for a given day
// (seeded PRNG) with dates relative to today so that appointments lie around now, some across
// the last and the next daylight-saving change in Europe/Berlin. All names are invented.
import type { ExchangeDocument } from './exchange.js';
import { wallTimeToIso, zoneOffsetMinutes } from './time.js';

const ZONE = 'Europe/Berlin';

/** mulberry32: small, fast, good enough for sample data, and the same on every platform. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Day { y: number; m: number; d: number }

interface DemoAddress {
  id: string; company: string; salutation: string; title: string; firstName: string; lastName: string; street: string;
  postalCode: string; city: string; country: string; fax: string; email: string; note: string;
  phones: { number: string; remark: string }[]; private: boolean; owner: string; tags: string[];
}

function berlinToday(now: Date): Day {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone: ZONE, year: 'numeric', month: '2-digit', day: '2-digit' }).formatToParts(now);
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value);
  return { y: get('year'), m: get('month'), d: get('day') };
}

function addDays(day: Day, n: number): Day {
  const t = new Date(Date.UTC(day.y, day.m - 1, day.d + n, 12));
  return { y: t.getUTCFullYear(), m: t.getUTCMonth() + 1, d: t.getUTCDate() };
}

function dateText(day: Day): string {
  return `${day.y}-${String(day.m).padStart(2, '0')}-${String(day.d).padStart(2, '0')}`;
}

function at(day: Day, h: number, mi = 0): string {
  return wallTimeToIso(ZONE, day.y, day.m, day.d, h, mi);
}

/** Days (offsets from today) on which Europe/Berlin changes its UTC offset overnight. */
function dstChangeOffsets(today: Day): { last: number; next: number } {
  const offsetAt = (n: number) => {
    const day = addDays(today, n);
    return zoneOffsetMinutes(ZONE, new Date(Date.UTC(day.y, day.m - 1, day.d, 12)));
  };
  let last = -1;
  while (last > -370 && offsetAt(last) === offsetAt(last - 1)) last--;
  let next = 1;
  while (next < 370 && offsetAt(next) === offsetAt(next - 1)) next++;
  return { last, next };
}

const USERS = [
  { id: 'u1', login: 'mmueller', name: 'Max Müller', email: 'm.mueller@immo-sued.example', userTag: 'MM', addressTags: ['MM', 'VIP'], activityTags: ['MM'] },
  { id: 'u2', login: 'sschaefer', name: 'Sabine Schäfer', email: 's.schaefer@immo-sued.example', userTag: 'SS', addressTags: ['SS', 'Team Süd'], activityTags: ['SS', 'Team Süd'] },
  { id: 'u3', login: 'jkoenig', name: 'Jürgen König', email: 'j.koenig@immo-sued.example', userTag: 'JK', addressTags: ['JK', 'Team Süd'], activityTags: ['JK'] },
  { id: 'u4', login: 'aoezdemir', name: 'Ayşe Özdemir', email: 'a.oezdemir@immo-sued.example', userTag: 'AÖ', addressTags: ['AÖ', 'VIP'], activityTags: ['AÖ'] },
];

const COMPANIES = [
  'Bäckerei Würzburger GmbH', 'Müller & Söhne Immobilien KG', 'Hausverwaltung Köhler', 'Schröder Bau GmbH & Co. KG',
  'Grünflächen Weiß', 'Brückner Steuerberatung', 'Café Sößl', 'Autohaus Jäger', 'Notariat Dr. Lübke', 'Elektro Hölzl GmbH',
  'Fußboden Krämer', 'Gärtnerei Blümel', 'Architekturbüro Groß & Partner', 'Malerbetrieb Förster', 'Möbelhaus Däubler',
  'Zahnarztpraxis Dr. Sünkel', 'Kanzlei Öztürk & Wagner', 'Stadtwerke Süd AG', 'Ärztehaus am Markt', 'Reisebüro Fernweh',
];
const FIRST = ['Jürgen', 'Käthe', 'Björn', 'Sönke', 'Günther', 'Hans-Jörg', 'Doris', 'Anja', 'Lea', 'Mustafa', 'Zoë', 'Jörg', 'Bärbel', 'Ülkü', 'René', 'Marlene', 'Thomas', 'Anna-Lena', 'Frauke', 'Henrik'];
/** The salutation that fits each first name (Ülkü is a woman's name; René here a man's). */
const SALUTATION: Record<string, 'Frau' | 'Herr'> = {
  Jürgen: 'Herr', Käthe: 'Frau', Björn: 'Herr', Sönke: 'Herr', Günther: 'Herr', 'Hans-Jörg': 'Herr', Doris: 'Frau', Anja: 'Frau', Lea: 'Frau', Mustafa: 'Herr',
  Zoë: 'Frau', Jörg: 'Herr', Bärbel: 'Frau', Ülkü: 'Frau', René: 'Herr', Marlene: 'Frau', Thomas: 'Herr', 'Anna-Lena': 'Frau', Frauke: 'Frau', Henrik: 'Herr',
};
const LAST = ['Müller', 'Schäfer', 'Köhler', 'Weiß', 'Groß', 'Böhm', 'Krüger', 'Höfer', 'Lößl', 'Fuchs', 'Schröder', 'Bäumer', 'Jäger', 'Nußbaum', 'Özdemir', 'Wächter', 'Dürr', 'Hoffmann', 'Kühn', 'Strauß'];
const STREETS = ['Hauptstraße', 'Königsallee', 'Lindenstraße', 'Am Bürgerpark', 'Rosenweg', 'Schloßstraße', 'Mühlgasse', 'Gärtnerplatz', 'Bahnhofstraße', 'Höhenweg'];
const CITIES: [string, string, string][] = [
  ['80331', 'München', 'Deutschland'], ['50667', 'Köln', 'Deutschland'], ['20095', 'Hamburg', 'Deutschland'],
  ['70173', 'Stuttgart', 'Deutschland'], ['04109', 'Leipzig', 'Deutschland'], ['90403', 'Nürnberg', 'Deutschland'],
  ['79098', 'Freiburg im Breisgau', 'Deutschland'], ['97070', 'Würzburg', 'Deutschland'], ['66111', 'Saarbrücken', 'Deutschland'],
  ['6020', 'Innsbruck', 'Österreich'], ['8001', 'Zürich', 'Schweiz'],
];
const REMARKS = ['Zentrale', 'Durchwahl', 'mobil', 'nur vormittags', 'Sekretariat', 'privat', 'Notfall', 'Hausmeister', 'Buchhaltung', ''];
const APPOINTMENT_TYPES = ['Termin extern', 'Termin intern', 'Besichtigung', 'Telefonat'];
const SUBJECTS = ['Besichtigung {street}', 'Notartermin {name}', 'Exposé-Fotos {street}', 'Mietvertrag unterschreiben', 'Eigentümerversammlung {city}', 'Übergabe Schlüssel {street}', 'Beratungsgespräch {name}', 'Wertermittlung {street}'];
const TASKS = ['Exposé schicken', 'Grundbuchauszug anfordern', 'Rückruf {name}', 'Energieausweis prüfen', 'Nebenkostenabrechnung prüfen', 'Fotos bearbeiten', 'Angebot nachfassen', 'Unterlagen für Bank zusammenstellen', 'Schlüssel abholen', 'Termin mit Gutachter vereinbaren', 'Kündigung bestätigen', 'Mängelliste an Hausverwaltung'];

/** The demo exchange document for `now` (default: the current time). */
export function generateDemoCrm(now: Date = new Date(), seed = 20261123): ExchangeDocument {
  const rnd = prng(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)] as T;
  const today = berlinToday(now);
  const phoneNumber = (city: string) => {
    const area = city === 'München' ? '89' : city === 'Köln' ? '221' : city === 'Hamburg' ? '40' : String(300 + Math.floor(rnd() * 600));
    return rnd() < 0.3 ? `+49 1${5 + Math.floor(rnd() * 3)}${Math.floor(rnd() * 10)} ${1000000 + Math.floor(rnd() * 8999999)}` : `+49 ${area} ${10000 + Math.floor(rnd() * 89999)}-${Math.floor(rnd() * 99)}`;
  };

  const addresses: DemoAddress[] = [];
  for (let i = 1; i <= 64; i++) {
    const owner = USERS[i % USERS.length]!;
    const [postalCode, city, country] = pick(CITIES);
    const first = pick(FIRST);
    const last = pick(LAST);
    const company = i % 3 === 0 ? '' : pick(COMPANIES);
    const isPrivate = i % 9 === 0;
    const tags = isPrivate ? [owner.userTag] : [owner.userTag];
    if (!isPrivate && i % 4 === 0) tags.push(pick(USERS).userTag);
    if (!isPrivate && i % 7 === 0) tags.push('VIP');
    if (!isPrivate && (city === 'München' || city === 'Stuttgart' || city === 'Freiburg im Breisgau')) tags.push('Team Süd');
    const phoneCount = i % 11 === 0 ? 10 : Math.floor(rnd() * 5);
    const phones = Array.from({ length: phoneCount }, (_, p) => ({ number: phoneNumber(city), remark: p === 0 ? 'Zentrale' : pick(REMARKS) }));
    rnd(); // (was the salutation coin; kept so the rest of the sample stays as it was)
    const mail = `${first}.${last}`.toLowerCase().replace(/ä/g, 'ae').replace(/ö/g, 'oe').replace(/ü/g, 'ue').replace(/ß/g, 'ss').replace(/[^a-z.-]/g, '');
    addresses.push({
      id: `a${i}`, company, salutation: SALUTATION[first] ?? '', title: i % 10 === 0 ? 'Dr.' : '',
      firstName: first, lastName: last, street: `${pick(STREETS)} ${1 + Math.floor(rnd() * 120)}`, postalCode, city, country,
      fax: company && rnd() < 0.4 ? phoneNumber(city).replace(/-\d+$/, '-99') : '', email: `${mail}@example.de`,
      note: isPrivate ? 'Privatkontakt' : i % 5 === 0 ? 'Kunde seit 2019, bevorzugt Rückruf am Vormittag' : '',
      phones, private: isPrivate, owner: owner.id, tags: [...new Set(tags)],
    });
  }

  const nameOf = (a: DemoAddress) => a.company || `${a.firstName} ${a.lastName}`;
  const fill = (template: string, a: (typeof addresses)[number]) =>
    template.replace('{street}', a.street).replace('{name}', nameOf(a)).replace('{city}', a.city);
  const activities: Record<string, unknown>[] = [];
  const appointment = (day: Day, opts: { allDay?: boolean; days?: number; h?: number; mi?: number; minutes?: number; endAt?: string; subject?: string }) => {
    const n = activities.length + 1;
    const owner = USERS[n % USERS.length]!;
    const other = USERS[(n + 1) % USERS.length]!;
    const linked = addresses[(n * 7) % addresses.length]!;
    const isPrivate = n % 10 === 0;
    const participants = isPrivate || n % 3 ? [owner.id] : [owner.id, other.id];
    const tags = [...new Set(participants.map((p) => USERS.find((u) => u.id === p)!.userTag))];
    if (!isPrivate && n % 5 === 0) tags.push('Team Süd');
    const past = Date.parse(at(day, 23, 0)) < now.getTime();
    const start = opts.allDay ? dateText(day) : at(day, opts.h ?? 9, opts.mi ?? 0);
    const end = opts.allDay
      ? dateText(addDays(day, opts.days ?? 1))
      : opts.endAt ?? new Date(Date.parse(start) + (opts.minutes ?? 60) * 60_000).toISOString();
    activities.push({
      id: `t${n}`, kind: 'appointment', type: pick(APPOINTMENT_TYPES),
      subject: opts.subject ?? fill(pick(SUBJECTS), linked), start,
      // Timed ends are written with the zone's offset, as the CRM shows them.
      end: opts.allDay || opts.endAt ? end : isoInBerlin(end),
      allDay: Boolean(opts.allDay), timeZone: ZONE,
      alarmMinutes: opts.allDay ? null : pick([null, 15, 30, 60, 1440]),
      note: n % 4 === 0 ? 'Unterlagen mitbringen: Grundriss, Energieausweis' : '',
      done: past && n % 2 === 0, private: isPrivate, owner: owner.id, participants,
      addresses: n % 6 === 5 ? [] : n % 4 === 0 ? [linked.id, addresses[(n * 11) % addresses.length]!.id] : [linked.id],
      tags,
    });
  };

  for (let k = 0; k < 40; k++) {
    const day = addDays(today, -14 + Math.floor((k * 45) / 40));
    if (k % 7 === 3) appointment(day, { allDay: true, days: k % 14 === 3 ? 3 : 1 });
    else appointment(day, { h: 8 + (k % 10), mi: k % 2 ? 30 : 0, minutes: pick([30, 60, 90, 120]) });
  }
  // Around the daylight-saving changes: timed items through the switch night, all-day spans over it.
  for (const offset of Object.values(dstChangeOffsets(today))) {
    const change = addDays(today, offset);
    const eve = addDays(change, -1);
    appointment(eve, { h: 23, mi: 0, endAt: at(change, 4, 0), subject: 'Nachtdienst Hausnotruf (Zeitumstellung)' });
    appointment(change, { h: 1, mi: 30, endAt: at(change, 3, 30), subject: 'Serverwartung Exposé-Portal (Zeitumstellung)' });
    appointment(eve, { allDay: true, days: 3, subject: 'Messe Immobilien Süd' });
    appointment(addDays(change, 1), { h: 10, minutes: 60 });
  }

  TASKS.forEach((template, k) => {
    const n = activities.length + 1;
    const owner = USERS[k % USERS.length]!;
    const linked = addresses[(k * 5 + 2) % addresses.length]!;
    const dueDay = addDays(today, -6 + k * 2);
    activities.push({
      id: `t${n}`, kind: 'task', type: 'Aufgabe', subject: fill(template, linked), start: null, end: null, allDay: false,
      timeZone: k % 3 === 0 ? null : ZONE, due: k % 3 === 0 ? dateText(dueDay) : at(dueDay, 17, 0),
      alarmMinutes: k % 4 === 1 ? 60 : null, note: k % 2 ? '' : 'Bitte bis Fälligkeit erledigen.',
      done: k < 4 && k % 2 === 0, private: k === 7, owner: owner.id, participants: [owner.id],
      addresses: [linked.id], tags: [owner.userTag],
    });
  });

  return {
    users: USERS.map((u) => ({ ...u, importAppointmentType: 'Termin extern', importTaskType: 'Aufgabe' })),
    addresses: addresses.map((a) => ({ ...a })),
    activities,
  };
}

function isoInBerlin(utcIso: string): string {
  const d = new Date(utcIso);
  const offset = zoneOffsetMinutes(ZONE, d);
  const local = new Date(d.getTime() + offset * 60_000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${local.getUTCFullYear()}-${p(local.getUTCMonth() + 1)}-${p(local.getUTCDate())}T${p(local.getUTCHours())}:${p(local.getUTCMinutes())}:00+${p(offset / 60)}:00`;
}

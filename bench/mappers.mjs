// Mapper throughput: map + hash N addresses and N appointments on one core.
// Run: npm run build && node bench/mappers.mjs [N]
// Each phase runs in its own Node process so that its peak RSS is its own.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const N = Number(process.argv[2] ?? 100_000);
const phase = process.argv[3];

if (!phase) {
  const phases = ['address-map-hash', 'appointment-map-hash', 'vcard-read', 'vcard-patch', 'ical-read'];
  console.log(`node ${process.version}, N=${N}`);
  // Wall time suffers when the machine is shared; CPU time (user + system of this process) shows
// what one core does, so both are printed.
console.log('phase                  items   wall s  items/s(wall)   cpu s  items/s(cpu)   peak RSS MB');
  for (const p of phases) {
    const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), String(N), p], { encoding: 'utf8' });
    const r = JSON.parse(out);
    console.log(
      `${p.padEnd(22)} ${String(r.items).padStart(6)} ${r.seconds.toFixed(2).padStart(8)} ${String(Math.round(r.items / r.seconds)).padStart(14)} ${r.cpuSeconds.toFixed(2).padStart(7)} ${String(Math.round(r.items / r.cpuSeconds)).padStart(13)} ${(r.maxRssKb / 1024).toFixed(0).padStart(13)}`,
    );
  }
  process.exit(0);
}

const m = await import('../dist/mappers/index.js');
const opts = { phoneSlots: m.loadPhoneSlots(), subjectFormat: '{type}: {subject}', vcardVersion: '3.0', prodId: '-//sync-cli//bench//EN' };

function address(i) {
  return {
    id: `a${i}`,
    company: i % 3 ? `Muster Immobilien ${i} GmbH` : '',
    salutation: i % 2 ? 'Frau' : 'Herr',
    title: i % 5 ? '' : 'Dr.',
    firstName: `Erika${i % 97}`,
    lastName: `Mustermann-${i}`,
    street: `Hauptstraße ${i % 200}`,
    postalCode: String(10000 + (i % 89999)),
    city: i % 2 ? 'München' : 'Köln',
    country: 'Deutschland',
    fax: i % 4 ? '' : `+49 89 ${i}-99`,
    email: `kontakt${i}@example.de`,
    note: i % 3 ? '' : `Kundin seit ${2000 + (i % 25)}; Rückruf, bitte`,
    phones: Array.from({ length: 1 + (i % 4) }, (_, k) => ({ number: `+49 89 ${i}-${k}`, remark: k ? '' : 'Zentrale' })),
    private: i % 50 === 0,
    owner: 'u1',
    tags: ['MM'],
    version: '1',
    updatedAt: '2026-11-20T09:15:00+01:00',
  };
}

const users = new Map([['u1', { id: 'u1', login: 'mm', name: 'Max Müller', userTag: 'MM', addressTags: ['MM'], activityTags: ['MM'], importAppointmentType: 'Termin', importTaskType: 'Aufgabe' }]]);
const ctx = { users, addresses: new Map([['a1', address(1)]]) };

function appointment(i) {
  const start = Date.UTC(2026, 0, 1) + (i % 700) * 86400_000 + (i % 10) * 3600_000;
  return {
    id: `t${i}`,
    kind: 'appointment',
    type: 'Termin extern',
    subject: `Besichtigung Hauptstraße ${i % 200}`,
    start: new Date(start).toISOString(),
    end: new Date(start + 3600_000).toISOString(),
    allDay: false,
    timeZone: 'Europe/Berlin',
    due: null,
    alarmMinutes: i % 3 ? 15 : null,
    note: i % 2 ? 'Schlüssel beim Hausmeister' : '',
    done: i % 7 === 0,
    private: false,
    owner: 'u1',
    participants: ['u1'],
    addresses: ['a1'],
    tags: ['MM'],
    version: '1',
    updatedAt: '2026-11-20T09:20:00+01:00',
  };
}

let sink = 0;
const t0 = process.hrtime.bigint();
let c0 = process.cpuUsage();
const cpuSince = (c) => {
  const d = process.cpuUsage(c);
  return (d.user + d.system) / 1e6;
};
let items = N;
if (phase === 'address-map-hash') {
  for (let i = 0; i < N; i++) {
    const a = address(i);
    const card = m.addressToVCard(a, opts);
    sink += m.contentHash(card).length + m.addressFieldHashes(a).phone1.length;
  }
} else if (phase === 'appointment-map-hash') {
  for (let i = 0; i < N; i++) {
    const a = appointment(i);
    const ics = m.activityToICal(a, ctx, opts);
    sink += m.contentHash(ics).length + m.activityFieldHashes(a).start.length;
  }
} else {
  // Device → CRM paths on a tenth of N (they parse with ical.js as well).
  items = Math.max(1, Math.floor(N / 10));
  const cards = phase.startsWith('vcard') ? Array.from({ length: items }, (_, i) => m.addressToVCard(address(i), opts)) : [];
  const events = phase === 'ical-read' ? Array.from({ length: items }, (_, i) => m.activityToICal(appointment(i), ctx, opts)) : [];
  const t1 = process.hrtime.bigint();
  c0 = process.cpuUsage();
  for (let i = 0; i < items; i++) {
    if (phase === 'vcard-read') sink += m.addressFieldHashes(m.vCardToAddress(cards[i], opts).fields).email.length;
    else if (phase === 'vcard-patch') sink += m.patchVCard(cards[i], { ...address(i), city: 'Berlin' }, opts).length;
    else sink += m.activityFieldHashes(m.iCalToActivity(cards[i] ?? events[i], opts, 'Termin extern').fields).start.length;
  }
  const seconds = Number(process.hrtime.bigint() - t1) / 1e9;
  console.log(JSON.stringify({ items, seconds, cpuSeconds: cpuSince(c0), maxRssKb: process.resourceUsage().maxRSS, sink }));
  process.exit(0);
}
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(JSON.stringify({ items, seconds, cpuSeconds: cpuSince(c0), maxRssKb: process.resourceUsage().maxRSS, sink }));

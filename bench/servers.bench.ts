// First sync of 500 contacts + 200 appointments, then a no-change run, on each of the five
// servers of the suite, next to the server's own floor (raw PUTs of as many items, 4 at a time
// over keep-alive: the least any client must do). Not part of npm test:
//
//   npm run build && npx vitest run --config bench/vitest.servers.config.ts
//
// Results: a table on stdout and bench/results/servers.json. Each server is started as in the
// tests (test/helpers), on loopback, and stopped afterwards.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { openMailbox } from '../src/providers/dav/index.js';
import { SERVER_NAMES, serverUnavailable, startServer, type ServerKind, type TestServer } from '../test/helpers/mailbox-servers.js';
import { startSogo } from '../test/helpers/sogo.js';

const CONTACTS = Number(process.env.BENCH_CONTACTS ?? 500);
const APPOINTMENTS = Number(process.env.BENCH_APPOINTMENTS ?? 200);
const CLI = join(import.meta.dirname, '..', 'bin', 'sync-cli');
const PW = 'bench-pass';
const rows: Array<Record<string, string | number>> = [];

function exchange() {
  const users = [{ id: 'u1', login: 'bench', name: 'Bench User', email: 'bench@example.de', userTag: 'BM', addressTags: ['BM'], activityTags: ['BM'], importAppointmentType: 'Termin', importTaskType: 'Aufgabe' }];
  const addresses = Array.from({ length: CONTACTS }, (_, j) => {
    const i = j + 1;
    return {
      id: `a${i}`, company: `Firma ${i} GmbH`, salutation: 'Frau', title: '', firstName: `Vorname${i}`, lastName: `Nachname${i}`,
      street: `Hauptstraße ${i}`, postalCode: '80331', city: 'München', country: 'Deutschland', fax: '', email: `p${i}@example.de`,
      note: `Kunde Nr. ${i}`, phones: [{ number: `+49 89 ${100000 + i}`, remark: 'Zentrale' }], private: false, owner: 'u1', tags: ['BM'], deleted: false,
    };
  });
  const base = Date.UTC(2027, 0, 4, 8, 0, 0);
  const activities = Array.from({ length: APPOINTMENTS }, (_, j) => {
    const i = j + 1;
    const start = new Date(base + i * 3 * 3_600_000);
    return {
      id: `t${i}`, kind: 'appointment', type: 'Termin extern', subject: `Besichtigung ${i}`, start: start.toISOString(),
      end: new Date(start.getTime() + 3_600_000).toISOString(), allDay: false, timeZone: 'Europe/Berlin', alarmMinutes: 15,
      note: `Termin ${i}`, done: false, private: false, owner: 'u1', participants: ['u1'], addresses: [`a${1 + (i % Math.max(1, CONTACTS))}`], tags: ['BM'], deleted: false,
    };
  });
  return { users, addresses, activities };
}

function cli(home: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number; ms: number; out: string }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, '--home', home, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, ms: Date.now() - started, out }));
  });
}

/** Raw PUTs of the same number of items into collections of their own: the server's floor. */
async function floor(url: string, username: string): Promise<number> {
  const p = openMailbox({ url, username, password: PW, auth: 'basic' }, { timeoutMs: 60_000, retries: 0, concurrency: 4 });
  const cols = await p.provision({ contacts: 'Floor Kontakte', appointments: 'Floor Termine', tasks: 'Floor Aufgaben' });
  await p.close();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const auth = 'Basic ' + Buffer.from(`${username}:${PW}`).toString('base64');
  const jobs = [
    ...Array.from({ length: CONTACTS }, (_, i) => ({ url: `${cols.contacts.url}floor-${i}.vcf`, type: 'text/vcard', body: `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:floor-${i}\r\nFN:Vorname${i} Nachname${i}\r\nN:Nachname${i};Vorname${i};;;\r\nORG:Firma ${i} GmbH\r\nTEL;TYPE=WORK:+49 89 ${100000 + i}\r\nEMAIL:p${i}@example.de\r\nADR;TYPE=WORK:;;Hauptstraße ${i};München;;80331;Deutschland\r\nNOTE:Kunde Nr. ${i}\r\nEND:VCARD\r\n` })),
    ...Array.from({ length: APPOINTMENTS }, (_, i) => ({ url: `${cols.appointments.url}floor-${i}.ics`, type: 'text/calendar', body: `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\nUID:floor-ev-${i}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20270104T${String(8 + (i % 10)).padStart(2, '0')}0000Z\r\nDTEND:20270104T${String(9 + (i % 10)).padStart(2, '0')}0000Z\r\nSUMMARY:Besichtigung ${i}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n` })),
  ];
  let next = 0;
  let failures = 0;
  const started = Date.now();
  const put = (job: (typeof jobs)[number]) =>
    new Promise<void>((resolve) => {
      const req = http.request(job.url, { method: 'PUT', agent, headers: { Authorization: auth, 'If-None-Match': '*', 'Content-Type': job.type, 'Content-Length': Buffer.byteLength(job.body) } }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode !== 201 && res.statusCode !== 204) failures++;
          resolve();
        });
      });
      req.on('error', () => {
        failures++;
        resolve();
      });
      req.end(job.body);
    });
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (next < jobs.length) await put(jobs[next++]!);
  }));
  agent.destroy();
  if (failures) console.warn(`floor on ${url}: ${failures} failed PUTs`);
  return Date.now() - started;
}

async function benchOne(label: string, server: { url: string; stop(): Promise<void> }, mailboxUrl: string, floorUrl: string): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), `bench-servers-${label.replace(/\W/g, '')}-`));
  try {
    const file = join(home, 'exchange.json');
    writeFileSync(file, JSON.stringify(exchange()));
    expect((await cli(home, ['crm', 'init'])).code).toBe(0);
    expect((await cli(home, ['crm', 'import', file])).code).toBe(0);
    const assigned = await cli(home, ['users', 'assign', 'bench', '--url', mailboxUrl, '--username', 'bench', '--password-env', 'BENCH_PW', '--credential-store', 'file', '--no-verify'], { BENCH_PW: PW });
    expect(assigned.code, assigned.out).toBe(0);
    const first = await cli(home, ['run', '--once']);
    expect(first.code, first.out.slice(-2000)).toBe(0);
    const again = await cli(home, ['run', '--once']);
    expect(again.code, again.out.slice(-2000)).toBe(0);
    const floorMs = await floor(floorUrl, 'bench');
    rows.push({ server: label, items: CONTACTS + APPOINTMENTS, firstSyncS: first.ms / 1000, noChangeS: again.ms / 1000, rawPutFloorS: floorMs / 1000, ratio: Math.round((first.ms / floorMs) * 10) / 10 });
    console.log(`BENCH ${label}: first sync ${first.ms} ms, no-change ${again.ms} ms, raw-PUT floor ${floorMs} ms`);
  } finally {
    await server.stop();
    rmSync(home, { recursive: true, force: true });
  }
}

for (const kind of ['radicale', 'xandikos', 'cyrus', 'davical', 'sogo'] as ServerKind[]) {
  const reason = serverUnavailable(kind);
  it.skipIf(Boolean(reason))(`${SERVER_NAMES[kind]}${reason ? ` (skipped: ${reason})` : ''}`, async () => {
    const server: TestServer = await startServer(kind, { bench: PW });
    await benchOne(SERVER_NAMES[kind], server, server.url + '/', new URL(server.davRoot, server.url).href);
  }, 900_000);
}

it.skipIf(Boolean(serverUnavailable('sogo')))('SOGo straight to sogod (no Apache)', async () => {
  const sogo = await startSogo({ users: { bench: PW } });
  await benchOne('SOGo, bare sogod', sogo, `${sogo.directUrl}/SOGo/dav/`, `${sogo.directUrl}/SOGo/dav/`);
}, 900_000);

afterAll(() => {
  if (!rows.length) return;
  const cols = Object.keys(rows[0]!);
  console.log(['| ' + cols.join(' | ') + ' |', '|' + cols.map(() => '---').join('|') + '|', ...rows.map((r) => '| ' + cols.map((c) => String(r[c])).join(' | ') + ' |')].join('\n'));
  mkdirSync(join(import.meta.dirname, 'results'), { recursive: true });
  writeFileSync(join(import.meta.dirname, 'results', 'servers.json'), JSON.stringify({ at: new Date().toISOString(), contacts: CONTACTS, appointments: APPOINTMENTS, rows }, null, 2));
});

// R23 under fire: kill -9 the real CLI at random points of a 300-item sync, 20 times, with edits
// on both sides in between; the next run must converge with nothing duplicated and nothing lost.
import { spawn } from 'node:child_process';
import { afterAll, expect, it } from 'vitest';
import fc from 'fast-check';
import { cliPath } from '../helpers/cli.js';
import { Scenario, type DeviceItem } from '../helpers/scenario.js';
import { smallCrm } from '../helpers/small-crm.js';

let sc: Scenario | undefined;
afterAll(async () => {
  await sc?.stop();
});

function bigCrm() {
  const doc = smallCrm();
  const tmpl = doc.addresses[1]!;
  for (let i = 0; i < 240; i++) {
    doc.addresses.push({ ...tmpl, id: `b${i}`, company: `Firma ${i} GmbH`, firstName: `Vorname${i}`, lastName: `Nachname${i}`, phones: [{ number: `+49 30 ${1000 + i}`, remark: 'Büro' }], tags: ['MM'] });
  }
  const ev = doc.activities[0]!;
  for (let i = 0; i < 55; i++) {
    const day = new Date(Date.now() + (i + 1) * 86_400_000).toISOString().slice(0, 10);
    doc.activities.push({ ...ev, id: `e${i}`, subject: `Besprechung ${i}`, start: `${day}T08:00:00+00:00`, end: `${day}T09:00:00+00:00`, addresses: [] } as (typeof doc.activities)[number]);
  }
  return doc;
}

/**
 * Starts `run --once` and kills it with SIGKILL `ms` after it reports the writing phase (or
 * after start, when `fromStart`), so the kills land inside the work whatever the machine's load.
 */
function runAndKill(home: string, ms: number, fromStart: boolean): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, '--home', home, 'run', '--once', '--user', 'mmueller'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let timer: NodeJS.Timeout | undefined;
    const arm = () => (timer ??= setTimeout(() => child.kill('SIGKILL'), ms));
    if (fromStart) arm();
    child.stderr.on('data', (d: Buffer) => {
      if (String(d).includes('writing')) arm();
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

const uidOf = (i: DeviceItem) => /^UID:(.*)$/m.exec(i.data.replace(/\r?\n[ \t]/g, ''))?.[1]?.trim();

it('R23: kill -9 at random points of a 300-item sync, 20 times: the next run converges, no duplicate, no lost edit', async () => {
  sc = await Scenario.create({ exchange: bigCrm(), logins: ['mmueller'] });
  const s = sc;
  const dev = await s.device('mmueller');
  // Deterministic "random" kill points (fast-check's generator with a fixed seed).
  const delays = fc.sample(fc.integer({ min: 0, max: 2500 }), { seed: 23, numRuns: 20 });
  const deviceMade: string[] = [];
  const deviceNotes = new Map<string, string>(); // lastName → the note the device wrote last
  for (let round = 0; round < delays.length; round++) {
    if (round % 4 === 1) {
      // CRM edit between runs.
      const [b] = await s.crm.getAddresses([`b${round}`]);
      await s.crm.updateAddress(b!.id, { city: `Stadt-${round}` }, b!.version);
    }
    if (round % 4 === 3) {
      // Device: a new contact, and an edit of something already synced.
      const uid = `phone-${round}`;
      await dev.create('contacts', `${uid}.vcf`, `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:${uid}\r\nFN:Handy Kontakt ${round}\r\nN:Kontakt ${round};Handy;;;\r\nEND:VCARD\r\n`);
      deviceMade.push(`Kontakt ${round}`);
      // Edit a contact that is on the device already (the first sync may still be under way).
      const synced = (await dev.list('contacts')).find((i) => /^N:Nachname\d+;/m.test(i.data));
      if (synced) {
        const lastName = /^N:(Nachname\d+);/m.exec(synced.data)![1]!;
        const status = await dev.put(synced.href, synced.data.replace(/^NOTE:.*\r\n/m, '').replace('END:VCARD', `NOTE:Handy-Notiz ${round}\r\nEND:VCARD`), synced.etag);
        if (status < 300) deviceNotes.set(lastName, `Handy-Notiz ${round}`);
      }
    }
    await runAndKill(s.home, delays[round]!, round % 5 === 4);
  }
  // Converge: a normal run, then a second one that must have nothing left to do.
  await s.syncOk();
  const second = await s.syncOk();
  expect(second[0]).toMatchObject({ created: 0, updated: 0, deleted: 0, crmUpdates: 0 });

  // Device: exactly one item per UID; every CRM address in scope is there.
  const contacts = await dev.list('contacts');
  const uids = contacts.map(uidOf);
  expect(new Set(uids).size).toBe(uids.length);
  const scope = await s.crm.scopeIds({ userId: 'u1', addressTags: ['MM'], activityTags: ['MM'] });
  const inScope = await s.crm.getAddresses(scope.addresses);
  for (const a of inScope) expect(contacts.some((c) => c.data.includes(a.lastName))).toBe(true);
  const events = await dev.list('appointments');
  expect(new Set(events.map(uidOf)).size).toBe(events.length);
  expect(events.filter((e) => e.data.includes('Besprechung')).length).toBe(55);

  // CRM: each device-made contact exists exactly once; no CRM edit was lost on the device.
  for (const name of deviceMade) expect(inScope.filter((a) => a.lastName === name)).toHaveLength(1);
  for (let round = 1; round < delays.length; round += 4) {
    const [b] = await s.crm.getAddresses([`b${round}`]);
    expect(b!.city).toBe(`Stadt-${round}`);
    expect(contacts.find((c) => c.data.includes(`Nachname${round}\r`) || c.data.includes(`Nachname${round};`))!.data).toContain(`Stadt-${round}`);
  }
  expect(deviceNotes.size).toBeGreaterThan(0);
  for (const [lastName, note] of deviceNotes) expect(inScope.find((a) => a.lastName === lastName)!.note).toBe(note);
}, 240_000);

// The windows between a remote write and the state write, hit on purpose (SYNC_CLI_FAILPOINT).
// before-settle-group: device creates answered, their group of state writes not applied yet (D59).
it.each(['after-crm-create', 'after-device-update', 'after-device-create', 'after-crm-update', 'before-settle-group'])(
  'R23: killed at %s, the next run converges without duplicates',
  async (point) => {
    // Contacts only, so the first device create (where the failpoint fires) is a contact.
    const creating = point === 'after-device-create' || point === 'before-settle-group';
    const exchange = creating ? { ...smallCrm(), activities: [] } : undefined;
    const s = await Scenario.create({ logins: ['mmueller'], exchange });
    let editedId = '';
    try {
      const dev = await s.device('mmueller');
      if (point === 'after-crm-update') {
        await s.syncOk();
        const card = (await dev.find('contacts', 'Mustermann'))!;
        await dev.put(card.href, card.data.replace(/^NOTE:.*\r\n/m, '').replace('END:VCARD', 'NOTE:Handy\r\nEND:VCARD'), card.etag);
      } else if (!creating) {
        await s.syncOk();
        await dev.create('contacts', 'tel.vcf', 'BEGIN:VCARD\r\nVERSION:3.0\r\nUID:tel-x\r\nFN:Tina Telefon\r\nN:Telefon;Tina;;;\r\nEND:VCARD\r\n');
      }
      const code = await new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, [cliPath, '--home', s.home, 'run', '--once'], { stdio: 'ignore', env: { ...process.env, SYNC_CLI_FAILPOINT: point } });
        child.on('exit', (c, sig) => resolve(sig === 'SIGKILL' ? -9 : c));
      });
      expect(code).toBe(-9); // the failpoint was reached
      if (creating) {
        // The phone edits the contact whose creation was never recorded: the edit must survive.
        const card = (await dev.list('contacts'))[0]!;
        editedId = /^UID:sync-cli-address-(.*)\r$/m.exec(card.data)![1]!;
        expect(await dev.put(card.href, card.data.replace(/^NOTE:.*\r\n/m, '').replace('END:VCARD', 'NOTE:gleich bearbeitet\r\nEND:VCARD'), card.etag)).toBeLessThan(300);
      }
      await s.syncOk();
      const again = await s.syncOk();
      expect(again[0]).toMatchObject({ created: 0, updated: 0, deleted: 0, crmUpdates: 0 });
      const contacts = await dev.list('contacts');
      expect(new Set(contacts.map(uidOf)).size).toBe(contacts.length);
      const scope = await s.crm.scopeIds({ userId: 'u1', addressTags: ['MM'], activityTags: [] });
      const all = await s.crm.getAddresses(scope.addresses);
      if (point === 'after-crm-create' || point === 'after-device-update') expect(all.filter((a) => a.lastName === 'Telefon')).toHaveLength(1);
      if (point === 'after-crm-update') expect(all.find((a) => a.id === 'a1')!.note).toBe('Handy');
      if (creating) expect(all.find((a) => a.id === editedId)!.note).toBe('gleich bearbeitet');
      for (const a of all) expect(contacts.filter((c) => c.data.includes(a.lastName)).length).toBeGreaterThanOrEqual(1);
    } finally {
      await s.stop();
    }
  },
  60_000,
);

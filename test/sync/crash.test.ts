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

/** Starts `run --once` and kills it with SIGKILL after `ms`; resolves when it is gone. */
function runAndKill(home: string, ms: number): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, '--home', home, 'run', '--once', '--user', 'mmueller'], { stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
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
  const delays = fc.sample(fc.integer({ min: 150, max: 4000 }), { seed: 23, numRuns: 20 });
  const deviceMade: string[] = [];
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
      const synced = (await dev.list('contacts')).find((i) => i.data.includes('Nachname5\r') || i.data.includes('Nachname5;'));
      if (synced) await dev.put(synced.href, synced.data.replace(/^NOTE:.*\r\n/m, '').replace('END:VCARD', `NOTE:Handy-Notiz ${round}\r\nEND:VCARD`), synced.etag);
    }
    await runAndKill(s.home, delays[round]!);
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
  const [b5] = await s.crm.getAddresses(['b5']);
  expect(b5!.note).toMatch(/^Handy-Notiz \d+$/);
}, 240_000);

// The windows between a remote write and the state write, hit on purpose (SYNC_CLI_FAILPOINT).
it.each(['after-crm-create', 'after-device-update', 'after-device-create', 'after-crm-update'])(
  'R23: killed at %s, the next run converges without duplicates',
  async (point) => {
    const s = await Scenario.create({ logins: ['mmueller'] });
    try {
      const dev = await s.device('mmueller');
      if (point === 'after-crm-update') {
        await s.syncOk();
        const card = (await dev.find('contacts', 'Mustermann'))!;
        await dev.put(card.href, card.data.replace(/^NOTE:.*\r\n/m, '').replace('END:VCARD', 'NOTE:Handy\r\nEND:VCARD'), card.etag);
      } else if (point !== 'after-device-create') {
        await s.syncOk();
        await dev.create('contacts', 'tel.vcf', 'BEGIN:VCARD\r\nVERSION:3.0\r\nUID:tel-x\r\nFN:Tina Telefon\r\nN:Telefon;Tina;;;\r\nEND:VCARD\r\n');
      }
      const code = await new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, [cliPath, '--home', s.home, 'run', '--once'], { stdio: 'ignore', env: { ...process.env, SYNC_CLI_FAILPOINT: point } });
        child.on('exit', (c, sig) => resolve(sig === 'SIGKILL' ? -9 : c));
      });
      expect(code).toBe(-9); // the failpoint was reached
      await s.syncOk();
      const again = await s.syncOk();
      expect(again[0]).toMatchObject({ created: 0, updated: 0, deleted: 0, crmUpdates: 0 });
      const contacts = await dev.list('contacts');
      expect(new Set(contacts.map(uidOf)).size).toBe(contacts.length);
      const scope = await s.crm.scopeIds({ userId: 'u1', addressTags: ['MM'], activityTags: [] });
      const all = await s.crm.getAddresses(scope.addresses);
      if (point === 'after-crm-create' || point === 'after-device-update') expect(all.filter((a) => a.lastName === 'Telefon')).toHaveLength(1);
      if (point === 'after-crm-update') expect(all.find((a) => a.id === 'a1')!.note).toBe('Handy');
      for (const a of all) expect(contacts.filter((c) => c.data.includes(a.lastName)).length).toBeGreaterThanOrEqual(1);
    } finally {
      await s.stop();
    }
  },
  60_000,
);

// Issue #12 end to end on a real Radicale: what real clients write survives the sync, and what the
// engine writes to the CRM can be exported and imported again. Each test names its rule.
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { exportExchange, importExchange, parseExchangeText } from '../../src/providers/crm/exchange.js';
import { buildStatus } from '../../src/daemon/status.js';
import { Scenario } from '../helpers/scenario.js';
import { smallCrm } from '../helpers/small-crm.js';
import { tempHome } from '../helpers/cli.js';
import { exportImportExport } from '../helpers/roundtrip.js';

let sc: Scenario | undefined;
afterEach(async () => {
  await sc?.stop();
  sc = undefined;
});

const corpus = (name: string) => fs.readFileSync(new URL(`../fixtures/corpus/${name}`, import.meta.url), 'utf8');
const unfold = (s: string) => s.replace(/\r?\n[ \t]/g, '');
const lines = (s: string) => unfold(s).split(/\r?\n/).filter((l) => l !== '');

async function setup(opts: Parameters<typeof Scenario.create>[0] = {}) {
  sc = await Scenario.create({ logins: ['mmueller'], ...opts });
  await sc.syncOk();
  return sc;
}

async function reimport(s: Scenario, mutate: (x: ReturnType<typeof smallCrm>) => void) {
  const doc = smallCrm();
  mutate(doc);
  await importExchange(s.crm, parseExchangeText(JSON.stringify(doc), 'test'), 'test');
}

/** A device writing straight into a vdir mailbox (for items Radicale refuses outright). */
async function vdirDevice(s: Scenario) {
  const cols = await s.collectionsOf(await s.userId('mmueller'));
  return {
    create(kind: 'contacts' | 'appointments' | 'tasks', name: string, data: string): string {
      const href = `${cols[kind]!.url}${name}`;
      fs.writeFileSync(href, data);
      return href;
    },
    read: (href: string) => fs.readFileSync(href, 'utf8'),
    write: (href: string, data: string) => fs.writeFileSync(href, data),
  };
}

async function vdirSetup() {
  const dir = tempHome('sync-cli-vdir-mailbox-');
  const s = await setup({ mailbox: { url: `file://${dir}/` } });
  return { s, dev: await vdirDevice(s) };
}

const crmAddressByLastName = async (s: Scenario, last: string) => {
  const doc = await exportExchange(s.crm);
  return doc.addresses.find((a) => a.lastName === last) as Record<string, unknown> & { id: string; phones: { number: string }[] };
};

describe('real clients: the device data is the user\'s', () => {
  it('R11/M11: an imported device contact keeps its FN, also after a CRM change of a field that is no name', async () => {
    const s = await setup();
    const dev = await s.device('mmueller');
    const href = await dev.create('contacts', 'evolution.vcf', corpus('evolution-v3-couchdb-params-fn-with-comma.vcf'));
    await s.syncOk();
    const a = await crmAddressByLastName(s, 'Doe');
    expect([a.firstName, a.lastName, a.salutation, a.company]).toEqual(['John', 'Doe', 'Mr.', 'IBM']);
    const fn = () => dev.list('contacts').then((l) => lines(l.find((i) => i.href === href)!.data).find((x) => x.startsWith('FN')));
    expect(await fn()).toBe('FN:Mr. John Richter\\, James Doe Sr.');
    await s.crm.updateAddress(a.id, { note: 'CRM-Notiz' }, String((await s.crm.getAddresses([a.id]))[0]!.version));
    await s.syncOk();
    expect(await fn()).toBe('FN:Mr. John Richter\\, James Doe Sr.');
    const after = lines((await dev.list('contacts')).find((i) => i.href === href)!.data);
    expect(after).toContain('NOTE:CRM-Notiz');
  });

  it('M11: a vCard 4.0 contact with FN and no N reaches the CRM with its name; the card keeps its lines', async () => {
    const s = await setup();
    const dev = await s.device('mmueller');
    const card = 'BEGIN:VCARD\r\nVERSION:4.0\r\nUID:urn:uuid:6f7c0c1e-fn-only\r\nFN:Erika Beispiel\r\nEMAIL:erika@example.org\r\nEND:VCARD\r\n';
    const href = await dev.create('contacts', 'fn-only.vcf', card);
    const before = lines((await dev.list('contacts')).find((i) => i.href === href)!.data);
    await s.syncOk();
    const a = await crmAddressByLastName(s, 'Beispiel');
    expect([a.firstName, a.lastName, a.email]).toEqual(['Erika', 'Beispiel', 'erika@example.org']);
    const after = lines((await dev.list('contacts')).find((i) => i.href === href)!.data);
    expect(after.filter((l) => !before.includes(l)).map((l) => l.split(':')[0])).toEqual(['X-SYNC-CLI-ID']);
  });

  it('R14/M7: an Etar event with three alarms keeps all three; a CRM alarm change rewrites the first TRIGGER only', async () => {
    const s = await setup();
    const dev = await s.device('mmueller');
    const href = await dev.create('appointments', 'etar.ics', corpus('etar-three-alarms.ics'));
    await s.syncOk();
    const doc = await exportExchange(s.crm);
    const t = doc.activities.find((x) => x.subject === 'event with alarms android') as { id: string; alarmMinutes: number; version?: string };
    expect(t.alarmMinutes).toBe(30);
    const alarms = async () => {
      const all = lines((await dev.list('appointments')).find((i) => i.href === href)!.data);
      return all.filter((l, i) => /^(TRIGGER|DESCRIPTION)/.test(l) && all.slice(0, i).lastIndexOf('BEGIN:VALARM') > all.slice(0, i).lastIndexOf('END:VALARM'));
    };
    const triggers = async () => (await alarms()).filter((l) => l.startsWith('TRIGGER'));
    const descriptions = async () => (await alarms()).filter((l) => l.startsWith('DESCRIPTION'));
    expect(await triggers()).toEqual(['TRIGGER:-PT30M', 'TRIGGER:-PT25M', 'TRIGGER:-PT5M']);
    expect(await descriptions()).toEqual(Array(3).fill('DESCRIPTION:event with alarms android'));
    const rec = (await s.crm.getActivities([t.id]))[0]!;
    await s.crm.updateActivity(t.id, { alarmMinutes: 20 }, rec.version);
    await s.syncOk();
    expect(await triggers()).toEqual(['TRIGGER:-PT20M', 'TRIGGER:-PT25M', 'TRIGGER:-PT5M']);
    expect(await descriptions()).toEqual(Array(3).fill('DESCRIPTION:event with alarms android'));
  });

  it('R14/M13: SUMMARY;LANGUAGE=en-us (Outlook 2010) keeps its parameter when the CRM changes the subject', async () => {
    const s = await setup();
    const dev = await s.device('mmueller');
    const href = await dev.create('appointments', 'outlook.ics', corpus('outlook2010-summary-language-param-windows-tzid.ics'));
    await s.syncOk();
    const doc = await exportExchange(s.crm);
    const t = doc.activities.find((x) => x.subject === 'Team Meeting') as { id: string; start: string };
    expect(Date.parse(t.start)).toBe(Date.parse('2013-06-10T16:00:00Z'));
    const summary = async () => lines((await dev.list('appointments')).find((i) => i.href === href)!.data).filter((l) => l.startsWith('SUMMARY'));
    expect(await summary()).toEqual(['SUMMARY;LANGUAGE=en-us:Termin: Team Meeting']);
    const rec = (await s.crm.getActivities([t.id]))[0]!;
    await s.crm.updateActivity(t.id, { subject: 'Team Meeting (verlegt)' }, rec.version);
    await s.syncOk();
    expect(await summary()).toEqual(['SUMMARY;LANGUAGE=en-us:Termin: Team Meeting (verlegt)']);
  });

  it('D4: overrides without a master (RECURRENCE-ID only, as Apple writes invitations) are a series: they stay on the device, nothing reaches the CRM', async () => {
    // Radicale refuses overrides without a master (400); iCloud and Nextcloud store them: vdir.
    const { s, dev } = await vdirSetup();
    const occurrence = (rid: string, start: string, end: string) =>
      `BEGIN:VEVENT\r\nUID:invite-series-1\r\nRECURRENCE-ID:${rid}\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:${start}\r\nDTEND:${end}\r\nSUMMARY:Jour fixe\r\nEND:VEVENT\r\n`;
    const raw = `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Apple Inc.//iOS 17.5//EN\r\n${occurrence('20261203T090000Z', '20261203T090000Z', '20261203T100000Z')}${occurrence('20261210T090000Z', '20261210T100000Z', '20261210T110000Z')}END:VCALENDAR\r\n`;
    const href = dev.create('appointments', 'invite.ics', raw);
    await s.syncOk();
    expect((await exportExchange(s.crm)).activities.some((x) => x.subject === 'Jour fixe')).toBe(false);
    await s.syncOk();
    expect(dev.read(href)).toBe(raw);
  });

  it('D4: the khal/Lotus override without master (with RDATE; Radicale refuses it, vdir) stays on the device', async () => {
    const { s, dev } = await vdirSetup();
    const raw = corpus('khal-lotus-override-only-rdate-period.ics');
    const href = dev.create('appointments', 'series.ics', raw);
    await s.syncOk();
    expect((await exportExchange(s.crm)).activities.some((x) => x.subject === 'CORSO PYTHON')).toBe(false);
    expect(dev.read(href)).toBe(raw);
  });

  it('R12: device numbers of no slot type (assistant, custom label, TYPE=voice,home,pref,x-useless) take the first free positions', async () => {
    const s = await setup();
    const dev = await s.device('mmueller');
    const card = [
      'BEGIN:VCARD', 'VERSION:3.0', 'UID:r12-free-positions', 'N:Nummern;Nora;;;', 'FN:Nora Nummern',
      'TEL;TYPE=CELL:+49 170 1', 'item1.TEL;TYPE=voice,home,pref,x-useless:+49 30 2', 'item1.X-ABLabel:Useless',
      'item2.TEL:+49 30 3', 'item2.X-ABLabel:_$!<AssistantPhone>!$_', 'item3.TEL:+49 30 4', 'item3.X-ABLabel:Ferienhaus', 'END:VCARD', '',
    ].join('\r\n');
    await dev.create('contacts', 'numbers.vcf', card);
    await s.syncOk();
    const a = await crmAddressByLastName(s, 'Nummern');
    expect(a.phones.map((p) => p.number)).toEqual(['+49 30 3', '+49 30 4', '+49 170 1', '+49 30 2']);
  });

  it('R14: an absolute alarm (TRIGGER;VALUE=DATE-TIME, Apple Reminders) is the CRM alarm; a change keeps it absolute', async () => {
    const s = await setup();
    const dev = await s.device('mmueller');
    const href = await dev.create('tasks', 'reminder.ics', corpus('apple-macos-reminder-absolute-alarm.ics'));
    await s.syncOk();
    const doc = await exportExchange(s.crm);
    const t = doc.activities.find((x) => x.subject === 'Test title' && x.kind === 'task') as { id: string; alarmMinutes: number | null };
    expect(t.alarmMinutes).toBe(0); // the reminder fires at the due time
    const rec = (await s.crm.getActivities([t.id]))[0]!;
    await s.crm.updateActivity(t.id, { alarmMinutes: 60 }, rec.version);
    await s.syncOk();
    const after = lines((await dev.list('tasks')).find((i) => i.href === href)!.data);
    expect(after).toContain('TRIGGER;VALUE=DATE-TIME:20180416T220000Z');
    expect(after).toContain('X-WR-ALARMUID:31AC3FC5-D6D1-47D1-9B8D-597BD5D097A5');
  });
});

describe('whatever the engine writes to the CRM can be exported and imported again', () => {
  it('R12/D31: a phone contact with only a mobile number (empty positions before it) round-trips through crm export and import', async () => {
    const s = await setup();
    const dev = await s.device('mmueller');
    await dev.create('contacts', 'mobile.vcf', 'BEGIN:VCARD\r\nVERSION:3.0\r\nUID:mobile-only\r\nN:Mobil;Mia;;;\r\nFN:Mia Mobil\r\nTEL;TYPE=CELL:+49 171 1234567\r\nEND:VCARD\r\n');
    await s.syncOk();
    const a = await crmAddressByLastName(s, 'Mobil');
    expect(a.phones.map((p) => p.number)).toEqual(['', '', '+49 171 1234567']);
    const { first, second } = await exportImportExport(s.crm);
    expect(second).toEqual(first);
  });

  it('D31: deleting an address an appointment links drops the link (the device block follows) and the export imports again', async () => {
    const s = await setup();
    await importExchange(s.crm, parseExchangeText(JSON.stringify({ addresses: [{ id: 'a5', deleted: true }] }), 'delete.json'), 'delete.json');
    expect((await s.crm.getActivities(['t1']))[0]!.addresses).toEqual(['a1']);
    await s.syncOk();
    const ev = (await (await s.device('mmueller')).find('appointments', 'Besichtigung'))!;
    expect(unfold(ev.data)).not.toContain('Weiß');
    const { first, second } = await exportImportExport(s.crm);
    expect(second).toEqual(first);
    // A file that deletes an address and still lists the link is accepted; the link is dropped.
    const doc = smallCrm();
    doc.addresses = doc.addresses.map((x) => (x.id === 'a1' ? ({ id: 'a1', deleted: true } as unknown as typeof x) : x));
    await importExchange(s.crm, parseExchangeText(JSON.stringify(doc), 'full.json'), 'full.json');
    expect((await s.crm.getActivities(['t1']))[0]!.addresses).toEqual(['a5']);
  });

  it('D32: a device event whose end lies before its start stays on the device, needs attention and is not a failure', async () => {
    const s = await setup();
    const dev = await s.device('mmueller');
    const ev = 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:end-before-start\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:20261201T110000Z\r\nDTEND:20261201T100000Z\r\nSUMMARY:Rückwärts\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n';
    const href = await dev.create('appointments', 'backwards.ics', ev);
    const r = await s.syncOk();
    expect(r[0]!.attention).toEqual([{ item: href, message: expect.stringMatching(/cannot go into the CRM: end: must not be before start — Correct the item on the device/) }]);
    expect((await exportExchange(s.crm)).activities.some((x) => x.subject === 'Rückwärts')).toBe(false);
    expect((await s.syncOk())[0]!.attention).toEqual([]); // reported once per change
  });
});

describe('D30: device items that cannot be read', () => {
  it('D30: an item with TRIGGER:P (old Outlook) is reported once with line and remedy, kept untouched, the mailbox stays success, status lists it, a fixed item is read again', async () => {
    // Radicale refuses TRIGGER:P (400); lenient servers (Nextcloud, DAViCal, SOGo) store it: a vdir mailbox stands in.
    const { s, dev } = await vdirSetup();
    const bad = 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:outlook-trigger-p\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:20261201T100000Z\r\nDTEND:20261201T110000Z\r\nSUMMARY:Altes Outlook\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:x\r\nTRIGGER:P\r\nEND:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n';
    const href = dev.create('appointments', 'old-outlook.ics', bad);
    const first = await s.syncOk();
    expect(first[0]!.state).toBe('success');
    expect(first[0]!.attention).toEqual([{ item: href, message: expect.stringMatching(/TRIGGER is not a duration \(line \d+: "TRIGGER:P"\).*stays on the device unchanged/) }]);
    const again = await s.syncOk();
    expect(again[0]!.attention).toEqual([]);
    expect(dev.read(href)).toBe(bad);
    await s.withState(async (state) => {
      const status = await buildStatus(s.config(), state, await s.crm.listUsers());
      expect(status.mailboxes[0]!.state).toBe('success');
      expect(status.mailboxes[0]!.attention).toEqual([{ href, message: expect.stringContaining('TRIGGER:P') }]);
    });
    // The user fixes the alarm on the device: the item is read again and imported.
    dev.write(href, bad.replace('TRIGGER:P', 'TRIGGER:-PT15M'));
    await s.syncOk();
    const t = (await exportExchange(s.crm)).activities.find((x) => x.subject === 'Altes Outlook') as { alarmMinutes: number } | undefined;
    expect(t?.alarmMinutes).toBe(15);
    const userId = await s.userId('mmueller');
    await s.withState(async (st2) => expect(await st2.listAttention(userId)).toEqual([]));
  });
});

describe('R7/D3: the exclusion of a device deletion ends when the user tag is back', () => {
  it('R7/D3: deleted on the phone, tag put back, then the user tag removed again: the contact stays while VIP keeps it in scope (R1, R9)', async () => {
    const s = await setup({ logins: ['sschmidt'] });
    await reimport(s, (d) => (d.addresses.find((a) => a.id === 'a1')!.tags = ['MM', 'VIP', 'SS']));
    await s.syncOk();
    const dev = await s.device('sschmidt');
    const onPhone = async () => Boolean(await dev.find('contacts', 'Mustermann'));
    expect(await onPhone()).toBe(true);
    await dev.remove((await dev.find('contacts', 'Mustermann'))!.href);
    await s.syncOk();
    expect((await s.crm.getAddresses(['a1']))[0]!.tags.sort()).toEqual(['MM', 'VIP']); // R7: only the user tag removed
    await s.syncOk();
    expect(await onPhone()).toBe(false); // excluded although VIP is in scope
    await reimport(s, (d) => (d.addresses.find((a) => a.id === 'a1')!.tags = ['MM', 'VIP', 'SS']));
    await s.syncOk();
    expect(await onPhone()).toBe(true); // the user tag is back
    await reimport(s, (d) => (d.addresses.find((a) => a.id === 'a1')!.tags = ['MM', 'VIP']));
    await s.syncOk();
    expect(await onPhone()).toBe(true); // VIP still puts it in scope: the exclusion has ended
  });
});

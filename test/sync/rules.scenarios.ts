// Every sync rule end to end: the CRM driven through the provider, the "device" through plain
// HTTP requests to a real mailbox server (as a phone would), then both sides checked. Defined once,
// run per server: rules.test.ts (Radicale, one per test), rules-cyrus.test.ts, rules-sogo.test.ts
// (one server per file, fresh users per test).
import { afterEach, describe, expect, it } from 'vitest';
import { importExchange, parseExchangeText } from '../../src/providers/crm/exchange.js';
import { Scenario } from '../helpers/scenario.js';
import { smallCrm } from '../helpers/small-crm.js';
import fs from 'node:fs';
import { spawn } from 'node:child_process';

/** Registers every rule scenario; `Scenario.create` uses the server chosen by the calling file. */
export function defineRuleScenarios(): void {
  let sc: Scenario | undefined;
  afterEach(async () => {
    await sc?.stop();
    sc = undefined;
  });

  async function setup(opts: Parameters<typeof Scenario.create>[0] = {}) {
    sc = await Scenario.create(opts);
    await sc.syncOk();
    return sc;
  }

  const unfold = (s: string) => s.replace(/\r?\n[ \t]/g, '');

  async function reimport(s: Scenario, mutate: (x: ReturnType<typeof smallCrm>) => void) {
    const doc = smallCrm();
    mutate(doc);
    await importExchange(s.crm, parseExchangeText(JSON.stringify(doc), 'test'), 'test');
  }

  describe('scope', () => {
    it('R1: an address is on a mailbox when it carries one of the user\'s address tags', async () => {
      const s = await setup();
      const mm = await (await s.device('mmueller')).list('contacts');
      const ss = await (await s.device('sschmidt')).list('contacts');
      const names = (items: { data: string }[]) => items.map((i) => /^FN[^:]*:(.*)$/m.exec(unfold(i.data))?.[1]?.trim()).sort();
      const has = (items: { data: string }[], name: string) => names(items).some((n) => n?.includes(name));
      expect(has(mm, 'Erika Mustermann')).toBe(true);
      expect(has(mm, 'Jürgen Größl')).toBe(true);
      expect(has(mm, 'Karl Schmidt')).toBe(false);
      // sschmidt's tags are SS and VIP: a1 comes through VIP.
      expect(has(ss, 'Erika Mustermann')).toBe(true);
      expect(has(ss, 'Karl Schmidt')).toBe(true);
      expect(has(ss, 'Jürgen Größl')).toBe(false);
    });

    it('R2: an appointment or task is on a mailbox when it carries one of the user\'s activity tags', async () => {
      const s = await setup();
      const mmEvents = (await (await s.device('mmueller')).list('appointments')).map((i) => unfold(i.data));
      const ssEvents = (await (await s.device('sschmidt')).list('appointments')).map((i) => unfold(i.data));
      const mmTasks = (await (await s.device('mmueller')).list('tasks')).map((i) => unfold(i.data));
      expect(mmEvents.some((d) => d.includes('Besichtigung Hauptstraße 5'))).toBe(true);
      expect(mmEvents.some((d) => d.includes('Teamrunde'))).toBe(true);
      expect(ssEvents.some((d) => d.includes('Teamrunde'))).toBe(true);
      expect(ssEvents.some((d) => d.includes('Besichtigung'))).toBe(false);
      expect(mmTasks.some((d) => d.includes('Exposé schicken'))).toBe(true);
    });

    it('R3: an appointment that ended more than pastDays ago is not sent, and leaving the window deletes nothing', async () => {
      const s = await setup();
      const dev = await s.device('mmueller');
      let events = (await dev.list('appointments')).map((i) => unfold(i.data));
      expect(events.some((d) => d.includes('Übergabe alt'))).toBe(false); // ended 60 days ago
      expect(events.some((d) => d.includes('Notartermin gestern'))).toBe(true);
      s.setConfig((c) => (c.sync.pastDays = 0)); // yesterday's appointment leaves the window
      await s.syncOk();
      events = (await dev.list('appointments')).map((i) => unfold(i.data));
      expect(events.some((d) => d.includes('Notartermin gestern'))).toBe(true);
      expect((await s.crm.getActivities(['t4']))[0]).toBeDefined();
    });

    it('R4: a private record goes only to its owner\'s mailbox, whatever its tags say', async () => {
      const s = await setup();
      const mm = (await (await s.device('mmueller')).list('contacts')).map((i) => unfold(i.data));
      const ss = (await (await s.device('sschmidt')).list('contacts')).map((i) => unfold(i.data));
      expect(mm.some((d) => d.includes('Şahin'))).toBe(true);
      expect(ss.some((d) => d.includes('Şahin'))).toBe(false);
      const ssEvents = (await (await s.device('sschmidt')).list('appointments')).map((i) => unfold(i.data));
      expect(ssEvents.some((d) => d.includes('Zahnarzt'))).toBe(false);
    });

    it('R5: addresses linked to an in-scope appointment travel as contacts, and leave with the link', async () => {
      const s = await setup();
      const dev = await s.device('mmueller');
      expect(await dev.find('contacts', 'Weiß')).toBeDefined(); // a5 has no MM tag, linked by t1
      await reimport(s, (d) => (d.activities.find((a) => a.id === 't1')!.addresses = ['a1']));
      await s.syncOk();
      expect(await dev.find('contacts', 'Weiß')).toBeUndefined();
      expect((await s.crm.getAddresses(['a5']))[0]?.tags).toEqual(['Notar']);
    });
  });

  describe('what changes travel', () => {
    it('R6: a sync after a CRM change writes only that change, and a full resync converges to the same result', async () => {
      const s = await setup();
      const [a1] = await s.crm.getAddresses(['a1']);
      await s.crm.updateAddress('a1', { city: 'Augsburg' }, a1!.version);
      const r = await s.syncOk({ users: ['mmueller'] });
      expect(r[0]).toMatchObject({ created: 0, updated: 1, deleted: 0, crmUpdates: 0 });
      await s.syncOk({ users: ['sschmidt'] }); // a1 is on sschmidt's phone too (VIP)
      expect(unfold((await (await s.device('mmueller')).find('contacts', 'Mustermann'))!.data)).toContain('Augsburg');
      const full = await s.syncOk({ full: true });
      for (const m of full) expect(m).toMatchObject({ created: 0, updated: 0, deleted: 0, crmUpdates: 0 });
    });

    it('R7: deleting a contact on the device only removes the user tag; it stays away until the tag is back', async () => {
      const s = await setup();
      const dev = await s.device('mmueller');
      const item = (await dev.find('contacts', 'Mustermann'))!;
      expect(await dev.remove(item.href)).toBeLessThan(300);
      await s.syncOk();
      const [a1] = await s.crm.getAddresses(['a1']);
      expect(a1).toBeDefined();
      expect(a1!.tags).not.toContain('MM');
      expect(a1!.tags).toContain('VIP');
      await s.syncOk();
      expect(await dev.find('contacts', 'Mustermann')).toBeUndefined();
      // sschmidt has a1 through VIP, not through the user tag: deleting it there removes nothing
      // in the CRM, and the contact stays away although VIP still puts it in scope.
      const ssDev = await s.device('sschmidt');
      const ssItem = (await ssDev.find('contacts', 'Mustermann'))!;
      await ssDev.remove(ssItem.href);
      await s.syncOk();
      await s.syncOk({ full: true });
      expect(await ssDev.find('contacts', 'Mustermann')).toBeUndefined();
      expect((await s.crm.getAddresses(['a1']))[0]!.tags).toContain('VIP');
      // Put the user tags back in the CRM: the contact returns on both phones.
      await reimport(s, (d) => (d.addresses.find((a) => a.id === 'a1')!.tags = ['MM', 'SS', 'VIP']));
      await s.syncOk();
      expect(await dev.find('contacts', 'Mustermann')).toBeDefined();
      expect(await ssDev.find('contacts', 'Mustermann')).toBeDefined();
    });

    it('R7: deleting an address in the CRM deletes the contact on the device', async () => {
      const s = await setup();
      await reimport(s, (d) => Object.assign(d.addresses.find((a) => a.id === 'a2')!, { deleted: true }));
      await s.syncOk();
      expect(await (await s.device('mmueller')).find('contacts', 'Größl')).toBeUndefined();
    });

    it('R8: an event deleted on the device loses the user tag in the CRM; a task deleted in the CRM leaves the device', async () => {
      const s = await setup();
      const dev = await s.device('mmueller');
      const ev = (await dev.find('appointments', 'Besichtigung'))!;
      await dev.remove(ev.href);
      await reimport(s, (d) => Object.assign(d.activities.find((a) => a.id === 'k1')!, { deleted: true }));
      await s.syncOk();
      const [t1] = await s.crm.getActivities(['t1']);
      expect(t1).toBeDefined();
      expect(t1!.tags).not.toContain('MM');
      expect(await dev.find('tasks', 'Exposé')).toBeUndefined();
    });

    it('R9: a record that leaves the scope in the CRM is deleted from the mailbox, nothing written back', async () => {
      const s = await setup();
      const [before] = await s.crm.getAddresses(['a2']);
      await s.crm.removeTag('address', 'a2', 'MM');
      const [after] = await s.crm.getAddresses(['a2']);
      await s.syncOk();
      expect(await (await s.device('mmueller')).find('contacts', 'Größl')).toBeUndefined();
      const [now] = await s.crm.getAddresses(['a2']);
      expect(now!.version).toBe(after!.version);
      expect(now!.phones).toEqual(before!.phones);
    });
  });

  describe('addresses ↔ contacts', () => {
    it('R10: the CRM address is the work ADR; a home address on the device is never touched', async () => {
      const s = await setup();
      const dev = await s.device('mmueller');
      const item = (await dev.find('contacts', 'Mustermann'))!;
      const home = 'ADR;TYPE=home:;;Gartenweg 7;Starnberg;;82319;Deutschland';
      const edited = item.data.replace(/END:VCARD/, `${home}\r\nEND:VCARD`);
      expect(await dev.put(item.href, edited, item.etag)).toBeLessThan(300);
      await s.syncOk();
      const [a1] = await s.crm.getAddresses(['a1']);
      expect(a1!.street).toBe('Hauptstraße 5'); // the home address did not become the CRM address
      await s.crm.updateAddress('a1', { street: 'Hauptstraße 7' }, a1!.version);
      await s.syncOk();
      const now = unfold((await dev.find('contacts', 'Mustermann'))!.data);
      expect(now).toContain(home);
      expect(now).toMatch(/ADR;[^:\r\n]*work[^:\r\n]*:[^\r\n]*Hauptstraße 7/i);
    });

    it('R11: synced fields travel both ways, everything else on the device contact survives', async () => {
      const s = await setup();
      const dev = await s.device('mmueller');
      const item = (await dev.find('contacts', 'Mustermann'))!;
      const extras = ['BDAY:1980-04-01', 'URL:https://muster.example.de', 'X-CUSTOM-THING:keep me', 'item1.EMAIL;TYPE=INTERNET:privat@example.org', 'item1.X-ABLabel:privat'];
      const edited = unfold(item.data)
        .replace(/^EMAIL[^:\r\n]*:.*$/m, 'EMAIL;TYPE=work:erika@muster.example')
        .replace(/END:VCARD/, `${extras.join('\r\n')}\r\nEND:VCARD`);
      expect(await dev.put(item.href, edited, item.etag)).toBeLessThan(300);
      await s.syncOk();
      let [a1] = await s.crm.getAddresses(['a1']);
      expect(a1!.email).toBe('erika@muster.example');
      await s.crm.updateAddress('a1', { city: 'Freising', note: 'neue Notiz' }, a1!.version);
      await s.syncOk();
      const now = unfold((await dev.find('contacts', 'Mustermann'))!.data);
      // Property names are case-insensitive (Radicale re-serializes them upper case).
      for (const x of extras) expect(now.toLowerCase()).toContain(x.toLowerCase());
      expect(now).toContain('Freising');
      [a1] = await s.crm.getAddresses(['a1']);
      expect(a1!.email).toBe('erika@muster.example');
    });

    it('R12: the first eight numbers keep CRM order; a device edit updates the same position; remarks and numbers 9+ stay', async () => {
      const s = await setup();
      const dev = await s.device('mmueller');
      const item = (await dev.find('contacts', 'Größl'))!;
      const card = unfold(item.data);
      const tels = [...card.matchAll(/^(?:[\w-]+\.)?TEL[^:]*:(.*)$/gm)].map((m) => m[1]!.trim());
      expect(tels.slice(0, 8)).toEqual(Array.from({ length: 8 }, (_, i) => `+49 941 55${String(i).padStart(2, '0')}`));
      expect(tels).not.toContain('+49 941 5508');
      expect(card).not.toContain('Nr 1'); // remarks never leave the CRM
      const edited = card.replace('+49 941 5502', '+49 941 9999');
      expect(await dev.put(item.href, edited, item.etag)).toBeLessThan(300);
      await s.syncOk();
      const [a2] = await s.crm.getAddresses(['a2']);
      expect(a2!.phones[2]).toEqual({ number: '+49 941 9999', remark: 'Nr 3' });
      expect(a2!.phones).toHaveLength(10);
      expect(a2!.phones[9]).toEqual({ number: '+49 941 5509', remark: 'Nr 10' });
      expect(a2!.phones[0]!.number).toBe('+49 941 5500');
    });

    it('R13: a contact created on the device becomes a CRM address with the user tag; a private one stays on the device', async () => {
      const s = await setup();
      const dev = await s.device('mmueller');
      await dev.create('contacts', 'neu-1.vcf', 'BEGIN:VCARD\r\nVERSION:3.0\r\nUID:phone-contact-1\r\nFN:Hanna Vogel\r\nN:Vogel;Hanna;;;\r\nORG:Vogel Bau\r\nTEL;TYPE=CELL:+49 151 000111\r\nEND:VCARD\r\n');
      await dev.create('contacts', 'neu-2.vcf', 'BEGIN:VCARD\r\nVERSION:3.0\r\nUID:phone-contact-2\r\nFN:Geheim Kontakt\r\nN:Kontakt;Geheim;;;\r\nCATEGORIES:private\r\nEND:VCARD\r\n');
      await s.syncOk();
      const created = (await s.crm.scopeIds({ userId: 'u1', addressTags: ['MM'], activityTags: [] })).addresses;
      const all = await s.crm.getAddresses(created);
      const vogel = all.find((a) => a.lastName === 'Vogel');
      expect(vogel).toMatchObject({ company: 'Vogel Bau', tags: ['MM'], owner: 'u1', private: false });
      expect(vogel!.phones.map((p) => p.number)).toContain('+49 151 000111');
      expect(all.find((a) => a.lastName === 'Kontakt')).toBeUndefined();
      expect(await dev.find('contacts', 'Geheim Kontakt')).toBeDefined();
      // With syncPrivate on, the private contact becomes a private address of this user.
      s.setConfig((c) => (c.mailboxes.find((m) => m.user === 'u1')!.syncPrivate = true));
      await s.syncOk({ full: true });
      const again = await s.crm.getAddresses((await s.crm.scopeIds({ userId: 'u1', addressTags: ['MM'], activityTags: [] })).addresses);
      expect(again.find((a) => a.lastName === 'Kontakt')).toMatchObject({ private: true, owner: 'u1', tags: ['MM'] });
      const ssIds = (await s.crm.scopeIds({ userId: 'u2', addressTags: ['MM'], activityTags: [] })).addresses;
      expect((await s.crm.getAddresses(ssIds)).find((a) => a.lastName === 'Kontakt')).toBeUndefined();
    });
  });

  describe('appointments and tasks ↔ events', () => {
    it('R14: start, end, subject, alarm and note travel both ways', async () => {
      const s = await setup();
      const dev = await s.device('mmueller');
      let ev = unfold((await dev.find('appointments', 'Besichtigung'))!.data);
      expect(ev).toMatch(/DTSTART;TZID=Europe\/Berlin:\d{8}T\d{6}/);
      expect(ev).toMatch(/TRIGGER[^:]*:-PT15M/);
      expect(ev).toContain('Schlüssel beim Hausmeister');
      const allDay = unfold((await dev.find('appointments', 'Teamrunde'))!.data);
      expect(allDay).toMatch(/DTSTART;VALUE=DATE:\d{8}/);
      // Device moves the appointment by one hour and changes the alarm.
      const item = (await dev.find('appointments', 'Besichtigung'))!;
      const [t1] = await s.crm.getActivities(['t1']);
      const later = new Date(Date.parse(t1!.start!) + 3600_000);
      const laterEnd = new Date(Date.parse(t1!.end!) + 3600_000);
      const utc = (d: Date) => d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
      const edited = unfold(item.data)
        .replace(/^DTSTART;TZID=[^:]*:.*$/m, `DTSTART:${utc(later)}`)
        .replace(/^DTEND;TZID=[^:]*:.*$/m, `DTEND:${utc(laterEnd)}`)
        .replace(/TRIGGER([^:]*):-PT15M/, 'TRIGGER$1:-PT45M');
      expect(await dev.put(item.href, edited, item.etag)).toBeLessThan(300);
      await s.syncOk();
      const [after] = await s.crm.getActivities(['t1']);
      expect(Date.parse(after!.start!)).toBe(later.getTime());
      expect(Date.parse(after!.end!)).toBe(laterEnd.getTime());
      expect(after!.alarmMinutes).toBe(45);
      ev = unfold((await dev.find('appointments', 'Besichtigung'))!.data);
      expect(ev).toContain('Besichtigung');
    });

    it('R15: the type is a subject prefix on the device, stripped on the way back; the type never changes', async () => {
      const s = await setup();
      const dev = await s.device('mmueller');
      const item = (await dev.find('appointments', 'Besichtigung'))!;
      expect(unfold(item.data)).toContain('SUMMARY:Termin extern: Besichtigung Hauptstraße 5');
      const edited = unfold(item.data).replace('SUMMARY:Termin extern: Besichtigung Hauptstraße 5', 'SUMMARY:Termin extern: Besichtigung Hauptstr. 5 (verschoben)');
      await dev.put(item.href, edited, item.etag);
      await s.syncOk();
      const [t1] = await s.crm.getActivities(['t1']);
      expect(t1!.subject).toBe('Besichtigung Hauptstr. 5 (verschoben)');
      expect(t1!.type).toBe('Termin extern');
    });

    it('R16: linked people and places are a [FFDATA] block in the note; device edits there are not written back', async () => {
      const s = await setup();
      const dev = await s.device('mmueller');
      const item = (await dev.find('appointments', 'Besichtigung'))!;
      const desc = unfold(item.data);
      expect(desc).toContain('[FFDATA]');
      expect(desc).toMatch(/Weiß/);
      expect(desc).toMatch(/Max Müller/);
      const edited = desc.replace('[FFDATA]', '[FFDATA]\\nvom Handy ergänzt');
      await dev.put(item.href, edited, item.etag);
      await s.syncOk();
      const [t1] = await s.crm.getActivities(['t1']);
      expect(t1!.note).toBe('Schlüssel beim Hausmeister');
    });

    it('R17: done in the CRM removes the alarm on the device; tasks: done ↔ COMPLETED both ways', async () => {
      const s = await setup();
      const dev = await s.device('mmueller');
      const [t1] = await s.crm.getActivities(['t1']);
      await s.crm.setDone('t1', true, t1!.version);
      await s.syncOk();
      const ev = unfold((await dev.find('appointments', 'Besichtigung'))!.data);
      expect(ev).not.toContain('BEGIN:VALARM');
      expect(ev).toContain('Besichtigung'); // the event stays
      const task = (await dev.find('tasks', 'Exposé'))!;
      expect(unfold(task.data)).toMatch(/STATUS:NEEDS-ACTION/);
      const completed = unfold(task.data).replace('STATUS:NEEDS-ACTION', 'STATUS:COMPLETED\r\nCOMPLETED:20261120T100000Z');
      await dev.put(task.href, completed, task.etag);
      await s.syncOk();
      expect((await s.crm.getActivities(['k1']))[0]!.done).toBe(true);
    });

    it('R18: removing the alarm of an ended appointment sets it done; of a future one clears the alarm', async () => {
      const s = await setup();
      const dev = await s.device('mmueller');
      const strip = (data: string) => unfold(data).replace(/BEGIN:VALARM[\s\S]*?END:VALARM\r?\n/, '');
      const past = (await dev.find('appointments', 'Notartermin gestern'))!;
      const future = (await dev.find('appointments', 'Besichtigung'))!;
      await dev.put(past.href, strip(past.data), past.etag);
      await dev.put(future.href, strip(future.data), future.etag);
      await s.syncOk();
      const [t4] = await s.crm.getActivities(['t4']);
      const [t1] = await s.crm.getActivities(['t1']);
      expect(t4!.done).toBe(true);
      expect(t1!.done).toBe(false);
      expect(t1!.alarmMinutes).toBeNull();
    });

    it('R19: an event created on the device becomes a CRM activity of the preset type with the user tag and participant', async () => {
      const s = await setup();
      const dev = await s.device('mmueller');
      const ics = (uid: string, summary: string, extra = '') =>
        `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Phone//EN\r\nBEGIN:VEVENT\r\nUID:${uid}\r\nDTSTAMP:20261120T080000Z\r\nDTSTART:20270110T090000Z\r\nDTEND:20270110T100000Z\r\nSUMMARY:${summary}\r\n${extra}END:VEVENT\r\nEND:VCALENDAR\r\n`;
      await dev.create('appointments', 'phone-ev-1.ics', ics('phone-ev-1', 'Kaffee mit Bauträger'));
      await dev.create('appointments', 'phone-ev-2.ics', ics('phone-ev-2', 'Privattermin', 'CLASS:PRIVATE\r\n'));
      await s.syncOk();
      const ids = (await s.crm.scopeIds({ userId: 'u1', addressTags: [], activityTags: ['MM'] })).activities;
      const acts = await s.crm.getActivities(ids);
      const kaffee = acts.find((a) => a.subject === 'Kaffee mit Bauträger');
      expect(kaffee).toMatchObject({ kind: 'appointment', type: 'Termin', tags: ['MM'], participants: ['u1'], private: false });
      expect(acts.find((a) => a.subject === 'Privattermin')).toBeUndefined();
      // The device shows it with the type prefix now (R15).
      expect(unfold((await dev.find('appointments', 'Kaffee mit'))!.data)).toContain('SUMMARY:Termin: Kaffee mit Bauträger');
    });
  });

  describe('conflicts, safety, status', () => {
    it('R20: fields changed on one side merge; a field changed on both sides goes by the policy (crm-wins by default)', async () => {
      const s = await setup();
      const dev = await s.device('mmueller');
      const item = (await dev.find('contacts', 'Mustermann'))!;
      const [a1] = await s.crm.getAddresses(['a1']);
      await s.crm.updateAddress('a1', { city: 'Passau', note: 'CRM-Notiz' }, a1!.version);
      const edited = unfold(item.data)
        .replace(/^EMAIL[^:\r\n]*:.*$/m, 'EMAIL;TYPE=work:neu@muster.example')
        .replace(/^NOTE:.*$/m, 'NOTE:Handy-Notiz');
      await dev.put(item.href, edited, item.etag);
      const r = await s.syncOk({ users: ['mmueller'] });
      expect(r[0]!.conflicts).toBe(1);
      const [now] = await s.crm.getAddresses(['a1']);
      expect(now).toMatchObject({ city: 'Passau', email: 'neu@muster.example', note: 'CRM-Notiz' });
      const card = unfold((await dev.find('contacts', 'Mustermann'))!.data);
      expect(card).toContain('Passau');
      expect(card).toContain('neu@muster.example');
      expect(card).toContain('CRM-Notiz');
    });

    it('R20: with conflict device-wins the device value of a field changed on both sides is kept', async () => {
      const s = await setup({ config: { conflict: 'device-wins' } });
      const dev = await s.device('mmueller');
      const item = (await dev.find('contacts', 'Mustermann'))!;
      const [a1] = await s.crm.getAddresses(['a1']);
      await s.crm.updateAddress('a1', { note: 'CRM-Notiz' }, a1!.version);
      await dev.put(item.href, unfold(item.data).replace(/^NOTE:.*$/m, 'NOTE:Handy-Notiz'), item.etag);
      await s.syncOk({ users: ['mmueller'] });
      expect((await s.crm.getAddresses(['a1']))[0]!.note).toBe('Handy-Notiz');
    });

    it('R20: a write that loses a race (412) is retried from fresh data, never overwriting the phone\'s change', async () => {
      const s = await setup();
      const dev = await s.device('mmueller');
      const [a1] = await s.crm.getAddresses(['a1']);
      await s.crm.updateAddress('a1', { city: 'Rosenheim' }, a1!.version);
      let raced = false;
      const { openMailbox } = await import('../../src/providers/dav/index.js');
      const r = await s.sync(
        { users: ['mmueller'] },
        {
          openMailbox: (m, password) => {
            const real = openMailbox({ url: m.url, username: m.username, password, auth: m.auth }, { timeoutMs: 10_000, retries: 1, concurrency: 2 });
            // Just before our update, the phone edits the same contact.
            const update = real.update.bind(real);
            real.update = async (ref, data, ct) => {
              if (!raced) {
                raced = true;
                const item = (await dev.find('contacts', 'Mustermann'))!;
                await dev.put(item.href, unfold(item.data).replace(/^NOTE:.*$/m, 'NOTE:im Rennen geändert'), item.etag);
              }
              return update(ref, data, ct);
            };
            return real;
          },
        },
      );
      expect(raced).toBe(true);
      expect(r[0]!.state).toBe('success');
      const card = unfold((await dev.find('contacts', 'Mustermann'))!.data);
      expect(card).toContain('Rosenheim');
      expect(card).toContain('im Rennen geändert');
      expect((await s.crm.getAddresses(['a1']))[0]!.note).toBe('im Rennen geändert');
    });

    it('R21: a sync that would delete more than half of a collection of 10+ items stops until --force-delete', async () => {
      const doc = smallCrm();
      for (let i = 0; i < 12; i++) {
        doc.addresses.push({ ...doc.addresses[3]!, id: `x${i}`, firstName: `Person${i}`, lastName: 'Massen', owner: 'u1', tags: ['MM'] });
      }
      const s = await setup({ exchange: doc });
      const dev = await s.device('mmueller');
      for (let i = 0; i < 10; i++) await s.crm.removeTag('address', `x${i}`, 'MM');
      const blocked = await s.sync({ users: ['mmueller'] });
      expect(blocked[0]!.state).toBe('failed');
      expect(blocked[0]!.error).toMatch(/--force-delete/);
      expect((await dev.list('contacts')).filter((i) => i.data.includes('Massen'))).toHaveLength(12);
      const forced = await s.syncOk({ users: ['mmueller'], forceDelete: true });
      expect(forced[0]!.deleted).toBe(10);
      expect((await dev.list('contacts')).filter((i) => i.data.includes('Massen'))).toHaveLength(2);
    });

    it('R22: each mailbox has a status; a bad item or a broken mailbox never stops the others', async () => {
      sc = await Scenario.create();
      const s = sc;
      expect((await s.withState((state0) => state0.getStatus('u1'))).state).toBe('not-started');
      await s.syncOk();
      const dev = await s.device('mmueller');
      // (An unreadable single item is covered on a vdir in item-errors.test.ts: Radicale refuses it.)
      await dev.create('contacts', 'gut.vcf', 'BEGIN:VCARD\r\nVERSION:3.0\r\nUID:good-1\r\nFN:Gute Person\r\nN:Person;Gute;;;\r\nEND:VCARD\r\n');
      // sschmidt's mailbox gets a wrong password: that mailbox fails, the other goes on.
      const { storeMailboxPassword } = await import('../../src/secrets/index.js');
      await storeMailboxPassword({ user: 'u2', credentialStore: 'file' }, 'wrong-password', s.paths);
      const r = await s.sync();
      const mm = r.find((x) => x.login === 'mmueller')!;
      const ss = r.find((x) => x.login === 'sschmidt')!;
      expect(ss.state).toBe('failed');
      expect(ss.error).toMatch(/credentials|401|auth/i);
      expect(ss.error).not.toContain('wrong-password');
      const ids = (await s.crm.scopeIds({ userId: 'u1', addressTags: ['MM'], activityTags: [] })).addresses;
      expect((await s.crm.getAddresses(ids)).some((a) => a.lastName === 'Person')).toBe(true);
      const [u1, u2] = await s.withState(async (state) => [await state.getStatus('u1'), await state.getStatus('u2')]);
      expect(u2).toMatchObject({ state: 'failed' });
      expect(u2!.lastError).toBeTruthy();
      expect(u1!.lastSuccess).toBeTruthy();
      expect(mm.state).toBe('success');
    });

    it('R23: with the state store lost, the next sync re-adopts every item by UID — no duplicates on either side', async () => {
      const s = await setup();
      const dev = await s.device('mmueller');
      const before = { contacts: (await dev.list('contacts')).length, appointments: (await dev.list('appointments')).length, tasks: (await dev.list('tasks')).length };
      const crmBefore = await s.crm.scopeIds({ userId: 'u1', addressTags: ['MM', 'VIP', 'SS', 'Notar'], activityTags: ['MM', 'SS'] });
      for (const f of fs.readdirSync(s.home)) if (f.startsWith('state.sqlite')) fs.rmSync(`${s.home}/${f}`);
      const r = await s.syncOk({ users: ['mmueller'] });
      expect(r[0]!.created).toBe(0);
      expect(r[0]!.crmUpdates).toBe(0);
      expect({ contacts: (await dev.list('contacts')).length, appointments: (await dev.list('appointments')).length, tasks: (await dev.list('tasks')).length }).toEqual(before);
      expect(await s.crm.scopeIds({ userId: 'u1', addressTags: ['MM', 'VIP', 'SS', 'Notar'], activityTags: ['MM', 'SS'] })).toEqual(crmBefore);
    });

    it('R24: two syncs of the same mailbox never run at once (a lock held by another process)', async () => {
      const s = await setup();
      // Another process holds the mailbox lock.
      fs.mkdirSync(s.paths.lockDir, { recursive: true });
      const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
      try {
        fs.writeFileSync(`${s.paths.lockDir}/mailbox-u1.lock`, String(holder.pid));
        const r = await s.sync({ users: ['mmueller'] });
        expect(r[0]!.state).toBe('failed');
        expect(r[0]!.error).toMatch(new RegExp(`pid ${holder.pid}`));
      } finally {
        holder.kill();
      }
      // Once the holder is gone (its lock is stale), the sync runs.
      await new Promise((res) => holder.once('exit', res));
      await s.syncOk({ users: ['mmueller'] });
    });

    it('idempotency: a second run right after a sync writes nothing on either side', async () => {
      const s = await setup();
      const r = await s.syncOk();
      for (const m of r) expect(m).toMatchObject({ created: 0, updated: 0, deleted: 0, crmUpdates: 0, errors: [] });
    });
  });

  describe('state store', () => {
    it('R25: the state store holds ids, hrefs, ETags and keyed hashes — no names, numbers or notes', async () => {
      const s = await setup();
      const Database = (await import('better-sqlite3')).default;
      const db = new Database(s.paths.stateDb, { readonly: true });
      const dump = JSON.stringify(
        (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]).map((t) => db.prepare(`SELECT * FROM ${t}`).all()),
      );
      db.close();
      expect(dump).toContain('a1'); // ids are there
      for (const personal of ['Mustermann', 'Größl', '+49 89 1234-0', '1234-0', 'München', 'Hausmeister', s.passwords.mmueller!]) {
        expect(dump).not.toContain(personal);
      }
      expect(fs.statSync(s.paths.stateDb).mode & 0o777).toBe(0o600);
      expect(fs.statSync(`${s.paths.dataDir}/state.key`).mode & 0o777).toBe(0o600);
    });
  });
}

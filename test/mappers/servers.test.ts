// What the mappers write must be accepted by real servers and come back with the same content:
// Radicale (vobject) and Xandikos (dulwich + icalendar/vobject) are both strict about syntax.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  activityFieldHashes,
  activityToICal,
  addressFieldHashes,
  addressToVCard,
  iCalToActivity,
  patchVCard,
  vCardToAddress,
} from '../../src/mappers/index.js';
import { type RadicaleServer, type XandikosServer, startRadicale, startXandikos } from '../helpers/servers.js';
import { address, appointment, ctx, options, task } from './helpers.js';

const auth = `Basic ${Buffer.from('alice:alice-pass').toString('base64')}`;

async function dav(method: string, url: string, body?: string, contentType?: string): Promise<{ status: number; text: string }> {
  const headers: Record<string, string> = { Authorization: auth };
  if (contentType) headers['Content-Type'] = contentType;
  const res = await fetch(url, { method, body, headers, signal: AbortSignal.timeout(15_000) });
  return { status: res.status, text: await res.text() };
}

const MKCOL = (type: 'addressbook' | 'calendar') =>
  `<?xml version="1.0" encoding="utf-8"?><D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:A="urn:ietf:params:xml:ns:carddav"><D:set><D:prop><D:resourcetype><D:collection/>${type === 'addressbook' ? '<A:addressbook/>' : '<C:calendar/>'}</D:resourcetype></D:prop></D:set></D:mkcol>`;

const cards = [
  { name: 'v3', text: addressToVCard(address({ id: 'srv1', note: 'Notiz; mit, Zeichen\nzweite Zeile' }), options()) },
  { name: 'v4', text: addressToVCard(address({ id: 'srv2', phones: Array.from({ length: 8 }, (_, i) => ({ number: `+49 30 ${i}`, remark: '' })) }), options({ vcardVersion: '4.0' })) },
  { name: 'private', text: addressToVCard(address({ id: 'srv3', private: true, company: 'Ä'.repeat(80) }), options()) },
  {
    name: 'patched',
    text: patchVCard(addressToVCard(address({ id: 'srv4' }), options()), address({ id: 'srv4', phones: [{ number: '', remark: '' }, { number: '+49 2', remark: '' }, { number: '+49 3', remark: '' }] }), options()),
  },
];
const events = [
  { name: 'timed', activity: appointment({ id: 'e1' }) },
  { name: 'allday', activity: appointment({ id: 'e2', allDay: true, start: '2026-12-24', end: '2026-12-27', timeZone: null }) },
  { name: 'done', activity: appointment({ id: 'e3', done: true, private: true, timeZone: 'America/New_York' }) },
  { name: 'task', activity: task({ id: 'e4', alarmMinutes: 30, done: true }) },
];

for (const kind of ['radicale', 'xandikos'] as const) {
  describe(`${kind} accepts what the mappers write and returns the same content`, () => {
    let server: RadicaleServer | XandikosServer;
    let book = '';
    let cal = '';
    beforeAll(async () => {
      if (kind === 'radicale') {
        server = await startRadicale({ users: { alice: 'alice-pass' } });
        book = `${server.url}/alice/contacts/`;
        cal = `${server.url}/alice/calendar/`;
        expect((await dav('MKCOL', book, MKCOL('addressbook'), 'application/xml')).status).toBe(201);
        expect((await dav('MKCOL', cal, MKCOL('calendar'), 'application/xml')).status).toBe(201);
      } else {
        server = await startXandikos();
        book = `${server.url}/user/contacts/addressbook/`;
        cal = `${server.url}/user/calendars/calendar/`;
      }
    });
    afterAll(async () => {
      await server?.stop();
    });

    it('R11/R12: vCards 3.0/4.0 (escaping, folding, Apple labels, categories, patched) are stored and read back identically', async () => {
      for (const c of cards) {
        const href = `${book}${c.name}.vcf`;
        const put = await dav('PUT', href, c.text, 'text/vcard; charset=utf-8');
        expect(put.status, `${c.name}: ${put.text}`).toBeLessThan(300);
        const got = await dav('GET', href);
        expect(got.status).toBe(200);
        const mine = vCardToAddress(c.text, options());
        const theirs = vCardToAddress(got.text, options());
        expect(addressFieldHashes(theirs.fields), c.name).toEqual(addressFieldHashes(mine.fields));
        expect(theirs.isPrivate).toBe(mine.isPrivate);
      }
    });

    it('R14/R17: events (VTIMEZONE, all-day, done, private) and a completed task are stored and read back identically', async () => {
      for (const e of events) {
        const text = activityToICal(e.activity, ctx(), options());
        const href = `${cal}${e.name}.ics`;
        const put = await dav('PUT', href, text, 'text/calendar; charset=utf-8');
        expect(put.status, `${e.name}: ${put.text}`).toBeLessThan(300);
        const got = await dav('GET', href);
        expect(got.status).toBe(200);
        const theirs = iCalToActivity(got.text, options(), e.activity.type);
        expect(activityFieldHashes(theirs.fields), e.name).toEqual(activityFieldHashes(e.activity));
        expect(theirs.isPrivate).toBe(e.activity.private);
      }
    });
  });
}

// Server quirks handled by the provider (src/providers/dav/quirks.ts), each on the real server
// that has it: one server per kind for the whole file, stopped at the end.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DavProtocolError, openMailbox, PreconditionFailedError, UidConflictError, type CollectionKind, type MailboxProvider } from '../../src/providers/dav/index.js';
import { DavMailbox } from '../../src/providers/dav/provider.js';
import { skipReason, startServer, type ServerKind, type TestServer } from '../helpers/mailbox-servers.js';
import { startSogo, type SogoServer } from '../helpers/sogo.js';

const NAMES: Record<CollectionKind, string> = { contacts: 'CRM Kontakte', appointments: 'CRM Termine', tasks: 'CRM Aufgaben' };
const T = { timeoutMs: 10_000, retries: 1, concurrency: 2, retryBaseMs: 20 };
const ICAL = 'text/calendar; charset=utf-8';
const VCARD_TYPE = 'text/vcard; charset=utf-8';
const vevent = (uid: string, summary = uid) =>
  `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//sync-cli//test//EN\r\nBEGIN:VEVENT\r\nUID:${uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260301T090000Z\r\nDTEND:20260301T100000Z\r\nSUMMARY:${summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n`;
const vcard = (uid: string, fn = uid) => `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:${uid}\r\nFN:${fn}\r\nN:${fn};;;;\r\nEND:VCARD\r\n`;

const opened: MailboxProvider[] = [];
function open(url: string, username = 'anna', password = 'pw-anna'): DavMailbox {
  const p = openMailbox({ url, username, password, auth: 'basic' }, T) as DavMailbox;
  opened.push(p);
  return p;
}
afterAll(async () => {
  await Promise.all(opened.map((p) => p.close()));
});

function serverSuite(kind: ServerKind, title: string, body: (get: () => TestServer) => void): void {
  const skip = skipReason(kind, 'quirks');
  describe.skipIf(Boolean(skip))(`${title}${skip ? ` (skipped: ${skip})` : ''}`, () => {
    let server: TestServer;
    beforeAll(async () => {
      server = await startServer(kind, { anna: 'pw-anna' });
    });
    afterAll(async () => {
      await server?.stop();
    });
    body(() => server);
  });
}

serverSuite('cyrus', 'Cyrus 3.6', (get) => {
  it('R23: a duplicate UID in another calendar of the account → UidConflictError naming the existing item (403 unique-scheduling-object-resource)', async () => {
    const p = open(get().url);
    const cols = await p.provision(NAMES);
    const first = await p.create(cols.appointments, 'dup-a.ics', vevent('cyrus-dup'), ICAL);
    // The tasks calendar only takes VTODO: the account's Default calendar gets the second copy.
    const other = { ...cols.appointments, url: `${get().url}/dav/calendars/user/anna/Default/` };
    const err = await p.create(other, 'dup-b.ics', vevent('cyrus-dup'), ICAL).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UidConflictError);
    expect((err as UidConflictError).status).toBe(403);
    expect((err as UidConflictError).existingHref).toBe(first.href);
    expect((err as Error).message).toContain('dup-a.ics');
  });

  it('honours If-None-Match and If-Match: the probe finds no precondition to emulate', async () => {
    const p = open(get().url);
    await p.provision(NAMES);
    expect(p.serverQuirks()).toEqual({ ignoresIfNoneMatch: false, ignoresIfMatchOnDelete: false });
  });
});

serverSuite('sogo', 'SOGo 5.8', (get) => {
  it('R23: a duplicate UID in the same calendar → UidConflictError (409 with a non-standard body, no href)', async () => {
    const p = open(get().url);
    const cols = await p.provision(NAMES);
    await p.create(cols.appointments, 'dup-a.ics', vevent('sogo-dup'), ICAL);
    const err = await p.create(cols.appointments, 'dup-b.ics', vevent('sogo-dup'), ICAL).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UidConflictError);
    expect((err as UidConflictError).status).toBe(409);
    expect((err as UidConflictError).existingHref).toBeUndefined();
  });

  it('the probe finds If-None-Match: * and If-Match on DELETE ignored, and the provider refuses both itself (R20)', async () => {
    const p = open(get().url);
    const cols = await p.provision(NAMES);
    expect(p.serverQuirks()).toEqual({ ignoresIfNoneMatch: true, ignoresIfMatchOnDelete: true });
    const created = await p.create(cols.contacts, 'guarded.vcf', vcard('guarded', 'Erika Guard'), VCARD_TYPE);
    await expect(p.create(cols.contacts, 'guarded.vcf', vcard('guarded', 'Overwrite'), VCARD_TYPE)).rejects.toBeInstanceOf(PreconditionFailedError);
    const updated = await p.update(created, vcard('guarded', 'Erika Guard 2'), VCARD_TYPE);
    await expect(p.remove(created)).rejects.toBeInstanceOf(PreconditionFailedError); // stale ETag
    const { items } = await p.fetch(cols.contacts, [created.href]);
    expect(items[0]?.data).toContain('Erika Guard 2'); // neither overwritten nor deleted
    await p.remove(updated);
    expect((await p.fetch(cols.contacts, [created.href])).missing).toEqual([created.href]);
  });

  it('collection names stick (MKCOL ignores displayname) and are found again after a lost state', async () => {
    const p = open(get().url, 'ben', 'pw-ben');
    await get().addUser('ben', 'pw-ben');
    const cols = await p.provision(NAMES);
    expect(cols.contacts.displayName).toBe(NAMES.contacts);
    const again = await open(get().url, 'ben', 'pw-ben').provision(NAMES); // no known URLs: a lost state
    expect(again.contacts.url).toBe(cols.contacts.url);
    expect(again.appointments.url).toBe(cols.appointments.url);
  });
});

serverSuite('davical', 'DAViCal 1.1', (get) => {
  it('a vCard created without an ETag in the answer gets its ETag by one PROPFIND', async () => {
    const seen: string[] = [];
    const p = openMailbox({ url: get().url, username: 'anna', password: 'pw-anna', auth: 'basic' }, { ...T, onRequest: (m: string) => seen.push(m) });
    opened.push(p);
    const cols = await p.provision(NAMES);
    seen.length = 0;
    const ref = await p.create(cols.contacts, 'no-etag.vcf', vcard('no-etag'), VCARD_TYPE);
    expect(seen).toEqual(['PUT', 'PROPFIND']);
    expect(ref.etag).toMatch(/^"[0-9a-f]+"$/);
    const { items } = await p.fetch(cols.contacts, [ref.href]);
    expect(items[0]?.etag).toBe(ref.etag);
  });
});

describe('discovery from what a user types', () => {
  const skip = skipReason('sogo', 'quirks');
  let sogo: SogoServer | undefined;
  let html: Server;
  let htmlUrl = '';
  const htmlSeen: string[] = [];
  beforeAll(async () => {
    if (!skip) sogo = await startSogo({ users: { anna: 'pw-anna' } });
    html = createServer((req, res) => {
      htmlSeen.push(`${req.method} ${req.url}`);
      req.resume();
      res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><html><body>Login</body></html>');
    });
    await new Promise<void>((r) => html.listen(0, '127.0.0.1', r));
    htmlUrl = `http://127.0.0.1:${(html.address() as AddressInfo).port}/`;
  });
  afterAll(async () => {
    await sogo?.stop();
    await new Promise((r) => html.close(r));
  });

  it.skipIf(Boolean(skip))('bare sogod (200 HTML on / and /.well-known) is found at /SOGo/dav/', async () => {
    const p = open(sogo!.directUrl);
    const { principal } = await p.probe();
    expect(principal).toBe(`${sogo!.directUrl}/SOGo/dav/anna/`);
  });

  it.skipIf(Boolean(skip))('bare sogod closes kept-alive connections unannounced: the transport stops reusing them after the first reset (no retry storm)', async () => {
    const failures: string[] = [];
    const p = openMailbox(
      { url: `${sogo!.directUrl}/SOGo/dav/`, username: 'anna', password: 'pw-anna', auth: 'basic' },
      { ...T, retries: 3, onRequest: (m: string, u: string, status: number) => status === 0 && failures.push(`${m} ${u}`) },
    );
    opened.push(p);
    const cols = await p.provision({ contacts: 'Direkt Kontakte', appointments: 'Direkt Termine', tasks: 'Direkt Aufgaben' });
    const started = Date.now();
    for (let i = 0; i < 20; i++) await p.create(cols.contacts, `direct-${i}.vcf`, vcard(`direct-${i}`), VCARD_TYPE);
    const ms = Date.now() - started;
    console.log(`bare sogod: 20 creates in ${ms} ms, ${failures.length} failed attempt(s)`);
    expect(failures).toEqual([]); // the one reset is resent at once, below the retry layer
    expect(ms).toBeLessThan(5000); // was ≈70 ms per item with a retry after every second request
  });

  it('a server that is not DAV at all: the error names the URL and every path tried, nothing is written', async () => {
    const err = await open(htmlUrl).provision(NAMES).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DavProtocolError);
    const msg = (err as Error).message;
    expect(msg).toContain('127.0.0.1');
    for (const path of ['/.well-known/carddav', '/.well-known/caldav', '/SOGo/dav/', '/remote.php/dav/', '/dav.php/', '/caldav.php/', '/dav/']) expect(msg).toContain(path);
    expect(msg).not.toContain('pw-anna');
    expect(htmlSeen.every((r) => r.startsWith('PROPFIND '))).toBe(true); // no PUT, MKCOL, DELETE
  });
});

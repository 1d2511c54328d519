// One storage contract, three backends: real Radicale, real Xandikos and the vdir folder.
// What a sync engine relies on: discovery is idempotent, writes are conditional, deltas are
// complete (deletes included) and cheap, fetch tolerates vanished items, names may be unicode.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ItemRejectedError,
  MissingEtagError,
  NotFoundError,
  UidConflictError,
  openMailbox,
  openVdirMailbox,
  PreconditionFailedError,
  type CollectionKind,
  type CollectionRef,
  type MailboxProvider,
} from '../../src/providers/dav/index.js';
import { startRadicale, startXandikos } from '../helpers/servers.js';
import { SERVER_NAMES, skipReason, startServer, type ServerKind } from '../helpers/mailbox-servers.js';

const NAMES: Record<CollectionKind, string> = { contacts: 'CRM Kontakte', appointments: 'CRM Termine', tasks: 'CRM Aufgaben' };

interface Backend {
  name: string;
  isDav: boolean;
  kind?: ServerKind;
  skip?: string;
  start(): Promise<{ provider: MailboxProvider; reopen(): MailboxProvider; stop(): Promise<void> }>;
}

/** Every HTTP exchange of the providers under test, for "costs one request" assertions. */
const requests: Array<{ method: string; url: string; status: number }> = [];
const transport = {
  timeoutMs: 10_000,
  retries: 2,
  concurrency: 4,
  retryBaseMs: 50,
  onRequest: (method: string, url: string, status: number) => requests.push({ method, url, status }),
};

const backends: Backend[] = [
  {
    name: 'Radicale',
    isDav: true,
    async start() {
      const server = await startRadicale({ users: { anna: 'pw-änna-1' } });
      const open = () => openMailbox({ url: server.url, username: 'anna', password: 'pw-änna-1', auth: 'basic' }, transport);
      return { provider: open(), reopen: open, stop: server.stop };
    },
  },
  {
    name: 'Xandikos',
    isDav: true,
    async start() {
      const server = await startXandikos();
      const open = () => openMailbox({ url: server.url, username: 'anyone', password: 'unused', auth: 'basic' }, transport);
      return { provider: open(), reopen: open, stop: server.stop };
    },
  },
  ...(['cyrus', 'davical', 'sogo'] as const).map(
    (kind): Backend => ({
      name: SERVER_NAMES[kind],
      isDav: true,
      kind,
      skip: skipReason(kind, 'mailbox contract'),
      async start() {
        const server = await startServer(kind, { anna: 'pw-änna-1' });
        const open = () => openMailbox({ url: server.url, username: 'anna', password: 'pw-änna-1', auth: 'basic' }, transport);
        return { provider: open(), reopen: open, stop: server.stop };
      },
    }),
  ),
  {
    name: 'vdir',
    isDav: false,
    async start() {
      const root = mkdtempSync(join(tmpdir(), 'sync-cli-vdir-'));
      const open = () => openVdirMailbox(root);
      return { provider: open(), reopen: open, stop: async () => rmSync(root, { recursive: true, force: true }) };
    },
  },
];

function vcard(uid: string, name: string, extra = ''): string {
  return ['BEGIN:VCARD', 'VERSION:3.0', `UID:${uid}`, `FN:${name}`, `N:${name};;;;`, ...(extra ? [extra] : []), 'END:VCARD', ''].join('\r\n');
}

function vevent(uid: string, summary: string): string {
  return [
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    'PRODID:-//sync-cli//test//EN',
    'BEGIN:VEVENT',
    `UID:${uid}`,
    'DTSTAMP:20260101T000000Z',
    'DTSTART:20260301T090000Z',
    'DTEND:20260301T100000Z',
    `SUMMARY:${summary}`,
    'END:VEVENT',
    'END:VCALENDAR',
    '',
  ].join('\r\n');
}

function vtodo(uid: string, summary: string): string {
  return ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//sync-cli//test//EN', 'BEGIN:VTODO', `UID:${uid}`, 'DTSTAMP:20260101T000000Z', `SUMMARY:${summary}`, 'END:VTODO', 'END:VCALENDAR', ''].join(
    '\r\n',
  );
}

/** Folded content lines joined back (servers may re-fold what they store). */
function unfold(data: string): string {
  return data.replace(/\r?\n[ \t]/g, '');
}

const VCARD_TYPE = 'text/vcard; charset=utf-8';
const ICAL_TYPE = 'text/calendar; charset=utf-8';

describe.each(backends)('mailbox contract: $name', (backend) => {
  if (backend.skip) {
    it.skip(`${backend.name} cannot run here: ${backend.skip}`, () => {});
    return;
  }
  let provider: MailboxProvider;
  let reopen: () => MailboxProvider;
  let stop: () => Promise<void>;
  let cols: Record<CollectionKind, CollectionRef>;

  beforeAll(async () => {
    ({ provider, reopen, stop } = await backend.start());
    cols = await provider.provision(NAMES);
  });
  afterAll(async () => {
    await provider?.close();
    await stop?.();
  });

  it('provisioning finds the three collections again instead of creating new ones', async () => {
    expect(cols.contacts.kind).toBe('contacts');
    expect(new Set([cols.contacts.url, cols.appointments.url, cols.tasks.url]).size).toBe(3);
    expect(cols.appointments.displayName).toBe(NAMES.appointments);
    const other = reopen();
    try {
      const again = await other.provision(NAMES);
      expect(again.contacts.url).toBe(cols.contacts.url);
      expect(again.appointments.url).toBe(cols.appointments.url);
      expect(again.tasks.url).toBe(cols.tasks.url);
      const fromKnown = await other.provision(NAMES, { contacts: cols.contacts.url, appointments: cols.appointments.url, tasks: cols.tasks.url });
      expect(fromKnown.tasks.url).toBe(cols.tasks.url);
      if (backend.isDav) expect(fromKnown.contacts.supportsSyncToken).toBe(true);
    } finally {
      await other.close();
    }
  });

  it('R20: creates only when absent and updates/deletes only with the current ETag', async () => {
    const created = await provider.create(cols.contacts, 'etag-test.vcf', vcard('etag-test', 'Erika Etag'), VCARD_TYPE);
    expect(created.etag).not.toBe('');
    await expect(provider.create(cols.contacts, 'etag-test.vcf', vcard('etag-test', 'Other'), VCARD_TYPE)).rejects.toBeInstanceOf(PreconditionFailedError);

    const updated = await provider.update(created, vcard('etag-test', 'Erika Etag 2'), VCARD_TYPE);
    expect(updated.href).toBe(created.href);
    expect(updated.etag).not.toBe(created.etag);
    // The old ETag is stale now: both update and delete must refuse.
    await expect(provider.update(created, vcard('etag-test', 'Lost update'), VCARD_TYPE)).rejects.toBeInstanceOf(PreconditionFailedError);
    await expect(provider.remove(created)).rejects.toBeInstanceOf(PreconditionFailedError);

    const before = requests.length;
    await expect(provider.update({ href: created.href, etag: '' }, vcard('etag-test', 'Blind'), VCARD_TYPE)).rejects.toBeInstanceOf(MissingEtagError);
    expect(requests.length).toBe(before); // refused before anything was sent

    const { items } = await provider.fetch(cols.contacts, [created.href]);
    expect(unfold(items[0]!.data)).toContain('FN:Erika Etag 2');

    await provider.remove(updated);
    await provider.remove(updated); // already gone = success
    const after = await provider.fetch(cols.contacts, [created.href]);
    expect(after.items).toEqual([]);
    expect(after.missing).toEqual([created.href]);
  });

  it('content the server refuses gives ItemRejectedError (never a 412 the engine would loop on)', async () => {
    const attempt = provider.create(cols.contacts, 'garbage.vcf', 'hello, not a vCard', VCARD_TYPE);
    if (backend.kind === 'sogo') {
      // SOGo answers 404 with an HTML page ("the requested object could not be found").
      await expect(attempt).rejects.toBeInstanceOf(NotFoundError);
      return;
    }
    if (!backend.isDav || backend.kind === 'davical') {
      // A folder (and DAViCal) does not validate content: it stores what it is given.
      await expect(attempt).resolves.toMatchObject({ etag: expect.any(String) });
      return;
    }
    const err = await attempt.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ItemRejectedError);
    expect((err as Error).message).toContain('garbage.vcf');
    console.log(`${backend.name} refuses invalid vCard content: ${(err as Error).message}`);
  });

  it('R23: a second item with an existing UID: Radicale refuses (UidConflictError), the others store both', async () => {
    const first = await provider.create(cols.contacts, 'uid-dup-1.vcf', vcard('uid-dup', 'Dup'), VCARD_TYPE);
    const second = provider.create(cols.contacts, 'uid-dup-2.vcf', vcard('uid-dup', 'Dup'), VCARD_TYPE);
    if (backend.name === 'Radicale') await expect(second).rejects.toBeInstanceOf(UidConflictError);
    else expect((await second).href).not.toBe(first.href);
  });

  it('R6: sync deltas report creates, changes and deletes since the token; no change costs one request', async () => {
    const col = cols.appointments;
    const a = await provider.create(col, 'delta-a.ics', vevent('delta-a', 'A'), ICAL_TYPE);
    const b = await provider.create(col, 'delta-b.ics', vevent('delta-b', 'B'), ICAL_TYPE);
    const first = await provider.delta(col, null);
    expect(first.full).toBe(true);
    expect(first.changed.map((c) => c.href).sort()).toEqual([a.href, b.href].sort());
    expect(first.changed.find((c) => c.href === a.href)?.etag).toBe(a.etag);

    const a2 = await provider.update(a, vevent('delta-a', 'A changed'), ICAL_TYPE);
    await provider.remove(b);
    const c = await provider.create(col, 'delta-c.ics', vevent('delta-c', 'C'), ICAL_TYPE);
    const second = await provider.delta(col, first.token);
    if (second.full) {
      // Backends without a change log (vdir) list everything: the caller diffs.
      expect(second.changed.map((x) => x.href).sort()).toEqual([a2.href, c.href].sort());
    } else {
      expect(second.changed.map((x) => x.href).sort()).toEqual([a2.href, c.href].sort());
      expect(second.deleted).toEqual([b.href]);
    }
    expect(second.changed.find((x) => x.href === a2.href)?.etag).toBe(a2.etag);
    // SOGo's token is a Unix time in seconds: changes within the same second keep it.
    if (backend.kind !== 'sogo') expect(second.token).not.toBe(first.token);

    const before = requests.length;
    const third = await provider.delta(col, second.token);
    if (backend.kind === 'sogo') {
      // The token's second is inclusive: what changed in that second comes again, unchanged.
      for (const d of third.deleted) expect(d).toBe(b.href);
      expect(third.full).toBe(false);
      for (const x of third.changed) expect([a2, c].some((r) => r.href === x.href && r.etag === x.etag)).toBe(true);
    } else expect(third).toEqual({ changed: [], deleted: [], full: false, token: second.token });
    expect(requests.length - before).toBe(backend.isDav ? 1 : 0);
    if (backend.isDav) expect(requests.at(-1)?.method).toBe('REPORT');
  });

  it('R6: the deltas of all three collections: a change in one is seen, a change right after a delta is seen, no change costs one request per parent or per collection (D100)', async () => {
    const kinds = ['contacts', 'appointments', 'tasks'] as const;
    const ask = (tokens: (string | null)[]) => provider.deltas(kinds.map((k, i) => ({ collection: cols[k], token: tokens[i]! })));
    let tokens = (await ask([null, null, null])).map((d) => d.token);
    const before = requests.length;
    const quiet = await ask(tokens);
    const sent = requests.slice(before).map((r) => r.method);
    console.log(`${backend.name}: a no-change check of three collections sends ${sent.join(', ') || 'nothing'}`);
    if (backend.kind !== 'sogo') quiet.forEach((d, i) => expect(d).toEqual({ changed: [], deleted: [], full: false, token: tokens[i] }));
    // Where the collections live decides: Radicale and DAViCal keep all three in the user's home,
    // Xandikos and Cyrus the contacts apart from the calendars; SOGo's tokens are seconds (never probed).
    const expected: Record<string, string[]> = {
      Radicale: ['PROPFIND'],
      DAViCal: ['PROPFIND'],
      Xandikos: ['PROPFIND', 'REPORT'],
      Cyrus: ['PROPFIND', 'REPORT'],
      SOGo: ['REPORT', 'REPORT', 'REPORT'],
      vdir: [],
    };
    expect(sent).toEqual(expected[backend.name]);
    tokens = quiet.map((d) => d.token);
    // A change in one collection, and then (three times, so that some land in the second of
    // the token just read: SOGo's tokens are Unix seconds) a change right after a delta.
    for (let round = 0; round < 3; round++) {
      const t = await provider.create(cols.tasks, `probe-${round}.ics`, vtodo(`probe-${round}`, `Probe ${round}`), ICAL_TYPE);
      const seen = await ask(tokens);
      expect(seen[2]!.changed.map((c) => c.href)).toContain(t.href);
      if (backend.kind !== 'sogo') expect(seen[0]!.changed).toEqual([]);
      tokens = seen.map((d) => d.token);
    }
  });

  it('R6: an invalid or expired sync token falls back to a full listing', async () => {
    const col = cols.tasks;
    const t = await provider.create(col, 'token-task.ics', vtodo('token-task', 'Task'), ICAL_TYPE);
    const before = requests.length;
    const delta = await provider.delta(col, 'http://example.invalid/ns/sync/does-not-exist');
    if (backend.kind === 'davical' || backend.kind === 'sogo') {
      // They never refuse a token: 207 with everything (as "changed") and a fresh token. The
      // provider cannot tell; deletions behind a lost token are caught by sync.fullEveryHours.
      expect(requests.slice(before).map((r) => [r.method, r.status])).toEqual([['REPORT', 207]]);
      expect(delta.full).toBe(false);
      expect(delta.changed.map((x) => x.href)).toContain(t.href);
      console.log(`${backend.name} answers an invalid sync token with HTTP 207 and a full listing`);
      return;
    }
    expect(delta.full).toBe(true);
    expect(delta.deleted).toEqual([]);
    expect(delta.changed.map((x) => x.href)).toContain(t.href);
    expect(delta.token).not.toBeNull();
    if (backend.isDav) {
      const sent = requests.slice(before);
      // The refusal (Radicale 403, Xandikos 500) is not retried: one refused REPORT, one full REPORT.
      expect(sent.map((r) => r.method)).toEqual(['REPORT', 'REPORT']);
      expect([403, 409, 500]).toContain(sent[0]!.status);
      console.log(`${backend.name} answers an invalid sync token with HTTP ${sent[0]!.status}`);
    }
  });

  it('servers without sync-collection: ctag short-circuit, then a listing of etags', async () => {
    const col = { ...cols.tasks, supportsSyncToken: false };
    const listing = await provider.delta(col, null);
    expect(listing.full).toBe(true);
    expect(listing.changed.length).toBeGreaterThan(0);
    const before = requests.length;
    const again = await provider.delta(col, listing.token);
    expect(again.changed).toEqual([]);
    expect(again.full).toBe(false);
    expect(requests.length - before).toBe(backend.isDav ? 1 : 0);
  });

  it('multiget returns the items that exist and names the ones that vanished', async () => {
    const col = cols.contacts;
    const refs = await Promise.all(['mg-1', 'mg-2', 'mg-3'].map((uid) => provider.create(col, `${uid}.vcf`, vcard(uid, uid), VCARD_TYPE)));
    await provider.remove(refs[1]!);
    const { items, missing } = await provider.fetch(col, refs.map((r) => r.href));
    expect(items.map((i) => i.href).sort()).toEqual([refs[0]!.href, refs[2]!.href].sort());
    expect(missing).toEqual([refs[1]!.href]);
    for (const item of items) expect(item.etag).toBe(refs.find((r) => r.href === item.href)?.etag);
  });

  it('unicode file names and content round-trip with stable hrefs', async () => {
    const col = cols.contacts;
    const sent = vcard('unicode-1', 'Jürgen Müller 日本');
    const ref = await provider.create(col, 'Müller-Øre-日本語.vcf', sent, VCARD_TYPE);
    const delta = await provider.delta(col, null);
    expect(delta.changed.map((c) => c.href)).toContain(ref.href);
    const { items, missing } = await provider.fetch(col, [ref.href]);
    expect(missing).toEqual([]);
    expect(unfold(items[0]!.data)).toContain('FN:Jürgen Müller 日本');
    if (backend.kind === 'davical') expect(items[0]!.data).toBe(sent.replace('END:VCARD', `${/REV:[^\r\n]*/.exec(items[0]!.data)?.[0]}\r\nEND:VCARD`)); // DAViCal adds REV
    else if (backend.kind === 'sogo') expect(unfold(items[0]!.data).replace(/\r?\n/g, '\n')).toContain('N:Jürgen Müller 日本\n'); // SOGo rewrites the card
    else expect(items[0]!.data).toBe(sent); // byte for byte, final CRLF included
    const updated = await provider.update(ref, vcard('unicode-1', 'Jürgen Müller-Lüdenscheidt'), VCARD_TYPE);
    expect(updated.href).toBe(ref.href);
    // A UID that is not a safe file name still gets a stable, valid one.
    const odd = await provider.create(col, 'a/b c?d#e.vcf', vcard('a/b c?d#e', 'Odd UID'), VCARD_TYPE);
    const again = await provider.fetch(col, [odd.href]);
    expect(again.items).toHaveLength(1);
  });

  it('a large item (~1 MB) is written and read back whole', async () => {
    const note = 'x'.repeat(1_000_000);
    const ref = await provider.create(cols.contacts, 'large.vcf', vcard('large', 'Large Note', `NOTE:${note}`), VCARD_TYPE);
    const { items } = await provider.fetch(cols.contacts, [ref.href]);
    expect(items).toHaveLength(1);
    expect(unfold(items[0]!.data)).toContain(`NOTE:${note}`);
    expect(items[0]!.data.endsWith('\n')).toBe(true);
  });

  it('fetches 120 items in batches of 50', async () => {
    const col = cols.contacts;
    const created = [];
    for (let i = 0; i < 120; i++) created.push(await provider.create(col, `bulk-${i}.vcf`, vcard(`bulk-${i}`, `Bulk ${i}`), VCARD_TYPE));
    const listing = await provider.delta(col, null);
    const hrefs = created.map((c) => c.href);
    expect(listing.changed.map((c) => c.href)).toEqual(expect.arrayContaining(hrefs));
    const before = requests.length;
    const { items, missing } = await provider.fetch(col, hrefs);
    expect(missing).toEqual([]);
    expect(items).toHaveLength(120);
    expect(new Set(items.map((i) => i.href))).toEqual(new Set(hrefs));
    if (backend.isDav) expect(requests.slice(before).filter((r) => r.method === 'REPORT')).toHaveLength(3);
  });
});

// #11: a hostile or broken mailbox server cannot take the password, the memory or the run.
// Each finding of the probe, reproduced against a hostile proxy in front of a real Radicale (or
// a hostile loopback server where the finding is about what a server names), asserting the clear
// error, the bounded memory (peak RSS of the CLI process from /proc) and that the other items and
// mailboxes still sync. Threat model and limits: docs/security.md.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CredentialScopeError, openMailbox, type MailboxProvider } from '../../src/providers/dav/index.js';
import { exportExchange } from '../../src/providers/crm/exchange.js';
import { cliPath } from '../helpers/cli.js';
import { startHostileProxy, startRecordingServer, watchPeakRss, type HostileAnswer, type HostileProxy } from '../helpers/hostile-proxy.js';
import { Scenario } from '../helpers/scenario.js';
import { makeTestCa, type TestCa } from '../helpers/test-ca.js';
import { smallCrm } from '../helpers/small-crm.js';

const MB = 1024 * 1024;

/** `n` MB of zeros gzip'd (a zip bomb: a few hundred kB that unpack to n MB). */
async function gzipBomb(n: number): Promise<Buffer> {
  const gz = createGzip({ level: 9 });
  const out: Buffer[] = [];
  gz.on('data', (c: Buffer) => out.push(c));
  const done = new Promise((r) => gz.on('end', r));
  const zeros = Buffer.alloc(MB);
  for (let i = 0; i < n; i++) if (!gz.write(zeros)) await new Promise((r) => gz.once('drain', r));
  gz.end();
  await done;
  return Buffer.concat(out);
}

/** A sync-collection answer listing `n` hrefs (what the probe sent to flood the parser). */
function hugeListing(collectionPath: string, n: number): string {
  const parts = ['<?xml version="1.0"?><d:multistatus xmlns:d="DAV:">'];
  for (let i = 0; i < n; i++) parts.push(`<d:response><d:href>${collectionPath}item-${i}.vcf</d:href><d:propstat><d:prop><d:getetag>"e${i}"</d:getetag></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>`);
  parts.push('<d:sync-token>http://x/sync/1</d:sync-token></d:multistatus>');
  return parts.join('');
}

/** Runs the built CLI as a separate process (so its memory is its own) and samples its peak RSS. */
function runCliMeasured(args: string[]): Promise<{ code: number; stdout: string; stderr: string; peakMb: number; seconds: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [cliPath, ...args], { env: { ...process.env, NO_COLOR: '1' } });
    const rss = watchPeakRss(child.pid!);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    // Peak RSS is read while the process still exists: on 'exit' /proc is gone, so sample on the way.
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, rss.peakMb())), 50);
    child.on('exit', (code) => {
      clearTimeout(killer);
      clearInterval(sampler);
      rss.stop();
      resolve({ code: code ?? -1, stdout, stderr, peakMb: peak, seconds: (Date.now() - started) / 1000 });
    });
  });
}

/** One scenario per describe: mmueller's mailbox on a fresh Radicale with a hostile proxy in front (routed: the mailbox URL goes through it). */
function hostileScenario(opts: { routed?: boolean } = {}): { sc: Scenario; proxy: HostileProxy } {
  const h = {} as { sc: Scenario; proxy: HostileProxy };
  beforeAll(async () => {
    h.sc = await Scenario.create({ logins: ['mmueller'] });
    h.proxy = await startHostileProxy(h.sc.server.url);
    if (opts.routed) h.sc.setConfig((c) => (c.mailboxes[0]!.url = h.proxy.url + '/'));
  }, 60_000);
  afterAll(async () => {
    await h.proxy?.stop();
    await h.sc?.stop();
  });
  return h;
}

interface RunJson {
  mailboxes: { user: string; userId: string; state: string; created: number; errors: { item: string; message: string }[]; attention?: { item: string; message: string }[]; error?: string }[];
}

describe('unbounded answers (finding 1): one hostile server cannot take the memory of the others', () => {
  let sc: Scenario;
  const proxies: HostileProxy[] = [];
  beforeAll(async () => {
    const crm = smallCrm();
    // Four mailboxes: three behind hostile servers, one on the plain Radicale.
    crm.users.push(
      { ...crm.users[0]!, id: 'u3', login: 'bomb2', name: 'Bomb Two', userTag: 'B2', addressTags: ['MM'], activityTags: ['MM'] },
      { ...crm.users[0]!, id: 'u4', login: 'plain', name: 'Plain User', userTag: 'PL', addressTags: ['SS'], activityTags: ['SS'] },
    );
    sc = await Scenario.create({ exchange: crm });
  }, 60_000);
  afterAll(async () => {
    for (const p of proxies) await p.stop();
    await sc?.stop();
  });

  it('a gzip bomb, an endless answer and a listing of 60,000 hrefs each fail their mailbox with the URL and the limit; the fourth mailbox syncs; peak RSS stays far below 500 MB', async () => {
    const bomb = await gzipBomb(300); // 300 MB unpacked
    const [pBomb, pEndless, pHrefs] = [await startHostileProxy(sc.server.url), await startHostileProxy(sc.server.url), await startHostileProxy(sc.server.url)];
    proxies.push(pBomb!, pEndless!, pHrefs!);
    pBomb!.on((r) => (r.method === 'PROPFIND' ? { status: 207, headers: { 'Content-Type': 'application/xml', 'Content-Encoding': 'gzip' }, body: bomb } : undefined));
    // 500 MB of XML-ish text without a length, written as fast as the client reads.
    pEndless!.on((r) =>
      r.method === 'PROPFIND'
        ? {
            status: 207,
            headers: { 'Content-Type': 'application/xml' },
            body: (res) => {
              const chunk = Buffer.alloc(MB, 'a');
              let sent = 0;
              const pump = () => {
                while (sent < 500 && !res.destroyed) {
                  sent++;
                  if (!res.write(chunk)) return void res.once('drain', pump);
                }
                res.end();
              };
              res.on('close', () => (sent = 500));
              pump();
            },
          }
        : undefined,
    );
    pHrefs!.on((r) => (r.method === 'REPORT' && r.body.includes('sync-collection') ? { status: 207, headers: { 'Content-Type': 'application/xml' }, body: hugeListing(r.path, 60_000) } : undefined));
    sc.setConfig((c) => {
      for (const m of c.mailboxes) {
        if (m.user === 'u1') m.url = pBomb!.url + '/';
        if (m.user === 'u2') m.url = pEndless!.url + '/';
      }
      // u3 and u4 log in to Radicale with their own accounts (Scenario made them).
      const u3 = c.mailboxes.find((m) => m.user === 'u3')!;
      u3.url = pHrefs!.url + '/';
    });

    const r = await runCliMeasured(['--home', sc.home, 'run', '--once', '--json']);
    expect(r.code, r.stderr).toBe(1);
    const doc = JSON.parse(r.stdout) as RunJson;
    const by = Object.fromEntries(doc.mailboxes.map((m) => [m.userId, { ...m, error: m.errors.map((e) => e.message).join(' ') }]));
    expect(by.u1).toMatchObject({ state: 'failed' });
    expect(by.u1!.error).toContain('limits.maxResponseBytes');
    expect(by.u1!.error).toContain('once unpacked (gzip)');
    expect(by.u1!.error).toContain(pBomb!.url);
    expect(by.u2!.error).toContain('limits.maxResponseBytes');
    expect(by.u2!.error).toContain(pEndless!.url);
    expect(by.u3!.error).toContain('limits.maxHrefsPerListing');
    expect(by.u3!.error).toContain('60000 hrefs');
    expect(by.u4).toMatchObject({ state: 'success', error: '' });
    expect(by.u4!.created).toBeGreaterThan(0);
    // 32 MB per answer at most, three hostile answers at once: far below the probe's 2 GB.
    expect(r.peakMb).toBeGreaterThan(0);
    expect(r.peakMb).toBeLessThan(500);
    // R25: no password in any output or in the state store.
    const stateBytes = readFileSync(sc.paths.stateDb).toString('latin1');
    for (const pw of Object.values(sc.passwords)) {
      expect(r.stdout + r.stderr).not.toContain(pw);
      expect(stateBytes).not.toContain(pw);
    }
    // The stored status names the limit too (R22), and no error was stored 100 kB long.
    await sc.withState(async (state) => {
      for (const u of ['u1', 'u2', 'u3']) {
        const st = await state.getStatus(u);
        expect(st.state).toBe('failed');
        expect(st.lastError!.length).toBeLessThanOrEqual(1100);
      }
    });
  });
});

describe('deadlines (finding 9)', () => {
  const h = hostileScenario();

  it('a server that answers every PUT with 503 and Retry-After: 60 ends the run at limits.mailboxRunSeconds, not tens of minutes later', async () => {
    h.proxy.on((r) => (r.method === 'PUT' ? { status: 503, headers: { 'Retry-After': '60' }, body: 'busy' } : undefined));
    h.sc.setConfig((c) => {
      c.mailboxes[0]!.url = h.proxy.url + '/';
      c.limits.mailboxRunSeconds = 5;
    });
    const started = Date.now();
    const [res] = await h.sc.sync();
    const seconds = (Date.now() - started) / 1000;
    expect(seconds).toBeLessThan(20);
    expect(res!.state).toBe('failed');
    expect(res!.error).toContain('limits.mailboxRunSeconds');
    expect(res!.error).toContain('the next sync continues');
    // Once the server answers again, the next sync finishes the job (R23).
    h.proxy.on(undefined);
    h.sc.setConfig((c) => (c.limits.mailboxRunSeconds = 1800));
    const [again] = await h.sc.sync();
    expect(again!.state, JSON.stringify(again)).toBe('success');
    expect(again!.created).toBeGreaterThan(0);
  });
});

describe('where the password goes (findings 3 and 4)', () => {
  let ca: TestCa;
  let key: string;
  let cert: string;
  let caFile: string;
  const opened: MailboxProvider[] = [];
  beforeAll(() => {
    ca = makeTestCa('hostile test CA');
    ({ key, cert, caFile } = ca);
  });
  afterAll(async () => {
    for (const m of opened) await m.close();
    ca?.remove();
  });

  /** An https DAV server whose discovery answers name `principal` and `home` (absolute URLs). */
  async function httpsDav(names: { principal: (own: string) => string; home: (own: string) => string }) {
    const seen: { path: string; authorized: boolean }[] = [];
    const server = createHttpsServer({ key, cert }, (req, res) => {
      req.resume();
      seen.push({ path: req.url ?? '', authorized: Boolean(req.headers.authorization) });
      const own = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const body =
        req.url === '/'
          ? `<d:multistatus xmlns:d="DAV:"><d:response><d:href>/</d:href><d:propstat><d:prop><d:current-user-principal><d:href>${names.principal(own)}</d:href></d:current-user-principal></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>`
          : `<d:multistatus xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:response><d:href>${req.url}</d:href><d:propstat><d:prop><card:addressbook-home-set><d:href>${names.home(own)}</d:href></card:addressbook-home-set><c:calendar-home-set><d:href>${names.home(own)}</d:href></c:calendar-home-set></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>`;
      res.writeHead(207, { 'Content-Type': 'application/xml' }).end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    return { url, seen, stop: () => new Promise<void>((r) => server.close(() => r())) };
  }

  it('an https mailbox whose server names its principal on plain http sends nothing there (no password, no request)', async () => {
    const clear = await startRecordingServer();
    const dav = await httpsDav({ principal: () => `${clear.url}/principals/anna/`, home: (own) => `${own}/home/` });
    try {
      const m = openMailbox({ url: dav.url, username: 'anna', password: 'secret-pw-1', auth: 'basic' }, { timeoutMs: 3000, retries: 0, concurrency: 1, caFile });
      opened.push(m);
      const err = await m.probe().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CredentialScopeError);
      expect((err as Error).message).toContain('plain-http address');
      expect((err as Error).message).toContain(`${clear.url}/principals/anna/`);
      expect((err as Error).message).not.toContain('secret-pw-1');
      expect(clear.seen).toEqual([]);
    } finally {
      await dav.stop();
      await clear.stop();
    }
  });

  it('the same for a home set on plain http, even when that origin was "trusted" at assign', async () => {
    const clear = await startRecordingServer();
    const dav = await httpsDav({ principal: (own) => `${own}/principals/anna/`, home: () => `${clear.url}/home/` });
    try {
      const m = openMailbox({ url: dav.url, username: 'anna', password: 'secret-pw-2', auth: 'basic', trustedOrigins: [clear.url] }, { timeoutMs: 3000, retries: 0, concurrency: 1, caFile });
      opened.push(m);
      await expect(m.provision({ contacts: 'c', appointments: 'a', tasks: 't' })).rejects.toBeInstanceOf(CredentialScopeError);
      expect(clear.seen).toEqual([]);
      expect(dav.seen.every((s) => s.authorized)).toBe(true);
    } finally {
      await dav.stop();
      await clear.stop();
    }
  });

  describe('item hrefs on another host in a sync answer (finding 4)', () => {
    const h = hostileScenario({ routed: true });

    it('are item errors: no PUT, DELETE or GET goes there, the password stays home, the other items sync', async () => {
      const elsewhere = await startRecordingServer((_r, res) => res.writeHead(200, { ETag: '"x"' }).end('BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Evil\r\nUID:evil\r\nEND:VCARD\r\n'));
      try {
        await h.sc.syncOk();
        // From now on every listing also names an item on the other host (and one ftp: href).
        h.proxy.rewrite((r, body) =>
          r.method === 'REPORT' && r.body.includes('sync-collection') && body.includes('multistatus')
            ? body.replace(
                /<\/(\w+:)?multistatus>\s*$/,
                (end) =>
                  `<response xmlns="DAV:"><href>${elsewhere.url}/evil/1.vcf</href><propstat><prop><getetag>"1"</getetag></prop><status>HTTP/1.1 200 OK</status></propstat></response>` +
                  `<response xmlns="DAV:"><href>ftp://127.0.0.1/evil.vcf</href><propstat><prop><getetag>"2"</getetag></prop><status>HTTP/1.1 200 OK</status></propstat></response>${end}`,
              )
            : undefined,
        );
        const device = await h.sc.device('mmueller');
        // The device connects to Radicale directly; the sync goes through the hostile proxy.
        await device.create('contacts', 'phone-made.vcf', 'BEGIN:VCARD\r\nVERSION:3.0\r\nUID:phone-made-1\r\nN:Neu;Nora;;;\r\nFN:Nora Neu\r\nEND:VCARD\r\n');
        const [res] = await h.sc.sync({ full: true });
        expect(elsewhere.seen).toEqual([]);
        const items = res!.errors.map((e) => e.item);
        expect(items).toContain(`${elsewhere.url}/evil/1.vcf`);
        expect(items.some((i) => i.startsWith('ftp:'))).toBe(true);
        expect(res!.errors.find((e) => e.item.startsWith(elsewhere.url))!.message).toContain("outside the collection's server");
        const crmNames = (await exportExchange(h.sc.crm)).addresses.map((a) => a.lastName);
        expect(crmNames).toContain('Neu');
        expect(crmNames).not.toContain('Evil');
      } finally {
        h.proxy.rewrite(undefined);
        await elsewhere.stop();
      }
    });
  });
});

describe('per-item fetch fallback (finding 7)', () => {
  const h = hostileScenario({ routed: true });

  it('a refused multiget and one failing item (a 100,000-character href the server refuses with 414) fail that item alone, three runs out of three', async () => {
    await h.sc.syncOk();
    const device = await h.sc.device('mmueller');
    for (const [uid, last] of [['p1', 'Eins'], ['p2', 'Zwei']]) await device.create('contacts', `${uid}.vcf`, `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:${uid}\r\nN:${last};Paula;;;\r\nFN:Paula ${last}\r\nEND:VCARD\r\n`);
    const longName = 'x'.repeat(100_000);
    h.proxy.on((r) => {
      if (r.method === 'REPORT' && r.body.includes('addressbook-multiget')) return { status: 400, body: 'multiget not supported' };
      if (r.method === 'GET' && r.path.length > 10_000) return { status: 414, body: 'URI Too Long '.repeat(5000) };
      return undefined;
    });
    h.proxy.rewrite((r, body) =>
      r.method === 'REPORT' && r.body.includes('sync-collection') && body.includes('multistatus') && /\.vcf/.test(body)
        ? body.replace(/<\/(\w+:)?multistatus>\s*$/, (end) => `<response xmlns="DAV:"><href>${r.path}${longName}.vcf</href><propstat><prop><getetag>"9"</getetag></prop><status>HTTP/1.1 200 OK</status></propstat></response>${end}`)
        : undefined,
    );
    for (let run = 1; run <= 3; run++) {
      const [res] = await h.sc.sync({ full: true });
      const names = (await exportExchange(h.sc.crm)).addresses.map((a) => a.lastName);
      expect(names, `run ${run}`).toEqual(expect.arrayContaining(['Eins', 'Zwei']));
      const long = res!.errors.find((e) => e.item.includes(longName.slice(0, 100)));
      expect(long, `run ${run}: ${JSON.stringify(res!.errors).slice(0, 500)}`).toBeDefined();
      expect(long!.message).toContain('HTTP 414');
      expect(long!.message.length).toBeLessThan(800);
    }
    await h.sc.withState(async (state) => expect((await state.getStatus('u1')).lastError!.length).toBeLessThanOrEqual(1100));
    h.proxy.on(undefined);
    h.proxy.rewrite(undefined);
  });
});

describe('a time zone that repeats every second (finding 2)', () => {
  const h = hostileScenario();

  const event = (uid: string, tz: string, zoneRule: string) =>
    [
      'BEGIN:VCALENDAR',
      'VERSION:2.0',
      'PRODID:-//hostile//EN',
      'BEGIN:VTIMEZONE',
      `TZID:${tz}`,
      'BEGIN:STANDARD',
      'DTSTART:16010101T000000',
      'TZOFFSETFROM:+0100',
      'TZOFFSETTO:+0200',
      zoneRule,
      'END:STANDARD',
      'END:VTIMEZONE',
      'BEGIN:VEVENT',
      `UID:${uid}`,
      'DTSTAMP:20261201T080000Z',
      `DTSTART;TZID=${tz}:20261215T100000`,
      `DTEND;TZID=${tz}:20261215T110000`,
      `SUMMARY:${uid}`,
      'END:VEVENT',
      'END:VCALENDAR',
      '',
    ].join('\r\n');

  it('an item with RRULE:FREQ=SECONDLY in its VTIMEZONE is reported alone (needs attention, D30), quickly, with a message; an Outlook-style custom zone beside it is imported', async () => {
    await h.sc.syncOk();
    const device = await h.sc.device('mmueller');
    await device.create('appointments', 'spin.ics', event('spinning-zone', 'Hostile Zone', 'RRULE:FREQ=SECONDLY'));
    await device.create('appointments', 'spin2.ics', event('minutely-zone', 'Hostile Zone 2', 'RRULE:FREQ=YEARLY;BYHOUR=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23;BYMINUTE=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59'));
    await device.create('appointments', 'fine.ics', event('outlook-zone', 'W. Europe Standard Time (custom)', 'RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU'));
    const r = await runCliMeasured(['--home', h.sc.home, 'run', '--once', '--json']);
    expect(r.seconds).toBeLessThan(20);
    expect(r.peakMb).toBeGreaterThan(0);
    expect(r.peakMb).toBeLessThan(500); // the probe saw 795 MB after 30 s, rising
    const res = (JSON.parse(r.stdout) as RunJson).mailboxes[0];
    // D30: an item that cannot be read needs the user's attention; it is no failure of the mailbox.
    const reported = res!.attention ?? [];
    expect(res!.errors.filter((e) => /spin2?\.ics$/.test(e.item))).toEqual([]);
    const spin = reported.find((e) => e.item.endsWith('spin.ics'));
    expect(spin?.message).toContain('SECONDLY');
    expect(reported.find((e) => e.item.endsWith('spin2.ics'))?.message).toContain('BYHOUR');
    const subjects = (await exportExchange(h.sc.crm)).activities.map((a) => a.subject);
    expect(subjects).toContain('outlook-zone');
    expect(subjects).not.toContain('spinning-zone');
  });
});

describe('a lasting Retry-After ends the mailbox, not every write one by one', () => {
  const h = hostileScenario();

  it('with the default limits, 503 + Retry-After on every PUT stops the mailbox after the first write ran out of retries', async () => {
    h.proxy.on((r) => (r.method === 'PUT' ? { status: 503, headers: { 'Retry-After': '1' }, body: 'busy' } : undefined));
    h.sc.setConfig((c) => {
      c.mailboxes[0]!.url = h.proxy.url + '/';
      c.dav.retries = 1;
      c.sync.concurrency = 1;
    });
    const [res] = await h.sc.sync();
    expect(res!.state).toBe('failed');
    expect(res!.errors).toEqual([]); // a mailbox error, not one item error per write
    expect(res!.error).toContain('rate limiting');
    // One write, tried twice: the others were not sent at all.
    expect(h.proxy.seen.filter((r) => r.method === 'PUT')).toHaveLength(2);
  });
});

describe('held up in the probe, kept as regression tests', () => {
  const h = hostileScenario({ routed: true });

  it('an XML entity bomb ("billion laughs") in a PROPFIND answer is refused before parsing; nothing is written', async () => {
    const lol = [
      '<?xml version="1.0"?>',
      '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>',
      '<d:multistatus xmlns:d="DAV:"><d:response><d:href>/&lol4;</d:href><d:propstat><d:prop><d:current-user-principal><d:href>/mmueller/</d:href></d:current-user-principal></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>',
    ].join('\n');
    h.proxy.on((r) => (r.method === 'PROPFIND' ? { status: 207, headers: { 'Content-Type': 'application/xml' }, body: lol } : undefined));
    const [res] = await h.sc.sync();
    expect(res!.state).toBe('failed');
    expect(res!.error).toContain('declares a DTD or entities');
    expect(h.proxy.seen.some((r) => r.method === 'PUT')).toBe(false);
    h.proxy.on(undefined);
  });
});

describe('held up in the probe: redirects, vdir paths, a 50 MB item', () => {
  const h = hostileScenario({ routed: true });

  it('file: and javascript: redirects are not followed', async () => {
    for (const location of ['file:///etc/passwd', 'javascript:alert(1)']) {
      h.proxy.on((r) => (r.method === 'PROPFIND' ? { status: 302, headers: { Location: location } } : undefined));
      const m = openMailbox({ url: h.proxy.url + '/', username: 'mmueller', password: h.sc.passwords.mmueller!, auth: 'basic' }, { timeoutMs: 2000, retries: 0, concurrency: 1 });
      const err = await m.probe().catch((e: unknown) => e);
      await m.close();
      expect(err, location).toBeInstanceOf(Error);
      expect((err as Error).message).not.toContain('root:');
    }
    h.proxy.on(undefined);
  });

  it('a 50 MB item fails alone; the item beside it is imported', async () => {
    await h.sc.syncOk();
    const device = await h.sc.device('mmueller');
    await device.create('contacts', 'small.vcf', 'BEGIN:VCARD\r\nVERSION:3.0\r\nUID:small-1\r\nN:Klein;Kim;;;\r\nFN:Kim Klein\r\nEND:VCARD\r\n');
    await device.create('contacts', 'big.vcf', 'BEGIN:VCARD\r\nVERSION:3.0\r\nUID:big-1\r\nN:Gross;Gina;;;\r\nFN:Gina Gross\r\nEND:VCARD\r\n');
    const huge = (res: import('node:http').ServerResponse) => {
      const chunk = Buffer.alloc(MB, 'A');
      let left = 50;
      const pump = () => {
        while (left > 0 && !res.destroyed) {
          left--;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      res.on('close', () => (left = 0));
      pump();
    };
    h.proxy.on((r): HostileAnswer | undefined => {
      if (r.method === 'REPORT' && r.body.includes('multiget') && r.body.includes('big.vcf')) return { status: 207, headers: { 'Content-Type': 'application/xml' }, body: huge };
      if (r.method === 'GET' && r.path.endsWith('big.vcf')) return { status: 200, headers: { 'Content-Type': 'text/vcard', ETag: '"big"' }, body: huge };
      return undefined;
    });
    const [res] = await h.sc.sync();
    h.proxy.on(undefined);
    const big = res!.errors.find((e) => e.item.endsWith('big.vcf'));
    expect(big?.message).toContain('limits.maxResponseBytes');
    expect(res!.errors).toHaveLength(1);
    const names = (await exportExchange(h.sc.crm)).addresses.map((a) => a.lastName);
    expect(names).toContain('Klein');
    expect(names).not.toContain('Gross');
  });

  it('a vdir refuses an href outside its root (a crafted state file)', async () => {
    const { VdirMailbox } = await import('../../src/providers/vdir/index.js');
    const root = mkdtempSync(join(tmpdir(), 'sync-cli-vdir-root-'));
    const mb = new VdirMailbox(root);
    const refs = await mb.provision({ contacts: 'c', appointments: 'a', tasks: 't' });
    await expect(mb.fetch(refs.contacts, ['/etc/passwd'])).rejects.toThrow(/outside the vdir/);
    await expect(mb.fetch(refs.contacts, [join(root, '..', 'x.vcf')])).rejects.toThrow(/outside the vdir/);
    rmSync(root, { recursive: true, force: true });
  });
});

// The transport under bad networks and unfriendly servers: a loopback proxy in front of each real
// server (Xandikos, Radicale, Cyrus, DAViCal, SOGo) injects the faults; the provider must retry what is worth retrying and
// otherwise fail with the typed error the engine and the user act on — never with a credential.
import { execFileSync } from 'node:child_process';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AuthError,
  CredentialScopeError,
  NetworkError,
  openMailbox,
  PreconditionFailedError,
  RateLimitedError,
  ServerError,
  type CollectionKind,
  type CollectionRef,
  type MailboxAccount,
  type MailboxProvider,
  type TransportOptions,
} from '../../src/providers/dav/index.js';
import { digestAuthorization, parseDigestChallenge } from '../../src/providers/dav/digest.js';
import { startFaultyProxy, type FaultyProxy } from '../helpers/faulty-proxy.js';
import { makeTestCa, type TestCa } from '../helpers/test-ca.js';
import { startRadicale, startXandikos, type RadicaleServer, type XandikosServer } from '../helpers/servers.js';
import { SERVER_NAMES, skipReason, startServer, type ServerKind, type TestServer } from '../helpers/mailbox-servers.js';

const FAULT_SERVERS = (['xandikos', 'radicale', 'cyrus', 'davical', 'sogo'] as const).map((kind: ServerKind) => ({
  kind,
  name: SERVER_NAMES[kind],
  skip: skipReason(kind, 'fault suite'),
}));

const NAMES: Record<CollectionKind, string> = { contacts: 'Kontakte', appointments: 'Termine', tasks: 'Aufgaben' };
const VCARD = (uid: string) => `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:${uid}\r\nFN:${uid}\r\nN:${uid};;;;\r\nEND:VCARD\r\n`;
const TYPE = 'text/vcard; charset=utf-8';

let xandikos: XandikosServer;
let proxy: FaultyProxy;
const opened: MailboxProvider[] = [];

function open(account: Partial<MailboxAccount> = {}, opts: Partial<TransportOptions> = {}): MailboxProvider {
  const p = openMailbox(
    { url: proxy.url, username: 'user', password: 'not-checked', auth: 'basic', ...account },
    { timeoutMs: 2000, retries: 2, concurrency: 2, retryBaseMs: 20, ...opts },
  );
  opened.push(p);
  return p;
}

beforeAll(async () => {
  xandikos = await startXandikos();
  proxy = await startFaultyProxy(xandikos.url);
});
afterEach(() => {
  proxy.clear();
  proxy.requireDigest(undefined);
});
afterAll(async () => {
  await Promise.all(opened.map((p) => p.close()));
  await proxy?.stop();
  await xandikos?.stop();
});

describe.each(FAULT_SERVERS)('retries through a faulty proxy ($name behind it)', ({ kind, name, skip }) => {
  if (skip) {
    it.skip(`${name} cannot run here: ${skip}`, () => {});
    return;
  }
  let cols: Record<CollectionKind, CollectionRef>;
  let server: TestServer | undefined;
  let proxy: FaultyProxy;
  let root = '/';
  const open = (account: Partial<MailboxAccount> = {}, opts: Partial<TransportOptions> = {}): MailboxProvider => {
    const p = openMailbox(
      { url: new URL(root, proxy.url).href, username: 'fault', password: 'fault-pw', auth: 'basic', ...account },
      { timeoutMs: 2000, retries: 2, concurrency: 2, retryBaseMs: 20, ...opts },
    );
    opened.push(p);
    return p;
  };
  beforeAll(async () => {
    server = kind === 'xandikos' ? undefined : await startServer(kind, { fault: 'fault-pw' });
    proxy = await startFaultyProxy(server ? server.url : xandikos.url);
    // The DAV root, not the bare host: SOGo's Apache redirects /.well-known to its own origin.
    root = server ? server.davRoot : '/';
    // Discovery and provisioning (SOGo's collection names are slow) get the default timeout.
    cols = await open({}, { timeoutMs: 10_000 }).provision(NAMES);
  });
  afterEach(() => proxy.clear());
  afterAll(async () => {
    await proxy?.stop();
    await server?.stop();
  });

  it('a dropped connection is retried and the request succeeds', async () => {
    const p = open();
    proxy.inject({ kind: 'drop' }, 1, 'REPORT');
    const before = proxy.seen.length;
    const delta = await p.delta(cols.contacts, null);
    expect(delta.full).toBe(true);
    expect(proxy.seen.slice(before).map((s) => s.fault)).toEqual(['drop', 'pass']);
  });

  it('connections dropped on every attempt end in NetworkError naming the URL', async () => {
    const p = open({}, { retries: 2 });
    proxy.inject({ kind: 'drop' }, Infinity);
    const before = proxy.seen.length;
    const err = await p.delta(cols.contacts, null).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as Error).message).toContain(cols.contacts.url);
    expect(proxy.seen.length - before).toBe(3); // first attempt + 2 retries
  });

  it('503 with Retry-After is waited for and retried', async () => {
    const p = open();
    proxy.inject({ kind: 'status', status: 503, retryAfter: '1' }, 1, 'PUT');
    const started = Date.now();
    const before = proxy.seen.length;
    await p.create(cols.contacts, 'after-503.vcf', VCARD('after-503'), TYPE);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(proxy.seen.slice(before).filter((s) => s.method === 'PUT').map((s) => s.fault)).toEqual(['status', 'pass']);
  });

  it('a lasting 503 ends in ServerError with the status', async () => {
    const p = open({}, { retries: 1 });
    proxy.inject({ kind: 'status', status: 503, retryAfter: '0' }, Infinity);
    const err = await p.fetch(cols.contacts, [`${cols.contacts.url}x.vcf`]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect((err as ServerError).status).toBe(503);
  });

  it('429 is retried, and a lasting 429 ends in RateLimitedError with retryAfterMs', async () => {
    const p = open({}, { retries: 1 });
    proxy.inject({ kind: 'status', status: 429, retryAfter: '1' }, 1);
    await expect(p.delta(cols.contacts, null)).resolves.toMatchObject({ full: true });

    proxy.inject({ kind: 'status', status: 429, retryAfter: '1' }, Infinity);
    const err = await p.delta(cols.contacts, null).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitedError);
    expect((err as RateLimitedError).retryAfterMs).toBe(1000);
  });

  it('a Retry-After longer than the limit is not slept through: RateLimitedError at once', async () => {
    const p = open({}, { retries: 3 });
    proxy.inject({ kind: 'status', status: 429, retryAfter: '3600' }, Infinity);
    const before = proxy.seen.length;
    const started = Date.now();
    const err = await p.delta(cols.contacts, null).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitedError);
    expect((err as RateLimitedError).retryAfterMs).toBe(3_600_000);
    expect(proxy.seen.length - before).toBe(1);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('an answer slower than the timeout is retried; always slow ends in NetworkError', async () => {
    const p = open({}, { timeoutMs: 300, retries: 1 });
    proxy.inject({ kind: 'delay', ms: 800 }, 1);
    await expect(p.delta(cols.contacts, null)).resolves.toMatchObject({ full: true });

    proxy.inject({ kind: 'delay', ms: 800 }, Infinity);
    const err = await p.delta(cols.contacts, null).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as Error).message).toMatch(/no answer within 300 ms/);
  });

  it('a truncated sync report (507 on the collection) is followed with the new token until complete', async () => {
    const p = open();
    const col = cols.tasks;
    const ics = (uid: string) =>
      `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VTODO\r\nUID:${uid}\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:${uid}\r\nEND:VTODO\r\nEND:VCALENDAR\r\n`;
    const a = await p.create(col, 'trunc-a.ics', ics('trunc-a'), 'text/calendar');
    const b = await p.create(col, 'trunc-b.ics', ics('trunc-b'), 'text/calendar');
    const mid = await p.delta(col, null); // a real token that covers a and b
    const c = await p.create(col, 'trunc-c.ics', ics('trunc-c'), 'text/calendar');
    await p.remove(a);
    // Page 1 as a paging server (Google, RFC 6578 §3.6) would send it: a and b, then "more" (507)
    // with the token to continue from; page 2 comes from the real server.
    const path = (u: string) => new URL(u).pathname;
    proxy.inject(
      {
        kind: 'respond',
        status: 207,
        body: `<?xml version="1.0" encoding="utf-8"?><d:multistatus xmlns:d="DAV:">
<d:response><d:href>${path(a.href)}</d:href><d:propstat><d:prop><d:getetag>${a.etag}</d:getetag></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
<d:response><d:href>${path(b.href)}</d:href><d:propstat><d:prop><d:getetag>${b.etag}</d:getetag></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
<d:response><d:href>${path(col.url)}</d:href><d:status>HTTP/1.1 507 Insufficient Storage</d:status><d:error><d:number-of-matches-within-limits/></d:error></d:response>
<d:sync-token>${mid.token}</d:sync-token></d:multistatus>`,
      },
      1,
      'REPORT',
    );
    const before = proxy.seen.length;
    const full = await p.delta(col, null);
    expect(proxy.seen.slice(before).map((s) => s.method)).toEqual(['REPORT', 'REPORT']);
    expect(full.full).toBe(true);
    const hrefs = full.changed.map((x) => x.href);
    expect(hrefs).toEqual(expect.arrayContaining([b.href, c.href]));
    expect(hrefs).not.toContain(a.href); // deleted on page 2: not part of the complete listing
    if (kind !== 'sogo') expect(full.token).not.toBe(mid.token); // SOGo's token is a second: may not move
  });

  it('a whole-request 507 on the initial sync falls back to a PROPFIND listing', async () => {
    const p = open();
    proxy.inject({ kind: 'respond', status: 507, body: '<d:error xmlns:d="DAV:"><d:number-of-matches-within-limits/></d:error>' }, 1, 'REPORT');
    const before = proxy.seen.length;
    const delta = await p.delta(cols.tasks, null);
    expect(delta.full).toBe(true);
    expect(delta.changed.length).toBeGreaterThan(0);
    expect(proxy.seen.slice(before).map((s) => s.method)).toEqual(['REPORT', 'PROPFIND', 'PROPFIND']);
  });

  it('a multiget refused as a whole falls back to one GET per item and still names the missing', async () => {
    const p = open();
    const ok = await p.create(cols.contacts, 'batch-ok.vcf', VCARD('batch-ok'), TYPE);
    const gone = `${cols.contacts.url}never-existed.vcf`;
    proxy.inject({ kind: 'status', status: 400 }, 1, 'REPORT');
    const { items, missing } = await p.fetch(cols.contacts, [ok.href, gone]);
    expect(items.map((i) => [i.href, i.etag])).toEqual([[ok.href, ok.etag]]);
    expect(missing).toEqual([gone]);
  });

  it('R23: a create whose answer was lost is retried and reported as already existing (412), not duplicated', async () => {
    const p = open();
    proxy.inject({ kind: 'lose-answer' }, 1, 'PUT');
    const err = await p.create(cols.contacts, 'lost-answer.vcf', VCARD('lost-answer'), TYPE).catch((e: unknown) => e);
    // SOGo ignores If-None-Match: * — the retried PUT overwrites the same item (our existence
    // check ran before the first attempt): the item still exists once.
    if (kind === 'sogo') expect(err).toMatchObject({ href: expect.stringContaining('lost-answer.vcf') });
    else expect(err).toBeInstanceOf(PreconditionFailedError);
    const delta = await p.delta(cols.contacts, null);
    expect(delta.changed.filter((c) => c.href.endsWith('/lost-answer.vcf'))).toHaveLength(1);
  });
});

describe('HTTP Digest authentication by challenge/response', () => {
  it('matches the RFC 2617 and RFC 7616 example responses', () => {
    const rfc2617 = digestAuthorization(
      { realm: 'testrealm@host.com', nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093', qop: 'auth,auth-int', opaque: '5ccc069c403ebaf9f0171e9517f40e41', algorithm: 'MD5', stale: false },
      { username: 'Mufasa', password: 'Circle Of Life' },
      'GET',
      '/dir/index.html',
      1,
      '0a4f113b',
    );
    expect(rfc2617).toContain('response="6629fae49393a05397450978507c4ef1"');
    const challenge = parseDigestChallenge(
      'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS", Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
    );
    expect(challenge?.algorithm).toBe('SHA-256'); // the stronger of the two offers
    const rfc7616 = digestAuthorization(challenge!, { username: 'Mufasa', password: 'Circle of Life' }, 'GET', '/dir/index.html', 1, 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ');
    expect(rfc7616).toContain('response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"');
  });

  it('answers the challenge once, then authenticates every request up front; a stale nonce is renewed', async () => {
    proxy.requireDigest({ username: 'dora', password: 'dig€st-pw', realm: 'sync-cli test' });
    const p = open({ username: 'dora', password: 'dig€st-pw', auth: 'digest' });
    const before = proxy.seen.length;
    const cols = await p.provision(NAMES);
    const seen = proxy.seen.slice(before);
    expect(seen.filter((s) => s.fault === 'auth-challenge')).toHaveLength(1);
    expect(seen.length).toBeGreaterThan(2);

    proxy.expireNonce();
    const n = proxy.seen.length;
    await expect(p.delta(cols.contacts, null)).resolves.toMatchObject({ full: true });
    expect(proxy.seen.slice(n).map((s) => s.fault)).toEqual(['auth-challenge', 'pass']);
  });

  it('a wrong digest password ends in AuthError without the password', async () => {
    proxy.requireDigest({ username: 'dora', password: 'right-pw', realm: 'sync-cli test' });
    const p = open({ username: 'dora', password: 'wrong-pw-123', auth: 'digest' });
    const err = await p.probe().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as AuthError).exitCode).toBe(2);
    expect((err as Error).message).not.toContain('wrong-pw-123');
  });
});

describe('Basic auth against Radicale', () => {
  let radicale: RadicaleServer;
  beforeAll(async () => {
    radicale = await startRadicale({ users: { ben: 'ben-secret-pw' } });
  });
  afterAll(async () => radicale?.stop());

  it('R25: wrong credentials give AuthError (exit 2) with the URL and never the password', async () => {
    const p = openMailbox(
      { url: radicale.url.replace('http://', 'http://ben:leaked-pw-999@'), username: 'ben', password: 'leaked-pw-999', auth: 'basic' },
      { timeoutMs: 5000, retries: 0, concurrency: 1 },
    );
    opened.push(p);
    const err = await p.provision(NAMES).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as AuthError).exitCode).toBe(2);
    expect((err as Error).message).toContain('127.0.0.1');
    expect((err as Error).message).not.toContain('leaked-pw-999');
    expect(String((err as AuthError).remedy)).not.toContain('leaked-pw-999');
  });

  it('another user cannot be reached: each user provisions under their own principal', async () => {
    const p = openMailbox({ url: radicale.url, username: 'ben', password: 'ben-secret-pw', auth: 'basic' }, { timeoutMs: 5000, retries: 0, concurrency: 1 });
    opened.push(p);
    const cols = await p.provision(NAMES);
    expect(cols.contacts.url).toMatch(new RegExp(`^${radicale.url}/ben/`));
    expect((await p.probe()).principal).toBe(`${radicale.url}/ben/`);
  });
});

describe('TLS', () => {
  let dir: string;
  let ca: TestCa;
  let tlsProxy: FaultyProxy;
  beforeAll(async () => {
    ca = makeTestCa();
    dir = ca.dir;
    tlsProxy = await startFaultyProxy(xandikos.url, { tls: { key: ca.key, cert: ca.cert } });
  });
  afterAll(async () => {
    await tlsProxy?.stop();
    ca?.remove();
  });

  it('an unknown CA is refused (verification is always on) and trusted with caFile', async () => {
    const account: MailboxAccount = { url: tlsProxy.url, username: 'user', password: 'x', auth: 'basic' };
    const untrusted = openMailbox(account, { timeoutMs: 3000, retries: 0, concurrency: 1 });
    opened.push(untrusted);
    const err = await untrusted.probe().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as Error).message).toMatch(/certificate/i);

    const trusted = openMailbox(account, { timeoutMs: 3000, retries: 0, concurrency: 1, caFile: join(dir, 'ca.pem') });
    opened.push(trusted);
    await expect(trusted.probe()).resolves.toMatchObject({ principal: `${tlsProxy.url}/user/` });
  });
});

describe('redirects and compressed answers (two loopback origins)', () => {
  // A server that moved: origin A redirects discovery to origin B (another port = another
  // origin), which answers with a gzip-compressed multistatus. What reaches each origin is kept.
  const MULTISTATUS =
    '<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav" xmlns:cal="urn:ietf:params:xml:ns:caldav">' +
    '<d:response><d:href>/dav/</d:href><d:propstat><d:prop>' +
    '<d:current-user-principal><d:href>/principals/anna/</d:href></d:current-user-principal>' +
    '<card:addressbook-home-set><d:href>/ab/</d:href></card:addressbook-home-set>' +
    '<cal:calendar-home-set><d:href>/cal/</d:href></cal:calendar-home-set>' +
    '</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>';
  type Seen = { origin: string; method: string; path: string; auth: string | undefined };

  async function listen(server: Server): Promise<number> {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return (server.address() as AddressInfo).port;
  }
  async function closeAll(...servers: Server[]): Promise<void> {
    for (const s of servers) s.closeAllConnections();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
  /** Runs `fn` with a loopback server listening (its URL ends in '/'), and closes it after. */
  async function withServer(server: Server, fn: (url: string) => Promise<void>): Promise<void> {
    const url = `http://127.0.0.1:${await listen(server)}/`;
    try {
      await fn(url);
    } finally {
      await closeAll(server);
    }
  }
  /** Origin B: answers every request with the gzip'd multistatus. */
  function originB(seen: Seen[]): Server {
    return createHttpServer((req, res) => {
      seen.push({ origin: 'B', method: req.method!, path: req.url!, auth: req.headers.authorization });
      req.resume();
      res.writeHead(207, { 'Content-Type': 'application/xml; charset=utf-8', 'Content-Encoding': 'gzip' });
      res.end(gzipSync(MULTISTATUS));
    });
  }
  /** Origin A: / → 301 /dav/, /dav/ → 308 to B. */
  const redirectTo = (seen: Seen[], bUrl: string) => (req: IncomingMessage, res: ServerResponse) => {
    seen.push({ origin: 'A', method: req.method!, path: req.url!, auth: req.headers.authorization });
    req.resume();
    if (req.url === '/') res.writeHead(301, { Location: '/dav/' }).end();
    else res.writeHead(308, { Location: `${bUrl}/dav/` }).end();
  };

  it('follows redirects keeping the method, decodes gzip, resolves hrefs against the answering URL, and sends the password only to the same origin', async () => {
    const seen: Seen[] = [];
    const b = originB(seen);
    const bUrl = `http://127.0.0.1:${await listen(b)}`;
    const a = createHttpServer(redirectTo(seen, bUrl));
    const aUrl = `http://127.0.0.1:${await listen(a)}/`;
    try {
      // B's answer names the principal on B: without the admin's confirmation nothing goes there.
      const p = openMailbox({ url: aUrl, username: 'anna', password: 'secret-pw', auth: 'basic' }, { timeoutMs: 2000, retries: 0, concurrency: 1 });
      opened.push(p);
      const err = await p.probe().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CredentialScopeError);
      expect((err as CredentialScopeError).remedy).toContain(`--trust-origin ${bUrl}`);
      expect(seen.map((s) => `${s.origin} ${s.method} ${s.path}`)).toEqual(['A PROPFIND /', 'A PROPFIND /dav/', 'B PROPFIND /dav/']);
      // The same-origin hop (/ → /dav/) carries the login; the redirect to origin B does not
      // (an open redirect must not hand the password to another host).
      expect(seen.filter((s) => s.origin === 'A').every((s) => s.auth?.startsWith('Basic '))).toBe(true);
      expect(seen[2]).toMatchObject({ origin: 'B', auth: undefined });

      // Confirmed at assign (--trust-origin): B gets the login for the addresses it names.
      seen.length = 0;
      const trusted = openMailbox({ url: aUrl, username: 'anna', password: 'secret-pw', auth: 'basic', trustedOrigins: [bUrl] }, { timeoutMs: 2000, retries: 0, concurrency: 1 });
      opened.push(trusted);
      await expect(trusted.probe()).resolves.toMatchObject({ principal: `${bUrl}/principals/anna/` });
      expect(seen.slice(3).every((s) => s.origin === 'B' && s.auth?.startsWith('Basic '))).toBe(true);
    } finally {
      await closeAll(a, b);
    }
  });

  it('a redirect to another server that asks for a login ends in AuthError naming that server, without the password', async () => {
    const b = createHttpServer((req, res) => {
      req.resume();
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="other"' }).end();
    });
    const bUrl = `http://127.0.0.1:${await listen(b)}`;
    const a = createHttpServer(redirectTo([], bUrl));
    const aUrl = `http://127.0.0.1:${await listen(a)}/`;
    try {
      const p = openMailbox({ url: aUrl, username: 'anna', password: 'secret-pw', auth: 'basic' }, { timeoutMs: 2000, retries: 0, concurrency: 1 });
      opened.push(p);
      const err = await p.probe().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AuthError);
      expect((err as Error).message).toContain(`redirected to ${bUrl}/dav/`);
      expect((err as Error).message).not.toContain('secret-pw');
    } finally {
      await closeAll(a, b);
    }
  });

  it('an empty answer marked gzip (some proxies do that on 201/204) is an empty answer, not a network error', async () => {
    const server = createHttpServer((req, res) => {
      req.resume();
      res.writeHead(201, { ETag: '"e1"', 'Content-Encoding': 'gzip', 'Content-Length': '0' }).end();
    });
    await withServer(server, async (url) => {
      const p = openMailbox({ url, username: 'anna', password: 'pw', auth: 'basic' }, { timeoutMs: 2000, retries: 0, concurrency: 1 });
      opened.push(p);
      const ref = await p.create({ kind: 'contacts', url: `${url}ab/`, displayName: 'x', supportsSyncToken: true }, 'one.vcf', VCARD('one'), TYPE);
      expect(ref).toEqual({ href: `${url}ab/one.vcf`, etag: '"e1"' });
    });
  });

  it('after close() nothing more reaches the server (a sync cut short must not write after releasing its lock)', async () => {
    const seen: Seen[] = [];
    await withServer(originB(seen), async (url) => {
      const p = openMailbox({ url, username: 'anna', password: 'secret-pw', auth: 'basic' }, { timeoutMs: 2000, retries: 3, concurrency: 1, retryBaseMs: 10 });
      await p.close();
      await expect(p.probe()).rejects.toBeInstanceOf(NetworkError);
      expect(seen).toEqual([]);
    });
  });

  it('a credential Node refuses to put in a header (a line break in a token) fails at once, unretried, without the token', async () => {
    const seen: Seen[] = [];
    await withServer(originB(seen), async (url) => {
      const p = openMailbox({ url, username: 'anna', password: 'tok-secret\nX: y', auth: 'bearer' }, { timeoutMs: 2000, retries: 3, concurrency: 1, retryBaseMs: 200 });
      opened.push(p);
      const started = Date.now();
      const err = await p.probe().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NetworkError);
      expect((err as Error).message).not.toContain('tok-secret');
      expect(Date.now() - started).toBeLessThan(150); // no backoff: not retried
      expect(seen).toEqual([]);
    });
  });

  it('R25: a redirect from an https mailbox to plain http is refused: neither the password nor the request goes out in clear text', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sync-cli-redirect-tls-'));
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'k.pem', '-out', 'c.pem', '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1');
    const seen: Seen[] = [];
    const b = originB(seen);
    const bUrl = `http://127.0.0.1:${await listen(b)}`;
    const a = createHttpsServer({ key: readFileSync(join(dir, 'k.pem')), cert: readFileSync(join(dir, 'c.pem')) }, redirectTo(seen, bUrl));
    const aUrl = `https://127.0.0.1:${await listen(a)}/`;
    try {
      const p = openMailbox({ url: aUrl, username: 'anna', password: 'secret-pw', auth: 'basic' }, { timeoutMs: 2000, retries: 0, concurrency: 1, caFile: join(dir, 'c.pem') });
      opened.push(p);
      const err = await p.probe().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NetworkError);
      expect((err as Error).message).toMatch(/plain http/);
      expect(seen.filter((s) => s.origin === 'A').length).toBeGreaterThan(0);
      expect(seen.filter((s) => s.origin === 'B')).toEqual([]);
    } finally {
      await closeAll(a, b);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

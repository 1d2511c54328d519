// Servers that answer nonsense: garbage XML, an HTML page, a redirect loop, a 5 MB error page.
// Each ends in a clear error naming the URL and what was expected; nothing is written (no PUT,
// MKCOL, MKCALENDAR, PROPPATCH or DELETE reaches the server); no password in any message.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMailbox, type CollectionKind, type MailboxProvider } from '../../src/providers/dav/index.js';

const NAMES: Record<CollectionKind, string> = { contacts: 'K', appointments: 'T', tasks: 'A' };
const PASSWORD = 'bad-input-secret-pw';
type Handler = (req: IncomingMessage, res: ServerResponse) => void;

let server: Server;
let base = '';
let handler: Handler = (_req, res) => res.end();
const methods: string[] = [];
const opened: MailboxProvider[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    methods.push(req.method ?? '');
    req.resume();
    req.on('end', () => handler(req, res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await Promise.all(opened.map((p) => p.close()));
  await new Promise((r) => server.close(r));
});

async function attempt(h: Handler): Promise<Error> {
  handler = h;
  methods.length = 0;
  const p = openMailbox({ url: `${base}/dav/`, username: 'anna', password: PASSWORD, auth: 'basic' }, { timeoutMs: 3000, retries: 0, concurrency: 2 });
  opened.push(p);
  const err = await p.provision(NAMES).then(
    () => new Error('provision succeeded'),
    (e: unknown) => e as Error,
  );
  expect(methods.filter((m) => !['PROPFIND', 'REPORT', 'OPTIONS', 'GET'].includes(m))).toEqual([]); // nothing written
  expect(err.message).not.toContain(PASSWORD);
  expect(err.stack ?? '').not.toContain(PASSWORD);
  return err;
}

describe('bad answers from a mailbox server', () => {
  it('garbage where a multistatus was expected', async () => {
    const err = await attempt((_req, res) => res.writeHead(207, { 'Content-Type': 'application/xml' }).end('<multistatus><response><href>/x</unclosed'));
    console.log(`garbage XML: ${err.message}`);
    expect(err.message).toContain(base);
    expect(err.message).toMatch(/HTTP 207 without a current-user-principal/);
  });

  it('an HTML page', async () => {
    const err = await attempt((_req, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><html><body><h1>Welcome</h1></body></html>'));
    console.log(`HTML page: ${err.message}`);
    expect(err.message).toContain(base);
    expect(err.message).toMatch(/\/SOGo\/dav\/.*\/dav\//);
    expect(err.message).toContain('an HTML page, not a WebDAV answer');
  });

  it('a redirect loop', async () => {
    const err = await attempt((req, res) => res.writeHead(301, { Location: req.url === '/a' ? '/b' : '/a' }).end());
    console.log(`redirect loop: ${err.message}`);
    expect(err.message).toContain(base);
    expect(err.message).toContain('a redirect loop');
  });

  it('a 5 MB error page', async () => {
    const big = '<html><body>' + 'x'.repeat(5 * 1024 * 1024) + '</body></html>';
    const err = await attempt((_req, res) => res.writeHead(500, { 'Content-Type': 'text/html' }).end(big));
    console.log(`5 MB error page: ${err.message.slice(0, 300)}`);
    expect(err.message).toContain(base);
    expect(err.message).toContain('HTTP 500');
    expect(err.message.length).toBeLessThan(2000); // the page itself stays out
  });
});

// A loopback HTTP(S) proxy in front of a real DAV server that injects faults on demand:
// dropped connections, error statuses with Retry-After, slow answers, lost answers to writes,
// and optionally HTTP Digest authentication (for servers that only do Basic or nothing).
//
//   const proxy = await startFaultyProxy(xandikos.url);
//   proxy.inject({ kind: 'status', status: 503, retryAfter: '1' }, 1);   // next request only
//   … proxy.url instead of the server URL …
//   await proxy.stop();
import { createHash, randomBytes } from 'node:crypto';
import { createServer as createHttpServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';

export type Fault =
  /** Close the connection without any answer. */
  | { kind: 'drop' }
  /** Answer with this status (and Retry-After) instead of forwarding. */
  | { kind: 'status'; status: number; retryAfter?: string }
  /** Forward, but hold the answer back this long. */
  | { kind: 'delay'; ms: number }
  /** Forward (the server applies the request), then close the connection without answering. */
  | { kind: 'lose-answer' }
  /** Answer with this canned body instead of forwarding (e.g. a truncated sync page a real server would send). */
  | { kind: 'respond'; status: number; body: string; contentType?: string };

export interface DigestRequirement {
  username: string;
  password: string;
  realm: string;
}

export interface FaultyProxy {
  url: string;
  /** Requests that reached the proxy: method, path, the fault applied ('pass' if none). */
  seen: Array<{ method: string; path: string; fault: Fault['kind'] | 'pass' | 'auth-challenge' }>;
  /** Apply `fault` to the next `times` requests (Infinity: until cleared), optionally only for one method. */
  inject(fault: Fault, times?: number, method?: string): void;
  clear(): void;
  /** From now on, demand HTTP Digest (RFC 7616, qop=auth, MD5) and strip it before forwarding. */
  requireDigest(req: DigestRequirement | undefined): void;
  /** Expire the current nonce: the next request gets 401 with stale=true. */
  expireNonce(): void;
  stop(): Promise<void>;
}

function md5(s: string): string {
  return createHash('md5').update(s, 'utf8').digest('hex');
}

function parseAuthParams(header: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of header.replace(/^Digest\s+/i, '').matchAll(/([\w-]+)=("((?:[^"\\]|\\.)*)"|[^,\s]*)/g)) {
    out[m[1]!.toLowerCase()] = m[3] !== undefined ? m[3].replace(/\\(.)/g, '$1') : m[2]!;
  }
  return out;
}

export async function startFaultyProxy(target: string, opts: { tls?: { key: string; cert: string } } = {}): Promise<FaultyProxy> {
  const targetUrl = new URL(target);
  const queue: Array<{ fault: Fault; left: number; method?: string }> = [];
  const seen: FaultyProxy['seen'] = [];
  const sockets = new Set<Socket>();
  let digest: DigestRequirement | undefined;
  let nonce = randomBytes(16).toString('hex');
  let staleNonces = new Set<string>();

  const nextFault = (method: string): Fault | undefined => {
    const entry = queue.find((q) => q.left > 0 && (!q.method || q.method === method));
    if (!entry) return undefined;
    entry.left -= 1;
    return entry.fault;
  };

  const challenge = (res: ServerResponse, stale: boolean) => {
    res.writeHead(401, {
      'WWW-Authenticate': `Basic realm="${digest!.realm}", Digest realm="${digest!.realm}", qop="auth,auth-int", nonce="${nonce}", opaque="op4que", algorithm=MD5${stale ? ', stale=true' : ''}`,
      'Content-Length': '0',
    });
    res.end();
  };

  /** Server-side check, written from RFC 7616 §3.4.1 independently of the client code. */
  const digestOk = (req: IncomingMessage, res: ServerResponse): boolean => {
    if (!digest) return true;
    const header = req.headers.authorization ?? '';
    if (!/^Digest /i.test(header)) {
      challenge(res, false);
      return false;
    }
    const p = parseAuthParams(header);
    if (p.nonce && staleNonces.has(p.nonce)) {
      challenge(res, true);
      return false;
    }
    const ha1 = md5(`${digest.username}:${digest.realm}:${digest.password}`);
    const ha2 = md5(`${req.method}:${p.uri}`);
    const expected = md5(`${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:${p.qop}:${ha2}`);
    const ok = p.username === digest.username && p.nonce === nonce && p.qop === 'auth' && p.uri === req.url && p.opaque === 'op4que' && p.response === expected;
    if (!ok) challenge(res, false);
    return ok;
  };

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const method = req.method ?? 'GET';
      if (!digestOk(req, res)) {
        seen.push({ method, path: req.url ?? '', fault: 'auth-challenge' });
        return;
      }
      const fault = nextFault(method);
      seen.push({ method, path: req.url ?? '', fault: fault?.kind ?? 'pass' });
      if (fault?.kind === 'drop') {
        req.socket.destroy();
        return;
      }
      if (fault?.kind === 'status') {
        res.writeHead(fault.status, { ...(fault.retryAfter ? { 'Retry-After': fault.retryAfter } : {}), 'Content-Type': 'text/plain' });
        res.end(`injected ${fault.status}`);
        return;
      }
      if (fault?.kind === 'respond') {
        res.writeHead(fault.status, { 'Content-Type': fault.contentType ?? 'application/xml; charset=utf-8' });
        res.end(fault.body);
        return;
      }
      const headers = { ...req.headers, host: targetUrl.host };
      if (digest) delete headers.authorization;
      const upstream = httpRequest(
        { hostname: targetUrl.hostname, port: targetUrl.port, path: req.url, method, headers },
        (up) => {
          const body: Buffer[] = [];
          up.on('data', (c: Buffer) => body.push(c));
          up.on('end', () => {
            if (fault?.kind === 'lose-answer') {
              req.socket.destroy();
              return;
            }
            const send = () => {
              if (res.destroyed) return;
              res.writeHead(up.statusCode ?? 502, up.headers);
              res.end(Buffer.concat(body));
            };
            if (fault?.kind === 'delay') setTimeout(send, fault.ms);
            else send();
          });
        },
      );
      upstream.on('error', () => req.socket.destroy());
      upstream.end(Buffer.concat(chunks));
    });
  };

  const server = opts.tls ? createHttpsServer({ key: opts.tls.key, cert: opts.tls.cert }, handler) : createHttpServer(handler);
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  // TLS handshake failures (a client refusing our certificate) are expected in tests.
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;

  return {
    url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    seen,
    inject(fault, times = 1, method) {
      queue.push({ fault, left: times, method });
    },
    clear() {
      queue.length = 0;
    },
    requireDigest(req) {
      digest = req;
    },
    expireNonce() {
      staleNonces.add(nonce);
      nonce = randomBytes(16).toString('hex');
    },
    async stop() {
      for (const s of sockets) s.destroy();
      staleNonces = new Set();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

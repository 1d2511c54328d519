// The HTTP layer under the DAV provider: every request of a mailbox goes through here.
// Node's own http/https client with keep-alive agents (an optional extra CA on the https one):
// measured at a third of the CPU per request of undici's fetch, which matters against servers
// that close the connection after every answer (Radicale) — see docs/decisions.md D20.
// Concurrency is bounded with p-limit (per attempt, so a request sleeping before its retry does
// not hold a slot); retries with exponential backoff (p-retry) for network errors, timeouts, 5xx
// and 429, waiting at least what Retry-After asks. Each attempt has its own timeout covering
// headers and body. Redirects are followed (at most 5; Authorization only to the same origin);
// gzip/deflate/br answers are decoded.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import { brotliDecompressSync, gunzipSync, inflateSync, type ZlibOptions } from 'node:zlib';
import pLimit, { type LimitFunction } from 'p-limit';
import pRetry, { AbortError } from 'p-retry';
import { ConfigError } from '../../errors.js';
import { registerSecret } from '../../log/redact.js';
import { digestAuthorization, parseDigestChallenge, type DigestChallenge } from './digest.js';
import { credentialsFor } from './credential-scope.js';
import {
  displayUrl,
  AccessDeniedError,
  AuthError,
  CredentialScopeError,
  DeadlineExceededError,
  LimitExceededError,
  ItemRejectedError,
  NetworkError,
  NotFoundError,
  PreconditionFailedError,
  RateLimitedError,
  ServerError,
} from './errors.js';
import { DEFAULT_LIMITS, type MailboxAccount, type TransportOptions } from './types.js';

/** Response headers, looked up case-insensitively (the part of WHATWG Headers we use). */
export class ResponseHeaders {
  constructor(readonly raw: http.IncomingHttpHeaders) {}
  get(name: string): string | null {
    const v = this.raw[name.toLowerCase()];
    if (v === undefined) return null;
    return Array.isArray(v) ? v.join(', ') : v;
  }
  /** Plain name → value record (for building a fetch Response). */
  toRecord(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const name of Object.keys(this.raw)) out[name] = this.get(name)!;
    return out;
  }
}

export interface HttpResult {
  status: number;
  statusText: string;
  headers: ResponseHeaders;
  text: string;
  /** Final URL (after redirects). */
  url: string;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  body?: string;
  /** Retry 5xx answers (default true). Off where a 5xx is an answer, e.g. Xandikos' 500 on an unknown sync token. */
  retryServerErrors?: boolean;
}

/** Thrown inside one attempt so p-retry sees it; carries what the final error needs. */
class RetryableStatus extends Error {
  constructor(
    readonly result: HttpResult,
    readonly retryAfterMs: number | undefined,
  ) {
    super(`HTTP ${result.status}`);
  }
}

class RetryableNetwork extends Error {
  constructor(
    readonly reason: string,
    readonly original: unknown,
    readonly remedy?: string,
  ) {
    super(reason);
  }
}

/** Retry-After as delta-seconds or HTTP date → ms from now. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

class AttemptTimeout extends Error {
  override name = 'TimeoutError';
}

/** Node refused to send the request at all (invalid header value, bad URL): retrying cannot help. */
class RequestRefused extends Error {}

class TransportClosed extends Error {
  constructor() {
    super('the mailbox connection was closed');
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

/** Thrown when a decoded answer would pass the cap (zlib stops at maxOutputLength). */
class DecodedTooLarge extends Error {}

/** Decodes gzip/deflate/br; the output never grows past `maxBytes` (a zip bomb stops there). */
function decodeBody(buf: Buffer, encoding: string | undefined, maxBytes: number): string {
  if (buf.length === 0) return '';
  const opts: ZlibOptions = { maxOutputLength: maxBytes };
  try {
    switch ((encoding ?? '').trim().toLowerCase()) {
      case 'gzip':
      case 'x-gzip':
        return gunzipSync(buf, opts).toString('utf8');
      case 'deflate':
        return inflateSync(buf, opts).toString('utf8');
      case 'br':
        return brotliDecompressSync(buf, opts).toString('utf8');
      default:
        return buf.toString('utf8');
    }
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) throw new DecodedTooLarge();
    throw err;
  }
}

/**
 * What went wrong on the network, in words a user can act on, and the fix that is actually
 * known for it (no raw OpenSSL text; "the next sync retries" only where retrying can help).
 */
export function describeNetworkError(err: unknown, timeoutMs: number, url?: URL): { reason: string; remedy?: string; permanent?: boolean } {
  const where = url ? `${url.hostname}:${url.port || (url.protocol === 'https:' ? '443' : '80')}` : 'the server';
  if (err instanceof Error) {
    if (err.name === 'TimeoutError' || err.name === 'AbortError') return { reason: `no answer within ${timeoutMs} ms`, remedy: 'the server or the network is slow or down; the next sync retries (dav.timeoutMs sets the wait)' };
    const withCode = (err as { code?: string }).code ? err : (err as { cause?: unknown }).cause instanceof Error ? ((err as { cause: Error }).cause) : err;
    const code = (withCode as { code?: string }).code ?? '';
    const msg = withCode.message;
    if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number|packet length too long|http request/i.test(msg)) {
      return { reason: `${where} does not answer with TLS (https)`, remedy: `if it is a plain http port, use http://${url ? url.host : '…'}/ — or use the server's https port`, permanent: true };
    }
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return { reason: `the host name ${url?.hostname ?? ''} does not resolve (DNS)`.replace('  ', ' '), remedy: code === 'EAI_AGAIN' ? 'the name server did not answer; check the network; the next sync retries' : 'check the host name in the mailbox URL', permanent: code === 'ENOTFOUND' };
    if (code === 'ECONNREFUSED') return { reason: `nothing accepts connections on ${where}`, remedy: 'check the port in the mailbox URL and that the server runs; the next sync retries' };
    if (code === 'ECONNRESET' || code === 'EPIPE') return { reason: `${where} closed the connection`, remedy: 'the next sync retries; if it keeps happening, a proxy or firewall may cut the connection' };
    if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return { reason: `${where} cannot be reached from this machine (${code})`, remedy: 'check the network and routes; the next sync retries' };
    if (code === 'DEPTH_ZERO_SELF_SIGNED_CERT' || code === 'SELF_SIGNED_CERT_IN_CHAIN' || code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' || code === 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY') {
      return { reason: `the TLS certificate of ${where} is not from a trusted authority (${code})`, remedy: 'if the server uses a private CA, put its certificate (PEM) into a file and set dav.caFile to it; verification is never switched off', permanent: true };
    }
    if (code === 'CERT_HAS_EXPIRED') return { reason: `the TLS certificate of ${where} has expired`, remedy: 'the server admin must renew the certificate', permanent: true };
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return { reason: `the TLS certificate of ${where} is for another host name`, remedy: 'use the host name the certificate names in the mailbox URL', permanent: true };
    if (code) return { reason: `${code}: ${msg}` };
    return { reason: msg };
  }
  return { reason: String(err) };
}

/**
 * One limit per server (origin) for the whole process: mailboxes synced in parallel on the same
 * server share it, so `dav.concurrency` bounds what one server sees, not what one mailbox sends.
 */
const serverLimits = new Map<string, LimitFunction>();

function serverLimit(url: string, concurrency: number): LimitFunction {
  let origin: string;
  try {
    origin = new URL(url).origin;
  } catch {
    origin = url;
  }
  let limit = serverLimits.get(origin);
  if (!limit) {
    limit = pLimit(Math.max(1, concurrency));
    serverLimits.set(origin, limit);
  }
  return limit;
}

export class DavTransport {
  private httpAgent: http.Agent;
  private httpsAgent: https.Agent;
  /** Set once the server closed a kept-alive connection unannounced (bare sogod): no more reuse. */
  private noReuse = false;
  private readonly retiredAgents: http.Agent[] = [];
  private closed = false;
  private readonly limit: LimitFunction;
  private digest: { challenge: DigestChallenge; nc: number } | undefined;
  /** The Basic header, built once (not per request). */
  private basic: string | undefined;
  /** Date header and local receive time of the last answer (for clock-skew checks). */
  lastServerDate: { header: string; receivedAt: number } | undefined;

  constructor(
    readonly account: MailboxAccount,
    readonly opts: TransportOptions,
  ) {
    registerSecret(account.password);
    let ca: string[] | undefined;
    if (opts.caFile) {
      try {
        ca = [...rootCertificates, readFileSync(opts.caFile, 'utf8')];
      } catch (err) {
        throw new ConfigError(`cannot read the CA file ${opts.caFile}: ${(err as Error).message}`, [], 'set dav.caFile to a readable PEM file');
      }
    }
    // TLS verification stays on: there is deliberately no option to turn it off.
    const sockets = Math.max(1, opts.concurrency);
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets: sockets });
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: sockets, ...(ca ? { ca } : {}) });
    this.limit = serverLimit(account.url, opts.concurrency);
  }

  private authorization(method: string, url: string): string | undefined {
    const { auth, username, password } = this.account;
    if (auth === 'basic') return (this.basic ??= `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`);
    if (auth === 'bearer') return `Bearer ${password}`;
    if (this.digest) {
      const u = new URL(url);
      this.digest.nc += 1;
      return digestAuthorization(this.digest.challenge, { username, password }, method, u.pathname + u.search, this.digest.nc);
    }
    return undefined;
  }

  /** One request/answer on the wire: no redirects, no retries; network failures and the timeout reject. */
  private send(method: string, url: URL, headers: Record<string, string>, body: string | undefined, timeoutMs: number): Promise<HttpResult> {
    if (this.closed) return Promise.reject(new TransportClosed());
    const secure = url.protocol === 'https:';
    const maxBytes = this.opts.maxResponseBytes ?? DEFAULT_LIMITS.maxResponseBytes;
    const tooLarge = (what: string) => new LimitExceededError(url.href, 'limits.maxResponseBytes', maxBytes, `the answer to ${method} ${what}`);
    return new Promise<HttpResult>((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(body, 'utf8');
      let req: http.ClientRequest;
      try {
        req = (secure ? https : http).request(url, {
          method,
          agent: secure ? this.httpsAgent : this.httpAgent,
          headers: { 'Accept-Encoding': 'gzip, deflate, br', ...headers, ...(payload ? { 'Content-Length': String(payload.length) } : {}) },
        });
      } catch (err) {
        // Refused before anything was sent (e.g. a header value with a line break): not retryable.
        return reject(new RequestRefused((err as Error).message));
      }
      const timer = setTimeout(() => req.destroy(new AttemptTimeout(`no answer within ${timeoutMs} ms`)), timeoutMs);
      const fail = (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      };
      req.on('response', (res: http.IncomingMessage) => {
        // Stop reading at the cap: a hostile server cannot fill the memory (docs/security.md).
        const declared = Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > maxBytes) {
          fail(tooLarge(`announces ${declared} bytes`));
          return req.destroy();
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > maxBytes) {
            fail(tooLarge('is larger than the limit'));
            req.destroy();
            return;
          }
          chunks.push(c);
        });
        res.on('error', fail);
        res.on('end', () => {
          clearTimeout(timer);
          if (!res.complete) return reject(new Error('the connection closed before the answer was complete'));
          try {
            const text = decodeBody(Buffer.concat(chunks), res.headers['content-encoding'], maxBytes);
            resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', headers: new ResponseHeaders(res.headers), text, url: url.href });
          } catch (err) {
            reject(err instanceof DecodedTooLarge ? tooLarge(`is larger than the limit once unpacked (${res.headers['content-encoding']})`) : err);
          }
        });
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        // A server that closes connections it kept alive without saying so (sogod without Apache,
        // measured: every second request on a reused socket was reset) is sent the request again
        // at once on a fresh connection, and gets no kept-alive connections from then on (D47).
        if (req.reusedSocket && err.code === 'ECONNRESET' && !this.noReuse) {
          clearTimeout(timer);
          this.noReuse = true;
          const { maxSockets } = this.httpAgent;
          const ca = this.httpsAgent.options.ca;
          // The old agents may still carry other requests: closed with the transport.
          this.retiredAgents.push(this.httpAgent, this.httpsAgent);
          this.httpAgent = new http.Agent({ keepAlive: false, maxSockets });
          this.httpsAgent = new https.Agent({ keepAlive: false, maxSockets, ...(ca ? { ca } : {}) });
          this.send(method, url, headers, body, timeoutMs).then(resolve, reject);
          return;
        }
        fail(err);
      });
      req.end(payload);
    });
  }

  /**
   * One HTTP exchange with its redirects, no retries. Network failures throw RetryableNetwork.
   * Where the password goes is decided by credentialsFor (credential-scope.ts) alone: an address
   * the server names outside it gets nothing at all (CredentialScopeError); a redirect there is
   * followed without credentials, so that a login asked for there can be named in the error. A
   * redirect from https to plain http is refused: the body (contact data) would travel in clear.
   */
  private async exchange(method: string, url: string, options: RequestOptions, timeoutMs: number): Promise<HttpResult> {
    const first = new URL(url);
    const scope = { configured: this.account.url, trusted: this.account.trustedOrigins };
    const verdict = credentialsFor(first, scope);
    if (!verdict.send) throw new AbortError(new CredentialScopeError(first.href, this.account.url, verdict.reason));
    let target = first;
    let currentMethod = method;
    let body = options.body;
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { ...options.headers };
      const authorization = credentialsFor(target, scope).send ? this.authorization(currentMethod, target.href) : undefined;
      if (authorization) headers.Authorization = authorization;
      if (body === undefined) {
        for (const name of Object.keys(headers)) if (name.toLowerCase() === 'content-type') delete headers[name];
      }
      let result: HttpResult;
      try {
        result = await this.send(currentMethod, target, headers, body, timeoutMs);
      } catch (err) {
        this.opts.onRequest?.(currentMethod, target.href, 0);
        if (err instanceof LimitExceededError) throw new AbortError(err);
        const described = describeNetworkError(err, timeoutMs, target);
        const network = new RetryableNetwork(described.reason, err, described.remedy);
        // Retrying cannot change a certificate, a TLS mismatch or a name that does not exist.
        throw err instanceof RequestRefused || err instanceof TransportClosed || described.permanent ? new AbortError(network) : network;
      }
      this.opts.onRequest?.(currentMethod, target.href, result.status);
      const date = result.headers.get('date');
      if (date) this.lastServerDate = { header: date, receivedAt: Date.now() };
      const location = result.headers.get('location');
      if (!REDIRECTS.has(result.status) || !location || hop >= MAX_REDIRECTS) return result;
      let next: URL;
      try {
        next = new URL(location, target);
      } catch {
        return result;
      }
      if (next.protocol !== 'http:' && next.protocol !== 'https:') return result;
      if (target.protocol === 'https:' && next.protocol === 'http:') {
        throw new AbortError(new RetryableNetwork(`the server redirected ${displayUrl(target.href)} to plain http (${displayUrl(next.href)}); refused, nothing was sent there`, undefined));
      }
      target = next;
      if (result.status === 303 || ((result.status === 301 || result.status === 302) && currentMethod === 'POST')) {
        currentMethod = 'GET';
        body = undefined;
      }
    }
  }

  /** Exchange plus the authentication round trip (Digest challenge, stale nonce). */
  private async authenticatedExchange(method: string, url: string, options: RequestOptions, timeoutMs: number): Promise<HttpResult> {
    let result = await this.exchange(method, url, options, timeoutMs);
    if (result.status === 401 && this.account.auth === 'digest') {
      const challenge = parseDigestChallenge(result.headers.get('www-authenticate') ?? '');
      // Answer a fresh challenge once; a second 401 with the same nonce means wrong credentials.
      if (challenge && (!this.digest || challenge.stale || challenge.nonce !== this.digest.challenge.nonce)) {
        this.digest = { challenge, nc: 0 };
        result = await this.exchange(method, url, options, timeoutMs);
      }
    }
    if (result.status === 401 && new URL(result.url).origin !== new URL(url).origin) {
      throw new AuthError(
        url,
        `the server redirected to ${displayUrl(result.url)}, another server, which asks for a login; sync-cli does not send the password there — set the mailbox URL to that address if it is yours`,
      );
    }
    if (result.status === 401) {
      const offered = result.headers.get('www-authenticate') ?? '';
      const hint = this.account.auth === 'digest' && !/digest/i.test(offered) ? `the server does not offer Digest auth (${offered.split(/\s/)[0] || 'none'})` : undefined;
      throw new AuthError(url, hint ? `login as ${this.account.username} failed: ${hint}` : `the server rejected the credentials of ${this.account.username}`);
    }
    return result;
  }

  /**
   * Sends a request with retries. Returns the final answer for every HTTP status except 401
   * (AuthError) and a 429 that outlasted the retries (RateLimitedError); throws NetworkError when
   * no answer came.
   */
  async request(method: string, url: string, options: RequestOptions = {}): Promise<HttpResult> {
    const retryServerErrors = options.retryServerErrors ?? true;
    const maxRetryAfter = this.opts.maxRetryAfterMs ?? 60_000;
    // No request runs or waits past its own budget nor past the end of the mailbox run.
    const requestSeconds = this.opts.requestSeconds ?? DEFAULT_LIMITS.requestSeconds;
    const requestEnd = Date.now() + requestSeconds * 1000;
    const deadline = this.opts.deadline;
    const byRun = deadline !== undefined && deadline.at < requestEnd;
    const end = byRun ? deadline.at : requestEnd;
    const overTime = () => (byRun ? new DeadlineExceededError(url, 'limits.mailboxRunSeconds', deadline.seconds) : new DeadlineExceededError(url, 'limits.requestSeconds', requestSeconds));
    try {
      return await pRetry(
        async () => {
          const result = await this.limit(() => {
            const left = end - Date.now();
            if (left <= 0) throw new AbortError(overTime());
            return this.authenticatedExchange(method, url, options, Math.min(this.opts.timeoutMs, left));
          });
          const status = result.status;
          // 501/505 (not supported) and 507 (quota, or "too many results") do not heal by retrying.
          if (status === 429 || (status >= 500 && retryServerErrors && ![501, 505, 507].includes(status))) {
            const retryAfterMs = parseRetryAfter(result.headers.get('retry-after'));
            if (retryAfterMs !== undefined && retryAfterMs > maxRetryAfter) {
              throw new AbortError(new RetryableStatus(result, retryAfterMs));
            }
            throw new RetryableStatus(result, retryAfterMs);
          }
          return result;
        },
        {
          retries: this.opts.retries,
          minTimeout: this.opts.retryBaseMs ?? 500,
          factor: 2,
          randomize: true,
          onFailedAttempt: async ({ error, retriesLeft }) => {
            // Honour Retry-After beyond the backoff p-retry adds on its own — unless the wait
            // would outlast the budget: then stop now with what the last answer said.
            if (retriesLeft > 0 && error instanceof RetryableStatus && error.retryAfterMs) {
              if (Date.now() + error.retryAfterMs >= end) throw new AbortError(byRun ? overTime() : error);
              await new Promise((r) => setTimeout(r, error.retryAfterMs));
            }
            if (Date.now() >= end) throw new AbortError(byRun ? overTime() : error);
          },
          shouldRetry: ({ error }) => error instanceof RetryableStatus || error instanceof RetryableNetwork,
        },
      );
    } catch (err) {
      const final = err instanceof AbortError ? ((err as AbortError).originalError ?? err) : err;
      if (final instanceof RetryableNetwork) throw new NetworkError(url, final.reason, final.original, final.remedy);
      if (final instanceof RetryableStatus) {
        // A 503 that asked us to wait, still there after the retries: the server is busy, not broken.
        if (final.result.status === 429 || (final.result.status === 503 && final.retryAfterMs !== undefined && final.retryAfterMs > 0)) {
          throw new RateLimitedError(url, final.retryAfterMs);
        }
        return final.result;
      }
      throw final;
    }
  }

  async close(): Promise<void> {
    // Requests still queued (a sync cut short) must not reach the server after the lock is gone.
    this.closed = true;
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
    for (const a of this.retiredAgents) a.destroy();
  }
}

/** Maps a non-success answer to the typed error the engine acts on. */
export function errorForStatus(method: string, url: string, result: HttpResult): Error {
  const status = result.status;
  const detail = result.text && result.text.length < 300 ? result.text.replace(/\s+/g, ' ').trim() : undefined;
  if (status === 404 || status === 410) return new NotFoundError(url);
  if (status === 412) return new PreconditionFailedError(url, method);
  if (status === 429) return new RateLimitedError(url, parseRetryAfter(result.headers.get('retry-after')));
  if (status === 403 && method !== 'PUT' && method !== 'DELETE') return new AccessDeniedError(url, method);
  if (status >= 400 && status < 500) return new ItemRejectedError(url, status, method, detail);
  return new ServerError(url, status, method, detail);
}

/** Throws the typed error unless the status is 2xx. */
export function expectOk(method: string, url: string, result: HttpResult): HttpResult {
  if (result.status >= 200 && result.status < 300) return result;
  throw errorForStatus(method, url, result);
}

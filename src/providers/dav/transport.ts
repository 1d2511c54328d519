// The HTTP layer under the DAV provider: every request of a mailbox goes through here.
// Keep-alive and an optional extra CA come from one undici Agent; concurrency is bounded with
// p-limit (per attempt, so a request sleeping before its retry does not hold a slot); retries
// with exponential backoff (p-retry) for network errors, timeouts, 5xx and 429, waiting at least
// what Retry-After asks. Each attempt has its own timeout covering headers and body.
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import pLimit, { type LimitFunction } from 'p-limit';
import pRetry, { AbortError } from 'p-retry';
import { Agent, fetch as undiciFetch } from 'undici';
import { ConfigError } from '../../errors.js';
import { registerSecret } from '../../log/redact.js';
import { digestAuthorization, parseDigestChallenge, type DigestChallenge } from './digest.js';
import {
  AuthError,
  ItemRejectedError,
  NetworkError,
  NotFoundError,
  PreconditionFailedError,
  RateLimitedError,
  ServerError,
} from './errors.js';
import type { MailboxAccount, TransportOptions } from './types.js';

export interface HttpResult {
  status: number;
  statusText: string;
  headers: Headers;
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

function describeNetworkError(err: unknown, timeoutMs: number): string {
  if (err instanceof Error) {
    if (err.name === 'TimeoutError' || err.name === 'AbortError') return `no answer within ${timeoutMs} ms`;
    const cause = (err as { cause?: unknown }).cause;
    if (cause instanceof Error) {
      const code = (cause as { code?: string }).code;
      return code ? `${code}: ${cause.message}` : cause.message;
    }
    return err.message;
  }
  return String(err);
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
  private readonly agent: Agent;
  private readonly limit: LimitFunction;
  private digest: { challenge: DigestChallenge; nc: number } | undefined;
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
    this.agent = new Agent({ keepAliveTimeout: 30_000, connections: Math.max(1, opts.concurrency), ...(ca ? { connect: { ca } } : {}) });
    this.limit = serverLimit(account.url, opts.concurrency);
  }

  private authorization(method: string, url: string): string | undefined {
    const { auth, username, password } = this.account;
    if (auth === 'basic') return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
    if (auth === 'bearer') return `Bearer ${password}`;
    if (this.digest) {
      const u = new URL(url);
      this.digest.nc += 1;
      return digestAuthorization(this.digest.challenge, { username, password }, method, u.pathname + u.search, this.digest.nc);
    }
    return undefined;
  }

  /** One HTTP exchange, no retries. Network failures throw RetryableNetwork. */
  private async exchange(method: string, url: string, options: RequestOptions): Promise<HttpResult> {
    const headers: Record<string, string> = { ...options.headers };
    const authorization = this.authorization(method, url);
    if (authorization) headers.Authorization = authorization;
    const signal = AbortSignal.timeout(this.opts.timeoutMs);
    let result: HttpResult;
    try {
      const res = await undiciFetch(url, { method, headers, body: options.body, signal, dispatcher: this.agent });
      const text = await res.text();
      result = { status: res.status, statusText: res.statusText, headers: res.headers as unknown as Headers, text, url: res.url || url };
    } catch (err) {
      this.opts.onRequest?.(method, url, 0);
      throw new RetryableNetwork(describeNetworkError(err, this.opts.timeoutMs), err);
    }
    this.opts.onRequest?.(method, url, result.status);
    const date = result.headers.get('date');
    if (date) this.lastServerDate = { header: date, receivedAt: Date.now() };
    return result;
  }

  /** Exchange plus the authentication round trip (Digest challenge, stale nonce). */
  private async authenticatedExchange(method: string, url: string, options: RequestOptions): Promise<HttpResult> {
    let result = await this.exchange(method, url, options);
    if (result.status === 401 && this.account.auth === 'digest') {
      const challenge = parseDigestChallenge(result.headers.get('www-authenticate') ?? '');
      // Answer a fresh challenge once; a second 401 with the same nonce means wrong credentials.
      if (challenge && (!this.digest || challenge.stale || challenge.nonce !== this.digest.challenge.nonce)) {
        this.digest = { challenge, nc: 0 };
        result = await this.exchange(method, url, options);
      }
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
    try {
      return await pRetry(
        async () => {
          const result = await this.limit(() => this.authenticatedExchange(method, url, options));
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
            // Honour Retry-After beyond the backoff p-retry adds on its own.
            if (retriesLeft > 0 && error instanceof RetryableStatus && error.retryAfterMs) {
              await new Promise((r) => setTimeout(r, error.retryAfterMs));
            }
          },
          shouldRetry: ({ error }) => error instanceof RetryableStatus || error instanceof RetryableNetwork,
        },
      );
    } catch (err) {
      const final = err instanceof AbortError ? ((err as AbortError).originalError ?? err) : err;
      if (final instanceof RetryableNetwork) throw new NetworkError(url, final.reason, final.original);
      if (final instanceof RetryableStatus) {
        if (final.result.status === 429 || (final.result.status === 503 && final.retryAfterMs !== undefined && final.retryAfterMs > maxRetryAfter)) {
          throw new RateLimitedError(url, final.retryAfterMs);
        }
        return final.result;
      }
      throw final;
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

/** Maps a non-success answer to the typed error the engine acts on. */
export function errorForStatus(method: string, url: string, result: HttpResult): Error {
  const status = result.status;
  const detail = result.text && result.text.length < 300 ? result.text.replace(/\s+/g, ' ').trim() : undefined;
  if (status === 404 || status === 410) return new NotFoundError(url);
  if (status === 412) return new PreconditionFailedError(url, method);
  if (status === 429) return new RateLimitedError(url, parseRetryAfter(result.headers.get('retry-after')));
  if (status === 403 && method !== 'PUT' && method !== 'DELETE') return new AuthError(url, `access refused to ${method}`);
  if (status >= 400 && status < 500) return new ItemRejectedError(url, status, method, detail);
  return new ServerError(url, status, method, detail);
}

/** Throws the typed error unless the status is 2xx. */
export function expectOk(method: string, url: string, result: HttpResult): HttpResult {
  if (result.status >= 200 && result.status < 300) return result;
  throw errorForStatus(method, url, result);
}

// The daemon's loopback HTTP endpoint (daemon.httpPort; off when unset): GET /healthz,
// GET /metrics (Prometheus), POST /hooks/crm (signed CRM webhook), GET / (the status page,
// src/daemon/status-page.ts); a worker's (`worker --http-port`, D90) serves /healthz and
// /metrics only. Binds 127.0.0.1 only: a
// reverse proxy or the CRM on the same host reaches it; nothing is exposed by default.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log/logger.js';
import type { DaemonMetrics } from './metrics.js';
import { handleStatusPage, type StatusPageHandlers } from './status-page.js';
import { checkWebhookRequest, MAX_WEBHOOK_BYTES, ReplayGuard, SIGNATURE_HEADER, TIMESTAMP_HEADER, type WebhookPayload } from './webhook.js';

/**
 * Limits of the port (daemon.http): any local user can connect, so connections, slow clients
 * and the names the server answers to are bounded (docs/security.md).
 */
export interface DaemonHttpLimits {
  maxConnections: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  idleTimeoutMs: number;
  /** Host header names accepted besides the loopback names. */
  allowedHosts: string[];
  webhookMaxAgeSeconds: number;
}

export const DEFAULT_HTTP_LIMITS: DaemonHttpLimits = { maxConnections: 64, headersTimeoutMs: 5000, requestTimeoutMs: 10_000, idleTimeoutMs: 5000, allowedHosts: [], webhookMaxAgeSeconds: 300 };

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/**
 * A DNS-rebinding page in a local browser reaches 127.0.0.1 under its own host name: only the
 * loopback names (with any port) and configured names are answered.
 */
export function hostAllowed(host: string | undefined, allowed: readonly string[]): boolean {
  if (!host) return false;
  const h = host.trim().toLowerCase();
  const name = h.startsWith('[') ? h.slice(0, h.indexOf(']') + 1) : h.replace(/:\d+$/, '');
  if (LOOPBACK_NAMES.has(name)) return true;
  return allowed.some((a) => {
    const x = a.trim().toLowerCase();
    return x === h || x === name;
  });
}

/** Thrown by the webhook handler for a payload naming something the daemon does not know. */
export class UnknownWebhookTargetError extends Error {}

export interface DaemonHttpHandlers {
  health(): { ok: boolean; body: Record<string, unknown> };
  metrics: DaemonMetrics;
  /** Undefined when no webhook secret is available. */
  webhookSecret?: string;
  /** Returns the logins whose mailboxes will sync; throws UnknownWebhookTargetError → 422. No
   *  webhook at all (404) when undefined: a worker's port (D90). */
  onWebhook?(payload: WebhookPayload): Promise<string[]>;
  /** The Account Overview page (GET /) and its API; off when undefined. */
  statusPage?: StatusPageHandlers;
}

export interface DaemonHttpServer {
  port: number;
  close(): Promise<void>;
}

function send(res: http.ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  const text = type === 'application/json' ? JSON.stringify(body) + '\n' : String(body);
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  res.end(text);
}

/** Reads at most MAX_WEBHOOK_BYTES + 1 bytes; stops reading (and answers 413) beyond. */
function readLimited(req: http.IncomingMessage): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > MAX_WEBHOOK_BYTES) return resolve('too-large');
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_WEBHOOK_BYTES) {
        req.removeAllListeners('data');
        req.pause();
        resolve('too-large');
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export function startDaemonHttpServer(port: number, h: DaemonHttpHandlers, logger: Logger, limits: DaemonHttpLimits = DEFAULT_HTTP_LIMITS): Promise<DaemonHttpServer> {
  const replay = new ReplayGuard(limits.webhookMaxAgeSeconds);
  const server = http.createServer({ headersTimeout: limits.headersTimeoutMs, requestTimeout: limits.requestTimeoutMs, keepAliveTimeout: limits.idleTimeoutMs,
    // Node checks the headers/request timeouts on this interval (default 30 s).
    connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs) }, (req, res) => {
    void handle(req, res).catch((err: unknown) => {
      logger.error(`HTTP ${req.method} ${req.url}: ${(err as Error).message}`);
      if (!res.headersSent) send(res, 500, { error: 'internal error; see the daemon log' });
    });
  });
  // Bounded: beyond maxConnections new connections are closed at once; idle or slow ones go
  // after their timeout, so no local user can hold the port (or our file descriptors).
  server.maxConnections = limits.maxConnections;
  server.setTimeout(limits.idleTimeoutMs, (socket) => socket.destroy());
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (!hostAllowed(req.headers.host, limits.allowedHosts)) {
      res.setHeader('Connection', 'close');
      return send(res, 421, { error: 'this port answers only to localhost, 127.0.0.1 and [::1] (or the names in daemon.http.allowedHosts)' });
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      const { ok, body } = h.health();
      return send(res, ok ? 200 : 503, body);
    }
    if (url.pathname === '/metrics' && req.method === 'GET') {
      return send(res, 200, await h.metrics.registry.metrics(), h.metrics.registry.contentType);
    }
    const onWebhook = h.onWebhook;
    if (url.pathname === '/hooks/crm' && onWebhook) {
      if (req.method !== 'POST') return send(res, 405, { error: 'use POST' });
      const reject = (status: number, message: string) => {
        h.metrics.webhookRejected.inc({ status: String(status) });
        logger.warn(`webhook refused (${status}): ${message}`);
        // Connection: close — an oversize body is not drained.
        res.setHeader('Connection', 'close');
        send(res, status, { error: message });
      };
      if (!h.webhookSecret) return reject(503, 'the webhook is disabled: no shared secret (see docs/operations.md)');
      const body = await readLimited(req);
      if (body === 'too-large') return reject(413, `body larger than ${MAX_WEBHOOK_BYTES} bytes`);
      const verdict = checkWebhookRequest(h.webhookSecret, body, {
        signature: req.headers[SIGNATURE_HEADER] as string | undefined,
        timestamp: req.headers[TIMESTAMP_HEADER] as string | undefined,
        maxAgeSeconds: limits.webhookMaxAgeSeconds,
        replay,
      });
      if (verdict.status !== 202) return reject(verdict.status, verdict.message);
      try {
        const logins = await onWebhook(verdict.payload);
        h.metrics.pushes.inc({ source: 'webhook' });
        return send(res, 202, { mailboxes: logins });
      } catch (err) {
        if (err instanceof UnknownWebhookTargetError) return reject(422, err.message);
        throw err;
      }
    }
    if (h.statusPage && handleStatusPage(req, res, url.pathname, h.statusPage)) return;
    send(res, 404, { error: `not found; try ${[h.statusPage && '/ (the status page)', '/healthz', '/metrics', onWebhook && 'POST /hooks/crm'].filter(Boolean).join(', ')}` });
  };
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      const actual = (server.address() as AddressInfo).port;
      resolve({
        port: actual,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

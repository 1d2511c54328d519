// The CRM webhook (POST /hooks/crm): any CRM that can call a URL after a change can push.
// The request is signed with HMAC-SHA256 with a shared secret over the time and the raw body:
//   X-Sync-Timestamp: <unix seconds>
//   X-Sync-Signature: sha256=<hex of HMAC-SHA256(secret, "<timestamp>." + body)>
// A request older or newer than daemon.http.webhookMaxAgeSeconds is refused, and every
// signature is accepted once (a replayed request is refused): see docs/security.md.
// Payload (every key optional; `{}` means "sync every mailbox"):
//   { "users": ["mmueller"], "addresses": ["A-1"], "activities": ["T-7"] }
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as z from 'zod';
import type { Paths } from '../config/paths.js';
import type { Config } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import { registerSecret } from '../log/redact.js';

export const WEBHOOK_SECRET_ENV = 'SYNC_CLI_WEBHOOK_SECRET';
export const SIGNATURE_HEADER = 'x-sync-signature';
export const TIMESTAMP_HEADER = 'x-sync-timestamp';
export const MAX_WEBHOOK_BYTES = 64 * 1024;

export const webhookPayloadSchema = z
  .object({
    users: z.array(z.string().min(1)).max(10_000).optional(),
    addresses: z.array(z.string().min(1)).max(10_000).optional(),
    activities: z.array(z.string().min(1)).max(10_000).optional(),
  })
  .strict();
export type WebhookPayload = z.infer<typeof webhookPayloadSchema>;

export function webhookSecretFile(config: Config, paths: Paths): string {
  return config.daemon.webhookSecretFile ? path.resolve(paths.configDir, config.daemon.webhookSecretFile) : path.join(paths.dataDir, 'webhook-secret');
}

/**
 * The shared secret: env SYNC_CLI_WEBHOOK_SECRET, else the 0600 file (created with a random
 * secret on first start so the admin can copy it to the CRM side). Never in config.json (R25).
 */
export function loadWebhookSecret(config: Config, paths: Paths, env: NodeJS.ProcessEnv = process.env): { secret: string; source: string; created: boolean } {
  const fromEnv = env[WEBHOOK_SECRET_ENV];
  if (fromEnv) {
    registerSecret(fromEnv);
    return { secret: fromEnv, source: `env ${WEBHOOK_SECRET_ENV}`, created: false };
  }
  const file = webhookSecretFile(config, paths);
  return { ...loadSecretFile(file, 'the webhook secret'), source: file };
}

/**
 * A secret kept in a 0600 file, created with 32 random bytes (hex) when missing; refused when
 * other users could read it or when it is short. Registered with the log redaction.
 */
export function loadSecretFile(file: string, what: string): { secret: string; created: boolean } {
  let created = false;
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    fs.writeFileSync(file, crypto.randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
    created = true;
  }
  const mode = fs.statSync(file).mode & 0o077;
  if (mode) {
    throw new ConfigError(`${what} file ${file} can be read by other users`, [], `run \`chmod 600 ${file}\``);
  }
  const secret = fs.readFileSync(file, 'utf8').trim();
  if (secret.length < 16) throw new ConfigError(`${what} in ${file} is shorter than 16 characters`, [], `put a long random string there, e.g. \`openssl rand -hex 32 > ${file}\``);
  registerSecret(secret);
  return { secret, created };
}

/** The signature header value for a body sent at `timestamp` (unix seconds). */
export function signWebhookBody(secret: string, body: string | Buffer, timestamp: number = Math.floor(Date.now() / 1000)): string {
  return 'sha256=' + crypto.createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
}

/** Both headers of a signed request, for senders (tests, docs). */
export function signedWebhookHeaders(secret: string, body: string | Buffer, timestamp: number = Math.floor(Date.now() / 1000)): Record<string, string> {
  return { 'X-Sync-Timestamp': String(timestamp), 'X-Sync-Signature': signWebhookBody(secret, body, timestamp) };
}

export function verifyWebhookSignature(secret: string, body: Buffer, header: string | undefined, timestamp: number): boolean {
  if (!header) return false;
  const expected = Buffer.from(signWebhookBody(secret, body, timestamp));
  const got = Buffer.from(header.trim());
  return got.length === expected.length && crypto.timingSafeEqual(got, expected);
}

/**
 * Signatures seen within the replay window: a replayed request is refused. Bounded: entries
 * older than the window are dropped, and the window's requests are at most what the rate of
 * valid (signed) requests allows.
 */
export class ReplayGuard {
  private readonly seen = new Map<string, number>();
  constructor(readonly maxAgeSeconds: number) {}
  /** True the first time a signature is presented; false for a replay. */
  firstUse(signature: string, nowMs: number): boolean {
    for (const [sig, at] of this.seen) {
      if (nowMs - at > this.maxAgeSeconds * 2000) this.seen.delete(sig);
      else break; // insertion order = time order
    }
    if (this.seen.has(signature)) return false;
    this.seen.set(signature, nowMs);
    return true;
  }
}

export type WebhookVerdict =
  | { status: 202; payload: WebhookPayload }
  | { status: 400 | 401 | 409 | 413; message: string };

export interface WebhookCheck {
  signature: string | undefined;
  timestamp: string | undefined;
  maxAgeSeconds: number;
  nowMs?: number;
  replay?: ReplayGuard;
}

/** Checks one request body (size was limited while reading); pure apart from the HMAC and the replay guard. */
export function checkWebhookRequest(secret: string, body: Buffer, check: WebhookCheck): WebhookVerdict {
  if (body.length > MAX_WEBHOOK_BYTES) return { status: 413, message: `body larger than ${MAX_WEBHOOK_BYTES} bytes` };
  const nowMs = check.nowMs ?? Date.now();
  const ts = check.timestamp?.trim();
  if (!ts || !/^\d{1,12}$/.test(ts)) {
    return { status: 401, message: `missing or malformed ${TIMESTAMP_HEADER} header (expected the unix time in seconds at which the request was signed)` };
  }
  if (!verifyWebhookSignature(secret, body, check.signature, Number(ts))) {
    return { status: 401, message: `missing or wrong ${SIGNATURE_HEADER} header (expected sha256=<hex HMAC-SHA256 of "<${TIMESTAMP_HEADER}>." followed by the body, with the shared secret>)` };
  }
  const ageSeconds = Math.abs(nowMs / 1000 - Number(ts));
  if (ageSeconds > check.maxAgeSeconds) {
    return { status: 401, message: `the request was signed ${Math.round(ageSeconds)} s away from this host's clock (at most ${check.maxAgeSeconds} s, daemon.http.webhookMaxAgeSeconds); sign each request when it is sent and keep the clocks in sync` };
  }
  if (check.replay && !check.replay.firstUse(check.signature!.trim(), nowMs)) {
    return { status: 409, message: 'this signed request was already received (a replay); sign every request anew' };
  }
  let json: unknown;
  try {
    json = body.length ? JSON.parse(body.toString('utf8')) : {};
  } catch (err) {
    return { status: 400, message: `body is not valid JSON: ${(err as Error).message}` };
  }
  const parsed = webhookPayloadSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
    return { status: 400, message: `payload does not match {"users"?: [login], "addresses"?: [id], "activities"?: [id]}: ${problems}` };
  }
  return { status: 202, payload: parsed.data };
}

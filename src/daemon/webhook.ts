// The CRM webhook (POST /hooks/crm): any CRM that can call a URL after a change can push.
// The body is signed with HMAC-SHA256 over the raw bytes with a shared secret:
//   X-Sync-Signature: sha256=<hex of HMAC-SHA256(secret, body)>
// Payload (every key optional; `{}` means "sync every mailbox"):
//   { "users": ["mmueller"], "addresses": ["A-1"], "activities": ["T-7"] }
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { Paths } from '../config/paths.js';
import type { Config } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import { registerSecret } from '../log/redact.js';

export const WEBHOOK_SECRET_ENV = 'SYNC_CLI_WEBHOOK_SECRET';
export const SIGNATURE_HEADER = 'x-sync-signature';
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
  let created = false;
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    fs.writeFileSync(file, crypto.randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
    created = true;
  }
  const mode = fs.statSync(file).mode & 0o077;
  if (mode) {
    throw new ConfigError(`the webhook secret file ${file} can be read by other users`, [], `run \`chmod 600 ${file}\``);
  }
  const secret = fs.readFileSync(file, 'utf8').trim();
  if (secret.length < 16) throw new ConfigError(`the webhook secret in ${file} is shorter than 16 characters`, [], `put a long random string there, e.g. \`openssl rand -hex 32 > ${file}\``);
  registerSecret(secret);
  return { secret, source: file, created };
}

export function signWebhookBody(secret: string, body: string | Buffer): string {
  return 'sha256=' + crypto.createHmac('sha256', secret).update(body).digest('hex');
}

export function verifyWebhookSignature(secret: string, body: Buffer, header: string | undefined): boolean {
  if (!header) return false;
  const expected = Buffer.from(signWebhookBody(secret, body));
  const got = Buffer.from(header.trim());
  return got.length === expected.length && crypto.timingSafeEqual(got, expected);
}

export type WebhookVerdict =
  | { status: 202; payload: WebhookPayload }
  | { status: 400 | 401 | 413; message: string };

/** Checks one request body (size was limited while reading); pure apart from the HMAC. */
export function checkWebhookRequest(secret: string, body: Buffer, signature: string | undefined): WebhookVerdict {
  if (body.length > MAX_WEBHOOK_BYTES) return { status: 413, message: `body larger than ${MAX_WEBHOOK_BYTES} bytes` };
  if (!verifyWebhookSignature(secret, body, signature)) {
    return { status: 401, message: `missing or wrong ${SIGNATURE_HEADER} header (expected sha256=<hex HMAC-SHA256 of the body with the shared secret>)` };
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

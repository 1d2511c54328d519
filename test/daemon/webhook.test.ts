// Webhook request checks (signature, size, JSON shape) and the secret file rules.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { resolvePaths } from '../../src/config/paths.js';
import { checkWebhookRequest, loadWebhookSecret, MAX_WEBHOOK_BYTES, ReplayGuard, signWebhookBody } from '../../src/daemon/webhook.js';
import { tempHome } from '../helpers/cli.js';

const secret = 'a-shared-secret-of-enough-length';

describe('checkWebhookRequest', () => {
  const body = Buffer.from(JSON.stringify({ users: ['mmueller'] }));
  const now = 1_800_000_000_000;
  const ts = Math.floor(now / 1000);
  const check = (b: Buffer, signature: string | undefined, timestamp: number | string | undefined = ts, replay?: ReplayGuard) =>
    checkWebhookRequest(secret, b, { signature, timestamp: timestamp === undefined ? undefined : String(timestamp), maxAgeSeconds: 300, nowMs: now, replay });
  it('accepts a body signed with the shared secret and its timestamp', () => {
    expect(check(body, signWebhookBody(secret, body, ts))).toEqual({ status: 202, payload: { users: ['mmueller'] } });
  });
  it('401 for a missing, wrong or other-secret signature, or a signature of another body or time', () => {
    expect(check(body, undefined).status).toBe(401);
    expect(check(body, 'sha256=00').status).toBe(401);
    expect(check(body, signWebhookBody('another-secret-xxxxxxxx', body, ts)).status).toBe(401);
    expect(check(Buffer.from('{"users":["x"]}'), signWebhookBody(secret, body, ts)).status).toBe(401);
    // The timestamp is part of what is signed: moving it forward breaks the signature.
    expect(check(body, signWebhookBody(secret, body, ts), ts + 1).status).toBe(401);
    expect(check(body, signWebhookBody(secret, body, ts), '')).toMatchObject({ status: 401, message: expect.stringContaining('x-sync-timestamp') });
  });
  it('refuses a correctly signed request older or newer than the window (replay of a captured request later)', () => {
    const old = ts - 301;
    expect(check(body, signWebhookBody(secret, body, old), old)).toMatchObject({ status: 401, message: expect.stringContaining('webhookMaxAgeSeconds') });
    const future = ts + 301;
    expect(check(body, signWebhookBody(secret, body, future), future).status).toBe(401);
    const recent = ts - 299;
    expect(check(body, signWebhookBody(secret, body, recent), recent).status).toBe(202);
  });
  it('accepts each signature once: the same signed request replayed five times is refused four times', () => {
    const replay = new ReplayGuard(300);
    const sig = signWebhookBody(secret, body, ts);
    const statuses = [1, 2, 3, 4, 5].map(() => check(body, sig, ts, replay).status);
    expect(statuses).toEqual([202, 409, 409, 409, 409]);
    // A new request (new timestamp, same body) is a new signature.
    expect(check(body, signWebhookBody(secret, body, ts - 1), ts - 1, replay).status).toBe(202);
  });
  it('413 beyond the size limit, 400 for bad JSON or a wrong shape', () => {
    const big = Buffer.alloc(MAX_WEBHOOK_BYTES + 1, 32);
    expect(check(big, signWebhookBody(secret, big, ts)).status).toBe(413);
    const bad = Buffer.from('{"users": [');
    expect(check(bad, signWebhookBody(secret, bad, ts))).toMatchObject({ status: 400, message: expect.stringContaining('not valid JSON') });
    const shape = Buffer.from('{"users": "mmueller"}');
    expect(check(shape, signWebhookBody(secret, shape, ts))).toMatchObject({ status: 400, message: expect.stringContaining('users') });
  });
});

describe('loadWebhookSecret', () => {
  it('creates a 0600 secret file on first use, prefers the env variable, refuses a readable file', () => {
    const home = tempHome();
    const paths = resolvePaths(home);
    const config = parseConfig({}, 'test');
    const first = loadWebhookSecret(config, paths, {});
    expect(first.created).toBe(true);
    const file = path.join(home, 'webhook-secret');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(loadWebhookSecret(config, paths, {}).secret).toBe(first.secret);
    expect(loadWebhookSecret(config, paths, { SYNC_CLI_WEBHOOK_SECRET: 'from-env-0123456789' }).secret).toBe('from-env-0123456789');
    fs.chmodSync(file, 0o644);
    expect(() => loadWebhookSecret(config, paths, {})).toThrow(/can be read by other users/);
    fs.rmSync(home, { recursive: true, force: true });
  });
});

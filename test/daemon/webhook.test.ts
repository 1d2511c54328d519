// Webhook request checks (signature, size, JSON shape) and the secret file rules.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { resolvePaths } from '../../src/config/paths.js';
import { checkWebhookRequest, loadWebhookSecret, MAX_WEBHOOK_BYTES, signWebhookBody } from '../../src/daemon/webhook.js';
import { tempHome } from '../helpers/cli.js';

const secret = 'a-shared-secret-of-enough-length';

describe('checkWebhookRequest', () => {
  const body = Buffer.from(JSON.stringify({ users: ['mmueller'] }));
  it('accepts a body signed with the shared secret', () => {
    expect(checkWebhookRequest(secret, body, signWebhookBody(secret, body))).toEqual({ status: 202, payload: { users: ['mmueller'] } });
  });
  it('401 for a missing, wrong or other-secret signature', () => {
    expect(checkWebhookRequest(secret, body, undefined).status).toBe(401);
    expect(checkWebhookRequest(secret, body, 'sha256=00').status).toBe(401);
    expect(checkWebhookRequest(secret, body, signWebhookBody('another-secret-xxxxxxxx', body)).status).toBe(401);
    expect(checkWebhookRequest(secret, Buffer.from('{"users":["x"]}'), signWebhookBody(secret, body)).status).toBe(401);
  });
  it('413 beyond the size limit, 400 for bad JSON or a wrong shape', () => {
    const big = Buffer.alloc(MAX_WEBHOOK_BYTES + 1, 32);
    expect(checkWebhookRequest(secret, big, signWebhookBody(secret, big)).status).toBe(413);
    const bad = Buffer.from('{"users": [');
    expect(checkWebhookRequest(secret, bad, signWebhookBody(secret, bad))).toMatchObject({ status: 400, message: expect.stringContaining('not valid JSON') });
    const shape = Buffer.from('{"users": "mmueller"}');
    expect(checkWebhookRequest(secret, shape, signWebhookBody(secret, shape))).toMatchObject({ status: 400, message: expect.stringContaining('users') });
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

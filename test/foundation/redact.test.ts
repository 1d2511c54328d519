import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log/logger.js';
import { redact, redactString, registerSecret } from '../../src/log/redact.js';

function capture(format: 'human' | 'json') {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on('data', (c) => chunks.push(String(c)));
  const logger = createLogger({ level: 'debug', format, stream });
  return { logger, text: () => chunks.join('') };
}

describe('R25: credentials never reach a log', () => {
  it('R25: URL userinfo is removed from messages and metadata', async () => {
    for (const format of ['human', 'json'] as const) {
      const { logger, text } = capture(format);
      logger.info('connecting to https://anna:geheim123@dav.example.de/dav/', { url: 'https://anna:geheim123@dav.example.de/' });
      await new Promise((r) => setImmediate(r));
      expect(text()).toContain('dav.example.de');
      expect(text()).not.toContain('geheim123');
      expect(text()).toContain('https://anna:***@dav.example.de/');
    }
  });

  it('R25: a login alone in a URL stays readable (an example like postgres://sync@db is no secret); a token in its place is masked', () => {
    expect(redactString('Example: postgres://sync@db.example:5432/crm')).toBe('Example: postgres://sync@db.example:5432/crm');
    expect(redactString('https://ghp_16C7e42F292c6912E7710c838347Ae178B4a@github.com/x')).toBe('https://***@github.com/x');
    expect(redactString('mysql://sync:secret@db/crm')).toBe('mysql://sync:***@db/crm');
  });

  it('R25: Authorization headers and secret-named keys are masked', async () => {
    const { logger, text } = capture('json');
    logger.debug('request', { headers: { Authorization: 'Basic YW5uYTpnZWhlaW0xMjM=', Accept: 'text/vcard' }, password: 'pw-9876' });
    logger.warn('raw header dump: authorization: Bearer eyJhbGciOi.secret.token');
    await new Promise((r) => setImmediate(r));
    expect(text()).not.toContain('YW5uYTpnZWhlaW0xMjM=');
    expect(text()).not.toContain('pw-9876');
    expect(text()).not.toContain('eyJhbGciOi');
    expect(text()).toContain('text/vcard');
  });

  it('R25: a registered secret is masked wherever it appears, also in errors', async () => {
    registerSecret('S3cr3t-Pass!');
    const { logger, text } = capture('human');
    logger.error('login failed', { error: new Error('server said: bad password S3cr3t-Pass! for anna') });
    await new Promise((r) => setImmediate(r));
    expect(text()).toContain('login failed');
    expect(text()).not.toContain('S3cr3t-Pass!');
    expect(redactString('x S3cr3t-Pass! y')).toBe('x *** y');
    expect(redact({ nested: ['S3cr3t-Pass!'] })).toEqual({ nested: ['***'] });
  });

  it('R25: with a password per mailbox of a large installation registered (10,000), each one is masked, and secrets that overlap are masked together', () => {
    const secrets = Array.from({ length: 10_000 }, (_, i) => `mbx-pw-${i.toString(36)}-${(i * 7919).toString(36)}`);
    for (const s of secrets) registerSecret(s);
    for (const i of [0, 1, 4_999, 9_999]) expect(redactString(`login failed with ${secrets[i]}, retrying`)).toBe('login failed with ***, retrying');
    // One secret's start inside another (the later one reaches further): nothing of either is left.
    registerSecret('abcd-1234');
    registerSecret('1234-wxyz');
    expect(redactString('x abcd-1234-wxyz y')).toBe('x *** y');
    // A secret inside a longer one, and the same secret twice.
    registerSecret('ruth-pw');
    registerSecret('ruth-pw-2026');
    expect(redactString('ruth-pw-2026 and ruth-pw and ruth-pw')).toBe('*** and *** and ***');
    expect(redactString('nothing secret here: mbx-pw- is only a prefix')).toBe('nothing secret here: mbx-pw- is only a prefix');
  });
});

describe('log levels', () => {
  it('a line below the level is not written and not even formatted; a level raised at run time takes effect', async () => {
    const stream = new PassThrough();
    const chunks: string[] = [];
    stream.on('data', (c) => chunks.push(String(c)));
    const logger = createLogger({ level: 'info', format: 'json', stream });
    let read = 0;
    const meta = {
      get detail() {
        read++;
        return 'expensive';
      },
    };
    logger.debug('phase: reading', meta);
    logger.info('synced anna', { created: 0 });
    await new Promise((r) => setImmediate(r));
    expect(read).toBe(0);
    expect(chunks.join('')).not.toContain('phase: reading');
    expect(chunks.join('')).toContain('synced anna');
    logger.level = 'debug';
    logger.debug('phase: writing', meta);
    await new Promise((r) => setImmediate(r));
    expect(chunks.join('')).toContain('phase: writing');
    expect(chunks.join('')).toContain('expensive');
    logger.level = 'warn';
    logger.info('not shown');
    logger.warn('shown');
    await new Promise((r) => setImmediate(r));
    expect(chunks.join('')).not.toContain('not shown');
    expect(chunks.join('')).toContain('shown');
  });
});

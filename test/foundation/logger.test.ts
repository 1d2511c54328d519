// The logger's own promises (D102): JSON lines to stderr are written together, but none is lost
// when the process exits at once, none waits longer than JSON_FLUSH_MS, and the lines that led to
// an error message come before it. The child runs the built logger (dist/, built by `npm test`).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log/logger.js';
import { repoRoot } from '../helpers/cli.js';

const loggerModule = path.join(repoRoot, 'dist/log/logger.js');

function child(body: string): { stderr: string; code: number | null } {
  const script = `const { createLogger, flushLogs } = await import(${JSON.stringify(loggerModule)});\nconst logger = createLogger({ level: 'debug', format: 'json' });\n${body}`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  return { stderr: r.stderr, code: r.status };
}

const messages = (stderr: string) => stderr.trim().split('\n').map((l) => (l.startsWith('{') ? (JSON.parse(l) as { message: string }).message : l));

describe('log lines (D102)', () => {
  it('JSON lines logged right before process.exit() are all on stderr, in order', () => {
    const r = child(`for (let i = 0; i < 500; i++) logger.info('line ' + i, { user: 'anna', i });\nprocess.exit(3);`);
    expect(r.code).toBe(3);
    expect(messages(r.stderr)).toEqual(Array.from({ length: 500 }, (_, i) => `line ${i}`));
  });

  it('a JSON line is written within JSON_FLUSH_MS, before what the process writes later', () => {
    const r = child(`logger.warn('first', { user: 'anna' });\nsetTimeout(() => { process.stderr.write('LATER\\n'); }, 400);`);
    expect(messages(r.stderr)).toEqual(['first', 'LATER']);
  });

  it('flushLogs() puts the waiting lines before an error message written straight to stderr', () => {
    const r = child(`logger.info('what led here');\nflushLogs();\nprocess.stderr.write('error: it failed\\n');\nsetTimeout(() => undefined, 100);`);
    expect(messages(r.stderr)).toEqual(['what led here', 'error: it failed']);
  });

  it('the direct path and winston\'s own path write the same line (an Error as meta takes winston\'s)', async () => {
    const stream = new PassThrough();
    const chunks: string[] = [];
    stream.on('data', (c) => chunks.push(String(c)));
    const logger = createLogger({ level: 'info', format: 'human', stream });
    logger.info('synced anna', { user: 'anna', created: 2 });
    logger.debug('not shown');
    logger.warn('failed', new Error('boom'));
    await new Promise((r) => setImmediate(r));
    const lines = chunks.join('').trim().split('\n');
    expect(lines[0]).toBe('info: synced anna user=anna created=2');
    expect(lines.join('\n')).not.toContain('not shown');
    expect(lines[1]).toMatch(/^warn: failed/); // winston's path: the Error's fields (stack) follow
    expect(lines.join('\n')).toContain('boom');
  });
});

// `sync-cli worker` as a user meets it before a cluster exists: on the default SQLite state it
// refuses with the fix, and a bad --concurrency is a usage error; --help carries an example.
import fs from 'node:fs';
import { afterAll, expect, it } from 'vitest';
import { runCli, tempHome } from '../helpers/cli.js';

const home = tempHome('sync-cli-worker-');
fs.chmodSync(home, 0o700);
afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

it('worker on a SQLite state exits 2 and names `sync-cli state connect postgres`', () => {
  const r = runCli(['--home', home, 'worker']);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/needs the state on PostgreSQL \(state.kind is "sqlite"\)/);
  expect(r.stderr).toContain('sync-cli state connect postgres --url');
  expect(r.stderr).not.toMatch(/\bat .*\.js:\d+/); // no stack trace
});

it('worker --concurrency 0 is a usage error (exit 2) with an example; --help shows one too', () => {
  const r = runCli(['--home', home, 'worker', '--concurrency', '0']);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('--concurrency 0 is not a whole number from 1 to 256');
  const help = runCli(['worker', '--help']);
  expect(help.code).toBe(0);
  expect(help.stdout).toMatch(/Example:\n\s+sync-cli state connect postgres/);
});

it('worker --http-port 70000 is a usage error (exit 2) naming the range; --help shows the port with an example', () => {
  const r = runCli(['--home', home, 'worker', '--http-port', '70000']);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('--http-port 70000 is not a port number from 0 to 65535');
  expect(r.stderr).not.toMatch(/\bat .*\.js:\d+/);
  const help = runCli(['worker', '--help']);
  expect(help.stdout).toMatch(/\(env:\s+SYNC_CLI_WORKER_HTTP_PORT\)/);
  expect(help.stdout).toContain('sync-cli worker --concurrency 8 --http-port 9101');
});

// Real mailbox servers for tests: Debian's Radicale and Xandikos, each on a free loopback port
// with a temporary storage folder, stopped by `stop()` and at process exit. Tests of any area
// (provider, sync engine, CLI) start their own instance:
//
//   const radicale = await startRadicale({ users: { alice: 'secret' } });
//   … radicale.url, radicale.users.alice …
//   await radicale.stop();
//
// Radicale uses htpasswd Basic auth (APR1-MD5 hashes written with `htpasswd -m`, as an admin
// would; plain text when htpasswd is missing) and `owner_only` rights, so each user sees only
// /<user>/. Xandikos has no authentication at all: any username/password is accepted and every
// client sees the same single principal /user/.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RunningServer {
  /** Base URL without trailing slash, e.g. http://127.0.0.1:40123 */
  url: string;
  /** Storage folder of the server (deleted by stop()). */
  dataDir: string;
  /** Server output so far (for failure messages). */
  output(): string;
  stop(): Promise<void>;
}

export interface RadicaleServer extends RunningServer {
  /** Usernames → passwords accepted by this instance. */
  users: Record<string, string>;
  /** Stops the server process but keeps its storage (an outage). */
  halt(): Promise<void>;
  /** Starts it again on the same port with the same storage. */
  resume(): Promise<void>;
}

export interface XandikosServer extends RunningServer {
  /** The only principal Xandikos serves. */
  principalPath: string;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A test runner that dies must not leave servers listening.
  process.once('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

/** A port that was free a moment ago (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function waitUntilAnswering(url: string, child: ChildProcess, output: () => string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with code ${child.exitCode} before answering:\n${output()}`);
    try {
      const res = await fetch(url, { method: 'OPTIONS', signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      return;
    } catch (err) {
      lastError = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`server at ${url} did not answer within ${timeoutMs} ms (${String(lastError)}):\n${output()}`);
}

function spawnServer(cmd: string, args: string[], dataDir: string, url: string): Promise<RunningServer & { halt(): Promise<void> }> {
  installExitHook();
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYTHONUNBUFFERED: '1' } });
  running.add(child);
  let out = '';
  const keep = (chunk: Buffer) => {
    out = (out + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const output = () => out;
  const halt = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    running.delete(child);
  };
  const stop = async () => {
    await halt();
    rmSync(dataDir, { recursive: true, force: true });
  };
  return waitUntilAnswering(url, child, output).then(
    () => ({ url, dataDir, output, stop, halt }),
    async (err: unknown) => {
      await stop();
      throw err;
    },
  );
}

function htpasswdLine(user: string, password: string): { line: string; encryption: 'md5' | 'plain' } {
  const r = spawnSync('htpasswd', ['-nbm', user, password], { encoding: 'utf8' });
  if (r.status === 0 && r.stdout.includes(':')) return { line: r.stdout.trim(), encryption: 'md5' };
  return { line: `${user}:${password}`, encryption: 'plain' };
}

/** Starts Radicale 3 with htpasswd auth and owner-only rights. Default user: test/test-pass. */
export async function startRadicale(opts: { users?: Record<string, string> } = {}): Promise<RadicaleServer> {
  const users = opts.users ?? { test: 'test-pass' };
  const dataDir = mkdtempSync(join(tmpdir(), 'sync-cli-radicale-'));
  const port = await freePort();
  const lines = Object.entries(users).map(([u, p]) => htpasswdLine(u, p));
  // One encryption per file: fall back to plain for all when any line could not be hashed.
  const encryption = lines.every((l) => l.encryption === 'md5') ? 'md5' : 'plain';
  const htpasswd = encryption === 'md5' ? lines.map((l) => l.line) : Object.entries(users).map(([u, p]) => `${u}:${p}`);
  writeFileSync(join(dataDir, 'users'), htpasswd.join('\n') + '\n');
  writeFileSync(
    join(dataDir, 'config'),
    [
      '[server]',
      `hosts = 127.0.0.1:${port}`,
      '[auth]',
      'type = htpasswd',
      `htpasswd_filename = ${join(dataDir, 'users')}`,
      `htpasswd_encryption = ${encryption}`,
      // Radicale sleeps after a failed login by default; tests of wrong passwords need no wait.
      'delay = 0',
      '[rights]',
      'type = owner_only',
      '[storage]',
      `filesystem_folder = ${join(dataDir, 'collections')}`,
      '[logging]',
      'level = warning',
      '',
    ].join('\n'),
  );
  const start = () => spawnServer('radicale', ['--config', join(dataDir, 'config')], dataDir, `http://127.0.0.1:${port}`);
  let current = await start();
  return {
    url: current.url,
    dataDir,
    users,
    output: () => current.output(),
    stop: () => current.stop(),
    halt: () => current.halt(),
    async resume() {
      await current.halt();
      current = await start();
    },
  };
}

/** Starts Xandikos (no authentication; one principal at /user/ with default collections). */
export async function startXandikos(): Promise<XandikosServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sync-cli-xandikos-'));
  const port = await freePort();
  const server = await spawnServer(
    'xandikos',
    ['--defaults', '-d', join(dataDir, 'store'), '-l', '127.0.0.1', '-p', String(port)],
    dataDir,
    `http://127.0.0.1:${port}`,
  );
  return { ...server, principalPath: '/user/' };
}

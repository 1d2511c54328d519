// Plumbing shared by the helpers that start packaged groupware servers (Cyrus, DAViCal, SOGo):
// spawn a process we own, keep its output, wait for a TCP port, stop it by pid, and SQL on the
// local PostgreSQL for per-test databases. Everything is started by the test and stopped by pid.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';

const owned = new Set<number>();
let hooked = false;

function hook(): void {
  if (hooked) return;
  hooked = true;
  // A dying test runner must not leave servers listening.
  process.once('exit', () => {
    for (const pid of owned) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
}

export interface Daemon {
  child: ChildProcess;
  pid: number;
  output(): string;
  exited(): boolean;
  /** TERM (then KILL after graceMs) and wait for the exit. */
  stop(graceMs?: number): Promise<void>;
}

export function startDaemon(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Daemon {
  hook();
  // detached = its own process group: Apache (prefork) signals its whole group when it stops, and
  // must not take the test runner with it.
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env, cwd: opts.cwd, detached: true });
  let out = '';
  const keep = (chunk: Buffer) => {
    out = (out + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const pid = child.pid ?? -1;
  if (pid > 0) owned.add(pid);
  let done = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      done = true;
      owned.delete(pid);
      resolve();
    }),
  );
  child.once('error', (err) => {
    out += `\nspawn ${cmd}: ${err.message}`;
    done = true;
  });
  return {
    child,
    pid,
    output: () => out,
    exited: () => done,
    async stop(graceMs = 5000) {
      if (done) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exit;
      clearTimeout(timer);
    },
  };
}

/** Direct children of a pid (Linux /proc). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  const taskDir = `/proc/${pid}/task`;
  if (!existsSync(taskDir)) return out;
  try {
    for (const tid of spawnSync('ls', [taskDir], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean)) {
      const f = `${taskDir}/${tid}/children`;
      if (existsSync(f)) out.push(...readFileSync(f, 'utf8').split(/\s+/).filter(Boolean).map(Number));
    }
  } catch {
    /* gone meanwhile */
  }
  return out;
}

export async function waitForPort(port: number, what: string, daemon: Daemon, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (daemon.exited()) throw new Error(`${what} exited before listening on ${port}:\n${daemon.output()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not listen on 127.0.0.1:${port} within ${timeoutMs} ms:\n${daemon.output()}`);
}

/** Runs a command to completion; throws with its output on failure. */
export function run(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: opts.input, env: opts.env ?? process.env, timeout: 120_000 });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

export function which(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).status === 0 || existsSync(bin);
}

/** Why a server cannot start here (missing binaries, not root), or undefined when it can. */
export function missingPrerequisites(bins: string[]): string | undefined {
  const missing = bins.filter((b) => !which(b));
  if (missing.length) return `missing ${missing.join(', ')}`;
  if (process.getuid?.() !== 0) return 'needs root (the server drops to its own system user)';
  return undefined;
}

/** psql against the local PostgreSQL (127.0.0.1:5432, trust, user postgres). */
export function psql(sql: string, db = 'test'): string {
  return run('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', db, '-v', 'ON_ERROR_STOP=1', '-qAt', '-c', sql]);
}

export function postgresAnswers(): string | undefined {
  try {
    psql('select 1');
    return undefined;
  } catch (err) {
    return `PostgreSQL at 127.0.0.1:5432 does not answer (${(err as Error).message.split('\n')[0]})`;
  }
}

/** Quote a SQL string literal. */
export function lit(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** A short random suffix for database, role and server names of one test process. */
export function uniqueSuffix(): string {
  return `${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
}

/** What every groupware server helper returns (Cyrus, DAViCal, SOGo). */
export interface GroupwareServer<N extends string> {
  name: N;
  url: string;
  dataDir: string;
  users: Record<string, string>;
  addUser(user: string, password: string): Promise<void>;
  output(): string;
  stop(): Promise<void>;
}

const APACHE_MODULES = '/usr/lib/apache2/modules';

/**
 * The head of an Apache config of our own (own ServerRoot, pid, mutex and runtime folder, one
 * loopback port, www-data) with these modules (`mpm_prefork`, `rewrite`, … or a full path for a
 * module outside the usual names, e.g. `php:libphp8.2.so`); the server's own lines follow it.
 */
export function apacheConfigHead(o: { root: string; runDir: string; port: number; modules: string[] }): string[] {
  return [
    `ServerRoot ${o.root}`,
    'ServerName 127.0.0.1',
    `PidFile ${o.runDir}/apache2.pid`,
    `Mutex file:${o.runDir} default`,
    `DefaultRuntimeDir ${o.runDir}`,
    `Listen 127.0.0.1:${o.port}`,
    'User www-data',
    'Group www-data',
    ...o.modules.map((mod) => {
      const [name, file] = mod.includes(':') ? mod.split(':') : [mod, `mod_${mod}.so`];
      return `LoadModule ${name}_module ${APACHE_MODULES}/${file}`;
    }),
  ];
}

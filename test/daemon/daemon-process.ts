// A daemon as the service manager runs it: `node bin/sync-cli --home … daemon` in a child
// process, JSON log lines on stderr collected for assertions.
import { spawn, type ChildProcess } from 'node:child_process';
import { cliPath, runCli } from '../helpers/cli.js';

export interface LogLine {
  level: string;
  message: string;
  [k: string]: unknown;
}

export class DaemonProcess {
  private stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(readonly child: ChildProcess) {
    child.stderr!.on('data', (c: Buffer) => (this.stderr += c.toString()));
    child.stdout!.on('data', (c: Buffer) => (this.stderr += c.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** `command`: `worker` starts a cluster worker the same way. */
  static start(home: string, args: string[] = [], env: NodeJS.ProcessEnv = {}, command: 'daemon' | 'worker' = 'daemon'): DaemonProcess {
    const child = spawn(process.execPath, [cliPath, '--home', home, '--log-format', 'json', '--log-level', 'debug', command, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1', ...env },
    });
    return new DaemonProcess(child);
  }

  get pid(): number {
    return this.child.pid!;
  }

  output(): string {
    return this.stderr;
  }

  logs(): LogLine[] {
    return this.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => {
        try {
          return JSON.parse(l) as LogLine;
        } catch {
          return { level: 'raw', message: l };
        }
      });
  }

  async waitForLog(pattern: RegExp, timeoutMs = 15_000): Promise<LogLine> {
    let found: LogLine | undefined;
    await waitFor(() => (found = this.logs().find((l) => pattern.test(l.message))) !== undefined, timeoutMs, () => `log line ${pattern}; output:\n${this.stderr.slice(-4000)}`);
    return found!;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
    const started = Date.now();
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const r = await this.exited;
    clearTimeout(timer);
    return { ...r, ms: Date.now() - started };
  }
}

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: () => string = () => 'condition'): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface StatusJson {
  mailboxes: { user: string; state: string; lastSuccess: string | null; lastError: string | null; pending: number; nextRun: string | null }[];
}

export function statusJson(home: string): StatusJson {
  const r = runCli(['--home', home, 'status', '--json']);
  if (!r.stdout.trim().startsWith('{')) throw new Error(`status --json printed no JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
  return JSON.parse(r.stdout) as StatusJson;
}

export async function waitForStates(home: string, want: (s: StatusJson) => boolean, timeoutMs = 20_000): Promise<StatusJson> {
  let last: StatusJson | undefined;
  await waitFor(() => want((last = statusJson(home))), timeoutMs, () => `status; last: ${JSON.stringify(last)}`);
  return last!;
}

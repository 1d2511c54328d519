// A first sync on Node ≥ 22 runs in a second node process started with a smaller young
// generation (D104). Node 24's V8 lets each semi-space grow to 64 MB (Node 20's: 16 MB) in a
// process that allocates as much as a large first sync does; the 20,000-item initial sync then
// peaks at ~270 MB on Node 24 against ~140 MB with 4 MB semi-spaces, at the same CPU
// (bench/README.md, #15). `--max-semi-space-size` is read only when node sets up its heap, so
// it cannot be set from inside this process (D99 sets the one flag that can); the only ways are
// node's own arguments or a new process. A new process costs one start-up (~0.3 s): paid only by
// a `run` that makes some mailbox's first sync — the rare, large run — never by a no-change or
// one-change run. Node 20's semi-spaces stop at 16 MB: the target is met there without it.
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';

export const SEMI_SPACE_MB = 4;
const FLAG = `--max-semi-space-size=${SEMI_SPACE_MB}`;

export interface RelaunchFacts {
  /** process.versions.node */
  nodeVersion: string;
  execArgv: readonly string[];
  env: NodeJS.ProcessEnv;
}

/**
 * Whether a first sync should start `run` again with the smaller young generation: only on
 * Node ≥ 22, and never when the semi-space size is already chosen (by the operator in
 * NODE_OPTIONS or node's arguments, or by the relaunch itself: that is what stops a loop).
 */
export function relaunchHelps(f: RelaunchFacts = { nodeVersion: process.versions.node, execArgv: process.execArgv, env: process.env }): boolean {
  if (Number(f.nodeVersion.split('.')[0]) < 22) return false;
  return !/--max[-_]semi[-_]space[-_]size/.test(`${f.env.NODE_OPTIONS ?? ''} ${f.execArgv.join(' ')}`);
}

/** How the child ended: its exit code, or the signal that ended it. */
export type ChildEnd = { code: number } | { signal: NodeJS.Signals };

const PARENT_ENV = 'SYNC_CLI_RELAUNCH_PARENT';

/**
 * Runs the same command line in a child node with the flag, on this process's terminal
 * (stdin, stdout, stderr inherited: the progress view, --json and the exit code are the child's),
 * plus an IPC channel whose closing tells the child that this process is gone (then it stops:
 * no sync runs on without the process its caller waits for). Node's debugger flags are not
 * passed on (the child could not open the same port). SIGINT, SIGTERM and SIGHUP sent to this
 * process are passed on; the terminal's Ctrl-C reaches both anyway. Resolves with how the child
 * ended, or null when it could not be started — the caller then syncs in this process.
 */
export function relaunch(argv: readonly string[]): Promise<ChildEnd | null> {
  return new Promise((resolve) => {
    const execArgv = process.execArgv.filter((a) => !/^--(inspect|debug)/.test(a));
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, [...execArgv, FLAG, ...argv.slice(1)], { stdio: ['inherit', 'inherit', 'inherit', 'ipc'], env: { ...process.env, [PARENT_ENV]: String(process.pid) } });
    } catch {
      return resolve(null); // e.g. ENOMEM, thrown rather than emitted
    }
    let settled = false;
    const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
    const pass = (sig: NodeJS.Signals) => void child.kill(sig);
    for (const s of signals) process.on(s, pass);
    const done = (end: ChildEnd | null) => {
      if (settled) return;
      settled = true;
      for (const s of signals) process.off(s, pass);
      resolve(end);
    };
    // Only a child that never started means "sync here instead"; one that runs is waited for.
    child.on('error', () => {
      if (child.pid === undefined) done(null);
    });
    child.once('exit', (code, signal) => done(signal ? { signal } : { code: code ?? 1 }));
  });
}

/**
 * The first process's side: relaunches and returns the exit code to end with, or null (sync
 * here). A child ended by a signal makes this process end by the same signal once it has closed
 * what it opened (as a shell or systemd expect of a command stopped by one), 128 + its number
 * until then.
 */
export async function runRelaunched(argv: readonly string[]): Promise<number | null> {
  const end = await relaunch(argv);
  if (!end) return null;
  if ('code' in end) return end.code;
  process.once('exit', () => process.kill(process.pid, end.signal));
  return 128 + (constants.signals[end.signal] ?? 0);
}

/**
 * The child's side, called before it syncs: when its parent's channel closes (the parent was
 * killed), it stops at once — R23 makes a sync stopped anywhere safe to run again.
 */
export function watchRelaunchParent(): void {
  if (process.env[PARENT_ENV] !== String(process.ppid) || !process.channel) return;
  delete process.env[PARENT_ENV];
  process.channel.unref();
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}

let launchArgv: readonly string[] | undefined;

/** The command line `main` was started with, when it may be started again (the bin only). */
export function setLaunchArgv(argv: readonly string[]): void {
  launchArgv = argv;
}

export function getLaunchArgv(): readonly string[] | undefined {
  return launchArgv;
}

// systemd readiness and watchdog (Type=notify, sd_notify protocol: one datagram to the unix
// socket in $NOTIFY_SOCKET). Node has no unix datagram sockets, so the message is sent through
// the optional native package unix-dgram (from the daemon's own pid: systemd attributes it
// reliably); when it is not installed (no compiler, Windows/macOS) the `systemd-notify` binary
// is used instead — the unit sets NotifyAccess=all for that, and systemd may drop a message of
// an already exited child (systemd < 254), which is why the native path comes first.
// Outside systemd (no NOTIFY_SOCKET) everything here is a no-op.
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import type { Logger } from '../log/logger.js';

export interface ServiceNotifier {
  /** 'unix-dgram', 'systemd-notify' or 'off'. */
  readonly transport: string;
  ready(): void;
  stopping(): void;
  status(text: string): void;
  /** Starts WATCHDOG=1 pings at half of WATCHDOG_USEC; returns the stop function. */
  startWatchdog(healthy: () => boolean): () => void;
}

interface UnixDgramSocket {
  send(buf: Buffer, offset: number, length: number, path: string, cb?: (err?: Error) => void): void;
  on(event: 'error', cb: (err: Error) => void): void;
  close(): void;
}

function loadUnixDgram(): { createSocket(type: 'unix_dgram'): UnixDgramSocket } | null {
  try {
    return createRequire(import.meta.url)('unix-dgram') as { createSocket(type: 'unix_dgram'): UnixDgramSocket };
  } catch {
    return null;
  }
}

export function createServiceNotifier(logger: Logger, env: NodeJS.ProcessEnv = process.env): ServiceNotifier {
  const socketPath = env.NOTIFY_SOCKET;
  const dgram = socketPath ? loadUnixDgram() : null;
  // Abstract socket names are written with a leading '@' and sent with a leading NUL.
  const target = socketPath?.startsWith('@') ? '\0' + socketPath.slice(1) : socketPath;
  let failedOnce = false;
  const warn = (what: string, err: Error) => {
    if (failedOnce) return;
    failedOnce = true;
    logger.warn(`sd_notify ${what} failed: ${err.message}`);
  };
  const viaBinary = (lines: string[]) => {
    const args = lines.map((l) => (l === 'READY=1' ? '--ready' : l));
    execFile('systemd-notify', [`--pid=${process.pid}`, ...args], (err) => err && warn(lines.join(' '), err));
  };
  const send = (...lines: string[]) => {
    if (!socketPath) return;
    if (!dgram || !target) return viaBinary(lines);
    let sock: UnixDgramSocket | undefined;
    try {
      sock = dgram.createSocket('unix_dgram');
      sock.on('error', (err) => warn(lines.join(' '), err));
      const buf = Buffer.from(lines.join('\n'));
      const s = sock;
      s.send(buf, 0, buf.length, target, () => s.close());
    } catch (err) {
      sock?.close();
      viaBinary(lines);
      warn(`${lines.join(' ')} over unix-dgram`, err as Error);
    }
  };
  return {
    transport: !socketPath ? 'off' : dgram ? 'unix-dgram' : 'systemd-notify',
    ready: () => send('READY=1', 'STATUS=syncing'),
    stopping: () => send('STOPPING=1'),
    status: (text) => send(`STATUS=${text.replace(/\n/g, ' ').slice(0, 200)}`),
    startWatchdog(healthy) {
      const usec = Number(env.WATCHDOG_USEC);
      const forUs = !env.WATCHDOG_PID || Number(env.WATCHDOG_PID) === process.pid;
      if (!socketPath || !Number.isFinite(usec) || usec <= 0 || !forUs) return () => undefined;
      const timer = setInterval(() => {
        // A wedged event loop never gets here, which is what the watchdog is for.
        if (healthy()) send('WATCHDOG=1');
      }, Math.max(500, usec / 2000));
      timer.unref();
      return () => clearInterval(timer);
    },
  };
}

// systemd readiness and watchdog (Type=notify). Node has no unix datagram sockets, so the
// message goes through the `systemd-notify` binary with the daemon's pid; the unit sets
// NotifyAccess=all because the sender is a short-lived child. Outside systemd (no NOTIFY_SOCKET)
// everything here is a no-op.
import { execFile } from 'node:child_process';
import type { Logger } from '../log/logger.js';

export interface ServiceNotifier {
  ready(): void;
  stopping(): void;
  status(text: string): void;
  /** Starts WATCHDOG=1 pings at half of WATCHDOG_USEC; returns the stop function. */
  startWatchdog(healthy: () => boolean): () => void;
}

export function createServiceNotifier(logger: Logger, env: NodeJS.ProcessEnv = process.env): ServiceNotifier {
  const enabled = Boolean(env.NOTIFY_SOCKET);
  const send = (...assignments: string[]) => {
    if (!enabled) return;
    execFile('systemd-notify', [`--pid=${process.pid}`, ...assignments], (err) => {
      if (err) logger.warn(`systemd-notify ${assignments.join(' ')} failed: ${err.message}`);
    });
  };
  return {
    ready: () => send('--ready', 'STATUS=syncing'),
    stopping: () => send('STOPPING=1'),
    status: (text) => send(`STATUS=${text.replace(/\n/g, ' ').slice(0, 200)}`),
    startWatchdog(healthy) {
      const usec = Number(env.WATCHDOG_USEC);
      const forUs = !env.WATCHDOG_PID || Number(env.WATCHDOG_PID) === process.pid;
      if (!enabled || !Number.isFinite(usec) || usec <= 0 || !forUs) return () => undefined;
      const timer = setInterval(() => {
        // A wedged event loop never gets here, which is what the watchdog is for.
        if (healthy()) send('WATCHDOG=1');
      }, Math.max(500, usec / 2000));
      timer.unref();
      return () => clearInterval(timer);
    },
  };
}
